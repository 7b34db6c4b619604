package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
)

// yamlLines joins lines with newlines, so a case's line numbers are its argument positions.
func yamlLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

// pollAlerts runs mtguard alerts --json against in until done holds for its list or timeout
// passes, and returns the last list.
func pollAlerts(t *testing.T, in *instance, env map[string]string, timeout time.Duration, done func([]store.Alert) bool) []store.Alert {
	t.Helper()
	var list []store.Alert
	deadline := time.Now().Add(timeout)
	for {
		out, err := in.cli(t, env, "alerts", "--json")
		if err != nil {
			t.Fatalf("alerts --json: %v\n%s", err, out)
		}
		list = nil
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("alerts --json: %v\n%s", err, out)
		}
		if done(list) || time.Now().After(deadline) {
			return list
		}
		time.Sleep(10 * time.Millisecond)
	}
}
