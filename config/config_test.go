package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/yamlstrict"
)

// yamlLines joins lines with newlines, so a case's line numbers are its argument positions.
func yamlLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

// withRoute appends a routes list that passes every check, for cases about other keys.
func withRoute(lines ...string) []byte {
	return yamlLines(append(lines,
		"routes:",
		"  - name: crm",
		"    prefix: /crm",
		"    upstream: http://127.0.0.1:9000",
	)...)
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		line int
		key  string // "" for problems not about a key
		msg  string // a fragment of the message
	}{
		{
			name: "unknown top-level key",
			data: withRoute("listn: 127.0.0.1:8080"),
			line: 1, key: "listn", msg: "unknown key (known keys: listen, admin, store, redact, routes",
		},
		{
			name: "unknown nested key",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
				"    upstream: http://127.0.0.1:9000",
				"    upstreem: http://127.0.0.1:9001",
			),
			line: 5, key: "routes[0].upstreem", msg: "unknown key (known keys: name, prefix, upstream",
		},
		{
			name: "duplicate key",
			data: withRoute(
				"store:",
				"  retention: 24h",
				"  retention: 48h",
			),
			line: 3, key: "store.retention", msg: "first on line 2",
		},
		{
			name: "missing upstream",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
			),
			line: 2, key: "routes[0]", msg: "upstream is required (the vendor base URL, e.g. https://api.hubapi.com)",
		},
		{
			name: "missing name",
			data: yamlLines(
				"routes:",
				"  - prefix: /crm",
				"    upstream: http://127.0.0.1:9000",
			),
			line: 2, key: "routes[0]", msg: "name is required",
		},
		{
			name: "upstream without scheme",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
				"    upstream: api.hubapi.com",
			),
			line: 4, key: "routes[0].upstream", msg: "absolute http or https URL",
		},
		{
			name: "upstream with query",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
				"    upstream: https://api.hubapi.com?hapikey=x",
			),
			line: 4, key: "routes[0].upstream", msg: "query string",
		},
		{
			name: "bad route name",
			data: yamlLines(
				"routes:",
				"  - name: CRM",
				"    prefix: /crm",
				"    upstream: http://127.0.0.1:9000",
			),
			line: 2, key: "routes[0].name", msg: `"CRM" is not a route name`,
		},
		{
			name: "duplicate route name",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
				"    upstream: http://127.0.0.1:9000",
				"  - name: crm",
				"    prefix: /forms",
				"    upstream: http://127.0.0.1:9001",
			),
			line: 5, key: "routes[1].name", msg: `"crm" is already used by the route on line 2`,
		},
		{
			name: "prefix with trailing slash",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm/",
				"    upstream: http://127.0.0.1:9000",
			),
			line: 3, key: "routes[0].prefix", msg: `must not end with "/"`,
		},
		{
			name: "duplicate prefix",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
				"    upstream: http://127.0.0.1:9000",
				"  - name: crm2",
				"    prefix: /crm",
				"    upstream: http://127.0.0.1:9001",
			),
			line: 6, key: "routes[1].prefix", msg: `"/crm" is already used by route "crm" (line 3); give each route its own prefix`,
		},
		{
			name: "overlapping prefix",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
				"    upstream: http://127.0.0.1:9000",
				"  - name: crm-v2",
				"    prefix: /crm/v2",
				"    upstream: http://127.0.0.1:9001",
			),
			line: 6, key: "routes[1].prefix", msg: `"/crm/v2" overlaps "/crm" of route "crm" (line 3)`,
		},
		{
			name: "bad duration",
			data: withRoute(
				"store:",
				"  retention: 30 days",
			),
			line: 2, key: "store.retention", msg: `"30 days" is not a duration (write Go syntax like 720h or 30m)`,
		},
		{
			name: "zero route timeout",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
				"    upstream: http://127.0.0.1:9000",
				"    timeout: 0s",
			),
			line: 5, key: "routes[0].timeout", msg: "greater than zero",
		},
		{
			name: "bad size",
			data: withRoute(
				"store:",
				"  max_body: 10 megs",
			),
			line: 2, key: "store.max_body", msg: `"10 megs" is not a size`,
		},
		{
			name: "capture_body over max_body",
			data: withRoute(
				"store:",
				"  max_body: 1KiB",
				"  capture_body: 2KB",
			),
			line: 3, key: "store.capture_body", msg: "more than max_body (1024 bytes)",
		},
		{
			name: "bad on_error",
			data: withRoute(
				"store:",
				"  on_error: drop",
			),
			line: 2, key: "store.on_error", msg: `"drop" is not an option (write forward or reject)`,
		},
		{
			name: "bad record key path",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
				"    upstream: http://127.0.0.1:9000",
				"    record_keys:",
				"      - email",
				"      - properties..email",
			),
			line: 7, key: "routes[0].record_keys[1]", msg: `record key path "properties..email"`,
		},
		{
			name: "non-loopback admin without token_env",
			data: withRoute(
				"admin:",
				"  listen: 0.0.0.0:9090",
			),
			line: 2, key: "admin.listen", msg: "admin.token_env is required",
		},
		{
			name: "token instead of token_env name",
			data: withRoute(
				"admin:",
				"  listen: 127.0.0.1:9090",
				"  token_env: s3cr3t-t0ken!",
			),
			line: 3, key: "admin.token_env", msg: "not an environment variable name",
		},
		{
			name: "admin on the data-plane address",
			data: withRoute(
				"listen: 127.0.0.1:8080",
				"admin:",
				"  listen: 127.0.0.1:8080",
			),
			line: 3, key: "admin.listen", msg: "also the data-plane listen address",
		},
		{
			name: "bad listen address",
			data: withRoute("listen: 8080"),
			line: 1, key: "listen", msg: "not host:port",
		},
		{
			name: "list where a string is expected",
			data: withRoute(
				"store:",
				"  path: [a, b]",
			),
			line: 2, key: "store.path", msg: "expected a single value, found a list",
		},
		{
			name: "string where a list is expected",
			data: withRoute(
				"redact:",
				"  headers: X-Secret",
			),
			line: 2, key: "redact.headers", msg: "expected a list",
		},
		{
			name: "string where a mapping is expected",
			data: withRoute("admin: 127.0.0.1:9090"),
			line: 1, key: "admin", msg: "expected a mapping",
		},
		{
			name: "YAML syntax error",
			data: yamlLines(
				"listen: 127.0.0.1:8080",
				"routes:",
				"  - name: crm",
				"    prefix /crm",
				"    upstream: http://127.0.0.1:9000",
			),
			line: 4, key: "", msg: "YAML syntax error: could not find expected ':'",
		},
		{
			// yaml.v3 drops the position of errors on the first line; Parse puts it back.
			name: "YAML syntax error on line 1",
			data: withRoute("listen: a: b"),
			line: 1, key: "", msg: "YAML syntax error: mapping values are not allowed",
		},
		{
			name: "YAML unknown anchor",
			data: yamlLines(
				"routes:",
				"  - name: crm",
				"    prefix: /crm",
				"    upstream: *vendor",
			),
			line: 4, key: "", msg: "unknown anchor 'vendor'",
		},
		{
			name: "invalid UTF-8",
			data: withRoute("listen: \xff"),
			line: 1, key: "", msg: "UTF-8",
		},
		{
			name: "second YAML document",
			data: append(withRoute(), yamlLines("---", "listen: :8080")...),
			line: 5, key: "", msg: "second YAML document",
		},
		{
			name: "empty file",
			data: nil,
			line: 1, key: "", msg: "the file is empty",
		},
		{
			name: "comments only",
			data: yamlLines("# nothing yet"),
			line: 1, key: "", msg: "the file is empty",
		},
		{
			name: "no routes",
			data: yamlLines("listen: 127.0.0.1:8080"),
			line: 1, key: "routes", msg: "at least one route is required",
		},
		{
			name: "empty routes list",
			data: yamlLines(
				"listen: 127.0.0.1:8080",
				"routes: []",
			),
			line: 2, key: "routes", msg: "at least one route is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("mtguard.yaml", tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want an error", cfg)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *Error: %v", err, err)
			}
			prefix := fmt.Sprintf("mtguard.yaml:%d: ", tt.line)
			if tt.key != "" {
				prefix += tt.key + ": "
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, tt.msg) {
					return
				}
			}
			t.Errorf("error has no line starting %q and containing %q; got:\n%v", prefix, tt.msg, err)
		})
	}
}

