package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Contract modes: what a violated request contract does to the call.
const (
	// ModeShadow records findings and changes nothing the tool or the vendor sees.
	ModeShadow = "shadow"
	// ModeWarn forwards the call, records findings and adds HeaderContract to the answer.
	ModeWarn = "warn"
	// ModeEnforce answers the tool itself (422 for a violation, 400 for a malformed body)
	// and does not forward the call; it is recorded as rejected so it can be fixed and replayed.
	ModeEnforce = "enforce"
)

// DefaultContractMode is the mode of a route that pins contracts without saying which: a
// contract never changes what a tool sees until someone asks for it.
const DefaultContractMode = ModeShadow

// ContractModes lists the modes, for messages.
var ContractModes = []string{ModeShadow, ModeWarn, ModeEnforce}

// HeaderContract is added to the answer of a call in warn mode when its request broke its
// contract (or had none on a route that requires one). Its value starts with a token
// (violated, malformed, unpinned, unchecked) followed by parameters, for example
//
//	X-Mtguard-Contract: violated; violations=2; pin="POST /crm/v3/objects/contacts"; first="/properties/email: \"jane@\" is not a valid email address"
const HeaderContract = "X-Mtguard-Contract"

// BuiltinPrefix marks a schema location as one of the contracts shipped with mtguard
// (schemas/contracts/<vendor>/<file>), as in builtin:hubspot/crm-contacts-create.v3.request.json.
const BuiltinPrefix = "builtin:"

// ContractsSpec is what one route pins: its configuration, before compiling.
type ContractsSpec struct {
	// Mode is ModeShadow, ModeWarn or ModeEnforce. If empty, DefaultContractMode.
	Mode string
	// RequirePin adds a contract.unpinned finding to calls that no pin matches.
	RequirePin bool
	Pins       []PinSpec
}

// PinSpec pins JSON Schemas to the calls that match a method and path template.
type PinSpec struct {
	// Match is a method (or * for any) and a path template, as in
	// "POST /crm/v3/objects/{objectType}". When several pins match a call, the most specific
	// wins: segment by segment from the left, a literal beats a {param}.
	Match string
	// Mode overrides the route's mode for this pin. If empty, the route's.
	Mode string
	// Request is the location of the request body's schema: builtin:<vendor>/<file> or a path
	// that ContractOptions.ReadFile reads. If empty, request bodies are not checked.
	Request string
	// Responses maps a status ("201"), a status class ("2XX") or "default" (any other status)
	// to the location of the response body's schema. An exact status wins over its class,
	// which wins over default. If empty, responses are not checked.
	Responses map[string]string
	// Where names the pin in error messages (a config key and line); optional.
	Where string
	// Overridable lets a later pin with the same match replace this one (a shipped contract
	// that a route pins its own version of) instead of being an error.
	Overridable bool
}

// ContractOptions are what compiling needs from outside the package.
type ContractOptions struct {
	// ReadFile reads a schema file named by a pin (and the files its $refs name). If nil,
	// only builtin: locations can be used.
	ReadFile func(name string) ([]byte, error)
}

// Contracts are the compiled contracts of one route. They are immutable and safe for
// concurrent use.
type Contracts struct {
	mode       string
	requirePin bool
	pins       []*pin
}

// pin is one compiled PinSpec.
type pin struct {
	tmpl        pathTemplate
	overridable bool
	mode        string
	request     *pinnedSchema
	responses   []statusSchema // exact statuses first, then classes, then default
}

// pinnedSchema is a compiled schema and the location it was pinned from.
type pinnedSchema struct {
	loc    string
	schema *jsonschema.Schema
	fast   *fastValidator // nil when the schema's root uses a keyword it does not implement
	// members is set when the schema's root is a plain object schema: a document that fails
	// the fast path is then validated member by member (contract_members.go).
	members *memberPlan
}

type statusSchema struct {
	key string // "201", "2XX" or "default"
	*pinnedSchema
}

