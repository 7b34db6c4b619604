package vendors

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// Version actions.
const (
	ActionWarn  = "warn"
	ActionBlock = "block"
)

// HeaderWarning is added to the answer a tool receives when a version rule warns, so that a
// developer testing the integration sees it without opening mtguard.
const HeaderWarning = "X-Mtguard-Warning"

// VersionRule says where an API's version lives in a call and what the vendor has announced
// about each version: a dated table, so mtguard can count the days to a sunset and name a
// retired version before the vendor's 404 or 410 (or its silent fall-forward) does.
type VersionRule struct {
	// Name identifies the rule in messages and lets a route replace or switch it off.
	Name string
	// Doc is the vendor's versioning or end-of-life page.
	Doc string
	// Off switches off the preset rule of the same name (a route override).
	Off bool
	// Path is a path pattern with {version}, e.g. /services/data/v{version}/; or
	Path string
	// Header is the request header holding the version, e.g. revision or Intercom-Version.
	Header string
	// Paths limits a header rule to these path patterns; empty means every call.
	Paths []string
	// Pin is the version mtguard sends in Header when the caller sent none.
	Pin string
	// Unpinned is warn (the default for header rules) or off: what to say when the caller sent
	// no version header and there is no pin.
	Unpinned string
	// Lifecycle dates versions that are themselves dates (Klaviyo's 2026-07-15 revisions):
	// deprecated and sunset a fixed time after the version's date.
	Lifecycle *Lifecycle
	// Table lists versions with their deprecation and sunset dates; the first entry whose
	// versions contain the call's version applies.
	Table []VersionEntry
	// Action, when set, overrides the action of every entry and of the lifecycle: a route
	// that wants deprecated versions blocked writes action: block once.
	Action string
	// Line is where the rule starts in its YAML file.
	Line int

	key     string // the rule's key path, versions[1], for messages about it
	pattern *pathPattern
	scope   []pathPattern
	// set lists the keys written, so a route override replaces only those fields.
	set []string
}

// merge returns base with the fields o sets replaced by o's: a route that writes
// {name: revision, pin: "2026-07-15"} keeps the preset's header, table and lifecycle.
func (base VersionRule) merge(o VersionRule) VersionRule {
	out := base
	for _, k := range o.set {
		switch k {
		case "doc":
			out.Doc = o.Doc
		case "off":
			out.Off = o.Off
		case "path":
			out.Path, out.pattern, out.Header = o.Path, o.pattern, ""
		case "header":
			out.Header, out.Path, out.pattern = o.Header, "", nil
		case "paths":
			out.Paths, out.scope = o.Paths, o.scope
		case "pin":
			out.Pin = o.Pin
		case "unpinned":
			out.Unpinned = o.Unpinned
		case "lifecycle":
			out.Lifecycle = o.Lifecycle
		case "table":
			out.Table = o.Table
		case "action":
			out.Action = o.Action
		}
	}
	out.Line = o.Line
	return out
}

// Lifecycle is a vendor's policy for dated versions.
type Lifecycle struct {
	DeprecatedAfterMonths int
	SunsetAfterMonths     int
	Replacement           string
	Action                string
}

// VersionEntry is one row of a version table.
type VersionEntry struct {
	// Versions as written: "59.0", "31.0..40.0", "..30.0", "2026-03..", "*" (every version).
	Versions []string
	// Deprecated is when the vendor deprecated the versions; zero means "already, if Sunset
	// is set". From then on calls get endpoint.deprecated.
	Deprecated time.Time
	// Sunset is when the versions stop working; from then on calls get endpoint.retired.
	Sunset time.Time
	// Replacement names what to move to.
	Replacement string
	// Action is warn (the default: record and forward) or block (answer 410 without
	// forwarding).
	Action string
	// Note is added to the message (what the vendor does after the sunset, say).
	Note string

	ranges []versionRange
}

// versionState is what a version rule concluded about one call.
type versionState struct {
	rule    *VersionRule
	version string
	entry   *VersionEntry
	// deprecated, sunset are the entry's (or lifecycle's) dates.
	deprecated, sunset time.Time
	replacement        string
	action             string
	pinned             bool // mtguard supplies the version
	missing            bool // no version and no pin
}

const (
	stateNone = iota
	stateDeprecated
	stateRetired
)

func (s *versionState) state(now time.Time) int {
	switch {
	case s.entry == nil && s.sunset.IsZero():
		return stateNone
	case !s.sunset.IsZero() && !now.Before(s.sunset):
		return stateRetired
	case s.deprecated.IsZero() && !s.sunset.IsZero(), !s.deprecated.IsZero() && !now.Before(s.deprecated):
		return stateDeprecated
	}
	return stateNone
}

