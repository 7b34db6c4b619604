package alerts

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recordingSink keeps what it is sent.
type recordingSink struct {
	name string
	mu   sync.Mutex
	got  []Notification
	fail func(n Notification) error // nil: always succeeds
}

func (s *recordingSink) Name() string { return s.name }

func (s *recordingSink) Send(_ context.Context, n Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(n); err != nil {
			return err
		}
	}
	s.got = append(s.got, n)
	return nil
}

func (s *recordingSink) events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.got {
		out = append(out, n.Event+" "+n.Alert.Route+" "+n.Alert.Kind)
	}
	return out
}

func (s *recordingSink) last() Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return Notification{}
	}
	return s.got[len(s.got)-1]
}

// openStore opens a real transaction log in a temporary directory.
func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "mtguard.db")
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startEngine starts an engine on st (which may be nil) and closes it when the test ends. The
// engine's own ticker is slowed down: tests call Tick after moving the clock.
func startEngine(t *testing.T, cfg Config, st Store) *Engine {
	t.Helper()
	if cfg.Tick == 0 {
		cfg.Tick = time.Hour
	}
	if cfg.Retry.Backoff == 0 {
		cfg.Retry = RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), st)
	t.Cleanup(e.Close)
	return e
}

// call builds a recorded call of route that ended at the clock's time.
func call(route string, at time.Time, outcome txn.Outcome, codes ...string) txn.Transaction {
	var tx txn.Transaction
	tx.ID = "01TESTTESTTESTTESTTESTTEST"
	tx.Time = at
	tx.Route = route
	tx.Method = "POST"
	tx.Path = "/" + route + "/v1/leads"
	tx.RecordKeys = []string{"jane@acme.com"}
	tx.Outcome = outcome
	tx.Status = 200
	if outcome != txn.OutcomeDelivered {
		tx.Status = 500
	}
	tx.UpstreamMS = 120
	tx.Findings = []txn.Finding{}
	for _, c := range codes {
		tx.Findings = append(tx.Findings, txn.Finding{Code: c, Severity: txn.SeverityError, Message: c})
	}
	return tx
}

// observe hands txs to e and waits until their notifications are out.
func observe(e *Engine, txs ...txn.Transaction) {
	for _, tx := range txs {
		e.Observe(tx)
	}
	e.Flush()
}

func tick(e *Engine) {
	e.Tick()
	e.Flush()
}

func mustSchedule(t *testing.T, s string) *Schedule {
	t.Helper()
	sc, err := ParseSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func equalEvents(got []string, want ...string) bool {
	return strings.Join(got, "|") == strings.Join(want, "|")
}

// Monday 30 November 2026, 09:00 in New York.
var nyMonday9 = time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)

