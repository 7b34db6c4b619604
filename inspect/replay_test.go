package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
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

// blockingReplayer holds every replay until release is closed.
type blockingReplayer struct {
	called  chan string
	release chan struct{}
}

func (b blockingReplayer) Replay(_ context.Context, tx txn.Transaction, _ bool) (string, error) {
	b.called <- tx.ID
	<-b.release
	return "", errors.New("vendor gone")
}

// TestSingleReplayOfAHeldChainAnswers409: while a bulk replay resends a chain, a single replay
// of it sends nothing and answers 409 naming the job that holds it.
func TestSingleReplayOfAHeldChainAnswers409(t *testing.T) {
	failed := newTx("01JFAILED00000000000000000", testNow.Add(-time.Minute))
	failed.Outcome, failed.Status = txn.OutcomeFailed, http.StatusServiceUnavailable
	txs := fakeTransactions{
		get: func(_ context.Context, id string) (txn.Transaction, error) {
			if id != failed.ID {
				return txn.Transaction{}, store.ErrNotFound
			}
			return failed, nil
		},
		query: func(context.Context, store.Query) (store.Page, error) {
			return store.Page{Transactions: []txn.Transaction{failed}}, nil
		},
	}
	r := blockingReplayer{called: make(chan string, 1), release: make(chan struct{})}
	h := NewServer(ServerConfig{Transactions: txs, Replayer: r, Now: func() time.Time { return testNow }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, adminRequest(http.MethodPost, "/api/replays", strings.NewReader(`{"route":"crm"}`)))
	var job ReplayJob
	if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &job) != nil {
		t.Fatalf("POST /api/replays: %d %s", rec.Code, rec.Body)
	}
	<-r.called
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, adminRequest(http.MethodPost, "/api/transactions/"+failed.ID+"/replay", nil))
	p := decodeProblem(t, rec, http.StatusConflict)
	for _, want := range []string{"call " + failed.ID + " is being resent already", "held by replay job " + job.ID} {
		if !strings.Contains(p.Detail, want) {
			t.Errorf("detail %q lacks %q", p.Detail, want)
		}
	}
	close(r.release)
	// Once the job let go, the chain can be replayed again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, adminRequest(http.MethodGet, "/api/replays/"+job.ID, nil))
		json.Unmarshal(rec.Body.Bytes(), &job)
		if job.State == "done" || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	go func() { <-r.called }()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, adminRequest(http.MethodPost, "/api/transactions/"+failed.ID+"/replay", nil))
	if rec.Code == http.StatusConflict && strings.Contains(rec.Body.String(), "being resent already") {
		t.Fatalf("after the job: %d %s", rec.Code, rec.Body)
	}
}

// countingReplayer resends nothing and remembers which calls it was asked to resend.
type countingReplayer struct {
	mu  sync.Mutex
	ids []string
}

func (r *countingReplayer) Replay(_ context.Context, tx txn.Transaction, _ bool) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, tx.ID)
	return "re-" + tx.ID, nil
}

// TestBulkReplaySkipsInterrupted: the vendor may have acted on an interrupted call, so a
// bulk replay leaves it alone unless include_interrupted says otherwise; replaying the one call
// by its id still resends it.
func TestBulkReplaySkipsInterrupted(t *testing.T) {
	calls := map[string]txn.Transaction{}
	for id, o := range map[string]txn.Outcome{"01A": txn.OutcomeInterrupted, "01B": txn.OutcomeFailed} {
		tx := newTx(id, testNow.Add(-time.Minute))
		tx.Outcome = o
		calls[id] = tx
	}
	txs := fakeTransactions{
		get: func(_ context.Context, id string) (txn.Transaction, error) {
			if tx, ok := calls[id]; ok {
				return tx, nil
			}
			return txn.Transaction{}, store.ErrNotFound
		},
		query: func(context.Context, store.Query) (store.Page, error) {
			return store.Page{Transactions: []txn.Transaction{calls["01A"], calls["01B"]}}, nil
		},
	}
	for _, include := range []bool{false, true} {
		rep := &countingReplayer{}
		h := NewServer(ServerConfig{Transactions: txs, Replayer: rep, Now: func() time.Time { return testNow }})
		body := fmt.Sprintf(`{"route":"crm","include_interrupted":%v}`, include)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, adminRequest(http.MethodPost, "/api/replays", strings.NewReader(body)))
		var job ReplayJob
		if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &job) != nil {
			t.Fatalf("POST /api/replays: %d %s", rec.Code, rec.Body)
		}
		for deadline := time.Now().Add(5 * time.Second); job.State != "done"; {
			if time.Now().After(deadline) {
				t.Fatalf("job %s not done: %+v", job.ID, job)
			}
			time.Sleep(5 * time.Millisecond)
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, adminRequest(http.MethodGet, "/api/replays/"+job.ID, nil))
			if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"01B"}
		if include {
			want = []string{"01A", "01B"}
		}
		if !slices.Equal(rep.ids, want) {
			t.Errorf("include_interrupted %v: resent %v, want %v", include, rep.ids, want)
		}
		if n := job.SkipReasons[skipInterrupted]; n != len(calls)-len(want) {
			t.Errorf("include_interrupted %v: skip reasons %v", include, job.SkipReasons)
		}
		if include {
			continue
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, adminRequest(http.MethodPost, "/api/transactions/01A/replay", strings.NewReader(`{}`)))
		if rec.Code != http.StatusOK || !slices.Contains(rep.ids, "01A") {
			t.Errorf("replaying the interrupted call by its id: %d %s, resent %v", rec.Code, rec.Body, rep.ids)
		}
	}
}
