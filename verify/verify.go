package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// Bounds of the verifier.
const (
	// MaxPending caps the probes waiting for their time; later ones are dropped and counted.
	MaxPending = 10000
	// maxPerCall caps the records of one (batch) call that are read back.
	maxPerCall = 10
	// laterEvery is how long a probe waits again when its route is paused; maxTries bounds it.
	laterEvery = 30 * time.Second
	maxTries   = 10
)

// ErrLater is wrapped by a Prober's error when the probe could not be sent now (the route's
// budget is paused) and should be tried again later.
var ErrLater = errors.New("try later")

// Rule is one route's read-back.
type Rule struct {
	Route  string
	After  time.Duration
	Method string
	// Path is the probe's path and query on the route's upstream, with {name} placeholders.
	Path   string
	Status int
	// Body maps answer fields (properties.email, records[].Email) to expected templates.
	Body map[string]string
	// Sample is the share of delivered calls read back, 0 to 1.
	Sample float64
	// Keys gives, per placeholder name, the route's record-key paths that hold it.
	Keys map[string][]schemas.KeyPath
}

// Answer is what the vendor answered a probe.
type Answer struct {
	ID     string // the probe's call id
	Status int
	Body   []byte
}

// Prober sends one probe through the pipeline.
type Prober func(ctx context.Context, route, method, pathAndQuery, verifies string) (Answer, error)

// Store takes the findings.
type Store interface {
	AddFinding(id string, f txn.Finding) error
}

// Config configures the verifier.
type Config struct {
	Rules  []Rule
	Probe  Prober
	Now    func() time.Time
	Tick   time.Duration // how often due probes are sent; if zero, a quarter of the shortest after, 10ms to 1s
	Logger zerolog.Logger
}

// probe is one read-back waiting for its time.
type probe struct {
	due    time.Time
	call   string // the call it verifies
	rule   *Rule
	values map[string]string
	tries  int
}

// Verifier schedules and sends read-backs. Its methods are safe for concurrent use.
type Verifier struct {
	cfg     Config
	now     func() time.Time
	log     zerolog.Logger
	rules   map[string]*Rule
	st      Store
	dropped atomic.Int64

	mu      sync.Mutex
	pending []*probe // sorted by due

	stop chan struct{}
	done chan struct{}
	busy sync.Mutex // one Run at a time
}

// New returns a verifier for cfg.
func New(cfg Config) *Verifier {
	v := &Verifier{cfg: cfg, now: cfg.Now, log: cfg.Logger, rules: map[string]*Rule{}, stop: make(chan struct{}), done: make(chan struct{})}
	if v.now == nil {
		v.now = time.Now
	}
	tick := time.Second
	for i := range v.cfg.Rules {
		v.rules[v.cfg.Rules[i].Route] = &v.cfg.Rules[i]
		tick = min(tick, max(v.cfg.Rules[i].After/4, 10*time.Millisecond))
	}
	if v.cfg.Tick <= 0 {
		v.cfg.Tick = tick
	}
	return v
}

// Start sends probes as they fall due, until Close.
func (v *Verifier) Start(st Store) {
	v.st = st
	go func() {
		defer close(v.done)
		t := time.NewTicker(v.cfg.Tick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				v.Run(context.Background())
			case <-v.stop:
				return
			}
		}
	}()
}

// Close stops sending probes; those still waiting are dropped.
func (v *Verifier) Close() {
	close(v.stop)
	<-v.done
}

// Dropped counts the probes dropped because MaxPending were waiting.
func (v *Verifier) Dropped() int64 { return v.dropped.Load() }

// Pending counts the probes waiting for their time.
func (v *Verifier) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.pending)
}

// Sampled reports whether the call id is in a sample of share s (0 to 1): the same call is
// always in or out, so a replayed verdict can be explained.
func Sampled(id string, s float64) bool {
	if s >= 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return float64(h.Sum32()%10000) < s*10000
}

