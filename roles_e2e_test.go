package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/inspect"
)

const rolesConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  tokens:
    - {name: dashboard, role: viewer, token_env: VIEWER_TOKEN}
    - {name: ops-laptop, role: operator, token_env: OPERATOR_TOKEN}
    - {name: ops-laptop-next, role: operator, token_env: OPERATOR_TOKEN_NEXT}
    - {name: dpo, role: admin, token_env: ADMIN_TOKEN}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
    auth: {header: Authorization, value_env: CRM_TOKEN}
`

// TestRolesAndAuditEndToEnd runs serve with named tokens of each role: a viewer reads but may
// not replay or erase, an operator replays (with either of its two tokens) but may not erase,
// an admin erases; the resent call names its operator; and the audit log, read back with
// mtguard audit and GET /api/audit, lists each action of the run with who, role, from where
// and outcome, and no record key.
func TestRolesAndAuditEndToEnd(t *testing.T) {
	v := &countingVendor{got: map[string]int{}}
	vendor := httptest.NewServer(v)
	defer vendor.Close()
	env := map[string]string{
		"VIEWER_TOKEN": "view-1", "OPERATOR_TOKEN": "op-1", "OPERATOR_TOKEN_NEXT": "op-2", "ADMIN_TOKEN": "adm-1",
		"CRM_TOKEN": "Bearer held-crm-token",
	}
	in := startMtguard(t, fmt.Sprintf(rolesConfig, vendor.URL), env)
	as := func(token string, args ...string) (string, error) {
		return in.cli(t, map[string]string{"MTGUARD_ADMIN_TOKEN": token}, args...)
	}
	resp, err := http.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"jane@acme.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Mtguard-Id")
	v.healed.Store(true)

	// The viewer reads, and is refused what changes anything, with the role it needs.
	if out, err := as("view-1", "log", "--record", "jane@acme.com"); err != nil || !strings.Contains(out, id) {
		t.Fatalf("viewer log: %v\n%s", err, out)
	}
	if out, err := as("view-1", "replay", id); err == nil || !strings.Contains(err.Error()+out, "403") || !strings.Contains(err.Error()+out, "needs the operator role") {
		t.Fatalf("viewer replay: %v\n%s", err, out)
	}
	if out, err := as("view-1", "forget", "--record", "jane@acme.com"); err == nil || !strings.Contains(err.Error()+out, "needs the admin role") {
		t.Fatalf("viewer forget: %v\n%s", err, out)
	}
	if v.count("jane@acme.com") != 0 {
		t.Fatal("a viewer's replay reached the vendor")
	}

	// The operator replays, with either of its tokens, and may not erase.
	if out, err := as("op-1", "replay", id); err != nil || v.count("jane@acme.com") != 1 {
		t.Fatalf("operator replay: %v\n%s", err, out)
	}
	if out, err := as("op-2", "replay", "--route", "crm", "--since", "1h", "--dry-run"); err != nil || !strings.Contains(out, "dry run") {
		t.Fatalf("second operator token, bulk dry run: %v\n%s", err, out)
	}
	if out, err := as("op-2", "forget", "--record", "jane@acme.com"); err == nil || !strings.Contains(err.Error()+out, "needs the admin role") {
		t.Fatalf("operator forget: %v\n%s", err, out)
	}
	if out, err := as("op-1", "audit"); err == nil || !strings.Contains(err.Error()+out, "needs the admin role") {
		t.Fatalf("operator reads the audit log: %v\n%s", err, out)
	}

	// The resent call names the operator behind it.
	out, err := as("view-1", "show", id, "--json")
	var orig struct {
		ReplayedBy []string `json:"replayed_by"`
	}
	if err != nil || json.Unmarshal([]byte(out), &orig) != nil || len(orig.ReplayedBy) != 1 {
		t.Fatalf("show original: %v\n%s", err, out)
	}
	replayID := orig.ReplayedBy[0]
	out, _ = as("view-1", "show", replayID, "--json")
	var replay struct {
		Actor string `json:"actor"`
	}
	if json.Unmarshal([]byte(out), &replay) != nil || replay.Actor != "ops-laptop" {
		t.Fatalf("the replay's actor = %q, want ops-laptop:\n%s", replay.Actor, out)
	}

	// The admin erases.
	if out, err := as("adm-1", "forget", "--record", "jane@acme.com"); err != nil {
		t.Fatalf("admin forget: %v\n%s", err, out)
	}

	want := []string{ // actor role method endpoint status, oldest first
		"dashboard viewer POST /api/transactions/{id}/replay 403",
		"dashboard viewer DELETE /api/records/{key} 403",
		"ops-laptop operator POST /api/transactions/{id}/replay 200",
		"ops-laptop-next operator POST /api/replays 202",
		"ops-laptop-next operator DELETE /api/records/{key} 403",
		"dpo admin DELETE /api/records/{key} 200",
	}

	// GET /api/audit: newest first.
	req, _ := http.NewRequest(http.MethodGet, in.admin+"/api/audit?since=1h", nil)
	req.Header.Set("Authorization", "Bearer adm-1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/audit: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(strings.ToLower(string(body)), "jane") || strings.Contains(string(body), "op-1") || strings.Contains(string(body), "held-crm-token") {
		t.Fatalf("the audit log holds a record key or a secret: %s", body)
	}
	var page inspect.AuditPage
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range slices.Backward(page.Entries) {
		got = append(got, fmt.Sprintf("%s %s %s %s %d", e.Actor, e.Role, e.Method, e.Endpoint, e.Status))
		if !strings.HasPrefix(e.Remote, "127.0.0.1:") || e.Time.IsZero() {
			t.Errorf("entry %+v lacks where from or when", e)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("GET /api/audit, oldest first:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e := page.Entries[3]; e.Target != id || e.Result != replayID || e.Params["force"] != "" {
		t.Errorf("the operator's replay entry: %+v, want target %s, result %s", e, id, replayID)
	}
	if e := page.Entries[2]; e.Params["dry_run"] != "true" || e.Params["route"] != "crm" || !strings.HasPrefix(e.Result, "r") {
		t.Errorf("the bulk replay entry: %+v", e)
	}
	if e := page.Entries[0]; !strings.HasPrefix(e.Target, "sha256:") || e.Params["deleted"] != "2" {
		t.Errorf("the erasure entry: %+v, want the key's hash and 2 calls deleted", e)
	}

	// mtguard audit: the same, as a table, oldest first.
	out, err = as("adm-1", "audit", "--since", "1h")
	if err != nil {
		t.Fatalf("mtguard audit: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("mtguard audit printed %d lines, want a header and %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		f := strings.Fields(w)
		l := lines[i+1]
		if !strings.Contains(l, f[0]+" ") || !strings.Contains(l, f[1]) || !strings.Contains(l, f[2]+" "+f[3]) || !strings.Contains(l, " "+f[4]+" ") {
			t.Errorf("line %d %q does not show %q", i+1, l, w)
		}
	}
	if !strings.Contains(lines[3], "result="+replayID) {
		t.Errorf("the replay's line does not name the call it made: %q", lines[3])
	}
}
