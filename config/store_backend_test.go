package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseStoreBackend(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", withRoute("store:", "  backend: postgres", "  dsn_env: MTGUARD_PG_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Backend != StorePostgres || cfg.Store.DSNEnv != "MTGUARD_PG_DSN" {
		t.Fatalf("store = %+v", cfg.Store)
	}
	cfg, err = Parse("mtguard.yaml", withRoute("store:", "  path: x.db"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Backend != "" {
		t.Fatalf("default backend = %q, want empty (bbolt)", cfg.Store.Backend)
	}
}

func TestStoreSpoolPath(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"beside store.path by default", []string{"  path: /var/lib/mtguard/log.db"}, "/var/lib/mtguard/" + SpoolFile},
		{"in spool_dir", []string{"  path: /var/lib/mtguard/log.db", "  spool_dir: /spool"}, "/spool/" + SpoolFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := append([]string{"store:", "  backend: postgres", "  dsn_env: D"}, tt.lines...)
			cfg, err := Parse("mtguard.yaml", withRoute(lines...))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Store.SpoolPath(); got != tt.want {
				t.Fatalf("SpoolPath() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseStoreBackendErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"unknown backend", withRoute("store:", "  backend: mysql"), `mtguard.yaml:2: store.backend: "mysql" is not a backend (write bbolt, the default, or postgres)`},
		{"postgres without dsn_env", withRoute("store:", "  backend: postgres"), "mtguard.yaml:2: store.dsn_env: backend postgres needs dsn_env"},
		{"a DSN instead of a variable", withRoute("store:", "  backend: postgres", "  dsn_env: postgres://u:pw@db/x"), `mtguard.yaml:3: store.dsn_env: "postgres://u:pw@db/x" is not an environment variable name`},
		{"dsn_env with bbolt", withRoute("store:", "  dsn_env: MTGUARD_PG_DSN"), "mtguard.yaml:2: store.dsn_env: only used with backend: postgres"},
		{"spool_dir with bbolt", withRoute("store:", "  spool_dir: /spool"), "mtguard.yaml:2: store.spool_dir: only used with backend: postgres"},
		{"empty spool_dir", withRoute("store:", "  backend: postgres", "  dsn_env: D", `  spool_dir: ""`), "mtguard.yaml:4: store.spool_dir: empty folder"},
		{"encrypt with postgres", withRoute("store:", "  backend: postgres", "  dsn_env: D", "  encrypt: {key_env: K}"), "mtguard.yaml:2: store.encrypt: not supported with backend: postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mtguard.yaml", tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// TestPostgresAcceptsJourneysDriftAndReadBack: journeys, drift learning and read-back keep
// their state in either log (issue 24), so a PostgreSQL config may use them; store.encrypt,
// which only the bbolt file has, is still refused.
func TestPostgresAcceptsJourneysDriftAndReadBack(t *testing.T) {
	src := `
store: {backend: postgres, dsn_env: MTGUARD_PG_DSN%s}
routes:
  - name: form
    prefix: /form
    upstream: https://forms.example.com
    record_keys: [email]
    drift: {learn: 1h}
  - name: crm
    prefix: /crm
    upstream: https://crm.example.com
    record_keys: [email]
    delivery: {mode: queue, accept: {status: 202}}
    verify:
      after: 1m
      request: {method: GET, path: "/contacts/{email}"}
      expect: {status: 200}
journeys:
  - {name: lead, key: email, steps: [form, crm], within: 30m}
`
	tests := []struct {
		name  string
		extra string
		want  string // "" for accepted
	}{
		{"journeys, drift, read-back and the delivery queue", "", ""},
		{"with store.encrypt", ", encrypt: {key_env: K}", "mtguard.yaml:2: store.encrypt: not supported with backend: postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("mtguard.yaml", []byte(fmt.Sprintf(src, tt.extra)))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(cfg.Journeys) != 1 || cfg.Routes[0].Drift == nil || cfg.Routes[1].Verify == nil {
					t.Fatalf("parsed %+v", cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tt.want)
			}
			for _, wrong := range []string{"journey", "drift", "verif", "delivery"} {
				if strings.Contains(err.Error(), wrong) {
					t.Errorf("the error names %s, which works with postgres:\n%v", wrong, err)
				}
			}
		})
	}
}
