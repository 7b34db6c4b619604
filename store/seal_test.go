package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
	bolt "go.etcd.io/bbolt"
)

const (
	canaryBody   = "CANARY-BODY-7f3a9c"
	canaryHeader = "CANARY-HEADER-51be02"
	canaryResp   = "CANARY-RESPONSE-c0ffee"
)

func testKey(t *testing.T, id string) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

func mustKeys(t *testing.T, s string) *Keys {
	t.Helper()
	k, err := ParseKeys(s)
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	return k
}

// canaryCall records one complete call whose request body and header and response body hold
// the canaries, and returns its id.
func canaryCall(t *testing.T, s *Store) string {
	t.Helper()
	tx := &txn.Transaction{Call: txn.Call{
		Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/v1/leads", RecordKeys: []string{"jane@acme.com"},
		Request: txn.Message{ContentType: "application/json", Headers: http.Header{"X-Note": {canaryHeader}},
			Body: `{"email":"jane@acme.com","note":"` + canaryBody + `"}`, Size: 60},
	}}
	if err := s.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{},
		Response: txn.Message{Body: `{"echo":"` + canaryResp + `"}`, Trailers: http.Header{"X-Trail": {canaryResp}}, Size: 30}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	return tx.ID
}

// rawFiles returns the bytes of the store file and every journal segment beside it.
func rawFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob(path + "*")
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

func checkPlain(t *testing.T, s *Store, id string) {
	t.Helper()
	got, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.Request.Body, canaryBody) || got.Request.Headers.Get("X-Note") != canaryHeader ||
		!strings.Contains(got.Response.Body, canaryResp) || got.Response.Trailers.Get("X-Trail") != canaryResp {
		t.Fatalf("Get does not return the plain call: request %+v response %+v", got.Request, got.Response)
	}
	if got.Request.BodyEncoding != "" || len(got.Findings) != 0 {
		t.Fatalf("body encoding %q findings %+v", got.Request.BodyEncoding, got.Findings)
	}
}

// TestEncryptCanary: with keys, no canary is in the store file or the journal, read raw,
// while the call is in flight and after it is applied; without, they are (the test's control).
// Get and Query return plain text either way.
func TestEncryptCanary(t *testing.T) {
	for _, encrypt := range []bool{false, true} {
		t.Run(map[bool]string{false: "clear", true: "encrypted"}[encrypt], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mtguard.db")
			var opts Options
			if encrypt {
				opts.Keys = mustKeys(t, testKey(t, "k1"))
			}
			s := mustOpen(t, path, opts)
			id := canaryCall(t, s)
			if err := s.readBarrier(context.Background()); err != nil {
				t.Fatal(err)
			}
			files := rawFiles(t, path)
			journalSeen := false
			for name, b := range files { // the journal still holds the call
				if strings.Contains(name, ".wal.") && bytes.Contains(b, []byte(id)) {
					journalSeen = true
				}
			}
			if !journalSeen {
				t.Fatal("the journal does not hold the call: the test reads the wrong files")
			}
			checkCanaries(t, files, !encrypt)
			checkPlain(t, s, id)
			page, err := s.Query(context.Background(), Query{RecordKey: "jane@acme.com"})
			if err != nil || len(page.Transactions) != 1 || page.Transactions[0].Request.Headers.Get("X-Note") != canaryHeader {
				t.Fatalf("query: %+v %v", page, err)
			}
			s.Close()
			checkCanaries(t, rawFiles(t, path), !encrypt)
			s = mustOpen(t, path, opts)
			checkPlain(t, s, id)
		})
	}
}

// checkCanaries: want, each canary is in some file; !want, none is in any.
func checkCanaries(t *testing.T, files map[string][]byte, want bool) {
	t.Helper()
	for _, c := range []string{canaryBody, canaryHeader, canaryResp} {
		var in []string
		for name, b := range files {
			if bytes.Contains(b, []byte(c)) {
				in = append(in, name)
			}
		}
		if want != (len(in) > 0) {
			t.Errorf("%s is in %v (files %d), want it there: %v", c, in, len(files), want)
		}
	}
}

