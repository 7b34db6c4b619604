package console

import (
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

func TestDiffLines(t *testing.T) {
	tests := []struct {
		a, b string
		want string // each line: its sign and text
	}{
		{"a\nb\nc", "a\nb\nc", "  a|  b|  c"},
		{"a\nb\nc", "a\nB\nc", "  a|- b|+ B|  c"},
		{"a", "a\nb", "  a|+ b"},
		{"a\nb", "b", "- a|  b"},
	}
	for _, tt := range tests {
		var got []string
		for _, l := range diffLines(tt.a, tt.b) {
			got = append(got, l.Sign()+" "+l.Text)
		}
		if g := strings.Join(got, "|"); g != tt.want {
			t.Errorf("diff %q %q = %q, want %q", tt.a, tt.b, g, tt.want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/calls?route=crm": "/calls?route=crm", "": "/calls", "//evil.example/": "/calls",
		"/\\evil.example": "/calls", "https://evil.example/": "/calls", "/api/transactions": "/calls",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// TestHourlyCharts: each hour's error rate is its share of calls not delivered; hours
// without calls are zero, and calls older than 24 hours are left out.
func TestHourlyCharts(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	call := func(ago time.Duration, o txn.Outcome, ms float64) txn.Transaction {
		var tx txn.Transaction
		tx.Time, tx.Outcome, tx.UpstreamMS = now.Add(-ago), o, ms
		return tx
	}
	errs, lat := hourlyCharts([]txn.Transaction{
		call(10*time.Minute, txn.OutcomeFailed, 100), call(20*time.Minute, txn.OutcomeDelivered, 50),
		call(25*time.Hour, txn.OutcomeFailed, 900),
	}, now)
	pts := strings.Fields(errs.Points)
	if len(pts) != 24 || pts[23] != "240.0,20.0" || pts[0] != "0.0,38.0" {
		t.Fatalf("error chart points %v: want 24, the last at 50%%", pts)
	}
	if lat.Max != "100 ms" || errs.Empty {
		t.Fatalf("latency max %q (want 100 ms, the 25-hour-old call left out), empty %v", lat.Max, errs.Empty)
	}
}
