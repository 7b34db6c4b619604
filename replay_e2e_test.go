package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mtguard/mtguard/inspect"
)

// countingVendor answers 503 until healed, then 201; it counts the leads it accepted.
type countingVendor struct {
	healed atomic.Bool
	mu     sync.Mutex
	got    map[string]int // email -> times accepted
	auth   []string
}

func (v *countingVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var lead struct{ Email string }
	json.NewDecoder(r.Body).Decode(&lead)
	if !v.healed.Load() {
		w.WriteHeader(503)
		io.WriteString(w, `{"status":"error","message":"maintenance"}`)
		return
	}
	v.mu.Lock()
	v.got[lead.Email]++
	v.auth = append(v.auth, r.Header.Get("Authorization"))
	v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	io.WriteString(w, `{"id":"1"}`)
}

func (v *countingVendor) count(email string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.got[email]
}

const replayConfig = `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_env: ADMIN_TOKEN}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
    auth: {header: Authorization, value_env: CRM_TOKEN}
  - name: bare
    prefix: /bare
    upstream: %s
    record_keys: [email]
`

// TestReplayEndToEnd: a 5xx is replayed after the vendor recovers and delivered exactly once;
// a delivered call is not resent; a call whose credential mtguard does not hold is refused
// with what to configure; HAR and curl exports reflect the stored call; forget erases bytes.
func TestReplayEndToEnd(t *testing.T) {
	v := &countingVendor{got: map[string]int{}}
	vendor := httptest.NewServer(v)
	defer vendor.Close()
	env := map[string]string{"ADMIN_TOKEN": "adm-123", "MTGUARD_ADMIN_TOKEN": "adm-123", "CRM_TOKEN": "Bearer held-crm-token"}
	in := startMtguard(t, fmt.Sprintf(replayConfig, vendor.URL, vendor.URL), env)
	post := func(path, email string) string {
		req, _ := http.NewRequest("POST", in.proxy+path, strings.NewReader(`{"email":"`+email+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer tool-own-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Mtguard-Id")
	}
	cli := func(args ...string) (string, error) { return in.cli(t, env, args...) }

	failedID := post("/crm/v1/leads", "jane@acme.com")
	post("/crm/v1/leads", "bob@acme.com")
	bareID := post("/bare/v1/leads", "carl@acme.com")
	v.healed.Store(true)

	out, err := cli("replay", "--route", "crm", "--outcome", "failed", "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: 2 matched; 2 would be resent, carrying 2 records") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if v.count("jane@acme.com") != 0 {
		t.Fatal("a dry run resent a call")
	}
	out, err = cli("replay", "--route", "crm", "--outcome", "failed")
	if err != nil || !strings.Contains(out, "2 resent (2 records): 2 delivered, 0 failed again") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if v.count("jane@acme.com") != 1 || v.count("bob@acme.com") != 1 {
		t.Fatalf("vendor accepted jane %d, bob %d times; want 1 each", v.count("jane@acme.com"), v.count("bob@acme.com"))
	}
	v.mu.Lock()
	for _, a := range v.auth {
		if a != "Bearer held-crm-token" {
			t.Errorf("replay sent Authorization %q, want the route's held credential", a)
		}
	}
	v.mu.Unlock()

	// Again: both chains are delivered now, so nothing is resent.
	out, err = cli("replay", "--route", "crm", "--outcome", "failed")
	if err != nil || !strings.Contains(out, "0 resent") || !strings.Contains(out, "2 already delivered") {
		t.Fatalf("second replay: %v\n%s", err, out)
	}
	out, err = cli("replay", failedID)
	if err != nil || !strings.Contains(out, "not resent: already delivered") || v.count("jane@acme.com") != 1 {
		t.Fatalf("single replay of a delivered chain: %v\n%s", err, out)
	}
	out, err = cli("replay", failedID, "--force")
	if err != nil || v.count("jane@acme.com") != 2 {
		t.Fatalf("forced replay: %v\n%s (jane accepted %d times)", err, out, v.count("jane@acme.com"))
	}

	// The original shows its replay chain: each replay resent the latest attempt.
	chain := []string{failedID}
	for len(chain) < 5 {
		out, _ = cli("show", chain[len(chain)-1], "--json")
		var tx struct {
			ReplayOf   string   `json:"replay_of"`
			ReplayedBy []string `json:"replayed_by"`
		}
		json.Unmarshal([]byte(out), &tx)
		if len(chain) > 1 && tx.ReplayOf != chain[len(chain)-2] {
			t.Fatalf("%s has replay_of %q, want %s", chain[len(chain)-1], tx.ReplayOf, chain[len(chain)-2])
		}
		if len(tx.ReplayedBy) == 0 {
			break
		}
		chain = append(chain, tx.ReplayedBy[len(tx.ReplayedBy)-1])
	}
	if len(chain) != 3 {
		t.Fatalf("replay chain %v, want the original and two replays", chain)
	}

	// No credential held for the bare route: refused, with what to configure.
	out, err = cli("replay", bareID)
	if err == nil || !strings.Contains(err.Error()+out, `give route "bare" the credential`) || v.count("carl@acme.com") != 0 {
		t.Fatalf("replay without credential: %v\n%s", err, out)
	}

	// curl: secrets as placeholders.
	out, err = cli("show", failedID, "--curl")
	if err != nil || !strings.Contains(out, `-H 'Authorization: '"${AUTHORIZATION}"`) || !strings.Contains(out, `--data-raw '{"email":"jane@acme.com"}'`) || strings.Contains(out, "tool-own-token") {
		t.Fatalf("curl: %v\n%s", err, out)
	}

	// HAR: parse it back and check it against the stored call.
	harFile := t.TempDir() + "/jane.har"
	if out, err := cli("export", "--har", "--record", "jane@acme.com", "--out", harFile); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(harFile)
	var har inspect.HAR
	if err := json.Unmarshal(raw, &har); err != nil {
		t.Fatal(err)
	}
	if har.Log.Version != "1.2" || len(har.Log.Entries) != 3 {
		t.Fatalf("HAR version %q with %d entries, want 1.2 with 3 (original + 2 replays)", har.Log.Version, len(har.Log.Entries))
	}
	first := har.Log.Entries[0]
	if first.Request.Method != "POST" || !strings.HasSuffix(first.Request.URL, "/v1/leads") || first.Response.Status != 503 ||
		first.Request.PostData == nil || first.Request.PostData.Text != `{"email":"jane@acme.com"}` || !strings.Contains(first.Comment, failedID) {
		t.Fatalf("first HAR entry does not match the stored call: %+v", first)
	}
	if second := har.Log.Entries[1]; second.Response.Status != 201 {
		t.Fatalf("second entry status %d, want 201", second.Response.Status)
	}

	// Erasure: every call of Jane is gone, down to the bytes of the file.
	out, err = cli("forget", "--record", "jane@acme.com")
	if err != nil || !strings.Contains(out, "deleted 3 calls that carried only jane@acme.com") {
		t.Fatalf("forget: %v\n%s", err, out)
	}
	if out, _ := cli("log", "--record", "jane@acme.com"); !strings.Contains(out, "no transactions match") {
		t.Fatalf("jane still in the log:\n%s", out)
	}
	in.stop()
	raw, _ = os.ReadFile(in.storePath)
	if strings.Contains(strings.ToLower(string(raw)), "jane@acme.com") {
		t.Fatal("jane@acme.com is still in the store file's bytes")
	}
	if !strings.Contains(string(raw), "bob@acme.com") {
		t.Fatal("forget erased more than Jane")
	}
}
