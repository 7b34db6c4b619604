package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// envBenchStoreTxs is how many calls BenchmarkRecordStore puts in its store (default
// 200000; the figure is for 1000000).
const envBenchStoreTxs = "MTGUARD_BENCH_STORE_TXS"

// adminLineRE finds the admin API's address in mtguard's serving line.
var adminLineRE = regexp.MustCompile(`admin (https?://\S+)`)

// BenchmarkRecordStore measures what a person waits for on a large log: a store of
// MTGUARD_BENCH_STORE_TXS calls (default 200000) is written through the store's own API (an
// intent, then a result, from 64 writers: the contact JSON of the proxy benchmark, each lead
// in four calls spread over the whole log), then the real mtguard binary is started on it, and it reports:
//
//   - open_clean_ms: from starting `mtguard serve` on the cleanly closed store until it
//     serves (the store's Open is most of it);
//   - api_p50_ms / api_p99_ms: GET /api/transactions?record=KEY on the admin API, 1000 random
//     leads, one at a time;
//   - cli_p50_ms / cli_p99_ms: `mtguard log --record KEY` (a process started per lookup,
//     which is most of its time), 100 random leads;
//   - thin_p50_ms / thin_p99_ms: the same lookups with the thin binary, `mtguard-log --record
//     KEY` (cmd/mtguard-log, built here), each run beside the mtguard one on the same key, in
//     alternating order, and its output compared with mtguard's;
//   - start_cli_ms / start_thin_ms: the median of 50 runs of each with -h (start, print the
//     help, exit 2: no network), the process start alone;
//   - init_cli_ms / init_thin_ms: the median over 20 runs of the package init time
//     GODEBUG=inittrace=1 reports, summed over every package each binary links;
//   - open_crash_ms: from restarting mtguard after kill -9, taken while 64 callers were
//     sending calls through it, until it serves (journal replay and recovery of the calls
//     left pending included).
//
// It ignores b.N. The file is written into MTGUARD_BENCH_DIR (default a temp dir) and removed.
// The page cache is warm (the store was just written): a cold open reads the file's pages
// from the disk first.
//
//	go test -run '^$' -bench RecordStore -benchtime 1x -timeout 60m ./bench/
func BenchmarkRecordStore(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("Linux only, like the proxy benchmark")
	}
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv(envBenchStoreTxs)); err == nil && v > 0 {
		n = v
	}
	opts := benchOptionsFromEnv(b)
	bin := buildMtguard(b, "")
	dir := opts.dir
	if dir == "" {
		dir = b.TempDir()
	}
	name := fmt.Sprintf("mtguard-store-bench-%d", time.Now().UnixNano())
	dbPath, cfgPath := filepath.Join(dir, name+".db"), filepath.Join(dir, name+".yaml")
	b.Cleanup(func() {
		os.Remove(dbPath)
		os.Remove(cfgPath)
		segs, _ := filepath.Glob(dbPath + ".wal.*")
		for _, s := range segs {
			os.Remove(s)
		}
	})
	leads := max(1, n/4)
	start := time.Now()
	if err := fillStore(dbPath, n, leads); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(dbPath)
	fmt.Printf("store: %d calls (%d leads) written in %v; file %d MiB\n", n, leads, time.Since(start).Round(time.Second), fi.Size()>>20)

	vendor := newFakeVendor()
	b.Cleanup(vendor.Close)
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nstore: {path: %q}\nroutes:\n  - name: hubspot\n    prefix: %s\n    upstream: %s\n    record_keys: [properties.email]\n",
		dbPath, benchPrefix, vendor.URL)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}

	t0 := time.Now()
	c := startBenchChild(b, "mtguard", bin.path, serveArgs(cfgPath, opts), opts)
	openClean := time.Since(t0)
	admin := adminURL(b, c)

	client := &http.Client{Timeout: 30 * time.Second}
	api := make([]float64, 0, 1000)
	for range 1000 {
		key := leadEmail(rand.IntN(leads))
		t := time.Now()
		resp, err := client.Get(admin + "/api/transactions?record=" + key)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		api = append(api, msSince(t))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), key) {
			b.Fatalf("GET /api/transactions?record=%s: %s, %.200s", key, resp.Status, body)
		}
	}
	thin := buildThinLog(b)
	logCmd := func(args ...string) []string { return append([]string{bin.path, "log"}, args...) }
	thinCmd := func(args ...string) []string { return append([]string{thin}, args...) }
	cli, thinRuns := make([]float64, 0, 100), make([]float64, 0, 100)
	for i := range 100 {
		key := leadEmail(rand.IntN(leads))
		// Alternate which of the two goes first, so that neither always finds the other's
		// pages and caches warm.
		first, second := logCmd, thinCmd
		if i%2 == 1 {
			first, second = thinCmd, logCmd
		}
		var outs [2]string
		for j, argv := range [][]string{first("--record", key), second("--record", key)} {
			if argv[0] == "" {
				continue // no thin binary
			}
			ms, out := runLookup(b, argv, admin)
			if argv[0] == thin {
				thinRuns = append(thinRuns, ms)
			} else {
				cli = append(cli, ms)
			}
			outs[j] = out
		}
		if thin != "" && outs[0] != outs[1] {
			b.Fatalf("mtguard-log and mtguard log printed different answers for --record %s:\n%s\n%s", key, outs[0], outs[1])
		}
	}
	startCli, startThin := startTimes(b, logCmd("-h"), 50), startTimes(b, thinCmd("-h"), 50)
	initCli, initThin := initTimes(b, logCmd("-h"), 20), initTimes(b, thinCmd("-h"), 20)

	// kill -9 under load: calls in flight, intents journaled and not yet in bbolt.
	load := &loadGen{client: newLoadClient(64), clients: 64}
	defer load.client.CloseIdleConnections()
	url := "http://" + c.addr + benchPrefix + benchPath
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for !stop.Load() {
				load.call(url, leadEmail(rand.IntN(leads)))
			}
		})
	}
	time.Sleep(2 * time.Second)
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
	stop.Store(true)
	wg.Wait()
	c.stopOnce.Do(func() {}) // killed: nothing left to stop
	segs, _ := filepath.Glob(dbPath + ".wal.*")

	t0 = time.Now()
	c2 := startBenchChild(b, "mtguard", bin.path, serveArgs(cfgPath, opts), opts)
	openCrash := time.Since(t0)
	recovered := c2.stderr.String()
	c2.stop(b)

	for _, v := range [][]float64{api, cli, thinRuns, startCli, startThin, initCli, initThin} {
		slices.Sort(v)
	}
	pct := func(v []float64, p float64) float64 {
		if len(v) == 0 {
			return 0
		}
		return v[min(len(v)-1, int(p/100*float64(len(v))))]
	}
	fmt.Printf("store of %d calls: open after a clean shutdown %d ms (mtguard start to serving); GET /api/transactions?record= p50 %.2f ms, p99 %.2f ms (%d lookups); mtguard log --record p50 %.1f ms, p99 %.1f ms (%d runs, process start included); open after kill -9 under load %d ms (%d journal segments left)\n",
		n, openClean.Milliseconds(), pct(api, 50), pct(api, 99), len(api), pct(cli, 50), pct(cli, 99), len(cli), openCrash.Milliseconds(), len(segs))
	fmt.Printf("mtguard-log --record p50 %.1f ms, p99 %.1f ms (%d runs, interleaved with mtguard log's); start alone (-h) p50 %.1f ms (mtguard log %.1f ms); package init p50 %.2f ms (mtguard %.2f ms)\n",
		pct(thinRuns, 50), pct(thinRuns, 99), len(thinRuns), pct(startThin, 50), pct(startCli, 50), pct(initThin, 50), pct(initCli, 50))
	if i := strings.Index(recovered, "interrupted"); i >= 0 {
		fmt.Printf("restart said: %s\n", firstLine(recovered[max(0, strings.LastIndex(recovered[:i], "\n")+1):]))
	}
	for _, m := range []metric{
		{"open_clean_ms", float64(openClean.Milliseconds())}, {"open_crash_ms", float64(openCrash.Milliseconds())},
		{"api_p50_ms", pct(api, 50)}, {"api_p99_ms", pct(api, 99)}, {"cli_p50_ms", pct(cli, 50)}, {"cli_p99_ms", pct(cli, 99)},
		{"thin_p50_ms", pct(thinRuns, 50)}, {"thin_p99_ms", pct(thinRuns, 99)},
		{"start_cli_ms", pct(startCli, 50)}, {"start_thin_ms", pct(startThin, 50)},
		{"init_cli_ms", pct(initCli, 50)}, {"init_thin_ms", pct(initThin, 50)},
		{"calls", float64(n)}, {"file_MiB", float64(fi.Size() >> 20)},
	} {
		b.ReportMetric(m.value, m.unit)
	}
	b.ReportMetric(0, "ns/op")
}

