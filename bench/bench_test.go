package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// The environment variables that tune BenchmarkProxyOverhead (see README.md), and the
// ones the benchmark sets for its child processes.
const (
	envBenchPhase    = "MTGUARD_BENCH_PHASE"        // measured time per phase; default 3s
	envBenchWarmup   = "MTGUARD_BENCH_WARMUP"       // unmeasured load before each phase; default 500ms
	envBenchRounds   = "MTGUARD_BENCH_ROUNDS"       // interleaved rounds, medians are quoted; default 3
	envBenchClients  = "MTGUARD_BENCH_CLIENTS"      // concurrent keep-alive clients; default 32
	envBenchDelay    = "MTGUARD_BENCH_VENDOR_DELAY" // the slow vendor's think time; default 20ms
	envBenchDir      = "MTGUARD_BENCH_DIR"          // where the store file goes; default a temp dir
	envBenchLogLevel = "MTGUARD_BENCH_LOG_LEVEL"    // mtguard's --log-level; default warn
	envBenchCPUs     = "MTGUARD_BENCH_PROXY_CPUS"   // taskset -c list for the proxies; default unpinned
	envBenchProfile  = "MTGUARD_BENCH_PROFILE"      // directory for the children's CPU and alloc profiles
	envBenchRoute    = "MTGUARD_BENCH_ROUTE"        // extra YAML for the route, e.g. "preset: hubspot"
	envBenchBaseline = "MTGUARD_BENCH_BASELINE"     // another build's mtguard binary: it replaces the bare proxy
	envBenchTargets  = "MTGUARD_BENCH_TARGETS"      // comma-separated targets to run; default all
	envBenchIdle     = "MTGUARD_BENCH_IDLE"         // how long the proxies idle after the load before idle RSS is read; default 12s
	envBenchBin      = "MTGUARD_BENCH_BIN"          // a built mtguard binary to measure instead of building this module
	envBenchBefore   = "MTGUARD_BENCH_BEFORE"       // another build's mtguard binary, measured beside this one's three configurations

	envBenchChild    = "MTGUARD_BENCH_CHILD"    // set in a test-binary child: "bare" or "durable"
	envBenchUpstream = "MTGUARD_BENCH_UPSTREAM" // children "bare" and "durable": the fake vendor's base URL
	envBenchSyncLog  = "MTGUARD_BENCH_SYNCLOG"  // child "durable": the file it logs requests to
)

// benchPrefix is the route prefix both proxies serve; benchPath is the vendor path after it
// (HubSpot's create-contact endpoint).
const (
	benchPrefix = "/hubspot"
	benchPath   = "/crm/v3/objects/contacts"
)

// benchTargets are the ways a call reaches the vendor, in the order of the tables. The durable
// reference (see durable_test.go) runs only with the slow vendor, where the latency
// budget is judged, and not when another build takes the bare proxy's place.
var benchTargets = []string{"direct", "bare", "nginx", "durable", "mtguard", "full", "findings", "mtguard-before", "full-before", "findings-before"}

// mtguardTargets are the targets served by a build of mtguard (see pipeline_test.go): recording
// only, and the full pipeline with valid traffic and with a finding on every call.
var mtguardTargets = []string{"mtguard", "full", "findings", "mtguard-before", "full-before", "findings-before"}

func isMtguard(target string) bool { return slices.Contains(mtguardTargets, target) }

// targetsFor lists the targets measured with the vendor delay at index d, of those running.
func targetsFor(d int, opts benchOptions, running map[string]string) []string {
	return slices.DeleteFunc(slices.Clone(benchTargets), func(t string) bool {
		// The durable reference runs at the slow vendor; at the instant one only when
		// MTGUARD_BENCH_TARGETS names it (the CPU floor of a durable proxy, see bench/README.md).
		return running[t] == "" || t == "durable" && (d == 0 && !slices.Contains(opts.targets, "durable") || opts.baseline != "")
	})
}

// BenchmarkProxyOverhead measures, in one run and side by side, calls sent straight to a fake
// vendor, through a bare httputil.ReverseProxy, through the durable reference (slow vendor
// only, see durable_test.go) and through mtguard with durable recording on. The proxies run
// as child processes so that their CPU time can be read from /proc alone: mtguard is the real
// binary, built from the module once per test process (see buildMtguard) and started with
// `serve --config FILE --log-level LEVEL`; the bare proxy and the durable reference are this
// test binary re-executed (see TestBenchChild). The load generator and the fake vendor stay
// in this process. Each round runs one fixed-duration phase per target with an immediate
// vendor, then one per target with a vendor that waits MTGUARD_BENCH_VENDOR_DELAY; the order of
// the targets rotates from round to round, and the medians over rounds are reported.
//
// It ignores b.N and never fails on a figure: it prints them (a table on standard output and
// metrics through b.ReportMetric). It fails only when calls fail or recording is missing.
// Run it with:
//
//	go test -run '^$' -bench ProxyOverhead -benchtime 1x -timeout 30m ./bench/
func BenchmarkProxyOverhead(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the proxies' CPU time from /proc; Linux only")
	}
	opts := benchOptionsFromEnv(b)
	bin := buildMtguard(b, opts.profile)
	dir := opts.dir
	if dir == "" {
		dir = b.TempDir()
	}
	// Unique names, so that runs sharing MTGUARD_BENCH_DIR do not collide.
	name := fmt.Sprintf("mtguard-bench-%d", time.Now().UnixNano())
	dbPath, cfgPath := filepath.Join(dir, name+".db"), filepath.Join(dir, name+".yaml")
	b.Cleanup(func() { os.Remove(dbPath); os.Remove(cfgPath) })

	vendor := newFakeVendor()
	b.Cleanup(vendor.Close) // Registered first, so it runs after the children are stopped.

	cfgYAML := fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
