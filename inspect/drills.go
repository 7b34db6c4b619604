package inspect

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
)

// Drills (mtguard drill start|status|stop): a fault on a route for a while, then a report of
// what the alerting did about it. The manager keeps each drill in the store, switches the
// fault on and off through FaultSwitch (the proxy's drills, wired by main), ends every drill
// at its time, and on start ends (and reports) any drill a previous run left running: a
// restart never resumes a drill, so no route stays faulted.

// Bounds of a drill.
const (
	DefaultDrillFor = 10 * time.Minute
	MaxDrillFor     = 24 * time.Hour
)

// FaultSwitch turns drills on and off in the proxy.
type FaultSwitch interface {
	// StartFault begins d's fault on its route, or says why it cannot: no such route, a route
	// with drills: false, a fault the route's preset cannot play, a drill already running.
	StartFault(d store.Drill) error
	// StopFault ends the fault of drill id, if it is on.
	StopFault(id string)
}

// DrillStore keeps drills; *store.Store satisfies it.
type DrillStore interface {
	PutDrill(d store.Drill) error
	GetDrill(id string) (store.Drill, bool, error)
	Drills(state string, limit int) ([]store.Drill, error)
}

var _ DrillStore = (*store.Store)(nil)

// DrillConfig is what the drill manager needs.
type DrillConfig struct {
	Store        DrillStore
	Faults       FaultSwitch
	Alerts       *alerts.Engine // nil: reports list no alerts
	Transactions Transactions   // to count a drill's calls; nil: not counted
	Logger       zerolog.Logger
	// Now and AfterFunc are the clock and the timer; nil means time.Now and time.AfterFunc.
	Now       func() time.Time
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// DrillRequest starts a drill.
type DrillRequest struct {
	Route  string        `json:"route"`
	Fault  string        `json:"fault"`
	For    time.Duration `json:"-"`
	Share  float64       `json:"share"` // 0 means 1 (every call)
	Expect string        `json:"expect,omitempty"`
	By     string        `json:"-"`
}

// DrillManager runs drills. Its methods are safe for concurrent use.
type DrillManager struct {
	cfg    DrillConfig
	mu     sync.Mutex
	timers map[string]func() bool
	closed bool
}

// ErrDrillNotFound means no drill has the requested id.
var ErrDrillNotFound = errors.New("drill not found")

// errDrillRefused is a drill that cannot start as asked.
var errDrillRefused = errors.New("drill refused")

// NewDrillManager returns a manager; call Recover before serving.
func NewDrillManager(cfg DrillConfig) *DrillManager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	return &DrillManager{cfg: cfg, timers: map[string]func() bool{}}
}

// Recover ends every drill a previous run left running, with its report, and returns them.
func (m *DrillManager) Recover(ctx context.Context) ([]store.Drill, error) {
	running, err := m.cfg.Store.Drills(store.DrillRunning, 1000)
	if err != nil {
		return nil, err
	}
	var out []store.Drill
	for _, d := range running {
		end := m.cfg.Now()
		if d.EndsAt.Before(end) {
			end = d.EndsAt // it should have ended then: report what happened up to that time
		}
		d = m.finish(ctx, d, "restart", end)
		m.cfg.Logger.Warn().Str("drill", d.ID).Str("route", d.Route).Str("verdict", d.Report.Verdict).
			Msg("drill: ended at start; mtguard stopped while it ran, and a restart never resumes a drill")
		out = append(out, d)
	}
	return out, nil
}

