package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
)

// issueConfig is the example of the alerting issue, as a user writes it.
const issueConfig = `alerts:
  sinks:
    - {name: ops-slack, type: slack, url_env: SLACK_WEBHOOK_URL}
    - {name: pager, type: pagerduty, routing_key_env: PD_ROUTING_KEY}
    - {name: hook, type: webhook, url: https://hooks.example.com/mtguard, secret_env: HOOK_SECRET}
  renotify: 2h
routes:
  - name: marketo
    prefix: /marketo
    upstream: https://123-ABC-456.mktorest.com
    owner: ops@example.com
    alerts:
      sinks: [ops-slack]
      silence: {min: 1, per: 30m, during: "Mon-Fri 08:00-20:00 America/New_York"}   # expected volume
      error_rate: {above: 5%, per: 10m, min_calls: 20}
      latency: {p95_above: 3s, per: 10m}
      auth: {consecutive: 3}
      deprecation: {sunset_within: 30d}
  - name: crm
    prefix: /crm
    upstream: http://127.0.0.1:9000
  - name: ga4
    prefix: /ga4
    upstream: https://www.google-analytics.com
    alerts: off
  - name: segment
    prefix: /segment
    upstream: https://api.segment.io
    alerts:
      sinks: []
      latency: off
      throttle: {queue_above: 0.9, for: 2m}
`

func TestParseConfigAlerts(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", []byte(issueConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Alerts.Sinks) != 3 || cfg.Alerts.Renotify != 2*time.Hour {
		t.Fatalf("alerts %+v", cfg.Alerts)
	}
	s := cfg.Alerts.Sinks
	if s[0] != (Sink{Name: "ops-slack", Type: "slack", URLEnv: "SLACK_WEBHOOK_URL", Line: 3}) ||
		s[1] != (Sink{Name: "pager", Type: "pagerduty", RoutingKeyEnv: "PD_ROUTING_KEY", Line: 4}) ||
		s[2] != (Sink{Name: "hook", Type: "webhook", URL: "https://hooks.example.com/mtguard", SecretEnv: "HOOK_SECRET", Line: 5}) {
		t.Errorf("sinks %+v", s)
	}

	m := cfg.Routes[0].Alerts
	if strings.Join(m.Sinks, ",") != "ops-slack" {
		t.Errorf("marketo sinks %v", m.Sinks)
	}
	r := m.EffectiveRules()
	if r.Silence == nil || r.Silence.Min != 1 || r.Silence.Per != 30*time.Minute || r.Silence.During.String() != "Mon-Fri 08:00-20:00 America/New_York" {
		t.Errorf("silence %+v", r.Silence)
	}
	if *r.ErrorRate != (alerts.ErrorRateRule{Above: 0.05, Per: 10 * time.Minute, MinCalls: 20}) {
		t.Errorf("error_rate %+v", r.ErrorRate)
	}
	if *r.Latency != (alerts.LatencyRule{Percentile: 0.95, Above: 3 * time.Second, Per: 10 * time.Minute, MinCalls: 20}) {
		t.Errorf("latency %+v", r.Latency)
	}
	if r.Auth.Consecutive != 3 || r.Deprecation.SunsetWithin != 30*24*time.Hour {
		t.Errorf("auth %+v deprecation %+v", r.Auth, r.Deprecation)
	}
	// Rules left out keep their defaults.
	if *r.Contract != *alerts.DefaultRules().Contract || *r.Throttle != *alerts.DefaultRules().Throttle {
		t.Errorf("contract %+v throttle %+v", r.Contract, r.Throttle)
	}

	crm := cfg.Routes[1].Alerts
	if crm.Sinks != nil || crm.EffectiveRules().Silence != nil || *crm.EffectiveRules().ErrorRate != *alerts.DefaultRules().ErrorRate {
		t.Errorf("a route without alerts: gets %+v, want the defaults and every sink", crm)
	}
	if ga4 := cfg.Routes[2].Alerts.EffectiveRules(); ga4 != (alerts.Rules{}) {
		t.Errorf("alerts: off left rules on: %+v", ga4)
	}
	seg := cfg.Routes[3].Alerts
	if seg.Sinks == nil || len(seg.Sinks) != 0 || seg.EffectiveRules().Latency != nil || *seg.EffectiveRules().Throttle != (alerts.ThrottleRule{QueueAbove: 0.9, For: 2 * time.Minute}) {
		t.Errorf("segment %+v", seg)
	}
}

