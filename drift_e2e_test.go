package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/drift"
)

const driftE2EConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
routes:
  - name: form
    prefix: /form
    upstream: %s
    record_keys: [email]
    drift: {learn: 2s}
`

// TestDriftEndToEnd: serve learns a route's payload shape, shows it (drift --route), writes it
// as a JSON Schema that schemas pin accepts, and once the learning window has passed flags a
// type change once, on the first call that shows it.
func TestDriftEndToEnd(t *testing.T) {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }))
	defer vendor.Close()
	in := startMtguard(t, fmt.Sprintf(driftE2EConfig, vendor.URL), nil)
	send := func(body string) {
		resp, err := http.Post(in.proxy+"/form/leads", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range 10 {
		send(fmt.Sprintf(`{"email":"l%d@acme.com","score":%d,"tags":["a"]}`, i, i))
	}
	var sh drift.Shape
	deadline := time.Now().Add(5 * time.Second)
	for sh.Calls < 10 && time.Now().Before(deadline) {
		out, err := in.cli(t, nil, "drift", "--route", "form", "--json")
		if err != nil {
			t.Fatalf("drift: %v\n%s", err, out)
		}
		json.Unmarshal([]byte(out), &sh)
		time.Sleep(10 * time.Millisecond)
	}
	if sh.Calls != 10 || sh.Fields["/score"] == nil || sh.Fields["/tags/*"] == nil {
		t.Fatalf("shape %+v", sh)
	}
	if out, err := in.cli(t, nil, "drift", "--route", "form"); err != nil || !strings.Contains(out, "/score") || !strings.Contains(out, "number") {
		t.Errorf("drift --route form: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if out, err := in.cli(t, nil, "schemas", "learn", "--route", "form", "--out", dir); err != nil || !strings.Contains(out, "wrote") {
		t.Fatalf("schemas learn: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "form.request.json")
	raw, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(raw), `"required"`) || strings.Contains(string(raw), "acme.com") {
		t.Fatalf("learned schema: %v\n%s", err, raw)
	}
	var pinOut strings.Builder
	if err := run(t.Context(), []string{"mtguard", "schemas", "pin", "--source", "learned:form", file}, &pinOut, &pinOut, func(string) string { return "" }); err != nil {
		t.Errorf("schemas pin of the learned schema: %v\n%s", err, pinOut.String())
	}

	time.Sleep(time.Until(sh.Until)) // the learning window is on the real clock
	for i := range 5 {
		send(fmt.Sprintf(`{"email":"m%d@acme.com","score":"%d","tags":["a"]}`, i, i))
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		out, err := in.cli(t, nil, "drift", "--route", "form", "--json")
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal([]byte(out), &sh)
		if (len(sh.Changes) == 1 && sh.Changes[0].Calls == 5) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(sh.Changes) != 1 || sh.Changes[0].Pointer != "/score" || sh.Changes[0].Calls != 5 {
		t.Fatalf("changes %+v", sh.Changes)
	}
	var out string
	for range 100 { // the finding is added once the change is counted
		if out, err = in.cli(t, nil, "log", "--finding", "schema.drift"); err != nil || strings.Contains(out, "schema.drift") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || strings.Count(out, "schema.drift") != 1 || !strings.Contains(out, "m0@acme.com") {
		t.Errorf("log --finding schema.drift: %v\n%s", err, out)
	}
}