store: {path: %q}
routes:
  - name: hubspot
    prefix: %s
    upstream: %s
    record_keys: [properties.email, "inputs[].properties.email"]
%s`, dbPath, benchPrefix, vendor.URL, routeExtra())
	// The full pipeline's two children are started first, so that the reading of their
	// resident memory at rest is not taken while the others start.
	pipes := startPipelineChildren(b, bin, "", dir, name, vendor, opts)
	if opts.before != "" {
		for t, c := range startPipelineChildren(b, mtguardBinary{path: opts.before}, "-before", dir, name, vendor, opts) {
			pipes[t] = c
		}
	}
	if _, err := config.Parse(cfgPath, []byte(cfgYAML)); err != nil {
		b.Fatalf("benchmark config: %v", err)
	}
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		b.Fatal(err)
	}

	var bare *benchChildProc
	if opts.baseline != "" {
		// Another build of mtguard takes the bare proxy's place, with a store of its own.
		basePath, baseCfg := filepath.Join(dir, name+"-baseline.db"), filepath.Join(dir, name+"-baseline.yaml")
		b.Cleanup(func() { os.Remove(basePath); os.Remove(baseCfg) })
		if err := os.WriteFile(baseCfg, []byte(strings.Replace(cfgYAML, dbPath, basePath, 1)), 0o600); err != nil {
			b.Fatal(err)
		}
		bare = startBenchChild(b, "baseline", opts.baseline, serveArgs(baseCfg, opts), opts)
	} else {
		bare = startBenchChild(b, "bare", os.Args[0], testChildArgs, opts, envBenchChild+"=bare", envBenchUpstream+"="+vendor.URL)
	}
	mtg := startBenchChild(b, "mtguard", bin.path, serveArgs(cfgPath, opts), opts)
	mtg.profiled = bin.profiled
	urls := map[string]string{
		"direct":  vendor.URL + benchPath,
		"bare":    "http://" + bare.addr + benchPrefix + benchPath,
		"mtguard": "http://" + mtg.addr + benchPrefix + benchPath,
	}
	pids := map[string][]int{"bare": {bare.cmd.Process.Pid}, "mtguard": {mtg.cmd.Process.Pid}}
	mem := map[string]*benchChildProc{"mtguard": mtg}
	if opts.before != "" {
		// The other build, recording only, with a store of its own.
		p, c := filepath.Join(dir, name+"-before.db"), filepath.Join(dir, name+"-before.yaml")
		b.Cleanup(func() { os.Remove(p); os.Remove(c) })
		if err := os.WriteFile(c, []byte(strings.Replace(cfgYAML, dbPath, p, 1)), 0o600); err != nil {
			b.Fatal(err)
		}
		pipes["mtguard-before"] = startBenchChild(b, "mtguard-before", opts.before, serveArgs(c, opts), opts)
	}
	for t, c := range pipes {
		urls[t] = "http://" + c.addr + benchPrefix + benchPath
		pids[t] = []int{c.cmd.Process.Pid}
		mem[t] = c
	}
	if ng := startNginx(b, dir, name, vendor.URL, opts); ng != nil {
		urls["nginx"] = "http://" + ng.addr + benchPrefix + benchPath
		pids["nginx"] = ng.pids()
	}
	// Resident memory at rest, before any load.
	for _, c := range mem {
		c.rssStart = procRSS(c.cmd.Process.Pid)
	}
	var durable *benchChildProc
	if opts.baseline == "" {
		logPath := filepath.Join(dir, name+".synclog")
		b.Cleanup(func() { os.Remove(logPath) })
		durable = startBenchChild(b, "durable", os.Args[0], testChildArgs, opts,
			envBenchChild+"=durable", envBenchUpstream+"="+vendor.URL, envBenchSyncLog+"="+logPath)
		urls["durable"] = "http://" + durable.addr + benchPrefix + benchPath
		pids["durable"] = []int{durable.cmd.Process.Pid}
	}
	if opts.targets != nil {
		for t := range urls {
			if t != "direct" && !slices.Contains(opts.targets, strings.TrimSuffix(t, "-before")) {
				delete(urls, t)
			}
		}
	}

	client := newLoadClient(opts.clients)
	defer client.CloseIdleConnections()
	load := &loadGen{client: client, clients: opts.clients}
	delays := []time.Duration{0, opts.vendorDelay}
	// results[d][target] holds one phase per round at vendor delay delays[d].
	results := make([]map[string][]phaseResult, len(delays))
	for d := range delays {
		results[d] = map[string][]phaseResult{}
	}
	for round := range opts.rounds {
		for d, delay := range delays {
			vendor.setDelay(delay)
			targets := targetsFor(d, opts, urls)
			for i := range targets {
				target := targets[(i+round)%len(targets)]
				r := load.phase(target, urls[target], pids[target], opts.warmup, opts.phase)
				if r.errs > 0 {
					b.Errorf("%s, vendor %v: %d calls failed (warm-up included); first: %s", target, delay, r.errs, r.firstErr)
				}
				results[d][target] = append(results[d][target], r)
			}
		}
		// Ratios within the round, as they come: the medians below are taken over these.
		fmt.Println(roundLine(round, results))
	}
	client.CloseIdleConnections()
	// Resident memory: the peak under load, and what is left once the proxies have been
	// idle for a while.
	time.Sleep(opts.idle)
	for _, c := range mem {
		c.rssPeak, c.rssIdle = procHWM(c.cmd.Process.Pid), procRSS(c.cmd.Process.Pid)
	}

	// Stop mtguard cleanly (the store is closed, every queued outcome committed), then check
	// that what it answered was recorded.
	mtg.stop(b)
	for _, c := range pipes {
		c.stop(b)
	}
	bare.stop(b)
	if durable != nil {
		durable.stop(b)
	}
	rec := verifyRecording(b, dbPath, load.sampled(), load.mtguardOK.Load(), opts.vendorDelay)

	s := summarize(results)
	disk, err := diskFloor(dir, s.rpsSlow)
	if err != nil {
		b.Fatalf("disk probe: %v", err)
	}
	s.disk = disk
	s.metrics = append(s.metrics, metric{"disk_p50_ms", disk.p50}, metric{"disk_p99_ms", disk.p99})
	for _, m := range s.metrics {
		b.ReportMetric(m.value, m.unit)
	}
	b.ReportMetric(0, "ns/op") // b.N is ignored; the built-in ns/op would mean nothing.
	// On standard output, not through b.Log: testing keeps only the first ten lines a
	// benchmark logs.
	fmt.Println(s.table(opts, fsType(dir), rec))
	fmt.Println(s.pipelineTable(opts, mem))
}

// TestBenchChild is not a test: it is the bare proxy or the durable reference, the processes
// that BenchmarkProxyOverhead starts by re-executing the test binary with MTGUARD_BENCH_CHILD
// set. Without that variable it does nothing, so it costs nothing in `go test ./...`.
func TestBenchChild(t *testing.T) {
	mode := os.Getenv(envBenchChild)
	if mode == "" {
		return
	}
	os.Exit(benchChild(mode))
}

// benchChild runs one proxy until SIGTERM and returns the process's exit code.
func benchChild(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if dir := os.Getenv(envBenchProfile); dir != "" {
		f, err := os.Create(filepath.Join(dir, mode+".cpu.pprof"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
			if af, err := os.Create(filepath.Join(dir, mode+".allocs.pprof")); err == nil {
				pprof.Lookup("allocs").WriteTo(af, 0)
				af.Close()
			}
		}()
	}
	var err error
	// Both keep Go's default GC target, as a stock httputil.ReverseProxy would; the mtguard
	// binary sets its own, as it does in production.
	switch mode {
	case "bare":
		err = serveBare(ctx, os.Getenv(envBenchUpstream), nil)
	case "durable":
		var l *syncLog
		if l, err = openSyncLog(os.Getenv(envBenchSyncLog), syncLogSize); err == nil {
			err = serveBare(ctx, os.Getenv(envBenchUpstream), l)
		}
	default:
		err = fmt.Errorf("unknown %s %q", envBenchChild, mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench child %s: %v\n", mode, err)
		return 1
	}
	return 0
}

// serveBare is the baseline: a stock httputil.ReverseProxy with mtguard's transport and
// mtguard's server limits, doing the same prefix rewrite and nothing else. With a log, it is
// the durable reference: each request is on disk before it is forwarded.
func serveBare(ctx context.Context, upstream string, log *syncLog) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	var transport http.RoundTripper = proxy.NewTransport()
	if log != nil {
		transport = syncFirst{log: log, next: transport}
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, benchPrefix)
			pr.SetURL(u)
		},
		Transport: transport,
	}
	srv := &http.Server{
		Handler:           rp,
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      readTimeout + proxy.DefaultTimeout,
		IdleTimeout:       idleTimeout,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("bare reverse proxy serving: proxy http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return srv.Shutdown(sctx)
}

// The bare proxy's server limits are mtguard's data plane's, from timeouts.go in package main,
// which no other package can import; TestBareLimitsMatchServe keeps the two in step.
const (
	maxHeaderBytes    = 64 << 10
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second // a 10 MiB body at ~170 KB/s
	idleTimeout       = 120 * time.Second
	shutdownGrace     = 30 * time.Second
)

// benchOptions are the knobs read from the environment.
type benchOptions struct {
	phase, warmup, vendorDelay time.Duration
	rounds, clients            int
	dir, cpus, baseline        string
	logLevel, profile          string
	idle                       time.Duration
	before                     string   // MTGUARD_BENCH_BEFORE
	targets                    []string // nil: all
}

func benchOptionsFromEnv(b *testing.B) benchOptions {
	b.Helper()
	dur := func(name string, def time.Duration) time.Duration {
		s := os.Getenv(name)
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			b.Fatalf("%s=%q: want a duration like 3s", name, s)
		}
		return d
	}
	num := func(name string, def int) int {
		s := os.Getenv(name)
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive integer", name, s)
		}
		return n
	}
	return benchOptions{
		phase:       dur(envBenchPhase, 3*time.Second),
		warmup:      dur(envBenchWarmup, 500*time.Millisecond),
		vendorDelay: dur(envBenchDelay, 20*time.Millisecond),
		rounds:      num(envBenchRounds, 3),
		clients:     num(envBenchClients, 32),
		dir:         os.Getenv(envBenchDir),
		cpus:        os.Getenv(envBenchCPUs),
		baseline:    os.Getenv(envBenchBaseline),
		idle:        dur(envBenchIdle, 12*time.Second),
		before:      os.Getenv(envBenchBefore),
		targets:     targetList(os.Getenv(envBenchTargets)),
		logLevel:    cmp.Or(os.Getenv(envBenchLogLevel), "warn"),
		profile:     os.Getenv(envBenchProfile),
	}
}

// benchChildProc is a running proxy child.
type benchChildProc struct {
	mode     string
	cmd      *exec.Cmd
	addr     string
	stdout   *cappedBuffer
	stderr   *cappedBuffer
	exited   chan struct{}
	stopOnce sync.Once
	// profiled is set for an mtguard built with the profiling file (see profileOverlay): it
	// writes its profiles on SIGUSR1, before it is stopped.
	profiled bool
	// Resident memory in bytes: at rest after start, peak (VmHWM), at rest after the load.
	rssStart, rssPeak, rssIdle int64
}

// testChildArgs re-execute this test binary as a child: TestBenchChild alone, no time limit.
var testChildArgs = []string{"-test.run=^TestBenchChild$", "-test.timeout=0"}

// serveArgs are the mtguard binary's arguments: serve cfg at the benchmark's log level.
func serveArgs(cfg string, opts benchOptions) []string {
	return []string{"serve", "--config", cfg, "--log-level", opts.logLevel}
}

// serveLineRE finds the data-plane address in the line both children print once listening
// ("mtguard dev serving: proxy http://127.0.0.1:40123  admin ...").
var serveLineRE = regexp.MustCompile(`proxy http://(\S+)`)

