package logcmd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// countingWriter counts the Write calls that reach it: each is a system call on a pipe.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestWriteLogWrites: the table reaches its writer in buffer-sized writes, not cell by cell
// (tabwriter alone wrote 20 times per line), whatever the number of lines.
func TestWriteLogWrites(t *testing.T) {
	for _, n := range []int{1, 50, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
			txs := make([]txn.Transaction, n)
			for i := range txs {
				tx := &txs[i]
				tx.ID, tx.Time, tx.Route, tx.Method, tx.Path = fmt.Sprintf("01JPA%021d", i), at, "crm", "POST", "/v1/leads"
				tx.Status, tx.Outcome, tx.DurationMS, tx.RecordKeys = 201, txn.OutcomeDelivered, 12, []string{"jane@acme.com"}
			}
			var w countingWriter
			if err := WriteLog(&w, txs, time.UTC); err != nil {
				t.Fatal(err)
			}
			if lines := strings.Count(w.String(), "\n"); lines != n+1 {
				t.Fatalf("%d lines for %d calls:\n%s", lines, n, w.String())
			}
			if max := w.Len()/4096 + 1; w.writes > max {
				t.Errorf("%d calls took %d writes for %d bytes, want at most %d", n, w.writes, w.Len(), max)
			}
		})
	}
}
