package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/schemas"
)

// realSpec returns the path of a vendor spec in the specs folder beside the repository, or skips.
func realSpec(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "specs", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is absent: the vendor specs live in ../shared/specs/ beside the repository; import tests need them", p)
	}
	return p
}

func TestSchemasImportVerifyPin(t *testing.T) {
	spec := realSpec(t, "hubspot-crm-contacts-v3.json")
	dir := filepath.Join(t.TempDir(), "schemas", "hubspot")

	out, err := schemasCLI(t, "schemas", "import", "--spec", spec, "--operation", "POST /crm/v3/objects/contacts", "--operation", "post /crm/v3/objects/contacts/batch/upsert", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"wrote " + filepath.Join(dir, "post-crm-v3-objects-contacts.request.json") + " (request)",
		"wrote " + filepath.Join(dir, "post-crm-v3-objects-contacts.response.json") + " (response 2XX)",
		"wrote " + filepath.Join(dir, "post-crm-v3-objects-contacts-batch-upsert.response.207.json") + " (response 207)",
		"pinned 5 schemas in " + filepath.Join(dir, "schemas.lock"),
		"  - match: POST /crm/v3/objects/contacts\n        request: " + filepath.ToSlash(dir) + "/post-crm-v3-objects-contacts.request.json",
		`"207": ` + filepath.ToSlash(dir) + "/post-crm-v3-objects-contacts-batch-upsert.response.207.json",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	lockData, err := os.ReadFile(filepath.Join(dir, "schemas.lock"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := schemas.ParseLock(lockData)
	if err != nil {
		t.Fatal(err)
	}
	e := lock.Schemas["post-crm-v3-objects-contacts.request.json"]
	if e.Source != filepath.ToSlash(spec) || e.SpecVersion != "v3" || e.SpecFormat != "OpenAPI 3.0.1" || e.Operation != "POST /crm/v3/objects/contacts" ||
		e.Part != "request" || len(e.SHA256) != 64 || len(e.SourceSHA256) != 64 || e.OperationID == "" {
		t.Errorf("lock entry: %+v", e)
	}

	root := filepath.Dir(dir)
	if out, err := schemasCLI(t, "schemas", "verify", "--dir", root); err != nil || !strings.Contains(out, "5 pinned contracts match their lock") {
		t.Errorf("verify: %v\n%s", err, out)
	}

	// Someone edits a contract by hand: verify fails and says which file.
	edited := filepath.Join(dir, "post-crm-v3-objects-contacts.request.json")
	data, _ := os.ReadFile(edited)
	if err := os.WriteFile(edited, bytes.Replace(data, []byte(`"associations",`), nil, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = schemasCLI(t, "schemas", "verify", "--dir", root)
	if err == nil || !strings.Contains(out, edited+": was edited since it was pinned") || !strings.Contains(err.Error(), "1 of 5 pinned contracts") {
		t.Errorf("verify after an edit: %v\n%s", err, out)
	}

	// Re-pinning on purpose records the new hash and keeps the source.
	if out, err := schemasCLI(t, "schemas", "pin", "--note", "associations are optional in practice", edited); err != nil || !strings.Contains(out, "re-pinned") {
		t.Errorf("pin: %v\n%s", err, out)
	}
	if out, err := schemasCLI(t, "schemas", "verify", "--dir", root); err != nil {
		t.Errorf("verify after re-pinning: %v\n%s", err, out)
	}
	lockData, _ = os.ReadFile(filepath.Join(dir, "schemas.lock"))
	lock, _ = schemas.ParseLock(lockData)
	if e := lock.Schemas["post-crm-v3-objects-contacts.request.json"]; e.Source != filepath.ToSlash(spec) || e.Note != "associations are optional in practice" {
		t.Errorf("re-pinned entry: %+v", e)
	}

	// A new hand-written contract needs a source, and must compile.
	hand := filepath.Join(dir, "custom.json")
	if err := os.WriteFile(hand, []byte(`{"type":"object","properties":{"x":{"type":"strng"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := schemasCLI(t, "schemas", "verify", "--dir", root); err == nil || !strings.Contains(out, "custom.json: is not in schemas.lock") {
		t.Errorf("verify with an unpinned file: %v\n%s", err, out)
	}
	if _, err := schemasCLI(t, "schemas", "pin", "--source", "https://example.com", hand); err == nil || !strings.Contains(err.Error(), "is not a valid JSON Schema: /properties/x/type") {
		t.Errorf("pin of a broken schema: %v", err)
	}
	os.WriteFile(hand, []byte(`{"type":"object"}`), 0o644)
	if _, err := schemasCLI(t, "schemas", "pin", hand); !errors.Is(err, ErrUsage) {
		t.Errorf("pin without --source: %v", err)
	}
	if out, err := schemasCLI(t, "schemas", "pin", "--source", "https://example.com/doc", hand); err != nil || !strings.Contains(out, "pinned "+hand) {
		t.Errorf("pin: %v\n%s", err, out)
	}
	if out, err := schemasCLI(t, "schemas", "verify", "--dir", root); err != nil || !strings.Contains(out, "6 pinned contracts match") {
		t.Errorf("verify: %v\n%s", err, out)
	}
}

func TestSchemasImportAllSwagger(t *testing.T) {
	spec := realSpec(t, "marketo-mapi-swagger2.json")
	dir := t.TempDir()
	out, err := schemasCLI(t, "schemas", "import", "--spec", spec, "--all", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "post-rest-v1-leads-json.request.json")); err != nil {
		t.Error(err)
	}
	if out, err := schemasCLI(t, "schemas", "verify", "--dir", dir); err != nil {
		t.Errorf("verify: %v\n%s", err, out)
	}
	out, err = schemasCLI(t, "schemas", "import", "--spec", spec, "--list")
	if err != nil || !strings.Contains(out, "POST    /rest/v1/leads.json") {
		t.Errorf("list: %v\n%s", err, out)
	}
}

// TestSchemasImportAllSkipsBrokenRefs imports a spec in which two operations have a $ref that
// cannot be resolved: every other operation is imported and locked, each skipped one is named
// with its reason, and only --strict makes that an error (issue 18, item 19).
func TestSchemasImportAllSkipsBrokenRefs(t *testing.T) {
	spec := filepath.Join("testdata", "openapi-broken-ref.yaml")
	for _, strict := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"schemas", "import", "--spec", spec, "--all", "--out", dir}
		if strict {
			args = append(args, "--strict")
		}
		out, err := schemasCLI(t, args...)
		if strict {
			if err == nil || errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "2 of 4 operations") {
				t.Errorf("--strict: got %v, want an error counting the 2 skipped operations\n%s", err, out)
			}
		} else if err != nil {
			t.Errorf("without --strict: %v\n%s", err, out)
		}
		for _, want := range []string{
			`skipped GET /leads/{id}: response: 200: $ref "#/components/schemas/Owner": "Owner" not found`,
			`skipped POST /lists: request: $ref "common.yaml#/components/schemas/List" points outside this file`,
			"wrote " + filepath.Join(dir, "post-leads.request.json") + " (request)",
			"wrote " + filepath.Join(dir, "put-lists-id-members.request.json") + " (request)",
			"pinned 3 schemas in " + filepath.Join(dir, "schemas.lock"),
			"skipped 2 of 4 operations",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("strict=%v: output lacks %q:\n%s", strict, want, out)
			}
		}
		if out, err := schemasCLI(t, "schemas", "verify", "--dir", dir); err != nil || !strings.Contains(out, "3 pinned contracts match their lock") {
			t.Errorf("strict=%v: the lock does not cover what was written: %v\n%s", strict, err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "get-leads-id.response.json")); err == nil {
			t.Errorf("strict=%v: a skipped operation left a file", strict)
		}
	}

	// A real vendor file with one $ref broken on purpose: every other operation still imports.
	real := realSpec(t, "hubspot-crm-contacts-v3.json")
	data, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	const ref = `"#/components/schemas/SimplePublicObjectInputForCreate"`
	if !bytes.Contains(data, []byte(ref)) {
		t.Skipf("%s no longer refers to %s", real, ref)
	}
	broken := filepath.Join(t.TempDir(), "contacts-broken.json")
	os.WriteFile(broken, bytes.Replace(data, []byte(ref), []byte(`"#/components/schemas/Gone"`), 1), 0o644)
	dir := t.TempDir()
	out, err := schemasCLI(t, "schemas", "import", "--spec", broken, "--all", "--out", dir)
	if err != nil || !strings.Contains(out, `"Gone" not found`) || !strings.Contains(out, "skipped 1 of ") {
		t.Errorf("real spec with one broken $ref: %v\n%s", err, out)
	}
	if out, err := schemasCLI(t, "schemas", "verify", "--dir", dir); err != nil {
		t.Errorf("verify: %v\n%s", err, out)
	}
}

func TestSchemasCommandErrors(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "tiny.yaml")
	os.WriteFile(spec, []byte("openapi: 3.0.0\ninfo: {title: T, version: '1'}\npaths:\n  /leads:\n    post:\n      responses: {'204': {description: ok}}\n"), 0o644)
	tests := []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"schemas"}, true, "needs a subcommand"},
		{[]string{"schemas", "export"}, true, `unknown schemas subcommand "export"`},
		{[]string{"schemas", "import", "--operation", "POST /x", "--out", "d"}, true, "needs --spec"},
		{[]string{"schemas", "import", "--spec", spec, "--out", "d"}, true, `needs --operation "METHOD /path" or --all`},
		{[]string{"schemas", "import", "--spec", spec, "--operation", "POST /leads"}, true, "needs --out"},
		{[]string{"schemas", "import", "--spec", spec, "--all", "--operation", "POST /leads", "--out", "d"}, true, "not both"},
		{[]string{"schemas", "import", "--spec", spec, "--operation", "POST /lead", "--out", t.TempDir()}, false, "has no operation POST /lead; did you mean POST /leads?"},
		{[]string{"schemas", "import", "--spec", "nope.json", "--all", "--out", "d"}, false, "read spec"},
		{[]string{"schemas", "verify", "--dir", t.TempDir()}, false, "no schemas.lock found"},
		{[]string{"schemas", "verify", "--dir", "does-not-exist"}, false, "not a folder"},
		{[]string{"schemas", "pin"}, true, "takes the schema files"},
	}
	for _, tt := range tests {
		_, err := schemasCLI(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrUsage) != tt.usage {
			t.Errorf("%q: got %v, want %q (usage error %v)", tt.args, err, tt.want, tt.usage)
		}
	}
}

func TestSchemasListAndShippedLocks(t *testing.T) {
	out, err := schemasCLI(t, "schemas", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"hubspot     POST /crm/v3/objects/contacts",
		"builtin:marketo/leads-sync.v1.request.json",
		"salesforce  POST /services/data/{version}/composite/sobjects",
		"segment     POST /v1/batch",
		"ga4         POST /mp/collect",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	// The shipped contracts in the repository match their locks, as CI would check them.
	if out, err := schemasCLI(t, "schemas", "verify", "--dir", filepath.Join("..", "schemas", "contracts")); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
}

// schemasCLI runs "mtguard schemas ..." as the command line would, output and errors together.
func schemasCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if len(args) == 0 || args[0] != "schemas" {
		t.Fatalf("schemasCLI takes a schemas command line, got %q", args)
	}
	var out bytes.Buffer
	err := Schemas(args[1:], &out, &out)
	return out.String(), err
}
