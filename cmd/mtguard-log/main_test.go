package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// heavy are packages whose init costs a lookup milliseconds (the JSON Schema compiler builds
// every draft's meta-schema, the metrics registry, goproxy's certificate code) or which only
// the server needs (the stores' drivers), by import path prefix.
var heavy = []string{
	"github.com/santhosh-tekuri/jsonschema",
	"github.com/elazarl/goproxy",
	"github.com/prometheus/",
	"go.etcd.io/bbolt",
	"github.com/jackc/pgx",
	"github.com/redis/go-redis",
}

// allowed are the only mtguard packages mtguard-log may link: the vocabulary, the admin API's
// client and the log command.
var allowed = []string{
	"github.com/mtguard/mtguard/txn",
	"github.com/mtguard/mtguard/inspect/client",
	"github.com/mtguard/mtguard/cli/logcmd",
}

// TestLean fails when mtguard-log's dependency closure gains a package that makes it start as
// slowly as mtguard, or anything outside the standard library and the three packages it is
// built from: every package linked runs its init at each start.
func TestLean(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH; the dependency closure needs go list")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var ours []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		for _, h := range heavy {
			if strings.HasPrefix(path, h) {
				t.Errorf("mtguard-log depends on %s: its init would run at every lookup (go list -deps ./cmd/mtguard-log shows through what)", path)
			}
		}
		switch {
		case std == "true" || path == "github.com/mtguard/mtguard/cmd/mtguard-log":
		case slices.Contains(allowed, path):
			ours = append(ours, path)
		default:
			t.Errorf("mtguard-log depends on %s, outside the standard library and %v", path, allowed)
		}
	}
	if len(ours) != len(allowed) {
		t.Errorf("mtguard-log depends on %v, want all of %v: is it still built from the log command?", ours, allowed)
	}
}
