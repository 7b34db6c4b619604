package main

import (
	"strings"
	"testing"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/txn"
)

// TestDeliveryPolicyPresets: the redeliverer's policy for a route on each preset that declares
// its operations decides a resend after an ambiguous failure as the preset declares, for the
// path the tool sent (the route's prefix and the upstream's base path taken off), and says why.
func TestDeliveryPolicyPresets(t *testing.T) {
	routes := map[string]string{ // route name -> preset; prefix /<name>
		"marketo": "marketo", "pardot": "pardot", "mailchimp": "mailchimp", "mandrill": "mailchimp-transactional",
		"klaviyo": "klaviyo", "braze": "braze", "iterable": "iterable", "intercom": "intercom", "ga4": "ga4", "meta": "meta",
	}
	lines := []string{"routes:"}
	for name, preset := range routes {
		lines = append(lines, "  - name: "+name, "    prefix: /"+name, "    preset: "+preset,
			"    upstream: https://"+name+".example.com/base", "    delivery: {redeliver: auto}")
	}
	// A route may refuse what its preset declares: idempotent: false resends nothing ambiguous.
	lines = append(lines, "  - name: meta-strict", "    prefix: /meta-strict", "    preset: meta",
		"    upstream: https://meta.example.com/base", "    delivery: {redeliver: auto, idempotent: false}")
	cfg, err := config.Parse("mtguard.yaml", []byte(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]config.Route{}
	for _, rc := range cfg.Routes {
		byName[rc.Name] = rc
	}
	tests := []struct {
		route, method, path, body string
		safe                      bool
		why                       string
	}{
		{"marketo", "POST", "/marketo/rest/v1/leads.json", `{"input":[{"email":"a@example.com"}]}`, false, "is not idempotent"},
		{"pardot", "POST", "/pardot/api/v5/objects/prospects/do/upsertLatestByEmail", `{"matchEmail":"a@example.com"}`, true, "is idempotent (preset)"},
		{"pardot", "POST", "/pardot/api/v5/objects/prospects", `{"email":"a@example.com"}`, false, "is not idempotent"},
		{"mailchimp", "PUT", "/mailchimp/3.0/lists/l1/members/5d41402abc4b2a76b9719d911017c592", `{"email_address":"a@example.com"}`, true, "is idempotent (preset)"},
		{"mailchimp", "POST", "/mailchimp/3.0/lists/l1/members", `{"email_address":"a@example.com"}`, false, "is not idempotent"},
		{"mandrill", "POST", "/mandrill/messages/send.json", `{"message":{}}`, false, "is not idempotent"},
		{"klaviyo", "POST", "/klaviyo/api/events/", `{"data":{"attributes":{"unique_id":"u-1"}}}`, true, "carries data.attributes.unique_id"},
		{"klaviyo", "POST", "/klaviyo/api/events/", `{"data":{"attributes":{}}}`, false, "carries no data.attributes.unique_id"},
		{"klaviyo", "POST", "/klaviyo/api/profile-import?x=1", `{"data":{}}`, true, "is idempotent (preset)"},
		{"braze", "POST", "/braze/users/track", `{"events":[{"external_id":"u1","name":"x"}]}`, false, "is not idempotent"},
		{"iterable", "POST", "/iterable/api/users/update", `{"email":"a@example.com"}`, true, "is idempotent (preset)"},
		{"iterable", "POST", "/iterable/api/events/track", `{"eventName":"x","id":"e1"}`, true, "carries id"},
		{"intercom", "POST", "/intercom/events", `{"event_name":"x","created_at":1700000000}`, true, "carries created_at"},
		{"intercom", "POST", "/intercom/contacts", `{"email":"a@example.com"}`, false, "is not idempotent"},
		{"ga4", "POST", "/ga4/mp/collect", `{"events":[]}`, false, "preset ga4 documents nothing about resending POST /mp/collect"},
		{"ga4", "POST", "/ga4/debug/mp/collect", `{"events":[]}`, true, "is idempotent (preset)"},
		{"meta", "POST", "/meta/v19.0/123/events", `{"data":[{"event_name":"Lead","event_id":"e1"}]}`, true, "carries data[].event_id"},
		{"meta", "POST", "/meta/v19.0/123/events", `{"data":[{"event_name":"Lead"}]}`, false, "carries no data[].event_id"},
		{"meta-strict", "POST", "/meta-strict/v19.0/123/events", `{"data":[{"event_name":"Lead","event_id":"e1"}]}`, false, "delivery.idempotent: false"},
	}
	for _, tt := range tests {
		t.Run(tt.route+" "+tt.method+" "+tt.path, func(t *testing.T) {
			rc, ok := byName[tt.route]
			if !ok {
				t.Fatalf("no route %s", tt.route)
			}
			pol := deliveryPolicy(rc)
			safe, why := pol.SafeToResend(txn.Transaction{Call: txn.Call{Route: tt.route, Method: tt.method, Path: tt.path, Request: txn.Message{Body: tt.body}}})
			if safe != tt.safe || !strings.Contains(why, tt.why) {
				t.Errorf("SafeToResend = %v, %q; want %v, containing %q", safe, why, tt.safe, tt.why)
			}
		})
	}
}