// TestSilenceAcceptance: expected at least 1 per 30m during business hours; 31 minutes without
// a delivery inside the schedule fire one alert, naming the owner and the command to look;
// traffic resuming resolves it.
func TestSilenceAcceptance(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	st := openStore(t, "")
	e := startEngine(t, Config{
		Now:   clock.Now,
		Sinks: []Sink{sink},
		Routes: []RouteAlerts{{Route: "marketo", Owner: "ops@example.com", Rules: Rules{
			Silence: &SilenceRule{Min: 1, Per: 30 * time.Minute, During: mustSchedule(t, "Mon-Fri 08:00-20:00 America/New_York")},
		}}},
	}, st)

	observe(e, call("marketo", clock.Now(), txn.OutcomeDelivered))
	clock.Advance(29 * time.Minute)
	tick(e)
	if got := sink.events(); len(got) != 0 {
		t.Fatalf("29 minutes after a delivery: %v, want nothing", got)
	}
	clock.Advance(2 * time.Minute) // 31 minutes of silence
	tick(e)
	for range 5 { // the silence goes on: still one notification
		clock.Advance(5 * time.Minute)
		tick(e)
	}
	if got := sink.events(); !equalEvents(got, "firing marketo silence") {
		t.Fatalf("after 56 minutes of silence: %v, want one firing", got)
	}
	n := sink.last()
	a := n.Alert
	if a.Owner != "ops@example.com" || a.Kind != KindSilence || a.Severity != "critical" {
		t.Errorf("alert %+v", a)
	}
	if want := "mtguard log --route marketo --since 2026-11-30T14:00:00Z"; a.Command != want {
		t.Errorf("command %q, want %q", a.Command, want)
	}
	if !a.Since.Equal(nyMonday9) || !a.FiredAt.Equal(nyMonday9.Add(31*time.Minute)) {
		t.Errorf("since %v fired %v", a.Since, a.FiredAt)
	}
	if want := "no delivery for 31m (expected at least 1 per 30m during Mon-Fri 08:00-20:00 America/New_York); no calls arrived at all"; a.Summary != want {
		t.Errorf("summary %q\nwant    %q", a.Summary, want)
	}
	text := SlackText(n)
	for _, want := range []string{"*Owner:* ops@example.com", "*Since:* 2026-11-30 14:00 UTC (31m ago)", "`mtguard log --route marketo --since 2026-11-30T14:00:00Z`"} {
		if !strings.Contains(text, want) {
			t.Errorf("Slack text lacks %q:\n%s", want, text)
		}
	}

	// Failing calls keep it silent, and are counted as affected.
	observe(e, call("marketo", clock.Now(), txn.OutcomeFailed), call("marketo", clock.Now(), txn.OutcomeFailed))
	clock.Advance(time.Minute)
	observe(e, call("marketo", clock.Now(), txn.OutcomeDelivered))
	if got := sink.events(); !equalEvents(got, "firing marketo silence", "resolved marketo silence") {
		t.Fatalf("after traffic resumed: %v, want firing then resolved", got)
	}
	r := sink.last().Alert
	if r.State != store.AlertResolved || r.Calls != 2 || r.Records != 2 || !r.ResolvedAt.Equal(clock.Now()) {
		t.Errorf("resolved alert %+v", r)
	}
	// The history has the whole incident.
	hist, err := st.Alerts(store.AlertQuery{})
	if err != nil || len(hist) != 1 || hist[0].State != store.AlertResolved || hist[0].ID != a.ID {
		t.Fatalf("history %+v, %v", hist, err)
	}
}

// TestSilenceOutsideSchedule: no traffic at night or at the weekend is no alert, and the first
// stretch of the next business day needs a whole window before silence can be judged.
func TestSilenceOutsideSchedule(t *testing.T) {
	friday7pm := time.Date(2026, 11, 27, 19, 0, 0, 0, mustLoad(t, "America/New_York"))
	clock := &fakeClock{t: friday7pm}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{
		Now:   clock.Now,
		Sinks: []Sink{sink},
		Routes: []RouteAlerts{{Route: "marketo", Owner: "ops@example.com", Rules: Rules{
			Silence: &SilenceRule{Min: 1, Per: 30 * time.Minute, During: mustSchedule(t, "Mon-Fri 08:00-20:00 America/New_York")},
		}}},
	}, nil)
	observe(e, call("marketo", clock.Now(), txn.OutcomeDelivered))
	clock.Advance(55 * time.Minute) // 19:55: no delivery for 55m but the window fits in the schedule
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing marketo silence") {
		t.Fatalf("Friday 19:55: %v, want one firing", got)
	}
	// Nothing all weekend: no new alert, no reminder (the rule has no verdict outside its hours).
	for clock.Now().Before(time.Date(2026, 11, 30, 8, 0, 0, 0, mustLoad(t, "America/New_York"))) {
		clock.Advance(20 * time.Minute)
		tick(e)
	}
	if got := sink.events(); len(got) != 1 {
		t.Fatalf("over the weekend: %v, want only the Friday alert", got)
	}

	// A route that was fine on Friday evening stays quiet all weekend and until 08:30 Monday.
	clock2 := &fakeClock{t: friday7pm}
	sink2 := &recordingSink{name: "ops-slack"}
	e2 := startEngine(t, Config{
		Now:   clock2.Now,
		Sinks: []Sink{sink2},
		Routes: []RouteAlerts{{Route: "marketo", Owner: "ops@example.com", Rules: Rules{
			Silence: &SilenceRule{Min: 1, Per: 30 * time.Minute, During: mustSchedule(t, "Mon-Fri 08:00-20:00 America/New_York")},
		}}},
	}, nil)
	clock2.Advance(50 * time.Minute)
	observe(e2, call("marketo", clock2.Now(), txn.OutcomeDelivered)) // 19:50
	monday829 := time.Date(2026, 11, 30, 8, 29, 0, 0, mustLoad(t, "America/New_York"))
	for next := clock2.Now().Add(10 * time.Minute); !next.After(monday829); next = next.Add(10 * time.Minute) {
		clock2.Set(next)
		tick(e2)
	}
	if got := sink2.events(); len(got) != 0 {
		t.Fatalf("outside the schedule: %v, want nothing", got)
	}
	clock2.Set(monday829.Add(2 * time.Minute)) // 08:31: a whole window inside the schedule
	tick(e2)
	if got := sink2.events(); !equalEvents(got, "firing marketo silence") {
		t.Fatalf("Monday 08:31: %v, want one firing", got)
	}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	return loc
}

