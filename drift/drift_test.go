package drift

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// lead is a payload as a form tool sends it; i varies the optional fields and the values.
func lead(i int) string {
	company := ""
	if i%3 == 0 {
		company = fmt.Sprintf(`,"company":"Acme %d"`, i)
	}
	tags := `[]`
	if i%2 == 0 {
		tags = `["webinar","q4"]`
	}
	return fmt.Sprintf(`{"email":"lead%d@acme.com","phone":"+1555%04d","score":%d,"consent":true,"tags":%s,"utm":{"source":"li","campaign":null}%s}`,
		i, i%10000, i%100, tags, company)
}

func tx(route string, at time.Time, body string, n int) txn.Transaction {
	return txn.Transaction{Call: txn.Call{ID: fmt.Sprintf("c%06d", n), Time: at, Route: route, Method: "POST", Path: "/leads",
		Request: txn.Message{ContentType: "application/json", Body: body}},
		Result: txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}}
}

// TestDriftFlagsEachChangeOnce learns a form's payload for a day of calls with optional
// fields coming and going, then checks 10,000 clean calls (no finding) and three changes, each
// repeated on many calls: a renamed field, a type change and a vanished field are flagged
// once each, on their first call, and counted after.
func TestDriftFlagsEachChangeOnce(t *testing.T) {
	l := New(Config{Learn: map[string]time.Duration{"form": 24 * time.Hour}})
	n := 0
	at := t0
	check := func(body string) []mark {
		n++
		at = at.Add(time.Second)
		c := tx("form", at, body, n)
		return l.Check(&c)
	}
	for i := range 500 {
		if m := check(lead(i)); m != nil {
			t.Fatalf("finding while learning: %+v", m)
		}
	}
	at = t0.Add(25 * time.Hour)
	for i := range 10000 {
		if m := check(lead(i + 7)); m != nil {
			t.Fatalf("clean call %d (%s) flagged: %+v", i, lead(i+7), m)
		}
	}
	changes := []struct {
		name, pointer, kind string
		body                func(i int) string
	}{
		{"renamed", "/phone", Renamed, func(i int) string { return strings.Replace(lead(i), `"phone"`, `"Phone"`, 1) }},
		{"type change", "/score", TypeChanged, func(i int) string {
			return strings.Replace(lead(i), fmt.Sprintf(`"score":%d`, i%100), fmt.Sprintf(`"score":"%d"`, i%100), 1)
		}},
		{"vanished", "/consent", Vanished, func(i int) string { return strings.Replace(lead(i), `"consent":true,`, ``, 1) }},
	}
	for _, c := range changes {
		var got []mark
		for i := range 50 {
			got = append(got, check(c.body(i))...)
		}
		if len(got) != 1 || got[0].f.Code != txn.CodeSchemaDrift || got[0].f.Detail != c.pointer {
			t.Errorf("%s: findings %+v, want one schema.drift at %s", c.name, got, c.pointer)
		}
	}
	s, _ := l.Shape("form")
	if len(s.Changes) != 3 {
		t.Fatalf("changes %+v", s.Changes)
	}
	for i, c := range changes {
		got := s.Changes[i]
		if got.Kind != c.kind || got.Pointer != c.pointer || got.Calls != 50 || got.FirstSeen.IsZero() {
			t.Errorf("change %d = %+v, want %s at %s seen by 50 calls", i, got, c.kind, c.pointer)
		}
	}
	if r := s.Changes[0]; r.To != "/Phone" || r.Before != "string" || r.After != "string" {
		t.Errorf("rename %+v", r)
	}
	if ty := s.Changes[1]; ty.Before != "number" || ty.After != "string" {
		t.Errorf("type change %+v", ty)
	}
	// The shape holds no value.
	b, _ := json.Marshal(s)
	for _, v := range []string{"acme.com", "+1555", "webinar", "Acme 3", "li"} {
		if strings.Contains(string(b), `"`+v) || strings.Contains(string(b), v+`"`) {
			t.Errorf("the shape holds the value %q: %s", v, b)
		}
	}
	for p, want := range map[string]int64{"/email": 500, "/company": 167, "/tags/*": 250, "/utm/campaign": 500} {
		if f := s.Fields[p]; f == nil || f.Seen != want {
			t.Errorf("field %s = %+v, want seen %d", p, f, want)
		}
	}
}

