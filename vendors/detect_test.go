package vendors

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
	"go.yaml.in/yaml/v3"
)

// detectNow is the clock of a fixture that does not set one.
var detectNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// fixtureRequest is request.json: the call as the tool sent it.
type fixtureRequest struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"` // the vendor path, with an optional ?query
	Headers map[string]string `json:"headers"`
	// Body is a JSON document, or a string sent as is.
	Body json.RawMessage `json:"body"`
	// Now is the call's time (RFC 3339); default 2026-11-28T12:00:00Z.
	Now string `json:"now"`
}

// fixtureResponse is response.json: what the vendor answered.
type fixtureResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// fixtureWant is want.json: what mtguard should make of the call.
type fixtureWant struct {
	Outcome  txn.Outcome        `json:"outcome"`
	Findings []string           `json:"findings"`
	Records  []txn.RecordResult `json:"records,omitempty"`
	// Messages must each appear in some finding's message.
	Messages []string `json:"messages,omitempty"`
	// Signals are the limit signals, by kind and pause.
	Signals []fixtureSignal `json:"signals,omitempty"`
	// SetHeaders are the headers added to the forwarded call (a pinned version).
	SetHeaders map[string]string `json:"set_headers,omitempty"`
	// Sunsets are the structured sunset dates (YYYY-MM-DD) of the findings that carry one, by
	// code, and Replacements their replacements: what the alert rules read.
	Sunsets      map[string]string `json:"sunsets,omitempty"`
	Replacements map[string]string `json:"replacements,omitempty"`
}

type fixtureSignal struct {
	Kind       string `json:"kind"`
	RetryAfter string `json:"retry_after,omitempty"`
	Remaining  *int   `json:"remaining,omitempty"`
	Limit      int    `json:"limit,omitempty"`
}

