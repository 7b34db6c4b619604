package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// Crash loop parameters. crashCycles kills of crashSenders concurrent senders each take well
// under a second, so the whole test stays within a normal `go test -race ./...` run.
const (
	crashCycles    = 10
	crashSenders   = 16
	crashKillMin   = 50 * time.Millisecond
	crashKillMax   = 400 * time.Millisecond
	crashStartWait = 10 * time.Second
	crashStartTry  = 5
)

// TestCrashRecovery builds the real binary and, crashCycles times, starts it, sends leads
// through it from crashSenders goroutines (a closed loop: thousands of calls a second, far above
// the 150 of issue 16) and kills it with SIGKILL at a random moment. It then opens the store file
// and checks the durability promises of the pipeline: a call is recorded before it is forwarded,
// so every lead the vendor received and every call the client got an answer to is in the log;
// the answer's outcome is recorded before the client gets it, so no call the client got an
// answer to is stored as interrupted; every interrupted call carries outcome.unknown; and no
// call is left pending once the store has been reopened.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: builds mtguard and kill -9s it repeatedly; skipped with -short")
	}
	started := time.Now()
	dir := t.TempDir()
	bin := buildMtguard(t, dir)

	vendor := &crashVendor{received: map[string]int{}}
	vendorSrv := httptest.NewServer(vendor)
	t.Cleanup(vendorSrv.Close)

	transport := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: crashSenders}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 2 * time.Second}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	storePath := filepath.Join(dir, "mtguard.db")
	res := crashResults{responded: map[string]int{}, final: map[string]bool{}, statuses: map[int]int{}}
	for cycle := 1; cycle <= crashCycles; cycle++ {
		p := startCrashServer(t, bin, dir, cycle, vendorSrv.URL, storePath)
		killAfter := crashKillMin + time.Duration(rng.Int64N(int64(crashKillMax-crashKillMin)+1))
		sent, got := runCrashCycle(t, p, client, cycle, killAfter, &res)
		transport.CloseIdleConnections()
		t.Logf("cycle %2d: killed after %v: sent %d, got %d responses", cycle, killAfter.Round(time.Millisecond), sent, got)
		recovered, provisional, storeErrs := scanCrashLog(t, p.stderr)
		res.recoveredAtStart += recovered
		res.provisionalAtStart += provisional
		res.storeErrors += storeErrs
	}
	// Close waits for the vendor's handlers, so every lead that reached it is counted.
	vendorSrv.Close()

	st, err := store.Open(storePath, store.Options{})
	if err != nil {
		t.Fatalf("reopen the store after the last kill: %v", err)
	}
	defer st.Close()
	res.recoveredAtStart += st.Recovered()
	res.provisionalAtStart += st.RecoveredProvisional()
	checkCrashStore(t, st, vendor, &res)
	t.Logf("summary: %d cycles in %v (seed %d)", crashCycles, time.Since(started).Round(time.Millisecond), seed)
}

// buildMtguard builds the real binary into dir for the tests that start and kill it, and skips
// the test when the go command is not there.
func buildMtguard(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command to build the binary: %v", err)
	}
	bin := filepath.Join(dir, "mtguard")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// crashResults is what the client side of the crash loop saw, and what the logs said.
type crashResults struct {
	sent             int
	responded        map[string]int  // email -> status of the response the client got
	final            map[string]bool // email -> the client read the whole answer
	statuses         map[int]int
	recoveredAtStart int // calls each restart (and the final reopen) marked interrupted
	// provisionalAtStart counts the calls each restart (and the final reopen) gave the outcome
	// of their provisional result.
	provisionalAtStart int
	storeErrors        int // "could not record" log lines
}

// crashVendor is the fake vendor: it remembers every lead it decoded and answers 201.
type crashVendor struct {
	mu       sync.Mutex
	received map[string]int // email -> times received
}

