package proxy

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mtguard/mtguard/schemas"
)

// TestRedactNameParts is the table of names that must be redacted, split by their parts in
// any case style, and of names that must not, in both directions, for headers, query
// parameters and body fields (issue 17, item 2).
func TestRedactNameParts(t *testing.T) {
	r := NewRedactor(RedactConfig{Fields: []string{"ssn"}})
	tests := []struct {
		kind   string // header, query, json, form
		name   string
		secret bool
	}{
		// Headers: names with "key", and the usual credentials, in any case style.
		{"header", "Authorization", true},
		{"header", "Proxy-Authorization", true},
		{"header", "Cookie", true},
		{"header", "Set-Cookie", true},
		{"header", "X-Api-Key", true},
		{"header", "X-License-Key", true},
		{"header", "X-Hubspot-Key", true},
		{"header", "X-Goog-Api-Key", true},
		{"header", "Ocp-Apim-Subscription-Key", true},
		{"header", "X-Auth-Token", true},
		{"header", "X-Amz-Security-Token", true},
		{"header", "X-Hub-Signature-256", true},
		{"header", "Client-Secret", true},
		{"header", "X-Access-Token", true},
		{"header", "X-Accesstoken", true},
		{"header", "X-Private-Key", true},
		{"header", "X-Session-Id", true},
		// ... and the headers that only look like them.
		{"header", "Access-Control-Allow-Credentials", false},
		{"header", "Access-Control-Allow-Headers", false},
		{"header", "Access-Control-Expose-Headers", false},
		{"header", "X-RateLimit-Remaining", false},
		{"header", "X-RateLimit-Limit", false},
		{"header", "Content-Length", false},
		{"header", "Content-Type", false},
		{"header", "Keep-Alive", false},
		{"header", "Idempotency-Key", false},
		{"header", "Sec-WebSocket-Key", false},
		{"header", "WWW-Authenticate", false},
		{"header", "X-Request-Id", false},
		{"header", "X-Author", false},
		{"header", "User-Agent", false},

		// Query parameters.
		{"query", "private_key", true},
		{"query", "privateKey", true},
		{"query", "api_key", true},
		{"query", "hapikey", true},
		{"query", "access_token", true},
		{"query", "accessToken", true},
		{"query", "AccessToken", true},
		{"query", "client-secret", true},
		{"query", "key", true},
		{"query", "sig", true},
		{"query", "X-Amz-Signature", true},
		{"query", "code", true},
		{"query", "session_token", true},
		{"query", "email", false},
		{"query", "source", false},
		{"query", "utm_source", false},
		{"query", "keyword", false},
		{"query", "monkey", false},
		{"query", "author", false},
		{"query", "cursor", false},

		// Body fields (JSON keys and form fields).
		{"json", "clientSecret", true},
		{"json", "ClientSecret", true},
		{"json", "Client-Secret", true},
		{"json", "client_secret", true},
		{"json", "refreshToken", true},
		{"json", "accessToken", true},
		{"json", "ACCESS_TOKEN", true},
		{"json", "id_token", true},
		{"json", "newPassword", true},
		{"json", "passwordConfirmation", true},
		{"json", "apiKey", true},
		{"json", "APIKey", true},
		{"json", "privateKey", true},
		{"json", "licenseKey", true},
		{"json", "token", true},
		{"json", "secret", true},
		{"json", "SSN", true}, // configured
		{"json", "email", false},
		{"json", "firstName", false},
		{"json", "key", false}, // [{"key":"email","value":...}] pairs in marketing payloads
		{"json", "idempotencyKey", false},
		{"json", "token_type", false},
		{"json", "tokens", false},
		{"json", "author", false},
		{"json", "session_id", false}, // GA4 event parameter, not a credential
		{"json", "keywords", false},
		{"form", "clientSecret", true},
		{"form", "refresh-token", true},
		{"form", "Password", true},
		{"form", "email", false},
		{"form", "key", false},
	}
	const value = "value-of-the-field-1234"
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.name, func(t *testing.T) {
			var stored string
			switch tt.kind {
			case "header":
				h := r.Header(http.Header{tt.name: {value}})
				stored = h[tt.name][0]
			case "query":
				stored = r.URL(&url.URL{Path: "/x", RawQuery: url.Values{tt.name: {value}}.Encode()})
			case "json":
				stored = string(r.Body([]byte(`{"email":"jane@acme.com","`+tt.name+`":"`+value+`"}`), schemas.Body{}, "application/json"))
			case "form":
				stored = string(r.Body([]byte(url.Values{"email": {"jane@acme.com"}, tt.name: {value}}.Encode()), schemas.Body{}, "application/x-www-form-urlencoded"))
			}
			leaked := strings.Contains(stored, value)
			if tt.secret && leaked {
				t.Errorf("%s %q is a secret name, but its value was stored: %s", tt.kind, tt.name, stored)
			}
			if !tt.secret && !leaked {
				t.Errorf("%s %q holds no secret, but its value was redacted: %s", tt.kind, tt.name, stored)
			}
		})
	}
}

