package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestConsoleLeadShowsJourneys: with journeys configured, the Lead page shows, above the
// timeline, each journey of the record and which steps it reached (GET /api/journeys/{key});
// without journeys the page shows the timeline alone and no error.
func TestConsoleLeadShowsJourneys(t *testing.T) {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(vendor.Close)
	for _, tc := range []struct {
		name, journeys string
		want, not      []string
	}{
		{"configured", "journeys:\n  - {name: webinar-lead, key: email, steps: [form, crm], within: 30m}\n",
			[]string{`id="journey-webinar-lead"`, "webinar-lead", `<span class="badge ok">reached</span> <strong>form</strong>`, `<span class="badge">not reached</span> <strong>crm</strong>`, `id="timeline"`},
			nil},
		{"not configured", "",
			[]string{`id="timeline"`},
			[]string{`id="h-journeys"`, `class="error"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := startMtguard(t, fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
%sroutes:
  - {name: form, prefix: /form, upstream: %s, record_keys: [email]}
  - {name: crm, prefix: /crm, upstream: %[2]s, record_keys: [email]}
`, tc.journeys, vendor.URL), nil)
			resp, err := http.Post(in.proxy+"/form/v1/leads", "application/json", strings.NewReader(`{"email":"kim@acme.com"}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			resp, err = http.Get(in.admin + "/lead?record=" + url.QueryEscape("kim@acme.com"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page := string(b)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("lead page: %d\n%s", resp.StatusCode, page)
			}
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("lead page: no %s in\n%s", w, page)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(page, w) {
					t.Errorf("lead page: %s should not be there:\n%s", w, page)
				}
			}
			if i, j := strings.Index(page, `id="h-journeys"`), strings.Index(page, `id="timeline"`); tc.journeys != "" && i > j {
				t.Error("lead page: the journeys are not above the timeline")
			}
		})
	}
}
