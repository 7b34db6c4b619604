package config

import "fmt"

// checkBackendFeatures refuses the features whose state only the bbolt log keeps yet (journeys
// in flight, learned payload shapes, read-back findings) when the log is PostgreSQL, rather
// than running them on one instance's memory and losing what they know.
func (p *configParser) checkBackendFeatures(cfg *Config) {
	if cfg.Store.Backend != StorePostgres {
		return
	}
	const why = "is not available with store.backend: postgres yet (its state is kept in the bbolt log only); remove it or use the bbolt backend"
	for i, j := range cfg.Journeys {
		p.Addf(j.Line, fmt.Sprintf("journeys[%d]", i), "a journey %s", why)
	}
	for i, r := range cfg.Routes {
		if r.Drift != nil {
			p.Addf(r.Drift.Line, fmt.Sprintf("routes[%d].drift", i), "drift learning %s", why)
		}
		if r.Verify != nil {
			p.Addf(r.Verify.Line, fmt.Sprintf("routes[%d].verify", i), "read-back verification %s", why)
		}
	}
}