// startBenchChild runs bin with args as the proxy child named mode (in messages), with env
// added to the benchmark's environment: the mtguard binary (this build's, or a baseline's)
// or this test binary as the bare proxy or the durable reference.
func startBenchChild(b testing.TB, mode, bin string, args []string, opts benchOptions, env ...string) *benchChildProc {
	b.Helper()
	name := bin
	if opts.cpus != "" {
		// taskset execs the binary, so the pid read from /proc stays the proxy's.
		name, args = "taskset", append([]string{"-c", opts.cpus, bin}, args...)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout := &cappedBuffer{max: 64 << 10, lines: make(chan string, 16)}
	c := &benchChildProc{mode: mode, cmd: cmd, stdout: stdout, stderr: &cappedBuffer{max: 64 << 10}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = stdout, c.stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s child: %v", mode, err)
	}
	go func() { cmd.Wait(); close(c.exited) }()
	b.Cleanup(func() { c.stop(b) })

	addrc := make(chan string, 1)
	go func() {
		for line := range stdout.lines {
			if m := serveLineRE.FindStringSubmatch(line); m != nil {
				addrc <- m[1]
				return
			}
		}
	}()
	select {
	case c.addr = <-addrc:
	case <-c.exited:
		b.Fatalf("%s child exited before serving: %s\n%s", mode, cmd.ProcessState, c.stderr)
	case <-time.After(20 * time.Second):
		b.Fatalf("%s child did not start serving within 20s\n%s", mode, c.stderr)
	}
	return c
}

// stop asks the child to shut down cleanly and reports a failed or slow exit. A profiled
// mtguard is first asked to write its profiles.
func (c *benchChildProc) stop(b testing.TB) {
	c.stopOnce.Do(func() {
		if c.profiled {
			c.writeProfiles(b)
		}
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
			if !c.cmd.ProcessState.Success() {
				b.Errorf("%s child: %s\n%s", c.mode, c.cmd.ProcessState, c.stderr)
			}
		case <-time.After(45 * time.Second):
			c.cmd.Process.Kill()
			<-c.exited
			b.Errorf("%s child did not exit within 45s of SIGTERM; killed\n%s", c.mode, c.stderr)
		}
	})
}

