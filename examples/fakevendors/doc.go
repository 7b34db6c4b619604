// Package fakevendors holds fake marketing vendors that fail the way the real ones are
// documented to fail (docs/vendors.md has the sources): Marketo's HTTP 200 with success:false
// for expired tokens, rate limits, quotas and skipped records; Salesforce's 403 limit, 410 for a
// retired version and partly failed collections; HubSpot's 207 batches and v1 Lists that answer
// 200 until a cut-off date and 404 after; Segment and GA4 answering 2xx to everything; Meta's
// events_received; Klaviyo's revision header; Intercom's version header; Braze's success with
// errors; Iterable's failCount; Mandrill's rejected recipients.
//
// Each vendor is an http.Handler with its own Options; New serves them all under /<preset>/ for
// the demo. Every vendor keeps its state in memory, is safe for concurrent use, and reads time
// from Options.Now, so dated behaviour (cut-offs, token expiry, windows) is testable without
// sleeping. The package has no package-level state.
package fakevendors