// TestAuthAcceptance: three calls in a row refused for expired credentials fire one alert that
// names the owner; a fourth does not notify again; a clean answer resolves it.
func TestAuthAcceptance(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "pager"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{sink},
		Routes: []RouteAlerts{{Route: "hubspot", Owner: "jane@example.com", Rules: DefaultRules()}},
	}, nil)
	expired := func() txn.Transaction { return call("hubspot", clock.Now(), txn.OutcomeFailed, "auth.expired") }
	observe(e, expired(), expired())
	if got := sink.events(); len(got) != 0 {
		t.Fatalf("after 2 auth failures: %v", got)
	}
	observe(e, call("hubspot", clock.Now(), txn.OutcomeRejected)) // never sent: proves nothing
	observe(e, expired())
	if got := sink.events(); !equalEvents(got, "firing hubspot auth") {
		t.Fatalf("after 3 auth failures: %v, want one firing", got)
	}
	a := sink.last().Alert
	if a.Owner != "jane@example.com" || a.Calls != 3 || a.Records != 3 || a.Severity != "critical" {
		t.Errorf("alert %+v", a)
	}
	if !strings.Contains(a.Summary, "3 calls in a row refused for their credentials (auth.expired)") {
		t.Errorf("summary %q", a.Summary)
	}
	if !strings.Contains(SlackText(sink.last()), "*Owner:* jane@example.com") {
		t.Errorf("Slack text does not name the owner:\n%s", SlackText(sink.last()))
	}
	observe(e, expired(), expired())
	clock.Advance(time.Minute)
	tick(e)
	if got := sink.events(); len(got) != 1 {
		t.Fatalf("more auth failures: %v, want still one notification", got)
	}
	observe(e, call("hubspot", clock.Now(), txn.OutcomeDelivered))
	if got := sink.events(); !equalEvents(got, "firing hubspot auth", "resolved hubspot auth") {
		t.Fatalf("after a clean call: %v", got)
	}
	if r := sink.last().Alert; r.Calls != 5 {
		t.Errorf("resolved alert counts %d calls, want 5", r.Calls)
	}
}

// TestBurstAcceptance: a burst of 100 failures is one notification, not 100.
func TestBurstAcceptance(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{sink},
		Routes: []RouteAlerts{{Route: "crm", Owner: "ops@example.com", Rules: DefaultRules()}},
	}, nil)
	for i := range 100 {
		e.Observe(call("crm", clock.Now().Add(time.Duration(i)*time.Second), txn.OutcomeFailed))
	}
	clock.Advance(100 * time.Second)
	e.Flush()
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing crm error_rate") {
		t.Fatalf("100 failures: %v, want exactly one error_rate firing", got)
	}
	// The notice says what was known when it fired; the alert keeps counting.
	if a := sink.last().Alert; a.Calls != 20 || a.Summary != "20 of 20 calls failed in the last 10m (100%, threshold 10%)" {
		t.Errorf("alert %+v", a)
	}
	if firing, _ := e.List(store.AlertQuery{State: store.AlertFiring}); len(firing) != 1 || firing[0].Calls != 100 || firing[0].Records != 100 {
		t.Errorf("firing %+v", firing)
	}
	// A drained window is no verdict: the alert stays until enough calls show the route works.
	clock.Advance(11 * time.Minute)
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing crm error_rate") {
		t.Fatalf("after the window: %v, want still firing", got)
	}
	for i := range 20 {
		e.Observe(call("crm", clock.Now().Add(time.Duration(i)*time.Second), txn.OutcomeDelivered))
	}
	clock.Advance(20 * time.Second)
	e.Flush()
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing crm error_rate", "resolved crm error_rate") {
		t.Fatalf("after 20 deliveries: %v", got)
	}
}