// buildThinLog builds cmd/mtguard-log into a temporary directory, or returns "" (and says so)
// when it cannot: the rest of the benchmark does not need it.
func buildThinLog(b *testing.B) string {
	b.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Println("mtguard-log not measured: the go tool is not on PATH")
		return ""
	}
	root, err := moduleRoot()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "mtguard-log")
	cmd := exec.Command(goTool, "build", "-o", path, "./cmd/mtguard-log")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/mtguard-log: %v\n%s", err, out)
	}
	return path
}

// runLookup runs one log command (argv) against admin and returns its time, process start
// included, and its output.
func runLookup(b *testing.B, argv []string, admin string) (float64, string) {
	b.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "MTGUARD_ADMIN="+admin)
	t := time.Now()
	out, err := cmd.CombinedOutput()
	ms := msSince(t)
	if err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(argv[1:], " "), err, out)
	}
	return ms, string(out)
}

// startTimes runs argv (a -h, which exits 2 without a network call) n times and returns each
// run's time: the process's start and exit alone. None when argv names no binary.
func startTimes(b *testing.B, argv []string, n int) []float64 {
	b.Helper()
	if argv[0] == "" {
		return nil
	}
	times := make([]float64, 0, n)
	for range n {
		t := time.Now()
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		times = append(times, msSince(t))
		if !strings.Contains(string(out), "Usage of mtguard log") {
			b.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	return times
}

// initTimes runs argv n times with GODEBUG=inittrace=1 and returns, for each run, the sum of
// the clock times of every package's init: what a binary spends before main at each start.
func initTimes(b *testing.B, argv []string, n int) []float64 {
	b.Helper()
	if argv[0] == "" {
		return nil
	}
	times := make([]float64, 0, n)
	for range n {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		out, _ := cmd.CombinedOutput()
		sum, inits := 0.0, 0
		for _, m := range initTraceRE.FindAllStringSubmatch(string(out), -1) {
			ms, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				b.Fatalf("inittrace line %q: %v", m[0], err)
			}
			sum, inits = sum+ms, inits+1
		}
		if inits == 0 {
			b.Fatalf("%v with GODEBUG=inittrace=1 printed no init line:\n%s", argv, out)
		}
		times = append(times, sum)
	}
	return times
}

// initTraceRE reads one GODEBUG=inittrace=1 line's clock time:
// "init net/http @3.9 ms, 0.048 ms clock, 4712 bytes, 49 allocs".
var initTraceRE = regexp.MustCompile(`(?m)^init \S+ @\S+ ms, (\S+) ms clock`)

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func leadEmail(i int) string { return "lead-" + strconv.Itoa(i) + "@example.com" }

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// adminURL reads the admin API's address from the child's serving line.
func adminURL(b *testing.B, c *benchChildProc) string {
	b.Helper()
	m := adminLineRE.FindStringSubmatch(c.stdout.String())
	if m == nil {
		b.Fatalf("no admin address in %q", c.stdout.String())
	}
	return m[1]
}

// fillStore writes n delivered calls into a new store at path through its API, from 64
// writers, as the proxy would record them (record key, request with headers and the contact
// JSON, response), and closes it cleanly.
func fillStore(path string, n, leads int) error {
	st, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	ctx := context.Background()
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	// The calls end now, half a second apart (a million span six days): inside any retention.
	base := time.Now().Add(-time.Duration(n) * 500 * time.Millisecond)
	hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {txn.Redacted}, "User-Agent": {"webinar-sync/2.3 (+https://example.com)"}}
	rhdr := http.Header{"Content-Type": {"application/json;charset=utf-8"}}
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || firstErr.Load() != nil {
					return
				}
				email := leadEmail(i % leads) // every lead has calls, spread over the whole log
				at := base.Add(time.Duration(i) * 500 * time.Millisecond)
				body := contactBody(email)
				tx := &txn.Transaction{Call: txn.Call{
					Time: at, Front: "reverse", Route: "hubspot", Method: "POST", Path: benchPrefix + benchPath,
					UpstreamURL: "http://vendor.example" + benchPath, RemoteAddr: "127.0.0.1:40000", RecordKeys: []string{email},
					Request: txn.Message{Headers: hdr, ContentType: "application/json", Body: string(body), Size: int64(len(body))},
				}}
				tx.ID = st.NewID(at)
				if err := st.RecordIntent(ctx, tx); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, DurationMS: 80, UpstreamMS: 78, Findings: []txn.Finding{},
					Response: txn.Message{Headers: rhdr, ContentType: "application/json;charset=utf-8", Body: string(vendorAnswer), Size: int64(len(vendorAnswer))}}
				if err := st.RecordResult(tx); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		st.Close()
		return *p
	}
	return st.Close()
}