func TestParseConfigAlertsErrors(t *testing.T) {
	route := func(alerts ...string) []byte {
		return yamlLines(append([]string{
			"routes:",
			"  - name: crm",
			"    prefix: /crm",
			"    upstream: http://127.0.0.1:9000",
			"    alerts:",
		}, alerts...)...)
	}
	tests := []struct {
		name string
		data []byte
		line int
		key  string
		msg  string
	}{
		{"unknown rule", route("      silense: {min: 1}"), 6, "routes[0].alerts.silense", "unknown key (known keys: sinks, silence, error_rate"},
		{"unknown rule field", route("      silence: {min: 1, pr: 30m}"), 6, "routes[0].alerts.silence.pr", "unknown key (known keys: min, per, during)"},
		{"bad schedule", route(`      silence: {per: 30m, during: "Mon-Fry 08:00-20:00"}`), 6, "routes[0].alerts.silence.during", `days "Mon-Fry"`},
		{"bad zone", route(`      silence: {during: "Mon-Fri 08:00-20:00 Mars/Base"}`), 6, "routes[0].alerts.silence.during", `time zone "Mars/Base"`},
		{"zero min", route("      silence: {min: 0}"), 6, "routes[0].alerts.silence.min", `"0" must be a whole number from 1 to 100000`},
		{"bad percent", route("      error_rate: {above: 150%}"), 6, "routes[0].alerts.error_rate.above", "must be a percentage from 0% to below 100%"},
		{"percent without sign", route("      error_rate: {above: 5}"), 6, "routes[0].alerts.error_rate.above", "must be a percentage"},
		{"bad duration", route("      error_rate: {per: 10 minutes}"), 6, "routes[0].alerts.error_rate.per", `"10 minutes" is not a duration (write 30m, 4h or 30d)`},
		{"window too long", route("      error_rate: {per: 60d}"), 6, "routes[0].alerts.error_rate.per", "is longer than 31d"},
		{"two percentiles", route("      latency: {p95_above: 3s, p99_above: 5s}"), 6, "routes[0].alerts.latency.p99_above", "give one percentile"},
		{"unknown sink", route("      sinks: [ops-slack]"), 6, "routes[0].alerts.sinks[0]", `sink "ops-slack" is not in alerts.sinks (none are configured`},
		{"slack url in the file", yamlLines(
			"alerts:",
			"  sinks:",
			"    - {name: s, type: slack, url: https://hooks.slack.com/services/T/B/X}",
			"routes: [{name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}]",
		), 3, "alerts.sinks[0].url", "a Slack webhook URL is a secret"},
		{"pagerduty without key", yamlLines(
			"alerts:",
			"  sinks:",
			"    - {name: p, type: pagerduty}",
			"routes: [{name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}]",
		), 3, "alerts.sinks[0]", "needs routing_key_env"},
		{"webhook url and url_env", yamlLines(
			"alerts:",
			"  sinks:",
			"    - {name: h, type: webhook, url: https://x.example.com, url_env: HOOK_URL}",
			"routes: [{name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}]",
		), 3, "alerts.sinks[0]", "one of url or url_env"},
		{"secret written as the env name", yamlLines(
			"alerts:",
			"  sinks:",
			"    - {name: h, type: webhook, url: https://x.example.com, secret_env: s3cr3t-value!}",
			"routes: [{name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}]",
		), 3, "alerts.sinks[0].secret_env", "not an environment variable name"},
		{"unknown type", yamlLines(
			"alerts:",
			"  sinks:",
			"    - {name: e, type: email}",
			"routes: [{name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}]",
		), 3, "alerts.sinks[0].type", `"email" is not a sink type`},
		{"duplicate sink", yamlLines(
			"alerts:",
			"  sinks:",
			"    - {name: s, type: slack, url_env: A}",
			"    - {name: s, type: slack, url_env: B}",
			"routes: [{name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}]",
		), 4, "alerts.sinks[1].name", "already used by the sink on line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mtguard.yaml", tt.data)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *Error", err)
			}
			for _, p := range ce.Problems {
				if p.Line == tt.line && p.Key == tt.key && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("problems:\n%v\nwant line %d key %s: ...%s...", err, tt.line, tt.key, tt.msg)
		})
	}
}

// TestParseConfigNewAlertRules (issue 18, items 7 and 8): consecutive_failures and retired are
// on by default and written like the other rules; the deprecation horizon defaults to 90 days.
func TestParseConfigNewAlertRules(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", []byte(`routes:
  - name: form
    prefix: /form
    upstream: https://api.example.com
    alerts:
      consecutive_failures: {count: 3}
      retired: {calls: 2}
  - name: crm
    prefix: /crm
    upstream: https://crm.example.com
    alerts:
      consecutive_failures: off
      retired: off
      deprecation: {}
  - name: plain
    prefix: /plain
    upstream: https://plain.example.com
`))
	if err != nil {
		t.Fatal(err)
	}
	form := cfg.Routes[0].Alerts.EffectiveRules()
	if form.ConsecutiveFailures == nil || form.ConsecutiveFailures.Count != 3 || form.Retired == nil || form.Retired.Calls != 2 {
		t.Errorf("form: consecutive_failures %+v retired %+v", form.ConsecutiveFailures, form.Retired)
	}
	crm := cfg.Routes[1].Alerts.EffectiveRules()
	if crm.ConsecutiveFailures != nil || crm.Retired != nil || crm.Deprecation.SunsetWithin != 90*24*time.Hour {
		t.Errorf("crm: consecutive_failures %+v retired %+v deprecation %+v", crm.ConsecutiveFailures, crm.Retired, crm.Deprecation)
	}
	plain := cfg.Routes[2].Alerts.EffectiveRules()
	if plain.ConsecutiveFailures == nil || plain.ConsecutiveFailures.Count != 5 || plain.Retired == nil || plain.Retired.Calls != 1 {
		t.Errorf("plain: consecutive_failures %+v retired %+v", plain.ConsecutiveFailures, plain.Retired)
	}
	_, err = Parse("mtguard.yaml", []byte(`routes:
  - name: form
    prefix: /form
    upstream: https://api.example.com
    alerts:
      consecutive_failures: {count: 0}
`))
	if err == nil || !strings.Contains(err.Error(), "routes[0].alerts.consecutive_failures.count") {
		t.Errorf("count 0: %v", err)
	}
}
