package vendors

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	// Quota resets are in the vendor's time zone (Marketo: US Central); containers often lack
	// a zoneinfo database.
	_ "time/tzdata"

	"github.com/mtguard/mtguard/schemas"
)

// presetFiles are the vendor presets shipped with mtguard, one YAML file per vendor.
//
//go:embed presets/*.yaml
var presetFiles embed.FS

// GenericPreset is the preset every vendor preset builds on: HTTP-level auth and rate-limit
// rules and the standard limit headers. A route to a vendor without a preset can use it alone.
const GenericPreset = "generic"

// Preset is what mtguard knows about one vendor's API: where it lives, where a record's
// identity sits in a payload, its documented limits, how it versions, and the rules that read
// what its answers really mean. Presets are YAML files under vendors/presets/, embedded; a
// route may override any field.
type Preset struct {
	// Name is the preset's id, as a route's preset: names it.
	Name string
	// Title names the vendor and API for people.
	Title string
	// Docs is the vendor's API reference.
	Docs string
	// Upstream is the default vendor base URL; "" when it depends on the account (Marketo's
	// instance host, Salesforce's My Domain), so the route must give one.
	Upstream string
	// RecordKeys are record-key paths (schemas.ParseKeyPath) used when the route gives none.
	RecordKeys []string
	// ExpiringWithin is how close to expiry a token gets auth.expiring. Default
	// DefaultExpiringWithin.
	ExpiringWithin time.Duration
	// Limits are the vendor's documented rate limits, for the throttler.
	Limits Limits
	// LimitHeaders are the header families (LimitHeaderFamilies) the vendor sends.
	LimitHeaders []string
	// Versions are the version rules, checked in order.
	Versions []VersionRule
	// Auth, LimitSignals and Outcomes are rules, checked in this order after the route's own.
	Auth         []Rule
	LimitSignals []Rule
	Outcomes     []Rule
	// Verify is the vendor's read API for one record, for a route's verify: block; nil when
	// the preset ships none.
	Verify *Verify
	// RouteRules are the route's own outcome rules; they run before the preset's.
	RouteRules []Rule
	// Base is the generic preset whose rules run after this one's; nil for the generic preset
	// itself and for routes without a preset.
	Base *Preset
	// DrillAnswers are the vendor's failure answers a drill plays back, by fault
	// (DrillExpireAuth, DrillDiscard); nil when the preset gives none.
	DrillAnswers map[string]DrillAnswer
	// Delivery is what the vendor documents about resending each operation (delivery.go).
	Delivery []DeliveryOp
}

// Limits are a vendor's documented rate limits, kept as data for the throttler.
type Limits struct {
	// Doc is the vendor's rate-limit page.
	Doc string
	// Windows are request budgets per time window (burst and steady rates).
	Windows []LimitWindow
	// Quota is a daily (or other long-period) budget; nil when the vendor documents none.
	Quota *Quota
	// Concurrency is how many calls may be in flight at once; 0 means no documented limit.
	Concurrency int
	// Group and MaxWait come from a route's limits only, never from a preset: the limits group
	// whose budget the route shares with other routes ("" means the route's own), and the
	// longest a call may wait for budget (0 means the throttler's default).
	Group   string
	MaxWait time.Duration
	// ProbeEvery (a route's probe_every) is how often a spent rolling quota is probed.
	ProbeEvery time.Duration
	// Tiers are a preset's documented editions by name; Tier is the one a route picks, and
	// Granted says the route's own figures are what the vendor granted the account, which may
	// be above the preset's (tiers.go).
	Tiers   map[string]Tier
	Tier    string
	Granted bool

	// lines are where a route wrote its limits keys (concurrency, group, ...), and key the
	// limits' key path, for messages about them.
	lines map[string]int
	key   string
}

// LimitWindow is "Requests per Per", counted per Scope.
type LimitWindow struct {
	Name     string
	Requests int
	Per      time.Duration
	// Scope is what the vendor counts by: app, account, instance, workspace, token, ...
	Scope string
	// Paths limit the window to some endpoints (path patterns); empty means every call.
	Paths []string
	// Resets, when set, makes the window fixed rather than sliding: it restarts at this time
	// of day ("00:00") in Zone, and every Per after it (Per is a day or divides one).
	Resets string
	// Zone is the IANA time zone of Resets.
	Zone string
	// Line is where the window was written; 0 when unknown.
	Line int

	key      string
	loc      *time.Location
	resetMin int
}

// Fixed reports whether the window restarts at set times (Resets in Zone) rather than
// sliding.
func (w LimitWindow) Fixed() bool { return w.loc != nil }

// NextReset returns when the fixed window that holds t ends.
func (w LimitWindow) NextReset(t time.Time) time.Time {
	return nextReset(t, w.loc, w.resetMin, w.Per)
}

