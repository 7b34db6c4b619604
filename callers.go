package main

import (
	"errors"
	"fmt"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
)

// proxyCallers turns a route's configured callers into the proxy's, reading each key and
// signing secret from the environment. A caller whose variable is empty gets an empty secret,
// which never matches (missingCallerSecrets says so).
func proxyCallers(ccs []config.Caller, getenv func(string) string) []proxy.Caller {
	if len(ccs) == 0 {
		return nil
	}
	out := make([]proxy.Caller, 0, len(ccs))
	for _, cc := range ccs {
		c := proxy.Caller{Name: cc.Name, CIDRs: cc.CIDRs}
		switch {
		case cc.Key != nil:
			c.Key = &proxy.CallerKey{Header: cc.Key.Header, Value: getenv(cc.Key.ValueEnv)}
		case cc.Signature != nil:
			c.Signature = &proxy.CallerSignature{Header: cc.Signature.Header, Secret: getenv(cc.Signature.SecretEnv), Scheme: cc.Signature.Scheme}
		}
		out = append(out, c)
	}
	return out
}

// missingCallerSecrets names every caller whose key or secret variable is empty.
func missingCallerSecrets(rcs []config.Route, routes []proxy.Route) error {
	var errs []error
	for i, rc := range rcs {
		for j, cc := range rc.Callers {
			c := routes[i].Callers[j]
			switch {
			case cc.Key != nil && c.Key.Value == "":
				errs = append(errs, fmt.Errorf("route %s: caller %s: key.value_env names %s, but that environment variable is empty; set it to the key the caller sends in %s", rc.Name, cc.Name, cc.Key.ValueEnv, cc.Key.Header))
			case cc.Signature != nil && c.Signature.Secret == "":
				errs = append(errs, fmt.Errorf("route %s: caller %s: signature.secret_env names %s, but that environment variable is empty; set it to the secret the caller signs its bodies with", rc.Name, cc.Name, cc.Signature.SecretEnv))
			}
		}
	}
	return errors.Join(errs...)
}

// envOnce returns getenv reading each variable at most once, however many routes and callers
// name it: a secret is read once at start.
func envOnce(getenv func(string) string) func(string) string {
	seen := map[string]string{}
	return func(k string) string {
		v, ok := seen[k]
		if !ok {
			v = getenv(k)
			seen[k] = v
		}
		return v
	}
}
