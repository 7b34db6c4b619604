package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// contractCompiler compiles the schemas of one route's pins with one jsonschema compiler, so a
// file pinned by several pins is read and compiled once.
type contractCompiler struct {
	c     *jsonschema.Compiler
	read  func(string) ([]byte, error)
	cache map[string]*pinnedSchema
}

func newContractCompiler(opts ContractOptions) *contractCompiler {
	cc := &contractCompiler{c: jsonschema.NewCompiler(), read: opts.ReadFile, cache: map[string]*pinnedSchema{}}
	// A schema without $schema is read as 2020-12, the draft mtguard schemas import writes;
	// files that name draft 2019-09, 7 or 4 are read as such.
	cc.c.DefaultDraft(jsonschema.Draft2020)
	// Dates in the wrong shape are the drift contracts exist to catch, so format is an
	// assertion in every draft, not the annotation 2019-09 and 2020-12 default to.
	cc.c.AssertFormat()
	cc.c.UseLoader(loaderFunc(cc.load))
	return cc
}

// statusKeyRE matches the keys of PinSpec.Responses.
var statusKeyRE = regexp.MustCompile(`^(?:[1-5][0-9][0-9]|[1-5]XX|default)$`)

// pin compiles one PinSpec; mode is the route's.
func (cc *contractCompiler) pin(ps PinSpec, mode string) (*pin, error) {
	t, err := parseMatch(ps.Match)
	if err != nil {
		return nil, fmt.Errorf("match: %w", err)
	}
	m, err := checkMode(ps.Mode, mode)
	if err != nil {
		return nil, err
	}
	p := &pin{tmpl: t, mode: m}
	if ps.Request == "" && len(ps.Responses) == 0 {
		return nil, fmt.Errorf("pin %q names no schema; give it a request or a response", ps.Match)
	}
	if ps.Request != "" {
		if p.request, err = cc.schema(ps.Request); err != nil {
			return nil, fmt.Errorf("request: %w", err)
		}
	}
	keys := sortedKeys(ps.Responses)
	// Exact statuses sort before classes ("2XX") and "default" already; keep that order.
	for _, k := range keys {
		key := strings.ToUpper(k)
		if key == "DEFAULT" {
			key = "default"
		}
		if !statusKeyRE.MatchString(key) {
			return nil, fmt.Errorf("response %q: not a status; write a status like 201, a class like 2XX, or default", k)
		}
		s, err := cc.schema(ps.Responses[k])
		if err != nil {
			return nil, fmt.Errorf("response %s: %w", k, err)
		}
		p.responses = append(p.responses, statusSchema{key: key, pinnedSchema: s})
	}
	return p, nil
}

// schema compiles the schema at loc (builtin:<vendor>/<file> or a file path).
func (cc *contractCompiler) schema(loc string) (*pinnedSchema, error) {
	if s, ok := cc.cache[loc]; ok {
		return s, nil
	}
	u, err := cc.locationURL(loc)
	if err != nil {
		return nil, err
	}
	sch, err := cc.c.Compile(u)
	if err != nil {
		return nil, explainCompileError(loc, err)
	}
	s := &pinnedSchema{loc: loc, schema: sch, fast: newFastValidator(sch), members: newMemberPlan(sch)}
	cc.cache[loc] = s
	return s, nil
}

// locationURL turns a pin's schema location into the URL the jsonschema compiler resolves
// $refs against: builtin:///vendor/file.json, file:///abs/path.json, or relfile:///rel/path.json
// for a path relative to wherever ReadFile reads from.
func (cc *contractCompiler) locationURL(loc string) (string, error) {
	if name, ok := strings.CutPrefix(loc, BuiltinPrefix); ok {
		name = path.Clean(strings.TrimPrefix(name, "/"))
		if _, err := fs.Stat(builtinContracts, "contracts/"+name); err != nil || !fs.ValidPath(name) {
			return "", fmt.Errorf("%q is not a shipped contract (see mtguard schemas list, or docs/contracts.md)", loc)
		}
		return "builtin:///" + name, nil
	}
	if cc.read == nil {
		return "", fmt.Errorf("%q: only builtin: contracts can be used here", loc)
	}
	p := cleanLocation(loc)
	if strings.HasPrefix(p, "/") {
		return (&url.URL{Scheme: "file", Path: p}).String(), nil
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%q leaves the config's folder; use an absolute path", loc)
	}
	return (&url.URL{Scheme: "relfile", Path: "/" + p}).String(), nil
}

// loaderFunc adapts a function to jsonschema.URLLoader.
type loaderFunc func(string) (any, error)

func (f loaderFunc) Load(u string) (any, error) { return f(u) }

// load reads the schema document at u (a URL made by locationURL, or one a $ref resolved
// against it). Schemas are never fetched from the network: a contract is pinned, so every
// document it needs must be on disk or shipped.
func (cc *contractCompiler) load(u string) (any, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	var data []byte
	switch pu.Scheme {
	case "builtin":
		data, err = fs.ReadFile(builtinContracts, "contracts"+pu.Path)
	case "file":
		data, err = cc.read(pu.Path)
	case "relfile":
		data, err = cc.read(strings.TrimPrefix(pu.Path, "/"))
	default:
		return nil, fmt.Errorf("mtguard does not fetch schemas from the network; save %s next to the contract and $ref the file", u)
	}
	if err != nil {
		return nil, err
	}
	return decodeSchemaJSON(data)
}

// decodeSchemaJSON decodes a schema document, with numbers kept exact, and says where a
// syntax error is.
func decodeSchemaJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, jsonFileError(err, data)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("not valid JSON: more than one value (at byte %d)", d.InputOffset())
	}
	return doc, nil
}

// jsonFileError says where a JSON file stops being JSON: byte offset and line.
func jsonFileError(err error, data []byte) error {
	off, ok := jsonErrorOffset(err)
	if !ok && errors.Is(err, io.ErrUnexpectedEOF) {
		off, ok = int64(len(data)), true
		err = errors.New("the document ends early (unclosed object, array or string)")
	}
	if ok {
		return fmt.Errorf("not valid JSON: at byte %d (line %d): %v", off, lineAt(data, off), err)
	}
	return fmt.Errorf("not valid JSON: %v", err)
}

// lineAt returns the 1-based line of byte offset off.
func lineAt(data []byte, off int64) int {
	off = min(off, int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// explainCompileError rewrites a compile error to name the file as the pin wrote it and, for a
// schema that breaks its draft's rules, the JSON pointer and rule like a payload violation.
func explainCompileError(loc string, err error) error {
	var sve *jsonschema.SchemaValidationError
	if errors.As(err, &sve) {
		var ve *jsonschema.ValidationError
		if errors.As(sve.Err, &ve) {
			msgs := explain(ve, nil)
			if len(msgs) > 0 {
				return fmt.Errorf("%s is not a valid JSON Schema: %s", loc, msgs[0])
			}
		}
		return fmt.Errorf("%s is not a valid JSON Schema: %v", loc, sve.Err)
	}
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) {
		name := loc
		if !strings.HasSuffix(le.URL, strings.TrimPrefix(cleanLocation(strings.TrimPrefix(loc, BuiltinPrefix)), "/")) {
			name = le.URL // a file that a $ref names
		}
		return fmt.Errorf("%s: %w", name, le.Err)
	}
	return fmt.Errorf("%s: %w", loc, err)
}
