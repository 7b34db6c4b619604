package store_test

import (
	"path/filepath"
	"testing"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/store/storetest"
)

// TestContract runs the backends' shared suite against the bbolt file.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Log {
		s, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