// Start begins a drill.
func (m *DrillManager) Start(ctx context.Context, req DrillRequest) (store.Drill, error) {
	if req.For == 0 {
		req.For = DefaultDrillFor
	}
	if req.For < 0 || req.For > MaxDrillFor {
		return store.Drill{}, problemf(errBadRequest, "for %s must be from 1s to %s", req.For, MaxDrillFor)
	}
	if req.Share == 0 {
		req.Share = 1
	}
	if req.Share < 0 || req.Share > 1 {
		return store.Drill{}, problemf(errBadRequest, "share %v must be from 1%% to 100%%", req.Share)
	}
	if _, _, err := parseExpect(req.Expect); err != nil {
		return store.Drill{}, problemf(errBadRequest, "%v", err)
	}
	now := m.cfg.Now().UTC()
	d := store.Drill{
		ID: "drill-" + now.Format("20060102T150405Z") + "-" + req.Route, Route: req.Route, Fault: req.Fault,
		Share: req.Share, Expect: req.Expect, StartedBy: req.By, StartedAt: now, EndsAt: now.Add(req.For),
		State: store.DrillRunning,
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return store.Drill{}, errors.New("mtguard is shutting down")
	}
	for n, base := 2, d.ID; ; n++ {
		if _, ok, _ := m.cfg.Store.GetDrill(d.ID); !ok {
			break
		}
		d.ID = fmt.Sprintf("%s-%d", base, n) // another drill of the route began this second
	}
	// Stored before the fault is on: a crash in between leaves a running drill that the next
	// start ends, never a fault nobody knows of.
	if err := m.cfg.Store.PutDrill(d); err != nil {
		return store.Drill{}, err
	}
	if err := m.cfg.Faults.StartFault(d); err != nil {
		d.State, d.EndedAt, d.EndedBy = store.DrillEnded, now, "refused"
		d.Report = &store.DrillReport{Alerts: []store.DrillAlert{}, Verdict: "not started: " + err.Error()}
		if perr := m.cfg.Store.PutDrill(d); perr != nil {
			m.cfg.Logger.Error().Err(perr).Str("drill", d.ID).Msg("drill: could not record a refused drill")
		}
		return store.Drill{}, problemf(errDrillRefused, "%v", err)
	}
	if d.Fault == "silence" && m.cfg.Alerts != nil {
		m.cfg.Alerts.HideFromSilence(d.ID)
	}
	id := d.ID
	m.timers[id] = m.cfg.AfterFunc(req.For, func() {
		if _, err := m.end(context.Background(), id, "time"); err != nil {
			m.cfg.Logger.Error().Err(err).Str("drill", id).Msg("drill: could not end at its time")
		}
	})
	m.cfg.Logger.Warn().Str("drill", d.ID).Str("route", d.Route).Str("fault", d.Fault).Time("ends_at", d.EndsAt).Msg("drill: started")
	return d, nil
}

// Stop ends the drill id now.
func (m *DrillManager) Stop(ctx context.Context, id string) (store.Drill, error) {
	return m.end(ctx, id, "stop")
}

func (m *DrillManager) end(ctx context.Context, id, by string) (store.Drill, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok, err := m.cfg.Store.GetDrill(id)
	if err != nil {
		return d, err
	}
	if !ok {
		return d, fmt.Errorf("drill %s: %w", id, ErrDrillNotFound)
	}
	if d.State != store.DrillRunning {
		return d, nil
	}
	if stop := m.timers[id]; stop != nil {
		stop()
		delete(m.timers, id)
	}
	return m.finish(ctx, d, by, m.cfg.Now()), nil
}

// finish switches the fault off and writes the drill's report; mu is held (or not needed).
func (m *DrillManager) finish(ctx context.Context, d store.Drill, by string, at time.Time) store.Drill {
	m.cfg.Faults.StopFault(d.ID)
	if m.cfg.Alerts != nil {
		m.cfg.Alerts.ShowToSilence(d.ID)
	}
	d.State, d.EndedAt, d.EndedBy = store.DrillEnded, at.UTC(), by
	d.Report = m.report(ctx, d, at)
	if err := m.cfg.Store.PutDrill(d); err != nil {
		m.cfg.Logger.Error().Err(err).Str("drill", d.ID).Msg("drill: could not record its end")
	}
	m.cfg.Logger.Warn().Str("drill", d.ID).Str("route", d.Route).Str("ended_by", by).Str("verdict", d.Report.Verdict).Msg("drill: ended")
	return d
}

// Get returns the drill id with its report: so far for a running drill; for an ended one, of
// the alerts that fired while it ran, with their notifications as they stand now (a sink may
// accept one a moment after the drill ended).
func (m *DrillManager) Get(ctx context.Context, id string) (store.Drill, error) {
	d, ok, err := m.cfg.Store.GetDrill(id)
	if err != nil {
		return d, err
	}
	if !ok {
		return d, fmt.Errorf("drill %s: %w", id, ErrDrillNotFound)
	}
	switch {
	case d.State == store.DrillRunning:
		d.Report = m.report(ctx, d, m.cfg.Now())
	case d.EndedBy != "refused":
		d.Report = m.report(ctx, d, d.EndedAt)
	}
	return d, nil
}

