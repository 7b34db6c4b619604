package config

import (
	"strings"
	"testing"
)

func TestParseSharedLimits(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", withRoute("limits:", "  shared: {backend: redis, url_env: MTGUARD_REDIS_URL, on_unavailable: hold, instances: 3}"))
	if err != nil {
		t.Fatal(err)
	}
	want := SharedLimits{Backend: "redis", URLEnv: "MTGUARD_REDIS_URL", OnUnavailable: "hold", Instances: 3, Line: 2}
	if s := cfg.SharedLimits; s == nil || *s != want {
		t.Fatalf("limits.shared = %+v, want %+v", s, want)
	}
	cfg, err = Parse("mtguard.yaml", withRoute("limits:", "  shared: {url_env: R}"))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.SharedLimits; s.OnUnavailable != "local-share" || s.Instances != 1 {
		t.Fatalf("defaults: %+v", s)
	}
	if cfg, _ := Parse("mtguard.yaml", withRoute()); cfg.SharedLimits != nil {
		t.Fatalf("without limits: %+v", cfg.SharedLimits)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"no url_env", withRoute("limits:", "  shared: {backend: redis}"), "mtguard.yaml:2: limits.shared.url_env: required"},
		{"a URL instead of a variable", withRoute("limits:", "  shared: {url_env: 'redis://h:6379'}"), `limits.shared.url_env: "redis://h:6379" is not an environment variable name`},
		{"unknown mode", withRoute("limits:", "  shared: {url_env: R, on_unavailable: drop}"), `limits.shared.on_unavailable: "drop" is not an option (write local-share or hold)`},
		{"zero instances", withRoute("limits:", "  shared: {url_env: R, instances: 0}"), "limits.shared.instances: must be at least 1"},
		{"unknown backend", withRoute("limits:", "  shared: {url_env: R, backend: memcached}"), `limits.shared.backend: "memcached" is not a backend`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("mtguard.yaml", tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
