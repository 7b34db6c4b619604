package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// contractVendor is a fake HubSpot: it counts what reaches it and answers a create with a
// contact whose createdAt is in the wrong shape when the call asks for drift.
type contractVendor struct {
	*httptest.Server
	mu   sync.Mutex
	hits []string
}

func newContractVendor(t *testing.T) *contractVendor {
	t.Helper()
	v := &contractVendor{}
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		v.hits = append(v.hits, r.Method+" "+r.URL.Path+" "+string(body))
		v.mu.Unlock()
		created := "2026-11-28T12:00:00.000Z"
		if r.URL.Query().Get("drift") == "1" {
			created = "11/28/2026"
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"512","properties":{"email":"jane@acme.com"},"createdAt":%q,"updatedAt":"2026-11-28T12:00:00.000Z","archived":false}`, created)
	}))
	t.Cleanup(v.Close)
	return v
}

func (v *contractVendor) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.hits)
}

const contractsConfig = `
routes:
  - name: shadow
    prefix: /shadow
    upstream: %[1]s
    contracts:
      builtin: [hubspot]
  - name: warn
    prefix: /warn
    upstream: %[1]s
    contracts:
      mode: warn
      require_pin: true
      pins:
        - match: POST /crm/v3/objects/contacts
          request: schemas/lead.json
          response: builtin:hubspot/crm-contacts-create.v3.response.json
  - name: enforce
    prefix: /enforce
    upstream: %[1]s
    contracts:
      mode: enforce
      builtin: [hubspot]
      pins:
        - match: POST /crm/v3/objects/contacts
          request: schemas/lead.json
          response: builtin:hubspot/crm-contacts-create.v3.response.json
`

// leadContract is the example: a date of birth must be YYYY-MM-DD.
const leadContract = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["properties"],
  "properties": {
    "properties": {
      "type": "object",
      "required": ["email"],
      "properties": {
        "email": {"type": "string", "format": "email"},
        "date_of_birth": {"type": "string", "format": "date"}
      }
    }
  }
}`

// startContractProxy builds mtguard from a config file the way serve does, with a real store in
// a temporary folder and the proxy on a loopback test server.
func startContractProxy(t *testing.T, upstream string) (*httptest.Server, *store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schemas", "lead.json"), []byte(leadContract), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mtguard.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(contractsConfig, upstream)), 0o644); err != nil {
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
	return srv, st, dir
}

// TestContractsThroughProxy sends the same calls through a shadow, a warn and an enforce route
// and checks what the tool heard, what reached the vendor and what was recorded.
func TestContractsThroughProxy(t *testing.T) {
	vendor := newContractVendor(t)
	srv, st, dir := startContractProxy(t, vendor.URL)
	leadPath := filepath.Join(dir, "schemas", "lead.json")
	const (
		good      = `{"properties":{"email":"jane@acme.com","date_of_birth":"1990-03-15"}}`
		badDate   = `{"properties":{"email":"jane@acme.com","date_of_birth":"03/15/1990"}}`
		twoFaults = `{"properties":{"email":"jane@","date_of_birth":"03/15/1990"}}`
		malformed = `{"properties":{"email":"jane@acme.com",}}`
	)
	dateMsg := `/properties/date_of_birth: "03/15/1990" is not a valid date (expected YYYY-MM-DD)`
	emailMsg := `/properties/email: "jane@" is not a valid email (expected an address like name@example.com)`
	tests := []struct {
		name, route, path, ctype, body string
		wantStatus                     int
		wantForwarded                  bool
		wantOutcome                    txn.Outcome
		wantHeader                     string // prefix of X-Mtguard-Contract
		wantFindings                   []string
		wantErrors                     []string // in the problem answer
	}{
		{"shadow valid", "shadow", "/crm/v3/objects/contacts", "application/json", `{"properties":{"email":"jane@acme.com"}}`,
			201, true, txn.OutcomeDelivered, "", nil, nil},
		{"shadow violation is only recorded", "shadow", "/crm/v3/objects/contacts", "application/json", `{"properties":{"email":"jane@"}}`,
			201, true, txn.OutcomeDelivered, "", []string{"schema.request.invalid " + emailMsg}, nil},
		{"shadow unpinned call is not a finding", "shadow", "/crm/v3/objects/deals", "application/json", `{}`,
			201, true, txn.OutcomeDelivered, "", nil, nil},
		{"warn valid", "warn", "/crm/v3/objects/contacts", "application/json", good,
			201, true, txn.OutcomeDelivered, "", nil, nil},
		{"warn violation is forwarded with a header", "warn", "/crm/v3/objects/contacts", "application/json", badDate,
			201, true, txn.OutcomeDelivered, `violated; violations=1; pin="POST /crm/v3/objects/contacts"; first=` + fmt.Sprintf("%q", dateMsg),
			[]string{"schema.request.invalid " + dateMsg}, nil},
		{"warn unpinned with require_pin", "warn", "/crm/v3/objects/deals", "application/json", `{}`,
			201, true, txn.OutcomeDelivered, `unpinned; call="POST /crm/v3/objects/deals"`,
			[]string{"contract.unpinned no contract is pinned for POST /crm/v3/objects/deals on this route (require_pin is on)"}, nil},
		{"warn malformed", "warn", "/crm/v3/objects/contacts", "application/json", malformed,
			201, true, txn.OutcomeDelivered, `malformed; pin="POST /crm/v3/objects/contacts"; first="not valid JSON: at byte 40`,
			[]string{"schema.request.malformed not valid JSON: at byte 40: invalid character '}' looking for beginning of object key string"}, nil},
		{"warn other media type passes", "warn", "/crm/v3/objects/contacts", "text/csv", "email\njane@acme.com\n",
			201, true, txn.OutcomeDelivered, `unchecked; pin="POST /crm/v3/objects/contacts"`,
			[]string{"contract.unsupported_media_type the text/csv body was not checked: the contract " + "LEAD" + " covers JSON and urlencoded forms"}, nil},
		{"enforce valid", "enforce", "/crm/v3/objects/contacts", "application/json", good,
			201, true, txn.OutcomeDelivered, "", nil, nil},
		{"enforce violation is refused", "enforce", "/crm/v3/objects/contacts", "application/json", twoFaults,
			422, false, txn.OutcomeRejected, "",
			[]string{"schema.request.invalid " + dateMsg, "schema.request.invalid " + emailMsg}, // each violation once, no second finding for the refusal
			[]string{dateMsg, emailMsg}},
		{"enforce malformed is a 400", "enforce", "/crm/v3/objects/contacts", "application/json", malformed,
			400, false, txn.OutcomeRejected, "",
			[]string{"schema.request.malformed not valid JSON: at byte 40: invalid character '}' looking for beginning of object key string"},
			[]string{"not valid JSON: at byte 40: invalid character '}' looking for beginning of object key string"}},
		{"enforce builtin pin", "enforce", "/crm/v3/objects/contacts/batch/upsert", "application/json", `{"inputs":[{"properties":{}}]}`,
			422, false, txn.OutcomeRejected, "",
			[]string{`schema.request.invalid /inputs/0: missing required field "id"`},
			[]string{`/inputs/0: missing required field "id"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := vendor.count()
			req, _ := http.NewRequest("POST", srv.URL+"/"+tt.route+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, answer)
			}
			if forwarded := vendor.count() > before; forwarded != tt.wantForwarded {
				t.Errorf("forwarded %v, want %v", forwarded, tt.wantForwarded)
			}
			if got := resp.Header.Get(schemas.HeaderContract); !strings.HasPrefix(got, tt.wantHeader) || (tt.wantHeader == "" && got != "") {
				t.Errorf("%s: %q, want it to start with %q", schemas.HeaderContract, got, tt.wantHeader)
			}
			if tt.wantErrors != nil {
				var pb struct {
					Type, Title, Detail, Instance string
					Errors                        []string
				}
				if err := json.Unmarshal(answer, &pb); err != nil {
					t.Fatalf("problem: %v: %s", err, answer)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("content type %q", ct)
				}
				if !slices.Equal(pb.Errors, tt.wantErrors) {
					t.Errorf("problem errors:\ngot  %q\nwant %q", pb.Errors, tt.wantErrors)
				}
				if !strings.HasSuffix(pb.Type, "#finding-schema-request-"+map[int]string{400: "malformed", 422: "invalid"}[tt.wantStatus]) {
					t.Errorf("problem type %q", pb.Type)
				}
			}
			id := resp.Header.Get(proxy.HeaderID)
			if err := st.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			tx, err := st.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if tx.Outcome != tt.wantOutcome {
				t.Errorf("outcome %q, want %q", tx.Outcome, tt.wantOutcome)
			}
			var got []string
			for _, f := range tx.Findings {
				got = append(got, f.Code+" "+f.Message)
			}
			var want []string
			for _, w := range tt.wantFindings {
				want = append(want, strings.Replace(w, "LEAD", leadPath, 1))
			}
			if !slices.Equal(got, want) {
				t.Errorf("findings:\ngot  %q\nwant %q", got, want)
			}
			// A refused payload is kept whole, so it can be fixed and replayed.
			if tt.wantOutcome == txn.OutcomeRejected && tx.Request.Body != tt.body {
				t.Errorf("stored request body %q, want %q", tx.Request.Body, tt.body)
			}
		})
	}

	// Response contracts never block: a drifted answer reaches the tool and is recorded.
	resp, err := http.Post(srv.URL+"/enforce/crm/v3/objects/contacts?drift=1", "application/json", strings.NewReader(`{"properties":{"email":"jane@acme.com"}}`))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || !strings.Contains(string(answer), "11/28/2026") {
		t.Fatalf("drifted answer: %d %s", resp.StatusCode, answer)
	}
	if err := st.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	tx, err := st.Get(context.Background(), resp.Header.Get(proxy.HeaderID))
	if err != nil {
		t.Fatal(err)
	}
	if tx.Outcome != txn.OutcomeDelivered || len(tx.Findings) != 1 || tx.Findings[0].Code != txn.CodeSchemaResponseInvalid ||
		tx.Findings[0].Message != `/createdAt: "11/28/2026" is not a valid date-time (expected RFC 3339, like 2026-01-20T21:14:16Z)` ||
		!strings.Contains(tx.Findings[0].Detail, "201 · builtin:hubspot/crm-contacts-create.v3.response.json") {
		t.Errorf("response drift: outcome %q, findings %+v", tx.Outcome, tx.Findings)
	}
}
