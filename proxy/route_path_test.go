package proxy

import (
	"net/url"
	"testing"
)

func TestVendorPath(t *testing.T) {
	tests := []struct{ upstream, path, want string }{
		{"http://crm.example", "/crm/v3/objects/contacts", "/crm/v3/objects/contacts"},
		{"http://crm.example/", "/crm/v3/objects/contacts", "/crm/v3/objects/contacts"},
		{"http://host/hubspot", "/hubspot/crm/v3/objects/contacts", "/crm/v3/objects/contacts"},
		{"http://host/hubspot/", "/hubspot/crm/v3/objects/contacts", "/crm/v3/objects/contacts"},
		{"https://mandrillapp.com/api/1.4", "/api/1.4/messages/send.json", "/messages/send.json"},
		{"http://host/hubspot", "/hubspot", "/"},
		{"http://host/hubspot", "/hubspotx/crm", "/hubspotx/crm"}, // not on a segment boundary
		{"http://host/hubspot", "/other/crm", "/other/crm"},       // a forward call elsewhere on the host
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.upstream)
		r := newRouteTable([]Route{{Name: "r", Prefix: "/r", Upstream: u}}).routes[0]
		if got := r.vendorPath(tt.path); got != tt.want {
			t.Errorf("upstream %s: vendorPath(%q) = %q, want %q", tt.upstream, tt.path, got, tt.want)
		}
	}
}