// List returns the newest drills.
func (m *DrillManager) List(limit int) ([]store.Drill, error) {
	return m.cfg.Store.Drills("", limit)
}

// Close ends the drills under way (a clean shutdown leaves no route faulted either).
func (m *DrillManager) Close() {
	m.mu.Lock()
	m.closed = true
	ids := make([]string, 0, len(m.timers))
	for id := range m.timers {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		m.end(context.Background(), id, "shutdown")
	}
}

var expectRE = regexp.MustCompile(`^(?:([a-z_]+) )?alerts? within (\S+)$`)

// parseExpect reads "alert within 5m" or "auth alert within 2m".
func parseExpect(s string) (kind string, within time.Duration, err error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return "", 0, nil
	}
	m := expectRE.FindStringSubmatch(s)
	if m == nil {
		return "", 0, fmt.Errorf(`expect %q: write "alert within 5m", or name the rule: "auth alert within 2m"`, s)
	}
	d, err := time.ParseDuration(m[2])
	if err != nil || d <= 0 {
		return "", 0, fmt.Errorf("expect %q: %q is not a duration like 5m", s, m[2])
	}
	return m[1], d, nil
}

// report is what the drill proved up to at.
func (m *DrillManager) report(ctx context.Context, d store.Drill, at time.Time) *store.DrillReport {
	r := &store.DrillReport{Alerts: []store.DrillAlert{}}
	if m.cfg.Transactions != nil {
		q := store.Query{Route: d.Route, Since: d.StartedAt, Until: at.Add(time.Second), Limit: 1000}
		for {
			page, err := m.cfg.Transactions.Query(ctx, q)
			if err != nil {
				break
			}
			for _, tx := range page.Transactions {
				if tx.Drill == d.ID {
					r.Calls++
				}
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	if m.cfg.Alerts != nil {
		list, err := m.cfg.Alerts.List(store.AlertQuery{Route: d.Route, Limit: 200})
		if err == nil {
			slices.SortFunc(list, func(a, b store.Alert) int { return a.FiredAt.Compare(b.FiredAt) })
			for _, a := range list {
				if a.FiredAt.Before(d.StartedAt) || a.FiredAt.After(at) || a.State == alerts.StateNotice {
					continue
				}
				da := store.DrillAlert{ID: a.ID, Kind: a.Kind, FiredAt: a.FiredAt, DelayS: a.FiredAt.Sub(d.StartedAt).Seconds(),
					Accepted: []string{}, Failed: []string{}, Acknowledged: !a.AckedAt.IsZero(), AckedBy: a.AckedBy}
				for _, dl := range a.Deliveries {
					if dl.Event != alerts.EventFiring {
						continue
					}
					if dl.Result == store.NotifyDelivered {
						da.Accepted = append(da.Accepted, dl.Sink)
					} else if dl.Result != store.NotifyRetrying {
						da.Failed = append(da.Failed, dl.Sink)
					}
				}
				r.Alerts = append(r.Alerts, da)
			}
		}
	}
	kind, within, _ := parseExpect(d.Expect)
	if d.Expect == "" {
		r.Verdict = fmt.Sprintf("%d alerts fired; no expectation was given", len(r.Alerts))
		return r
	}
	pass := false
	r.Verdict = fmt.Sprintf("FAIL: no %salert fired within %s", orEmpty(kind, " "), alerts.FormatDuration(within))
	for _, a := range r.Alerts {
		if (kind != "" && a.Kind != kind) || a.DelayS > within.Seconds() {
			continue
		}
		if len(a.Accepted) == 0 {
			r.Verdict = fmt.Sprintf("FAIL: %s fired after %s, but no sink accepted it", a.Kind, alerts.FormatDuration(time.Duration(a.DelayS*float64(time.Second)).Round(time.Second)))
			continue
		}
		pass = true
		r.Verdict = fmt.Sprintf("PASS: %s fired %s after the fault began and reached %s", a.Kind,
			alerts.FormatDuration(time.Duration(a.DelayS*float64(time.Second)).Round(time.Second)), strings.Join(a.Accepted, ", "))
		break
	}
	r.Pass = &pass
	return r
}

func orEmpty(s, suffix string) string {
	if s == "" {
		return ""
	}
	return s + suffix
}
