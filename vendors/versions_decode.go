package vendors

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var versionRuleKeys = []string{"name", "doc", "off", "path", "header", "paths", "pin", "unpinned", "lifecycle", "table", "action"}

var versionEntryKeys = []string{"versions", "deprecated", "sunset", "replacement", "action", "note"}

var lifecycleKeys = []string{"deprecated_after", "sunset_after", "replacement", "action"}

// DecodeVersionRules compiles a YAML list of version rules. With partial set (a route's
// versions on top of a preset), a rule may give only its name and the fields it changes; such
// a rule merges into the preset's rule of the same name.
func DecodeVersionRules(n *yaml.Node, key string, partial bool) ([]VersionRule, Problems) {
	var r yreader
	out := r.versionRulesOf(n, key, partial)
	return out, r.Problems
}

func (r *yreader) versionRules(n *yaml.Node, key string) []VersionRule {
	return r.versionRulesOf(n, key, false)
}

// versionRulesOf reads version rules; partial rules (a route's overrides of a preset's rules)
// need only a name and the fields they change.
func (r *yreader) versionRulesOf(n *yaml.Node, key string, partial bool) []VersionRule {
	var out []VersionRule
	seen := map[string]int{}
	for i, item := range r.Seq(n, key) {
		rk := fmt.Sprintf("%s[%d]", key, i)
		vr, ok := r.versionRule(item, rk, partial)
		if !ok {
			continue
		}
		if line, dup := seen[vr.Name]; dup {
			r.AddfAt(item, rk+".name", "%q is already the name of the rule on line %d; names must be unique", vr.Name, line)
			continue
		}
		seen[vr.Name] = item.Line
		out = append(out, vr)
	}
	return out
}

func (r *yreader) versionRule(n *yaml.Node, rk string, partial bool) (VersionRule, bool) {
	before := len(r.Problems)
	m, ok := r.Mapping(n, rk, versionRuleKeys...)
	if !ok {
		return VersionRule{}, false
	}
	vr := VersionRule{Line: n.Line, key: rk}
	for _, f := range m.Fields() {
		vr.set = append(vr.set, f.Name)
	}
	if s, ok := r.Str(m.Get("name"), rk+".name"); ok && s != "" {
		vr.Name = s
	} else {
		r.AddfAt(n, rk, "name is required (a short id such as rest-api; a route uses it to replace or switch off the rule)")
	}
	vr.Doc, _ = r.Str(m.Get("doc"), rk+".doc")
	if off, ok := r.Bool(m.Get("off"), rk+".off"); ok && off {
		vr.Off = true
		return vr, len(r.Problems) == before
	}
	if s, ok := r.Str(m.Get("path"), rk+".path"); ok {
		p, err := parsePathPattern(s, true)
		if err != nil {
			r.AddfAt(m.Get("path"), rk+".path", "%v", err)
		}
		vr.Path, vr.pattern = s, &p
	}
	if s, ok := r.Str(m.Get("header"), rk+".header"); ok {
		vr.Header = s
	}
	switch {
	case vr.Path == "" && vr.Header == "" && !partial:
		r.AddfAt(n, rk, "say where the version lives: path: /services/data/v{version}/ or header: revision")
	case vr.Path != "" && vr.Header != "":
		r.AddfAt(m.Get("header"), rk+".header", "a rule reads the version from a path or a header, not both; write two rules")
	}
	for _, s := range r.Strs(m.Get("paths"), rk+".paths") {
		p, err := parsePathPattern(s, false)
		if err != nil {
			r.AddfAt(m.Get("paths"), rk+".paths", "%v", err)
			continue
		}
		vr.Paths = append(vr.Paths, s)
		vr.scope = append(vr.scope, p)
	}
	if vr.Path != "" && len(vr.Paths) > 0 {
		r.AddfAt(m.Get("paths"), rk+".paths", "paths limits a header rule; a path rule's pattern already says where it applies")
	}
	if s, ok := r.Str(m.Get("pin"), rk+".pin"); ok {
		vr.Pin = s
		if vr.Header == "" && (!partial || vr.Path != "") {
			r.AddfAt(m.Get("pin"), rk+".pin", "pin sends a version header, so it needs header: (a path's version is chosen by the URL the tool calls)")
		}
	}
	if s, ok := r.OneOf(m.Get("unpinned"), rk+".unpinned", ActionWarn, "off"); ok {
		vr.Unpinned = s
	}
	if m.Has("lifecycle") {
		vr.Lifecycle = r.lifecycle(m.Get("lifecycle"), rk+".lifecycle")
	}
	for i, item := range r.Seq(m.Get("table"), rk+".table") {
		if e, ok := r.versionEntry(item, fmt.Sprintf("%s.table[%d]", rk, i)); ok {
			vr.Table = append(vr.Table, e)
		}
	}
	if s, ok := r.OneOf(m.Get("action"), rk+".action", ActionWarn, ActionBlock); ok {
		vr.Action = s
	}
	return vr, len(r.Problems) == before
}