// cappedBuffer keeps the first max bytes written to it and, when lines is not nil, sends each
// complete line kept on it (without blocking: lines nobody reads are dropped). It is safe for
// concurrent use.
type cappedBuffer struct {
	mu    sync.Mutex
	max   int
	buf   bytes.Buffer
	sent  int // bytes of buf already sent as lines
	lines chan string
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	for c.lines != nil {
		line, _, ok := bytes.Cut(c.buf.Bytes()[c.sent:], []byte("\n"))
		if !ok {
			break
		}
		c.sent += len(line) + 1
		select {
		case c.lines <- string(line):
		default:
		}
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// fakeVendor answers every call like HubSpot's create-contact endpoint: 201 and a small JSON
// body, after an adjustable delay. It does as little as possible, because it shares the
// machine with the proxies under test.
type fakeVendor struct {
	*httptest.Server
	delay  atomic.Int64 // nanoseconds to wait before answering
	answer []byte
	// twin is another fake vendor (one with another answer) whose delay follows this one's.
	twin *fakeVendor
}

// setDelay sets the think time of v and of its twin.
func (v *fakeVendor) setDelay(d time.Duration) {
	for ; v != nil; v = v.twin {
		v.delay.Store(int64(d))
	}
}

// vendorAnswer is the shape of HubSpot's answer to POST /crm/v3/objects/contacts.
var vendorAnswer = []byte(`{"id":"51","properties":{"createdate":"2025-06-02T09:14:07.052Z","hs_object_id":"51","lastmodifieddate":"2025-06-02T09:14:07.052Z"},"createdAt":"2025-06-02T09:14:07.052Z","updatedAt":"2025-06-02T09:14:07.052Z","archived":false}`)

func newFakeVendor() *fakeVendor { return newFakeVendorAnswering(vendorAnswer) }

// newFakeVendorAnswering returns a fake vendor that answers every call with answer.
func newFakeVendorAnswering(answer []byte) *fakeVendor {
	v := &fakeVendor{answer: answer}
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if d := time.Duration(v.delay.Load()); d > 0 {
			time.Sleep(d)
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(http.StatusCreated)
		w.Write(v.answer)
	}))
	return v
}

