package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseAdminTokensErrors(t *testing.T) {
	tests := []struct {
		name      string
		data      []byte
		line      int
		key, want string
	}{
		{
			name: "unknown role",
			data: withRoute(
				"admin:",
				"  tokens:",
				"    - {name: dash, role: reader, token_env: VIEW_TOKEN}",
			),
			line: 3, key: "admin.tokens[0].role", want: `"reader" is not a role; write viewer`,
		},
		{
			name: "duplicate names",
			data: withRoute(
				"admin:",
				"  tokens:",
				"    - {name: ops, role: operator, token_env: OPS_TOKEN}",
				"    - {name: ops, role: operator, token_env: OPS_TOKEN_NEXT}",
			),
			line: 4, key: "admin.tokens[1].name", want: `"ops" is already the name of the token on line 3`,
		},
		{
			name: "one variable twice",
			data: withRoute(
				"admin:",
				"  tokens:",
				"    - {name: ops, role: operator, token_env: OPS_TOKEN}",
				"    - {name: dash, role: viewer, token_env: OPS_TOKEN}",
			),
			line: 4, key: "admin.tokens[1].token_env", want: "OPS_TOKEN is already the token_env of the token on line 3",
		},
		{
			name: "token_env and tokens together",
			data: withRoute(
				"admin:",
				"  token_env: MTGUARD_ADMIN_TOKEN",
				"  tokens:",
				"    - {name: ops, role: operator, token_env: OPS_TOKEN}",
			),
			line: 2, key: "admin.token_env", want: "either admin.token_env or admin.tokens, not both; move the old token into the list as {name: admin, role: admin, token_env: MTGUARD_ADMIN_TOKEN}",
		},
		{
			name: "missing role",
			data: withRoute(
				"admin:",
				"  tokens:",
				"    - {name: ops, token_env: OPS_TOKEN}",
			),
			line: 3, key: "admin.tokens[0]", want: "role is required",
		},
		{
			name: "missing name",
			data: withRoute(
				"admin:",
				"  tokens:",
				"    - {role: viewer, token_env: VIEW_TOKEN}",
			),
			line: 3, key: "admin.tokens[0]", want: "name is required",
		},
		{
			name: "token pasted instead of a variable name",
			data: withRoute(
				"admin:",
				"  tokens:",
				"    - name: ops",
				"      role: admin",
				"      token_env: s3cr3t!",
			),
			line: 5, key: "admin.tokens[0].token_env", want: `"s3cr3t!" is not an environment variable name`,
		},
		{
			name: "bad name",
			data: withRoute(
				"admin:",
				"  tokens:",
				"    - {name: Ops Laptop, role: admin, token_env: OPS}",
			),
			line: 3, key: "admin.tokens[0].name", want: "must be lower-case letters",
		},
		{
			name: "unknown key",
			data: withRoute(
				"admin:",
				"  tokens:",
				"    - {name: ops, role: admin, token: abc}",
			),
			line: 3, key: "admin.tokens[0].token", want: "unknown key",
		},
		{
			name: "empty list",
			data: withRoute(
				"admin:",
				"  tokens: []",
			),
			line: 2, key: "admin.tokens", want: "empty list",
		},
		{
			name: "not a list",
			data: withRoute(
				"admin:",
				"  tokens: OPS_TOKEN",
			),
			line: 2, key: "admin.tokens", want: "expected a list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("mtguard.yaml", tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want an error", cfg.Admin)
			}
			prefix := fmt.Sprintf("mtguard.yaml:%d: %s: ", tt.line, tt.key)
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, tt.want) {
					return
				}
			}
			t.Errorf("error has no line starting %q and containing %q; got:\n%v", prefix, tt.want, err)
		})
	}
}

func TestParseAdminTokens(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", withRoute(
		"admin:",
		"  listen: 0.0.0.0:9090",
		"  tokens:",
		"    - {name: ops-laptop, role: operator, token_env: MTGUARD_OPERATOR_TOKEN}",
		"    - {name: ops-laptop-next, role: operator, token_env: MTGUARD_OPERATOR_TOKEN_NEXT}",
		"    - {name: dashboard, role: viewer, token_env: MTGUARD_VIEWER_TOKEN}",
		"    - {name: dpo, role: admin, token_env: MTGUARD_DPO_TOKEN}",
	))
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{
		{Name: "ops-laptop", Role: RoleOperator, TokenEnv: "MTGUARD_OPERATOR_TOKEN", Line: 4},
		{Name: "ops-laptop-next", Role: RoleOperator, TokenEnv: "MTGUARD_OPERATOR_TOKEN_NEXT", Line: 5},
		{Name: "dashboard", Role: RoleViewer, TokenEnv: "MTGUARD_VIEWER_TOKEN", Line: 6},
		{Name: "dpo", Role: RoleAdmin, TokenEnv: "MTGUARD_DPO_TOKEN", Line: 7},
	}
	if !reflect.DeepEqual(cfg.Admin.Tokens, want) || !reflect.DeepEqual(cfg.Admin.AdminTokens(), want) {
		t.Errorf("tokens = %+v, want %+v", cfg.Admin.Tokens, want)
	}
	if !cfg.Admin.HasTokens() {
		t.Error("HasTokens = false")
	}

	// token_env alone stays one admin token.
	cfg, err = Parse("mtguard.yaml", withRoute("admin: {listen: 0.0.0.0:9090, token_env: MTGUARD_ADMIN_TOKEN}"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Admin.AdminTokens(); !reflect.DeepEqual(got, []Token{{Name: "admin", Role: RoleAdmin, TokenEnv: "MTGUARD_ADMIN_TOKEN"}}) {
		t.Errorf("token_env's tokens = %+v", got)
	}
}

// A route holding a credential is satisfied by admin.tokens as well as by admin.token_env.
func TestParseAdminTokensHoldCredential(t *testing.T) {
	_, err := Parse("mtguard.yaml", yamlLines(
		"admin:",
		"  tokens: [{name: ops, role: operator, token_env: OPS_TOKEN}]",
		"routes:",
		"  - name: crm",
		"    prefix: /crm",
		"    upstream: https://api.example.com",
		"    auth: {header: Authorization, value_env: CRM_TOKEN}",
	))
	if err != nil {
		t.Fatal(err)
	}
}
