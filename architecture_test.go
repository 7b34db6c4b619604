package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is mtguard's module path; a package's short name is its path below it.
const module = "github.com/mtguard/mtguard"

// packageRule limits what a package may depend on, directly or through others (Go's Deps), or
// only what it imports itself when direct is set.
type packageRule struct {
	pkg    string
	direct bool
	// only lists every mtguard package pkg may depend on; nil means any but forbidden.
	only []string
	// forbidden lists packages pkg must not depend on.
	forbidden []string
	why       string
}

// packageRules is the house the architecture page draws. Change it there first.
var packageRules = []packageRule{
	{pkg: "txn", only: []string{}, why: "the shared vocabulary imports nothing of ours"},
	{pkg: "store", only: []string{"txn"}, why: "the transaction log is a leaf: it knows transactions, nothing else"},
	{pkg: "pgstore", only: []string{"txn", "store"}, why: "the PostgreSQL log implements store's contract with store's types, nothing else"},
	{pkg: "pgstore/pgtest", only: []string{}, why: "the tests' TCP gate knows sockets and DSNs, nothing of mtguard's"},
	{pkg: "redislimit", only: []string{}, why: "the shared budget knows Redis and its own Group type; main converts the proxy's limit groups"},
	{pkg: "store/storetest", only: []string{"txn", "store"}, why: "the contract suite runs any backend through store.Log"},
	{pkg: "schemas", only: []string{"txn"}, why: "pinned contracts are pure checks over the vocabulary"},
	{pkg: "yamlstrict", only: []string{}, why: "the strict YAML reader knows YAML, nothing of mtguard's"},
	{pkg: "vendors", only: []string{"txn", "schemas", "yamlstrict"}, why: "vendor knowledge is data and pure rules"},
	{pkg: "proxy", forbidden: []string{"inspect", "alerts", "cli", "config", "store"}, why: "the data plane records through its Recorder interface and never reaches the control plane"},
	{pkg: "inspect", forbidden: []string{"proxy", "cli", "config"}, why: "the control plane resends through its Replayer interface, which main satisfies"},
	{pkg: "inspect/client", only: []string{"txn"}, why: "the admin API's client core is linked into mtguard-log, which must start fast: no store, no schemas, no metrics"},
	{pkg: "cli/logcmd", only: []string{"txn", "inspect/client"}, why: "the log command runs in mtguard-log too, which links only what it imports"},
	{pkg: "cmd/mtguard-log", only: []string{"txn", "inspect/client", "cli/logcmd"}, why: "the thin binary is mtguard log without the server's packages and their init"},
	{pkg: "redeliver", only: []string{"txn", "store"}, why: "the redeliverer works the store's queue and resends through a Sender that main gives it"},
	{pkg: "alerts", forbidden: []string{"proxy", "inspect", "cli", "config"}, why: "the alert engine is fed calls; it serves nothing but its metrics"},
	// console uses inspect's words for a call's handling (who answered, was it forwarded), so
	// only what it imports itself is limited: never the store, the data plane or the config.
	{pkg: "console", direct: true, forbidden: []string{"proxy", "cli", "config", "store"}, why: "the web console is a client of the admin API: it reads and acts only through the API's handler"},
	// config reads a route's alerts block into the alert engine's rule types, and the engine
	// needs the store's alert history, so only what config imports itself is limited.
	{pkg: "observe", only: []string{"txn"}, why: "the observers' queue knows transactions, nothing else"},
	{pkg: "journeys", only: []string{"txn", "schemas", "store", "observe"}, why: "journeys are fed calls and keep their state in the store; they reach no HTTP"},
	{pkg: "drift", only: []string{"txn", "schemas", "observe"}, why: "drift learning is fed calls and keeps its shapes through an interface the store satisfies"},
	{pkg: "verify", only: []string{"txn", "schemas"}, why: "read-back is fed calls and sends probes through a Prober main wires to the proxy"},
	{pkg: "config", direct: true, forbidden: []string{"store", "inspect", "cli"}, why: "config turns YAML into types and builds nothing"},
}

// TestPackageRules fails when an import breaks the package map of docs/architecture.md: the
// leaves (txn, store, schemas) stay leaves, proxy and inspect never reach each other, and
// nothing imports the composition root (package main).
func TestPackageRules(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH; the package rules need go list")
	}
	out, err := exec.Command(goTool, "list", "-f", "{{.ImportPath}}|{{join .Deps \" \"}}|{{.Name}}|{{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}    // short name -> mtguard packages it depends on
	imports := map[string][]string{} // short name -> mtguard packages it imports itself
	var mains []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 4 {
			t.Fatalf("go list line %q", line)
		}
		short := shortName(f[0])
		if f[2] == "main" {
			mains = append(mains, f[0])
		}
		deps[short], imports[short] = ours(f[1]), ours(f[3])
	}
	for _, r := range packageRules {
		got, ok := deps[r.pkg]
		if r.direct {
			got, ok = imports[r.pkg]
		}
		if !ok {
			t.Errorf("package %s is not in the module any more: update packageRules and docs/architecture.md", r.pkg)
			continue
		}
		for _, d := range got {
			if r.only != nil && !slices.Contains(r.only, d) {
				t.Errorf("%s depends on %s, but may depend only on %v: %s", r.pkg, d, r.only, r.why)
			}
			if slices.Contains(r.forbidden, d) {
				t.Errorf("%s depends on %s: %s", r.pkg, d, r.why)
			}
		}
	}
	for pkg, ds := range deps {
		for _, d := range ds {
			for _, m := range mains {
				if shortName(m) == d {
					t.Errorf("%s depends on the command %s: nothing imports a composition root", pkg, d)
				}
			}
		}
	}
}

// ours picks mtguard's packages out of a space-separated list of import paths.
func ours(list string) []string {
	var out []string
	for d := range strings.FieldsSeq(list) {
		if d == module || strings.HasPrefix(d, module+"/") {
			out = append(out, shortName(d))
		}
	}
	return out
}

func shortName(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}
