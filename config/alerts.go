package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/yamlstrict"
	"go.yaml.in/yaml/v3"
)

// The sink types of alerts.sinks.
const (
	SinkSlack     = "slack"
	SinkPagerDuty = "pagerduty"
	SinkWebhook   = "webhook"
)

// Limits of alert rules, so that a typo cannot make a rule unbounded.
const (
	maxSilenceMin  = 100_000
	maxAlertWindow = 31 * 24 * time.Hour  // rule windows and the reminder interval
	maxSunsetAhead = 366 * 24 * time.Hour // deprecation.sunset_within
)

// Alerts is the top-level alerts: block.
type Alerts struct {
	// Sinks are where alerts are sent, besides the log. Names are unique.
	Sinks []Sink
	// Renotify is how often a firing alert nobody acknowledged is sent again; negative means
	// never. Default alerts.DefaultRenotify.
	Renotify time.Duration
	// SinkFailingFor is how long a sink fails before the other sinks are told
	// (notifications_failing). Zero means alerts.DefaultSinkFailingFor.
	SinkFailingFor time.Duration
}

// Sink is one alerts.sinks item. Secrets (Slack webhook URLs, PagerDuty routing keys,
// webhook signing secrets) are named by environment variable and read at startup: they are
// never in the file, the log or the store.
type Sink struct {
	Name string
	Type string // SinkSlack, SinkPagerDuty or SinkWebhook
	// URL is a webhook's URL, or PagerDuty's Events API endpoint (default
	// alerts.DefaultPagerDutyURL). Slack URLs are secrets and only come from URLEnv.
	URL string
	// URLEnv names the variable holding the URL (slack: required; webhook: or URL).
	URLEnv string
	// RoutingKeyEnv names the variable holding the PagerDuty integration's routing key.
	RoutingKeyEnv string
	// SecretEnv names the variable holding a webhook's HMAC signing secret; optional.
	SecretEnv string
	Line      int
}

// RouteAlerts is a route's alerts: block. The zero value (no alerts: key) is every sink
// and alerts.DefaultRules().
type RouteAlerts struct {
	// Sinks names the sinks of the route's alerts. Nil means every sink; empty, the log only.
	Sinks []string
	// Rules are the route's rules, defaults applied to what the block leaves out; a nil rule is
	// off. If nil, alerts.DefaultRules().
	Rules *alerts.Rules
	// sinkRefs keep where each sink name was written, for the check against alerts.sinks.
	sinkRefs []yamlstrict.Item
}

// offWordRE matches the words that turn a rule (or a route's whole alerts: block) off.
var offWordRE = regexp.MustCompile(`^(?i:off|false|no|none|disabled)$`)

// isOff reports whether n is a scalar that turns something off.
func isOff(n *yaml.Node) bool {
	n = yamlstrict.Deref(n)
	return n != nil && n.Kind == yaml.ScalarNode && offWordRE.MatchString(n.Value)
}

// alerts reads the top-level alerts: block and checks that every route's sinks exist.
func (p *configParser) alerts(n *yaml.Node, routes []Route) Alerts {
	a := Alerts{}
	f, _ := p.Mapping(n, "alerts", "sinks", "renotify", "sink_failing_for")
	a.SinkFailingFor = p.alertDuration(f.Get("sink_failing_for"), "alerts.sink_failing_for", 0, maxAlertWindow)
	if rn := f.Get("renotify"); isOff(rn) {
		a.Renotify = -1
	} else {
		a.Renotify = p.alertDuration(rn, "alerts.renotify", 0, maxAlertWindow)
	}
	names := map[string]int{}
	if sn := yamlstrict.Deref(f.Get("sinks")); yamlstrict.Present(sn) {
		if sn.Kind != yaml.SequenceNode {
			p.Addf(sn.Line, "alerts.sinks", "expected a list of sinks (items like \"- {name: ops-slack, type: slack, url_env: SLACK_WEBHOOK_URL}\"), found %s", yamlstrict.Describe(sn))
		} else {
			for i, item := range sn.Content {
				if s, ok := p.sink(fmt.Sprintf("alerts.sinks[%d]", i), yamlstrict.Deref(item), names); ok {
					a.Sinks = append(a.Sinks, s)
				}
			}
		}
	}
	for i, r := range routes {
		for _, ref := range r.Alerts.sinkRefs {
			if _, ok := names[ref.Val]; !ok {
				known := "none are configured; add them under alerts.sinks"
				if len(names) > 0 {
					var ns []string
					for _, s := range a.Sinks {
						ns = append(ns, s.Name)
					}
					known = "configured: " + strings.Join(ns, ", ")
				}
				p.Addf(ref.Line, fmt.Sprintf("routes[%d].alerts.%s", i, ref.Key), "sink %q is not in alerts.sinks (%s)", ref.Val, known)
			}
		}
	}
	return a
}

