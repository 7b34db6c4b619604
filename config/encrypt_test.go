package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseStoreEncrypt(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", withRoute("store:", "  encrypt: {key_env: MTGUARD_STORE_KEYS}"))
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Store.Encrypt; e == nil || e.KeyEnv != "MTGUARD_STORE_KEYS" || e.Line != 2 {
		t.Fatalf("store.encrypt = %+v", e)
	}
	cfg, err = Parse("mtguard.yaml", withRoute("store:", "  path: x.db"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Encrypt != nil {
		t.Fatalf("store.encrypt without the block = %+v, want nil", cfg.Store.Encrypt)
	}
}

func TestParseStoreEncryptErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		line int
		key  string
		msg  string
	}{
		{"no key_env", withRoute("store:", "  encrypt: {}"), 2, "store.encrypt", "key_env is required"},
		{"a key instead of a variable", withRoute("store:", "  encrypt:", "    key_env: k1:AAAA="), 3, "store.encrypt.key_env", `"k1:AAAA=" is not an environment variable name`},
		{"an empty block", withRoute("store:", "  encrypt:"), 2, "store.encrypt", "empty; write {key_env: MTGUARD_STORE_KEYS}"},
		{"not a mapping", withRoute("store:", "  encrypt: MTGUARD_STORE_KEYS"), 2, "store.encrypt", "expected a mapping"},
		{"an unknown key", withRoute("store:", "  encrypt: {key_env: K, keys: x}"), 2, "store.encrypt.keys", "unknown key (known keys: key_env)"},
		{"a list as key_env", withRoute("store:", "  encrypt:", "    key_env: [A, B]"), 3, "store.encrypt.key_env", "expected a single value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mtguard.yaml", tt.data)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *Error: %v", err, err)
			}
			prefix := fmt.Sprintf("mtguard.yaml:%d: %s: ", tt.line, tt.key)
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, tt.msg) {
					return
				}
			}
			t.Errorf("error has no line starting %q and containing %q; got:\n%v", prefix, tt.msg, err)
		})
	}
}
