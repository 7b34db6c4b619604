package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/store/storetest"
)

// testDSN is the database the tests use: MTGUARD_TEST_PG_DSN, or the project machines'
// PostgreSQL (trust authentication, database test).
func testDSN() string {
	if dsn := os.Getenv("MTGUARD_TEST_PG_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3"
}

// freshSchema returns a new, empty schema name, dropped when the test ends. Without a
// reachable PostgreSQL the test is skipped, unless MTGUARD_TEST_SERVICES=1 makes it mandatory.
func freshSchema(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testDSN())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("MTGUARD_TEST_SERVICES") == "1" {
			t.Fatalf("PostgreSQL is required (MTGUARD_TEST_SERVICES=1) but unreachable: %v", err)
		}
		t.Skipf("PostgreSQL is not reachable at %s (%v); set MTGUARD_TEST_SERVICES=1 to make this test mandatory", "127.0.0.1:5432", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "mtguard_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
		pool.Close()
	})
	return schema
}

func openPG(t *testing.T, schema string, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	opts.Schema = schema
	opts.Migrate = true
	s, err := pgstore.Open(context.Background(), testDSN(), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContract runs the backends' shared suite against PostgreSQL.
func TestContract(t *testing.T) {
	freshSchema(t) // skips the whole suite without PostgreSQL
	storetest.Run(t, func(t *testing.T) store.Log {
		return openPG(t, freshSchema(t), pgstore.Options{})
	})
}

var _ store.Log = (*pgstore.Store)(nil)
