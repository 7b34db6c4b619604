package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/yamlstrict"
)

// The roles an admin token may have. Each role can do what the one before it can, and more.
const (
	// RoleViewer reads: transactions (bodies as stored, redacted), replay jobs, alerts, health,
	// limits, metrics.
	RoleViewer = "viewer"
	// RoleOperator also changes how calls are handled: replays, acknowledges alerts.
	RoleOperator = "operator"
	// RoleAdmin also erases records (forget) and reads the audit log.
	RoleAdmin = "admin"
)

// Roles lists the roles from least to most allowed.
var Roles = []string{RoleViewer, RoleOperator, RoleAdmin}

// LegacyTokenName is the name admin.token_env's token has in the audit log: that token has the
// admin role.
const LegacyTokenName = "admin"

// Token is one named admin bearer token with its role. The token itself is read from TokenEnv
// at start and never written anywhere; Name is what the audit log records.
type Token struct {
	// Name is unique among tokens and matches ^[a-z0-9][a-z0-9_-]*$.
	Name string
	// Role is RoleViewer, RoleOperator or RoleAdmin.
	Role string
	// TokenEnv names the environment variable holding the token; unique among tokens.
	TokenEnv string
	// Line is the line of the token's item, for messages about it.
	Line int
}

// AdminTokens returns every token the admin API accepts: admin.tokens, or admin.token_env as a
// single admin token named LegacyTokenName. Empty means the API is open (loopback only).
func (a Admin) AdminTokens() []Token {
	if a.TokenEnv != "" {
		return []Token{{Name: LegacyTokenName, Role: RoleAdmin, TokenEnv: a.TokenEnv}}
	}
	return a.Tokens
}

// HasTokens reports whether the admin API needs a bearer token.
func (a Admin) HasTokens() bool { return a.TokenEnv != "" || len(a.Tokens) > 0 }

// tokens reads admin.tokens: a list of {name, role, token_env}. tokenEnv is admin.token_env's
// node: the two are not written together (one list of who holds a token is easier to review
// than two, and the old token's name would be a guess).
func (p *configParser) tokens(n, tokenEnv *yaml.Node) []Token {
	n = yamlstrict.Deref(n)
	if !yamlstrict.Present(n) {
		return nil
	}
	if yamlstrict.Given(tokenEnv) {
		p.Addf(yamlstrict.Deref(tokenEnv).Line, "admin.token_env", "write either admin.token_env or admin.tokens, not both; move the old token into the list as {name: %s, role: admin, token_env: %s}", LegacyTokenName, tokenEnv.Value)
		return nil
	}
	items := p.Seq(n, "admin.tokens")
	if n.Kind == yaml.SequenceNode && len(items) == 0 {
		p.Addf(n.Line, "admin.tokens", "empty list; remove it for an open loopback API, or add tokens like {name: ops-laptop, role: operator, token_env: MTGUARD_OPERATOR_TOKEN}")
		return nil
	}
	var out []Token
	names, envs := map[string]int{}, map[string]int{}
	for i, item := range items {
		key := fmt.Sprintf("admin.tokens[%d]", i)
		f, ok := p.Mapping(item, key, "name", "role", "token_env")
		if !ok {
			continue
		}
		t := Token{Line: item.Line}
		good := true
		if s, ok := p.Str(f.Get("name"), key+".name"); !ok {
			p.Addf(item.Line, key, "name is required: what the audit log calls whoever holds this token (e.g. ops-laptop)")
			good = false
		} else if !routeNameRE.MatchString(s) {
			p.Addf(f.Get("name").Line, key+".name", "%q must be lower-case letters, digits, - and _ (e.g. ops-laptop)", s)
			good = false
		} else if line, dup := names[s]; dup {
			p.Addf(f.Get("name").Line, key+".name", "%q is already the name of the token on line %d; give each token its own name", s, line)
			good = false
		} else {
			names[s] = f.Get("name").Line
			t.Name = s
		}
		if s, ok := p.Str(f.Get("role"), key+".role"); !ok {
			p.Addf(item.Line, key, "role is required: viewer (reads), operator (also replays and acknowledges) or admin (also erases and reads the audit log)")
			good = false
		} else if !isRole(s) {
			p.Addf(f.Get("role").Line, key+".role", "%q is not a role; write viewer (reads), operator (also replays and acknowledges) or admin (also erases and reads the audit log)", s)
			good = false
		} else {
			t.Role = s
		}
		if s, ok := p.Str(f.Get("token_env"), key+".token_env"); !ok {
			p.Addf(item.Line, key, "token_env is required: the environment variable holding this token (e.g. MTGUARD_OPERATOR_TOKEN)")
			good = false
		} else if !envNameRE.MatchString(s) {
			p.Addf(f.Get("token_env").Line, key+".token_env", "%q is not an environment variable name; write the variable's name (e.g. MTGUARD_OPERATOR_TOKEN), not the token", s)
			good = false
		} else if line, dup := envs[s]; dup {
			p.Addf(f.Get("token_env").Line, key+".token_env", "%s is already the token_env of the token on line %d; one token cannot have two names or roles, so give each its own variable", s, line)
			good = false
		} else {
			envs[s] = f.Get("token_env").Line
			t.TokenEnv = s
		}
		if good {
			out = append(out, t)
		}
	}
	return out
}

func isRole(s string) bool {
	for _, r := range Roles {
		if r == s {
			return true
		}
	}
	return false
}
