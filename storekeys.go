package main

import (
	"fmt"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/store"
)

// storeKeys reads store.encrypt's keys from the environment: nil without the block. Its
// errors name the variable, never a key.
func storeKeys(e *config.Encrypt, getenv func(string) string) (*store.Keys, error) {
	if e == nil {
		return nil, nil
	}
	v := getenv(e.KeyEnv)
	if v == "" {
		return nil, fmt.Errorf("store.encrypt.key_env names %s, but that environment variable is empty; set it to id:base64 of 32 random bytes (e.g. k1:$(openssl rand -base64 32)), newest key first, comma-separated", e.KeyEnv)
	}
	k, err := store.ParseKeys(v)
	if err != nil {
		return nil, fmt.Errorf("store.encrypt.key_env: %s: %w", e.KeyEnv, err)
	}
	return k, nil
}
