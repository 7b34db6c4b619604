package vendors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/yamlstrict"
	"go.yaml.in/yaml/v3"
)

var presetKeys = []string{"name", "title", "docs", "upstream", "record_keys", "expiring_within", "limits", "limit_headers", "versions", "auth", "limit_signals", "outcomes", "drill_answers", "verify", "delivery"}

var limitsKeys = []string{"doc", "windows", "quota", "concurrency"}

// routeLimitsKeys are the limits keys a route may write: a preset's, and the route's group and
// max_wait.
var routeLimitsKeys = append(slices.Clone(limitsKeys), "group", "max_wait", "probe_every", "tier", "granted")

var windowKeys = []string{"name", "requests", "per", "scope", "paths", "resets"}

// groupNameRE is the shape of a limits group name: like a route name, since a group defaults to
// its route's name, and usable unquoted in metric labels and CLI arguments.
var groupNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

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
	root := yamlstrict.Deref(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = yamlstrict.Deref(root.Content[0])
	}
	m, ok := r.Mapping(root, "", presetKeys...)
	if !ok {
		return nil, r.Problems
	}
	p := &Preset{}
	if s, ok := r.Str(m.Get("name"), "name"); ok {
		p.Name = s
	} else {
		r.AddfAt(root, "name", "name is required")
	}
	p.Title, _ = r.Str(m.Get("title"), "title")
	p.Docs, _ = r.Str(m.Get("docs"), "docs")
	if s, ok := r.Str(m.Get("upstream"), "upstream"); ok {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.AddfAt(m.Get("upstream"), "upstream", "%q is not an absolute http(s) URL", s)
		}
		p.Upstream = s
	}
	for i, s := range r.Strs(m.Get("record_keys"), "record_keys") {
		if _, err := schemas.ParseKeyPath(s); err != nil {
			r.AddfAt(m.Get("record_keys"), fmt.Sprintf("record_keys[%d]", i), "%v", err)
			continue
		}
		p.RecordKeys = append(p.RecordKeys, s)
	}
	p.ExpiringWithin, _ = r.Duration(m.Get("expiring_within"), "expiring_within")
	p.Limits, _ = r.limits(m.Get("limits"), "limits", false)
	for i, s := range r.Strs(m.Get("limit_headers"), "limit_headers") {
		if !slices.Contains(LimitHeaderFamilies(), s) {
			r.AddfAt(m.Get("limit_headers"), fmt.Sprintf("limit_headers[%d]", i), "%q is not a header family (known: %s)", s, strings.Join(LimitHeaderFamilies(), ", "))
			continue
		}
		p.LimitHeaders = append(p.LimitHeaders, s)
	}
	p.Versions = r.versionRules(m.Get("versions"), "versions")
	p.Auth = r.rules(m.Get("auth"), "auth")
	p.LimitSignals = r.rules(m.Get("limit_signals"), "limit_signals")
	p.Outcomes = r.rules(m.Get("outcomes"), "outcomes")
	p.DrillAnswers = r.drillAnswers(m.Get("drill_answers"), "drill_answers")
	p.Verify = r.verifyPreset(m.Get("verify"), "verify")
	p.Delivery = r.deliveryOps(m.Get("delivery"), "delivery")
	// One name per rule across the three lists, so a route override is unambiguous.
	seen := map[string]bool{}
	for _, l := range [][]Rule{p.Auth, p.LimitSignals, p.Outcomes} {
		for _, rule := range l {
			if seen[rule.Name] {
				r.Problems = append(r.Problems, Problem{Line: rule.Line, Key: "name", Msg: fmt.Sprintf("rule name %q is used twice in this preset", rule.Name)})
			}
			seen[rule.Name] = true
		}
	}
	for _, rule := range slices.Concat(p.Auth, p.LimitSignals, p.Outcomes) {
		if rule.Off {
			r.Problems = append(r.Problems, Problem{Line: rule.Line, Key: "off", Msg: "off: belongs in a route's overrides, not in a preset"})
		}
	}
	return p, r.Problems
}

