package main

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	cases := []struct {
		name, src string
		want      map[string]string
		err       string
	}{
		{"plain", "A=1\nB_2=two words\n", map[string]string{"A": "1", "B_2": "two words"}, ""},
		{"comments, blanks, export", "# a comment\n\nexport TOKEN=abc\n", map[string]string{"TOKEN": "abc"}, ""},
		{"quotes", "A=\"x y\"\nB='z'\nC=\"unclosed\n", map[string]string{"A": "x y", "B": "z", "C": "\"unclosed"}, ""},
		{"equals in the value", "URL=https://h/x?a=b\n", map[string]string{"URL": "https://h/x?a=b"}, ""},
		{"no equals", "A=1\nsecret-value-here\n", nil, "env.list:2: expected NAME=value"},
		{"bad name", "9A=1\n", nil, "env.list:1:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEnvFile("env.list", []byte(tc.src))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "secret-value-here") {
					t.Fatalf("the error shows the line: %v", err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
}

// TestReloadRotatesSecretsFromEnvFile: a route credential and a sink URL read from serve
// --env-file; the file is changed and mtguard reloaded: the next call carries the new
// credential, the report names the rotated variables without their values, and a file with a
// mistake changes nothing.
func TestReloadRotatesSecretsFromEnvFile(t *testing.T) {
	var mu sync.Mutex
	var auths []string
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer vendor.Close()
	dir := t.TempDir()
	envPath := filepath.Join(dir, "mtguard.env")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(envPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ADMIN_TOKEN=adm-1\nCRM_TOKEN=Bearer old-secret-1\n")
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  token_env: ADMIN_TOKEN
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
    auth: {header: Authorization, value_env: CRM_TOKEN}
`, vendor.URL)
	in := startMtguardArgs(t, cfg, nil, "--env-file", envPath)
	admin := map[string]string{"MTGUARD_ADMIN_TOKEN": "adm-1"}
	req, _ := http.NewRequest(http.MethodPost, in.proxy+"/crm/leads", strings.NewReader(`{"email":"jane@acme.com"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer the-tools-own")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Mtguard-Id")
	// A replay goes with the credential mtguard holds (auth:), read from the env file.
	replay := func() {
		t.Helper()
		if out, err := in.cli(t, admin, "replay", id, "--force"); err != nil {
			t.Fatalf("replay: %v\n%s", err, out)
		}
	}
	replay()
	write("ADMIN_TOKEN=adm-1\n# rotated\nCRM_TOKEN=Bearer new-secret-2\n")
	out, err := in.cli(t, admin, "reload")
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	if !strings.Contains(out, "CRM_TOKEN") || strings.Contains(out, "-secret-") {
		t.Fatalf("the reload report should name CRM_TOKEN and show no value:\n%s", out)
	}
	replay()
	write("ADMIN_TOKEN=adm-1\nCRM_TOKEN=Bearer third\nthis line is wrong\n")
	out, err = in.cli(t, admin, "reload")
	if err == nil || !strings.Contains(out+err.Error(), "mtguard.env:3") {
		t.Fatalf("a reload with a broken env file: err %v\n%s", err, out)
	}
	replay()
	mu.Lock()
	defer mu.Unlock()
	want := []string{"Bearer the-tools-own", "Bearer old-secret-1", "Bearer new-secret-2", "Bearer new-secret-2"}
	if strings.Join(auths, "|") != strings.Join(want, "|") {
		t.Fatalf("the vendor got credentials %q, want %q", auths, want)
	}
	if strings.Contains(in.stdout.String()+in.stderr.String(), "secret-") {
		t.Fatal("a secret from the env file reached mtguard's output")
	}
}
