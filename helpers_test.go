package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
)

// yamlLines joins lines with newlines, so a case's line numbers are its argument positions.
func yamlLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

// pollAlerts runs mtguard alerts --json against in until done holds for its list or timeout
// passes, and returns the last list.
func pollAlerts(t *testing.T, in *instance, env map[string]string, timeout time.Duration, done func([]store.Alert) bool) []store.Alert {
	t.Helper()
	var list []store.Alert
	deadline := time.Now().Add(timeout)
	for {
		out, err := in.cli(t, env, "alerts", "--json")
		if err != nil {
			t.Fatalf("alerts --json: %v\n%s", err, out)
		}
		list = nil
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("alerts --json: %v\n%s", err, out)
		}
		if done(list) || time.Now().After(deadline) {
			return list
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hookRecorder is a webhook sink that keeps the alerts it is sent (serve it with httptest).
type hookRecorder struct {
	mu  sync.Mutex
	got []alerts.WebhookPayload
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p alerts.WebhookPayload
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &p)
	h.mu.Lock()
	h.got = append(h.got, p)
	h.mu.Unlock()
}

// firing returns the route and kind of each firing alert the hook received.
func (h *hookRecorder) firing() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, p := range h.got {
		a, _ := p.Alert.(map[string]any)
		if p.Event == alerts.EventFiring {
			out = append(out, fmt.Sprint(a["route"], " ", a["kind"]))
		}
	}
	return out
}

// payloads returns a copy of every notification received, in order.
func (h *hookRecorder) payloads() []alerts.WebhookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]alerts.WebhookPayload(nil), h.got...)
}

// events returns "route event" for every notification received, in order.
func (h *hookRecorder) events() []string {
	var out []string
	for _, p := range h.payloads() {
		a, _ := p.Alert.(map[string]any)
		out = append(out, fmt.Sprintf("%v %s", a["route"], p.Event))
	}
	return out
}
