package bench

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// module is the module the benchmark builds mtguard from; its root is the parent directory.
const module = "github.com/mtguard/mtguard"

// binDir holds the mtguard binary built for this test process; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// mtguardBinary is a built mtguard.
type mtguardBinary struct {
	path string
	// profiled: built with profileOverlay, so it writes CPU and alloc profiles (see
	// benchChildProc.writeProfiles).
	profiled bool
}

var built struct {
	once sync.Once
	bin  mtguardBinary
	skip string // why there is no binary and the caller should skip
	err  error
}

// buildMtguard builds the real mtguard binary from the module root (..), once per test
// process, with `go build -o DIR/mtguard ROOT`: what the benchmark measures is what ships,
// main's own GC target included. With profileDir set it adds profileOverlay to package main
// (go build -overlay), so that the binary writes its profiles there; without, the binary is
// built from the sources alone. It skips when the go tool is not on PATH.
func buildMtguard(tb testing.TB, profileDir string) mtguardBinary {
	tb.Helper()
	built.once.Do(func() {
		if prebuilt := os.Getenv(envBenchBin); prebuilt != "" {
			// Another build measured with this harness (its figures beside this build's in a
			// separate run): it is not profiled.
			built.bin = mtguardBinary{path: prebuilt}
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.skip = "the go tool is not on PATH: the benchmark builds the mtguard binary with go build"
			return
		}
		root, err := moduleRoot()
		if err != nil {
			built.err = err
			return
		}
		if binDir, err = os.MkdirTemp("", "mtguard-bench-bin-"); err != nil {
			built.err = err
			return
		}
		bin := mtguardBinary{path: filepath.Join(binDir, "mtguard")}
		args := []string{"build", "-o", bin.path}
		if profileDir != "" {
			overlay, err := writeProfileOverlay(root)
			if err != nil {
				built.err = err
				return
			}
			args, bin.profiled = append(args, "-overlay", overlay), true
		}
		cmd := exec.Command(goTool, append(args, root)...)
		cmd.Dir = root
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
			return
		}
		fmt.Fprintf(os.Stderr, "bench: built %s in %v\n", bin.path, time.Since(start).Round(time.Millisecond))
		built.bin = bin
	})
	switch {
	case built.skip != "":
		tb.Skip(built.skip)
	case built.err != nil:
		tb.Fatalf("build mtguard: %v", built.err)
	}
	return built.bin
}

// moduleRoot returns the absolute path of the parent directory, checking that it holds
// mtguard's go.mod: go test runs a package's tests in its directory.
func moduleRoot() (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("the module root: %w", err)
	}
	if first, _, _ := strings.Cut(string(mod), "\n"); strings.TrimSpace(first) != "module "+module {
		return "", fmt.Errorf("%s is not %s's go.mod (first line %q)", filepath.Join(root, "go.mod"), module, first)
	}
	return root, nil
}

// profileDone is the line a profiled mtguard prints once its profiles are written.
const profileDone = "mtguard bench profiles written"

// profileOverlay is added to package main when MTGUARD_BENCH_PROFILE is set, and only in the
// benchmark's build: mtguard itself has no profiling switch. It starts a CPU profile at
// start-up and, on SIGUSR1, stops it and writes the alloc profile, so that the benchmark can
// collect both before it sends SIGTERM.
const profileOverlay = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
)