// locate finds the version of a call for the rule; ok is false when the rule does not apply.
func (vr *VersionRule) locate(req *schemas.Request, segs []string) (versionState, bool) {
	st := versionState{rule: vr}
	if vr.pattern != nil {
		v, ok := vr.pattern.match(segs)
		if !ok {
			return st, false
		}
		st.version = v
	} else {
		if len(vr.scope) > 0 {
			in := false
			for i := range vr.scope {
				if _, ok := vr.scope[i].match(segs); ok {
					in = true
					break
				}
			}
			if !in {
				return st, false
			}
		}
		st.version = strings.TrimSpace(req.Header.Get(vr.Header))
		if st.version == "" {
			if vr.Pin == "" {
				st.missing = true
				return st, true
			}
			st.version, st.pinned = vr.Pin, true
		}
	}
	for i := range vr.Table {
		e := &vr.Table[i]
		if e.contains(st.version) {
			st.entry = e
			st.deprecated, st.sunset, st.replacement, st.action = e.Deprecated, e.Sunset, e.Replacement, e.Action
			if vr.Action != "" {
				st.action = vr.Action
			}
			return st, true
		}
	}
	if lc := vr.Lifecycle; lc != nil {
		if d, ok := versionDate(st.version); ok {
			if lc.DeprecatedAfterMonths > 0 {
				st.deprecated = d.AddDate(0, lc.DeprecatedAfterMonths, 0)
			}
			if lc.SunsetAfterMonths > 0 {
				st.sunset = d.AddDate(0, lc.SunsetAfterMonths, 0)
			}
			st.replacement, st.action = lc.Replacement, lc.Action
		}
	}
	if vr.Action != "" {
		st.action = vr.Action
	}
	return st, true
}

func (e *VersionEntry) contains(v string) bool {
	for _, r := range e.ranges {
		if r.contains(v) {
			return true
		}
	}
	return false
}

// checkVersions is the request side: pin, warn about or block the call's version. Rules are
// checked in order; the first whose table knows the call's version decides its finding, and
// once a path rule has, later header rules neither pin nor warn.
func checkVersions(rules []VersionRule, now time.Time, req *schemas.Request, v *schemas.RequestVerdict) {
	segs := pathSegments(req.Path)
	decided := false
	for i := range rules {
		vr := &rules[i]
		if vr.Off {
			continue
		}
		if decided && vr.Header != "" {
			continue // a path rule placed the version (Klaviyo's legacy /api/v2/ takes no revision)
		}
		st, ok := vr.locate(req, segs)
		if !ok {
			continue
		}
		if st.missing {
			if vr.Unpinned != "off" {
				v.Findings = append(v.Findings, txn.NewFinding(txn.CodeVersionUnpinned,
					fmt.Sprintf("%s: called without the %s header, so the vendor applies its default version (set pin: in the route's versions to choose it yourself)", vr.Name, vr.Header),
					vr.detail()))
			}
			continue
		}
		if st.pinned {
			if v.SetHeaders == nil {
				v.SetHeaders = http.Header{}
			}
			v.SetHeaders.Set(vr.Header, st.version)
			f := txn.NewFinding(txn.CodeVersionUnpinned,
				fmt.Sprintf("%s: called without the %s header; mtguard sent the pinned %s: %s", vr.Name, vr.Header, vr.Header, st.version), vr.detail())
			f.Severity = "info"
			v.Findings = append(v.Findings, f)
		}
		if decided {
			continue
		}
		state := st.state(now)
		if state == stateNone {
			decided = st.entry != nil
			continue
		}
		decided = true
		code, msg := st.describe(now, state)
		if st.action == ActionBlock {
			title := "API version retired"
			if state == stateDeprecated {
				title = "API version blocked by the route's policy"
			}
			v.Reject = &schemas.Rejection{Status: http.StatusGone, Code: code, Title: title,
				Detail: msg + " mtguard did not forward the call (action: block)."}
			continue
		}
		v.Findings = append(v.Findings, st.finding(code, msg))
		if v.AnswerHeaders == nil {
			v.AnswerHeaders = http.Header{}
		}
		v.AnswerHeaders.Add(HeaderWarning, code+"; "+msg)
	}
}

// checkVersionsResponse is the response side: a 410 on a versioned call, or a 404 on a version
// the table lists as deprecated, means the vendor retired it (possibly ahead of its dates).
func checkVersionsResponse(rules []VersionRule, now time.Time, req *schemas.Request, resp *schemas.Response, v *schemas.ResponseVerdict) {
	if resp.Status != http.StatusGone && resp.Status != http.StatusNotFound {
		return
	}
	segs := pathSegments(req.Path)
	for i := range rules {
		vr := &rules[i]
		if vr.Off {
			continue
		}
		st, ok := vr.locate(req, segs)
		if !ok || st.missing {
			continue
		}
		state := st.state(now)
		if state == stateRetired {
			return // the request side said so already
		}
		if resp.Status == http.StatusNotFound && state != stateDeprecated {
			continue
		}
		msg := fmt.Sprintf("%s: the vendor answered %d %s for version %s", vr.Name, resp.Status, http.StatusText(resp.Status), st.version)
		if state == stateDeprecated && !st.sunset.IsZero() {
			msg += fmt.Sprintf(", ahead of its announced sunset on %s", st.sunset.Format(time.DateOnly))
		}
		msg += "; the version is retired"
		if st.replacement != "" {
			msg += "; move to " + st.replacement
		}
		msg += ". Add it to the route's versions table with its sunset date."
		v.Findings = append(v.Findings, st.finding(txn.CodeEndpointRetired, msg))
		return
	}
}

