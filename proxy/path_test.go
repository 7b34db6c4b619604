package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
	"github.com/rs/zerolog"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "/", true},
		{"/", "/", true},
		{"/crm/v3/objects/contacts", "/crm/v3/objects/contacts", true},
		{"/crm/v3/objects/contacts/", "/crm/v3/objects/contacts/", true},
		{"/crm/v3/objects/x/%2e%2e/contacts", "/crm/v3/objects/contacts", true},
		{"/crm/v3/objects/x/%2E./contacts", "/crm/v3/objects/contacts", true},
		{"/services/data/%2e/v25.0/sobjects/Lead", "/services/data/v25.0/sobjects/Lead", true},
		{"/services/data/./v25.0//sobjects/Lead", "/services/data/v25.0/sobjects/Lead", true},
		{"//crm/v3/objects/contacts", "/crm/v3/objects/contacts", true},
		{"/a/b/..", "/a/", true},
		{"/a/.", "/a/", true},
		{"/a/..", "/", true},
		{"/a/%2F/b", "/a/%2F/b", true},
		{"/a/b%2Fc", "/a/b%2Fc", true},
		{"/a/...", "/a/...", true},
		{"/a/.%2e.", "/a/.%2e.", true},
		{"/a/.hidden", "/a/.hidden", true},
		{"/..", "", false},
		{"/a/../../etc/passwd", "", false},
		{"/%2e%2e/x", "", false},
	}
	for _, tt := range tests {
		got, ok := cleanPath(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestCleanPathFastPath checks that the shortcut for paths that are already clean answers
// as the segment walk does, on every path of up to four segments built from parts that
// matter to it.
func TestCleanPathFastPath(t *testing.T) {
	parts := []string{"", "a", ".", "..", "%2e", "%2E.", ".a", "a.", "%2F", "%2x", "b%2ec"}
	var paths []string
	var build func(prefix string, n int)
	build = func(prefix string, n int) {
		paths = append(paths, prefix, strings.TrimPrefix(prefix, "/"))
		if n == 0 {
			return
		}
		for _, p := range parts {
			build(prefix+"/"+p, n-1)
		}
	}
	build("", 4)
	fast := 0
	for _, in := range paths {
		got, ok := cleanPath(in)
		want, wantOK := cleanPathWalk(in)
		if got != want || ok != wantOK {
			t.Fatalf("cleanPath(%q) = %q, %v; the segment walk says %q, %v", in, got, ok, want, wantOK)
		}
		if alreadyClean(in) {
			fast++
		}
	}
	if fast == 0 || fast == len(paths) {
		t.Fatalf("the shortcut took %d of %d paths", fast, len(paths))
	}
}

// cleanPathWalk is cleanPath without its shortcut.
func cleanPathWalk(in string) (string, bool) {
	if alreadyClean(in) {
		// Defeat the shortcut: a leading "/." segment is removed by the walk, and nothing else.
		return cleanPath("/." + in)
	}
	return cleanPath(in)
}

func TestNormalizeURLKeepsEncodedSlashes(t *testing.T) {
	u, _ := url.Parse("http://x/hs/objects/a%2Fb/%2e%2e/c%20d")
	if !normalizeURL(u) {
		t.Fatal("refused")
	}
	if u.Path != "/hs/objects/c d" || u.EscapedPath() != "/hs/objects/c%20d" {
		t.Errorf("path %q escaped %q", u.Path, u.EscapedPath())
	}
	u, _ = url.Parse("http://x/hs/objects/a%2Fb/./c")
	if !normalizeURL(u) || u.Path != "/hs/objects/a/b/c" || u.EscapedPath() != "/hs/objects/a%2Fb/c" {
		t.Errorf("path %q escaped %q", u.Path, u.EscapedPath())
	}
}

// TestPathTricks: a path with dot segments, encoded dots or doubled slashes is matched,
// checked and forwarded as one clean path, so it cannot slip past a contract or a version rule
// that the vendor's own path resolution would then undo.
func TestPathTricks(t *testing.T) {
	var mu sync.Mutex
	var got []string
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.EscapedPath())
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer vendor.Close()
	st, err := store.Open(filepath.Join(t.TempDir(), "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pl, _ := NewPipeline(PipelineConfig{Recorder: st})
	u, _ := url.Parse(vendor.URL)
	// Stand-ins for an enforce-mode contract and a retired-version block, matched on the path
	// the checks see.
	checks := &schemas.Checks{Request: []schemas.RequestCheck{func(now time.Time, req *schemas.Request, v *schemas.RequestVerdict) {
		switch {
		case req.Method == http.MethodPost && req.Path == "/crm/v3/objects/contacts":
			v.Reject = &schemas.Rejection{Status: 422, Code: txn.CodeSchemaRequestInvalid, Title: "Contract violated", Detail: "contract"}
		case strings.HasPrefix(req.Path, "/services/data/v25.0/"):
			v.Reject = &schemas.Rejection{Status: 410, Code: txn.CodeEndpointRetired, Title: "Retired", Detail: "v25.0"}
		}
	}}}
	routes := []Route{
		{Name: "hs", Prefix: "/hs", Upstream: u, Checks: checks},
		{Name: "sf", Prefix: "/sf", Upstream: u, Checks: checks},
	}
	srv := httptest.NewServer(NewProxy(routes, pl, zerolog.Nop()))
	defer srv.Close()

	tests := []struct {
		name, path string
		status     int
		forwarded  string // the path the vendor received; "" when it must receive nothing
	}{
		{"encoded dot-dot past a contract", "/hs/crm/v3/objects/x/%2e%2e/contacts", 422, ""},
		{"mixed-case encoded dot-dot", "/hs/crm/v3/objects/x/%2E%2e/contacts", 422, ""},
		{"encoded dot past a version block", "/sf/services/data/%2e/v25.0/sobjects/Lead", 410, ""},
		{"plain dot-dot", "/hs/crm/v3/objects/x/../contacts", 422, ""},
		{"doubled slash", "/hs//crm/v3/objects//contacts", 422, ""},
		{"a dot segment elsewhere", "/hs/crm/v3/objects/./companies", 201, "/crm/v3/objects/companies"},
		{"an encoded slash stays data", "/hs/crm/v3/objects/contacts/a%2Fb", 201, "/crm/v3/objects/contacts/a%2Fb"},
		{"climbing above the root", "/hs/../../etc/passwd", 400, ""},
		{"climbing out of the route", "/hs/../sf/services/data/v60.0/sobjects/Lead", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader(`{"email":"a@b.co"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode != tt.status {
				t.Errorf("%s answered %d, want %d (vendor saw %v)", tt.path, resp.StatusCode, tt.status, got)
			}
			switch {
			case tt.forwarded == "" && len(got) > 0:
				t.Errorf("%s reached the vendor as %v", tt.path, got)
			case tt.forwarded != "" && (len(got) != 1 || got[0] != tt.forwarded):
				t.Errorf("%s reached the vendor as %v, want %s", tt.path, got, tt.forwarded)
			}
		})
	}
}

// TestNoRouteListsPrefixesOnlyLocally: the 404 for an unknown path names the configured
// prefixes to someone on this machine only; to anyone else they would map the vendors.
func TestNoRouteListsPrefixesOnlyLocally(t *testing.T) {
	p := &Proxy{}
	p.routes.Store(newRouteTable([]Route{{Name: "crm", Prefix: "/crm"}, {Name: "hs", Prefix: "/hubspot"}}))
	for _, tt := range []struct {
		remote string
		listed bool
	}{
		{"127.0.0.1:50000", true},
		{"[::1]:50000", true},
		{"203.0.113.7:50000", false},
		{"10.0.0.8:50000", false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/nope/x", nil)
		r.RemoteAddr = tt.remote
		ref := p.noRoute(r)
		mentions := strings.Contains(ref.Detail, "/hubspot") || len(ref.Routes) > 0
		if mentions != tt.listed {
			t.Errorf("caller %s: prefixes shown %v, want %v (%+v)", tt.remote, mentions, tt.listed, ref)
		}
	}
}