// CompileContracts compiles every schema a route pins, once. An error names the pin, the
// file and, for an invalid schema, the JSON pointer of the mistake.
func CompileContracts(spec ContractsSpec, opts ContractOptions) (*Contracts, error) {
	mode, err := checkMode(spec.Mode, DefaultContractMode)
	if err != nil {
		return nil, fmt.Errorf("contracts: %w", err)
	}
	c := &Contracts{mode: mode, requirePin: spec.RequirePin}
	comp := newContractCompiler(opts)
	shapes := map[string]int{} // shape -> index in c.pins
	for i, ps := range spec.Pins {
		where := ps.Where
		if where == "" {
			where = fmt.Sprintf("pins[%d]", i)
		}
		p, err := comp.pin(ps, mode)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		j, dup := shapes[p.tmpl.shape()]
		switch {
		case !dup:
			shapes[p.tmpl.shape()] = len(c.pins)
			c.pins = append(c.pins, p)
		case c.pins[j].overridable:
			c.pins[j] = p
		default:
			return nil, fmt.Errorf("%s: match %q covers the same calls as %q; keep one", where, ps.Match, c.pins[j].tmpl.text)
		}
		p.overridable = ps.Overridable
	}
	return c, nil
}

// ValidateMatch checks a pin's match ("POST /crm/v3/objects/{objectType}") without
// compiling anything.
func ValidateMatch(match string) error {
	_, err := parseMatch(match)
	return err
}

// ValidStatusKey reports whether k can key PinSpec.Responses: a status (201), a class (2XX,
// any case) or default.
func ValidStatusKey(k string) bool {
	k = strings.ToUpper(k)
	return k == "DEFAULT" || statusKeyRE.MatchString(k)
}

// checkMode validates a mode, returning def for "".
func checkMode(m, def string) (string, error) {
	if m == "" {
		return def, nil
	}
	if !slices.Contains(ContractModes, m) {
		return "", fmt.Errorf("mode %q is not one of %s", m, strings.Join(ContractModes, ", "))
	}
	return m, nil
}

// Empty reports whether c pins nothing and requires nothing.
func (c *Contracts) Empty() bool {
	return c == nil || (len(c.pins) == 0 && !c.requirePin)
}

// AddTo appends c's request and response checks to checks.
func (c *Contracts) AddTo(checks *Checks) {
	if c.Empty() {
		return
	}
	checks.Request = append(checks.Request, c.CheckRequest)
	checks.Response = append(checks.Response, c.CheckResponse)
}

// match returns the most specific pin for a call, or nil.
func (c *Contracts) match(method, p string) *pin {
	if len(c.pins) == 0 {
		return nil
	}
	segs := splitPath(p)
	var best *pin
	for _, pn := range c.pins {
		if pn.tmpl.matches(method, segs) && (best == nil || pn.tmpl.moreSpecific(best.tmpl)) {
			best = pn
		}
	}
	return best
}

// maxFindings bounds the findings one contract check stores for a call; the problem answer
// of enforce mode still lists every violation.
const maxFindings = 50

// CheckRequest is the RequestCheck of c: it matches the call to a pin and validates its body.
func (c *Contracts) CheckRequest(_ time.Time, req *Request, v *RequestVerdict) {
	p := c.match(req.Method, req.Path)
	if p == nil {
		if c.requirePin {
			call := req.Method + " " + req.Path
			v.Findings = append(v.Findings, txn.NewFinding(txn.CodeContractUnpinned,
				fmt.Sprintf("no contract is pinned for %s on this route (require_pin is on)", call), call))
			if c.mode == ModeWarn {
				addAnswerHeader(v, "unpinned", `call=`+headerQuote(call))
			}
		}
		return
	}
	if p.request == nil {
		return
	}
	enc := contentEncoding(req.Header)
	if enc == "" && p.request.fastValid(req.Header, req.Raw, req.Body) {
		return // Certainly valid: nothing to report, and no tree to build.
	}
	detail := p.tmpl.text + " · " + p.request.loc
	if enc != "" {
		// A compressed body (Segment's libraries gzip their batches) is not malformed JSON.
		msg := fmt.Sprintf("the %s-encoded body was not checked: contracts read plain JSON and urlencoded forms", enc)
		v.Findings = append(v.Findings, txn.NewFinding(txn.CodeContractUnsupportedMediaType, msg, detail))
		if p.mode == ModeWarn {
			addAnswerHeader(v, "unchecked", `pin=`+headerQuote(p.tmpl.text), `reason=`+headerQuote(enc+"-encoded body"))
		}
		return
	}
	doc, malformed, ok := requestDocument(req)
	switch {
	case malformed != "":
		v.Findings = append(v.Findings, txn.NewFinding(txn.CodeSchemaRequestMalformed, malformed, detail))
		switch p.mode {
		case ModeWarn:
			addAnswerHeader(v, "malformed", `pin=`+headerQuote(p.tmpl.text), `first=`+headerQuote(malformed))
		case ModeEnforce:
			if v.Reject == nil {
				v.Reject = &Rejection{
					Status: http.StatusBadRequest, Code: txn.CodeSchemaRequestMalformed,
					Title:  "Request body is malformed",
					Detail: fmt.Sprintf("%s: %s; it was not forwarded. Fix the payload and replay the call.", p.tmpl.text, malformed),
					Errors: []string{malformed},
				}
			}
		}
		return
	case !ok:
		msg := fmt.Sprintf("the %s body was not checked: the contract %s covers JSON and urlencoded forms", mediaTypeOf(req.Header), p.request.loc)
		v.Findings = append(v.Findings, txn.NewFinding(txn.CodeContractUnsupportedMediaType, msg, detail))
		if p.mode == ModeWarn {
			addAnswerHeader(v, "unchecked", `pin=`+headerQuote(p.tmpl.text), `reason=`+headerQuote("unsupported media type "+mediaTypeOf(req.Header)))
		}
		return
	}
	msgs := p.request.validate(doc)
	if len(msgs) == 0 {
		return
	}
	v.Findings = appendViolations(v.Findings, txn.CodeSchemaRequestInvalid, msgs, detail)
	switch p.mode {
	case ModeWarn:
		addAnswerHeader(v, "violated", "violations="+strconv.Itoa(len(msgs)), `pin=`+headerQuote(p.tmpl.text), `first=`+headerQuote(msgs[0]))
	case ModeEnforce:
		if v.Reject == nil {
			v.Reject = &Rejection{
				Status: http.StatusUnprocessableEntity, Code: txn.CodeSchemaRequestInvalid,
				Title: "Request violates its contract",
				Detail: fmt.Sprintf("%s: %s against %s; it was not forwarded. Fix the payload and replay the call.",
					p.tmpl.text, plural(len(msgs), "violation"), p.request.loc),
				Errors: msgs,
			}
		}
	}
}

