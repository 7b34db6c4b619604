package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
)

// TestCheckConfigReportsWhatServeRefuses: check-config fails (exit 1) when serve would refuse
// to start, and names every reason with what to do, not only the first; serve refuses the same
// config for the same reasons.
func TestCheckConfigReportsWhatServeRefuses(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-folder")
	path := filepath.Join(dir, "mtguard.yaml")
	if err := os.WriteFile(path, yamlLines(
		"listen: 127.0.0.1:0",
		"admin: {listen: 127.0.0.1:0, token_env: ADMIN_TOKEN}",
		"store: {path: "+filepath.Join(missing, "mtguard.db")+"}",
		"forward: {listen: 127.0.0.1:0}",
		"alerts:",
		"  sinks:",
		"    - {name: ops-slack, type: slack, url_env: SLACK_URL}",
		"    - {name: pager, type: pagerduty, routing_key_env: PD_KEY}",
		"    - {name: hook, type: webhook, url: https://hooks.example.com/x, secret_env: HOOK_SECRET}",
		"routes:",
		"  - name: crm",
		"    prefix: /crm",
		"    upstream: http://127.0.0.1:9000",
		"    auth: {header: Authorization, value_env: CRM_TOKEN}",
		"  - name: erp",
		"    prefix: /erp",
		"    host: erp.example.com",
		"    upstream: http://127.0.0.1:9001",
		"    auth: {header: Authorization, value_env: ERP_TOKEN}",
	), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := func(string) string { return "" }
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"mtguard", "check-config", path}, &out, &errOut, empty)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("check-config: err %v (exit %d), want exit 1; it printed:\n%s%s", err, exitCode(err), out.String(), errOut.String())
	}
	if strings.Contains(out.String(), ": ok (") {
		t.Errorf("check-config says ok:\n%s", out.String())
	}
	want := []string{
		"store.path: the folder " + missing + " does not exist; create it (mkdir -p " + missing + ")",
		"admin.token_env names ADMIN_TOKEN, but that environment variable is empty; set it",
		"route crm: auth.value_env names CRM_TOKEN, but that environment variable is empty; set it",
		"route erp: auth.value_env names ERP_TOKEN, but that environment variable is empty; set it",
		"alerts.sinks ops-slack: url_env names SLACK_URL, but that environment variable is empty; set it",
		"alerts.sinks pager: routing_key_env names PD_KEY, but that environment variable is empty; set it",
		"alerts.sinks hook: secret_env names HOOK_SECRET, but that environment variable is empty; set it",
		"forward.ca: read CA certificate:",
		"create one with: mtguard ca init",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("check-config does not report %q; it said:\n%v", w, err)
		}
	}
	// serve refuses the same config for the same reasons, before opening anything.
	cfg, cerr := config.Load(path)
	if cerr != nil {
		t.Fatal(cerr)
	}
	s, serr := startServer(context.Background(), cfg, empty, zerolog.Nop())
	if serr == nil {
		s.shutdown()
		t.Fatal("serve started")
	}
	for _, w := range want {
		if !strings.Contains(serr.Error(), w) {
			t.Errorf("serve does not report %q; it said:\n%v", w, serr)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("serve created %s", missing)
	}
}

// TestCheckConfigStoreFolder: a store folder that is a file, or that mtguard cannot write to,
// is reported; a good config still says ok.
func TestCheckConfigStoreFolder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "read-only")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ store, want string }{
		{filepath.Join(dir, "mtguard.db"), ""},
		{filepath.Join(file, "mtguard.db"), "store.path: " + file + " is not a folder"},
		{filepath.Join(readOnly, "mtguard.db"), "store.path: mtguard cannot create files in " + readOnly},
	} {
		if tc.want != "" && strings.Contains(tc.want, "cannot create") && os.Geteuid() == 0 {
			continue // root writes anywhere
		}
		path := filepath.Join(dir, "mtguard.yaml")
		if err := os.WriteFile(path, yamlLines(
			"store: {path: "+tc.store+"}",
			"routes:",
			"  - {name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}",
		), 0o600); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		err := run(context.Background(), []string{"mtguard", "check-config", path}, &out, &out, func(string) string { return "" })
		switch {
		case tc.want == "" && (err != nil || !strings.Contains(out.String(), ": ok (")):
			t.Errorf("store %s: %v\n%s", tc.store, err, out.String())
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("store %s: %v, want %q", tc.store, err, tc.want)
		}
	}
}
