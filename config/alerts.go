package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/alerts"
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
	sinkRefs []listItem
}

// offWordRE matches the words that turn a rule (or a route's whole alerts: block) off.
var offWordRE = regexp.MustCompile(`^(?i:off|false|no|none|disabled)$`)

// isOff reports whether n is a scalar that turns something off.
func isOff(n *yaml.Node) bool {
	n = deref(n)
	return n != nil && n.Kind == yaml.ScalarNode && offWordRE.MatchString(n.Value)
}

// alerts reads the top-level alerts: block and checks that every route's sinks exist.
func (p *configParser) alerts(n *yaml.Node, routes []Route) Alerts {
	a := Alerts{}
	f := p.mapping(n, "alerts", "sinks", "renotify")
	if rn := f.get("renotify"); isOff(rn) {
		a.Renotify = -1
	} else {
		a.Renotify = p.alertDuration(rn, "alerts.renotify", 0, maxAlertWindow)
	}
	names := map[string]int{}
	if sn := deref(f.get("sinks")); present(sn) {
		if sn.Kind != yaml.SequenceNode {
			p.addf(sn.Line, "alerts.sinks", "expected a list of sinks (items like \"- {name: ops-slack, type: slack, url_env: SLACK_WEBHOOK_URL}\"), found %s", describe(sn))
		} else {
			for i, item := range sn.Content {
				if s, ok := p.sink(fmt.Sprintf("alerts.sinks[%d]", i), deref(item), names); ok {
					a.Sinks = append(a.Sinks, s)
				}
			}
		}
	}
	for i, r := range routes {
		for _, ref := range r.Alerts.sinkRefs {
			if _, ok := names[ref.val]; !ok {
				known := "none are configured; add them under alerts.sinks"
				if len(names) > 0 {
					var ns []string
					for _, s := range a.Sinks {
						ns = append(ns, s.Name)
					}
					known = "configured: " + strings.Join(ns, ", ")
				}
				p.addf(ref.line, fmt.Sprintf("routes[%d].alerts.%s", i, ref.key), "sink %q is not in alerts.sinks (%s)", ref.val, known)
			}
		}
	}
	return a
}

