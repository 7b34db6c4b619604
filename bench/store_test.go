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
	cli := make([]float64, 0, 100)
	for range 100 {
		key := leadEmail(rand.IntN(leads))
		cmd := exec.Command(bin.path, "log", "--record", key)
		cmd.Env = append(os.Environ(), "MTGUARD_ADMIN="+admin)
		t := time.Now()
		out, err := cmd.CombinedOutput()
		cli = append(cli, msSince(t))
		if err != nil {
			b.Fatalf("mtguard log --record %s: %v\n%s", key, err, out)
		}
	}

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

	slices.Sort(api)
	slices.Sort(cli)
	pct := func(v []float64, p float64) float64 { return v[min(len(v)-1, int(p/100*float64(len(v))))] }
	fmt.Printf("store of %d calls: open after a clean shutdown %d ms (mtguard start to serving); GET /api/transactions?record= p50 %.2f ms, p99 %.2f ms (%d lookups); mtguard log --record p50 %.1f ms, p99 %.1f ms (%d runs, process start included); open after kill -9 under load %d ms (%d journal segments left)\n",
		n, openClean.Milliseconds(), pct(api, 50), pct(api, 99), len(api), pct(cli, 50), pct(cli, 99), len(cli), openCrash.Milliseconds(), len(segs))
	if i := strings.Index(recovered, "interrupted"); i >= 0 {
		fmt.Printf("restart said: %s\n", firstLine(recovered[max(0, strings.LastIndex(recovered[:i], "\n")+1):]))
	}
	for _, m := range []metric{
		{"open_clean_ms", float64(openClean.Milliseconds())}, {"open_crash_ms", float64(openCrash.Milliseconds())},
		{"api_p50_ms", pct(api, 50)}, {"api_p99_ms", pct(api, 99)}, {"cli_p50_ms", pct(cli, 50)}, {"cli_p99_ms", pct(cli, 99)},
		{"calls", float64(n)}, {"file_MiB", float64(fi.Size() >> 20)},
	} {
		b.ReportMetric(m.value, m.unit)
	}
	b.ReportMetric(0, "ns/op")
}

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
