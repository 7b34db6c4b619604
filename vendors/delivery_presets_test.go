package vendors

import (
	"strings"
	"testing"
)

// TestPresetDeliveryOps: every operation a shipped preset declares in its delivery: list is
// found for its method and path and classified as declared (docs/delivery.md's table), and a
// neighbouring call the vendor documents nothing about is not found.
func TestPresetDeliveryOps(t *testing.T) {
	tests := []struct {
		preset, method, path string
		body                 string
		found                bool
		idempotent           string
		answerNeeded         bool
		safe                 bool // SafeToResend on body
	}{
		// Marketo: concurrent upserts of one key can duplicate; the action is in the body.
		{"marketo", "POST", "/rest/v1/leads.json", `{"action":"createOrUpdate","input":[{"email":"a@example.com"}]}`, true, IdempotentNo, false, false},
		{"marketo", "GET", "/rest/v1/leads.json", ``, false, "", false, false},
		{"marketo", "POST", "/rest/v1/activities/external.json", `{}`, false, "", false, false},

		// Pardot: v5 upsert by email yes; creates (v5, v3, v4) no and answer the new id.
		{"pardot", "POST", "/api/v5/objects/prospects/do/upsertLatestByEmail", `{"matchEmail":"a@example.com","prospect":{}}`, true, IdempotentYes, false, true},
		{"pardot", "POST", "/api/v5/objects/prospects", `{"email":"a@example.com"}`, true, IdempotentNo, true, false},
		{"pardot", "POST", "/api/prospect/version/4/do/create/email/a@example.com", ``, true, IdempotentNo, true, false},
		{"pardot", "GET", "/api/prospect/version/3/do/create/email/a@example.com", ``, true, IdempotentNo, true, false},
		{"pardot", "POST", "/api/prospect/version/4/do/upsert/email/a@example.com", ``, false, "", false, false},

		// Mailchimp: PUT to the subscriber hash yes; POST to the list no.
		{"mailchimp", "PUT", "/3.0/lists/abc123/members/5d41402abc4b2a76b9719d911017c592", `{"email_address":"a@example.com","status_if_new":"subscribed"}`, true, IdempotentYes, false, true},
		{"mailchimp", "POST", "/3.0/lists/abc123/members", `{"email_address":"a@example.com","status":"subscribed"}`, true, IdempotentNo, false, false},
		{"mailchimp", "POST", "/3.0/lists/abc123/members/5d41402abc4b2a76b9719d911017c592/tags", `{}`, false, "", false, false},

		// Mandrill: every send is a new email, and the tool reads the per-recipient answer.
		{"mailchimp-transactional", "POST", "/messages/send.json", `{"message":{"to":[{"email":"a@example.com"}]}}`, true, IdempotentNo, true, false},
		{"mailchimp-transactional", "POST", "/messages/send-template", `{"template_name":"t"}`, true, IdempotentNo, true, false},
		{"mailchimp-transactional", "POST", "/users/ping", `{}`, false, "", false, false},

		// Klaviyo: events keyed by unique_id; profile-import yes; profile create no + answer.
		{"klaviyo", "POST", "/api/events", `{"data":{"type":"event","attributes":{"unique_id":"ord-1","properties":{}}}}`, true, IdempotentKey, false, true},
		{"klaviyo", "POST", "/api/events/", `{"data":{"type":"event","attributes":{"properties":{}}}}`, true, IdempotentKey, false, false},
		{"klaviyo", "POST", "/api/profile-import", `{"data":{"type":"profile","attributes":{"email":"a@example.com"}}}`, true, IdempotentYes, false, true},
		{"klaviyo", "POST", "/api/profiles/", `{"data":{"type":"profile","attributes":{"email":"a@example.com"}}}`, true, IdempotentNo, true, false},
		{"klaviyo", "POST", "/api/event-bulk-create-jobs", `{}`, false, "", false, false},

		// Braze: events and purchases are never deduplicated.
		{"braze", "POST", "/users/track", `{"attributes":[{"external_id":"u1","email":"a@example.com"}]}`, true, IdempotentNo, false, false},
		{"braze", "POST", "/users/identify", `{}`, false, "", false, false},

		// Iterable: users/update yes; events/track keyed by id.
		{"iterable", "POST", "/api/users/update", `{"email":"a@example.com","dataFields":{}}`, true, IdempotentYes, false, true},
		{"iterable", "POST", "/api/events/track", `{"email":"a@example.com","eventName":"signup","id":"ev-1"}`, true, IdempotentKey, false, true},
		{"iterable", "POST", "/api/events/track", `{"email":"a@example.com","eventName":"signup"}`, true, IdempotentKey, false, false},
		{"iterable", "POST", "/api/events/trackBulk", `{"events":[]}`, false, "", false, false},

		// Intercom: events keyed by created_at; contact create no + answer.
		{"intercom", "POST", "/events", `{"event_name":"ordered-item","created_at":1700000000,"user_id":"u1"}`, true, IdempotentKey, false, true},
		{"intercom", "POST", "/events", `{"event_name":"ordered-item","user_id":"u1"}`, true, IdempotentKey, false, false},
		{"intercom", "POST", "/contacts", `{"role":"user","email":"a@example.com"}`, true, IdempotentNo, true, false},
		{"intercom", "PUT", "/contacts/123", `{}`, false, "", false, false},

		// GA4: only the validation server, which records nothing, is declared.
		{"ga4", "POST", "/debug/mp/collect", `{"client_id":"1.2","events":[{"name":"x"}]}`, true, IdempotentYes, false, true},
		{"ga4", "POST", "/mp/collect", `{"client_id":"1.2","events":[{"name":"x"}]}`, false, "", false, false},

		// Meta: every event of the call must carry event_id.
		{"meta", "POST", "/v19.0/1234567890/events", `{"data":[{"event_name":"Lead","event_id":"e1"},{"event_name":"Purchase","event_id":"e2"}]}`, true, IdempotentKey, false, true},
		{"meta", "POST", "/v19.0/1234567890/events", `{"data":[{"event_name":"Lead","event_id":"e1"},{"event_name":"Purchase"}]}`, true, IdempotentKey, false, false},
		{"meta", "POST", "/1234567890/events", `{"data":[{"event_name":"Lead","event_id":"e1"}]}`, true, IdempotentKey, false, true},
		{"meta", "GET", "/v19.0/1234567890/events", ``, false, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.preset+" "+tt.method+" "+tt.path, func(t *testing.T) {
			p, err := LoadPreset(tt.preset)
			if err != nil {
				t.Fatal(err)
			}
			op, ok := DeliveryOpFor(p.Delivery, tt.method, tt.path)
			if ok != tt.found {
				t.Fatalf("found = %v (%+v), want %v", ok, op, tt.found)
			}
			if !ok {
				return
			}
			if op.Idempotent != tt.idempotent || op.AnswerNeeded != tt.answerNeeded {
				t.Errorf("idempotent %q, answer_needed %v; want %q, %v", op.Idempotent, op.AnswerNeeded, tt.idempotent, tt.answerNeeded)
			}
			if !strings.HasPrefix(op.Doc, "https://") {
				t.Errorf("doc %q: every declared operation names its source", op.Doc)
			}
			if safe, why := op.SafeToResend([]byte(tt.body)); safe != tt.safe || why == "" {
				t.Errorf("SafeToResend = %v (%q), want %v", safe, why, tt.safe)
			}
		})
	}
}