func (v *crashVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var lead struct {
		Email string `json:"email"`
	}
	if err := json.NewDecoder(r.Body).Decode(&lead); err != nil || lead.Email == "" {
		http.Error(w, "want a JSON body with an email", http.StatusBadRequest)
		return
	}
	v.mu.Lock()
	v.received[lead.Email]++
	v.mu.Unlock()
	time.Sleep(rand.N(3 * time.Millisecond))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"id":%q}`, lead.Email)
}

func (v *crashVendor) snapshot() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := make(map[string]int, len(v.received))
	for k, n := range v.received {
		m[k] = n
	}
	return m
}

// crashProc is one running mtguard serve.
type crashProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once Wait returned
	data   string        // proxy address
	stderr string        // path of the log file
}

// startCrashServer starts mtguard serve on one crm route on free ports and waits until its
// admin API answers.
func startCrashServer(t *testing.T, bin, dir string, cycle int, vendorURL, storePath string) *crashProc {
	t.Helper()
	p, _ := startServe(t, bin, dir, fmt.Sprintf("cycle%02d", cycle), crashConfig(storePath, vendorURL))
	return p
}

// crashConfig is the configuration of one crm route to vendorURL, recorded in storePath.
func crashConfig(storePath, vendorURL string) func(data, admin string) string {
	return func(data, admin string) string {
		return fmt.Sprintf(`listen: %s
admin: {listen: %s}
store: {path: %s}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
`, data, admin, strconv.Quote(storePath), vendorURL)
	}
}

// startServe starts the binary bin as mtguard serve with the configuration cfg gives for free
// data and admin addresses, and waits until its admin API answers; it returns the process and
// the admin address. Its output goes to dir/name.tryN.stdout and .stderr. Free ports are found
// by listening on :0 and closing, so another process may take one before mtguard binds it; the
// start is then retried on new ports. env (NAME=value) is added to the test's environment.
func startServe(t *testing.T, bin, dir, name string, cfg func(data, admin string) string, env ...string) (*crashProc, string) {
	t.Helper()
	for try := 1; try <= crashStartTry; try++ {
		data, admin := freeAddr(t), freeAddr(t)
		cfgPath := filepath.Join(dir, "mtguard.yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg(data, admin)), 0o600); err != nil {
			t.Fatal(err)
		}
		base := filepath.Join(dir, fmt.Sprintf("%s.try%d", name, try))
		stdout, err := os.Create(base + ".stdout")
		if err != nil {
			t.Fatal(err)
		}
		stderr, err := os.Create(base + ".stderr")
		if err != nil {
			t.Fatal(err)
		}
		p := &crashProc{cmd: exec.Command(bin, "serve", "--config", cfgPath), exited: make(chan struct{}), data: data, stderr: stderr.Name()}
		if len(env) > 0 {
			p.cmd.Env = append(os.Environ(), env...)
		}
		p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
		err = p.cmd.Start()
		stdout.Close() // the child holds its own copies
		stderr.Close()
		if err != nil {
			t.Fatalf("start mtguard: %v", err)
		}
		go func() { p.cmd.Wait(); close(p.exited) }()
		t.Cleanup(p.kill)

		if waitHealthy(p, "http://"+admin+"/healthz") {
			return p, admin
		}
		p.kill()
		log, _ := os.ReadFile(p.stderr)
		if bytes.Contains(log, []byte("address already in use")) {
			t.Logf("%s: a port was taken before mtguard bound it; retrying on new ports", name)
			continue
		}
		t.Fatalf("%s: mtguard did not come up (exit: %v); its stderr:\n%s", name, p.cmd.ProcessState, log)
	}
	t.Fatalf("%s: mtguard could not bind free ports in %d tries", name, crashStartTry)
	return nil, ""
}

// kill sends SIGKILL unless the process already exited, and waits for it.
func (p *crashProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// waitHealthy polls url until it answers 200, the process exits, or crashStartWait passes.
func waitHealthy(p *crashProc, url string) bool {
	c := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	deadline := time.Now().Add(crashStartWait)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-p.exited:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false
}

// runCrashCycle sends leads from crashSenders goroutines until killAfter, then kills mtguard
// with the calls still in flight. It returns how many calls were sent and answered.
func runCrashCycle(t *testing.T, p *crashProc, client *http.Client, cycle int, killAfter time.Duration, res *crashResults) (sent, got int) {
	t.Helper()
	var (
		stop sync.WaitGroup
		seq  atomic.Int64
		done atomic.Bool
		mu   sync.Mutex
	)
	url := "http://" + p.data + "/crm/v1/leads"
	for range crashSenders {
		stop.Go(func() {
			for !done.Load() {
				email := fmt.Sprintf("lead-%d-%d@crash.test", cycle, seq.Add(1))
				body := fmt.Sprintf(`{"email":%q}`, email)
				req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				whole := false
				if err == nil {
					_, rerr := io.Copy(io.Discard, resp.Body)
					whole = rerr == nil && resp.Body.Close() == nil
				}
				mu.Lock()
				sent++
				if resp != nil {
					got++
					res.responded[email] = resp.StatusCode
					res.final[email] = whole
					res.statuses[resp.StatusCode]++
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-p.exited:
		done.Store(true)
		stop.Wait()
		log, _ := os.ReadFile(p.stderr)
		t.Fatalf("cycle %d: mtguard exited on its own (%v) before the kill; its stderr:\n%s", cycle, p.cmd.ProcessState, log)
	case <-time.After(killAfter):
	}
	// No new calls from here on; the ones in flight meet the kill.
	done.Store(true)
	p.kill()
	stop.Wait()
	res.sent += sent
	return sent, got
}

// scanCrashLog reads one run's JSON log and returns how many calls it reported recovering as
// interrupted and with their provisional result at start, and how many times it could not
// record a call.
func scanCrashLog(t *testing.T, path string) (recovered, provisional, storeErrors int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Message string `json:"message"`
			Calls   int    `json:"calls"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue // the kill may cut the last line
		}
		switch {
		case strings.HasPrefix(line.Message, "marked calls left without an outcome"):
			recovered += line.Calls
		case strings.HasPrefix(line.Message, "gave calls the previous run left unfinished"):
			provisional += line.Calls
		case strings.HasPrefix(line.Message, "could not record"):
			storeErrors++
		}
	}
	return recovered, provisional, storeErrors
}