func (r *yreader) versionEntry(n *yaml.Node, ek string) (VersionEntry, bool) {
	before := len(r.Problems)
	m, ok := r.Mapping(n, ek, versionEntryKeys...)
	if !ok {
		return VersionEntry{}, false
	}
	var e VersionEntry
	for _, s := range r.Strs(m.Get("versions"), ek+".versions") {
		rg, err := parseVersionRange(s)
		if err != nil {
			r.AddfAt(m.Get("versions"), ek+".versions", "%v", err)
			continue
		}
		e.Versions = append(e.Versions, s)
		e.ranges = append(e.ranges, rg)
	}
	if !m.Has("versions") {
		r.AddfAt(n, ek, "versions is required (59.0, 31.0..40.0, ..30.0, or a list)")
	}
	e.Deprecated, _ = r.Date(m.Get("deprecated"), ek+".deprecated")
	e.Sunset, _ = r.Date(m.Get("sunset"), ek+".sunset")
	if e.Deprecated.IsZero() && e.Sunset.IsZero() && len(r.Problems) == before {
		r.AddfAt(n, ek, "give deprecated: (when the vendor deprecated these versions) or sunset: (when they stop working), or both")
	}
	if !e.Deprecated.IsZero() && !e.Sunset.IsZero() && e.Sunset.Before(e.Deprecated) {
		r.AddfAt(m.Get("sunset"), ek+".sunset", "the sunset comes before the deprecation")
	}
	e.Replacement, _ = r.Str(m.Get("replacement"), ek+".replacement")
	e.Action = ActionWarn
	if s, ok := r.OneOf(m.Get("action"), ek+".action", ActionWarn, ActionBlock); ok {
		e.Action = s
	}
	e.Note, _ = r.Str(m.Get("note"), ek+".note")
	return e, len(r.Problems) == before
}

func (r *yreader) lifecycle(n *yaml.Node, key string) *Lifecycle {
	m, ok := r.Mapping(n, key, lifecycleKeys...)
	if !ok {
		return nil
	}
	lc := &Lifecycle{Action: ActionWarn}
	lc.DeprecatedAfterMonths, _ = r.months(m.Get("deprecated_after"), key+".deprecated_after")
	lc.SunsetAfterMonths, _ = r.months(m.Get("sunset_after"), key+".sunset_after")
	if lc.DeprecatedAfterMonths == 0 && lc.SunsetAfterMonths == 0 {
		r.AddfAt(n, key, "give deprecated_after or sunset_after (e.g. 12 months, 2 years)")
	}
	lc.Replacement, _ = r.Str(m.Get("replacement"), key+".replacement")
	if s, ok := r.OneOf(m.Get("action"), key+".action", ActionWarn, ActionBlock); ok {
		lc.Action = s
	}
	return lc
}

// months reads "12 months" or "2 years".
func (r *yreader) months(n *yaml.Node, key string) (int, bool) {
	s, ok := r.Str(n, key)
	if !ok {
		return 0, false
	}
	num, unit, _ := strings.Cut(strings.TrimSpace(s), " ")
	v, err := strconv.Atoi(num)
	unit = strings.TrimSpace(unit)
	switch {
	case err != nil || v <= 0:
	case unit == "month" || unit == "months":
		return v, true
	case unit == "year" || unit == "years":
		return 12 * v, true
	}
	r.AddfAt(n, key, "%q is not a period (write 6 months or 2 years)", s)
	return 0, false
}
