package main

import (
	"strings"
	"testing"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
)

// serve and check-config read each admin token once, name an empty variable, and refuse two
// variables that hold the same token (the server could not tell its holder's name and role).
func TestAdminTokensFromEnv(t *testing.T) {
	admin := config.Admin{Tokens: []config.Token{
		{Name: "ops", Role: config.RoleOperator, TokenEnv: "OPS"},
		{Name: "ops-next", Role: config.RoleOperator, TokenEnv: "OPS_NEXT"},
		{Name: "dash", Role: config.RoleViewer, TokenEnv: "DASH"},
	}}
	reads := map[string]int{}
	env := map[string]string{"OPS": "a", "OPS_NEXT": "b", "DASH": "c"}
	getenv := func(k string) string { reads[k]++; return env[k] }
	got, err := adminTokens(admin, getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := []inspect.Token{{Name: "ops", Role: inspect.RoleOperator, Value: "a"}, {Name: "ops-next", Role: inspect.RoleOperator, Value: "b"}, {Name: "dash", Role: inspect.RoleViewer, Value: "c"}}
	if len(got) != len(want) {
		t.Fatalf("tokens %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("token %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for k, n := range reads {
		if n != 1 {
			t.Errorf("%s read %d times", k, n)
		}
	}

	env = map[string]string{"OPS": "a", "OPS_NEXT": "a"}
	_, err = adminTokens(admin, func(k string) string { return env[k] })
	for _, want := range []string{"admin.tokens: OPS and OPS_NEXT hold the same token", "admin.tokens dash: token_env names DASH, but that environment variable is empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	if _, err := adminTokens(config.Admin{TokenEnv: "ADMIN_TOKEN"}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "admin.token_env names ADMIN_TOKEN, but that environment variable is empty") {
		t.Errorf("token_env empty: %v", err)
	}
}
