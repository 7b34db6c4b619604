package config

import (
	"strings"

	"github.com/mtguard/mtguard/yamlstrict"
)

// Store backends.
const (
	StoreBBolt    = "bbolt"    // one file, one process: the default
	StorePostgres = "postgres" // PostgreSQL, shared by several instances
)

// storeBackend reads store.backend, store.dsn_env and store.spool_dir. The connection string itself is never in
// the file: it holds a password, so it is read from the variable dsn_env names, at start.
func (p *configParser) storeBackend(f yamlstrict.Map, s *Store) {
	// Backend stays empty when not written (bbolt), so the default config is unchanged.
	if v, ok := p.Str(f.Get("backend"), "store.backend"); ok {
		switch v {
		case StoreBBolt, StorePostgres:
			s.Backend = v
		default:
			p.Addf(f.Get("backend").Line, "store.backend", "%q is not a backend (write %s, the default, or %s)", v, StoreBBolt, StorePostgres)
		}
	}
	if v, ok := p.Str(f.Get("dsn_env"), "store.dsn_env"); ok {
		if !envNameRE.MatchString(v) {
			p.Addf(f.Get("dsn_env").Line, "store.dsn_env", "%q is not an environment variable name; put the connection string (postgres://...) in a variable such as MTGUARD_PG_DSN and name the variable here", v)
		} else {
			s.DSNEnv = v
		}
	}
	if v, ok := p.Str(f.Get("spool_dir"), "store.spool_dir"); ok {
		if strings.TrimSpace(v) == "" {
			p.Addf(f.Get("spool_dir").Line, "store.spool_dir", "empty folder; remove the key for the default (store.path's folder)")
		} else {
			s.SpoolDir = v
		}
	}
	switch {
	case s.Backend != StorePostgres && yamlstrict.Given(f.Get("spool_dir")):
		p.Addf(f.Get("spool_dir").Line, "store.spool_dir", "only used with backend: postgres (where writes wait while PostgreSQL does not answer); add it or remove spool_dir")
	case s.Backend == StorePostgres && s.DSNEnv == "" && !yamlstrict.Given(f.Get("dsn_env")):
		p.Addf(f.Get("backend").Line, "store.dsn_env", "backend postgres needs dsn_env: the environment variable holding the connection string, like {backend: postgres, dsn_env: MTGUARD_PG_DSN}")
	case s.Backend != StorePostgres && yamlstrict.Given(f.Get("dsn_env")):
		p.Addf(f.Get("dsn_env").Line, "store.dsn_env", "only used with backend: postgres; add it or remove dsn_env")
	case s.Backend == StorePostgres && s.Encrypt != nil:
		p.Addf(f.Get("backend").Line, "store.encrypt", "not supported with backend: postgres yet; remove encrypt (use the database's encryption at rest) or use bbolt")
	}
}
