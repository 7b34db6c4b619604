package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var presetKeys = []string{"name", "title", "docs", "upstream", "record_keys", "expiring_within", "limits", "limit_headers", "versions", "auth", "limit_signals", "outcomes"}

var limitsKeys = []string{"doc", "windows", "quota", "concurrency"}

var windowKeys = []string{"name", "requests", "per", "scope", "paths"}

var quotaKeys = []string{"requests", "per", "rolling", "resets", "zone"}

// DecodePreset parses a preset file.
func DecodePreset(src []byte) (*Preset, Problems) {
	var r yreader
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(src)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{Line: 1, Msg: "the preset file is empty"}}
		}
		return nil, Problems{{Msg: "YAML syntax error: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	root := yderef(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = yderef(root.Content[0])
	}
	m, ok := r.mapping(root, "", presetKeys...)
	if !ok {
		return nil, r.problems
	}
	p := &Preset{}
	if s, ok := r.str(m.get("name"), "name"); ok {
		p.Name = s
	} else {
		r.addf(root, "name", "name is required")
	}
	p.Title, _ = r.str(m.get("title"), "title")
	p.Docs, _ = r.str(m.get("docs"), "docs")
	if s, ok := r.str(m.get("upstream"), "upstream"); ok {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.addf(m.get("upstream"), "upstream", "%q is not an absolute http(s) URL", s)
		}
		p.Upstream = s
	}
	for i, s := range r.strs(m.get("record_keys"), "record_keys") {
		if _, err := ParseKeyPath(s); err != nil {
			r.addf(m.get("record_keys"), fmt.Sprintf("record_keys[%d]", i), "%v", err)
			continue
		}
		p.RecordKeys = append(p.RecordKeys, s)
	}
	p.ExpiringWithin, _ = r.duration(m.get("expiring_within"), "expiring_within")
	p.Limits, _ = r.limits(m.get("limits"), "limits")
	for i, s := range r.strs(m.get("limit_headers"), "limit_headers") {
		if !slices.Contains(LimitHeaderFamilies(), s) {
			r.addf(m.get("limit_headers"), fmt.Sprintf("limit_headers[%d]", i), "%q is not a header family (known: %s)", s, strings.Join(LimitHeaderFamilies(), ", "))
			continue
		}
		p.LimitHeaders = append(p.LimitHeaders, s)
	}
	p.Versions = r.versionRules(m.get("versions"), "versions")
	p.Auth = r.rules(m.get("auth"), "auth")
	p.LimitSignals = r.rules(m.get("limit_signals"), "limit_signals")
	p.Outcomes = r.rules(m.get("outcomes"), "outcomes")
	// One name per rule across the three lists, so a route override is unambiguous.
	seen := map[string]bool{}
	for _, l := range [][]Rule{p.Auth, p.LimitSignals, p.Outcomes} {
		for _, rule := range l {
			if seen[rule.Name] {
				r.problems = append(r.problems, Problem{Line: rule.Line, Key: "name", Msg: fmt.Sprintf("rule name %q is used twice in this preset", rule.Name)})
			}
			seen[rule.Name] = true
		}
	}
	for _, rule := range slices.Concat(p.Auth, p.LimitSignals, p.Outcomes) {
		if rule.Off {
			r.problems = append(r.problems, Problem{Line: rule.Line, Key: "off", Msg: "off: belongs in a route's overrides, not in a preset"})
		}
	}
	return p, r.problems
}

// DecodeLimits parses a limits mapping (a preset's, or a route's override). set lists the keys
// given, so an override replaces only those.
func DecodeLimits(n *yaml.Node, key string) (lim Limits, set []string, problems Problems) {
	var r yreader
	lim, set = r.limits(n, key)
	return lim, set, r.problems
}

