package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Drills: mtguard answers (or alters) a route's calls as its vendor would when failing, so that
// a team can see its alerts reach the owner without breaking anything for real. The drill stage
// marks a call of a route under drill with the drill's id (tx.Drill) and hands the fault to the
// transport, which answers in the vendor's place (down, status, expire-auth, discard: nothing
// reaches the vendor) or alters the vendor's answer (slow, deprecate). A silence drill changes
// no answer: the alert engine hides its calls from the silence rule. Drills live in memory
// only: a restart leaves no route faulted.

// The fault kinds of a drill.
const (
	FaultDown       = "down"        // connection refused
	FaultStatus     = "status"      // status:503, status:429 (with Retry-After)
	FaultSlow       = "slow"        // slow:8s, then the vendor's answer
	FaultExpireAuth = "expire-auth" // the preset's expired-token answer
	FaultDiscard    = "discard"     // the preset's 2xx-that-failed answer
	FaultDeprecate  = "deprecate"   // the vendor's answer with Deprecation and Sunset headers
	FaultSilence    = "silence"     // the route's calls hidden from the silence rule
)

// FaultAnswer is an answer a drill gives in the vendor's place.
type FaultAnswer struct {
	Status int
	Header http.Header
	Body   string
}

// Fault is what a drill does to the calls it takes.
type Fault struct {
	Kind   string
	Status int           // FaultStatus
	Delay  time.Duration // FaultSlow
	// Answer is the vendor's answer for FaultExpireAuth and FaultDiscard, from the preset.
	Answer *FaultAnswer
}

// Replaces reports whether the fault answers in the vendor's place: such calls never reach it.
func (f Fault) Replaces() bool {
	switch f.Kind {
	case FaultDown, FaultStatus, FaultExpireAuth, FaultDiscard:
		return true
	}
	return false
}

// String is the fault as written on the command line.
func (f Fault) String() string {
	switch f.Kind {
	case FaultStatus:
		return FaultStatus + ":" + strconv.Itoa(f.Status)
	case FaultSlow:
		return FaultSlow + ":" + f.Delay.String()
	}
	return f.Kind
}

// ParseFault reads a fault as written on the command line. answers gives the route preset's
// answers for expire-auth and discard (nil when the preset has none).
func ParseFault(s string, answers map[string]*FaultAnswer) (Fault, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	f := Fault{Kind: kind}
	switch kind {
	case FaultDown, FaultDeprecate, FaultSilence:
		if arg != "" {
			return f, fmt.Errorf("fault %s takes no argument (got %q)", kind, arg)
		}
	case FaultStatus:
		n, err := strconv.Atoi(arg)
		if err != nil || n < 400 || n > 599 {
			return f, fmt.Errorf("fault %q: write status:NNN with an error status from 400 to 599, like status:503", s)
		}
		f.Status = n
	case FaultSlow:
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 || d > 10*time.Minute {
			return f, fmt.Errorf("fault %q: write slow:DURATION from 1ms to 10m, like slow:8s", s)
		}
		f.Delay = d
	case FaultExpireAuth, FaultDiscard:
		if arg != "" {
			return f, fmt.Errorf("fault %s takes no argument (got %q)", kind, arg)
		}
		f.Answer = answers[kind]
		if f.Answer == nil {
			return f, fmt.Errorf("fault %s needs the vendor's answer, and the route's preset has none: use status:401 or another fault", kind)
		}
	default:
		return f, fmt.Errorf("unknown fault %q: use down, status:503, status:429, slow:8s, expire-auth, discard, deprecate or silence", s)
	}
	return f, nil
}

// ActiveDrill is a drill under way on a route.
type ActiveDrill struct {
	ID    string
	Route string
	Fault Fault
	// Share is the fraction of the route's calls the drill takes, from 0 (exclusive) to 1.
	Share float64
}

// Drills holds the drills under way, at most one per route. Its methods are safe for
// concurrent use; the pipeline reads it on every call.
type Drills struct {
	// running counts the drills under way, so that a call with none running takes no lock.
	running atomic.Int32
	mu      sync.RWMutex
	byRoute map[string]ActiveDrill
	// sample returns a number in [0, 1) to decide whether a call is in a partial drill.
	sample func() float64
}

