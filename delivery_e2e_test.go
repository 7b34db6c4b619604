package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
)

// orderVendor is a fake vendor that takes leads ({"email", "seq"}) and remembers, per email,
// the sequence numbers in the order they arrived and when each call arrived.
type orderVendor struct {
	mu       sync.Mutex
	got      map[string][]int // email -> seqs in arrival order
	arrivals []time.Time
	status   int // answered; 0 means 200
	// idempotency dedups on the Idempotency-Key header, as vendors that honour it do.
	keys map[string]bool
}

func newOrderVendor() *orderVendor {
	return &orderVendor{got: map[string][]int{}, keys: map[string]bool{}}
}

func (v *orderVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var lead struct {
		Email string `json:"email"`
		Seq   int    `json:"seq"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &lead); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.arrivals = append(v.arrivals, time.Now())
	if v.status != 0 {
		w.WriteHeader(v.status)
		return
	}
	v.got[lead.Email] = append(v.got[lead.Email], lead.Seq)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok": true}`)
}

func (v *orderVendor) total() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, s := range v.got {
		n += len(s)
	}
	return n
}

// switchableVendor serves h on a fixed loopback address that can be taken down (connections
// refused, as from a vendor that is down) and brought back.
type switchableVendor struct {
	addr string
	h    http.Handler
	srv  *httptest.Server
}

func newSwitchableVendor(t *testing.T, h http.Handler) *switchableVendor {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	v := &switchableVendor{addr: addr, h: h}
	t.Cleanup(v.down)
	return v
}

func (v *switchableVendor) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was ours a moment ago; the kernel may need a moment to free it
		if ln, err = net.Listen("tcp", v.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("vendor up: %v", err)
	}
	v.srv = httptest.NewUnstartedServer(v.h)
	v.srv.Listener = ln
	v.srv.Start()
}

func (v *switchableVendor) down() {
	if v.srv != nil {
		v.srv.Close()
		v.srv = nil
	}
}

func (v *switchableVendor) url() string { return "http://" + v.addr }

// postLead sends one lead through mtguard and returns the status and X-Mtguard-Id.
func postLead(t *testing.T, base, email string, seq int) (int, string) {
	t.Helper()
	resp, err := http.Post(base, "application/json", strings.NewReader(fmt.Sprintf(`{"email": %q, "seq": %d}`, email, seq)))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Mtguard-Id")
}

// listDeliveries reads GET /api/deliveries.
func listDeliveries(t *testing.T, in *instance, query string) []store.Delivery {
	t.Helper()
	resp, err := http.Get(in.admin + "/api/deliveries" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/deliveries: %d %s", resp.StatusCode, b)
	}
	var rep inspect.DeliveriesReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return rep.Deliveries
}

