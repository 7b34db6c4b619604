package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/schemas"
)

// BenchmarkCaptureRequest measures the stored form of a 1 KB contact whose body has a field
// to redact (the proxy benchmark's full pipeline): scan, redaction, re-encoding and scrub.
func BenchmarkCaptureRequest(b *testing.B) {
	p, err := NewPipeline(PipelineConfig{Recorder: &nopRecorder{}, Redactor: NewRedactor(RedactConfig{Fields: []string{"mobilephone"}})})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"properties":{"email":"lead-1@example.com","firstname":"Jane","lastname":"Doe-Martinez","company":"Acme Industrial Supplies Inc.","jobtitle":"Director of Marketing Operations","phone":"+1 (617) 555-0142","mobilephone":"+1 617 555 0199","website":"https://www.acme-industrial.example.com","address":"25 First Street, Suite 400","city":"Cambridge","state":"MA","zip":"02141","country":"United States","utm_source":"linkedin","utm_medium":"paid_social","utm_campaign":"2025-q3-webinar-series","message":"Hi, we are evaluating lead routing tools for our EMEA and NA teams and would like to see a demo."}}`)
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer pat-na1-11111111-2222-3333-4444-555555555555"}, "User-Agent": {"webinar-sync/2.3"}}
	paths := []schemas.KeyPath{}
	// walk: the scan, then the one-pass redaction's walk (a body that is not canonical);
	// splice: the scan that also finds the secret values, spliced out (scanRequest's way).
	for _, splice := range []bool{false, true} {
		b.Run(map[bool]string{false: "walk", true: "splice"}[splice], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				found := &secretSet{}
				var sec bool
				var redacted []byte
				if splice {
					sc, _ := schemas.ScanJSONSpans(body, paths, p.cfg.Redactor.IsSecretField)
					if sec, redacted = sc.Secret, spliceRedacted(body, sc.Spans, found); redacted == nil {
						b.Fatal("not spliced")
					}
				} else {
					_, sec, _ = schemas.ScanJSON(body, paths, p.cfg.Redactor.IsSecretField)
				}
				m := p.captureUnscrubbed(h, body, schemas.Body{}, int64(len(body)), &sec, redacted, found)
				for range 4 { // request, provisional, final: each scrub needs the forms
					scrubMessage(&m, found.forms())
				}
				if !strings.Contains(m.Body, Redacted) {
					b.Fatal("not redacted")
				}
			}
		})
	}
}

// BenchmarkNameLookupParallel looks up, on every CPU at once as the proxy's calls do, the
// redactor's decision for eleven header names (a call looks up ~25 header names and one per
// body key). Its cache is read without a lock (nameCache).
func BenchmarkNameLookupParallel(b *testing.B) {
	r := NewRedactor(RedactConfig{})
	names := []string{"Content-Type", "Authorization", "User-Agent", "Accept", "Accept-Encoding", "Content-Length",
		"X-Request-Id", "Date", "Vary", "X-Trace", "X-Mtguard-Id"}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for _, n := range names {
				r.secretHeader(n)
			}
		}
	})
}