// TestDetectFixtures runs every folder under testdata/detect/<preset>/<case>/: request.json,
// response.json and want.json, plus an optional route.yaml holding the route's versions,
// outcomes and limits overrides. Adding a case needs no Go. MTGUARD_UPDATE_FIXTURES=1 writes
// want.json from what mtguard concluded (read the diff before committing it).
func TestDetectFixtures(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "detect", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no fixtures under testdata/detect")
	}
	vendors := map[string]bool{}
	for _, dir := range cases {
		vendor := filepath.Base(filepath.Dir(dir))
		vendors[vendor] = true
		t.Run(vendor+"/"+filepath.Base(dir), func(t *testing.T) {
			got := runFixture(t, vendor, dir)
			for i, code := range got.Findings {
				t.Logf("%s: %s", code, got.Messages[i])
			}
			wantPath := filepath.Join(dir, "want.json")
			if os.Getenv("MTGUARD_UPDATE_FIXTURES") == "1" {
				b, _ := json.MarshalIndent(got, "", "  ")
				if err := os.WriteFile(wantPath, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			var want fixtureWant
			readJSON(t, wantPath, &want)
			if got.Outcome != want.Outcome {
				t.Errorf("outcome = %q, want %q", got.Outcome, want.Outcome)
			}
			if g, w := sortedCopy(got.Findings), sortedCopy(want.Findings); !slices.Equal(g, w) {
				t.Errorf("findings = %v, want %v", got.Findings, want.Findings)
			}
			if !slices.Equal(got.Records, want.Records) {
				t.Errorf("records = %+v\nwant      %+v", got.Records, want.Records)
			}
			for _, m := range want.Messages {
				if !slices.ContainsFunc(got.Messages, func(s string) bool { return strings.Contains(s, m) }) {
					t.Errorf("no finding message contains %q; messages:\n%s", m, strings.Join(got.Messages, "\n"))
				}
			}
			if want.Signals != nil && !slices.EqualFunc(got.Signals, want.Signals, signalsEqual) {
				t.Errorf("signals = %+v, want %+v", got.Signals, want.Signals)
			}
			if want.SetHeaders != nil && !mapsEqual(got.SetHeaders, want.SetHeaders) {
				t.Errorf("set headers = %v, want %v", got.SetHeaders, want.SetHeaders)
			}
			if want.Sunsets != nil && !mapsEqual(got.Sunsets, want.Sunsets) {
				t.Errorf("sunsets = %v, want %v", got.Sunsets, want.Sunsets)
			}
			if want.Replacements != nil && !mapsEqual(got.Replacements, want.Replacements) {
				t.Errorf("replacements = %v, want %v", got.Replacements, want.Replacements)
			}
		})
	}
	for _, name := range PresetNames() {
		if name != GenericPreset && !vendors[name] {
			t.Errorf("preset %s has no fixture folder under testdata/detect/%s", name, name)
		}
	}
}

// fixtureResult is what a fixture produced; it is written as want.json on update.
type fixtureResult struct {
	fixtureWant
	Messages []string `json:"messages,omitempty"`
}

func (res *fixtureResult) add(f txn.Finding) {
	res.Findings = append(res.Findings, f.Code)
	res.Messages = append(res.Messages, f.Message)
	if f.Sunset != nil {
		if res.Sunsets == nil {
			res.Sunsets = map[string]string{}
		}
		res.Sunsets[f.Code] = f.Sunset.UTC().Format(time.DateOnly)
	}
	if f.Replacement != "" {
		if res.Replacements == nil {
			res.Replacements = map[string]string{}
		}
		res.Replacements[f.Code] = f.Replacement
	}
}

func runFixture(t *testing.T, vendor, dir string) fixtureResult {
	t.Helper()
	p, err := LoadPreset(vendor)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "route.yaml")); err == nil {
		p = applyRouteYAML(t, p, b)
	}
	keys, err := schemas.ParseKeyPaths(p.RecordKeys)
	if err != nil {
		t.Fatal(err)
	}
	checks := &schemas.Checks{}
	p.AddTo(checks, keys)

	var fr fixtureRequest
	readJSON(t, filepath.Join(dir, "request.json"), &fr)
	now := detectNow
	if fr.Now != "" {
		if now, err = time.Parse(time.RFC3339, fr.Now); err != nil {
			t.Fatalf("request.json now: %v", err)
		}
	}
	path, query, _ := strings.Cut(fr.Path, "?")
	q, _ := url.ParseQuery(query)
	req := &schemas.Request{Method: fr.Method, Path: path, Query: q, Header: header(fr.Headers)}
	req.Raw = rawBody(fr.Body)
	req.Body = schemas.ParseBody(req.Header.Get("Content-Type"), req.Raw)

	var res fixtureResult
	rv := checks.CheckRequest(now, req)
	for _, f := range rv.Findings {
		res.add(f)
	}
	if len(rv.SetHeaders) > 0 {
		res.SetHeaders = map[string]string{}
		for k := range rv.SetHeaders {
			res.SetHeaders[k] = rv.SetHeaders.Get(k)
		}
	}
	if rv.Reject != nil {
		res.Outcome = "rejected"
		res.Findings = append(res.Findings, rv.Reject.Code)
		res.Messages = append(res.Messages, rv.Reject.Detail)
		return res
	}

	var fresp fixtureResponse
	readJSON(t, filepath.Join(dir, "response.json"), &fresp)
	resp := &schemas.Response{Status: fresp.Status, Header: header(fresp.Headers)}
	resp.Raw = rawBody(fresp.Body)
	resp.Body = schemas.ParseBody(resp.Header.Get("Content-Type"), resp.Raw)
	v := checks.CheckResponse(now, req, resp)
	res.Outcome = v.Outcome
	if res.Outcome == "" {
		res.Outcome = txn.OutcomeDelivered
		if resp.Status >= 400 {
			res.Outcome = txn.OutcomeFailed
		}
	}
	for _, f := range v.Findings {
		res.add(f)
	}
	if res.Findings == nil {
		res.Findings = []string{}
	}
	res.Records = v.Records
	for _, s := range v.Signals {
		fs := fixtureSignal{Kind: s.Kind, Limit: s.Limit}
		if s.RetryAfter > 0 {
			fs.RetryAfter = s.RetryAfter.String()
		}
		if s.Kind == SignalRemaining {
			rem := s.Remaining
			fs.Remaining = &rem
		}
		res.Signals = append(res.Signals, fs)
	}
	return res
}

// applyRouteYAML applies a fixture's route.yaml (versions, outcomes, limits) to p.
func applyRouteYAML(t *testing.T, p *Preset, src []byte) *Preset {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("route.yaml: %v", err)
	}
	var r yreader
	m, _ := r.Mapping(doc.Content[0], "route", "versions", "outcomes", "limits")
	if len(r.Problems) > 0 {
		t.Fatalf("route.yaml: %v", r.Problems)
	}
	o, problems := DecodeOverrides(m.Get("versions"), m.Get("outcomes"), m.Get("limits"), "route")
	if len(problems) > 0 {
		t.Fatalf("route.yaml: %v", problems)
	}
	p, problems = p.WithOverrides(o)
	if len(problems) > 0 {
		t.Fatalf("route.yaml: %v", problems)
	}
	return p
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func header(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// rawBody is a fixture body as bytes: a JSON string is sent as its text (XML, a form), any
// other JSON as is; null or absent is no body.
func rawBody(b json.RawMessage) []byte {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		return []byte(s)
	}
	return b
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func signalsEqual(g, w fixtureSignal) bool {
	if g.Kind != w.Kind || g.RetryAfter != w.RetryAfter || g.Limit != w.Limit {
		return false
	}
	return (g.Remaining == nil) == (w.Remaining == nil) && (g.Remaining == nil || *g.Remaining == *w.Remaining)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