// TestRedactBodyKinds covers bodies that are not a well-formed JSON object or form: escaped
// JSON keys, text, multipart and malformed JSON. The ordinary data around the secrets stays.
func TestRedactBodyKinds(t *testing.T) {
	r := NewRedactor(RedactConfig{})
	const canary = "canary-body-kind-5150"
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("email", "jane@acme.com")
	mw.WriteField("clientSecret", canary)
	fw, _ := mw.CreateFormFile("password", "p.txt")
	fw.Write([]byte(canary + "-file"))
	mw.Close()
	tests := []struct {
		name, ct, body string
	}{
		{"escaped JSON key", "application/json", `{"email":"jane@acme.com","pass\u0077ord":"` + canary + `"}`},
		{"escaped JSON key nested", "application/json", `{"email":"jane@acme.com","creds":{"\u0061ccessToken":"` + canary + `"}}`},
		{"text/plain pairs", "text/plain", "email=jane@acme.com\npassword: " + canary + "\n"},
		{"text/plain url-style", "text/plain", "email=jane@acme.com&client_secret=" + canary + "&x=1"},
		{"text/plain bearer", "text/plain", "email jane@acme.com sent with Authorization: Bearer " + canary},
		{"text/plain quoted", "text/plain", `email jane@acme.com apiKey = "` + canary + `"`},
		{"malformed JSON", "application/json", `{"email":"jane@acme.com","refreshToken":"` + canary + `",`},
		{"malformed JSON escaped quote", "application/json", `{"email":"jane@acme.com","password":"ab\"` + canary + `"`},
		{"xml", "application/xml", `<lead><email>jane@acme.com</email><password>` + canary + `</password></lead>`},
		{"multipart", mw.FormDataContentType(), mp.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(r.Body([]byte(tt.body), schemas.Body{}, tt.ct))
			if strings.Contains(got, canary) {
				t.Errorf("secret stored:\n%s", got)
			}
			if !strings.Contains(got, "jane@acme.com") {
				t.Errorf("redaction removed more than the secret:\n%s", got)
			}
		})
	}
}

// TestNameCache checks the cache of name decisions: what was put is found, with its
// decision, whether it was published yet or not, while other goroutines add names; it holds
// no more than maxNamesCached names.
func TestNameCache(t *testing.T) {
	var c nameCache
	const n = maxNamesCached + 100
	name := func(i int) string { return "X-Name-" + strconv.Itoa(i) }
	check := func(i int) {
		if secret, ok := c.get(name(i)); !ok || secret != (i%3 == 0) {
			t.Errorf("%s: secret %v, found %v", name(i), secret, ok)
		}
	}
	// Past publishAlways, new names wait in pending before they are published.
	const first = publishAlways + publishEvery/2
	for i := range first {
		c.put(name(i), i%3 == 0)
		check(i)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := first + w; i < n; i += 4 {
				c.put(name(i), i%3 == 0)
				check(i % first)
			}
		})
	}
	wg.Wait()
	found := 0
	for i := range n {
		secret, ok := c.getBytes([]byte(name(i)))
		if ok {
			found++
			if secret != (i%3 == 0) {
				t.Errorf("%s: secret %v", name(i), secret)
			}
		}
	}
	if found != maxNamesCached {
		t.Errorf("%d names cached, want the bound %d", found, maxNamesCached)
	}
}

// TestPlainSecretForms checks the shortcut of secretSet.forms: a value plainSecret accepts
// is written the same in every form, and every byte it refuses changes at least one form.
func TestPlainSecretForms(t *testing.T) {
	for c := 0; c < 256; c++ {
		v := "tok" + string([]byte{byte(c)}) + "en12345"
		b, _ := json.Marshal(v)
		j := string(b[1 : len(b)-1])
		same := url.QueryEscape(v) == v && url.PathEscape(v) == v && j == v && strings.ReplaceAll(j, "/", `\/`) == v
		if plainSecret(v) != same {
			t.Errorf("byte %#x: plainSecret %v, but every form equal is %v", c, plainSecret(v), same)
		}
	}
	var s secretSet
	s.addCredential("Bearer pat-na1-0a1b2c3d")
	if got := s.forms(); !slices.Equal(got, []string{"Bearer%20pat-na1-0a1b2c3d", "Bearer pat-na1-0a1b2c3d", "Bearer+pat-na1-0a1b2c3d", "pat-na1-0a1b2c3d"}) {
		t.Errorf("forms = %q", got)
	}
}
