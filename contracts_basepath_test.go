package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// TestContractsMatchTheVendorRelativePath: an upstream URL with a path of its own
// (http://host/hubspot) must not hide the route's calls from its pins. Builtin pins are
// written for the vendor's paths (/crm/v3/...), and so are the version rules, which already
// matched; the contracts saw /hubspot/crm/v3/... and never applied (issue 18, item 6).
func TestContractsMatchTheVendorRelativePath(t *testing.T) {
	vendor := newContractVendor(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "mtguard.yaml")
	yaml := fmt.Sprintf(`
routes:
  - name: hubspot
    prefix: /hs
    upstream: %s/hubspot
    preset: hubspot
    contracts:
      mode: enforce
      require_pin: true
      builtin: [hubspot]
`, vendor.URL)
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := proxyRoutes(cfg.Routes, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Store.Path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pl, err := proxy.NewPipeline(proxy.PipelineConfig{Recorder: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy.NewProxy(routes, pl, zerolog.Nop()))
	t.Cleanup(srv.Close)

	call := func(p, body string) (int, txn.Transaction) {
		t.Helper()
		resp, err := http.Post(srv.URL+p, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err := st.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		tx, err := st.Get(context.Background(), resp.Header.Get(proxy.HeaderID))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, tx
	}

	// A pinned call that meets its contract: forwarded under the upstream's path, with the
	// version rule's finding (v3 is legacy) and no contract one.
	status, tx := call("/hs/crm/v3/objects/contacts", `{"properties":{"email":"jane@acme.com"}}`)
	var codes []string
	for _, f := range tx.Findings {
		codes = append(codes, f.Code)
	}
	if status != http.StatusCreated || slices.ContainsFunc(codes, func(c string) bool { return strings.HasPrefix(c, "contract.") || strings.HasPrefix(c, "schema.") }) {
		t.Errorf("valid create: status %d, findings %+v; want 201 and no contract finding (contract.unpinned: the pins saw the upstream's path)", status, tx.Findings)
	}
	if !slices.ContainsFunc(codes, func(c string) bool { return strings.HasPrefix(c, "endpoint.") }) {
		t.Errorf("valid create: findings %+v; want the legacy-crm version rule's", tx.Findings)
	}
	vendor.mu.Lock()
	got := vendor.hits[len(vendor.hits)-1]
	vendor.mu.Unlock()
	if !strings.HasPrefix(got, "POST /hubspot/crm/v3/objects/contacts ") {
		t.Errorf("the vendor got %q, want the upstream's path in front", got)
	}

	// A pinned call that breaks the builtin contract is refused in enforce mode.
	before := vendor.count()
	status, tx = call("/hs/crm/v3/objects/contacts/batch/upsert", `{"inputs":[{"properties":{}}]}`)
	if status != http.StatusUnprocessableEntity || tx.Outcome != txn.OutcomeRejected || vendor.count() != before {
		t.Errorf("invalid upsert: status %d, outcome %q, forwarded %v; want 422, rejected, not forwarded (findings %+v)",
			status, tx.Outcome, vendor.count() != before, tx.Findings)
	}
}
