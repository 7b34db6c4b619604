package txn

import (
	"strings"
	"testing"
)

var benchContact = `{"properties":{"email":"lead-000123@example.com","firstname":"Ada","lastname":"Lovelace","company":"Analytical Engines Ltd","phone":"+44 20 7946 0958","mobilephone":"+44 7700 900123","website":"https://analytical.example.com","jobtitle":"Head of Marketing Operations","industry":"COMPUTER_SOFTWARE","city":"London","country":"United Kingdom","zip":"EC1A 1BB","lifecyclestage":"marketingqualifiedlead","hs_lead_status":"NEW","leadsource":"Webinar","utm_source":"linkedin","utm_medium":"paid_social","utm_campaign":"2025-q3-webinar-series","utm_term":"marketing automation","utm_content":"carousel-variant-b","hs_analytics_source":"PAID_SOCIAL","hs_analytics_source_data_1":"linkedin-ads","form_name":"Webinar registration - Scaling lead routing","consent_to_communicate":"true","message":"Hi, we are evaluating lead routing tools for our EMEA and NA teams and would like to see a demo. We currently sync about 40k contacts a month from our webinar platform and two landing page builders."}}`

func BenchmarkAppendJSONString(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"json-body", benchContact},
		{"text", strings.Repeat("plain words of a message ", 40)},
		{"header", "Bearer 9f3c1e2a7b6d4c8e9f0a1b2c3d4e5f60"},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(c.s)))
			for b.Loop() {
				buf = AppendJSONString(buf[:0], c.s)
			}
		})
	}
}
