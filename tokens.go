package main

import (
	"errors"
	"fmt"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
)

// adminTokens reads the admin API's tokens (admin.tokens, or admin.token_env as one admin
// token), each variable once. An empty variable is an error, and so are two variables that
// hold the same token: the server could not tell which name and role its holder has.
func adminTokens(a config.Admin, getenv func(string) string) ([]inspect.Token, error) {
	var out []inspect.Token
	var errs []error
	byValue := map[string]string{}
	for _, t := range a.AdminTokens() {
		key := "admin.tokens " + t.Name + ": token_env"
		if a.TokenEnv != "" {
			key = "admin.token_env"
		}
		v := getenv(t.TokenEnv)
		if v == "" {
			errs = append(errs, fmt.Errorf("%s names %s, but that environment variable is empty; set it to the admin API token", key, t.TokenEnv))
			continue
		}
		if other, dup := byValue[v]; dup {
			errs = append(errs, fmt.Errorf("admin.tokens: %s and %s hold the same token; give each holder a token of its own (e.g. openssl rand -hex 32)", other, t.TokenEnv))
			continue
		}
		byValue[v] = t.TokenEnv
		role, ok := inspect.ParseRole(t.Role)
		if !ok {
			errs = append(errs, fmt.Errorf("admin.tokens: %s: unknown role %q", t.Name, t.Role))
			continue
		}
		out = append(out, inspect.Token{Name: t.Name, Role: role, Value: v})
	}
	return out, errors.Join(errs...)
}