// DecodeLimits parses a limits mapping (a preset's, or a route's override). set lists the keys
// given, so an override replaces only those.
func DecodeLimits(n *yaml.Node, key string) (lim Limits, set []string, problems Problems) {
	var r yreader
	lim, set = r.limits(n, key, false)
	return lim, set, r.Problems
}

// limits reads a limits mapping; route is true for a route's, which may also set group and
// max_wait.
func (r *yreader) limits(n *yaml.Node, key string, route bool) (Limits, []string) {
	lim := Limits{key: key}
	known := append(slices.Clone(limitsKeys), "tiers") // a preset's documented editions (tiers.go)
	if route {
		known = routeLimitsKeys
	}
	m, ok := r.Mapping(n, key, known...)
	if !ok {
		return lim, nil
	}
	var set []string
	lim.lines = map[string]int{}
	for _, f := range m.Fields() {
		set = append(set, f.Name)
		lim.lines[f.Name] = f.Key.Line
	}
	lim.Doc, _ = r.Str(m.Get("doc"), key+".doc")
	if m.Get("windows") != nil {
		lim.Windows = []LimitWindow{}
	}
	for i, item := range r.Seq(m.Get("windows"), key+".windows") {
		if w, ok := r.window(item, fmt.Sprintf("%s.windows[%d]", key, i)); ok {
			lim.Windows = append(lim.Windows, w)
		}
	}
	if m.Has("quota") {
		lim.Quota = r.quota(m.Get("quota"), key+".quota")
	}
	lim.Concurrency, _ = r.Int(m.Get("concurrency"), key+".concurrency")
	if s, ok := r.Str(m.Get("group"), key+".group"); ok {
		if groupNameRE.MatchString(s) {
			lim.Group = s
		} else {
			r.AddfAt(m.Get("group"), key+".group", "%q is not a group name (use lowercase letters, digits, _ and -, e.g. marketo-prod)", s)
		}
	}
	lim.MaxWait, _ = r.Duration(m.Get("max_wait"), key+".max_wait")
	lim.ProbeEvery, _ = r.Duration(m.Get("probe_every"), key+".probe_every")
	r.limitsTiers(m, key, &lim, route)
	return lim, set
}

// window reads one window: {requests: 100, per: 20s}, optionally fixed with
// resets: "00:00 America/Chicago".
func (r *yreader) window(item *yaml.Node, wk string) (LimitWindow, bool) {
	wm, ok := r.Mapping(item, wk, windowKeys...)
	if !ok {
		return LimitWindow{}, false
	}
	w := LimitWindow{Line: item.Line, key: wk}
	w.Name, _ = r.Str(wm.Get("name"), wk+".name")
	var okReq, okPer bool
	w.Requests, okReq = r.Int(wm.Get("requests"), wk+".requests")
	if okReq && w.Requests == 0 {
		r.AddfAt(wm.Get("requests"), wk+".requests", "a window of 0 requests lets nothing through; remove the window or give it at least 1")
		okReq = false
	}
	w.Per, okPer = r.Duration(wm.Get("per"), wk+".per")
	if !wm.Has("requests") || !wm.Has("per") {
		r.AddfAt(item, wk, "a window needs requests: and per: (100 requests per 10s)")
	}
	w.Scope, _ = r.Str(wm.Get("scope"), wk+".scope")
	for _, s := range r.Strs(wm.Get("paths"), wk+".paths") {
		if _, err := parsePathPattern(s, false); err != nil {
			r.AddfAt(wm.Get("paths"), wk+".paths", "%v", err)
			continue
		}
		w.Paths = append(w.Paths, s)
	}
	if s, ok := r.Str(wm.Get("resets"), wk+".resets"); ok {
		at, zone, _ := strings.Cut(strings.TrimSpace(s), " ")
		zone = strings.TrimSpace(zone)
		t, err := time.Parse("15:04", at)
		switch {
		case err != nil:
			r.AddfAt(wm.Get("resets"), wk+".resets", "%q does not start with a time of day (write \"00:00 America/Chicago\")", s)
			okReq = false
		case zone == "":
			r.AddfAt(wm.Get("resets"), wk+".resets", "%q has no time zone: write the vendor's after the time, like \"%s America/Chicago\" or \"%s UTC\"", s, at, at)
			okReq = false
		default:
			loc, err := time.LoadLocation(zone)
			if err != nil || zone == "Local" {
				r.AddfAt(wm.Get("resets"), wk+".resets", "%q is not a time zone (write an IANA name like America/Chicago, or UTC)", zone)
				okReq = false
				break
			}
			w.Resets, w.Zone, w.loc, w.resetMin = at, zone, loc, t.Hour()*60+t.Minute()
		}
		if okPer && !resetPeriod(w.Per) {
			r.AddfAt(wm.Get("per"), wk+".per", "a window with resets: restarts every day or every part of one; write per: 24h, or a period that divides a day (12h, 1h, 15m)")
			okPer = false
		}
	}
	return w, okReq && okPer
}

