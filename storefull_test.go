package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/examples/fakecrm"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// fullDisk fails the store's writes of the kinds set, as a full disk would.
type fullDisk struct {
	mu  sync.Mutex
	ops map[string]bool
}

func (d *fullDisk) set(ops ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ops = map[string]bool{}
	for _, o := range ops {
		d.ops[o] = true
	}
}

func (d *fullDisk) hook(op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ops[op] {
		return fmt.Errorf("write %s: %w", op, syscall.ENOSPC)
	}
	return nil
}

// startStoreServer runs serve's server on a store in dir with store.on_error: reject, and
// stops it when the test ends.
func startStoreServer(t *testing.T, dir string, hooks ...testHooks) (*server, *lockedBuffer) {
	t.Helper()
	vendor := httptest.NewServer(fakecrm.New(fakecrm.Options{}))
	t.Cleanup(vendor.Close)
	cfg, err := config.Parse("mtguard.yaml", yamlLines(
		"listen: 127.0.0.1:0",
		"admin: {listen: 127.0.0.1:0}",
		"store: {path: "+filepath.Join(dir, "mtguard.db")+", on_error: reject}",
		"routes:",
		"  - {name: crm, prefix: /crm, upstream: "+vendor.URL+", record_keys: [email]}",
	))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	s, err := startServer(context.Background(), cfg, func(string) string { return "" }, newLogger(logs, "json", 0), hooks...)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, logs)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { s.shutdown() }) })
	return s, logs
}

// post sends one lead through the proxy and returns the status, the id and the body.
func post(t *testing.T, s *server, email string) (int, string, string) {
	t.Helper()
	resp, err := http.Post("http://"+s.dataAddr+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"`+email+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Mtguard-Id"), resp.Header.Get("Content-Type") + " " + string(b)
}

func adminGet(t *testing.T, s *server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.adminAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStoreFullThroughServer: the disk-full test through the composition root, with the store's
// writes failing on demand. While bbolt cannot commit: the failure is logged with its error,
// /readyz fails, /metrics counts it, the store_write alert fires and health says so, and
// store.on_error: reject answers new calls 503 (problem+json, store.write_failed). Once the disk
// has room: /readyz passes, the alert resolves, and every call, delivered before or refused
// during, is in the log with its outcome.
func TestStoreFullThroughServer(t *testing.T) {
	var disk fullDisk
	s, logs := startStoreServer(t, t.TempDir(), testHooks{storeWrite: disk.hook})
	if code, body := adminGet(t, s, "/readyz"); code != 200 {
		t.Fatalf("/readyz %d %s before the disk fills", code, body)
	}
	want := map[string]txn.Outcome{}
	for i := range 5 {
		code, id, body := post(t, s, fmt.Sprintf("before%d@acme.com", i))
		if code != 201 {
			t.Fatalf("call before the disk filled: %d %s", code, body)
		}
		want[id] = txn.OutcomeDelivered
	}

	disk.set(store.OpCommit) // bbolt cannot grow the file; the journal's preallocated room still takes writes
	for i := range 5 {
		code, id, _ := post(t, s, fmt.Sprintf("during%d@acme.com", i))
		if code == 201 {
			want[id] = txn.OutcomeDelivered // its intent was journaled before the first commit failed
		}
	}
	waitUntil(t, "/readyz fails", func() bool { code, _ := adminGet(t, s, "/readyz"); return code == 503 })
	if _, body := adminGet(t, s, "/readyz"); !strings.Contains(body, "no space left") {
		t.Errorf("/readyz says %q, want the store's error", body)
	}
	code, id, body := post(t, s, "refused@acme.com")
	if code != 503 || !strings.HasPrefix(body, "application/problem+json") || !strings.Contains(body, "store-write-failed") {
		t.Fatalf("call while the store fails: %d %s, want a 503 problem with store.write_failed", code, body)
	}
	want[id] = txn.OutcomeRejected
	if !strings.Contains(logs.String(), "transaction log write failed") || !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("the failure is not logged with its error:\n%s", logs)
	}
	if _, metrics := adminGet(t, s, "/metrics"); !strings.Contains(metrics, `mtguard_store_healthy 0`) ||
		strings.Contains(metrics, `mtguard_store_write_failures_total{op="commit"} 0`) ||
		!strings.Contains(metrics, `mtguard_alerts_firing{kind="store_write",route="(store)"} 1`) {
		t.Errorf("/metrics does not show the failing store:\n%s", grepLines(metrics, "store"))
	}
	if _, health := adminGet(t, s, "/api/health"); !strings.Contains(health, `"state":"failing"`) {
		t.Errorf("health does not show the failing store: %s", health)
	}

	disk.set() // space returns
	waitUntil(t, "/readyz passes", func() bool { code, _ := adminGet(t, s, "/readyz"); return code == 200 })
	for id, outcome := range want {
		tx, err := s.store.Get(context.Background(), id)
		if err != nil || tx.Outcome != outcome {
			t.Errorf("call %s: outcome %q err %v, want %q", id, tx.Outcome, err, outcome)
		}
	}
	if _, metrics := adminGet(t, s, "/metrics"); !strings.Contains(metrics, `mtguard_alerts_firing{kind="store_write",route="(store)"} 0`) {
		t.Errorf("the store alert did not resolve:\n%s", grepLines(metrics, "store"))
	}
	if code, _, body := post(t, s, "after@acme.com"); code != 201 {
		t.Errorf("call after recovery: %d %s", code, body)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestStartsOnNearlyFullDisk: on a small filesystem without room for 64 MiB of journal, serve
// starts with the preallocation scaled down, says so, and records calls; filling the disk
// completely fails /readyz without losing a call, and freeing it recovers. It mounts a tmpfs,
// so it needs root.
func TestStartsOnNearlyFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	s, logs := startStoreServer(t, dir)
	if !strings.Contains(logs.String(), "preallocated smaller than usual") {
		t.Errorf("the log does not say the preallocation was scaled down:\n%s", logs)
	}
	var ids []string
	for i := range 5 {
		code, id, body := post(t, s, fmt.Sprintf("small%d@acme.com", i))
		if code != 201 {
			t.Fatalf("call on a small disk: %d %s", code, body)
		}
		ids = append(ids, id)
	}

	filler := filepath.Join(dir, "filler")
	fillUp(t, filler)
	for i := 0; ; i++ { // bbolt grows only once its free pages are used up
		code, id, _ := post(t, s, fmt.Sprintf("full%d-%s@acme.com", i, strings.Repeat("x", 2000)))
		if code == 201 {
			ids = append(ids, id)
		}
		if c, _ := adminGet(t, s, "/readyz"); c == 503 {
			break
		}
		if i > 5000 {
			t.Fatal("the store never noticed the full disk")
		}
	}
	os.Remove(filler)
	waitUntil(t, "/readyz passes", func() bool { code, _ := adminGet(t, s, "/readyz"); return code == 200 })
	for _, id := range ids {
		if tx, err := s.store.Get(context.Background(), id); err != nil || tx.Outcome != txn.OutcomeDelivered {
			t.Errorf("call %s: outcome %q err %v, want delivered", id, tx.Outcome, err)
		}
	}
}

// fillUp writes path until the filesystem is full.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for size := len(chunk); size > 0; size /= 2 {
		for {
			if _, err := f.Write(chunk[:size]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
	}
}