// deliveryWait polls cond until it holds or the deadline passes.
func deliveryWait(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const queueRouteConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  path: ./mtguard.db
routes:
  - name: leads
    prefix: /leads
    upstream: %s
    owner: ops@example.com
    record_keys: [email]
    timeout: 2s
%s
    delivery:
      mode: queue
      accept: {status: 202, body: '{"queued": true, "id": "{id}"}'}
      retry: {on: [unreachable, timeout, 429, 5xx], attempts: 1000, backoff: 20ms..200ms, jitter: false}
      give_up_after: 1h
`

// TestDeliveryQueueVendorDown: with the vendor down (connections refused) under steady load,
// every call is accepted at once; once the vendor is back, each is delivered exactly once, and
// the calls of one record key arrive in the order the tool made them. The vendor's outage is
// compressed from the 60 s to the time the load takes, with backoffs in milliseconds.
func TestDeliveryQueueVendorDown(t *testing.T) {
	vendor := newOrderVendor()
	sv := newSwitchableVendor(t, vendor)
	in := startMtguard(t, fmt.Sprintf(queueRouteConfig, sv.url(), ""), nil)

	const keys, perKey = 8, 12
	ids := map[string]bool{}
	for seq := range perKey {
		for k := range keys {
			status, id := postLead(t, in.proxy+"/leads/v1/leads", fmt.Sprintf("lead%d@example.com", k), seq)
			if status != http.StatusAccepted || id == "" {
				t.Fatalf("call %d/%d answered %d (id %q), want 202 with an id", k, seq, status, id)
			}
			ids[id] = true
		}
	}
	// While the vendor is down, every call waits in the queue with its last error.
	deliveryWait(t, "attempts to fail while the vendor is down", 10*time.Second, func() bool {
		ds := listDeliveries(t, in, "?route=leads&state=retrying")
		return len(ds) > 0 && strings.Contains(ds[0].LastError, "unreachable")
	})
	if n := vendor.total(); n != 0 {
		t.Fatalf("the vendor is down but received %d calls", n)
	}

	sv.up(t)
	deliveryWait(t, "every accepted call to be delivered", 30*time.Second, func() bool { return vendor.total() >= keys*perKey })
	deliveryWait(t, "the queue to empty", 10*time.Second, func() bool { return len(listDeliveries(t, in, "")) == 0 })

	vendor.mu.Lock()
	defer vendor.mu.Unlock()
	for k := range keys {
		email := fmt.Sprintf("lead%d@example.com", k)
		got := vendor.got[email]
		want := make([]int, perKey)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: the vendor got seqs %v, want each of 0..%d exactly once, in order", email, got, perKey-1)
		}
	}
	if len(ids) != keys*perKey {
		t.Errorf("%d distinct ids for %d calls", len(ids), keys*perKey)
	}
	// The accepted call is recorded queued, its attempts as replays of it.
	out, err := in.cli(t, nil, "log", "--route", "leads", "--outcome", "queued", "--limit", "1000", "--json")
	if err != nil {
		t.Fatalf("log: %v\n%s", err, out)
	}
	if n := strings.Count(out, `"outcome": "queued"`) + strings.Count(out, `"outcome":"queued"`); n != keys*perKey {
		t.Errorf("log --outcome queued lists %d calls, want %d", n, keys*perKey)
	}
}

// TestDeliveryQueueBurst: a burst of ten times a vendor's limit, in queue mode, is accepted at
// once and delivered whole without the vendor ever seeing more than its limit in any window.
func TestDeliveryQueueBurst(t *testing.T) {
	vendor := newOrderVendor()
	sv := newSwitchableVendor(t, vendor)
	sv.up(t)
	const limit, per = 5, 300 * time.Millisecond
	limits := fmt.Sprintf("    limits: {windows: [{requests: %d, per: %s}]}", limit, per)
	in := startMtguard(t, fmt.Sprintf(queueRouteConfig, sv.url(), limits), nil)

	const calls = 10 * limit
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _ := postLead(t, in.proxy+"/leads/v1/leads", fmt.Sprintf("burst%d@example.com", i), 0); status != http.StatusAccepted {
				t.Errorf("call %d answered %d, want 202", i, status)
			}
		}()
	}
	wg.Wait()
	deliveryWait(t, "the burst to be delivered", 30*time.Second, func() bool { return vendor.total() >= calls })
	deliveryWait(t, "the queue to empty", 10*time.Second, func() bool { return len(listDeliveries(t, in, "")) == 0 })

	if n := vendor.total(); n != calls {
		t.Errorf("the vendor got %d calls, want %d", n, calls)
	}
	vendor.mu.Lock()
	defer vendor.mu.Unlock()
	for i, a := range vendor.arrivals {
		n := 0
		for _, b := range vendor.arrivals[i:] {
			if b.Sub(a) < per {
				n++
			}
		}
		if n > limit {
			t.Fatalf("%d calls arrived within %s of the call at %s; the limit is %d", n, per, a.Format("15:04:05.000"), limit)
		}
	}
}

// TestDeliveriesCLI: a call the vendor may have acted on (a timeout, the route not idempotent)
// is held for a person, listed by mtguard deliveries, and dropped with a reason that the audit
// log keeps; a call the vendor refuses is a dead letter, noticed in the alert history, and sent
// again by deliveries retry once the vendor takes it; /metrics counts the queue.
func TestDeliveriesCLI(t *testing.T) {
	var mu sync.Mutex
	mode := "hang"
	release := make(chan struct{})
	vendor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		m := mode
		mu.Unlock()
		switch m {
		case "hang":
			<-release
		case "refuse":
			http.Error(w, `{"error": "invalid email"}`, http.StatusBadRequest)
		default:
			io.WriteString(w, `{"ok": true}`)
		}
	})
	srv := httptest.NewServer(vendor)
	defer srv.Close()
	defer close(release)
	cfg := strings.Replace(fmt.Sprintf(queueRouteConfig, srv.URL, ""), "timeout: 2s", "timeout: 200ms", 1)
	in := startMtguard(t, cfg, nil)

	_, held := postLead(t, in.proxy+"/leads/v1/leads", "held@example.com", 1)
	deliveryWait(t, "the timed-out call to be held", 10*time.Second, func() bool { return len(listDeliveries(t, in, "?state=held")) == 1 })
	out, err := in.cli(t, nil, "deliveries", "--state", "held")
	if err != nil || !strings.Contains(out, held) || !strings.Contains(out, "the vendor may have acted on it") {
		t.Fatalf("deliveries --state held: %v\n%s", err, out)
	}
	if out, err := in.cli(t, nil, "deliveries", "drop", held); err == nil {
		t.Fatalf("drop without --reason succeeded: %s", out)
	}
	if out, err := in.cli(t, nil, "deliveries", "drop", held, "--reason", "entered by hand in the CRM"); err != nil {
		t.Fatalf("drop: %v\n%s", err, out)
	}
	if ds := listDeliveries(t, in, ""); len(ds) != 0 {
		t.Fatalf("after the drop the queue holds %+v", ds)
	}
	if out, err := in.cli(t, nil, "audit", "--json"); err != nil || !strings.Contains(out, "entered by hand in the CRM") {
		t.Errorf("the audit log does not keep the drop's reason: %v\n%s", err, out)
	}

	mu.Lock()
	mode = "refuse"
	mu.Unlock()
	_, dead := postLead(t, in.proxy+"/leads/v1/leads", "dead@example.com", 2)
	deliveryWait(t, "the refused call to be a dead letter", 10*time.Second, func() bool { return len(listDeliveries(t, in, "?state=dead")) == 1 })
	deliveryWait(t, "the dead letter's notice", 10*time.Second, func() bool {
		out, _ := in.cli(t, nil, "alerts", "--all", "--json")
		return strings.Contains(out, "dead_letter") && strings.Contains(out, "dead@example.com")
	})
	if out, err := in.cli(t, nil, "health"); err != nil || !strings.Contains(out, "DELIVERY QUEUE") || !regexp.MustCompile(`(?m)^leads\s+0\s+0\s+0\s+1\s+-`).MatchString(out) {
		t.Errorf("health does not show the dead letter in the delivery queue: %v\n%s", err, out)
	}
	resp, err := http.Get(in.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`mtguard_delivery_dead_letters{route="leads"} 1`, `mtguard_delivery_dead_letters_total{route="leads"} 1`, `mtguard_delivery_queue_depth{route="leads"} 0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	mu.Lock()
	mode = "ok"
	mu.Unlock()
	if out, err := in.cli(t, nil, "deliveries", "retry", dead); err != nil {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	deliveryWait(t, "the retried call to be delivered", 10*time.Second, func() bool { return len(listDeliveries(t, in, "")) == 0 })
	out, err = in.cli(t, nil, "show", dead, "--json")
	if err != nil || !strings.Contains(out, "replayed_by") {
		t.Errorf("show %s does not list its attempts: %v\n%s", dead, err, out)
	}
}

// TestDeliveryInline: an inline route retries a 503 with Retry-After while the tool waits and
// hands it the vendor's success; a vendor down for longer than within gets the tool its 502,
// and redeliver: auto delivers the call in the background once the vendor is back.
func TestDeliveryInline(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	got := map[string]int{}
	vendor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		got[string(b)]++
		io.WriteString(w, `{"ok": true}`)
	})
	sv := newSwitchableVendor(t, vendor)
	sv.up(t)
	in := startMtguard(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
store: {path: ./mtguard.db}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
    timeout: 300ms
    delivery:
      mode: inline
      retry: {on: [unreachable, 429, 503], attempts: 3, within: 3s, backoff: 10ms..50ms}
      redeliver: auto
`, sv.url()), nil)

	status, id := postLead(t, in.proxy+"/crm/v1/leads", "inline@example.com", 1)
	if status != http.StatusOK {
		t.Fatalf("the tool got %d, want the vendor's 200 after one retry", status)
	}
	out, err := in.cli(t, nil, "log", "--record", "inline@example.com", "--json")
	if err != nil || strings.Count(out, `"replay_of"`) != 1 || !strings.Contains(out, `"status": 503`) && !strings.Contains(out, `"status":503`) {
		t.Errorf("the log should hold the 503 and its retry (%s): %v\n%s", id, err, out)
	}

	sv.down()
	status, _ = postLead(t, in.proxy+"/crm/v1/leads", "later@example.com", 2)
	if status != http.StatusBadGateway {
		t.Fatalf("with the vendor down the tool got %d, want 502", status)
	}
	deliveryWait(t, "the failed call to be picked up", 5*time.Second, func() bool { return len(listDeliveries(t, in, "?route=crm")) == 1 })
	sv.up(t)
	deliveryWait(t, "the background redelivery", 20*time.Second, func() bool { return len(listDeliveries(t, in, "")) == 0 })
	mu.Lock()
	defer mu.Unlock()
	if n := got[`{"email": "later@example.com", "seq": 2}`]; n != 1 {
		t.Errorf("the vendor got the picked-up call %d times, want once (got %v)", n, got)
	}
}

// TestQuotaPauseProbe: a Salesforce REQUEST_LIMIT_EXCEEDED (a rolling 24-hour quota) pauses
// the route; the pause survives a restart; once the fake vendor's budget returns, one probe
// call finds it within one probe interval and the queued calls are delivered.
func TestQuotaPauseProbe(t *testing.T) {
	var mu sync.Mutex
	budget := false
	got := map[string]int{}
	tried := 0
	vendor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var lead struct{ Email string }
		json.NewDecoder(r.Body).Decode(&lead)
		mu.Lock()
		defer mu.Unlock()
		tried++
		w.Header().Set("Content-Type", "application/json")
		if !budget {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]`)
			return
		}
		got[lead.Email]++
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id": "00Q000000000001", "success": true, "errors": []}`)
	})
	srv := httptest.NewServer(vendor)
	defer srv.Close()
	dir := t.TempDir()
	const probe = time.Second
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
store: {path: %s}
routes:
  - name: sf
    prefix: /sf
    preset: salesforce
    upstream: %s
    limits: {probe_every: %s}
    delivery:
      mode: queue
      accept: {status: 202}
      retry: {backoff: 20ms..100ms, attempts: 1000, jitter: false}