// TestDriftBoundsAndSchema: a payload with more paths than MaxFields and keys that are data
// stays bounded and holds no key that is data; the learned shape becomes a JSON Schema with
// optional fields marked by presence.
func TestDriftBoundsAndSchema(t *testing.T) {
	l := New(Config{Learn: map[string]time.Duration{"r": time.Hour}})
	var b strings.Builder
	b.WriteString(`{"contacts":{"jane@acme.com":{"id":1},"12345":{"id":2}},"wide":{`)
	for i := range 2*MaxFields + 10 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"f%d":%d`, i, i)
	}
	b.WriteString(`}}`)
	c := tx("r", t0, b.String(), 1)
	l.Check(&c)
	s, _ := l.Shape("r")
	if len(s.Fields) > MaxFields {
		t.Errorf("%d fields learned, cap %d", len(s.Fields), MaxFields)
	}
	for p := range s.Fields {
		if strings.Contains(p, "jane") || strings.Contains(p, "12345") {
			t.Errorf("a key that is data became a path: %s", p)
		}
	}

	l = New(Config{Learn: map[string]time.Duration{"form": time.Hour}})
	for i := range 30 {
		c := tx("form", t0.Add(time.Duration(i)*time.Second), lead(i), i)
		l.Check(&c)
	}
	s, _ = l.Shape("form")
	js := s.JSONSchema()
	req := js["required"].([]string)
	if !slices.Contains(req, "email") || slices.Contains(req, "company") {
		t.Errorf("required %v", req)
	}
	props := js["properties"].(map[string]any)
	if props["tags"].(map[string]any)["items"].(map[string]any)["type"] != "string" {
		t.Errorf("tags %+v", props["tags"])
	}
	if ty := props["utm"].(map[string]any)["properties"].(map[string]any)["campaign"].(map[string]any)["type"]; ty != "null" {
		t.Errorf("utm.campaign type %v", ty)
	}
}

// TestDriftPersistsAndMarksCalls runs the learner on a real store: the finding lands on the
// stored call, and the shape (learned, with its changes) survives a restart.
func TestDriftPersistsAndMarksCalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	record := func(c txn.Transaction) txn.Transaction {
		c.ID = ""
		if err := st.RecordIntent(ctx, &c); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordResult(&c); err != nil {
			t.Fatal(err)
		}
		if err := st.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
	l := New(Config{Learn: map[string]time.Duration{"form": time.Hour}})
	if err := l.Start(st); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		l.Observe(record(tx("form", t0.Add(time.Duration(i)*time.Second), lead(i), i)))
	}
	l.Flush()
	l.Close()

	l = New(Config{Learn: map[string]time.Duration{"form": time.Hour}})
	if err := l.Start(st); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if s, ok := l.Shape("form"); !ok || s.Calls != 20 {
		t.Fatalf("shape after restart: %+v", s)
	}
	bad := record(tx("form", t0.Add(2*time.Hour), strings.Replace(lead(1), `"consent":true`, `"consent":"yes"`, 1), 99))
	l.Observe(bad)
	l.Flush()
	got, err := st.Get(ctx, bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got.Findings, func(f txn.Finding) bool {
		return f.Code == txn.CodeSchemaDrift && f.Detail == "/consent" && strings.Contains(f.Message, "from boolean to string")
	}) {
		t.Errorf("findings of the changed call: %+v", got.Findings)
	}
	st.Close()
}

// TestTakeAndLoad: calls handed to Take are learned at once (probes and other routes aside)
// and the shape saved; a learner that was only loaded shows it.
func TestTakeAndLoad(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := New(Config{Learn: map[string]time.Duration{"form": time.Hour}})
	if err := l.Start(st); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	probe := tx("form", t0.Add(2*time.Second), `{"other":1}`, 3)
	probe.Kind = txn.KindProbe
	l.Take([]txn.Transaction{tx("form", t0, lead(1), 1), tx("crm", t0, `{"x":1}`, 2), probe, tx("form", t0.Add(time.Second), lead(2), 4)})
	view := New(Config{Learn: map[string]time.Duration{"form": time.Hour, "crm": time.Hour}, Buffer: 1})
	if err := view.Load(st); err != nil {
		t.Fatal(err)
	}
	sh, ok := view.Shape("form")
	if !ok || sh.Calls != 2 || sh.Fields["/other"] != nil || sh.Fields["/email"] == nil {
		t.Fatalf("loaded shape %+v (learned %v)", sh, ok)
	}
	if _, ok := view.Shape("crm"); ok {
		t.Fatal("a route the running learner does not learn has a shape")
	}
}
