package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/mtguard/mtguard/config"
)

// envFile puts the KEY=VALUE lines of a file (serve --env-file) in front of the process
// environment. The process environment cannot change under a running mtguard, so a secret
// rotated there needs a restart; a secret in the env file is read again at every reload and
// takes effect with it (route credentials and alert sinks are rebuilt from it).
type envFile struct {
	path string
	base func(string) string

	mu   sync.RWMutex
	vals map[string]string
}

// loadEnvFile reads path once; a mistake names the file and line, never a value.
func loadEnvFile(path string, base func(string) string) (*envFile, error) {
	e := &envFile{path: path, base: base}
	if _, err := e.reread(); err != nil {
		return nil, err
	}
	return e, nil
}

// getenv is the env file's value of key, or else the process environment's.
func (e *envFile) getenv(key string) string {
	e.mu.RLock()
	v, ok := e.vals[key]
	e.mu.RUnlock()
	if ok {
		return v
	}
	return e.base(key)
}

// reread reads the file again and returns the names whose values changed (added, removed or
// different), sorted; on a mistake the values in use stay.
func (e *envFile) reread() ([]string, error) {
	b, err := os.ReadFile(e.path)
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	vals, err := parseEnvFile(e.path, b)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var changed []string
	for k, v := range vals {
		if old, ok := e.vals[k]; !ok || old != v {
			changed = append(changed, k)
		}
	}
	for k := range e.vals {
		if _, ok := vals[k]; !ok {
			changed = append(changed, k)
		}
	}
	if e.vals == nil {
		changed = nil // the first read changes nothing that runs
	}
	e.vals = vals
	slices.Sort(changed)
	return changed, nil
}

// parseEnvFile reads KEY=VALUE lines, as systemd's EnvironmentFile and docker's --env-file
// write them: blank lines and lines starting with # are skipped, "export " before a key is
// allowed, and a value wholly in single or double quotes loses them (no escapes are read).
func parseEnvFile(path string, b []byte) (map[string]string, error) {
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !config.EnvName(key) {
			// The line may hold a secret: say where, not what.
			return nil, fmt.Errorf("env file %s:%d: expected NAME=value with NAME made of letters, digits and _ (the line is not shown: it may hold a secret)", path, n)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		vals[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("env file %s: %w", path, err)
	}
	return vals, nil
}