// CheckResponse is the ResponseCheck of c: it validates the vendor's answer against the
// schema pinned for its status. It only ever adds findings.
func (c *Contracts) CheckResponse(_ time.Time, req *Request, resp *Response, v *ResponseVerdict) {
	p := c.match(req.Method, req.Path)
	if p == nil {
		return
	}
	s := p.responseSchema(resp.Status)
	if s == nil || resp.Truncated {
		// A body cut at store.capture_body cannot be parsed, so it cannot be checked.
		return
	}
	if s.fastValid(resp.Header, resp.Raw, resp.Body) {
		return
	}
	detail := fmt.Sprintf("%s · %d · %s", p.tmpl.text, resp.Status, s.loc)
	if s.members != nil && resp.Body.unparsed() && MediaKind(resp.Header.Get("Content-Type"), resp.Raw) == "json" {
		if msgs, ok, _ := s.validateMembers(resp.Raw); ok {
			v.Findings = appendViolations(v.Findings, txn.CodeSchemaResponseInvalid, msgs, detail)
			return
		}
	}
	var doc any
	switch b := resp.Doc(); {
	case b.Kind == "empty":
		if resp.Status == http.StatusNoContent || resp.Status == http.StatusNotModified || resp.Status == http.StatusResetContent {
			return
		}
		v.Findings = append(v.Findings, txn.NewFinding(txn.CodeSchemaResponseInvalid,
			fmt.Sprintf("the vendor answered %d with an empty body; the contract expects a JSON document", resp.Status), detail))
		return
	case b.Err != nil && contentEncoding(resp.Header) != "":
		// The pipeline decodes gzip; an answer it could not decode cannot be read here either.
		v.Findings = append(v.Findings, txn.NewFinding(txn.CodeContractUnsupportedMediaType,
			fmt.Sprintf("the vendor's %s-encoded answer was not checked", contentEncoding(resp.Header)), detail))
		return
	case b.Err != nil:
		v.Findings = append(v.Findings, txn.NewFinding(txn.CodeSchemaResponseInvalid, "the vendor's answer is "+describeParseError(b, resp.Raw), detail))
		return
	case b.Kind == "json":
		doc = b.JSON
	case b.Kind == "form":
		doc = formDocument(b.Form)
	default:
		v.Findings = append(v.Findings, txn.NewFinding(txn.CodeContractUnsupportedMediaType,
			fmt.Sprintf("the vendor answered %d with a %s body, which the contract %s cannot check", resp.Status, mediaTypeOf(resp.Header), s.loc), detail))
		return
	}
	if msgs := s.validate(doc); len(msgs) > 0 {
		v.Findings = appendViolations(v.Findings, txn.CodeSchemaResponseInvalid, msgs, detail)
	}
}