// TestReminderAckAndMute covers re-notification, acknowledgement and muting.
func TestReminderAckAndMute(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{
		Now:      clock.Now,
		Sinks:    []Sink{sink},
		Renotify: time.Hour,
		Routes:   []RouteAlerts{{Route: "crm", Owner: "ops@example.com", Rules: Rules{Auth: &AuthRule{Consecutive: 1}}}},
	}, nil)
	observe(e, call("crm", clock.Now(), txn.OutcomeFailed, "auth.forbidden"))
	clock.Advance(59 * time.Minute)
	tick(e)
	clock.Advance(time.Minute)
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing crm auth", "reminder crm auth") {
		t.Fatalf("after an hour: %v", got)
	}
	id := sink.last().Alert.ID
	a, err := e.Acknowledge(id, Ack{By: "jane@example.com", Comment: "rotating the key", Silence: 3 * time.Hour})
	if err != nil || a.AckedBy != "jane@example.com" || !a.SilencedUntil.Equal(clock.Now().Add(3*time.Hour)) {
		t.Fatalf("ack: %+v, %v", a, err)
	}
	e.Flush()
	clock.Advance(2 * time.Hour)
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing crm auth", "reminder crm auth", "acknowledged crm auth") {
		t.Fatalf("after the ack: %v", got)
	}
	// Muted: the next incident of the rule is recorded but not sent, and its resolution neither.
	observe(e, call("crm", clock.Now(), txn.OutcomeDelivered))
	observe(e, call("crm", clock.Now(), txn.OutcomeFailed, "auth.expired"))
	if got := sink.events(); len(got) != 4 || got[3] != "resolved crm auth" {
		t.Fatalf("muted: %v", got)
	}
	firing, _ := e.List(store.AlertQuery{State: store.AlertFiring})
	if len(firing) != 1 || firing[0].Notifications != 0 {
		t.Fatalf("firing while muted: %+v", firing)
	}
	// Once the mute ends, the incident still firing is sent.
	clock.Advance(2 * time.Hour)
	tick(e)
	if got := sink.events(); len(got) != 5 || got[4] != "firing crm auth" {
		t.Fatalf("after the mute: %v", got)
	}
	if _, err := e.Acknowledge("nope", Ack{}); err == nil {
		t.Fatal("acknowledging an unknown alert succeeded")
	}
}

// TestRestartKeepsIncidents: a restarted engine picks up the firing alert from the history
// (no second notification) and the recent calls from the log, and resolves it later.
func TestRestartKeepsIncidents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	routes := []RouteAlerts{{Route: "crm", Owner: "ops@example.com", Rules: Rules{Silence: &SilenceRule{Min: 1, Per: 30 * time.Minute}}}}

	st, err := store.Open(path, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := New(Config{Now: clock.Now, Sinks: []Sink{sink}, Routes: routes, Tick: time.Hour})
	e.Start(context.Background(), st)
	clock.Advance(31 * time.Minute)
	tick(e)
	e.Close()
	st.Close()
	if got := sink.events(); !equalEvents(got, "firing crm silence") {
		t.Fatalf("first run: %v", got)
	}

	clock.Advance(5 * time.Minute)
	st2 := openStore(t, path)
	e2 := startEngine(t, Config{Now: clock.Now, Sinks: []Sink{sink}, Routes: routes}, st2)
	tick(e2)
	if got := sink.events(); len(got) != 1 {
		t.Fatalf("after restart: %v, want no new notification", got)
	}
	if h := e2.Health(); h.Routes[0].State != StateSilent {
		t.Errorf("health after restart: %+v", h.Routes[0])
	}
	// A delivery recorded in the log reaches the new engine through the store's callback.
	tx := call("crm", clock.Now(), txn.OutcomeDelivered)
	tx.ID = ""
	if err := st2.RecordIntent(context.Background(), &tx); err != nil {
		t.Fatal(err)
	}
	e2.Observe(tx)
	e2.Flush()
	if got := sink.events(); !equalEvents(got, "firing crm silence", "resolved crm silence") {
		t.Fatalf("after a delivery: %v", got)
	}
}

