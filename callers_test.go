package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/config"
)

// TestCheckConfigCallersRequired: a route that holds a credential on a listener reachable
// from other hosts is refused by check-config and serve until it names its callers; then an
// empty caller variable is reported like any other secret, and a set one passes.
func TestCheckConfigCallersRequired(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mtguard.yaml")
	base := []string{
		"listen: 0.0.0.0:0",
		"admin: {listen: 127.0.0.1:0, token_env: ADMIN_TOKEN}",
		"store: {path: " + filepath.Join(dir, "mtguard.db") + "}",
		"routes:",
		"  - name: crm",
		"    prefix: /crm",
		"    upstream: http://127.0.0.1:9000",
		"    auth: {header: Authorization, value_env: CRM_TOKEN}",
	}
	write := func(lines ...string) {
		t.Helper()
		if err := os.WriteFile(path, yamlLines(lines...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"ADMIN_TOKEN": "a", "CRM_TOKEN": "Bearer c"}
	getenv := func(k string) string { return env[k] }
	checkConfig := func() (string, error) {
		var out strings.Builder
		err := run(context.Background(), []string{"mtguard", "check-config", path}, &out, &out, getenv)
		return out.String(), err
	}

	write(base...)
	const want = `mtguard.yaml:8: routes[0].auth: route "crm" holds a vendor credential and is reachable from other hosts (listen 0.0.0.0:0), so it must name its callers`
	if out, err := checkConfig(); err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), want) {
		t.Fatalf("check-config: %v (exit %d), want %q\n%s", err, exitCode(err), want, out)
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"mtguard", "serve", "--config", path}, &out, &out, getenv); err == nil || !strings.Contains(err.Error(), "must name its callers") {
		t.Fatalf("serve: %v, want the same refusal", err)
	}

	write(append(base, "    callers: [{name: site, key: {header: X-Mtguard-Key, value_env: SITE_KEY}}]")...)
	if out, err := checkConfig(); err == nil || !strings.Contains(err.Error(), "route crm: caller site: key.value_env names SITE_KEY, but that environment variable is empty") {
		t.Fatalf("check-config without SITE_KEY: %v\n%s", err, out)
	}
	env["SITE_KEY"] = "k3y-of-the-site"
	if out, err := checkConfig(); err != nil || !strings.Contains(out, ": ok (") {
		t.Fatalf("check-config with callers: %v\n%s", err, out)
	}
}

// TestCallerSecretsReadOnce: every caller variable is read once, however many callers name
// it, and the proxy's callers get the values.
func TestCallerSecretsReadOnce(t *testing.T) {
	cfg, err := config.Parse("mtguard.yaml", yamlLines(
		"routes:",
		"  - name: forms",
		"    prefix: /forms",
		"    upstream: http://127.0.0.1:9000",
		"    callers:",
		`      - {name: typeform, signature: {header: Typeform-Signature, secret_env: TYPEFORM_SECRET, scheme: "sha256={base64 hmac}"}}`,
		"      - {name: site, key: {header: X-Mtguard-Key, value_env: SITE_KEY}}",
		"  - name: crm",
		"    prefix: /crm",
		"    upstream: http://127.0.0.1:9001",
		"    callers: [{name: site, key: {header: X-Mtguard-Key, value_env: SITE_KEY}}, {name: office, cidrs: [10.0.0.0/8]}]",
	))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TYPEFORM_SECRET": "tf-secret", "SITE_KEY": "site-key"}
	reads := map[string]int{}
	sec, err := readSecrets(cfg, func(k string) string { reads[k]++; return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range reads {
		if n != 1 {
			t.Errorf("%s read %d times", k, n)
		}
	}
	forms, crm := sec.routes[0].Callers, sec.routes[1].Callers
	if len(forms) != 2 || forms[0].Signature.Secret != "tf-secret" || forms[0].Signature.Scheme.Prefix != "sha256=" || forms[1].Key.Value != "site-key" {
		t.Errorf("forms callers %+v", forms)
	}
	if len(crm) != 2 || crm[0].Key.Value != "site-key" || crm[1].Name != "office" || len(crm[1].CIDRs) != 1 {
		t.Errorf("crm callers %+v", crm)
	}
}
