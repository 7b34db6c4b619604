package pgstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/txn"
)

// TestSize counts mtguard's tables (the day partitions of calls with them) and grows with the
// calls, but leaves out another application's table in the same schema.
func TestSize(t *testing.T) {
	schema := freshSchema(t)
	s := openPG(t, schema, pgstore.Options{})
	ctx := context.Background()
	empty, err := s.Size(ctx)
	if err != nil || empty <= 0 {
		t.Fatalf("size of an empty log = %d, %v; want its tables' pages", empty, err)
	}
	pool := schemaPool(t, schema)
	if _, err := pool.Exec(ctx, `CREATE TABLE other_app AS SELECT repeat('x', 1000) AS v FROM generate_series(1, 2000)`); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Size(ctx); err != nil || got != empty {
		t.Fatalf("size with another application's table = %d, %v; want %d", got, err, empty)
	}
	body := strings.Repeat("y", 2000)
	for range 300 {
		tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/leads", Request: txn.Message{Body: body}}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Size(ctx)
	if err != nil || got <= empty {
		t.Fatalf("size after 300 calls = %d, %v; want more than the empty log's %d", got, err, empty)
	}
	t.Logf("empty log %d bytes, with 300 calls of 2 kB %d bytes", empty, got)
}
