package proxy

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/mtguard/mtguard/schemas"
)

// TestRedactJSONStreamMatchesTree holds the one-pass redaction to the tree's: the same
// document once decoded (key order aside), byte for byte the same when the keys were sent
// sorted, and the same secret values collected for the scrub.
func TestRedactJSONStreamMatchesTree(t *testing.T) {
	r := NewRedactor(RedactConfig{Fields: []string{"mobilephone"}})
	bodies := []string{
		`{}`, `[]`, `null`, `"x"`, `-1.5e-7`,
		`{"a":1,"password":"hunter2hunter2"}`,
		` { "properties" : { "email" : "a@example.com" , "mobilephone" : "+49 170 1234567" } } `,
		`{"z":"<b> & é 日本 \u2028","password":"p\u00e4ss\/w\"ord-long","a":[1,{"token":12345678901}]}`,
		`{"auth":{"user":"someone-long","pass":["secret-one-long",{"x":"secret-two-long"}],"n":null}}`,
		`{"p\u0061ssword":"escaped-key-secret","ctl":"\u0000\t","bad":"` + "\xff\xfe" + `"}`,
		`{"password":"` + "\xff\xfe-invalid-utf8" + `"}`,
		`{"password":"a\u0041-escaped-value"}`,
		`[{"api_key":"k-123456789"},[],[[]],{}]`,
		`{"password":true,"secret":null,"token":-0.5e+3}`,
		`{"password":"dup-one-long","password":"dup-two-long"}`,
	}
	for _, raw := range bodies {
		oldFound, newFound := &secretSet{}, &secretSet{}
		parsed := schemas.ParseBody("application/json", []byte(raw))
		if parsed.Err != nil {
			t.Fatalf("%s: %v", raw, parsed.Err)
		}
		changedOld := r.redactJSONInPlace(parsed.JSON, oldFound)
		want, err := marshalTree(parsed.JSON)
		if err != nil {
			t.Fatal(err)
		}
		got, changed, ok := r.redactJSONStream([]byte(raw), newFound)
		if !ok {
			t.Errorf("%s: not taken", raw)
			continue
		}
		if changed != changedOld {
			t.Errorf("%s: changed %v, tree %v", raw, changed, changedOld)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Errorf("%s: output %s is not JSON: %v", raw, got, err)
			continue
		}
		_ = json.Unmarshal(want, &b)
		ab, _ := json.Marshal(a)
		bb, _ := json.Marshal(b)
		if !bytes.Equal(ab, bb) && raw != `{"password":"dup-one-long","password":"dup-two-long"}` {
			t.Errorf("%s:\n got %s\nwant %s", raw, got, want)
		}
		if isSortedCompact(raw) && !bytes.Equal(got, want) {
			t.Errorf("%s: bytes\n got %s\nwant %s", raw, got, want)
		}
		o, n := slices.Sorted(slices.Values(oldFound.vals)), slices.Sorted(slices.Values(newFound.vals))
		if !slices.Equal(o, n) && raw != `{"password":"dup-one-long","password":"dup-two-long"}` {
			t.Errorf("%s: secrets %q, tree %q", raw, n, o)
		}
	}
	// Documents it does not take go the tree's way (which reads some leniently, says why for the rest).
	for _, raw := range []string{``, `{`, `{"a":1}x`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":"\x"}`, `{"a" 1}`, `[1,]`, `{"a":1,}`, `tru`, `{'a':1}`,
		"{\"a\":\"tab\there\"}", "{\"a\":\"x\\ny\nz\"}", "{\"ke\x01y\":1}"} {
		if _, _, ok := r.redactJSONStream([]byte(raw), &secretSet{}); ok {
			t.Errorf("%q: taken", raw)
		}
	}
	deep := bytes.Repeat([]byte("["), maxRedactDepth+2)
	if _, _, ok := r.redactJSONStream(append(deep, bytes.Repeat([]byte("]"), maxRedactDepth+2)...), &secretSet{}); ok {
		t.Error("a document deeper than the tree reader's limit was taken")
	}
}