func (p *configParser) sink(key string, item *yaml.Node, names map[string]int) (Sink, bool) {
	if item.Kind != yaml.MappingNode {
		p.Addf(item.Line, key, "expected a sink (a mapping with name, type and url_env or routing_key_env), found %s", yamlstrict.Describe(item))
		return Sink{}, false
	}
	f, _ := p.Mapping(item, key, "name", "type", "url", "url_env", "routing_key_env", "secret_env")
	s := Sink{Line: item.Line}
	if v, ok := p.Str(f.Get("name"), key+".name"); ok {
		switch line, dup := names[v]; {
		case !routeNameRE.MatchString(v):
			p.Addf(f.Get("name").Line, key+".name", "%q is not a sink name (lowercase letters, digits, _ and -, e.g. ops-slack)", v)
		case dup:
			p.Addf(f.Get("name").Line, key+".name", "%q is already used by the sink on line %d", v, line)
		default:
			names[v] = item.Line
		}
		s.Name = v
	} else if !yamlstrict.Given(f.Get("name")) {
		p.Addf(item.Line, key, "name is required (routes name it in alerts.sinks)")
	}
	env := func(field string) string {
		v, ok := p.Str(f.Get(field), key+"."+field)
		if ok && !envNameRE.MatchString(v) {
			p.Addf(f.Get(field).Line, key+"."+field, "%q is not an environment variable name; write the variable's name, not the secret", v)
			return ""
		}
		return v
	}
	s.URLEnv, s.RoutingKeyEnv, s.SecretEnv = env("url_env"), env("routing_key_env"), env("secret_env")
	if v, ok := p.Str(f.Get("url"), key+".url"); ok {
		if msg := checkUpstream(v); msg != "" && !strings.Contains(msg, "query") {
			p.Addf(f.Get("url").Line, key+".url", "%q %s", v, strings.Replace(msg, "the vendor base URL", "the endpoint", 1))
		}
		s.URL = v
	}
	not := func(field, why string) {
		if n := f.Get(field); yamlstrict.Given(n) {
			p.Addf(n.Line, key+"."+field, "%s", why)
		}
	}
	typ, ok := p.Str(f.Get("type"), key+".type")
	switch {
	case !ok && !yamlstrict.Given(f.Get("type")):
		p.Addf(item.Line, key, "type is required: slack, pagerduty or webhook")
	case !ok:
	case typ == SinkSlack:
		if s.URLEnv == "" && !yamlstrict.Given(f.Get("url_env")) {
			p.Addf(item.Line, key, "a slack sink needs url_env: the environment variable holding the incoming-webhook URL")
		}
		not("url", "a Slack webhook URL is a secret: put it in an environment variable and name that with url_env")
		not("routing_key_env", "routing_key_env is for pagerduty sinks")
		not("secret_env", "secret_env is for webhook sinks")
	case typ == SinkPagerDuty:
		if s.RoutingKeyEnv == "" && !yamlstrict.Given(f.Get("routing_key_env")) {
			p.Addf(item.Line, key, "a pagerduty sink needs routing_key_env: the environment variable holding the integration's routing key")
		}
		not("url_env", "a pagerduty sink takes url (the Events API endpoint, default "+alerts.DefaultPagerDutyURL+"), not url_env")
		not("secret_env", "secret_env is for webhook sinks")
	case typ == SinkWebhook:
		hasURL, hasEnv := yamlstrict.Given(f.Get("url")), yamlstrict.Given(f.Get("url_env"))
		if hasURL == hasEnv {
			p.Addf(item.Line, key, "a webhook sink needs one of url or url_env (the variable holding a URL that is itself a secret)")
		}
		not("routing_key_env", "routing_key_env is for pagerduty sinks")
	default:
		p.Addf(f.Get("type").Line, key+".type", "%q is not a sink type (slack, pagerduty or webhook)", typ)
	}
	s.Type = typ
	return s, true
}

// EffectiveRules returns the route's rules with the defaults applied.
func (r RouteAlerts) EffectiveRules() alerts.Rules {
	if r.Rules == nil {
		return alerts.DefaultRules()
	}
	return *r.Rules
}