func (r *yreader) limits(n *yaml.Node, key string) (Limits, []string) {
	var lim Limits
	m, ok := r.mapping(n, key, limitsKeys...)
	if !ok {
		return lim, nil
	}
	var set []string
	for _, f := range m.order {
		set = append(set, f.name)
	}
	lim.Doc, _ = r.str(m.get("doc"), key+".doc")
	if m.get("windows") != nil {
		lim.Windows = []LimitWindow{}
	}
	for i, item := range r.seq(m.get("windows"), key+".windows") {
		wk := fmt.Sprintf("%s.windows[%d]", key, i)
		wm, ok := r.mapping(item, wk, windowKeys...)
		if !ok {
			continue
		}
		w := LimitWindow{}
		w.Name, _ = r.str(wm.get("name"), wk+".name")
		var okReq, okPer bool
		w.Requests, okReq = r.integer(wm.get("requests"), wk+".requests")
		w.Per, okPer = r.duration(wm.get("per"), wk+".per")
		if !wm.has("requests") || !wm.has("per") {
			r.addf(item, wk, "a window needs requests: and per: (100 requests per 10s)")
		}
		w.Scope, _ = r.str(wm.get("scope"), wk+".scope")
		for _, s := range r.strs(wm.get("paths"), wk+".paths") {
			if _, err := parsePathPattern(s, false); err != nil {
				r.addf(wm.get("paths"), wk+".paths", "%v", err)
				continue
			}
			w.Paths = append(w.Paths, s)
		}
		if okReq && okPer {
			lim.Windows = append(lim.Windows, w)
		}
	}
	if m.has("quota") {
		lim.Quota = r.quota(m.get("quota"), key+".quota")
	}
	lim.Concurrency, _ = r.integer(m.get("concurrency"), key+".concurrency")
	return lim, set
}

func (r *yreader) quota(n *yaml.Node, key string) *Quota {
	m, ok := r.mapping(n, key, quotaKeys...)
	if !ok {
		return nil
	}
	q := &Quota{Per: 24 * time.Hour}
	var okReq bool
	q.Requests, okReq = r.integer(m.get("requests"), key+".requests")
	if !okReq && !m.has("requests") {
		r.addf(n, key, "a quota needs requests: (50000)")
	}
	if d, ok := r.duration(m.get("per"), key+".per"); ok {
		q.Per = d
	}
	q.Rolling, _ = r.boolean(m.get("rolling"), key+".rolling")
	if s, ok := r.str(m.get("resets"), key+".resets"); ok {
		t, err := time.Parse("15:04", s)
		if err != nil {
			r.addf(m.get("resets"), key+".resets", "%q is not a time of day (write 00:00)", s)
		} else {
			q.Resets, q.resetMin = s, t.Hour()*60+t.Minute()
		}
	}
	if s, ok := r.str(m.get("zone"), key+".zone"); ok {
		q.Zone = s
		if s != "account" {
			loc, err := time.LoadLocation(s)
			if err != nil {
				r.addf(m.get("zone"), key+".zone", "%q is not a time zone (write an IANA name like America/Chicago, or account)", s)
			}
			q.loc = loc
		}
	}
	switch {
	case q.Rolling && q.Resets != "":
		r.addf(m.get("resets"), key+".resets", "a rolling quota has no reset time")
	case !q.Rolling && q.Resets == "":
		r.addf(n, key, "say when the quota resets (resets: \"00:00\" with zone:) or that it is rolling: true")
	case !q.Rolling && q.Zone == "":
		r.addf(n, key, "give the zone of the reset time (an IANA name like America/Chicago, or account)")
	}
	return q
}

// DecodeOverrides reads a route's versions, outcomes and limits keys (each may be nil); key is
// the route's key path in messages (routes[2]). Version rules may be partial: a rule named like
// a preset's changes only the fields it gives.
func DecodeOverrides(versions, outcomes, limits *yaml.Node, key string) (Overrides, Problems) {
	var r yreader
	var o Overrides
	o.Versions = r.versionRulesOf(versions, yjoin(key, "versions"), true)
	o.Outcomes = r.rules(outcomes, yjoin(key, "outcomes"))
	if ypresent(yderef(limits)) {
		o.Limits, o.LimitsSet = r.limits(limits, yjoin(key, "limits"))
	}
	return o, r.problems
}
