package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/verify"
)

const readBackE2EConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  token_env: ADMIN_TOKEN
routes:
  - name: hubspot
    prefix: /hs
    upstream: %s
    record_keys: [properties.email]
    auth: {header: Authorization, value_env: HS_TOKEN}
    verify:
      after: 20ms
      request: {method: GET, path: "/crm/v3/objects/contacts/{email}?idProperty=email"}
      expect: {status: 200, body: {"properties.email": "{email}"}}
      sample: 50%%
`

// TestReadBackEndToEnd: a fake HubSpot answers 201 to every contact it is sent but drops one in
// twenty. With verify sampling half the delivered calls, the read-back flags exactly the
// dropped ones among those sampled with delivery.unverified; each probe is recorded as a call
// of kind probe linked to the call it verifies, carries the route's credential, and is not
// counted as the route's traffic.
func TestReadBackEndToEnd(t *testing.T) {
	var mu sync.Mutex
	stored := map[string]bool{}
	posted := 0
	var badAuth int
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pat-123" {
			mu.Lock()
			badAuth++
			mu.Unlock()
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/crm/v3/objects/contacts":
			var in struct{ Properties struct{ Email string } }
			json.NewDecoder(r.Body).Decode(&in)
			posted++
			if posted%20 != 0 { // one in twenty is dropped, and answered 201 all the same
				stored[strings.ToLower(in.Properties.Email)] = true
			}
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":"1","properties":{}}`))
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/crm/v3/objects/contacts/") && r.URL.Query().Get("idProperty") == "email":
			email := strings.TrimPrefix(r.URL.Path, "/crm/v3/objects/contacts/")
			if !stored[email] {
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"status":"error","message":"resource not found","category":"OBJECT_NOT_FOUND"}`))
				return
			}
			fmt.Fprintf(w, `{"id":"1","properties":{"email":%q}}`, email)
		default:
			http.NotFound(w, r)
		}
	}))
	defer vendor.Close()
	in := startMtguard(t, fmt.Sprintf(readBackE2EConfig, vendor.URL), map[string]string{"HS_TOKEN": "Bearer pat-123", "ADMIN_TOKEN": "adm-1"})
	admin := map[string]string{"MTGUARD_ADMIN_TOKEN": "adm-1"}

	type sent struct {
		id, email string
		dropped   bool
	}
	var calls []sent
	// Sampling follows the call id, so which dropped calls are read back differs per run: send
	// at least 100 calls, and more until the sample holds a dropped call (5 dropped calls at 50 %
	// miss it about once in 32 runs).
	sampledDrops := 0
	for i := 1; i <= 100 || (sampledDrops == 0 && i <= 400); i++ {
		email := fmt.Sprintf("Contact%03d@Example.com", i)
		req, _ := http.NewRequest(http.MethodPost, in.proxy+"/hs/crm/v3/objects/contacts", strings.NewReader(fmt.Sprintf(`{"properties":{"email":%q}}`, email)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer pat-123")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		calls = append(calls, sent{id: resp.Header.Get("X-Mtguard-Id"), email: strings.ToLower(email), dropped: i%20 == 0})
		if i%20 == 0 && verify.Sampled(calls[len(calls)-1].id, 0.5) {
			sampledDrops++
		}
	}
	var wantFlagged []string
	sampled := 0
	for _, c := range calls {
		if verify.Sampled(c.id, 0.5) {
			sampled++
			if c.dropped {
				wantFlagged = append(wantFlagged, c.id)
			}
		}
	}
	if sampled == 0 || sampled == len(calls) || len(wantFlagged) == 0 {
		t.Fatalf("the sample should hold some calls and some dropped ones: %d sampled, %d dropped among them", sampled, len(wantFlagged))
	}

	type logged struct {
		ID       string        `json:"id"`
		Kind     string        `json:"kind"`
		Verifies string        `json:"verifies"`
		Status   int           `json:"status"`
		Findings []txn.Finding `json:"findings"`
	}
	list := func(args ...string) []logged {
		out, err := in.cli(t, admin, append([]string{"log", "--limit", "1000", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("log: %v\n%s", err, out)
		}
		var p struct{ Transactions []logged }
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("log --json: %v\n%s", err, out)
		}
		return p.Transactions
	}
	var probes []logged
	deadline := time.Now().Add(15 * time.Second)
	for {
		probes = probes[:0]
		for _, tx := range list("--route", "hubspot") {
			if tx.Kind == txn.KindProbe {
				probes = append(probes, tx)
			}
		}
		if len(probes) >= sampled || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the probes go out on the real clock, after: 20ms
	}
	if len(probes) != sampled {
		t.Fatalf("%d probes, want one per sampled call (%d)", len(probes), sampled)
	}
	for _, p := range probes {
		if !slices.ContainsFunc(calls, func(c sent) bool { return c.id == p.Verifies && verify.Sampled(c.id, 0.5) }) {
			t.Errorf("probe %s verifies %q, not a sampled call", p.ID, p.Verifies)
		}
	}
	var flagged []string
	for range 100 { // the finding is added once the probe's answer is read
		flagged = flagged[:0]
		for _, tx := range list("--finding", txn.CodeDeliveryUnverified) {
			flagged = append(flagged, tx.ID)
		}
		if len(flagged) >= len(wantFlagged) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sort.Strings(flagged)
	sort.Strings(wantFlagged)
	if !slices.Equal(flagged, wantFlagged) {
		t.Errorf("delivery.unverified on %v, want exactly the dropped sampled calls %v", flagged, wantFlagged)
	}
	if out, _ := in.cli(t, admin, "show", probes[0].ID); !strings.Contains(out, "read-back of") || !strings.Contains(out, probes[0].Verifies) {
		t.Errorf("show of a probe:\n%s", out)
	}
	out, _ := in.cli(t, admin, "show", wantFlagged[0])
	if !strings.Contains(out, "answered 404, expected 200") {
		t.Errorf("show of a flagged call:\n%s", out)
	}
	mu.Lock()
	if badAuth != 0 {
		t.Errorf("%d calls reached the vendor without the route's credential", badAuth)
	}
	mu.Unlock()

	mreq, _ := http.NewRequest(http.MethodGet, in.admin+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer adm-1")
	resp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `mtguard_observer_dropped_total{observer="read_back"} 0`) {
		t.Errorf("/metrics lacks the read-back's dropped count:\n%s", grepLines(string(b), "observer"))
	}
	if !strings.Contains(string(b), fmt.Sprintf(`mtguard_calls_total{outcome="delivered",route="hubspot"} %d`, len(calls))) {
		t.Errorf("the probes count as traffic:\n%s", grepLines(string(b), "mtguard_calls_total"))
	}
}
