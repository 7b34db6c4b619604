package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/examples/fakecrm"
)

// lockedBuffer is an io.Writer that tests can read while run writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// instance is mtguard started through run, as the binary would be.
type instance struct {
	proxy, admin string
	storePath    string
	stdout       *lockedBuffer
	stderr       *lockedBuffer
	stop         func()
}

var servingLine = regexp.MustCompile(`serving: proxy (https?://\S+)  admin (https?://\S+)`)

// startMtguard writes cfg (with ports :0) to a file and runs "mtguard serve" on it until the
// test ends.
func startMtguard(t *testing.T, cfg string, env map[string]string) *instance {
	t.Helper()
	return startMtguardArgs(t, cfg, env)
}

// startMtguardArgs is startMtguard with more serve flags (extra).
func startMtguardArgs(t *testing.T, cfg string, env map[string]string, extra ...string) *instance {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "mtguard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, storePath: filepath.Join(dir, "mtguard.db")}
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, append([]string{"mtguard", "serve", "--config", path}, extra...), in.stdout, in.stderr, getenv)
	}()
	var stopOnce sync.Once
	in.stop = func() {
		stopOnce.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve returned %v", err)
			}
		})
	}
	t.Cleanup(in.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := servingLine.FindStringSubmatch(in.stdout.String()); m != nil {
			in.proxy, in.admin = m[1], m[2]
			return in
		}
		select {
		case err := <-done:
			done <- nil // for the cleanup's stop, which waits for serve to return
			t.Fatalf("serve exited early: %v\nstderr: %s", err, in.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start; stdout %q stderr %q", in.stdout.String(), in.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cli runs one mtguard command against in's admin API and returns its output.
func (in *instance) cli(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := run(context.Background(), append([]string{"mtguard"}, append(args, "--admin", in.admin)...), &out, &errOut, getenv)
	return out.String() + errOut.String(), err
}

const e2eConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  path: ./mtguard.db
  max_body: 64KiB
  capture_body: 16KiB
redact:
  fields: [ssn]
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    owner: ops@example.com
    record_keys: [email, "inputs[].email"]
    timeout: 300ms
  - name: legacy
    prefix: /legacy
    upstream: http://127.0.0.1:9
`

// TestEndToEnd runs the binary's run function against the fake CRM and checks, for each kind
// of call, the answer, the stored transaction and what the CLI shows.
func TestEndToEnd(t *testing.T) {
	crm := fakecrm.New(fakecrm.Options{})
	vendor := httptest.NewServer(crm)
	defer vendor.Close()
	in := startMtguard(t, fmt.Sprintf(e2eConfig, vendor.URL), nil)

	tests := []struct {
		name        string
		method      string
		path        string
		ctype       string
		body        string
		wantStatus  int
		wantOutcome string
		wantRecord  string
	}{
		{"delivered", "POST", "/crm/v1/leads", "application/json", `{"email":"Jane@Acme.com","first_name":"Jane"}`, 201, "delivered", "jane@acme.com"},
		{"delivered form", "POST", "/crm/v1/leads", "application/x-www-form-urlencoded", "email=bob%40acme.com&first_name=Bob", 201, "delivered", "bob@acme.com"},
		{"vendor 4xx", "POST", "/crm/v1/leads", "application/json", `{"email":"not-an-email"}`, 400, "failed", "not-an-email"},
		{"vendor 4xx conflict", "POST", "/crm/v1/leads", "application/json", `{"email":"jane@acme.com"}`, 409, "failed", "jane@acme.com"},
		{"vendor 404", "DELETE", "/crm/v1/leads", "", "", 404, "failed", ""},
		{"timeout", "GET", "/crm/v1/slow?ms=2000", "", "", 504, "timeout", ""},
		{"unreachable", "POST", "/legacy/v1/leads", "application/json", `{"email":"old@acme.com"}`, 502, "unreachable", ""},
		{"oversize body", "POST", "/crm/v1/leads", "application/json", `{"email":"huge@acme.com","notes":"` + strings.Repeat("n", 70<<10) + `"}`, 413, "rejected", "huge@acme.com"},
		{"unknown route", "POST", "/hubspot/crm/v3/objects/contacts", "application/json", `{"email":"lost@acme.com"}`, 404, "rejected", ""},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, in.proxy+tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			id := resp.Header.Get("X-Mtguard-Id")
			ids[tt.name] = id
			out, err := in.cli(t, nil, "show", id, "--json")
			if err != nil {
				t.Fatalf("show: %v\n%s", err, out)
			}
			var tx struct {
				ID         string   `json:"id"`
				Outcome    string   `json:"outcome"`
				Status     int      `json:"status"`
				RecordKeys []string `json:"record_keys"`
				Findings   []struct {
					Code string `json:"code"`
				} `json:"findings"`
				DurationMS *float64 `json:"duration_ms"`
				RecordMS   float64  `json:"record_ms"`
				Request    struct {
					Body string `json:"body"`
				} `json:"request"`
				Response struct {
					Body string `json:"body"`
				} `json:"response"`
			}
			if err := json.Unmarshal([]byte(out), &tx); err != nil {
				t.Fatalf("show --json: %v\n%s", err, out)
			}
			if tx.Outcome != tt.wantOutcome || tx.Status != tt.wantStatus || tx.ID != id {
				t.Errorf("stored %s outcome %q status %d, want %q %d", tx.ID, tx.Outcome, tx.Status, tt.wantOutcome, tt.wantStatus)
			}
			if tx.Findings == nil || tx.DurationMS == nil || tx.Response.Body == "" {
				t.Errorf("transaction JSON lacks findings, duration_ms or the response: %s", out)
			}
			// A forwarded call waited for its durable intent; one mtguard answered itself did not.
			if forwarded := tt.wantOutcome != "rejected"; forwarded != (tx.RecordMS > 0) {
				t.Errorf("record_ms %v for a %s call", tx.RecordMS, tt.wantOutcome)
			}
			wantFinding := map[string]string{"timeout": "upstream.timeout", "unreachable": "upstream.unreachable",
				"oversize body": "request.too_large", "unknown route": "route.unknown"}[tt.name]
			var codes []string
			for _, f := range tx.Findings {
				codes = append(codes, f.Code)
			}
			if strings.Join(codes, ",") != wantFinding {
				t.Errorf("findings %v, want [%s]", codes, wantFinding)
			}
			if tt.body != "" && tx.Request.Body == "" {
				t.Errorf("request body not recorded")
			}
			if tt.wantRecord != "" && !strings.Contains(strings.Join(tx.RecordKeys, ","), tt.wantRecord) {
				t.Errorf("record keys %v, want %s", tx.RecordKeys, tt.wantRecord)
			}
		})
	}

	t.Run("log by record key is the lead's timeline", func(t *testing.T) {
		out, err := in.cli(t, nil, "log", "--record", "JANE@acme.com")
		if err != nil {
			t.Fatalf("log: %v\n%s", err, out)
		}
		first, second := strings.Index(out, ids["delivered"]), strings.Index(out, ids["vendor 4xx conflict"])
		if first < 0 || second < 0 || first > second {
			t.Fatalf("log --record jane@acme.com should list the create, then the conflict, oldest first:\n%s", out)
		}
		if strings.Contains(out, ids["delivered form"]) {
			t.Fatalf("Bob's call is in Jane's timeline:\n%s", out)
		}
	})
	t.Run("log by record key finds a call refused as too large", func(t *testing.T) {
		out, err := in.cli(t, nil, "log", "--record", "huge@acme.com")
		if err != nil {
			t.Fatalf("log: %v\n%s", err, out)
		}
		if !strings.Contains(out, ids["oversize body"]) {
			t.Fatalf("log --record huge@acme.com does not list the call refused with 413:\n%s", out)
		}
	})
	t.Run("log filters by outcome and route", func(t *testing.T) {
		out, err := in.cli(t, nil, "log", "--outcome", "failed", "--route", "crm", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Transactions []struct{ Outcome, Route string } `json:"transactions"`
		}
		json.Unmarshal([]byte(out), &page)
		if len(page.Transactions) != 3 {
			t.Fatalf("got %d failed crm calls, want 3:\n%s", len(page.Transactions), out)
		}
	})
	t.Run("show prints the call for a person", func(t *testing.T) {
		out, err := in.cli(t, nil, "show", ids["vendor 4xx"])
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"not-an-email", "VALIDATION_ERROR", "failed", "400"} {
			if !strings.Contains(out, want) {
				t.Errorf("show output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		out, err := in.cli(t, nil, "show", "01M8HD6TQ96R257XX8J3X5BKXT")
		if err == nil || !strings.Contains(err.Error()+out, "404") {
			t.Fatalf("show of an unknown id: err %v out %s", err, out)
		}
	})
	if got := len(crm.Leads()); got != 2 {
		t.Errorf("the CRM holds %d leads, want 2 (Jane and Bob)", got)
	}
}

// TestSecretsStayOut sends canary secrets in a header, a query parameter and a configured secret
// field, and checks that none of them appears in the store file, the logs or the API output,
// while the vendor still receives them.
func TestSecretsStayOut(t *testing.T) {
	var mu sync.Mutex
	var got []string
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Get("Authorization")+" "+r.URL.RawQuery+" "+string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"1","access_token":"canary-resp-token-6d6d"}`)
	}))
	defer vendor.Close()
	in := startMtguard(t, fmt.Sprintf(e2eConfig, vendor.URL), map[string]string{"MTGUARD_ADMIN_TOKEN": "admin-canary-0000"})

	canaries := []string{"canary-bearer-1a1a", "canary-hapikey-2b2b", "canary-ssn-3c3c", "canary-resp-token-6d6d", "canary-cookie-4d4d"}
	req, _ := http.NewRequest("POST", in.proxy+"/crm/v1/leads?hapikey=canary-hapikey-2b2b", strings.NewReader(`{"email":"jane@acme.com","ssn":"canary-ssn-3c3c"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer canary-bearer-1a1a")
	req.Header.Set("Cookie", "sid=canary-cookie-4d4d")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Mtguard-Id")
	mu.Lock()
	vendorSaw := strings.Join(got, "\n")
	mu.Unlock()
	for _, c := range canaries[:3] {
		if !strings.Contains(vendorSaw, c) {
			t.Fatalf("the vendor did not receive %s: mtguard must forward credentials untouched", c)
		}
	}

	var api strings.Builder
	for _, args := range [][]string{{"show", id, "--json"}, {"show", id}, {"log", "--json"}, {"log"}} {
		out, err := in.cli(t, nil, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		api.WriteString(out)
	}
	if !strings.Contains(api.String(), "jane@acme.com") {
		t.Fatal("API output does not show the call at all; the canary check would prove nothing")
	}
	in.stop()
	file, err := os.ReadFile(in.storePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range canaries {
		for where, text := range map[string]string{"store file": string(file), "log": in.stderr.String() + in.stdout.String(), "API output": api.String()} {
			if strings.Contains(text, c) {
				t.Errorf("secret %s found in the %s", c, where)
			}
		}
	}
}

func TestAdminTokenRequired(t *testing.T) {
	vendor := httptest.NewServer(fakecrm.New(fakecrm.Options{}))
	defer vendor.Close()
	// A config that asks for a token which is not set refuses to start.
	dir := t.TempDir()
	path := filepath.Join(dir, "m.yaml")
	cfg := strings.Replace(fmt.Sprintf(e2eConfig, vendor.URL), "  listen: 127.0.0.1:0\nstore", "  listen: 127.0.0.1:0\n  token_env: MTGUARD_ADMIN_TOKEN\nstore", 1)
	os.WriteFile(path, []byte(cfg), 0o600)
	err := run(context.Background(), []string{"mtguard", "serve", "--config", path}, io.Discard, io.Discard, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "MTGUARD_ADMIN_TOKEN") {
		t.Fatalf("serve with an empty token variable: err = %v, want a message naming MTGUARD_ADMIN_TOKEN", err)
	}
	// With the token set, the API refuses callers without it.
	in := startMtguard(t, cfg, map[string]string{"MTGUARD_ADMIN_TOKEN": "s3cret-admin"})
	if out, err := in.cli(t, nil, "log"); err == nil || !strings.Contains(out+err.Error(), "401") {
		t.Fatalf("log without the token: err %v out %s", err, out)
	}
	if out, err := in.cli(t, map[string]string{"MTGUARD_ADMIN_TOKEN": "s3cret-admin"}, "log"); err != nil {
		t.Fatalf("log with the token: %v\n%s", err, out)
	}
}

func TestCheckConfigAndUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:8080\nroutes:\n  - name: crm\n    prefix: /crm\n    upstreem: http://x\n"), 0o600)
	var out bytes.Buffer
	err := run(context.Background(), []string{"mtguard", "check-config", bad}, &out, &out, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:5: routes[0].upstreem") {
		t.Fatalf("check-config on a typo: %v", err)
	}
	if err := run(context.Background(), []string{"mtguard", "frobnicate"}, &out, &out, func(string) string { return "" }); exitCode(err) != 2 {
		t.Fatalf("unknown command: err %v exit %d, want exit 2", err, exitCode(err))
	}
	out.Reset()
	if err := run(context.Background(), []string{"mtguard", "version"}, &out, &out, func(string) string { return "" }); err != nil || !strings.HasPrefix(out.String(), "mtguard ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}

// TestDemoOnce runs README's first command the way a new user does.
func TestDemoOnce(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"mtguard", "demo", "--once"}, &out, io.Discard, func(string) string { return "" }); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"delivered", "failed", "unreachable", "rejected", "log --record jane@acme.com", "jane@acme.com"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	// The silent failures of the fake vendors, each caught (demo_vendors.go).
	_, caught, _ := strings.Cut(out.String(), "What the vendors' status codes did not say")
	for _, want := range []string{
		"marketo    200  partial   response.partial_failure       1 of 2 records failed: #1 raj@initech.com (1005 Lead already exists)",
		"marketo    200  failed    response.silent_failure        Marketo 1003",
		"marketo    200  failed    auth.invalid                   Marketo 601",
		"salesforce 410  rejected  endpoint.retired               rest-api: version 30.0 was retired",
		"salesforce 201  delivered endpoint.deprecated            rest-api: version 35.0 is deprecated",
		"hubspot    207  partial   response.partial_failure",
		"hubspot    404  failed    endpoint.retired",
		"segment    200  failed    response.silent_failure",
		"ga4        204  failed    response.silent_failure",
		"meta       200  partial   response.partial_failure       Meta received 1 of the 2 events sent",
		"klaviyo    202  delivered endpoint.retired",
		"intercom   202  delivered version.unpinned",
		"braze      201  partial   response.partial_failure",
		"iterable   200  partial   response.partial_failure",
		"mandrill   200  partial   response.partial_failure",
	} {
		if !strings.Contains(caught, want) {
			t.Errorf("demo's silent-failure summary lacks %q:\n%s", want, caught)
		}
	}
}

// TestTuneGC checks that mtguard's GC target applies only when the operator set none.
func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	for _, tc := range []struct {
		gogc string
		want int
	}{
		{"", defaultGCPercent},
		{"400", 100}, // GOGC set: left as the runtime read it (100, set above)
	} {
		debug.SetGCPercent(100)
		tuneGC(func(k string) string {
			if k == "GOGC" {
				return tc.gogc
			}
			return ""
		})
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: GC target %d, want %d", tc.gogc, got, tc.want)
		}
	}
}
