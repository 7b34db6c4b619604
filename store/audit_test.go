package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The audit log keeps its entries in the order written, across a reopen, and neither the
// retention sweep nor forget (which compacts the file) removes any.
func TestAuditLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	var written []AuditEntry
	for i, e := range []AuditEntry{
		{Actor: "ops", Role: "operator", Method: "POST", Endpoint: "/api/transactions/{id}/replay", Target: "01J0", Params: map[string]string{"force": "true"}, Remote: "127.0.0.1:5000", Status: 200, Result: "01J1"},
		{Actor: "dash", Role: "viewer", Method: "DELETE", Endpoint: "/api/records/{key}", Target: "sha256:0123456789abcdef", Remote: "127.0.0.1:5001", Status: 403},
		{Actor: "dpo", Role: "admin", Method: "DELETE", Endpoint: "/api/records/{key}", Target: "sha256:0123456789abcdef", Remote: "127.0.0.1:5002", Status: 200},
	} {
		e.Time = at.Add(time.Duration(i) * time.Hour)
		got, err := s.AppendAudit(e)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == "" || (i > 0 && got.ID <= written[i-1].ID) {
			t.Fatalf("id %q does not follow %v", got.ID, written)
		}
		written = append(written, got)
	}
	if _, err := s.DeleteBefore(at.Add(24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Forget(context.Background(), "jane@acme.com"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, path, Options{})

	all, err := s.Audit(AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []AuditEntry{written[2], written[1], written[0]}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("audit, newest first =\n%+v\nwant\n%+v", all, want)
	}
	if got, _ := s.Audit(AuditQuery{Since: at.Add(time.Hour)}); len(got) != 2 || got[1].ID != written[1].ID {
		t.Errorf("since the second: %+v", got)
	}
	if got, _ := s.Audit(AuditQuery{Limit: 1}); len(got) != 1 || got[0].ID != written[2].ID {
		t.Errorf("limit 1: %+v", got)
	}
}
