package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const canaryConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  token_env: ADMIN_TOKEN
store:
  path: %s
alerts:
  sinks:
    - {name: hook, type: webhook, url: %s}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    owner: ops@example.com
    record_keys: [email]
    auth: {header: X-Vendor-Credential, value_env: CRM_CREDENTIAL}
    alerts:
      auth: {consecutive: 1}
      error_rate: {above: 0%%, per: 10m, min_calls: 1}
`

// TestCanaryNowhereAUserLooks sends one unique secret through the real server in several
// guises (a bearer token, a key header whose name says "key", a query key, camelCase JSON
// fields, the credential the route holds) to a vendor that echoes all of it back and refuses
// the call, so that an alert fires. Then it looks everywhere a person or a tool could see it:
// the API as JSON, HAR and curl, the CLI's log, show, curl and HAR export, the server's log,
// the alert that went out, and the store's files. The secret is nowhere; the vendor got it.
func TestCanaryNowhereAUserLooks(t *testing.T) {
	b := make([]byte, 6)
	rand.Read(b)
	canary := "cnry" + hex.EncodeToString(b)
	secret := func(v string) string { return canary + "-" + v }

	var mu sync.Mutex
	var vendorSaw, alertsSent []string
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		echo, _ := json.Marshal(map[string]any{"headers": r.Header, "query": r.URL.RawQuery, "body": string(body),
			"next": "https://vendor.example/leads?token=" + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")})
		mu.Lock()
		vendorSaw = append(vendorSaw, string(echo))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "https://vendor.example/leads/1?token="+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		w.WriteHeader(http.StatusUnauthorized)
		w.Write(echo)
	}))
	defer vendor.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		alertsSent = append(alertsSent, string(b))
		mu.Unlock()
	}))
	defer hook.Close()

	dir := t.TempDir()
	env := map[string]string{"CRM_CREDENTIAL": "Bearer " + secret("route"), "ADMIN_TOKEN": "admin-token-for-the-test"}
	cliEnv := map[string]string{"MTGUARD_ADMIN_TOKEN": env["ADMIN_TOKEN"]}
	in := startMtguard(t, fmt.Sprintf(canaryConfig, filepath.Join(dir, "mtguard.db"), hook.URL, vendor.URL), env)

	body := `{"email":"jane@acme.com","clientSecret":"` + secret("json-cs") + `","accessToken":"` + secret("json-at") + `"}`
	req, _ := http.NewRequest(http.MethodPost, in.proxy+"/crm/v1/leads?private_key="+secret("query")+"&source=web", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret("bearer"))
	req.Header.Set("X-License-Key", secret("license"))
	req.Header.Set("X-Partner", env["CRM_CREDENTIAL"]) // the route's own credential, under a name that says nothing
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Mtguard-Id")
	if resp.StatusCode != http.StatusUnauthorized || id == "" {
		t.Fatalf("the call answered %d with id %q", resp.StatusCode, id)
	}
	mu.Lock()
	saw := strings.Join(vendorSaw, "\n")
	mu.Unlock()
	for _, v := range []string{"bearer", "license", "query", "json-cs", "route"} {
		if !strings.Contains(saw, secret(v)) {
			t.Fatalf("the vendor did not get %s; the test tests nothing:\n%s", v, saw)
		}
	}

	// Wait for the auth alert to go out.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(alertsSent)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert went out; the test cannot look at alert payloads")
		}
		time.Sleep(10 * time.Millisecond)
	}

	seen := map[string]string{}
	get := func(name, path string) {
		req, _ := http.NewRequest(http.MethodGet, in.admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+env["ADMIN_TOKEN"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		seen[name] = string(b)
	}
	get("API list", "/api/transactions?record=jane@acme.com")
	get("API one", "/api/transactions/"+id)
	get("API HAR", "/api/transactions/"+id+"?format=har")
	get("API curl", "/api/transactions/"+id+"?format=curl")
	get("API alerts", "/api/alerts?state=all")
	for name, args := range map[string][]string{
		"CLI log":    {"log", "--record", "jane@acme.com"},
		"CLI show":   {"show", id},
		"CLI curl":   {"show", id, "--curl"},
		"CLI export": {"export", "--har", "--record", "jane@acme.com"},
		"CLI alerts": {"alerts", "--all"},
	} {
		out, err := in.cli(t, cliEnv, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		seen[name] = out
	}
	if !strings.Contains(seen["CLI curl"], `"${AUTHORIZATION}"`) {
		t.Errorf("the curl line lost its placeholder:\n%s", seen["CLI curl"])
	}
	in.stop()
	mu.Lock()
	seen["alert payloads"] = strings.Join(alertsSent, "\n")
	mu.Unlock()
	seen["server log"] = in.stderr.String() + in.stdout.String()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				seen["file "+filepath.Base(p)] = string(b)
			}
		}
		return nil
	})
	for where, text := range seen {
		if i := strings.Index(text, canary); i >= 0 {
			t.Errorf("the secret is in %s: ...%q...", where, text[max(0, i-100):min(len(text), i+60)])
		}
	}
}