// routeAlerts reads a route's alerts: block. Absent, the route gets alerts.DefaultRules();
// "alerts: off" turns every rule off.
func (p *configParser) routeAlerts(n *yaml.Node, key string) RouteAlerts {
	ra := RouteAlerts{}
	switch {
	case isOff(n):
		ra.Rules = &alerts.Rules{}
		return ra
	case !yamlstrict.Given(n):
		return ra
	}
	defaults := alerts.DefaultRules()
	ra.Rules = &defaults
	f, _ := p.Mapping(n, key, "sinks", "silence", "error_rate", "latency", "auth", "consecutive_failures", "deprecation", "retired", "contract", "throttle", "callers")
	if sn := yamlstrict.Deref(f.Get("sinks")); yamlstrict.Present(sn) {
		ra.Sinks = []string{}
		for _, it := range p.List(sn, key+".sinks") {
			it.Key = strings.TrimPrefix(it.Key, key+".")
			ra.sinkRefs = append(ra.sinkRefs, it)
			ra.Sinks = append(ra.Sinks, it.Val)
		}
	}
	rules := ra.Rules
	if m, on := p.rule(f, key, "silence", "min", "per", "during"); on {
		def := alerts.DefaultSilence()
		r := &alerts.SilenceRule{
			Min: p.alertInt(m.Get("min"), key+".silence.min", 1, maxSilenceMin, def.Min),
			Per: p.alertDuration(m.Get("per"), key+".silence.per", def.Per, maxAlertWindow),
		}
		if s, ok := p.Str(m.Get("during"), key+".silence.during"); ok {
			sc, err := alerts.ParseSchedule(s)
			if err != nil {
				p.Addf(m.Get("during").Line, key+".silence.during", "%v", err)
			}
			r.During = sc
		}
		rules.Silence = r
	} else {
		rules.Silence = nil
	}
	if m, on := p.rule(f, key, "error_rate", "above", "per", "min_calls"); on {
		def := *alerts.DefaultRules().ErrorRate
		rules.ErrorRate = &alerts.ErrorRateRule{
			Above:    p.percent(m.Get("above"), key+".error_rate.above", def.Above, true),
			Per:      p.alertDuration(m.Get("per"), key+".error_rate.per", def.Per, maxAlertWindow),
			MinCalls: p.alertInt(m.Get("min_calls"), key+".error_rate.min_calls", 1, maxSilenceMin, def.MinCalls),
		}
	} else {
		rules.ErrorRate = nil
	}
	if m, on := p.rule(f, key, "latency", "p50_above", "p90_above", "p95_above", "p99_above", "per", "min_calls"); on {
		def := *alerts.DefaultRules().Latency
		r := &alerts.LatencyRule{Percentile: def.Percentile, Above: def.Above,
			Per:      p.alertDuration(m.Get("per"), key+".latency.per", def.Per, maxAlertWindow),
			MinCalls: p.alertInt(m.Get("min_calls"), key+".latency.min_calls", 1, maxSilenceMin, def.MinCalls),
		}
		var set []string
		for _, pk := range []string{"p50_above", "p90_above", "p95_above", "p99_above"} {
			if n := m.Get(pk); yamlstrict.Given(n) {
				set = append(set, pk)
				pct, _ := strconv.Atoi(pk[1:3])
				r.Percentile = float64(pct) / 100
				r.Above = p.alertDuration(n, key+".latency."+pk, def.Above, maxAlertWindow)
			}
		}
		if len(set) > 1 {
			p.Addf(m.Get(set[1]).Line, key+".latency."+set[1], "give one percentile (found %s)", strings.Join(set, " and "))
		}
		rules.Latency = r
	} else {
		rules.Latency = nil
	}
	if m, on := p.rule(f, key, "auth", "consecutive"); on {
		rules.Auth = &alerts.AuthRule{Consecutive: p.alertInt(m.Get("consecutive"), key+".auth.consecutive", 1, 1000, alerts.DefaultRules().Auth.Consecutive)}
	} else {
		rules.Auth = nil
	}
	if m, on := p.rule(f, key, "consecutive_failures", "count"); on {
		rules.ConsecutiveFailures = &alerts.ConsecutiveFailuresRule{Count: p.alertInt(m.Get("count"), key+".consecutive_failures.count", 1, 1000, alerts.DefaultRules().ConsecutiveFailures.Count)}
	} else {
		rules.ConsecutiveFailures = nil
	}
	if m, on := p.rule(f, key, "retired", "calls"); on {
		rules.Retired = &alerts.RetiredRule{Calls: p.alertInt(m.Get("calls"), key+".retired.calls", 1, 1000, alerts.DefaultRules().Retired.Calls)}
	} else {
		rules.Retired = nil
	}
	if m, on := p.rule(f, key, "deprecation", "sunset_within"); on {
		rules.Deprecation = &alerts.DeprecationRule{SunsetWithin: p.alertDuration(m.Get("sunset_within"), key+".deprecation.sunset_within", alerts.DefaultRules().Deprecation.SunsetWithin, maxSunsetAhead)}
	} else {
		rules.Deprecation = nil
	}
	if m, on := p.rule(f, key, "contract", "rejections", "per"); on {
		def := *alerts.DefaultRules().Contract
		rules.Contract = &alerts.ContractRule{
			Rejections: p.alertInt(m.Get("rejections"), key+".contract.rejections", 1, maxSilenceMin, def.Rejections),
			Per:        p.alertDuration(m.Get("per"), key+".contract.per", def.Per, maxAlertWindow),
		}
	} else {
		rules.Contract = nil
	}
	if m, on := p.rule(f, key, "callers", "failures", "per"); on {
		def := *alerts.DefaultRules().Callers
		rules.Callers = &alerts.CallersRule{
			Failures: p.alertInt(m.Get("failures"), key+".callers.failures", 1, maxSilenceMin, def.Failures),
			Per:      p.alertDuration(m.Get("per"), key+".callers.per", def.Per, maxAlertWindow),
		}
	} else {
		rules.Callers = nil
	}
	if m, on := p.rule(f, key, "throttle", "queue_above", "for"); on {
		def := *alerts.DefaultRules().Throttle
		rules.Throttle = &alerts.ThrottleRule{
			QueueAbove: p.percent(m.Get("queue_above"), key+".throttle.queue_above", def.QueueAbove, false),
			For:        p.alertDuration(m.Get("for"), key+".throttle.for", def.For, maxAlertWindow),
		}
	} else {
		rules.Throttle = nil
	}
	return ra
}