func TestParseConfigCollectsAllProblemsSortedByLine(t *testing.T) {
	data := yamlLines(
		"routes:",
		"  - name: crm",
		"    prefix: crm",
		"    upstream: ftp://vendor.example",
		"store:",
		"  retention: forever",
		"listn: x",
	)
	_, err := Parse("mtguard.yaml", data)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, fmt.Sprintf("%d %s", p.Line, p.Key))
	}
	want := []string{"3 routes[0].prefix", "4 routes[0].upstream", "6 store.retention", "7 listn"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %q, want %q\n%v", got, want, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("Error() has %d lines, want %d:\n%v", n, len(want), err)
	}
}

func TestParseConfigValid(t *testing.T) {
	data := yamlLines(
		"listen: 0.0.0.0:8080",
		"admin:",
		"  listen: 0.0.0.0:9090",
		"  token_env: MTGUARD_ADMIN_TOKEN",
		"store:",
		"  path: /var/lib/mtguard/log.db",
		"  retention: 168h",
		"  max_body: 2MB",
		"  capture_body: 64KiB",
		"  on_error: reject",
		"redact:",
		"  headers: [X-Custom-Secret]",
		"  query: [sig]",
		"  fields: [ssn]",
		"routes:",
		"  - name: crm",
		"    prefix: /crm",
		"    upstream: http://127.0.0.1:9000",
		"    owner: ops@example.com",
		`    record_keys: [email, properties.email, "input[].email"]`,
		"    timeout: 5s",
		"  - name: forms",
		"    prefix: /forms",
		"    upstream: https://api.example.com/v3",
	)
	got, err := Parse("mtguard.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Listen: "0.0.0.0:8080",
		Admin:  Admin{Listen: "0.0.0.0:9090", TokenEnv: "MTGUARD_ADMIN_TOKEN"},
		Store: Store{
			Path:        "/var/lib/mtguard/log.db",
			Retention:   168 * time.Hour,
			MaxBody:     2_000_000,
			CaptureBody: 64 << 10,
			OnError:     OnErrorReject,
		},
		Redact: Redact{Headers: []string{"X-Custom-Secret"}, Query: []string{"sig"}, Fields: []string{"ssn"}},
		Routes: []Route{
			{
				Name: "crm", Prefix: "/crm", Upstream: "http://127.0.0.1:9000", Owner: "ops@example.com",
				RecordKeys: []string{"email", "properties.email", "input[].email"},
				Timeout:    5 * time.Second, Line: 16,
			},
			{Name: "forms", Prefix: "/forms", Upstream: "https://api.example.com/v3", Timeout: DefaultRouteTimeout, Line: 22},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	got, err := Parse("mtguard.yaml", withRoute())
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Listen: DefaultListen,
		Admin:  Admin{Listen: DefaultAdminListen},
		Store: Store{
			Path:        DefaultStorePath,
			Retention:   720 * time.Hour,
			MaxBody:     10 << 20,
			CaptureBody: 1 << 20,
			OnError:     OnErrorForward,
		},
		Routes: []Route{{Name: "crm", Prefix: "/crm", Upstream: "http://127.0.0.1:9000", Timeout: 30 * time.Second, Line: 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1048576", 1 << 20},
		{"512B", 512},
		{"10KB", 10_000},
		{"10 MB", 10_000_000},
		{"1GB", 1_000_000_000},
		{"10KiB", 10 << 10},
		{"10MiB", 10 << 20},
		{"2gib", 2 << 30},
	}
	for _, tt := range tests {
		got, err := yamlstrict.ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "10 megs", "1.5MiB", "-1", "MiB", "99999999999GiB"} {
		if got, err := yamlstrict.ParseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, got)
		}
	}
}

func TestLoadConfigResolvesRelativeStorePath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		store []string
		want  string
	}{
		{"relative", []string{"store:", "  path: data/log.db"}, filepath.Join(dir, "data", "log.db")},
		{"default", nil, filepath.Join(dir, "mtguard.db")},
		{"absolute", []string{"store:", "  path: /var/lib/mtguard.db"}, "/var/lib/mtguard.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".yaml")
			if err := os.WriteFile(path, withRoute(tt.store...), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Store.Path != tt.want {
				t.Errorf("Store.Path = %q, want %q", cfg.Store.Path, tt.want)
			}
			if cfg.File != path {
				t.Errorf("File = %q, want %q", cfg.File, path)
			}
		})
	}
}

func TestLoadConfigNamesFileInErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, yamlLines("listen: 127.0.0.1:8080"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":1: routes: ") {
		t.Errorf("Load error = %v, want it to start with %q", err, path+":1: routes: ")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want os.ErrNotExist", err)
	}
}

func TestParseConfigAuth(t *testing.T) {
	base := "admin: {listen: 127.0.0.1:9090%s}\nroutes:\n  - name: crm\n    prefix: /crm\n    upstream: https://api.example.com\n    auth: %s\n"
	tests := []struct {
		name, token, auth, want string
	}{
		{"ok", ", token_env: ADMIN_TOKEN", "{header: Authorization, value_env: CRM_TOKEN}", ""},
		{"needs admin token", "", "{header: Authorization, value_env: CRM_TOKEN}", "mtguard.yaml:6: routes[0].auth: route \"crm\" holds a vendor credential"},
		{"secret pasted instead of a name", ", token_env: ADMIN_TOKEN", "{header: Authorization, value_env: \"Bearer abc\"}", "mtguard.yaml:6: routes[0].auth.value_env: \"Bearer abc\" is not an environment variable name"},
		{"missing header", ", token_env: ADMIN_TOKEN", "{value_env: CRM_TOKEN}", "mtguard.yaml:6: routes[0].auth: header is required"},
		{"unknown key", ", token_env: ADMIN_TOKEN", "{header: X-Api-Key, value: abc}", "mtguard.yaml:6: routes[0].auth.value: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("mtguard.yaml", []byte(fmt.Sprintf(base, tt.token, tt.auth)))
			if tt.want == "" {
				if err != nil || cfg.Routes[0].Auth == nil || cfg.Routes[0].Auth.ValueEnv != "CRM_TOKEN" {
					t.Fatalf("err %v auth %+v", err, cfg.Routes[0].Auth)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