// contactTemplate is a HubSpot create-contact body of about 1 KB, as a form tool or a
// marketing-automation sync sends it; {{email}} is replaced by a unique address per call.
const contactTemplate = `{"properties":{"email":"{{email}}","firstname":"Jane","lastname":"Doe-Martinez",` +
	`"company":"Acme Industrial Supplies Inc.","jobtitle":"Director of Marketing Operations",` +
	`"phone":"+1 (617) 555-0142","mobilephone":"+1 617 555 0199","website":"https://www.acme-industrial.example.com",` +
	`"address":"25 First Street, Suite 400","city":"Cambridge","state":"MA","zip":"02141","country":"United States",` +
	`"industry":"COMPUTER_SOFTWARE","numberofemployees":"250","annualrevenue":"12000000",` +
	`"lifecyclestage":"marketingqualifiedlead","hs_lead_status":"NEW","hs_language":"en-us",` +
	`"utm_source":"linkedin","utm_medium":"paid_social","utm_campaign":"2025-q3-webinar-series",` +
	`"utm_term":"marketing automation","utm_content":"carousel-variant-b",` +
	`"hs_analytics_source":"PAID_SOCIAL","hs_analytics_source_data_1":"linkedin-ads",` +
	`"form_name":"Webinar registration - Scaling lead routing","consent_to_communicate":"true",` +
	`"message":"Hi, we are evaluating lead routing tools for our EMEA and NA teams and would like to see a demo. ` +
	`We currently sync about 40k contacts a month from our webinar platform and two landing page builders."}}`

var contactHead, contactTail, _ = strings.Cut(contactTemplate, "{{email}}")

// contactBody returns the template with email filled in.
func contactBody(email string) []byte {
	b := make([]byte, 0, len(contactHead)+len(email)+len(contactTail))
	return append(append(append(b, contactHead...), email...), contactTail...)
}

// newLoadClient returns the client every simulated tool shares: keep-alive, enough idle
// connections for every client to keep its own, no proxy from the environment.
func newLoadClient(clients int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4 * max(64, clients),
			MaxIdleConnsPerHost: max(64, 2*clients),
			IdleConnTimeout:     90 * time.Second,
		},
		Timeout: 30 * time.Second,
	}
}

// loadGen runs phases of closed-loop load: each client sends its next call when the last one
// has been answered.
type loadGen struct {
	client    *http.Client
	clients   int
	seq       atomic.Uint64
	mtguardOK atomic.Int64 // calls mtguard answered with 201, warm-up included

	mu      sync.Mutex
	samples []sampledCall
}

// sampledCall is a call mtguard answered, kept to check later that it was recorded.
type sampledCall struct{ id, email string }

// sampleEvery picks which mtguard calls are checked in the store afterwards.
const sampleEvery = 499

// phaseResult is one target's measured window.
type phaseResult struct {
	window time.Duration   // between the two CPU readings
	lat    []time.Duration // calls completed in the window, sorted
	proxy  time.Duration   // the proxy child's CPU time in the window; 0 for direct
	// whole is the proxy's CPU time from before the warm-up until it was quiet again after
	// the load stopped (background commits, GC and all), and answered the calls of the whole
	// phase, warm-up included: whole/answered is the CPU per call of the whole process.
	whole    time.Duration
	answered int
	loadCPU  time.Duration // this process's CPU time (clients and fake vendor) in the window
	hostCPU  time.Duration // the whole machine's busy time in the window, steal included
	errs     int           // failed calls, warm-up included
	firstErr string        // the first failure, for messages
}

func (r phaseResult) rps() float64 { return float64(len(r.lat)) / r.window.Seconds() }

// cpuPerCall is the proxy process's whole CPU time per answered call, in µs: everything it
// did from the start of the warm-up until it was quiet after the load (see phaseResult.whole).
func (r phaseResult) cpuPerCall() float64 {
	return float64(r.whole.Microseconds()) / float64(max(r.answered, 1))
}

// windowCPUPerCall is the proxy's CPU time inside the measured window per call completed in
// it: what the benchmark reported before it counted the whole process. Work a call leaves
// for later (a bbolt commit, a GC cycle) after the window is not in it.
func (r phaseResult) windowCPUPerCall() float64 {
	return float64(r.proxy.Microseconds()) / float64(len(r.lat))
}

func (r phaseResult) loadCPUPerCall() float64 {
	return float64(r.loadCPU.Microseconds()) / float64(len(r.lat))
}

// busy is the share of the machine's CPUs that the proxy and this process used.
func (r phaseResult) busy() float64 {
	return (r.proxy + r.loadCPU).Seconds() / (r.window.Seconds() * float64(runtime.NumCPU()))
}

// others is the share of the machine's CPUs used by anything else (other processes, the
// kernel's own threads, a hypervisor's steal): when it is high, the figures are suspect.
func (r phaseResult) others() float64 {
	return max(0, (r.hostCPU-r.proxy-r.loadCPU).Seconds()) / (r.window.Seconds() * float64(runtime.NumCPU()))
}

// pct returns the p-th percentile latency (nearest rank) in ms.
func (r phaseResult) pct(p float64) float64 {
	if len(r.lat) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(r.lat)))) - 1
	return float64(r.lat[max(i, 0)].Microseconds()) / 1000
}

// completion is one answered call, kept until the window's edges are known.
type completion struct {
	end time.Time
	lat time.Duration
}

