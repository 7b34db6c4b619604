package vendors

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
	"go.yaml.in/yaml/v3"
)

func yamlNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// TestDecodeRulesProblems checks that each mistake in a rule list is reported with its line
// and key, and that one run reports all of them.
func TestDecodeRulesProblems(t *testing.T) {
	src := `- name: a
  when: {status: 2xy}
  outcome: failed
- name: b
  when:
    body: {"x[": 1}
  finding: response.silently
- name: c
  whenn: {}
- name: d
  when: {body: {x: {matches: "("}}}
  outcome: partial
- name: e
  when: {}
  message: "hi"
- name: a
  when: {}
  outcome: failed
- when: {status: 200}
  outcome: failed
- name: f
  when: {}
  retry_after: 10s
  finding: ratelimit.upstream
- name: g
  when: {body: {error: {code: 190}}}
  outcome: failed
`
	_, problems := DecodeRules(yamlNode(t, src), "outcomes")
	want := []string{
		`2:outcomes[0].when.status: "2xy" is not a status`,
		`6:outcomes[1].when.body.x[: path "x[": unbalanced brackets`,
		`7:outcomes[1].finding: "response.silently" is not a finding code`,
		`9:outcomes[2].whenn: unknown key`,
		`8:outcomes[2]: when is required`,
		`11:outcomes[3].when.body.x.matches: "(" is not a regular expression`,
		`13:outcomes[4]: the rule does nothing`,
		`15:outcomes[4].message: a message needs a finding`,
		`16:outcomes[5].name: "a" is already the name of the rule on line 1`,
		`19:outcomes[6]: name is required`,
		`23:outcomes[7].retry_after: retry_after goes with signal`,
		`26:outcomes[8].when.body.error.code: is not a test (tests: equals, not,`,
	}
	var got []string
	for _, p := range problems {
		got = append(got, strconv.Itoa(p.Line)+":"+p.Key+": "+p.Msg)
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("missing problem %q; got:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
}

func TestPathPattern(t *testing.T) {
	tests := []struct {
		pattern, path string
		version       bool
		ok            bool
		want          string
	}{
		{"/services/data/v{version}/", "/services/data/v59.0/sobjects/Lead", true, true, "59.0"},
		{"/services/data/v{version}/", "/sf/services/data/v30.0/query", true, true, "30.0"}, // upstream with a base path
		{"/services/data/v{version}/", "/services/data/vX/query", true, false, ""},
		{"/crm/objects/{version}/", "/crm/objects/2026-03/contacts", true, true, "2026-03"},
		{"/crm/objects/{version}/", "/crm/objects/contacts", true, false, ""},
		{"/contacts/v{version}/lists", "/contacts/v1/lists/all", true, true, "1"},
		{"/contacts/v{version}/lists", "/contacts/v1/listsx", true, false, ""},
		{"/api/*/version/{version}/", "/api/prospect/version/4/do/create", true, true, "4"},
		{"/composite", "/services/data/v62.0/composite", false, true, ""},
		{"/composite", "/services/data/v62.0/composite/batch", false, false, ""},
		{"/composite/sobjects/**", "/services/data/v62.0/composite/sobjects", false, true, ""},
		{"/composite/sobjects/**", "/services/data/v62.0/composite/sobjects/Lead", false, true, ""},
		{"/3.0/lists/*", "/3.0/lists/abc", false, true, ""},
		{"/3.0/lists/*", "/3.0/lists/abc/members", false, false, ""},
		{"/rest/**", "/rest/v1/leads.json", false, true, ""},
	}
	for _, tt := range tests {
		p, err := parsePathPattern(tt.pattern, tt.version)
		if err != nil {
			t.Fatalf("%s: %v", tt.pattern, err)
		}
		v, ok := p.match(pathSegments(tt.path))
		if ok != tt.ok || v != tt.want {
			t.Errorf("%s on %s = %q, %v; want %q, %v", tt.pattern, tt.path, v, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []string{"services", "/a//b", "/v{version}/{version}/"} {
		if _, err := parsePathPattern(bad, true); err == nil {
			t.Errorf("parsePathPattern(%q) accepted it", bad)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"v1", "2", "2.9", "2.14", "9.0", "30.0", "59.0", "60.0", "2025-09", "2026-03", "2026-03-15", "202603"}
	for i := 1; i < len(ordered); i++ {
		if compareVersions(ordered[i-1], ordered[i]) >= 0 {
			t.Errorf("%s should sort before %s", ordered[i-1], ordered[i])
		}
	}
	r, _ := parseVersionRange("31.0..40.0")
	for v, want := range map[string]bool{"30.0": false, "31.0": true, "35.0": true, "40.0": true, "41.0": false} {
		if r.contains(v) != want {
			t.Errorf("31.0..40.0 contains %s = %v", v, !want)
		}
	}
	all, _ := parseVersionRange("*")
	if !all.contains("3_1") {
		t.Error(`"*" should contain every version`)
	}
}

func TestValueTests(t *testing.T) {
	doc := map[string]any{
		"success": false,
		"errors":  []any{map[string]any{"code": "601"}, map[string]any{"code": "1003"}},
		"count":   json.Number("3"),
		"empty":   []any{},
	}
	tests := []struct {
		path, test string
		want       bool
	}{
		{"success", "false", true},
		{"errors[].code", "601", true},          // a quoted code equals the number
		{"errors[].code", "[602, 1003]", true},  // any value, any of the list
		{"errors[].code", "{not: 601}", false},  // not: no value may equal
		{"errors[].code", "{not: 999}", true},   //
		{"missing", "{exists: false}", true},    //
		{"missing", "{not: x}", true},           // nothing there: not holds
		{"empty", "{empty: true}", true},        //
		{"errors", "{empty: false}", true},      //
		{"errors", "{count: 2}", true},          // an array counts as its elements
		{"errors[]", "{count: {gt: 2}}", false}, //
		{"count", "{gt: 2, lt: 4}", true},       // one value must pass both
		{"errors[].code", "{matches: '^6'}", true},
		{"errors[].code", "{not_matches: '^6'}", true}, // some value does not match
		{"errors[].code", "{contains: '00'}", true},
	}
	ctx := &ruleCtx{req: &schemas.Request{}, resp: &schemas.Response{}}
	for _, tt := range tests {
		var r yreader
		vt := r.valueTest(yamlNode(t, tt.test), "t")
		p, err := parseJPath(tt.path)
		if err != nil || len(r.Problems) > 0 {
			t.Fatalf("%s %s: %v %v", tt.path, tt.test, err, r.Problems)
		}
		if got := vt.evalJSON(ctx, p, doc); got != tt.want {
			t.Errorf("%s: %s = %v, want %v", tt.path, tt.test, got, tt.want)
		}
	}
}

func TestTemplate(t *testing.T) {
	resp := &schemas.Response{Status: 200, Header: http.Header{"X-Id": {"7"}}, Body: schemas.Body{JSON: map[string]any{
		"result": []any{map[string]any{"reason": map[string]any{"code": "1006"}}, map[string]any{"q": "same"}, map[string]any{"q": "same"}},
	}}}
	req := &schemas.Request{Method: "POST", Path: "/x", Body: schemas.Body{JSON: map[string]any{"data": []any{1, 2, 3}}}}
	tm, err := parseRuleTemplate("{$status} {header.X-Id} {count(request.data)} {result[0].reasons[].code|result[0].reason.code} {result[].q} {nothing}")
	if err != nil {
		t.Fatal(err)
	}
	got := tm.render(&ruleCtx{req: req, resp: resp})
	if want := "200 7 3 1006 same ?"; got != want {
		t.Errorf("render = %q, want %q", got, want)
	}
	if _, err := parseRuleTemplate("{oops"); err == nil {
		t.Error("an unclosed brace should not parse")
	}
}

func TestLimitHeaders(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("Retry-After", "120")
	if d, ok := retryAfter(h, now); !ok || d != 2*time.Minute {
		t.Errorf("Retry-After: 120 = %v, %v", d, ok)
	}
	h.Set("Retry-After", "Sat, 28 Nov 2026 12:00:30 GMT")
	if d, ok := retryAfter(h, now); !ok || d != 30*time.Second {
		t.Errorf("Retry-After date = %v, %v", d, ok)
	}
	if resetDelay(now.Unix()+9, now) != 9*time.Second || resetDelay(9, now) != 9*time.Second {
		t.Error("reset values are epoch seconds when large and delays otherwise")
	}
	if s, ok := readSforce("api-usage=10018/100000; per-app-api-usage=17/250(appName=x)"); !ok || s.Remaining != 89982 || s.Limit != 100000 {
		t.Errorf("Sforce-Limit-Info = %+v, %v", s, ok)
	}
	h = http.Header{"Ratelimit": {`"burst";r=0;t=3, "daily";r=900;t=3600`}, "Ratelimit-Policy": {`"burst";q=100;w=60, "daily";q=1000;w=86400`}}
	got := readRateLimitFields(h, nil)
	if len(got) != 2 || got[0].Remaining != 0 || got[0].Limit != 100 || got[0].RetryAfter != 3*time.Second || got[1].Limit != 1000 {
		t.Errorf("RateLimit fields = %+v", got)
	}
	if got := readRateLimitFields(http.Header{"Ratelimit": {"garbage"}}, nil); len(got) != 0 {
		t.Errorf("malformed RateLimit must be ignored, got %+v", got)
	}
}

func TestJWTExpiry(t *testing.T) {
	exp := time.Date(2026, 11, 28, 12, 30, 0, 0, time.UTC)
	if got, ok := jwtExpiry(testJWT(exp)); !ok || !got.Equal(exp) {
		t.Errorf("jwtExpiry = %v, %v", got, ok)
	}
	for _, tok := range []string{"opaque-token", "a.b", "a.!!!.c", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"} {
		if _, ok := jwtExpiry(tok); ok {
			t.Errorf("jwtExpiry(%q) found an expiry", tok)
		}
	}
}

func TestQuotaReset(t *testing.T) {
	var r yreader
	q := r.quota(yamlNode(t, `{requests: 50000, resets: "00:00", zone: America/Chicago}`), "quota")
	if len(r.Problems) > 0 {
		t.Fatal(r.Problems)
	}
	// 23:30 Chicago time (05:30 UTC) is half an hour before the reset.
	if got := q.untilReset(time.Date(2026, 11, 29, 5, 30, 0, 0, time.UTC)); got != 30*time.Minute {
		t.Errorf("untilReset = %v", got)
	}
	q = r.quota(yamlNode(t, `{requests: 10, rolling: true}`), "quota")
	if q.untilReset(time.Now()) != 0 {
		t.Error("a rolling quota has no reset time")
	}
	r.quota(yamlNode(t, `{requests: 10, resets: "00:00", zone: Mars/Olympus}`), "quota")
	if len(r.Problems) == 0 || !strings.Contains(r.Problems[0].Msg, "is not a time zone") {
		t.Errorf("problems = %v", r.Problems)
	}
}

// TestOverrides checks a route's changes to a preset, field by field.
func TestOverrides(t *testing.T) {
	p, err := LoadPreset("klaviyo")
	if err != nil {
		t.Fatal(err)
	}
	o, problems := DecodeOverrides(
		yamlNode(t, `[{name: revision, pin: "2026-07-15"}, {name: legacy-v1-v2, off: true}]`),
		yamlNode(t, `[{name: throttled, off: true}, {name: mine, when: {status: 202}, finding: response.empty_success}, {name: http-401, when: {status: 401}, outcome: failed, finding: auth.forbidden}]`),
		yamlNode(t, `{concurrency: 3}`), "routes[0]")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	q, problems := p.WithOverrides(o)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rev := q.Versions[slices.IndexFunc(q.Versions, func(v VersionRule) bool { return v.Name == "revision" })]
	if rev.Pin != "2026-07-15" || rev.Header != "revision" || rev.Lifecycle == nil {
		t.Errorf("revision rule after override = %+v; the pin should be added and the rest kept", rev)
	}
	rules := q.Rules()
	if rules[0].Name != "mine" {
		t.Errorf("a route's new rule runs first, got %s", rules[0].Name)
	}
	for _, r := range rules {
		if r.Name == "throttled" && !r.Off {
			t.Error("throttled should be switched off")
		}
		if r.Name == "http-401" && r.Finding != txn.CodeAuthForbidden {
			t.Error("the generic http-401 rule should be replaced by the route's")
		}
	}
	if q.Limits.Concurrency != 3 || len(q.Limits.Windows) != len(p.Limits.Windows) {
		t.Errorf("limits = %+v; concurrency replaced, windows kept", q.Limits)
	}
	if len(p.RouteRules) != 0 || p.Limits.Concurrency != 0 {
		t.Error("WithOverrides changed the preset it was given")
	}

	o, _ = DecodeOverrides(yamlNode(t, `[{name: nope, off: true}, {name: rest-api, pin: "1"}]`), yamlNode(t, `[{name: nope, off: true}]`), nil, "routes[1]")
	sf, _ := LoadPreset("salesforce")
	_, problems = sf.WithOverrides(o)
	var msgs []string
	for _, p := range problems {
		msgs = append(msgs, p.Key+": "+p.Msg)
	}
	for _, want := range []string{"routes[1].versions[0].name: the preset has no version rule \"nope\"", "routes[1].versions[1].pin: version rule \"rest-api\" reads the version from the path", "routes[1].outcomes[0].name: the preset has no rule \"nope\""} {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, want) }) {
			t.Errorf("missing problem %q in:\n%s", want, strings.Join(msgs, "\n"))
		}
	}
}

// TestPresetsShipped checks the vendors the product promises and that each preset documents
// itself.
func TestPresetsShipped(t *testing.T) {
	names := PresetNames()
	for _, want := range []string{"generic", "hubspot", "salesforce", "marketo", "pardot", "segment", "ga4", "meta", "klaviyo", "intercom", "mailchimp", "mailchimp-transactional", "braze", "iterable"} {
		if !slices.Contains(names, want) {
			t.Errorf("no preset %s", want)
		}
	}
	for _, name := range names {
		p, err := LoadPreset(name)
		if err != nil {
			t.Error(err)
			continue
		}
		if p.Title == "" || p.Docs == "" {
			t.Errorf("preset %s needs a title and docs", name)
		}
		for _, r := range p.Rules() {
			if r.Doc == "" {
				t.Errorf("preset %s rule %s names no vendor doc or RFC", name, r.Name)
			}
		}
		for _, v := range p.Versions {
			if v.Doc == "" {
				t.Errorf("preset %s version rule %s names no vendor doc", name, v.Name)
			}
		}
	}
	if _, err := LoadPreset("nope"); err == nil || !strings.Contains(err.Error(), "known presets: braze") {
		t.Errorf("LoadPreset(nope) = %v", err)
	}
}
