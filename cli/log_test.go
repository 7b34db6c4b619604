package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// fakeAdmin is an admin API that answers GET /api/transactions with page (newest first, as the
// real one does) and POST /api/replays with a finished dry run, and remembers what it was asked.
type fakeAdmin struct {
	page   store.Page
	query  url.Values            // of the last GET /api/transactions
	replay inspect.ReplayRequest // of the last POST /api/replays
}

func (f *fakeAdmin) start(t *testing.T) func(string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/transactions":
			f.query = r.URL.Query()
			json.NewEncoder(w).Encode(f.page)
		case r.Method == http.MethodPost && r.URL.Path == "/api/replays":
			if err := json.NewDecoder(r.Body).Decode(&f.replay); err != nil {
				t.Errorf("replay request: %v", err)
			}
			w.WriteHeader(http.StatusAccepted)
			json.NewEncoder(w).Encode(inspect.ReplayJob{ID: "r01KB2M8Q3ZR7K2", State: "done", DryRun: true, Request: f.replay, SkipReasons: map[string]int{}})
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return func(name string) string {
		if name == "MTGUARD_ADMIN" {
			return srv.URL
		}
		return ""
	}
}

// TestLogFilters: log passes --finding and --status (a code or a class such as 4xx) to the
// API, and refuses a bad --outcome or --status as a usage error that lists what is valid
// (issue 18, item 12).
func TestLogFilters(t *testing.T) {
	admin := &fakeAdmin{}
	getenv := admin.start(t)
	err := Log(context.Background(), []string{"--finding", "auth.expired", "--status", "4xx", "--route", "crm"}, io.Discard, io.Discard, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if got := admin.query; got.Get("finding") != "auth.expired" || got.Get("status") != "4xx" || got.Get("route") != "crm" {
		t.Errorf("query sent: %v", got)
	}
	if err := Log(context.Background(), []string{"--status", "502"}, io.Discard, io.Discard, getenv); err != nil || admin.query.Get("status") != "502" {
		t.Errorf("--status 502: %v, sent %v", err, admin.query)
	}

	for _, args := range [][]string{{"--outcome", "bogus"}, {"--status", "4"}, {"--status", "7xx"}, {"--status", "fail"}} {
		admin.query = nil
		err := Log(context.Background(), args, io.Discard, io.Discard, getenv)
		if !errors.Is(err, ErrUsage) {
			t.Errorf("log %v: %v, want a usage error (exit 2)", args, err)
			continue
		}
		if args[0] == "--outcome" && !strings.Contains(err.Error(), "pending, rejected, throttled, unreachable, timeout, interrupted, failed, partial, delivered") {
			t.Errorf("log %v: %q does not list the outcomes", args, err)
		}
		if admin.query != nil {
			t.Errorf("log %v asked the API anyway", args)
		}
	}
	if err := Replay(context.Background(), []string{"--outcome", "bogus"}, io.Discard, io.Discard, getenv); !errors.Is(err, ErrUsage) {
		t.Errorf("replay --outcome bogus: %v, want a usage error", err)
	}
}

// TestLogOrder: the table and --json list the same calls in the same order, oldest first
// (issue 18, item 12).
func TestLogOrder(t *testing.T) {
	older := newTx("01JPA0000000000000000000AA", testNow.Add(-time.Hour))
	newer := newTx("01JPA0000000000000000000BB", testNow)
	admin := &fakeAdmin{page: store.Page{Transactions: []txn.Transaction{newer, older}, Next: "cursor"}}
	getenv := admin.start(t)

	var table bytes.Buffer
	if err := Log(context.Background(), nil, &table, io.Discard, getenv); err != nil {
		t.Fatal(err)
	}
	var tableIDs []string
	for _, line := range strings.Split(table.String(), "\n") {
		if f := strings.Fields(line); len(f) > 2 && strings.HasPrefix(f[2], "01JPA") {
			tableIDs = append(tableIDs, f[2])
		}
	}
	var out bytes.Buffer
	if err := Log(context.Background(), []string{"--json"}, &out, io.Discard, getenv); err != nil {
		t.Fatal(err)
	}
	var page store.Page
	if err := json.Unmarshal(out.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	var jsonIDs []string
	for _, tx := range page.Transactions {
		jsonIDs = append(jsonIDs, tx.ID)
	}
	want := older.ID + "," + newer.ID
	if strings.Join(tableIDs, ",") != want || strings.Join(jsonIDs, ",") != want {
		t.Errorf("table %v, --json %v; want both oldest first: %s", tableIDs, jsonIDs, want)
	}
	if page.Next != "cursor" {
		t.Errorf("--json lost the cursor: %q", page.Next)
	}
}

// TestReplaySinceTime: replay --since takes the RFC 3339 time that alerts print, as well as a
// duration, and sends it to the API as given (issue 18, item 12).
func TestReplaySinceTime(t *testing.T) {
	admin := &fakeAdmin{}
	getenv := admin.start(t)
	for in, want := range map[string]string{"2026-11-30T14:00:00Z": "2026-11-30T14:00:00Z", "2026-11-30T15:00:00+01:00": "2026-11-30T15:00:00+01:00", "6h": "6h0m0s"} {
		admin.replay = inspect.ReplayRequest{}
		err := Replay(context.Background(), []string{"--route", "crm", "--since", in, "--dry-run"}, io.Discard, io.Discard, getenv)
		if err != nil || admin.replay.Since != want {
			t.Errorf("replay --since %s: %v, sent since %q, want %q", in, err, admin.replay.Since, want)
		}
	}
	if err := Replay(context.Background(), []string{"--route", "crm", "--since", "yesterday"}, io.Discard, io.Discard, getenv); !errors.Is(err, ErrUsage) {
		t.Errorf("replay --since yesterday: %v, want a usage error", err)
	}
}

// TestDefaultAdminURL: logcmd spells the default admin address itself (importing config would
// link the whole server into mtguard-log), so it is held to config's here.
func TestDefaultAdminURL(t *testing.T) {
	if want := "http://" + config.DefaultAdminListen; logcmd.DefaultAdminURL != want {
		t.Errorf("logcmd.DefaultAdminURL = %q, want %q (config.DefaultAdminListen)", logcmd.DefaultAdminURL, want)
	}
}