// TestRebuildFromLog: the windows are rebuilt from the calls in the log, so a restart in the
// middle of a failure burst still fires.
func TestRebuildFromLog(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	path := filepath.Join(t.TempDir(), "mtguard.db")
	st, err := store.Open(path, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		tx := call("crm", clock.Now().Add(-time.Duration(30-i)*time.Second), txn.OutcomeFailed)
		tx.ID = ""
		if err := st.RecordIntent(context.Background(), &tx); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordResult(&tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{Now: clock.Now, Sinks: []Sink{sink},
		Routes: []RouteAlerts{{Route: "crm", Owner: "ops@example.com", Rules: DefaultRules()}}}, st)
	e.Flush()
	if got := sink.events(); !equalEvents(got, "firing crm error_rate") {
		t.Fatalf("after rebuild: %v", got)
	}
	if h := e.Health(); h.Routes[0].Calls != 30 || h.Routes[0].State != StateFailing {
		t.Errorf("health %+v", h.Routes[0])
	}
	st.Close()
}

// TestDeprecationContractThrottle covers the other rule kinds.
func TestDeprecationContractThrottle(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "hook"}
	queues := &fakeThrottle{}
	e := startEngine(t, Config{
		Now:      clock.Now,
		Sinks:    []Sink{sink},
		Throttle: queues,
		Routes:   []RouteAlerts{{Route: "sfdc", Owner: "ops@example.com", Rules: DefaultRules()}},
	}, nil)

	far := call("sfdc", clock.Now(), txn.OutcomeDelivered)
	farSunset := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	far.Findings = []txn.Finding{{Code: "endpoint.deprecated", Message: "v1 is deprecated; sunset 2027-06-01", Sunset: &farSunset}}
	observe(e, far)
	if got := sink.events(); !equalEvents(got, "notice sfdc deprecation") {
		t.Fatalf("a sunset half a year away: %v, want only the first-sight notice", got)
	}
	near := call("sfdc", clock.Now(), txn.OutcomeDelivered)
	nearSunset := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	near.Findings = []txn.Finding{{Code: "endpoint.deprecation_announced", Message: "the vendor announced a deprecation", Detail: "Sunset: Tue, 15 Dec 2026 00:00:00 GMT", Sunset: &nearSunset}}
	observe(e, near)
	if got := sink.events(); !equalEvents(got, "notice sfdc deprecation", "firing sfdc deprecation") {
		t.Fatalf("a sunset in 15 days: %v", got)
	}
	if s := sink.last().Alert.Summary; !strings.Contains(s, "sunset 2026-12-15, 14 days left") {
		t.Errorf("summary %q", s)
	}

	rej := call("sfdc", clock.Now(), txn.OutcomeRejected, "schema.request.invalid")
	observe(e, rej)
	if got := sink.events(); len(got) != 3 || got[2] != "firing sfdc contract" {
		t.Fatalf("a contract rejection: %v", got)
	}
	if c := sink.last().Alert.Command; c != "mtguard log --route sfdc --since 2026-11-30T14:00:00Z --outcome rejected" {
		t.Errorf("command %q", c)
	}

	queues.set(QueueStat{Group: "sfdc-prod", Routes: []string{"sfdc"}, Depth: 40, Saturation: 0.9})
	tick(e)
	clock.Advance(61 * time.Second)
	tick(e)
	if got := sink.events(); len(got) != 4 || got[3] != "firing sfdc throttle" {
		t.Fatalf("a saturated queue: %v", got)
	}
	queues.set(QueueStat{Group: "sfdc-prod", Routes: []string{"sfdc"}, Depth: 1, Saturation: 0.1})
	clock.Advance(25 * time.Hour)
	tick(e)
	got := sink.events()
	if len(got) != 7 || !strings.Contains(strings.Join(got, "|"), "resolved sfdc throttle") || !strings.Contains(strings.Join(got, "|"), "resolved sfdc deprecation") {
		t.Fatalf("after a quiet day: %v", got)
	}
}