// phase runs the clients against url for warmup+dur and measures the last dur: calls that
// completed between the two CPU readings, and the CPU time of pid (0: none) over it.
func (g *loadGen) phase(target, url string, pids []int, warmup, dur time.Duration) phaseResult {
	quiet(pids) // what the proxy still did for the last phase is not this one's
	w0 := procCPU(pids...)
	start := time.Now()
	stopAt := start.Add(warmup + dur)
	done := make([][]completion, g.clients)
	var errs atomic.Int64
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	for c := range g.clients {
		wg.Go(func() {
			for time.Now().Before(stopAt) {
				n := g.seq.Add(1)
				email := "lead-" + strconv.FormatUint(n, 10) + "@example.com"
				begin := time.Now()
				id, err := g.call(url, email)
				end := time.Now()
				if err != nil {
					errs.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					time.Sleep(10 * time.Millisecond) // do not spin on a dead target
					continue
				}
				done[c] = append(done[c], completion{end: end, lat: end.Sub(begin)})
				if isMtguard(target) {
					if id == "" {
						errs.Add(1)
						msg := "answer without " + proxy.HeaderID
						firstErr.CompareAndSwap(nil, &msg)
						continue
					}
					if target != "mtguard" {
						continue
					}
					g.mtguardOK.Add(1)
					if n%sampleEvery == 0 {
						g.mu.Lock()
						g.samples = append(g.samples, sampledCall{id: id, email: email})
						g.mu.Unlock()
					}
				}
			}
		})
	}
	time.Sleep(time.Until(start.Add(warmup)))
	t0, p0, l0, h0 := time.Now(), procCPU(pids...), selfCPU(), hostCPU()
	time.Sleep(time.Until(stopAt))
	t1, p1, l1, h1 := time.Now(), procCPU(pids...), selfCPU(), hostCPU()
	wg.Wait()
	quiet(pids)
	w1 := procCPU(pids...)

	r := phaseResult{window: t1.Sub(t0), proxy: p1 - p0, loadCPU: l1 - l0, hostCPU: h1 - h0, errs: int(errs.Load()), whole: w1 - w0}
	for _, cs := range done {
		r.answered += len(cs)
	}
	if p := firstErr.Load(); p != nil {
		r.firstErr = *p
	}
	for _, cs := range done {
		for _, c := range cs {
			if !c.end.Before(t0) && c.end.Before(t1) {
				r.lat = append(r.lat, c.lat)
			}
		}
	}
	slices.Sort(r.lat)
	return r
}

// call sends one contact and reads the whole answer; it returns mtguard's transaction id
// when there is one.
func (g *loadGen) call(url, email string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(contactBody(email)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer pat-na1-11111111-2222-3333-4444-555555555555")
	req.Header.Set("User-Agent", "webinar-sync/2.3 (+https://example.com)")
	resp, err := g.client.Do(req)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return resp.Header.Get(proxy.HeaderID), nil
}

func (g *loadGen) sampled() []sampledCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.samples)
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, 100 on every Linux
// architecture Go supports (sysconf(_SC_CLK_TCK)).
const userHZ = 100

// procCPU returns the user+system CPU time the pids have used (all their threads), 0 for
// none. Its resolution is 10 ms, small beside the seconds of CPU a phase uses.
func procCPU(pids ...int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		sum += procCPU1(pid)
	}
	return sum
}

func procCPU1(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces; count from after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(utime+stime) * time.Second / userHZ
}

// hostCPU returns the time all CPUs of the machine have spent busy (not idle, not waiting
// for I/O) since boot, from the first line of /proc/stat.
func hostCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: everything but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / userHZ
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// recording is what verifyRecording found in the store.
type recording struct {
	answered, checked int64
	fileBytes         int64
	// recordSlow holds record_ms (the durable-intent wait mtguard stored on each call) of
	// the calls made at the slow vendor, warm-up included, sorted.
	recordSlow []float64
}

// verifyRecording reopens the store mtguard wrote (after it stopped) and checks that the
// sampled calls it answered are there, delivered, under their record key, and that no call
// was left without an outcome.
func verifyRecording(b *testing.B, path string, samples []sampledCall, answered int64, slowDelay time.Duration) recording {
	b.Helper()
	rec := recording{answered: answered}
	if fi, err := os.Stat(path); err == nil {
		rec.fileBytes = fi.Size()
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		b.Errorf("reopen the store: %v", err)
		return rec
	}
	defer st.Close()
	if n := st.Recovered(); n > 0 {
		b.Errorf("recording: %d calls had no outcome recorded", n)
	}
	ctx := context.Background()
	for _, s := range samples {
		tx, err := st.Get(ctx, s.id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			b.Errorf("recording: call %s (%s) was answered but is not in the store", s.id, s.email)
		case err != nil:
			b.Errorf("recording: get %s: %v", s.id, err)
		case tx.Outcome != txn.OutcomeDelivered || !slices.Contains(tx.RecordKeys, s.email):
			b.Errorf("recording: call %s: outcome %q, record keys %q; want delivered with %s", s.id, tx.Outcome, tx.RecordKeys, s.email)
		default:
			rec.checked++
		}
	}
	// The stored record_ms of every call at the slow vendor (told apart by its vendor time):
	// mtguard's own account of how much of its added latency was the disk.
	slowMS := float64(slowDelay.Milliseconds()) / 2
	forEachTransaction(b, st, store.Query{Route: "hubspot"}, func(tx txn.Transaction) {
		if tx.UpstreamMS >= slowMS && slowMS > 0 {
			rec.recordSlow = append(rec.recordSlow, tx.RecordMS)
		}
	})
	slices.Sort(rec.recordSlow)
	return rec
}

// fsType names the file system holding dir, so the output says whether fsync hit a disk.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown file system"
	}
	switch uint64(st.Type) {
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x01021994:
		return "tmpfs (fsync costs nothing here: latency is understated)"
	case 0x794C7630:
		return "overlayfs"
	}
	return fmt.Sprintf("file system 0x%x", uint64(st.Type))
}

// metric is one b.ReportMetric value.
type metric struct {
	unit  string
	value float64
}

