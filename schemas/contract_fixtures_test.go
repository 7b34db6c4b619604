package schemas

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// contractFixture is want.json of a contract fixture folder,
// testdata/contracts/<vendor>/<case>/{request.json|request.form, response.json, want.json}.
type contractFixture struct {
	// Call is the method and vendor-side path, "POST /crm/v3/objects/contacts".
	Call string `json:"call"`
	// ContentType of the request; default application/json (application/x-www-form-urlencoded
	// for request.form).
	ContentType string `json:"content_type,omitempty"`
	// Status of response.json; default 200.
	Status int `json:"status,omitempty"`
	// Reject is the status enforce mode answers with; 0 when the call is forwarded.
	Reject int `json:"reject"`
	// Request and Response are the messages of the contract findings, in order.
	Request  []string `json:"request"`
	Response []string `json:"response"`
}

// TestContractFixtures runs every fixture folder against the contracts shipped for its vendor,
// pinned in enforce mode. Set MTGUARD_UPDATE_FIXTURES=1 to rewrite want.json from what the
// contracts say (then read the diff).
func TestContractFixtures(t *testing.T) {
	root := filepath.Join("testdata", "contracts")
	vendors, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range vendors {
		pins, ok := BuiltinVendorPins(v.Name())
		if !ok {
			t.Errorf("testdata/contracts/%s: no contracts are shipped for %q", v.Name(), v.Name())
			continue
		}
		c, err := CompileContracts(ContractsSpec{Mode: ModeEnforce, Pins: pins}, ContractOptions{})
		if err != nil {
			t.Fatalf("%s: %v", v.Name(), err)
		}
		cases, err := os.ReadDir(filepath.Join(root, v.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, cs := range cases {
			dir := filepath.Join(root, v.Name(), cs.Name())
			t.Run(v.Name()+"/"+cs.Name(), func(t *testing.T) {
				got := runContractFixture(t, c, dir)
				seen[v.Name()+" "+got.Call] = true
				wantPath := filepath.Join(dir, "want.json")
				if os.Getenv("MTGUARD_UPDATE_FIXTURES") == "1" {
					b, _ := json.MarshalIndent(got, "", "  ")
					if err := os.WriteFile(wantPath, append(b, '\n'), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want := readContractFixture(t, wantPath)
				if got.Reject != want.Reject {
					t.Errorf("reject: got %d, want %d", got.Reject, want.Reject)
				}
				if !slices.Equal(got.Request, want.Request) {
					t.Errorf("request findings:\ngot  %q\nwant %q", got.Request, want.Request)
				}
				if !slices.Equal(got.Response, want.Response) {
					t.Errorf("response findings:\ngot  %q\nwant %q", got.Response, want.Response)
				}
			})
		}
	}
	// Every shipped pin has at least one fixture.
	all, err := BuiltinPins()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		found := false
		for k := range seen {
			vendor, call, _ := strings.Cut(k, " ")
			m, err := parseMatch(p.Match)
			if err != nil {
				t.Fatal(err)
			}
			method, path, _ := strings.Cut(call, " ")
			if vendor == p.Vendor && m.matches(method, splitPath(path)) {
				found = true
			}
		}
		if !found {
			t.Errorf("shipped pin %s %s has no fixture under testdata/contracts/%s/", p.Vendor, p.Match, p.Vendor)
		}
	}
}

func readContractFixture(t testing.TB, path string) contractFixture {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w contractFixture
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return w
}

// runContractFixture runs one folder's call through c and reports what came out in want.json's shape.
func runContractFixture(t *testing.T, c *Contracts, dir string) contractFixture {
	t.Helper()
	w := readContractFixture(t, filepath.Join(dir, "want.json"))
	method, path, ok := strings.Cut(w.Call, " ")
	if !ok {
		t.Fatalf("want.json: call %q is not \"METHOD /path\"", w.Call)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "request.json"))
	ct := "application/json"
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = os.ReadFile(filepath.Join(dir, "request.form"))
		ct = "application/x-www-form-urlencoded"
	}
	if err != nil {
		t.Fatal(err)
	}
	if w.ContentType != "" {
		ct = w.ContentType
	}
	h := http.Header{"Content-Type": {ct}}
	req := &Request{Method: method, Path: path, Header: h, Body: ParseBody(ct, raw), Raw: raw}
	checkTime := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	out := contractFixture{Call: w.Call, ContentType: w.ContentType, Status: w.Status, Request: []string{}, Response: []string{}}
	var rv RequestVerdict
	c.CheckRequest(checkTime, req, &rv)
	for _, f := range rv.Findings {
		out.Request = append(out.Request, f.Message)
	}
	if rv.Reject != nil {
		out.Reject = rv.Reject.Status
		if len(rv.Reject.Errors) == 0 {
			t.Errorf("a rejection lists no errors")
		}
	}
	if resp, err := os.ReadFile(filepath.Join(dir, "response.json")); err == nil {
		status := w.Status
		if status == 0 {
			status = 200
		}
		rh := http.Header{"Content-Type": {"application/json"}}
		var v ResponseVerdict
		c.CheckResponse(checkTime, req, &Response{Status: status, Header: rh, Body: ParseBody("application/json", resp), Raw: resp}, &v)
		for _, f := range v.Findings {
			out.Response = append(out.Response, f.Message)
		}
	}
	return out
}