// finding carries the version's sunset date and replacement as fields, so that the alert rules
// and the console read them without parsing msg.
func (st *versionState) finding(code, msg string) txn.Finding {
	f := txn.NewFinding(code, msg, st.rule.detail())
	if !st.sunset.IsZero() {
		sunset := st.sunset
		f.Sunset = &sunset
	}
	f.Replacement = st.replacement
	return f
}

// describe writes the finding for a deprecated or retired version.
func (st *versionState) describe(now time.Time, state int) (code, msg string) {
	vr := st.rule
	var b strings.Builder
	what := "version " + st.version
	if st.pinned {
		what = "pinned version " + st.version
	}
	if state == stateRetired {
		code = txn.CodeEndpointRetired
		fmt.Fprintf(&b, "%s: %s was retired on %s (%s ago)", vr.Name, what, st.sunset.Format(time.DateOnly), daysText(int(now.Sub(st.sunset).Hours()/24)))
	} else {
		code = txn.CodeEndpointDeprecated
		fmt.Fprintf(&b, "%s: %s is deprecated", vr.Name, what)
		if !st.deprecated.IsZero() {
			fmt.Fprintf(&b, " since %s", st.deprecated.Format(time.DateOnly))
		}
		if !st.sunset.IsZero() {
			fmt.Fprintf(&b, "; it stops working on %s, %s left", st.sunset.Format(time.DateOnly), daysText(daysBetween(now, st.sunset)))
		}
	}
	if st.replacement != "" {
		b.WriteString("; move to " + st.replacement)
	}
	if st.entry != nil && st.entry.Note != "" {
		b.WriteString(" (" + st.entry.Note + ")")
	}
	b.WriteString(".")
	return code, b.String()
}

// daysBetween counts whole days from a to b, rounding up: a sunset 3 hours away is 1 day away.
func daysBetween(a, b time.Time) int {
	return int(math.Ceil(b.Sub(a).Hours() / 24))
}

func daysText(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

func (vr *VersionRule) detail() string {
	if vr.Doc == "" {
		return "version rule " + vr.Name
	}
	return "version rule " + vr.Name + "; see " + vr.Doc
}

// versionRange is an inclusive range of versions; an empty end is open.
type versionRange struct {
	lo, hi string
}

func parseVersionRange(s string) (versionRange, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return versionRange{}, nil
	}
	if s == "" || s == ".." {
		return versionRange{}, fmt.Errorf("%q is not a version or range (write 59.0, 31.0..40.0, ..30.0 or 2026-03..)", s)
	}
	lo, hi, isRange := strings.Cut(s, "..")
	if !isRange {
		return versionRange{lo: s, hi: s}, nil
	}
	lo, hi = strings.TrimSpace(lo), strings.TrimSpace(hi)
	if lo != "" && hi != "" && compareVersions(lo, hi) > 0 {
		return versionRange{}, fmt.Errorf("%q starts after it ends", s)
	}
	return versionRange{lo: lo, hi: hi}, nil
}

func (r versionRange) contains(v string) bool {
	return (r.lo == "" || compareVersions(v, r.lo) >= 0) && (r.hi == "" || compareVersions(v, r.hi) <= 0)
}

// compareVersions orders versions piece by piece, numerically where both pieces are numbers:
// 9.0 < 59.0 < 60.0, 2.9 < 2.14, 2025-09 < 2026-03, v2 = 2.
func compareVersions(a, b string) int {
	a, b = strings.TrimLeft(a, "vV"), strings.TrimLeft(b, "vV")
	for a != "" || b != "" {
		var pa, pb string
		pa, a = versionPiece(a)
		pb, b = versionPiece(b)
		na, errA := strconv.Atoi(pa)
		nb, errB := strconv.Atoi(pb)
		switch {
		case pa == pb:
			continue
		case errA == nil && errB == nil:
			if na < nb {
				return -1
			}
			if na > nb {
				return 1
			}
		case pa == "":
			return -1
		case pb == "":
			return 1
		case pa < pb:
			return -1
		default:
			return 1
		}
	}
	return 0
}

func versionPiece(s string) (piece, rest string) {
	i := strings.IndexAny(s, ".-_")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// versionDate reads a dated version: 2026-07-15, 2026-03, 202603 (suffixes like ".pre" are
// ignored).
func versionDate(v string) (time.Time, bool) {
	v, _, _ = strings.Cut(v, ".")
	for _, layout := range []string{"2006-01-02", "2006-01", "200601"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
