package proxy

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/txn"
)

// TestMalformedBodyKeysAreGuessed: a body that does not parse has no record keys by path, so
// the lead would be invisible to log --record; mtguard falls back to the email addresses in
// its first 64 KiB, normalised like other keys, and says they were guessed (issue 18, item 17).
func TestMalformedBodyKeysAreGuessed(t *testing.T) {
	tests := []struct {
		name, body string
		wantKeys   []string
		guessed    bool
	}{
		{"malformed JSON", `{"email":" Jane@Acme.com ","input":[{"email":"bob@acme.com"},{"email":"jane@acme.com"}`, []string{"jane@acme.com", "bob@acme.com"}, true},
		{"malformed JSON without an email", `{"email":"jane(at)acme.com",`, []string{}, false},
		{"valid JSON keeps its keys by path", `{"email":"Jane@Acme.com","note":"cc bob@acme.com"}`, []string{"jane@acme.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://mtguard.local/crm/contacts", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			f, _ := newTestFlight(t, PipelineConfig{MaxBody: 1 << 20, CaptureBody: 1024}, req, &Call{Route: stageRoute(t), Front: "reverse"})
			if s := f.admit(); s != nil {
				t.Fatalf("admit refused the call: %+v", s)
			}
			if !slices.Equal(f.tx.RecordKeys, tt.wantKeys) {
				t.Errorf("record keys %q, want %q", f.tx.RecordKeys, tt.wantKeys)
			}
			if got := hasFinding(f.tx.Findings, txn.CodeRecordKeysGuessed); got != tt.guessed {
				t.Errorf("record_keys.guessed finding: %v, want %v (findings %+v)", got, tt.guessed, f.tx.Findings)
			}
		})
	}
}