// NewDrills returns an empty set of drills. If sample is nil, calls are picked at random.
func NewDrills(sample func() float64) *Drills {
	if sample == nil {
		sample = rand.Float64
	}
	return &Drills{byRoute: map[string]ActiveDrill{}, sample: sample}
}

// ErrDrillRunning means the route already has a drill under way.
var ErrDrillRunning = errors.New("a drill is already running on this route")

// Start begins d; a route takes one drill at a time.
func (d *Drills) Start(a ActiveDrill) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.byRoute[a.Route]; ok {
		return fmt.Errorf("route %s: %w (%s)", a.Route, ErrDrillRunning, cur.ID)
	}
	if a.Share <= 0 || a.Share > 1 {
		a.Share = 1
	}
	d.byRoute[a.Route] = a
	d.running.Add(1)
	return nil
}

// Stop ends the drill id; it reports whether it was under way.
func (d *Drills) Stop(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for r, a := range d.byRoute {
		if a.ID == id {
			delete(d.byRoute, r)
			d.running.Add(-1)
			return true
		}
	}
	return false
}

// Active returns the drill under way on route.
func (d *Drills) Active(route string) (ActiveDrill, bool) {
	if d.running.Load() == 0 {
		return ActiveDrill{}, false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, ok := d.byRoute[route]
	return a, ok
}

type faultKey struct{}

// drill is the pipeline's drill stage: a call of a route under drill (and picked by its share)
// is marked with the drill's id, and its send carries the fault for drillTransport. Replays
// are never drilled: they resend real records.
func (f *flight) drill() {
	d := f.p.cfg.Drills
	if d == nil || f.call.Route == nil || f.call.ReplayOf != "" {
		return
	}
	a, ok := d.Active(f.call.Route.Name)
	if !ok || (a.Share < 1 && d.sample() >= a.Share) {
		return
	}
	f.tx.Drill = a.ID
	fault := a.Fault
	f.req = f.req.WithContext(context.WithValue(f.req.Context(), faultKey{}, &fault))
}

// drillTransport carries out the fault a drilled call holds, and sends the others on.
type drillTransport struct {
	next http.RoundTripper
	now  func() time.Time
}

// RoundTrip implements http.RoundTripper.
func (t *drillTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	fault, _ := req.Context().Value(faultKey{}).(*Fault)
	if fault == nil {
		return t.next.RoundTrip(req)
	}
	if req.Body != nil {
		// The vendor never reads it; the stored request is already captured.
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	switch fault.Kind {
	case FaultDown:
		return nil, errors.New("dial tcp: connect: connection refused (mtguard drill)")
	case FaultStatus:
		h := http.Header{"Content-Type": {"application/json"}}
		if fault.Status == http.StatusTooManyRequests || fault.Status == http.StatusServiceUnavailable {
			// Short: the throttle pauses the route's limits group for it, and a drill must not
			// hold up the real calls that follow it.
			h.Set("Retry-After", "1")
		}
		return drillResponse(req, fault.Status, h, fmt.Sprintf(`{"error":"%s","drill":true}`, http.StatusText(fault.Status))), nil
	case FaultExpireAuth, FaultDiscard:
		a := fault.Answer
		return drillResponse(req, a.Status, a.Header.Clone(), a.Body), nil
	case FaultSlow:
		timer := time.NewTimer(fault.Delay)
		select {
		case <-timer.C:
		case <-req.Context().Done():
			timer.Stop()
			return nil, context.Cause(req.Context())
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || fault.Kind != FaultDeprecate {
		return resp, err
	}
	now := t.now()
	// RFC 9745 Deprecation (a structured-field date) and RFC 8594 Sunset, 30 days ahead.
	resp.Header.Set("Deprecation", "@"+strconv.FormatInt(now.Unix(), 10))
	resp.Header.Set("Sunset", now.Add(30*24*time.Hour).UTC().Format(http.TimeFormat))
	return resp, nil
}

func drillResponse(req *http.Request, status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{
		Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
		Request: req,
	}
}
