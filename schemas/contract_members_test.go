package schemas

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// memberDocs returns documents to judge: every fixture payload and, for each that is a JSON
// object, variants with one member (or one member of a member) changed, removed or added, so
// that every kind of violation a member can carry is met, beside valid ones.
func memberDocs(t *testing.T) [][]byte {
	t.Helper()
	values := []any{"x", json.Number("1"), json.Number("1.5"), json.Number("-3"), true, false, nil,
		map[string]any{}, []any{}, map[string]any{"a": json.Number("1")}, []any{"x", json.Number("2")},
		"2026-13-45T99:00:00Z", "jane@", strings.Repeat("y", 300)}
	var docs [][]byte
	add := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	for _, f := range fixturePayloads(t) {
		docs = append(docs, f.raw)
		b := ParseBody("application/json", f.raw)
		obj, ok := b.JSON.(map[string]any)
		if b.Err != nil || !ok {
			continue
		}
		for k, orig := range obj {
			for _, v := range values {
				obj[k] = v
				add(obj)
			}
			delete(obj, k)
			add(obj)
			if inner, ok := orig.(map[string]any); ok {
				for ik, iv := range inner {
					for _, v := range values[:7] {
						inner[ik] = v
						obj[k] = inner
						add(obj)
					}
					delete(inner, ik)
					add(obj)
					inner[ik] = iv
				}
			}
			obj[k] = orig
		}
		obj["zz_not_in_the_contract"] = json.Number("1")
		add(obj)
		delete(obj, "zz_not_in_the_contract")
	}
	return docs
}

// TestMemberPathMatchesFullPath checks that validating a document member by member gives
// exactly the messages of validating it whole, for every shipped contract it applies to.
func TestMemberPathMatchesFullPath(t *testing.T) {
	docs := memberDocs(t)
	raw := func(s string) []byte { return []byte(s) }
	// Documents the member path must leave to the full path.
	refused := [][]byte{raw(`{"id":"1","id":"2"}`), raw(`{"id":"1"} {}`), raw(`{"id":"1",}`), raw(`["x"]`), raw(`"x"`), raw(`{"id":tru}`), raw(`{"id":"1"`)}
	planned, checked, invalid, phrased := 0, 0, 0, 0
	for _, s := range builtinSchemas(t) {
		if s.members == nil {
			continue
		}
		planned++
		for _, doc := range docs {
			got, ok, here := s.validateMembers(doc)
			if here {
				phrased++
			}
			b := ParseBody("application/json", doc)
			if !ok {
				if b.Err == nil {
					if _, isObj := b.JSON.(map[string]any); isObj {
						t.Errorf("%s: the member path refused an object the full path reads: %s", s.loc, doc)
					}
				}
				continue
			}
			if b.Err != nil {
				t.Errorf("%s: the member path took a document the full path cannot read: %s", s.loc, doc)
				continue
			}
			checked++
			want := s.validate(b.JSON)
			if len(want) > 0 {
				invalid++
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s\nmember path: %q\nfull path:   %q", s.loc, doc, got, want)
			}
		}
		for _, doc := range refused {
			if _, ok, _ := s.validateMembers(doc); ok {
				t.Errorf("%s: the member path took %s", s.loc, doc)
			}
		}
	}
	if planned == 0 || checked == 0 || invalid == 0 || phrased == 0 {
		t.Fatalf("%d contracts with a member plan, %d documents compared, %d of them invalid, %d phrased without jsonschema: the test compared nothing useful", planned, checked, invalid, phrased)
	}
	t.Logf("%d contracts with a member plan, %d documents compared, %d of them invalid, %d phrased without jsonschema", planned, checked, invalid, phrased)
}

// TestMemberPlanShipped checks which shipped contracts take the member path: HubSpot's
// answers (a plain object schema behind a $ref) do, Segment's track call (whose root combines
// schemas) does not.
func TestMemberPlanShipped(t *testing.T) {
	for _, s := range builtinSchemas(t) {
		switch {
		case strings.HasPrefix(s.loc, BuiltinPrefix+"hubspot/crm-contacts-create.v3.response"):
			if s.members == nil {
				t.Errorf("%s: no member plan", s.loc)
			}
		case strings.HasPrefix(s.loc, BuiltinPrefix+"segment/track"):
			if s.members != nil {
				t.Errorf("%s: a member plan, but its root combines schemas", s.loc)
			}
		}
	}
}