// checkCrashStore checks the reopened store against what the client and the vendor saw, and
// logs the summary.
func checkCrashStore(t *testing.T, st *store.Store, vendor *crashVendor, res *crashResults) {
	ctx := context.Background()
	received := vendor.snapshot()
	deliveries := 0
	for _, n := range received {
		deliveries += n
	}

	want := map[string]bool{}
	for e := range res.responded {
		want[e] = true
	}
	for e := range received {
		want[e] = true
	}
	emails := make([]string, 0, len(want))
	for e := range want {
		emails = append(emails, e)
	}
	slices.Sort(emails)

	var missing, pending, answeredButInterrupted, unexplained []string
	wholeButInterrupted, unchecked := 0, 0
	for _, e := range emails {
		page, err := st.Query(ctx, store.Query{RecordKey: e, Limit: 1000})
		if err != nil {
			t.Fatalf("query %s: %v", e, err)
		}
		if len(page.Transactions) == 0 {
			client := "no response"
			if status, ok := res.responded[e]; ok {
				client = fmt.Sprintf("status %d", status)
			}
			missing = append(missing, fmt.Sprintf("%s (client: %s; vendor received it %d times)", e, client, received[e]))
			continue
		}
		for _, tx := range page.Transactions {
			if tx.Outcome == txn.OutcomePending && received[e] > 0 {
				pending = append(pending, fmt.Sprintf("%s (id %s)", e, tx.ID))
			}
			if hasFinding(tx, txn.CodeOutcomeUnchecked) {
				unchecked++
			}
			if tx.Outcome != txn.OutcomeInterrupted {
				continue
			}
			// The outcome is journaled before the answer leaves mtguard: a client that got
			// one (its status, or all of it) must find it in the log.
			if status, ok := res.responded[e]; ok {
				answeredButInterrupted = append(answeredButInterrupted, fmt.Sprintf("%s (id %s; client: status %d, whole answer read: %v)", e, tx.ID, status, res.final[e]))
				if res.final[e] {
					wholeButInterrupted++
				}
			}
			if !hasFinding(tx, txn.CodeOutcomeUnknown) && !hasFinding(tx, txn.CodeClientGone) {
				unexplained = append(unexplained, fmt.Sprintf("%s (id %s; findings %+v)", e, tx.ID, tx.Findings))
			}
		}
	}

	// Tally every stored transaction by outcome, and cross-check the outcome index.
	byOutcome := map[txn.Outcome]int{}
	var deliveredUnseen []string
	total := forEachTransaction(t, st, store.Query{}, func(tx txn.Transaction) {
		byOutcome[tx.Outcome]++
		if tx.Outcome == txn.OutcomeDelivered {
			for _, k := range tx.RecordKeys {
				if received[k] == 0 {
					deliveredUnseen = append(deliveredUnseen, fmt.Sprintf("%s (id %s)", k, tx.ID))
				}
			}
		}
	})
	for _, o := range txn.Outcomes {
		if n := forEachTransaction(t, st, store.Query{Outcome: o}, func(txn.Transaction) {}); n != byOutcome[o] {
			t.Errorf("outcome index lists %d %s transactions, a full scan finds %d", n, o, byOutcome[o])
		}
	}

	statuses := make([]string, 0, len(res.statuses))
	for s, n := range res.statuses {
		statuses = append(statuses, fmt.Sprintf("%d×%d", n, s))
	}
	slices.Sort(statuses)
	t.Logf("summary: requests sent %d; responses received %d (%s); vendor received %d leads (%d deliveries)",
		res.sent, len(res.responded), strings.Join(statuses, ", "), len(received), deliveries)
	t.Logf("summary: transactions stored %d: delivered %d, interrupted %d, other %d; recovered at restarts: %d as interrupted, %d with their provisional result (outcome.unchecked: %d); answered but stored interrupted %d (whole answer read: %d); store errors logged %d",
		total, byOutcome[txn.OutcomeDelivered], byOutcome[txn.OutcomeInterrupted],
		total-byOutcome[txn.OutcomeDelivered]-byOutcome[txn.OutcomeInterrupted], res.recoveredAtStart, res.provisionalAtStart, unchecked,
		len(answeredButInterrupted), wholeButInterrupted, res.storeErrors)

	if len(res.responded) == 0 || len(received) == 0 {
		t.Errorf("no traffic got through (responses %d, vendor received %d): the crash loop tested nothing", len(res.responded), len(received))
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d calls the client got an answer to or the vendor received are not in the store; first ones:\n  %s",
			len(missing), len(emails), strings.Join(missing[:min(10, len(missing))], "\n  "))
	}
	if len(answeredButInterrupted) > 0 {
		t.Errorf("%d calls whose client got mtguard's answer are stored as interrupted (%d of them read the whole answer); first ones:\n  %s",
			len(answeredButInterrupted), wholeButInterrupted, strings.Join(answeredButInterrupted[:min(10, len(answeredButInterrupted))], "\n  "))
	}
	if len(unexplained) > 0 {
		t.Errorf("%d interrupted calls carry neither %s nor %s; first ones:\n  %s",
			len(unexplained), txn.CodeOutcomeUnknown, txn.CodeClientGone, strings.Join(unexplained[:min(10, len(unexplained))], "\n  "))
	}
	if len(pending) > 0 {
		t.Errorf("%d leads the vendor received are still pending after reopening the store; first ones:\n  %s",
			len(pending), strings.Join(pending[:min(10, len(pending))], "\n  "))
	}
	if n := byOutcome[txn.OutcomePending]; n > 0 {
		t.Errorf("%d transactions are still pending after reopening the store", n)
	}
	if len(deliveredUnseen) > 0 {
		t.Errorf("%d transactions are recorded as delivered but the vendor never received their lead; first ones:\n  %s",
			len(deliveredUnseen), strings.Join(deliveredUnseen[:min(10, len(deliveredUnseen))], "\n  "))
	}
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

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
