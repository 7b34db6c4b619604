package config

import (
	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/yamlstrict"
)

// SharedLimits is limits.shared: the budgets of every limit group are kept in Redis, so that
// several instances together stay within each vendor's limits.
type SharedLimits struct {
	Backend string // "redis"
	// URLEnv names the environment variable holding the Redis URL (redis://user:pass@host:6379/0).
	URLEnv string
	// OnUnavailable is "local-share" (each instance takes 1/Instances of every budget) or
	// "hold" (calls wait, up to max_wait, until Redis answers).
	OnUnavailable string
	// Instances is how many instances share the budgets (for local-share). Default 1.
	Instances int
	Line      int
}

// sharedLimits reads limits: {shared: {backend: redis, url_env: ..., on_unavailable: ..., instances: N}}.
func (p *configParser) sharedLimits(n *yaml.Node) *SharedLimits {
	n = yamlstrict.Deref(n)
	if !yamlstrict.Present(n) {
		return nil
	}
	f, ok := p.Mapping(n, "limits", "shared")
	if !ok || !f.Has("shared") {
		return nil
	}
	const key = "limits.shared"
	sn := yamlstrict.Deref(f.Get("shared"))
	sf, ok := p.Mapping(sn, key, "backend", "url_env", "on_unavailable", "instances")
	if !ok {
		return nil
	}
	s := &SharedLimits{Backend: "redis", OnUnavailable: "local-share", Instances: 1, Line: sn.Line}
	if v, ok := p.Str(sf.Get("backend"), key+".backend"); ok {
		if v != "redis" {
			p.Addf(sf.Get("backend").Line, key+".backend", "%q is not a backend (write redis)", v)
		}
	}
	v, ok := p.Str(sf.Get("url_env"), key+".url_env")
	switch {
	case !ok && !yamlstrict.Given(sf.Get("url_env")):
		p.Addf(sn.Line, key+".url_env", "required: the environment variable holding the Redis URL, like {backend: redis, url_env: MTGUARD_REDIS_URL}")
	case !ok:
	case !envNameRE.MatchString(v):
		p.Addf(sf.Get("url_env").Line, key+".url_env", "%q is not an environment variable name; put the URL (redis://...) in a variable such as MTGUARD_REDIS_URL and name the variable here", v)
	default:
		s.URLEnv = v
	}
	if v, ok := p.Str(sf.Get("on_unavailable"), key+".on_unavailable"); ok {
		if v == "local-share" || v == "hold" {
			s.OnUnavailable = v
		} else {
			p.Addf(sf.Get("on_unavailable").Line, key+".on_unavailable", "%q is not an option (write local-share or hold)", v)
		}
	}
	if v, ok := p.Int(sf.Get("instances"), key+".instances"); ok {
		if v < 1 {
			p.Addf(sf.Get("instances").Line, key+".instances", "must be at least 1: how many instances share the budgets")
		} else {
			s.Instances = v
		}
	}
	return s
}