// resetPeriod reports whether a budget with a reset time can have period per: a day, or a
// whole fraction of one, so that every day restarts at the reset time.
func resetPeriod(per time.Duration) bool {
	return per == 24*time.Hour || (per >= time.Minute && per < 24*time.Hour && (24*time.Hour)%per == 0)
}

func (r *yreader) quota(n *yaml.Node, key string) *Quota {
	m, ok := r.Mapping(n, key, quotaKeys...)
	if !ok {
		return nil
	}
	q := &Quota{Per: 24 * time.Hour}
	var okReq bool
	q.Requests, okReq = r.Int(m.Get("requests"), key+".requests")
	if !okReq && !m.Has("requests") {
		r.AddfAt(n, key, "a quota needs requests: (50000)")
	}
	if okReq && q.Requests == 0 {
		r.AddfAt(m.Get("requests"), key+".requests", "a quota of 0 requests lets nothing through; remove the quota or give it at least 1")
	}
	if d, ok := r.Duration(m.Get("per"), key+".per"); ok {
		q.Per = d
	}
	q.Rolling, _ = r.Bool(m.Get("rolling"), key+".rolling")
	if s, ok := r.Str(m.Get("resets"), key+".resets"); ok {
		t, err := time.Parse("15:04", s)
		if err != nil {
			r.AddfAt(m.Get("resets"), key+".resets", "%q is not a time of day (write 00:00)", s)
		} else {
			q.Resets, q.resetMin = s, t.Hour()*60+t.Minute()
		}
	}
	if s, ok := r.Str(m.Get("zone"), key+".zone"); ok {
		q.Zone = s
		if s != "account" {
			loc, err := time.LoadLocation(s)
			if err != nil {
				r.AddfAt(m.Get("zone"), key+".zone", "%q is not a time zone (write an IANA name like America/Chicago, or account)", s)
			}
			q.loc = loc
		}
	}
	if q.Resets != "" && !resetPeriod(q.Per) {
		r.AddfAt(m.Get("per"), key+".per", "a quota with resets: restarts every day or every part of one; write per: 24h, or a period that divides a day (12h, 1h)")
	}
	switch {
	case q.Rolling && q.Resets != "":
		r.AddfAt(m.Get("resets"), key+".resets", "a rolling quota has no reset time")
	case !q.Rolling && q.Resets == "":
		r.AddfAt(n, key, "say when the quota resets (resets: \"00:00\" with zone:) or that it is rolling: true")
	case !q.Rolling && q.Zone == "":
		r.AddfAt(n, key, "give the zone of the reset time (an IANA name like America/Chicago, or account)")
	}
	return q
}

// DecodeOverrides reads a route's versions, outcomes and limits keys (each may be nil); key is
// the route's key path in messages (routes[2]). Version rules may be partial: a rule named like
// a preset's changes only the fields it gives.
func DecodeOverrides(versions, outcomes, limits *yaml.Node, key string) (Overrides, Problems) {
	var r yreader
	var o Overrides
	o.Versions = r.versionRulesOf(versions, yamlstrict.Join(key, "versions"), true)
	o.Outcomes = r.rules(outcomes, yamlstrict.Join(key, "outcomes"))
	if yamlstrict.Present(yamlstrict.Deref(limits)) {
		o.Limits, o.LimitsSet = r.limits(limits, yamlstrict.Join(key, "limits"), true)
	}
	return o, r.Problems
}
