package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// receiver is a local HTTP endpoint that keeps every request it gets.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

type received struct {
	method, path string
	header       http.Header
	body         string
}

// newReceiver answers each request with the next status of statuses (then 200).
func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{r.Method, r.URL.Path, r.Header.Clone(), string(b)})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if n <= len(statuses) {
			if statuses[n-1] == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(statuses[n-1])
			io.WriteString(w, "no_service")
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success"}`)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// sampleAlert is the alert whose payloads the tests check byte for byte.
func sampleAlert() store.Alert {
	since := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	return store.Alert{
		ID:            "20261130T143100Z-marketo-silence",
		Route:         "marketo",
		Owner:         "ops@example.com",
		Kind:          KindSilence,
		Severity:      "critical",
		State:         store.AlertFiring,
		Summary:       "no delivery for 31m (expected at least 1 per 30m during Mon-Fri 08:00-20:00 America/New_York); no calls arrived at all",
		Since:         since,
		FiredAt:       since.Add(31 * time.Minute),
		LastSeen:      since.Add(31 * time.Minute),
		Calls:         0,
		Records:       0,
		Command:       "mtguard log --route marketo --since 2026-11-30T14:00:00Z",
		Sinks:         []string{"ops-slack"},
		Notifications: 1,
		LastNotified:  since.Add(31 * time.Minute),
	}
}

func firingNotice() Notification {
	a := sampleAlert()
	return Notification{Event: EventFiring, Time: a.FiredAt, Alert: a}
}

func resolvedNotice() Notification {
	a := sampleAlert()
	a.State = store.AlertResolved
	a.ResolvedAt = a.FiredAt.Add(14 * time.Minute)
	a.Resolution = "deliveries resumed: 1 in the last 30m"
	a.Calls, a.Records = 2, 3
	return Notification{Event: EventResolved, Time: a.ResolvedAt, Alert: a}
}

func TestSlackPayload(t *testing.T) {
	rc := newReceiver(t)
	secretPath := "/services/T000/B000/XXXXSECRET"
	sink := NewSlackSink("ops-slack", rc.URL+secretPath, nil)
	if err := sink.Send(context.Background(), firingNotice()); err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(context.Background(), resolvedNotice()); err != nil {
		t.Fatal(err)
	}
	got := rc.got()
	if len(got) != 2 || got[0].method != "POST" || got[0].path != secretPath || got[0].header.Get("Content-Type") != "application/json" {
		t.Fatalf("requests %+v", got)
	}
	wantFiring := `{"text":":rotating_light: *marketo: silence* (critical)\nno delivery for 31m (expected at least 1 per 30m during Mon-Fri 08:00-20:00 America/New_York); no calls arrived at all\n*Since:* 2026-11-30 14:00 UTC (31m ago)\n*Affected:* 0 calls, 0 records\n*Owner:* ops@example.com\n*Look:* ` + "`mtguard log --route marketo --since 2026-11-30T14:00:00Z`" + `\n*Acknowledge:* ` + "`mtguard alerts ack 20261130T143100Z-marketo-silence`" + `"}`
	if got[0].body != wantFiring {
		t.Errorf("firing payload\n got %s\nwant %s", got[0].body, wantFiring)
	}
	wantResolved := `{"text":":white_check_mark: Resolved: *marketo: silence* after 14m\ndeliveries resumed: 1 in the last 30m\n*Since:* 2026-11-30 14:00 UTC (45m ago)\n*Affected:* 2 calls, 3 records\n*Owner:* ops@example.com\n*Look:* ` + "`mtguard log --route marketo --since 2026-11-30T14:00:00Z`" + `"}`
	if got[1].body != wantResolved {
		t.Errorf("resolved payload\n got %s\nwant %s", got[1].body, wantResolved)
	}
}

func TestSlackEscapesCallText(t *testing.T) {
	n := firingNotice()
	n.Alert.Summary = "vendor said <b>no</b> & left"
	n.Alert.Owner = "<@U024BE7LH>"
	text := SlackText(n)
	if !strings.Contains(text, "vendor said &lt;b&gt;no&lt;/b&gt; &amp; left") || !strings.Contains(text, "*Owner:* <@U024BE7LH>") {
		t.Errorf("text %s", text)
	}
}

func TestPagerDutyPayload(t *testing.T) {
	rc := newReceiver(t)
	sink := NewPagerDutySink("pager", "R0UT1NGKEY", rc.URL+"/v2/enqueue", nil)
	ack := firingNotice()
	ack.Event = EventAcknowledged
	ack.Alert.AckedBy = "jane@example.com"
	reminder := firingNotice()
	reminder.Event = EventReminder
	for _, n := range []Notification{firingNotice(), reminder, ack, resolvedNotice()} {
		if err := sink.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	got := rc.got()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3 (no reminder: PagerDuty escalates itself)", len(got))
	}
	want := []string{
		`{"routing_key":"R0UT1NGKEY","event_action":"trigger","dedup_key":"20261130T143100Z-marketo-silence","client":"mtguard","payload":{"summary":"[marketo] silence: no delivery for 31m (expected at least 1 per 30m during Mon-Fri 08:00-20:00 America/New_York); no calls arrived at all","source":"mtguard route marketo","severity":"critical","timestamp":"2026-11-30T14:31:00Z","component":"marketo","class":"silence","custom_details":{"owner":"ops@example.com","since":"2026-11-30T14:00:00Z","affected_calls":0,"affected_records":0,"look":"mtguard log --route marketo --since 2026-11-30T14:00:00Z","acknowledge":"mtguard alerts ack 20261130T143100Z-marketo-silence"}}}`,
		`{"routing_key":"R0UT1NGKEY","event_action":"acknowledge","dedup_key":"20261130T143100Z-marketo-silence"}`,
		`{"routing_key":"R0UT1NGKEY","event_action":"resolve","dedup_key":"20261130T143100Z-marketo-silence"}`,
	}
	for i, w := range want {
		if got[i].path != "/v2/enqueue" || got[i].body != w {
			t.Errorf("event %d to %s\n got %s\nwant %s", i, got[i].path, got[i].body, w)
		}
	}
}

func TestWebhookPayloadAndSignature(t *testing.T) {
	rc := newReceiver(t)
	sent := time.Date(2026, 11, 30, 14, 31, 2, 0, time.UTC)
	sink := NewWebhookSink("hook", rc.URL+"/mtguard", "s3cret", nil, func() time.Time { return sent })
	if err := sink.Send(context.Background(), firingNotice()); err != nil {
		t.Fatal(err)
	}
	got := rc.got()[0]
	want := `{"version":1,"event":"firing","time":"2026-11-30T14:31:00Z","alert":{"id":"20261130T143100Z-marketo-silence","route":"marketo","owner":"ops@example.com","kind":"silence","severity":"critical","state":"firing","summary":"no delivery for 31m (expected at least 1 per 30m during Mon-Fri 08:00-20:00 America/New_York); no calls arrived at all","since":"2026-11-30T14:00:00Z","fired_at":"2026-11-30T14:31:00Z","last_seen":"2026-11-30T14:31:00Z","calls":0,"records":0,"command":"mtguard log --route marketo --since 2026-11-30T14:00:00Z","sinks":["ops-slack"],"notifications":1,"last_notified":"2026-11-30T14:31:00Z"}}`
	if got.body != want {
		t.Errorf("payload\n got %s\nwant %s", got.body, want)
	}
	if got.header.Get(HeaderEvent) != "firing" || got.header.Get(HeaderTimestamp) != "1796049062" {
		t.Errorf("headers %v", got.header)
	}
	// What a receiver does: HMAC-SHA256 over timestamp "." body with the shared secret.
	mac := hmacHex(t, "s3cret", "1796049062."+got.body)
	if sig := got.header.Get(HeaderSignature); !hmac.Equal([]byte(sig), []byte("sha256="+mac)) {
		t.Errorf("signature %q, want sha256=%s", sig, mac)
	}

	// Without a secret, nothing is signed.
	plain := NewWebhookSink("hook", rc.URL, "", nil, nil)
	if err := plain.Send(context.Background(), resolvedNotice()); err != nil {
		t.Fatal(err)
	}
	if h := rc.got()[1].header; h.Get(HeaderSignature) != "" || h.Get(HeaderTimestamp) != "" {
		t.Errorf("unsigned delivery has signature headers: %v", h)
	}
}

func TestSinkRetries(t *testing.T) {
	var lost atomic.Int64
	retry := RetryPolicy{Attempts: 4, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	deliver := func(rc *receiver) {
		w := newSinkWorker(NewWebhookSink("hook", rc.URL, "", nil, nil), retry, zerolog.Nop(), nil, &lost)
		var wg sync.WaitGroup
		wg.Add(1)
		go w.run(&wg)
		w.enqueue(firingNotice())
		w.close()
		wg.Wait()
	}
	t.Run("5xx and 429 are retried with backoff", func(t *testing.T) {
		rc := newReceiver(t, 503, 429, 500)
		start := time.Now()
		deliver(rc)
		if n := len(rc.got()); n != 4 {
			t.Fatalf("%d attempts, want 4 (3 failures, then success)", n)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("retries took %v: Retry-After must be capped by MaxBackoff", d)
		}
	})
	t.Run("4xx is not retried", func(t *testing.T) {
		rc := newReceiver(t, 404)
		deliver(rc)
		if n := len(rc.got()); n != 1 {
			t.Fatalf("%d attempts, want 1", n)
		}
	})
	t.Run("gives up after the attempts", func(t *testing.T) {
		rc := newReceiver(t, 500, 500, 500, 500, 500)
		deliver(rc)
		if n := len(rc.got()); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
	})
}

// TestSinkErrorsHideTheURL: Slack webhook URLs and PagerDuty keys are secrets; an error says
// what failed without them.
func TestSinkErrorsHideTheURL(t *testing.T) {
	rc := newReceiver(t, 403)
	secret := "/services/T000/B000/XXXXSECRET"
	err := NewSlackSink("ops-slack", rc.URL+secret, nil).Send(context.Background(), firingNotice())
	if err == nil || !errors.Is(err, ErrPermanent) || strings.Contains(err.Error(), "XXXXSECRET") {
		t.Fatalf("err %v", err)
	}
	if want := "endpoint answered 403 Forbidden: no_service"; err.Error() != want {
		t.Errorf("err %q, want %q", err, want)
	}
	err = NewSlackSink("ops-slack", "http://127.0.0.1:1"+secret, nil).Send(context.Background(), firingNotice())
	if err == nil || errors.Is(err, ErrPermanent) || strings.Contains(err.Error(), "XXXXSECRET") {
		t.Fatalf("unreachable: err %v", err)
	}
	err = NewSlackSink("ops-slack", "::not a url"+secret, nil).Send(context.Background(), firingNotice())
	if err == nil || strings.Contains(err.Error(), "XXXXSECRET") {
		t.Fatalf("bad URL: err %v", err)
	}
}

// TestEngineToSinksEndToEnd wires an engine to the three HTTP sinks on local receivers.
func TestEngineToSinksEndToEnd(t *testing.T) {
	slack, pd, hook := newReceiver(t), newReceiver(t), newReceiver(t)
	clock := &fakeClock{t: nyMonday9}
	var logs strings.Builder
	var logMu sync.Mutex
	e := startEngine(t, Config{
		Now:    clock.Now,
		Logger: zerolog.New(lockedWriter{&logMu, &logs}),
		Sinks: []Sink{
			NewSlackSink("ops-slack", slack.URL+"/services/SECRET", nil),
			NewPagerDutySink("pager", "ROUTINGKEY", pd.URL, nil),
			NewWebhookSink("hook", hook.URL, "s3cret", nil, clock.Now),
		},
		Routes: []RouteAlerts{
			{Route: "crm", Owner: "ops@example.com", Rules: Rules{Auth: &AuthRule{Consecutive: 1}}},
			{Route: "ga4", Owner: "web@example.com", Sinks: []string{"hook"}, Rules: Rules{Auth: &AuthRule{Consecutive: 1}}},
		},
	}, nil)
	observe(e, call("crm", clock.Now(), txn.OutcomeFailed, "auth.expired"), call("ga4", clock.Now(), txn.OutcomeFailed, "auth.expired"))
	if len(slack.got()) != 1 || len(pd.got()) != 1 || len(hook.got()) != 2 {
		t.Fatalf("slack %d, pagerduty %d, webhook %d requests; want 1, 1, 2", len(slack.got()), len(pd.got()), len(hook.got()))
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), "SECRET") || strings.Contains(logs.String(), "ROUTINGKEY") || strings.Contains(logs.String(), "s3cret") {
		t.Errorf("the log holds a sink secret:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"owner":"web@example.com"`) {
		t.Errorf("the log lacks the alert:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// hmacHex computes the expected signature independently of SignWebhook.
func hmacHex(t *testing.T, secret, msg string) string {
	t.Helper()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// A webhook receiver checks a delivery by recomputing X-Mtguard-Signature from the
// X-Mtguard-Timestamp header, the raw body and the shared secret, and comparing in constant
// time (hmac.Equal).
func ExampleSignWebhook() {
	body := []byte(`{"version":1,"event":"firing"}`)
	fmt.Println(SignWebhook([]byte("s3cret"), "1796049062", body))
	// Output: sha256=480c318aee8bede2f1c3905d9bc051953d4171d61daabcaabcbe877b521b1a73
}
