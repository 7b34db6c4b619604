package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestConsoleLogForPeople (issue 18, item 16): "serve --log-format console" writing to a file
// or a pipe carries no ANSI colour codes, and a call that went well carries no empty error=
// field; /metrics exports only the documented outcomes (no "pending").
func TestConsoleLogForPeople(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer upstream.Close()

	dir := t.TempDir()
	path := filepath.Join(dir, "mtguard.yaml")
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  path: ./mtguard.db
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
`, upstream.URL)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"mtguard", "serve", "--config", path, "--log-format", "console"}, stdout, stderr, func(string) string { return "" })
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve returned %v", err)
			}
		})
	}
	defer stop()
	var proxyURL, adminURL string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if m := servingLine.FindStringSubmatch(stdout.String()); m != nil {
			proxyURL, adminURL = m[1], m[2]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start; stdout %q stderr %q", stdout.String(), stderr.String())
		}
	}

	resp, err := http.Post(proxyURL+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"jane@acme.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}

	// The call reaches the metrics once the store has committed it: wait for that.
	var metrics []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mresp, err := http.Get(adminURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ = io.ReadAll(mresp.Body)
		mresp.Body.Close()
		if strings.Contains(string(metrics), `mtguard_calls_total{outcome="delivered",route="crm"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks the delivered call:\n%s", metrics)
		}
	}
	if strings.Contains(string(metrics), `outcome="pending"`) {
		t.Errorf("/metrics exports the undocumented outcome pending")
	}

	stop()
	logs := stderr.String()
	if !strings.Contains(logs, "transaction") {
		t.Fatalf("no transaction line in the console log:\n%s", logs)
	}
	if strings.Contains(logs, "\x1b[") {
		t.Errorf("the console log written to a buffer carries ANSI escape codes:\n%q", logs)
	}
	plain := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(logs, "")
	for _, line := range strings.Split(plain, "\n") {
		if strings.Contains(line, "error= ") || strings.HasSuffix(line, "error=") {
			t.Errorf("a line carries an empty error field: %q", line)
		}
	}
}

// TestNewLoggerColoursOnlyTerminals: the console format colours a terminal only; JSON is
// untouched.
func TestNewLoggerColoursOnlyTerminals(t *testing.T) {
	var b bytes.Buffer
	l := newLogger(&b, "console", zerolog.InfoLevel)
	l.Warn().Str("route", "crm").Msg("hello")
	if s := b.String(); strings.Contains(s, "\x1b[") || !strings.Contains(s, "WRN") || !strings.Contains(s, "route=crm") {
		t.Errorf("console log to a buffer: %q", s)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l = newLogger(f, "console", zerolog.InfoLevel)
	l.Info().Msg("to a file")
	got, _ := os.ReadFile(f.Name())
	if strings.Contains(string(got), "\x1b[") {
		t.Errorf("console log to a file: %q", got)
	}
	b.Reset()
	l = newLogger(&b, "json", zerolog.InfoLevel)
	l.Info().Msg("json")
	if !strings.HasPrefix(b.String(), `{"level":"info"`) {
		t.Errorf("json log: %q", b.String())
	}
}
