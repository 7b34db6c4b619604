package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestForgetListsRecipients: forget prints what was deleted and what was kept with the
// person's values erased, and where the person was sent (route, vendor host, calls, first and
// last time), which is what a legal team needs to ask those vendors to erase it too.
func TestForgetListsRecipients(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete || r.URL.Path != "/api/records/jane@acme.com" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"deleted":3,"scrubbed":2,"bytes_before":65536,"bytes_after":32768,"recipients":[
			{"route":"crm","upstream":"crm.example.com","calls":3,"sent":2,"first":"2026-11-28T10:00:00Z","last":"2026-11-28T13:00:00Z"},
			{"route":"marketo","upstream":"123-abc-456.mktorest.com","calls":1,"sent":1,"first":"2026-11-28T11:00:00Z","last":"2026-11-28T11:00:00Z"},
			{"route":"segment","upstream":"api.segment.io","calls":1,"sent":0}]}`)
	}))
	defer srv.Close()
	var out strings.Builder
	err := Forget(context.Background(), []string{"--record", "jane@acme.com", "--admin", srv.URL}, &out, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"deleted 3 calls that carried only jane@acme.com",
		"kept 2 calls that also carried other records, with its values replaced by [ERASED]",
		"store compacted from 65536 to 32768 bytes",
		"ask these vendors to erase it too",
		"crm      crm.example.com           3      2     2026-11-28T10:00:00Z  2026-11-28T13:00:00Z",
		"marketo  123-abc-456.mktorest.com  1      1     2026-11-28T11:00:00Z  2026-11-28T11:00:00Z",
		"segment  api.segment.io            1      0     -                     -",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("forget output lacks %q:\n%s", want, out.String())
		}
	}
}
