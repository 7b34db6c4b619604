package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/examples/fakecrm"
)

// thinLogConfig is an admin API over https with a token, so that the thin binary's reading of
// all three variables (MTGUARD_ADMIN, MTGUARD_ADMIN_TOKEN, MTGUARD_ADMIN_CA) is compared.
const thinLogConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  token_env: MTGUARD_ADMIN_TOKEN
  tls: {cert: %s, key: %s}
store:
  path: ./mtguard.db
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
`

// TestMtguardLogBinary runs the thin binary (cmd/mtguard-log, built here) and mtguard log on
// the same queries against one real server, and wants the same stdout, stderr and exit status
// from both: answers, an empty one, a truncated page, usage errors, help, and each way of not
// reaching the API (no token, an untrusted certificate, nothing listening).
func TestMtguardLogBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH: the test builds cmd/mtguard-log with go build")
	}
	bin := filepath.Join(t.TempDir(), "mtguard-log")
	if out, err := exec.Command(goTool, "build", "-o", bin, "./cmd/mtguard-log").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/mtguard-log: %v\n%s", err, out)
	}

	vendor := httptest.NewServer(fakecrm.New(fakecrm.Options{}))
	defer vendor.Close()
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	crt, key := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	ca.issue(t, "mtguard admin", crt, key)
	const token = "thin-s3cret"
	in := startMtguard(t, fmt.Sprintf(thinLogConfig, crt, key, vendor.URL), map[string]string{"MTGUARD_ADMIN_TOKEN": token})
	var ids []string
	for _, body := range []string{`{"email":"jane@acme.com"}`, `{"email":"bob@acme.com"}`, `{"email":"jane@acme.com"}`, `{"email":"not-an-email"}`} {
		resp, err := http.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ids = append(ids, resp.Header.Get("X-Mtguard-Id"))
	}

	env := map[string]string{"MTGUARD_ADMIN": in.admin, "MTGUARD_ADMIN_TOKEN": token, "MTGUARD_ADMIN_CA": ca.file}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range env {
			m[k] = v
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // in mtguard log's output, so that agreeing on nothing does not pass
		code int
	}{
		{"a record's calls", env, []string{"--record", "JANE@acme.com"}, ids[2], 0},
		{"as JSON", env, []string{"--record", "jane@acme.com", "--json"}, `"id": "` + ids[0], 0},
		{"filters", env, []string{"--outcome", "failed", "--route", "crm", "--status", "4xx"}, ids[3], 0},
		{"a page cut by --limit", env, []string{"--limit", "1"}, "(showing the newest 1;", 0},
		{"nothing matches", env, []string{"--record", "nobody@acme.com"}, "no transactions match", 0},
		{"--admin over MTGUARD_ADMIN", with("MTGUARD_ADMIN", "127.0.0.1:1"), []string{"--admin", in.admin, "--record", "bob@acme.com"}, ids[1], 0},
		{"a bad outcome", env, []string{"--outcome", "bogus"}, "is not an outcome", 2},
		{"an argument", env, []string{"jane@acme.com"}, "log takes no arguments", 2},
		{"help", env, []string{"-h"}, "Usage of mtguard log", 2},
		{"no token", with("MTGUARD_ADMIN_TOKEN", ""), nil, "401", 1},
		{"no CA", with("MTGUARD_ADMIN_CA", ""), nil, "set MTGUARD_ADMIN_CA", 1},
		{"nothing listening", with("MTGUARD_ADMIN", "127.0.0.1:1"), nil, "cannot reach the mtguard admin API", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// mtguard log, through run and reported as main reports it.
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"mtguard", "log"}, tt.args...), &out, &errOut, func(k string) string { return tt.env[k] })
			code := 0
			if err != nil {
				if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, cli.ErrFailures) {
					fmt.Fprintln(&errOut, "mtguard:", err)
				}
				code = exitCode(err)
			}
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Fatalf("mtguard log %v: exit %d, want %d with %q in\n%s%s", tt.args, code, tt.code, tt.want, &out, &errOut)
			}

			cmd := exec.Command(bin, tt.args...)
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "MTGUARD_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			for k, v := range tt.env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var thinOut, thinErr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &thinOut, &thinErr
			thinCode := 0
			if err := cmd.Run(); err != nil {
				var exit *exec.ExitError
				if !errors.As(err, &exit) {
					t.Fatal(err)
				}
				thinCode = exit.ExitCode()
			}
			if thinCode != code {
				t.Errorf("mtguard-log exited %d, mtguard log %d", thinCode, code)
			}
			if thinOut.String() != out.String() {
				t.Errorf("stdout differs\nmtguard-log:\n%s\nmtguard log:\n%s", &thinOut, &out)
			}
			if thinErr.String() != errOut.String() {
				t.Errorf("stderr differs\nmtguard-log:\n%s\nmtguard log:\n%s", &thinErr, &errOut)
			}
		})
	}
}