func init() {
	dir := os.Getenv("` + envBenchProfile + `")
	if dir == "" {
		return
	}
	name := os.Getenv("` + envBenchProfileName + `")
	if name == "" {
		name = "mtguard"
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench profile:", err)
		os.Exit(1)
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		<-usr1
		pprof.StopCPUProfile()
		err := f.Close()
		if err == nil {
			var af *os.File
			if af, err = os.Create(filepath.Join(dir, name+".allocs.pprof")); err == nil {
				err = pprof.Lookup("allocs").WriteTo(af, 0)
				af.Close()
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench profile:", err)
		}
		fmt.Println("` + profileDone + `")
	}()
}
`

// writeProfileOverlay writes profileOverlay and the -overlay file that adds it to the
// package in root, into binDir, and returns the -overlay file's path.
func writeProfileOverlay(root string) (string, error) {
	src := filepath.Join(binDir, "benchprofile.go")
	if err := os.WriteFile(src, []byte(profileOverlay), 0o600); err != nil {
		return "", err
	}
	spec := fmt.Sprintf(`{"Replace": {%q: %q}}`, filepath.Join(root, "zz_benchprofile.go"), src)
	path := filepath.Join(binDir, "overlay.json")
	return path, os.WriteFile(path, []byte(spec), 0o600)
}

// writeProfiles asks a profiled mtguard for its profiles and waits until they are written.
func (c *benchChildProc) writeProfiles(tb testing.TB) {
	tb.Helper()
	c.cmd.Process.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(c.stdout.String(), profileDone) {
		select {
		case <-c.exited:
			tb.Errorf("%s child exited before writing its profiles\n%s", c.mode, c.stderr)
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Errorf("%s child did not write its profiles within 30s of SIGUSR1\n%s", c.mode, c.stderr)
			return
		}
	}
}

// TestMtguardChild checks the way the benchmark starts mtguard: the binary built from the
// module, started with serve --config --log-level, prints the line the benchmark reads its
// address from, answers through its route, and exits cleanly on SIGTERM. It builds the
// binary (cached by go build after the first time); -short skips it.
func TestMtguardChild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the mtguard binary")
	}
	bin := buildMtguard(t, "")
	dir := t.TempDir()
	vendor := newFakeVendor()
	defer vendor.Close()
	cfg := filepath.Join(dir, "mtguard.yaml")
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nstore: {path: %q}\nroutes:\n  - name: hubspot\n    prefix: %s\n    upstream: %s\n",
		filepath.Join(dir, "m.db"), benchPrefix, vendor.URL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startBenchChild(t, "mtguard", bin.path, serveArgs(cfg, benchOptions{logLevel: "warn"}), benchOptions{})
	client := newLoadClient(1)
	defer client.CloseIdleConnections()
	g := &loadGen{client: client, clients: 1}
	id, err := g.call("http://"+c.addr+benchPrefix+benchPath, "lead-1@example.com")
	if err != nil || id == "" {
		t.Fatalf("call through mtguard: id %q, %v\n%s", id, err, c.stderr)
	}
	c.stop(t)
}

// forEachTransaction pages through every transaction matching q and returns how many there were.
func forEachTransaction(t testing.TB, st *store.Store, q store.Query, fn func(txn.Transaction)) int {
	t.Helper()
	q.Limit = 1000
	n := 0
	for {
		page, err := st.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		for _, tx := range page.Transactions {
			fn(tx)
		}
		n += len(page.Transactions)
		if page.Next == "" {
			return n
		}
		q.Cursor = page.Next
	}
}

// TestBareLimitsMatchServe checks that the bare proxy's server limits are still written as
// mtguard's are in ../timeouts.go: the benchmark compares the two proxies under the same limits.
func TestBareLimitsMatchServe(t *testing.T) {
	names := []string{"maxHeaderBytes", "readHeaderTimeout", "readTimeout", "idleTimeout", "shutdownGrace"}
	serve, err := constExprs(filepath.Join("..", "timeouts.go"))
	if err != nil {
		t.Fatal(err)
	}
	bench, err := constExprs("bench_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if serve[n] == "" || serve[n] != bench[n] {
			t.Errorf("%s: timeouts.go says %q, the bench's bare proxy %q", n, serve[n], bench[n])
		}
	}
}

// constExprs returns the source of each constant's value declared at the top of a file.
func constExprs(path string) (map[string]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					out[n.Name] = types.ExprString(vs.Values[i])
				}
			}
		}
	}
	return out, nil
}
