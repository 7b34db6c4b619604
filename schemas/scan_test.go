package schemas

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestScanJSONAgreesWithRecordKeys: the fast path finds exactly what the full parse finds.
func TestScanJSONAgreesWithRecordKeys(t *testing.T) {
	paths, _ := ParseKeyPaths([]string{"email", "properties.email", "input[].email", "inputs[].properties.email", "emails[]"})
	secretFn := func(k []byte) bool {
		return bytes.EqualFold(k, []byte("password")) || bytes.EqualFold(k, []byte("access_token"))
	}
	bodies := []string{
		`{"email":" Jane@Acme.com ","first":"x"}`,
		`{"properties":{"email":"p@b.io","n":1.5e3,"ok":true,"none":null}}`,
		`{"input":[{"email":"a@b.io"},{"email":"c@d.io"},{"email":"A@B.io"},{"x":[1,2,{"email":"deep@no.io"}]}]}`,
		`{"inputs":[{"properties":{"email":"x@y.io"}}],"email":"top@y.io"}`,
		`{"email":"esc\u0040aped.io","Password":"s"}`,
		`{"nested":{"ACCESS_TOKEN":"t"},"email":42}`,
		`[{"email":"not@top.io"}]`,
		`{"email":["a@b.io"]}`,
		`{"input":{"email":"obj@not-array.io"}}`,
		`{}`,
		`{"emails":"not-an-array@x.io","tags":["t1"]}`,
		`  {"email" : "spaced@x.io" }  `,
	}
	for _, b := range bodies {
		want := RecordKeys(paths, ParseBody("application/json", []byte(b)))
		got, secret, ok := ScanJSON([]byte(b), paths, secretFn)
		if !ok {
			t.Errorf("%s: scan rejected valid JSON", b)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: scan found %v, parse found %v", b, got, want)
		}
		wantSecret := strings.Contains(strings.ToLower(b), `"password"`) || strings.Contains(strings.ToLower(b), `"access_token"`)
		if secret != wantSecret {
			t.Errorf("%s: secret = %v, want %v", b, secret, wantSecret)
		}
	}
	for _, bad := range []string{`{"email":`, `{"a" 1}`, `{"a":1,}x`, `[1,2`, `{"a":tru}`, `{"a":"b"} trailing`,
		"{\"a\":\"tab\there\"}", "{\"a\":\"x\\ny\nz\"}", "{\"ke\x01y\":1}", `{"a":"unclosed}`} {
		if _, _, ok := ScanJSON([]byte(bad), paths, secretFn); ok {
			t.Errorf("%q: scan accepted invalid JSON", bad)
		}
	}
}

func FuzzScanJSON(f *testing.F) {
	f.Add(`{"email":"a@b.io","input":[{"email":"c@d.io"}]}`)
	paths, _ := ParseKeyPaths([]string{"email", "input[].email"})
	f.Fuzz(func(t *testing.T, s string) {
		got, _, ok := ScanJSON([]byte(s), paths, nil)
		parsed := ParseBody("application/json", []byte(s))
		if !ok || parsed.Err != nil || parsed.JSON == nil {
			return
		}
		if want := RecordKeys(paths, parsed); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q: scan %v, parse %v", s, got, want)
		}
	})
}

func BenchmarkRecordKeys(b *testing.B) {
	body := []byte(`{"properties":{"email":"jane@acme.com","firstname":"Jane","lastname":"Doe","company":"Acme","phone":"+1 555 0100","address":"1 Main St","city":"Springfield","state":"IL","zip":"62701","utm_source":"newsletter","utm_medium":"email","utm_campaign":"spring","lifecyclestage":"lead","hs_lead_status":"NEW","jobtitle":"Ops","website":"https://acme.example","industry":"Manufacturing","numberofemployees":"250","annualrevenue":"1000000","notes":"` + strings.Repeat("x", 300) + `"}}`)
	paths, _ := ParseKeyPaths([]string{"email", "properties.email"})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			RecordKeys(paths, ParseBody("application/json", body))
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ScanJSON(body, paths, func(k []byte) bool { return false })
		}
	})
}

// FuzzDecodeJSON: the fast decoder builds exactly what encoding/json builds, and errs where it
// errs.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,-0,"x\u00e9",true,false,null,{"b":{}}],"c":""}`, `[]`, `"s"`, `12345678901234567890123`, `{"a":1} x`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gerr := decodeJSON([]byte(s))
		want, werr := decodeStd([]byte(s))
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: fast err %v, std err %v", s, gerr, werr)
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Fatalf("%q: fast %#v, std %#v", s, got, want)
		}
	})
}

func BenchmarkParseBody(b *testing.B) {
	body := []byte(`{"properties":{"email":"jane@acme.com","firstname":"Jane","lastname":"Doe","company":"Acme","phone":"+1 555 0100","address":"1 Main St","city":"Springfield","state":"IL","zip":"62701","utm_source":"newsletter","utm_medium":"email","utm_campaign":"spring","lifecyclestage":"lead","hs_lead_status":"NEW","jobtitle":"Ops","website":"https://acme.example","industry":"Manufacturing","numberofemployees":250,"annualrevenue":1000000.5,"notes":"` + strings.Repeat("x", 300) + `"}}`)
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeStd(body)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeJSON(body)
		}
	})
}
