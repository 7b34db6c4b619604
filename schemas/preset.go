package schemas

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
// what its answers really mean. Presets are YAML files under schemas/presets/, embedded; a
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
	// RouteRules are the route's own outcome rules; they run before the preset's.
	RouteRules []Rule
	// Base is the generic preset whose rules run after this one's; nil for the generic preset
	// itself and for routes without a preset.
	Base *Preset
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

// untilReset returns how long until the quota resets after now; 0 when unknown.
func (q *Quota) untilReset(now time.Time) time.Duration {
	if q == nil || q.Rolling || q.loc == nil {
		return 0
	}
	t := now.In(q.loc)
	next := time.Date(t.Year(), t.Month(), t.Day(), q.resetMin/60, q.resetMin%60, 0, 0, q.loc)
	if !next.After(t) {
		next = next.AddDate(0, 0, 1)
	}
	return next.Sub(now)
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
		return nil, fmt.Errorf("preset %s (schemas/presets/%s.yaml):\n%w", name, name, problems)
	}
	if p.Name != name {
		return nil, fmt.Errorf("preset file schemas/presets/%s.yaml is named %q inside; make them agree", name, p.Name)
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

	for _, k := range o.LimitsSet {
		switch k {
		case "doc":
			out.Limits.Doc = o.Limits.Doc
		case "windows":
			out.Limits.Windows = o.Limits.Windows
		case "quota":
			out.Limits.Quota = o.Limits.Quota
		case "concurrency":
			out.Limits.Concurrency = o.Limits.Concurrency
		}
	}
	return out, problems
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
func (p *Preset) AddTo(c *Checks, recordKeys []KeyPath) {
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

func (pc *presetChecks) request(now time.Time, req *Request, v *RequestVerdict) {
	checkVersions(pc.versions, now, req, v)
	checkBearerExpiry(pc.within, now, req, v)
}

func (pc *presetChecks) response(now time.Time, req *Request, resp *Response, v *ResponseVerdict) {
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