// benchSummary holds the medians over rounds.
type benchSummary struct {
	results []map[string][]phaseResult
	metrics []metric
	// Medians over rounds of the per-round comparisons.
	tput, cpu, tputSlow, cpuSlow, p50Added, p99Added float64
	// p99OverBare is mtguard's p99 minus the bare proxy's (or the baseline's) at the slow
	// vendor, paired by round: the fair way to compare two builds' tails.
	p99OverBare float64
	// bareAdded is the bare proxy's (or the baseline's) p99 minus direct calls' at the slow
	// vendor, paired by round: how much of the budget the machine takes before any recording.
	bareAdded float64
	// durableAdded is the durable reference's p99 minus direct calls', and overDurable
	// mtguard's p99 minus the reference's, both at the slow vendor, paired by round.
	durableAdded, overDurable float64

	rpsSlow float64 // mtguard's calls/s at the slow vendor: the disk probe's pace
	disk    diskStats
}

func summarize(results []map[string][]phaseResult) benchSummary {
	s := benchSummary{results: results}
	fast, slow := results[0], results[1]
	tput := func(a, b phaseResult) float64 { return a.rps() / b.rps() }
	cpu := func(a, b phaseResult) float64 { return a.cpuPerCall() / b.cpuPerCall() }
	p50 := func(a, b phaseResult) float64 { return a.pct(50) - b.pct(50) }
	p99 := func(a, b phaseResult) float64 { return a.pct(99) - b.pct(99) }
	s.tput, s.cpu = paired(fast, "mtguard", "bare", tput), paired(fast, "mtguard", "bare", cpu)
	s.tputSlow, s.cpuSlow = paired(slow, "mtguard", "bare", tput), paired(slow, "mtguard", "bare", cpu)
	s.p50Added = paired(slow, "mtguard", "direct", p50)
	s.p99Added = paired(slow, "mtguard", "direct", p99)
	s.p99OverBare = paired(slow, "mtguard", "bare", p99)
	s.bareAdded = paired(slow, "bare", "direct", p99)
	s.rpsSlow = med(slow["mtguard"], phaseResult.rps)
	if s.hasDurable() {
		s.durableAdded = paired(slow, "durable", "direct", p99)
		s.overDurable = paired(slow, "mtguard", "durable", p99)
	}

	s.metrics = []metric{
		{"tput_ratio", s.tput},
		{"cpu_ratio", s.cpu},
		{"p50_added_ms", s.p50Added},
		{"p99_added_ms", s.p99Added},
		{"p99_over_bare_ms", s.p99OverBare},
		{"bare_p99_added_ms", s.bareAdded},
		{"tput_ratio_slow", s.tputSlow},
		{"cpu_ratio_slow", s.cpuSlow},
	}
	if s.hasDurable() {
		s.metrics = append(s.metrics, metric{"durable_p99_added_ms", s.durableAdded}, metric{"p99_over_durable_ms", s.overDurable})
	}
	for _, t := range []string{"nginx", "full", "findings"} {
		if len(fast[t]) > 0 {
			s.metrics = append(s.metrics, metric{"tput_ratio_" + t, paired(fast, t, "bare", tput)}, metric{"cpu_ratio_" + t, paired(fast, t, "bare", cpu)})
		}
		if len(slow[t]) > 0 {
			s.metrics = append(s.metrics, metric{"p99_added_ms_" + t, paired(slow, t, "direct", p99)})
		}
	}
	for _, t := range benchTargets {
		if len(fast[t]) == 0 {
			continue
		}
		s.metrics = append(s.metrics, metric{t + "_rps", med(fast[t], phaseResult.rps)})
		if t != "direct" {
			s.metrics = append(s.metrics, metric{t + "_cpu_us/req", med(fast[t], phaseResult.cpuPerCall)})
		}
	}
	return s
}

// paired compares targets a and b round by round with f and returns the median: phases of
// one round ran seconds apart, so their differences are fairer than differences of medians.
func paired(m map[string][]phaseResult, a, b string, f func(a, b phaseResult) float64) float64 {
	v := make([]float64, min(len(m[a]), len(m[b])))
	for i := range v {
		v[i] = f(m[a][i], m[b][i])
	}
	return median(v)
}

// hasDurable reports whether the durable reference ran.
func (s benchSummary) hasDurable() bool { return len(s.results[1]["durable"]) > 0 }