func (p *configParser) sink(key string, item *yaml.Node, names map[string]int) (Sink, bool) {
	if item.Kind != yaml.MappingNode {
		p.addf(item.Line, key, "expected a sink (a mapping with name, type and url_env or routing_key_env), found %s", describe(item))
		return Sink{}, false
	}
	f := p.mapping(item, key, "name", "type", "url", "url_env", "routing_key_env", "secret_env")
	s := Sink{Line: item.Line}
	if v, ok := p.str(f.get("name"), key+".name"); ok {
		switch line, dup := names[v]; {
		case !routeNameRE.MatchString(v):
			p.addf(f.get("name").Line, key+".name", "%q is not a sink name (lowercase letters, digits, _ and -, e.g. ops-slack)", v)
		case dup:
			p.addf(f.get("name").Line, key+".name", "%q is already used by the sink on line %d", v, line)
		default:
			names[v] = item.Line
		}
		s.Name = v
	} else if !present(deref(f.get("name"))) {
		p.addf(item.Line, key, "name is required (routes name it in alerts.sinks)")
	}
	env := func(field string) string {
		v, ok := p.str(f.get(field), key+"."+field)
		if ok && !envNameRE.MatchString(v) {
			p.addf(f.get(field).Line, key+"."+field, "%q is not an environment variable name; write the variable's name, not the secret", v)
			return ""
		}
		return v
	}
	s.URLEnv, s.RoutingKeyEnv, s.SecretEnv = env("url_env"), env("routing_key_env"), env("secret_env")
	if v, ok := p.str(f.get("url"), key+".url"); ok {
		if msg := checkUpstream(v); msg != "" && !strings.Contains(msg, "query") {
			p.addf(f.get("url").Line, key+".url", "%q %s", v, strings.Replace(msg, "the vendor base URL", "the endpoint", 1))
		}
		s.URL = v
	}
	not := func(field, why string) {
		if n := f.get(field); present(deref(n)) {
			p.addf(n.Line, key+"."+field, "%s", why)
		}
	}
	typ, ok := p.str(f.get("type"), key+".type")
	switch {
	case !ok && !present(deref(f.get("type"))):
		p.addf(item.Line, key, "type is required: slack, pagerduty or webhook")
	case !ok:
	case typ == SinkSlack:
		if s.URLEnv == "" && !present(deref(f.get("url_env"))) {
			p.addf(item.Line, key, "a slack sink needs url_env: the environment variable holding the incoming-webhook URL")
		}
		not("url", "a Slack webhook URL is a secret: put it in an environment variable and name that with url_env")
		not("routing_key_env", "routing_key_env is for pagerduty sinks")
		not("secret_env", "secret_env is for webhook sinks")
	case typ == SinkPagerDuty:
		if s.RoutingKeyEnv == "" && !present(deref(f.get("routing_key_env"))) {
			p.addf(item.Line, key, "a pagerduty sink needs routing_key_env: the environment variable holding the integration's routing key")
		}
		not("url_env", "a pagerduty sink takes url (the Events API endpoint, default "+alerts.DefaultPagerDutyURL+"), not url_env")
		not("secret_env", "secret_env is for webhook sinks")
	case typ == SinkWebhook:
		hasURL, hasEnv := present(deref(f.get("url"))), present(deref(f.get("url_env")))
		if hasURL == hasEnv {
			p.addf(item.Line, key, "a webhook sink needs one of url or url_env (the variable holding a URL that is itself a secret)")
		}
		not("routing_key_env", "routing_key_env is for pagerduty sinks")
	default:
		p.addf(f.get("type").Line, key+".type", "%q is not a sink type (slack, pagerduty or webhook)", typ)
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
	case !present(deref(n)):
		return ra
	}
	defaults := alerts.DefaultRules()
	ra.Rules = &defaults
	f := p.mapping(n, key, "sinks", "silence", "error_rate", "latency", "auth", "consecutive_failures", "deprecation", "retired", "contract", "throttle")
	if sn := deref(f.get("sinks")); present(sn) {
		ra.Sinks = []string{}
		for _, it := range p.list(sn, key+".sinks") {
			it.key = strings.TrimPrefix(it.key, key+".")
			ra.sinkRefs = append(ra.sinkRefs, it)
			ra.Sinks = append(ra.Sinks, it.val)
		}
	}
	rules := ra.Rules
	if m, on := p.rule(f, key, "silence", "min", "per", "during"); on {
		def := alerts.DefaultSilence()
		r := &alerts.SilenceRule{
			Min: p.alertInt(m.get("min"), key+".silence.min", 1, maxSilenceMin, def.Min),
			Per: p.alertDuration(m.get("per"), key+".silence.per", def.Per, maxAlertWindow),
		}
		if s, ok := p.str(m.get("during"), key+".silence.during"); ok {
			sc, err := alerts.ParseSchedule(s)
			if err != nil {
				p.addf(m.get("during").Line, key+".silence.during", "%v", err)
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
			Above:    p.percent(m.get("above"), key+".error_rate.above", def.Above, true),
			Per:      p.alertDuration(m.get("per"), key+".error_rate.per", def.Per, maxAlertWindow),
			MinCalls: p.alertInt(m.get("min_calls"), key+".error_rate.min_calls", 1, maxSilenceMin, def.MinCalls),
		}
	} else {
		rules.ErrorRate = nil
	}
	if m, on := p.rule(f, key, "latency", "p50_above", "p90_above", "p95_above", "p99_above", "per", "min_calls"); on {
		def := *alerts.DefaultRules().Latency
		r := &alerts.LatencyRule{Percentile: def.Percentile, Above: def.Above,
			Per:      p.alertDuration(m.get("per"), key+".latency.per", def.Per, maxAlertWindow),
			MinCalls: p.alertInt(m.get("min_calls"), key+".latency.min_calls", 1, maxSilenceMin, def.MinCalls),
		}
		var set []string
		for _, pk := range []string{"p50_above", "p90_above", "p95_above", "p99_above"} {
			if n := m.get(pk); present(deref(n)) {
				set = append(set, pk)
				pct, _ := strconv.Atoi(pk[1:3])
				r.Percentile = float64(pct) / 100
				r.Above = p.alertDuration(n, key+".latency."+pk, def.Above, maxAlertWindow)
			}
		}
		if len(set) > 1 {
			p.addf(m.get(set[1]).Line, key+".latency."+set[1], "give one percentile (found %s)", strings.Join(set, " and "))
		}
		rules.Latency = r
	} else {
		rules.Latency = nil
	}
	if m, on := p.rule(f, key, "auth", "consecutive"); on {
		rules.Auth = &alerts.AuthRule{Consecutive: p.alertInt(m.get("consecutive"), key+".auth.consecutive", 1, 1000, alerts.DefaultRules().Auth.Consecutive)}
	} else {
		rules.Auth = nil
	}
	if m, on := p.rule(f, key, "consecutive_failures", "count"); on {
		rules.ConsecutiveFailures = &alerts.ConsecutiveFailuresRule{Count: p.alertInt(m.get("count"), key+".consecutive_failures.count", 1, 1000, alerts.DefaultRules().ConsecutiveFailures.Count)}
	} else {
		rules.ConsecutiveFailures = nil
	}
	if m, on := p.rule(f, key, "retired", "calls"); on {
		rules.Retired = &alerts.RetiredRule{Calls: p.alertInt(m.get("calls"), key+".retired.calls", 1, 1000, alerts.DefaultRules().Retired.Calls)}
	} else {
		rules.Retired = nil
	}
	if m, on := p.rule(f, key, "deprecation", "sunset_within"); on {
		rules.Deprecation = &alerts.DeprecationRule{SunsetWithin: p.alertDuration(m.get("sunset_within"), key+".deprecation.sunset_within", alerts.DefaultRules().Deprecation.SunsetWithin, maxSunsetAhead)}
	} else {
		rules.Deprecation = nil
	}
	if m, on := p.rule(f, key, "contract", "rejections", "per"); on {
		def := *alerts.DefaultRules().Contract
		rules.Contract = &alerts.ContractRule{
			Rejections: p.alertInt(m.get("rejections"), key+".contract.rejections", 1, maxSilenceMin, def.Rejections),
			Per:        p.alertDuration(m.get("per"), key+".contract.per", def.Per, maxAlertWindow),
		}
	} else {
		rules.Contract = nil
	}
	if m, on := p.rule(f, key, "throttle", "queue_above", "for"); on {
		def := *alerts.DefaultRules().Throttle
		rules.Throttle = &alerts.ThrottleRule{
			QueueAbove: p.percent(m.get("queue_above"), key+".throttle.queue_above", def.QueueAbove, false),
			For:        p.alertDuration(m.get("for"), key+".throttle.for", def.For, maxAlertWindow),
		}
	} else {
		rules.Throttle = nil
	}
	return ra
}

// rule reads one rule of a route's alerts: block: on is false when it is turned off, or when
// it is silence and left out (silence has no default: expected volume is the route's own).
func (p *configParser) rule(f fields, key, name string, known ...string) (m fields, on bool) {
	n := f.get(name)
	switch {
	case isOff(n):
		return nil, false
	case !present(deref(n)):
		return fields{}, name != "silence"
	}
	m = p.mapping(n, key+"."+name, known...)
	return m, true
}

// alertDuration reads a Go duration or a whole number of days ("30d"), > 0 and at most max.
func (p *configParser) alertDuration(n *yaml.Node, key string, def, max time.Duration) time.Duration {
	s, ok := p.str(n, key)
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
		p.addf(n.Line, key, "%q is not a duration (write 30m, 4h or 30d)", s)
	case d <= 0:
		p.addf(n.Line, key, "%q must be greater than zero", s)
	case d > max:
		p.addf(n.Line, key, "%q is longer than %dd", s, max/(24*time.Hour))
	default:
		return d
	}
	return def
}

// alertInt reads a whole number from lo to hi.
func (p *configParser) alertInt(n *yaml.Node, key string, lo, hi, def int) int {
	s, ok := p.str(n, key)
	if !ok {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		p.addf(n.Line, key, "%q must be a whole number from %d to %d", s, lo, hi)
		return def
	}
	return v
}

// percent reads "5%" or a fraction like 0.05; zeroOK allows 0%.
func (p *configParser) percent(n *yaml.Node, key string, def float64, zeroOK bool) float64 {
	s, ok := p.str(n, key)
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
			p.addf(n.Line, key, "%q must be a percentage from 0%% to below 100%%, like 5%% (or a fraction like 0.05)", s)
			return def
		}
	} else if bad || v <= 0 || v > 1 {
		p.addf(n.Line, key, "%q must be a percentage above 0%% up to 100%%, like 80%% (or a fraction like 0.8)", s)
		return def
	}
	return v
}