type fakeThrottle struct {
	mu sync.Mutex
	q  []QueueStat
}

func (f *fakeThrottle) set(q ...QueueStat) {
	f.mu.Lock()
	f.q = q
	f.mu.Unlock()
}

func (f *fakeThrottle) QueueStats() []QueueStat {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.q
}

// TestFailingSinkNeverBlocks: a sink that hangs holds up neither the engine nor other sinks.
func TestFailingSinkNeverBlocks(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	release := make(chan struct{})
	hung := &hangingSink{release: release}
	good := &recordingSink{name: "good"}
	e, err := New(Config{Now: clock.Now, Sinks: []Sink{hung, good}, Tick: time.Hour, Buffer: 16,
		Retry:  RetryPolicy{Attempts: 2, Backoff: time.Millisecond},
		Routes: []RouteAlerts{{Route: "crm", Rules: Rules{Auth: &AuthRule{Consecutive: 1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), nil)
	defer func() { close(release); e.Close() }()
	start := time.Now()
	for range 10000 {
		e.Observe(call("crm", clock.Now(), txn.OutcomeFailed, "auth.expired"))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("10000 Observe calls took %v", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(good.events()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := good.events(); !equalEvents(got, "firing crm auth") {
		t.Fatalf("the good sink got %v", got)
	}
	e.sync()
	if e.Dropped() == 0 {
		t.Log("no call was dropped (the engine kept up)")
	}
}

type hangingSink struct{ release chan struct{} }

func (h *hangingSink) Name() string { return "hung" }

func (h *hangingSink) Send(ctx context.Context, _ Notification) error {
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return fmt.Errorf("hung up")
}

func TestNewAlertsRefusesUnknownSink(t *testing.T) {
	_, err := New(Config{Routes: []RouteAlerts{{Route: "crm", Sinks: []string{"nope"}}}})
	if err == nil || !strings.Contains(err.Error(), `sink "nope"`) {
		t.Fatalf("err %v", err)
	}
}

// TestLogOnlyRouteLogsOnce: a route whose alerts go to the log only logs each event once, not
// once per tick.
func TestLogOnlyRouteLogsOnce(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	var mu sync.Mutex
	var logs strings.Builder
	e := startEngine(t, Config{
		Now:    clock.Now,
		Logger: zerolog.New(lockedWriter{&mu, &logs}),
		Sinks:  []Sink{&recordingSink{name: "ops-slack"}},
		Routes: []RouteAlerts{{Route: "crm", Sinks: []string{}, Rules: Rules{Auth: &AuthRule{Consecutive: 1}}}},
	}, nil)
	observe(e, call("crm", clock.Now(), txn.OutcomeFailed, "auth.expired"))
	for range 10 {
		clock.Advance(time.Hour)
		tick(e)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), `"event":"firing"`); n != 1 {
		t.Errorf("%d firing lines in the log, want 1:\n%s", n, logs.String())
	}
}

// TestAuthCountsInvalidCredentials: a revoked token (auth.invalid, Marketo 601) stops every
// call like an expired one, so it counts toward the auth rule's streak, mixed with expired ones.
func TestAuthCountsInvalidCredentials(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "pager"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{sink},
		Routes: []RouteAlerts{{Route: "marketo", Owner: "jane@example.com", Rules: DefaultRules()}},
	}, nil)
	invalid := func() txn.Transaction { return call("marketo", clock.Now(), txn.OutcomeFailed, "auth.invalid") }
	observe(e, invalid(), call("marketo", clock.Now(), txn.OutcomeFailed, "auth.expired"), invalid())
	if got := sink.events(); !equalEvents(got, "firing marketo auth") {
		t.Fatalf("after 3 credential refusals: %v, want one firing", got)
	}
	if a := sink.last().Alert; !strings.Contains(a.Summary, "3 calls in a row refused for their credentials (auth.invalid)") {
		t.Errorf("summary %q", a.Summary)
	}
}