// TestEncryptJournalReplay: sealed records that only the journal holds (the process died
// before bbolt committed them) are applied on open and read back in clear.
func TestEncryptJournalReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	keys := mustKeys(t, testKey(t, "k1"))
	s := mustOpen(t, path, Options{Keys: keys})
	s.crashed.Store(true) // bbolt gets nothing from now on
	id := canaryCall(t, s)
	// A call mtguard answered itself: its request is journaled only with its result.
	own := &txn.Transaction{Call: txn.Call{ID: s.NewID(time.Now()), Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x",
		Request: txn.Message{Headers: http.Header{"X-Note": {canaryHeader}}, Body: canaryBody, Size: 18}}}
	own.Result = txn.Result{Status: 413, Outcome: txn.OutcomeRejected, Response: txn.Message{Body: canaryResp}}
	if err := s.RecordResult(own); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkCanaries(t, rawFiles(t, path), false)
	s = mustOpen(t, path, Options{Keys: keys})
	if s.replayedRecords == 0 {
		t.Fatal("nothing replayed")
	}
	// The result was never journaled (its intent was), so the call reads as interrupted.
	got, err := s.Get(context.Background(), id)
	if err != nil || got.Request.Headers.Get("X-Note") != canaryHeader || !strings.Contains(got.Request.Body, canaryBody) ||
		got.Outcome != txn.OutcomeInterrupted {
		t.Fatalf("replayed sealed intent: %+v %v", got, err)
	}
	got, err = s.Get(context.Background(), own.ID)
	if err != nil || got.Request.Headers.Get("X-Note") != canaryHeader || got.Request.Body != canaryBody ||
		got.Response.Body != canaryResp || got.Status != 413 {
		t.Fatalf("replayed sealed result with its call: %+v %v", got, err)
	}
}