// Quota is a budget that resets at a fixed time of day (or rolls over Per).
type Quota struct {
	Requests int
	// Per is the quota period. Default 24h.
	Per time.Duration
	// Rolling means the period slides (Salesforce's last 24 hours) rather than resetting.
	Rolling bool
	// Resets is the local time of day the quota resets, "00:00"; "" when Rolling.
	Resets string
	// Zone is the IANA time zone of Resets, or "account" when it is the account's own zone
	// (which the route should then set).
	Zone string

	loc      *time.Location
	resetMin int
}

// Fixed reports whether the quota restarts at a set time of day; false for a rolling quota
// and for one in the account's zone, which a preset cannot know.
func (q *Quota) Fixed() bool { return q != nil && !q.Rolling && q.loc != nil }

// NextReset returns when the quota period that holds t ends; only for a Fixed quota.
func (q *Quota) NextReset(t time.Time) time.Time {
	return nextReset(t, q.loc, q.resetMin, q.Per)
}

// nextReset returns the first reset after t of a budget that restarts resetMin minutes after
// midnight in loc and every per after that (per is a day or divides one). Each day starts
// from its own reset time, so a day of 23 or 25 hours (daylight saving) stays aligned.
func nextReset(t time.Time, loc *time.Location, resetMin int, per time.Duration) time.Time {
	lt := t.In(loc)
	anchor := time.Date(lt.Year(), lt.Month(), lt.Day(), resetMin/60, resetMin%60, 0, 0, loc)
	if anchor.After(lt) {
		anchor = anchor.AddDate(0, 0, -1)
	}
	next := anchor.AddDate(0, 0, 1)
	if per > 0 && per < 24*time.Hour {
		if n := anchor.Add((lt.Sub(anchor)/per + 1) * per); n.Before(next) {
			next = n
		}
	}
	return next
}

// untilReset returns how long until the quota resets after now; 0 when unknown.
func (q *Quota) untilReset(now time.Time) time.Duration {
	if !q.Fixed() {
		return 0
	}
	return q.NextReset(now).Sub(now)
}

