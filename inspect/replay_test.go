package inspect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// noReplayer is a Replayer for jobs that select nothing: it is never called.
type noReplayer struct{}

func (noReplayer) Replay(context.Context, txn.Transaction, bool) (string, error) {
	return "", nil
}

// TestReplayJobIDsSurviveRestart starts a bulk replay, "restarts" the server (a new one on the
// same log, as after a restart) and starts another: the two jobs must not share an id, and the
// first job's id must answer 404 on the new server, saying why, rather than show the new job
// (issue 18, item 13).
func TestReplayJobIDsSurviveRestart(t *testing.T) {
	txs := fakeTransactions{query: func(context.Context, store.Query) (store.Page, error) { return store.Page{}, nil }}
	start := func(now time.Time) (http.Handler, string) {
		h := NewServer(ServerConfig{Transactions: txs, Replayer: noReplayer{}, Now: func() time.Time { return now }})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, adminRequest(http.MethodPost, "/api/replays", strings.NewReader(`{"route":"crm"}`)))
		var job ReplayJob
		if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &job) != nil || job.ID == "" {
			t.Fatalf("POST /api/replays: %d %s", rec.Code, rec.Body)
		}
		return h, job.ID
	}
	first, old := start(testNow)
	_, second := start(testNow) // the same millisecond on another server: ids still differ
	restarted, fresh := start(testNow.Add(time.Hour))
	if old == second || old == fresh || second == fresh {
		t.Fatalf("job ids %s, %s, %s repeat across servers", old, second, fresh)
	}
	if !(old < fresh) {
		t.Errorf("job ids %s then %s do not sort by time", old, fresh)
	}
	// The first server still knows its job.
	rec := httptest.NewRecorder()
	first.ServeHTTP(rec, adminRequest(http.MethodGet, "/api/replays/"+old, nil))
	if rec.Code != http.StatusOK {
		t.Errorf("GET %s on its own server: %d %s", old, rec.Code, rec.Body)
	}
	// The restarted one does not, and says that the job ran before the restart.
	rec = httptest.NewRecorder()
	restarted.ServeHTTP(rec, adminRequest(http.MethodGet, "/api/replays/"+old, nil))
	p := decodeProblem(t, rec, http.StatusNotFound)
	for _, want := range []string{"no replay job " + old, "before this server started", "mtguard log --since 2025-03-14T12:00:00Z"} {
		if !strings.Contains(p.Detail, want) {
			t.Errorf("detail %q lacks %q", p.Detail, want)
		}
	}
	// An id of the old counter (r1) is unknown, not some other job.
	rec = httptest.NewRecorder()
	restarted.ServeHTTP(rec, adminRequest(http.MethodGet, "/api/replays/r1", nil))
	if p := decodeProblem(t, rec, http.StatusNotFound); !strings.Contains(p.Detail, "no replay job r1") {
		t.Errorf("GET r1: %q", p.Detail)
	}
}