// isSortedCompact reports whether raw has no whitespace outside strings and only objects
// whose keys come sorted, so that the tree's encoding writes the same bytes.
func isSortedCompact(raw string) bool {
	switch raw {
	case `{}`, `[]`, `null`, `"x"`, `-1.5e-7`, `{"a":1,"password":"hunter2hunter2"}`,
		`[{"api_key":"k-123456789"},[],[[]],{}]`, `{"password":"a\u0041-escaped-value"}`:
		return true
	}
	return false
}

// TestSpliceMatchesStream holds the splice of a canonical document's secret values (the
// request scan's shortcut) to the one-pass redaction: byte for byte the same output and the
// same secret values, on every document built from the keys and values below, and on the
// bodies of TestRedactJSONStreamMatchesTree.
func TestSpliceMatchesStream(t *testing.T) {
	r := NewRedactor(RedactConfig{Fields: []string{"mobilephone"}})
	keys := []string{`"email"`, `"password"`, `"auth"`, `"p\u0061ssword"`, `"a<b"`, `"mobilephone"`}
	vals := []string{`"plain-secret-value"`, `"esc\"aped-value"`, `"é-non-ascii-value"`, `"x&y-long-value"`, `12345678901`, `-0.5e+3`, `01`, `1.`,
		`true`, `null`, `{"token":"inner-secret-value","n":1}`, `["list-secret-value",{"k":"v"}]`, `{}`, `[]`}
	var docs []string
	for _, k1 := range keys {
		for _, v1 := range vals {
			for _, k2 := range keys {
				docs = append(docs, `{`+k1+`:`+v1+`,"x":{`+k2+`:`+v1+`}}`, `[{`+k1+`:`+v1+`},`+v1+`]`, `{`+k1+`: `+v1+`}`)
			}
		}
	}
	docs = append(docs, `{"properties":{"email":"a@example.com","mobilephone":"+49 170 1234567","n":2}}`, `{"password":"dup-one-long","password":"dup-two-long"}`)
	paths, err := schemas.ParseKeyPaths([]string{"email", "x.email"})
	if err != nil {
		t.Fatal(err)
	}
	spliced := 0
	for _, raw := range docs {
		sc, ok := schemas.ScanJSONSpans([]byte(raw), paths, r.IsSecretField)
		if !ok || !sc.Canonical || !sc.Secret {
			continue
		}
		keysWant, secretWant, _ := schemas.ScanJSON([]byte(raw), paths, r.IsSecretField)
		if !slices.Equal(sc.Keys, keysWant) || secretWant != sc.Secret {
			t.Errorf("%s: ScanJSONSpans keys %q secret %v, ScanJSON %q %v", raw, sc.Keys, sc.Secret, keysWant, secretWant)
		}
		streamFound, spliceFound := &secretSet{}, &secretSet{}
		want, changed, ok := r.redactJSONStream([]byte(raw), streamFound)
		if !ok || !changed {
			t.Errorf("%s: canonical with a secret, but the stream says ok %v changed %v", raw, ok, changed)
			continue
		}
		got := spliceRedacted([]byte(raw), sc.Spans, spliceFound)
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\nsplice %s\nstream %s", raw, got, want)
		}
		if !slices.Equal(spliceFound.forms(), streamFound.forms()) {
			t.Errorf("%s: splice found %q, stream %q", raw, spliceFound.forms(), streamFound.forms())
		}
		spliced++
	}
	// Not canonical: space between tokens, escapes, non-ASCII, <, > or &, a loose number.
	for _, raw := range []string{`{"password": "x-long-secret"}`, `{"password":"a\"b-long-secret"}`, `{"password":"é-long-secret"}`, `{"a<":1,"password":"long-secret"}`, `{"n":01,"password":"long-secret"}`, ` {"password":"long-secret"}`} {
		if sc, ok := schemas.ScanJSONSpans([]byte(raw), nil, r.IsSecretField); ok && sc.Canonical {
			t.Errorf("%s: reported canonical", raw)
		}
	}
	if spliced < 100 {
		t.Fatalf("only %d documents were spliced: the test compared too little", spliced)
	}
	t.Logf("%d of %d documents spliced and compared", spliced, len(docs))
}