// PresetNames lists the shipped presets, sorted.
func PresetNames() []string {
	entries, _ := fs.ReadDir(presetFiles, "presets")
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// PresetSource returns a shipped preset's YAML file, comments and all.
func PresetSource(name string) ([]byte, error) {
	if !slices.Contains(PresetNames(), name) {
		return nil, unknownPreset(name)
	}
	return presetFiles.ReadFile("presets/" + name + ".yaml")
}

func unknownPreset(name string) error {
	return fmt.Errorf("unknown preset %q (known presets: %s)", name, strings.Join(PresetNames(), ", "))
}

// LoadPreset parses a shipped preset. Every preset but the generic one gets the generic
// preset as its Base.
func LoadPreset(name string) (*Preset, error) {
	src, err := PresetSource(name)
	if err != nil {
		return nil, err
	}
	p, problems := DecodePreset(src)
	if len(problems) > 0 {
		return nil, fmt.Errorf("preset %s (vendors/presets/%s.yaml):\n%w", name, name, problems)
	}
	if p.Name != name {
		return nil, fmt.Errorf("preset file vendors/presets/%s.yaml is named %q inside; make them agree", name, p.Name)
	}
	if name != GenericPreset {
		if p.Base, err = LoadPreset(GenericPreset); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Overrides are what a route changes in its preset. Zero fields keep the preset's value.
type Overrides struct {
	Upstream   string
	RecordKeys []string
	// Versions and Outcomes replace the preset's rules of the same name (off: true switches
	// one off); rules with new names run before the preset's.
	Versions []VersionRule
	Outcomes []Rule
	// Limits replaces the preset's limits field by field: those named in LimitsSet.
	Limits    Limits
	LimitsSet []string
}

// WithOverrides returns a copy of p with a route's overrides applied. p may be nil (a route
// without a preset that writes its own rules). Problems name the rule that could not be
// applied, with its line and key.
func (p *Preset) WithOverrides(o Overrides) (*Preset, Problems) {
	out := &Preset{}
	if p != nil {
		c := *p
		out = &c
		out.Versions = slices.Clone(p.Versions)
		out.Auth, out.LimitSignals, out.Outcomes = slices.Clone(p.Auth), slices.Clone(p.LimitSignals), slices.Clone(p.Outcomes)
		out.RouteRules = slices.Clone(p.RouteRules)
		out.Limits.Windows = slices.Clone(p.Limits.Windows)
		if p.Base != nil {
			b := *p.Base
			b.Auth, b.LimitSignals, b.Outcomes = slices.Clone(b.Auth), slices.Clone(b.LimitSignals), slices.Clone(b.Outcomes)
			out.Base = &b
		}
	}
	if o.Upstream != "" {
		out.Upstream = o.Upstream
	}
	if o.RecordKeys != nil {
		out.RecordKeys = o.RecordKeys
	}
	var problems Problems
	var newVersions []VersionRule
	for _, vr := range o.Versions {
		if j := slices.IndexFunc(out.Versions, func(x VersionRule) bool { return x.Name == vr.Name }); j >= 0 {
			out.Versions[j] = out.Versions[j].merge(vr)
			if out.Versions[j].Pin != "" && out.Versions[j].Header == "" {
				problems = append(problems, Problem{Line: vr.Line, Key: vr.key + ".pin",
					Msg: fmt.Sprintf("version rule %q reads the version from the path, so there is no header to pin", vr.Name)})
			}
			continue
		}
		switch {
		case vr.Off:
			problems = append(problems, Problem{Line: vr.Line, Key: vr.key + ".name",
				Msg: fmt.Sprintf("the preset has no version rule %q to switch off (it has: %s)", vr.Name, versionNames(out.Versions))})
		case vr.Path == "" && vr.Header == "":
			problems = append(problems, Problem{Line: vr.Line, Key: vr.key,
				Msg: fmt.Sprintf("the preset has no version rule %q to change (it has: %s); a new rule says where the version lives: path: or header:", vr.Name, versionNames(out.Versions))})
		default:
			newVersions = append(newVersions, vr)
		}
	}
	out.Versions = append(newVersions, out.Versions...)

	lists := []*[]Rule{&out.Auth, &out.LimitSignals, &out.Outcomes}
	if out.Base != nil {
		lists = append(lists, &out.Base.Auth, &out.Base.LimitSignals, &out.Base.Outcomes)
	}
	var newRules []Rule
	for _, r := range o.Outcomes {
		replaced := false
		for _, l := range lists {
			if j := slices.IndexFunc(*l, func(x Rule) bool { return x.Name == r.Name }); j >= 0 {
				(*l)[j] = r
				replaced = true
				break
			}
		}
		switch {
		case replaced:
		case r.Off:
			problems = append(problems, Problem{Line: r.Line, Key: r.key + ".name",
				Msg: fmt.Sprintf("the preset has no rule %q to switch off (mtguard presets show %s lists them)", r.Name, out.Name)})
		default:
			newRules = append(newRules, r)
		}
	}
	out.RouteRules = append(newRules, out.RouteRules...)

	problems = append(problems, out.overrideLimits(o)...)
	return out, problems
}

// overrideLimits applies a route's limits to the preset's. A route may tighten a vendor's
// limit, never loosen it: a window replaces the preset's window of the same period (and
// paths) only with fewer or as many requests, preset windows the route does not name stay,
// and concurrency may only go down. The quota is the exception: presets carry the smallest
// edition's allocation (HubSpot Free, Salesforce's example org), so a route states its
// account's with quota:.
func (p *Preset) overrideLimits(o Overrides) Problems {
	var problems Problems
	lim, ol := &p.Limits, o.Limits
	line := func(k string) int { return ol.lines[k] }
	set := func(k string) bool { return slices.Contains(o.LimitsSet, k) }
	if ps := p.applyTier(o); len(ps) > 0 {
		return ps
	}
	documented := *lim // the preset's figures (or its tier's), before the route's
	documented.Windows = slices.Clone(lim.Windows)
	if set("doc") {
		lim.Doc = ol.Doc
	}
	if set("quota") {
		lim.Quota = ol.Quota
	}
	if set("group") {
		lim.Group = ol.Group
	}
	if set("max_wait") {
		lim.MaxWait = ol.MaxWait
	}
	if set("probe_every") {
		lim.ProbeEvery = ol.ProbeEvery
	}
	if set("concurrency") {
		if c := documented.Concurrency; !ol.Granted && c > 0 && (ol.Concurrency == 0 || ol.Concurrency > c) {
			have := fmt.Sprint(ol.Concurrency)
			if ol.Concurrency == 0 {
				have = "0 (no cap)"
			}
			problems = append(problems, Problem{Line: line("concurrency"), Key: ol.key + ".concurrency",
				Msg: fmt.Sprintf("%s is more than preset %s allows (%d calls at once); a route may tighten a vendor's limit, never loosen it", have, p.Name, c)})
		} else {
			lim.Concurrency = ol.Concurrency
		}
	}
	if !set("windows") {
		return problems
	}
	for i, w := range ol.Windows {
		if j := slices.IndexFunc(ol.Windows[:i], func(x LimitWindow) bool { return sameWindow(x, w) }); j >= 0 {
			problems = append(problems, Problem{Line: w.Line, Key: w.key + ".per",
				Msg: fmt.Sprintf("a second window per %s (the first is on line %d); keep one", shortDuration(w.Per), ol.Windows[j].Line)})
			continue
		}
		if j := slices.IndexFunc(documented.Windows, func(x LimitWindow) bool { return sameWindow(x, w) }); j >= 0 {
			pw := documented.Windows[j]
			if w.Requests > pw.Requests && !ol.Granted {
				problems = append(problems, Problem{Line: w.Line, Key: w.key + ".requests",
					Msg: fmt.Sprintf("%d per %s is more than preset %s allows (%d per %s, window %q); a route may tighten a vendor's limit, never loosen it", w.Requests, shortDuration(w.Per), p.Name, pw.Requests, shortDuration(pw.Per), pw.Name)})
				continue
			}
			k := slices.IndexFunc(lim.Windows, func(x LimitWindow) bool { return sameWindow(x, w) })
			lim.Windows[k] = w
			continue
		}
		if q := lim.Quota; q != nil && len(w.Paths) == 0 && w.Per == q.Per {
			// A window as long as the quota period is the route's way of writing the quota.
			if w.Requests > q.Requests && !ol.Granted {
				source := "preset " + p.Name
				if set("quota") {
					source = fmt.Sprintf("the route's quota (line %d)", line("quota"))
				}
				problems = append(problems, Problem{Line: w.Line, Key: w.key + ".requests",
					Msg: fmt.Sprintf("%d per %s is more than %s allows (a quota of %d per %s); a route may tighten a vendor's limit, never loosen it", w.Requests, shortDuration(w.Per), source, q.Requests, shortDuration(q.Per))})
				continue
			}
			lim.Quota = nil
		}
		lim.Windows = append(lim.Windows, w)
	}
	return problems
}

// sameWindow reports whether two windows budget the same calls over the same period, so that
// one overrides the other.
func sameWindow(a, b LimitWindow) bool {
	if a.Per != b.Per || len(a.Paths) != len(b.Paths) {
		return false
	}
	for _, p := range a.Paths {
		if !slices.Contains(b.Paths, p) {
			return false
		}
	}
	return true
}

func versionNames(vs []VersionRule) string {
	if len(vs) == 0 {
		return "none"
	}
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}

// Rules returns every outcome rule in the order they are checked: the route's, the preset's
// auth, limit_signals and outcomes, then the generic preset's.
func (p *Preset) Rules() []Rule {
	out := slices.Concat(p.RouteRules, p.Auth, p.LimitSignals, p.Outcomes)
	if p.Base != nil {
		out = slices.Concat(out, p.Base.Auth, p.Base.LimitSignals, p.Base.Outcomes)
	}
	return out
}

// AddTo adds the preset's request and response checks to c. recordKeys are the route's
// record keys; records rules that name no keys of their own use those that walk an array.
func (p *Preset) AddTo(c *schemas.Checks, recordKeys []schemas.KeyPath) {
	pc := &presetChecks{
		versions: p.Versions,
		limits:   &p.Limits,
		within:   p.ExpiringWithin,
	}
	if pc.within == 0 {
		pc.within = DefaultExpiringWithin
	}
	pc.families = slices.Clone(p.LimitHeaders)
	if p.Base != nil {
		for _, f := range p.Base.LimitHeaders {
			if !slices.Contains(pc.families, f) {
				pc.families = append(pc.families, f)
			}
		}
	}
	var keyPaths []jpath
	for _, k := range recordKeys {
		if jp, err := parseJPath(k.String()); err == nil && jp.hasEach() {
			keyPaths = append(keyPaths, jp)
		}
	}
	for _, r := range p.Rules() {
		if r.records != nil && r.records.keys == nil {
			rs := *r.records
			rs.keys = keyPaths
			r.records = &rs
		}
		pc.rules = append(pc.rules, r)
	}
	c.Request = append(c.Request, pc.request)
	c.Response = append(c.Response, pc.response)
}

// presetChecks are a preset compiled for one route.
type presetChecks struct {
	versions []VersionRule
	rules    []Rule
	families []string
	limits   *Limits
	within   time.Duration
}

func (pc *presetChecks) request(now time.Time, req *schemas.Request, v *schemas.RequestVerdict) {
	checkVersions(pc.versions, now, req, v)
	checkBearerExpiry(pc.within, now, req, v)
}

func (pc *presetChecks) response(now time.Time, req *schemas.Request, resp *schemas.Response, v *schemas.ResponseVerdict) {
	ctx := ruleCtx{now: now, req: req, resp: resp, limits: pc.limits}
	if len(pc.families) > 0 {
		ctx.hints = readLimitHeaders(pc.families, resp.Header, now, nil)
		v.Signals = append(v.Signals, ctx.hints...)
	}
	checkVersionsResponse(pc.versions, now, req, resp, v)
	evalRules(&ctx, pc.rules, v)
	checkDeprecationHeaders(now, resp, v)
	checkTokenGrant(pc.within, now, resp, v)
}