// rule reads one rule of a route's alerts: block: on is false when it is turned off, or when
// it is silence and left out (silence has no default: expected volume is the route's own).
func (p *configParser) rule(f yamlstrict.Map, key, name string, known ...string) (m yamlstrict.Map, on bool) {
	n := f.Get(name)
	switch {
	case isOff(n):
		return yamlstrict.Map{}, false
	case !yamlstrict.Given(n):
		return yamlstrict.Map{}, name != "silence"
	}
	m, _ = p.Mapping(n, key+"."+name, known...)
	return m, true
}

// alertDuration reads a Go duration or a whole number of days ("30d"), > 0 and at most max.
func (p *configParser) alertDuration(n *yaml.Node, key string, def, max time.Duration) time.Duration {
	s, ok := p.Str(n, key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if days, found := strings.CutSuffix(s, "d"); found {
		var nd int
		nd, err = strconv.Atoi(days)
		d = time.Duration(nd) * 24 * time.Hour
	}
	switch {
	case err != nil:
		p.Addf(n.Line, key, "%q is not a duration (write 30m, 4h or 30d)", s)
	case d <= 0:
		p.Addf(n.Line, key, "%q must be greater than zero", s)
	case d > max:
		p.Addf(n.Line, key, "%q is longer than %dd", s, max/(24*time.Hour))
	default:
		return d
	}
	return def
}

// alertInt reads a whole number from lo to hi.
func (p *configParser) alertInt(n *yaml.Node, key string, lo, hi, def int) int {
	s, ok := p.Str(n, key)
	if !ok {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		p.Addf(n.Line, key, "%q must be a whole number from %d to %d", s, lo, hi)
		return def
	}
	return v
}

// percent reads "5%" or a fraction like 0.05; zeroOK allows 0%.
func (p *configParser) percent(n *yaml.Node, key string, def float64, zeroOK bool) float64 {
	s, ok := p.Str(n, key)
	if !ok {
		return def
	}
	num, isPct := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if isPct {
		v /= 100
	}
	bad := err != nil || v < 0 || (!isPct && v > 1)
	if zeroOK {
		if bad || v >= 1 {
			p.Addf(n.Line, key, "%q must be a percentage from 0%% to below 100%%, like 5%% (or a fraction like 0.05)", s)
			return def
		}
	} else if bad || v <= 0 || v > 1 {
		p.Addf(n.Line, key, "%q must be a percentage above 0%% up to 100%%, like 80%% (or a fraction like 0.8)", s)
		return def
	}
	return v
}