// TestEncryptRotation: a store written with key a, reopened with "b,a", reads the old calls
// and seals new ones with b; reopened with b alone, the old calls read as
// store.undecryptable, empty, without failing the read.
func TestEncryptRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	ka, kb := testKey(t, "a"), testKey(t, "b")
	s := mustOpen(t, path, Options{Keys: mustKeys(t, ka)})
	oldID := canaryCall(t, s)
	s.Close()

	s = mustOpen(t, path, Options{Keys: mustKeys(t, kb+","+ka)})
	checkPlain(t, s, oldID)
	newID := canaryCall(t, s)
	checkPlain(t, s, newID)
	var oldReq, newReq []byte
	if err := s.view(func(btx *bolt.Tx) error {
		oldReq = bytes.Clone(btx.Bucket(bucketReq).Get([]byte(oldID)))
		newReq = bytes.Clone(btx.Bucket(bucketReq).Get([]byte(newID)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(oldReq, []byte(`"body":"a:`)) || !bytes.Contains(newReq, []byte(`"body":"b:`)) {
		t.Fatalf("key ids in the stored bytes:\nold %s\nnew %s", oldReq, newReq)
	}
	s.Close()

	s = mustOpen(t, path, Options{Keys: mustKeys(t, kb)})
	checkPlain(t, s, newID)
	got, err := s.Get(context.Background(), oldID)
	if err != nil {
		t.Fatalf("an undecryptable call fails Get: %v", err)
	}
	if len(got.Findings) != 2 || got.Findings[0].Code != txn.CodeStoreUndecryptable ||
		!strings.Contains(got.Findings[0].Detail, `key "a"`) || got.Request.Body != "" || got.Request.Headers != nil || got.Response.Body != "" {
		t.Fatalf("undecryptable call: findings %+v request %+v", got.Findings, got.Request)
	}
	if got.Status != 201 || got.Route != "crm" || got.Request.Size != 60 {
		t.Fatalf("clear fields lost: %+v", got)
	}
	page, err := s.Query(context.Background(), Query{Route: "crm"})
	if err != nil || len(page.Transactions) != 2 {
		t.Fatalf("query with an undecryptable call: %d calls, %v", len(page.Transactions), err)
	}
	s.Close()

	// Opened without store.encrypt, sealed calls read as undecryptable too.
	s = mustOpen(t, path, Options{})
	got, err = s.Get(context.Background(), newID)
	if err != nil || len(got.Findings) == 0 || got.Findings[0].Code != txn.CodeStoreUndecryptable ||
		!strings.Contains(got.Findings[0].Detail, "store.encrypt is not set") {
		t.Fatalf("sealed call without keys: %+v %v", got.Findings, err)
	}
}

// TestEncryptForget: Forget finds a key mentioned only inside sealed bodies, and erases it.
func TestEncryptForget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	keys := mustKeys(t, testKey(t, "k1"))
	s := mustOpen(t, path, Options{Keys: keys})
	tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "lookup", Method: "GET", Path: "/lookup",
		Request: txn.Message{Body: `{"q":"zoe@acme.com"}`, Size: 20}}}
	if err := s.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Forget(context.Background(), "zoe@acme.com")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 1 {
		t.Fatalf("forget report %+v, want the sealed call deleted", rep)
	}
	if _, err := s.Get(context.Background(), tx.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("forgotten call still there: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	k, err := ParseKeys(" new:" + good + " , old:" + strings.TrimRight(good, "="))
	if err != nil {
		t.Fatal(err)
	}
	if k.Current() != "new" || strings.Join(k.IDs(), ",") != "new,old" {
		t.Fatalf("ids %v", k.IDs())
	}
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{good, "no id"},
		{"a b:" + good, "is not 1 to 32"},
		{"a:" + good + ",a:" + good, "used twice"},
		{"a:not base64!", "not valid base64"},
		{"a:" + base64.StdEncoding.EncodeToString(make([]byte, 16)), "16 bytes"},
	} {
		_, err := ParseKeys(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKeys(%q) = %v, want %q", tc.in, err, tc.want)
		}
		if err != nil && len(tc.in) > 10 && strings.Contains(err.Error(), good[:20]) {
			t.Errorf("error holds key material: %v", err)
		}
	}
}

// TestEncryptProvisionalRecovery: a call whose process died after its provisional result
// (sealed) was recorded is recovered with the vendor's headers readable.
func TestEncryptProvisionalRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	keys := mustKeys(t, testKey(t, "k1"))
	s := mustOpen(t, path, Options{Keys: keys})
	ctx := context.Background()
	tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x",
		Request: txn.Message{Body: canaryBody, Size: 18}}}
	if err := s.RecordIntent(ctx, tx); err != nil {
		t.Fatal(err)
	}
	prov := txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Response: txn.Message{Headers: http.Header{"X-Vendor": {canaryResp}}}}
	if err := s.RecordProvisional(ctx, tx, prov); err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkCanaries(t, rawFiles(t, path), false)
	s = mustOpen(t, path, Options{Keys: keys})
	if s.RecoveredProvisional() != 1 {
		t.Fatalf("recovered provisional %d, want 1", s.RecoveredProvisional())
	}
	got, err := s.Get(ctx, tx.ID)
	if err != nil || got.Response.Headers.Get("X-Vendor") != canaryResp || got.Request.Body != canaryBody || got.Outcome != txn.OutcomeDelivered {
		t.Fatalf("recovered call: %+v %v", got, err)
	}
}

// TestEncryptReplayLink: linking a replay rewrites its original's result without opening it;
// the original still decrypts.
func TestEncryptReplayLink(t *testing.T) {
	s := mustOpen(t, "", Options{Keys: mustKeys(t, testKey(t, "k1"))})
	orig := canaryCall(t, s)
	rp := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/v1/leads", ReplayOf: orig}}
	if err := s.RecordIntent(context.Background(), rp); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(context.Background(), orig)
	if err != nil || len(got.ReplayedBy) != 1 {
		t.Fatalf("replay link: %+v %v", got.ReplayedBy, err)
	}
	checkPlain(t, s, orig)
}