// Observe schedules the read-back of a delivered call on a route with a rule, if sampled. It
// never blocks on the network.
func (v *Verifier) Observe(tx txn.Transaction) {
	r := v.rules[tx.Route]
	if r == nil || tx.Kind != "" || tx.Outcome != txn.OutcomeDelivered || !Sampled(tx.ID, r.Sample) {
		return
	}
	end := tx.Time.Add(time.Duration(tx.DurationMS * float64(time.Millisecond)))
	var body *schemas.Body
	values := map[string][]string{}
	for name, paths := range r.Keys {
		if body == nil {
			b := schemas.ParseBody(tx.Request.ContentType, []byte(tx.Request.Body))
			if b.JSON == nil && b.Form == nil {
				b.Form = map[string][]string{} // the query string's keys are in tx.RecordKeys only
			}
			body = &b
		}
		for _, val := range schemas.RecordKeys(paths, *body) {
			if !strings.ContainsFunc(val, unsafeInQuery) && val != "." && val != ".." {
				values[name] = append(values[name], val)
			}
		}
	}
	var probes []*probe
	if len(r.Keys) == 1 {
		for name, vs := range values {
			for i, val := range vs {
				if i == maxPerCall {
					break
				}
				probes = append(probes, &probe{due: end.Add(r.After), call: tx.ID, rule: r, values: map[string]string{name: val}})
			}
		}
	} else {
		p := &probe{due: end.Add(r.After), call: tx.ID, rule: r, values: map[string]string{}}
		for name, vs := range values {
			if len(vs) == 0 {
				return // a key to read the record back by is missing: nothing to ask
			}
			p.values[name] = vs[0]
		}
		probes = append(probes, p)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, p := range probes {
		if len(v.pending) >= MaxPending {
			v.dropped.Add(1)
			continue
		}
		v.insert(p)
	}
}

// unsafeInQuery marks a character a record key must not hold to be read back: it would end up
// inside the vendor's query language (a SOQL string, a Klaviyo filter). A key that is a dot
// segment (. or ..) is not read back either: it would move the probe's path.
func unsafeInQuery(r rune) bool {
	return r == '\'' || r == '"' || r == '\\' || r < 0x20 || r == 0x7f
}

// insert keeps pending sorted by due; mu is held.
func (v *Verifier) insert(p *probe) {
	i := sort.Search(len(v.pending), func(i int) bool { return v.pending[i].due.After(p.due) })
	v.pending = append(v.pending, nil)
	copy(v.pending[i+1:], v.pending[i:])
	v.pending[i] = p
}

// Run sends every probe that is due now and records the verdicts.
func (v *Verifier) Run(ctx context.Context) {
	v.busy.Lock()
	defer v.busy.Unlock()
	now := v.now()
	v.mu.Lock()
	n := sort.Search(len(v.pending), func(i int) bool { return v.pending[i].due.After(now) })
	due := v.pending[:n:n]
	v.pending = append([]*probe(nil), v.pending[n:]...)
	v.mu.Unlock()
	for _, p := range due {
		v.send(ctx, p, now)
	}
}

func (v *Verifier) send(ctx context.Context, p *probe, now time.Time) {
	r := p.rule
	path := fill(r.Path, p.values, true)
	a, err := v.cfg.Probe(ctx, r.Route, r.Method, path, p.call)
	var problem string
	switch {
	case errors.Is(err, ErrLater) && p.tries+1 < maxTries:
		p.tries++
		p.due = now.Add(laterEvery)
		v.mu.Lock()
		v.insert(p)
		v.mu.Unlock()
		return
	case err != nil:
		problem = "the read-back could not be made: " + err.Error()
	default:
		problem = check(r, p.values, a)
	}
	if problem == "" {
		return
	}
	detail := a.ID
	msg := fmt.Sprintf("The vendor accepted this call, but reading the record back (%s %s, probe %s) %s.", r.Method, path, orNone(a.ID), problem)
	if err := v.st.AddFinding(p.call, txn.NewFinding(txn.CodeDeliveryUnverified, msg, detail)); err != nil {
		v.log.Error().Err(err).Str("call", p.call).Msg("verify: could not add delivery.unverified to the call")
	}
}

func orNone(id string) string {
	if id == "" {
		return "not recorded"
	}
	return id
}

// check compares the probe's answer with the rule's expectations; "" when they agree.
func check(r *Rule, values map[string]string, a Answer) string {
	if a.Status != r.Status {
		return fmt.Sprintf("answered %d, expected %d", a.Status, r.Status)
	}
	if len(r.Body) == 0 {
		return ""
	}
	var doc any
	if err := json.Unmarshal(a.Body, &doc); err != nil {
		return "answered a body that is not JSON"
	}
	fields := make([]string, 0, len(r.Body))
	for f := range r.Body {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		want := schemas.NormaliseKey(fill(r.Body[f], values, false))
		got := lookup(doc, strings.Split(f, "."))
		if !containsNormalised(got, want) {
			if len(got) == 0 {
				return fmt.Sprintf("answered without %s, expected %q", f, want)
			}
			return fmt.Sprintf("answered %s = %q, expected %q", f, txn.Truncate(got[0], 80), want)
		}
	}
	return ""
}

func containsNormalised(vs []string, want string) bool {
	for _, v := range vs {
		if schemas.NormaliseKey(v) == want {
			return true
		}
	}
	return false
}

// lookup returns the scalar values at a dotted path; a segment ending in [] walks every
// element of an array.
func lookup(v any, segs []string) []string {
	if len(segs) == 0 {
		switch x := v.(type) {
		case string:
			return []string{x}
		case float64, bool:
			return []string{fmt.Sprint(x)}
		}
		return nil
	}
	name, each := strings.CutSuffix(segs[0], "[]")
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	next, ok := obj[name]
	if !ok {
		return nil
	}
	if !each {
		return lookup(next, segs[1:])
	}
	arr, _ := next.([]any)
	var out []string
	for _, el := range arr {
		out = append(out, lookup(el, segs[1:])...)
	}
	return out
}

// fill replaces {name} placeholders with the values, escaped for a URL when inURL.
func fill(tmpl string, values map[string]string, inURL bool) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl[max(i, 0):], '}')
		if i < 0 || j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j += i
		b.WriteString(tmpl[:i])
		val := values[tmpl[i+1:j]]
		if inURL {
			val = escapeURL(val)
		}
		b.WriteString(val)
		tmpl = tmpl[j+1:]
	}
}

// escapeURL escapes a value for a path segment or a query value: everything but unreserved
// characters and @ (which HubSpot's and Klaviyo's examples leave as is).
func escapeURL(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