func med(rs []phaseResult, f func(phaseResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return median(v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// table renders the summary for people: a row per target and vendor, the budgets' verdicts,
// and a line on durability.
func (s benchSummary) table(opts benchOptions, fs string, rec recording) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d clients, %d-byte contact JSON, %d CPUs", opts.clients, len(contactBody("lead-1000000@example.com")), runtime.NumCPU())
	if opts.cpus != "" {
		fmt.Fprintf(&b, " (proxies pinned to %s)", opts.cpus)
	}
	fmt.Fprintf(&b, "; medians of %d rounds of %v phases. Store on %s with fsync: %d calls answered, %d sampled ids found delivered, %.1f KiB/call\n",
		opts.rounds, opts.phase, fs, rec.answered, rec.checked, float64(rec.fileBytes)/1024/math.Max(1, float64(rec.answered)))
	fmt.Fprintf(&b, "%-7s %-8s %8s %13s %7s %7s %7s %15s %5s %6s\n",
		"vendor", "target", "calls/s", "proxy µs/call", "p50 ms", "p90 ms", "p99 ms", "loadgen µs/call", "busy", "others")
	for d, delay := range []time.Duration{0, opts.vendorDelay} {
		for _, t := range benchTargets {
			rs := s.results[d][t]
			if len(rs) == 0 {
				continue
			}
			cpu := "-"
			if t != "direct" {
				// The whole process's, and in brackets the measured window's alone (what this
				// benchmark reported before 2026-12: see phaseResult.windowCPUPerCall).
				cpu = fmt.Sprintf("%.0f (%.0f)", med(rs, phaseResult.cpuPerCall), med(rs, phaseResult.windowCPUPerCall))
			}
			label := t
			if t == "bare" && opts.baseline != "" {
				label = "baseline"
			}
			fmt.Fprintf(&b, "%-7v %-8s %8.0f %13s %7.2f %7.2f %7.2f %15.0f %4.0f%% %5.0f%%\n", delay, label,
				med(rs, phaseResult.rps), cpu,
				med(rs, func(r phaseResult) float64 { return r.pct(50) }),
				med(rs, func(r phaseResult) float64 { return r.pct(90) }),
				med(rs, func(r phaseResult) float64 { return r.pct(99) }),
				med(rs, phaseResult.loadCPUPerCall),
				100*med(rs, phaseResult.busy), 100*med(rs, phaseResult.others))
		}
	}
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "OVER"
	}
	against, ratioVerdict := "bare", verdict
	if opts.baseline != "" {
		// The ratio budgets are against the bare proxy; against another build they do not
		// apply. The latency budget is against direct calls, which are still measured.
		against = "baseline"
		ratioVerdict = func(bool) string { return "not judged against a baseline" }
	}
	fmt.Fprintf(&b, "mtguard/"+against+", vendor 0s: throughput %.2f× (budget ≥ 0.90×: %s), CPU/call %.2f× (≤ 1.30×: %s); vendor %v: %.2f×, %.2f×. "+
		"mtguard-direct, vendor %v: p50 %+.2f ms, p99 %+.2f ms (≤ 5 ms: %s); p99 mtguard-"+against+" %+.2f ms",
		s.tput, ratioVerdict(s.tput >= 0.90), s.cpu, ratioVerdict(s.cpu <= 1.30), opts.vendorDelay, s.tputSlow, s.cpuSlow,
		opts.vendorDelay, s.p50Added, s.p99Added, verdict(s.p99Added <= 5), s.p99OverBare)
	fmt.Fprintf(&b, "\np99 over direct calls, vendor %v: %s %+.2f ms", opts.vendorDelay, against, s.bareAdded)
	if s.hasDurable() {
		fmt.Fprintf(&b, "; durable reference (the bare proxy plus a group-committed write + fdatasync of each request before it leaves) %+.2f ms, and mtguard %+.2f ms over it",
			s.durableAdded, s.overDurable)
	}
	fmt.Fprintf(&b, "; mtguard %+.2f ms", s.p99Added)
	fmt.Fprintf(&b, "\ndurability, vendor %v: record_ms (the wait mtguard stored on each call)", opts.vendorDelay)
	if n := len(rec.recordSlow); n > 0 {
		fmt.Fprintf(&b, " p50 %.2f ms, p99 %.2f ms over %d calls;", rec.recordSlow[n/2], rec.recordSlow[n*99/100], n)
	} else {
		b.WriteString(" not found;")
	}
	fmt.Fprintf(&b, " disk floor (one %d-byte write + fdatasync beside the store, %.0f/s, idle machine) p50 %.2f ms, p99 %.2f ms",
		diskProbeBytes, s.rpsSlow, s.disk.p50, s.disk.p99)
	return b.String()
}

// diskProbeBytes is about one journal batch at the slow vendor: an intent record or two.
const diskProbeBytes = 3 << 10

// diskStats are the percentiles of the disk probe, in milliseconds.
type diskStats struct{ p50, p99 float64 }

// diskFloor measures what durability costs on this disk alone: write + fdatasync of one
// journal-sized batch, into a preallocated file in dir (as the journal does), paced at rate
// per second for three seconds. mtguard's added latency cannot go below it.
func diskFloor(dir string, rate float64) (diskStats, error) {
	path := filepath.Join(dir, fmt.Sprintf("mtguard-bench-disk-%d", time.Now().UnixNano()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o600)
	if err != nil {
		return diskStats{}, err
	}
	defer os.Remove(path)
	defer f.Close()
	const size = 16 << 20
	if _, err := f.Write(make([]byte, size)); err != nil {
		return diskStats{}, err
	}
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		return diskStats{}, err
	}
	if !(rate >= 1) {
		// No mtguard phase at the slow vendor (MTGUARD_BENCH_TARGETS without mtguard): the
		// rate is NaN, and math.Max(NaN, 1) is NaN, which made the probe sleep for ever.
		rate = 1000
	}
	gap := time.Duration(float64(time.Second) / rate)
	buf := bytes.Repeat([]byte{'x'}, diskProbeBytes)
	var lat []float64
	for off, end := int64(0), time.Now().Add(3*time.Second); time.Now().Before(end); off = (off + diskProbeBytes) % (size - diskProbeBytes) {
		start := time.Now()
		if _, err := f.WriteAt(buf, off); err != nil {
			return diskStats{}, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return diskStats{}, err
		}
		took := time.Since(start)
		lat = append(lat, float64(took.Microseconds())/1000)
		time.Sleep(gap - took)
	}
	slices.Sort(lat)
	return diskStats{p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}, nil
}

// routeExtra turns MTGUARD_BENCH_ROUTE ("preset: hubspot; contracts: {mode: enforce, builtin:
// [hubspot]}") into route keys, to measure the pipeline with checks on the route.
func routeExtra() string {
	v := os.Getenv(envBenchRoute)
	if v == "" {
		return ""
	}
	var b strings.Builder
	for _, kv := range strings.Split(v, ";") {
		if kv = strings.TrimSpace(kv); kv != "" {
			b.WriteString("    " + kv + "\n")
		}
	}
	return b.String()
}
