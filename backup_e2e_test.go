package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/examples/fakecrm"
	"github.com/mtguard/mtguard/txn"
)

const backupConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  path: %s
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
`

// logJSON is "mtguard log --json" of an instance, by id.
func logJSON(t *testing.T, in *instance) map[string]json.RawMessage {
	t.Helper()
	out, err := in.cli(t, nil, "log", "--json", "--limit", "1000")
	if err != nil {
		t.Fatalf("log: %v\n%s", err, out)
	}
	var page struct {
		Transactions []json.RawMessage `json:"transactions"`
		Next         string            `json:"next"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil || page.Next != "" {
		t.Fatalf("log --json (next %q): %v", page.Next, err)
	}
	m := map[string]json.RawMessage{}
	for _, raw := range page.Transactions {
		var tx struct{ ID string }
		json.Unmarshal(raw, &tx)
		m[tx.ID] = raw
	}
	return m
}

// TestBackupRestoreUnderLoad takes a backup through the CLI while leads flow, restores it into
// a new folder, serves it, and compares its log with the original's: every call answered
// before the backup began is there, as the original has it, and every call in flight at the
// snapshot is there as interrupted.
func TestBackupRestoreUnderLoad(t *testing.T) {
	vendor := httptest.NewServer(fakecrm.New(fakecrm.Options{}))
	defer vendor.Close()
	in := startMtguard(t, fmt.Sprintf(backupConfig, "./mtguard.db", vendor.URL), nil)

	var answered sync.Map // id -> true: calls whose answer the tool had
	var sent, count atomic.Int64
	stop := make(chan struct{})
	warm := make(chan struct{})
	var warmOnce sync.Once
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if sent.Add(1) > 700 { // log --json reads up to 1000 calls
					return
				}
				resp, err := http.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(fmt.Sprintf(`{"email":"w%d-%d@acme.com"}`, w, i)))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answered.Store(resp.Header.Get("X-Mtguard-Id"), true)
				if count.Add(1) == 100 {
					warmOnce.Do(func() { close(warm) })
				}
			}
		}()
	}
	<-warm
	var before []string
	answered.Range(func(k, _ any) bool { before = append(before, k.(string)); return true })
	backup := filepath.Join(t.TempDir(), "backup.db")
	out, err := in.cli(t, nil, "backup", "--out", backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if !strings.Contains(out, "backed up") {
		t.Fatalf("backup said %q", out)
	}
	if _, err := os.Stat(backup + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("backup left its temporary file: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "restored", "mtguard.db")
	os.MkdirAll(filepath.Dir(restored), 0o700)
	if out, err := offline("restore", "--from", backup, "--store", restored); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if out, err := offline("store", "verify", restored); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("store verify: %v\n%s", err, out)
	}
	orig := logJSON(t, in)
	in2 := startMtguard(t, fmt.Sprintf(backupConfig, restored, vendor.URL), nil)
	got := logJSON(t, in2)

	for _, id := range before {
		if got[id] == nil {
			t.Fatalf("call %s was answered before the backup began but is not in the restored log", id)
		}
	}
	interrupted := 0
	for id, raw := range got {
		if orig[id] == nil {
			t.Fatalf("restored call %s is not in the original log", id)
		}
		var tx txn.Transaction
		json.Unmarshal(raw, &tx)
		if tx.Outcome == txn.OutcomeInterrupted || hasFinding(tx, txn.CodeOutcomeUnchecked) {
			interrupted++ // in flight at the snapshot: the restored store settles it as a restart would
			continue
		}
		if !bytes.Equal(raw, orig[id]) {
			t.Fatalf("call %s differs:\noriginal %s\nrestored %s", id, orig[id], raw)
		}
	}
	t.Logf("%d calls answered before the backup, %d in the backup (%d in flight at the snapshot), %d in the original", len(before), len(got), interrupted, len(orig))
}

// offline runs an mtguard command that needs no server.
func offline(args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"mtguard"}, args...), &out, &out, func(string) string { return "" })
	return out.String(), err
}

// TestBackupBadInput: a target that cannot be written fails before the server is asked, an
// existing one is not replaced without --force, and a restore never overwrites a store in use.
func TestBackupBadInput(t *testing.T) {
	vendor := httptest.NewServer(fakecrm.New(fakecrm.Options{}))
	defer vendor.Close()
	dir := t.TempDir()
	in := startMtguard(t, fmt.Sprintf(backupConfig, filepath.Join(dir, "live.db"), vendor.URL), nil)
	existing := filepath.Join(dir, "existing.db")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing folder", []string{"backup", "--out", filepath.Join(dir, "nope", "b.db")}, "cannot write"},
		{"existing file", []string{"backup", "--out", existing}, "--force"},
		{"folder", []string{"backup", "--out", dir}, "is a folder"},
		{"restore a file that is no backup", []string{"restore", "--from", existing, "--store", filepath.Join(dir, "new.db")}, "not sound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out string
			var err error
			if tc.args[0] == "restore" {
				out, err = offline(tc.args...)
			} else {
				out, err = in.cli(t, nil, tc.args...)
			}
			if err == nil || !strings.Contains(err.Error()+out, tc.want) || errors.Is(err, cli.ErrUsage) {
				t.Fatalf("%v: %v\n%s", tc.args, err, out)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Fatal("a refused backup changed the existing file")
	}
	// A sound backup restored over the store serve has open is refused.
	good := filepath.Join(dir, "good.db")
	if out, err := in.cli(t, nil, "backup", "--out", good); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	out, err := offline("restore", "--from", good, "--store", filepath.Join(dir, "live.db"), "--force")
	if err == nil || !strings.Contains(err.Error(), "running mtguard") {
		t.Fatalf("restore over a store in use: %v\n%s", err, out)
	}
}