`, filepath.Join(dir, "mtguard.db"), srv.URL, probe)
	in := startMtguard(t, cfg, nil)
	post := func(in *instance, email string) {
		resp, err := http.Post(in.proxy+"/sf/services/data/v62.0/sobjects/Lead", "application/json", strings.NewReader(fmt.Sprintf(`{"Email": %q}`, email)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d", resp.StatusCode)
		}
	}
	for i := range 3 {
		post(in, fmt.Sprintf("quota%d@example.com", i))
	}
	paused := func(in *instance) bool {
		out, err := in.cli(t, nil, "limits", "--json")
		return err == nil && strings.Contains(out, "rolling quota is spent")
	}
	deliveryWait(t, "the quota error to pause the route", 10*time.Second, func() bool { return paused(in) })
	in.stop()

	in = startMtguard(t, cfg, nil)
	if !paused(in) {
		out, _ := in.cli(t, nil, "limits")
		t.Fatalf("the pause was lost on restart:\n%s", out)
	}
	mu.Lock()
	budget = true
	back := time.Now()
	mu.Unlock()
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := in.cli(t, nil, "deliveries")
			lim, _ := in.cli(t, nil, "limits")
			t.Logf("deliveries:\n%s\nlimits:\n%s", out, lim)
		}
	})
	deliveryWait(t, "the probe to find the budget and the queue to be delivered", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 3
	})
	// One probe interval, plus what the probe and the three calls take on a busy test machine.
	if took := time.Since(back); took > probe+2*time.Second {
		t.Errorf("delivery resumed %s after the budget returned; the probe interval is %s", took.Round(time.Millisecond), probe)
	}
	mu.Lock()
	defer mu.Unlock()
	for email, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", email, n)
		}
	}
	t.Logf("the vendor was tried %d times while the quota was spent and after", tried)
}

// TestEditThenReplay: a call the vendor refused for a typo is resent with the typo corrected
// (replay --set); the corrected call is delivered; show displays the original, the change and
// who made it; --edit FILE sends a whole corrected body.
func TestEditThenReplay(t *testing.T) {
	var mu sync.Mutex
	var got []string
	vendor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "exmaple") {
			http.Error(w, `{"error": "invalid email domain"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		io.WriteString(w, `{"ok": true}`)
	})
	srv := httptest.NewServer(vendor)
	defer srv.Close()
	in := startMtguard(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
store: {path: ./mtguard.db}
redact: {fields: [password]}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
`, srv.URL), nil)
	resp, err := http.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(`{"email": "jane@exmaple.com", "name": "Jane"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Mtguard-Id")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want the vendor's 400", resp.StatusCode)
	}
	out, err := in.cli(t, nil, "replay", id, "--set", "email=jane@example.com", "--json")
	if err != nil {
		t.Fatalf("replay --set: %v\n%s", err, out)
	}
	var res inspect.ReplayOneResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Item.Outcome != "delivered" {
		t.Fatalf("replay --set: %v %+v\n%s", err, res.Item, out)
	}
	show, err := in.cli(t, nil, "show", res.Item.Replay)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replay.edited", `email: "jane@exmaple.com" -> "jane@example.com"`, id} {
		if !strings.Contains(show, want) {
			t.Errorf("show %s lacks %q:\n%s", res.Item.Replay, want, show)
		}
	}
	orig, _ := in.cli(t, nil, "show", id, "--json")
	if !strings.Contains(orig, "jane@exmaple.com") || !strings.Contains(orig, res.Item.Replay) {
		t.Errorf("the original no longer shows its body or its corrected replay:\n%s", orig)
	}

	// --edit FILE; a secret field's value is withheld from the change list.
	resp, err = http.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(`{"email": "bob@exmaple.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id2 := resp.Header.Get("X-Mtguard-Id")
	file := filepath.Join(t.TempDir(), "fixed.json")
	os.WriteFile(file, []byte(`{"email": "bob@example.com", "password": "hunter2"}`), 0o600)
	if out, err := in.cli(t, nil, "replay", id2, "--edit", file); err != nil {
		t.Fatalf("replay --edit: %v\n%s", err, out)
	}
	all, _ := in.cli(t, nil, "log", "--record", "bob@example.com", "--json")
	if strings.Contains(all, "hunter2") {
		t.Errorf("a secret of the edited body reached the log:\n%s", all)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || !strings.Contains(got[1], "hunter2") {
		t.Errorf("the vendor got %v, want both corrected bodies (the second with its password)", got)
	}
}