// responseSchema returns the schema pinned for status, or nil.
func (p *pin) responseSchema(status int) *pinnedSchema {
	exact, class := strconv.Itoa(status), strconv.Itoa(status/100)+"XX"
	var def *pinnedSchema
	for _, s := range p.responses {
		switch s.key {
		case exact, class:
			return s.pinnedSchema
		case "default":
			def = s.pinnedSchema
		}
	}
	return def
}

// requestDocument returns the request body as a JSON value to validate. malformed says why a
// body that claimed to be JSON or a form could not be parsed; ok is false for a media type
// that contracts do not cover.
func requestDocument(req *Request) (doc any, malformed string, ok bool) {
	switch b := req.Doc(); {
	case b.Err != nil:
		return nil, describeParseError(b, req.Raw), true
	case b.Kind == "json":
		return b.JSON, "", true
	case b.Kind == "form":
		return formDocument(b.Form), "", true
	case b.Kind == "empty":
		return emptyBody{}, "", true
	}
	return nil, "", false
}

// emptyBody stands for a request without a body; validate reports it as one violation.
type emptyBody struct{}

// formDocument turns urlencoded fields into the object a contract sees: each field is a
// string, or an array of strings when the field is repeated.
func formDocument(f url.Values) map[string]any {
	m := make(map[string]any, len(f))
	for k, vs := range f {
		if len(vs) == 1 {
			m[k] = vs[0]
			continue
		}
		a := make([]any, len(vs))
		for i, s := range vs {
			a[i] = s
		}
		m[k] = a
	}
	return m
}

// describeParseError says where a body failed to parse, with the byte offset for JSON.
func describeParseError(b Body, raw []byte) string {
	if b.Kind == "form" {
		return "not a valid urlencoded form: " + strings.TrimPrefix(b.Err.Error(), "invalid form body: ")
	}
	off, ok := jsonErrorOffset(b.Err)
	if !ok {
		off = int64(len(bytes.TrimRight(raw, " \t\r\n")))
	}
	reason := strings.TrimPrefix(b.Err.Error(), "invalid JSON: ")
	if reason == "unexpected EOF" {
		reason = "the document ends early (unclosed object, array or string)"
	}
	return fmt.Sprintf("not valid JSON: at byte %d: %s", off, reason)
}

// jsonErrorOffset returns the input offset that an encoding/json error carries.
func jsonErrorOffset(err error) (int64, bool) {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return syn.Offset, true
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return typ.Offset, true
	}
	return 0, false
}

// contentEncoding returns a message's Content-Encoding, or "" for none or identity.
func contentEncoding(h http.Header) string {
	enc := strings.TrimSpace(h.Get("Content-Encoding"))
	if strings.EqualFold(enc, "identity") {
		return ""
	}
	return enc
}

// mediaTypeOf names the media type of a message for messages; "untyped" when it has none.
func mediaTypeOf(h http.Header) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return "untyped"
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}

// appendViolations adds one finding per violation, up to maxFindings.
func appendViolations(to []txn.Finding, code string, msgs []string, detail string) []txn.Finding {
	for i, m := range msgs {
		if i == maxFindings-1 && len(msgs) > maxFindings {
			to = append(to, txn.NewFinding(code, fmt.Sprintf("and %d more violations", len(msgs)-i), detail))
			break
		}
		to = append(to, txn.NewFinding(code, m, detail))
	}
	return to
}

// addAnswerHeader sets HeaderContract on the answer to token and params.
func addAnswerHeader(v *RequestVerdict, token string, params ...string) {
	if v.AnswerHeaders == nil {
		v.AnswerHeaders = http.Header{}
	}
	v.AnswerHeaders.Set(HeaderContract, strings.Join(append([]string{token}, params...), "; "))
}

// maxHeaderText bounds a quoted message in HeaderContract.
const maxHeaderText = 200

// headerQuote quotes s for a header value: ASCII only, no line breaks, bounded.
func headerQuote(s string) string {
	if r := []rune(s); len(r) > maxHeaderText {
		s = string(r[:maxHeaderText-1]) + "…"
	}
	return strconv.QuoteToASCII(s)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// sortedKeys returns m's keys in order, for deterministic compiling.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cleanLocation normalises a file location's slashes for messages and URLs.
func cleanLocation(loc string) string { return path.Clean(strings.ReplaceAll(loc, "\\", "/")) }
