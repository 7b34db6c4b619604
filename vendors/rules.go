package vendors

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// Rule is one outcome rule: when its conditions hold for a call, it sets the call's outcome,
// adds a finding, and may tell the throttler about a vendor limit or list the failed records
// of a batch. Rules are data: they are written in YAML (a preset's auth, limit_signals and
// outcomes lists, or a route's outcomes) and compiled by DecodeRules. README's "Presets and
// silent failures" section documents the format.
type Rule struct {
	// Name identifies the rule in messages and lets a route replace or switch off a preset's
	// rule of the same name.
	Name string
	// Doc is where the vendor documents the behaviour the rule reads.
	Doc string
	// Off switches off the preset rule of the same name (a route override).
	Off bool
	// Outcome is failed, partial or delivered; "" leaves the outcome alone. The first matching
	// rule with an outcome (or with records) decides; rules without one only add findings.
	Outcome txn.Outcome
	// Finding is the catalogue code added when the rule matches; "" adds none.
	Finding string
	// Severity overrides the catalogue severity of Finding when set.
	Severity string
	// Signal is ratelimit or quota when the rule recognises a vendor limit; "" otherwise.
	Signal string
	// RetryAfter is the pause the vendor documents for Signal when its answer says none.
	RetryAfter time.Duration
	// Line is where the rule starts in its YAML file.
	Line int

	key     string // the rule's key path, outcomes[2], for messages about it
	when    ruleCond
	message *ruleTemplate
	records *recordsSpec
}

// HasRecords reports whether the rule reads per-record results; such a rule reports
// response.partial_failure or response.silent_failure unless it names its own finding.
func (r *Rule) HasRecords() bool { return r.records != nil }

// ruleCtx is what a rule sees of one call.
type ruleCtx struct {
	now    time.Time
	req    *schemas.Request
	resp   *schemas.Response
	segs   []string
	split  bool
	limits *Limits
	// hints are the limit signals read from the response headers (remaining, reset).
	hints []schemas.Signal
	// elem and key are the record being looked at by a records rule.
	elem   any
	key    string
	inElem bool
}

func (c *ruleCtx) pathSegs() []string {
	if !c.split {
		c.segs, c.split = pathSegments(c.req.Path), true
	}
	return c.segs
}

// ruleCond holds a rule's "when": every part that is set must hold.
type ruleCond struct {
	status    *statusSet
	methods   []string
	paths     []pathPattern
	emptyBody int8 // 1: the body must be empty; -1: must not be
	query     []fieldTest
	reqHeader []fieldTest
	header    []fieldTest
	raw       *valueTest
	request   []jsonTest
	body      []jsonTest
}

// fieldTest tests the values of one header or query parameter.
type fieldTest struct {
	name string
	test valueTest
}

// jsonTest tests the values one JSON path yields.
type jsonTest struct {
	path jpath
	test valueTest
}

func (c *ruleCond) eval(ctx *ruleCtx) bool {
	if c.status != nil && !c.status.has(ctx.resp.Status) {
		return false
	}
	if len(c.methods) > 0 && !containsFold(c.methods, ctx.req.Method) {
		return false
	}
	if len(c.paths) > 0 {
		ok := false
		for i := range c.paths {
			if _, m := c.paths[i].match(ctx.pathSegs()); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if c.emptyBody != 0 {
		empty := ctx.req.Method != http.MethodHead && ctx.resp.Status != http.StatusNoContent &&
			!ctx.resp.Truncated && len(strings.TrimSpace(string(ctx.resp.Raw))) == 0
		if empty != (c.emptyBody > 0) {
			return false
		}
	}
	for i := range c.query {
		t := &c.query[i]
		if !t.test.evalStrings(ctx, ctx.req.Query[t.name]) {
			return false
		}
	}
	for i := range c.reqHeader {
		t := &c.reqHeader[i]
		if !t.test.evalStrings(ctx, ctx.req.Header.Values(t.name)) {
			return false
		}
	}
	for i := range c.header {
		t := &c.header[i]
		if !t.test.evalStrings(ctx, ctx.resp.Header.Values(t.name)) {
			return false
		}
	}
	if c.raw != nil && !c.raw.evalStrings(ctx, []string{string(ctx.resp.Raw)}) {
		return false
	}
	for i := range c.request {
		t := &c.request[i]
		if !t.test.evalDoc(ctx, t.path, ctx.req.Doc()) {
			return false
		}
	}
	for i := range c.body {
		t := &c.body[i]
		if ctx.inElem {
			if !t.test.evalJSON(ctx, t.path, ctx.elem) {
				return false
			}
			continue
		}
		if !t.test.evalDoc(ctx, t.path, ctx.resp.Doc()) {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// statusSet is a list of status ranges, possibly negated ("not: 204").
type statusSet struct {
	ranges [][2]int
	not    bool
}

func (s *statusSet) has(status int) bool {
	in := false
	for _, r := range s.ranges {
		if status >= r[0] && status <= r[1] {
			in = true
			break
		}
	}
	return in != s.not
}

// valueTest is the test written after a path or a header name: a value (equals), a list (one
// of), or a mapping of operators. Operators ask about some value the path yields, except not,
// exists: false and empty: true, which ask about all of them.
type valueTest struct {
	anyOf    []ruleScalar
	noneOf   []ruleScalar
	exists   int8
	empty    int8
	cmps     []ruleCmp
	contains []string // lower-cased
	re       *regexp.Regexp
	notRe    *regexp.Regexp
	// count tests how many values the path yields (an array counts as its elements).
	count *valueTest
	// positive is set when some value must pass (anything but not, exists: false, empty: true).
	positive bool
}

// ruleScalar is a value written in a rule, compared loosely with JSON: 601 equals the JSON
// number 601 and the string "601" (Marketo quotes its codes).
type ruleScalar struct {
	text   string
	num    float64
	isNum  bool
	isNull bool
}

func newRuleScalar(text, tag string) ruleScalar {
	s := ruleScalar{text: text}
	switch tag {
	case "!!null":
		s.isNull = true
	case "!!int", "!!float":
		if f, err := strconv.ParseFloat(strings.ReplaceAll(text, "_", ""), 64); err == nil {
			s.num, s.isNum = f, true
		}
	}
	return s
}

func (s *ruleScalar) matches(v any) bool {
	switch x := v.(type) {
	case nil:
		return s.isNull
	case string:
		if x == s.text {
			return true
		}
		if s.isNum {
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			return err == nil && f == s.num
		}
	case json.Number:
		if s.isNum {
			f, err := x.Float64()
			return err == nil && f == s.num
		}
		return string(x) == s.text
	case bool:
		return strconv.FormatBool(x) == s.text
	case float64:
		return s.isNum && x == s.num
	}
	return false
}

// ruleCmp is a numeric comparison: lt, le, gt or ge against a number or a reference such as
// count(request.data).
type ruleCmp struct {
	op  string
	num float64
	ref *ruleRef
}

func (c *ruleCmp) holds(ctx *ruleCtx, v any) bool {
	x, ok := number(v)
	if !ok {
		return false
	}
	y := c.num
	if c.ref != nil {
		if y, ok = c.ref.number(ctx); !ok {
			return false
		}
	}
	switch c.op {
	case "lt":
		return x < y
	case "le":
		return x <= y
	case "gt":
		return x > y
	case "ge":
		return x >= y
	}
	return false
}

// passes reports whether one value satisfies every positive operator.
func (t *valueTest) passes(ctx *ruleCtx, v any) bool {
	if t.exists > 0 && v == nil {
		return false
	}
	if t.empty < 0 && isEmpty(v) {
		return false
	}
	if len(t.anyOf) > 0 {
		ok := false
		for i := range t.anyOf {
			if t.anyOf[i].matches(v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range t.cmps {
		if !t.cmps[i].holds(ctx, v) {
			return false
		}
	}
	if len(t.contains) > 0 || t.re != nil || t.notRe != nil {
		s, ok := scalarText(v)
		if !ok || v == nil {
			return false
		}
		for _, c := range t.contains {
			if !containsFoldString(s, c) {
				return false
			}
		}
		if t.re != nil && !t.re.MatchString(s) {
			return false
		}
		if t.notRe != nil && t.notRe.MatchString(s) {
			return false
		}
	}
	return true
}

// valueScan accumulates what a test needs to know about the values a path yields.
type valueScan struct {
	t        *valueTest
	ctx      *ruleCtx
	count    int
	elems    int
	found    bool
	violated bool
	nonEmpty bool
}

func (s *valueScan) see(v any) bool {
	if v != nil {
		s.count++
		if a, ok := v.([]any); ok {
			s.elems += len(a)
		} else {
			s.elems++
		}
	}
	for i := range s.t.noneOf {
		if s.t.noneOf[i].matches(v) {
			s.violated = true
			return false
		}
	}
	if !isEmpty(v) {
		s.nonEmpty = true
	}
	if !s.found && s.t.positive && s.t.passes(s.ctx, v) {
		s.found = true
	}
	return true
}

func (s *valueScan) result() bool {
	t := s.t
	if t.count != nil && !t.count.passes(s.ctx, json.Number(strconv.Itoa(s.elems))) {
		return false
	}
	switch {
	case s.violated:
		return false
	case t.exists < 0:
		return s.count == 0
	case t.empty > 0 && s.nonEmpty:
		return false
	case t.positive:
		return s.found
	}
	return true
}

func (t *valueTest) evalJSON(ctx *ruleCtx, p jpath, doc any) bool {
	s := valueScan{t: t, ctx: ctx}
	if len(p.steps) == 0 && p.raw == "." {
		s.see(doc)
		return s.result()
	}
	p.walk(doc, func(v any, _ string) bool { return s.see(v) })
	return s.result()
}

// evalDoc tests a request or response body: a JSON document by path, a form by field name.
func (t *valueTest) evalDoc(ctx *ruleCtx, p jpath, b schemas.Body) bool {
	if b.Form != nil {
		vals := b.Form[p.raw]
		return t.evalStrings(ctx, vals)
	}
	return t.evalJSON(ctx, p, b.JSON)
}

func (t *valueTest) evalStrings(ctx *ruleCtx, vals []string) bool {
	s := valueScan{t: t, ctx: ctx}
	for _, v := range vals {
		if !s.see(v) {
			break
		}
	}
	return s.result()
}

func containsFoldString(s, lowerSub string) bool {
	if len(lowerSub) > len(s) {
		return false
	}
	for i := 0; i+len(lowerSub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(lowerSub)], lowerSub) {
			return true
		}
	}
	return false
}

// evalRules applies rules in order. The first matching rule that sets an outcome (or finds
// failed records) decides the outcome; later deciding rules are skipped. Rules that only add
// a finding apply whenever they match.
func evalRules(ctx *ruleCtx, rules []Rule, v *schemas.ResponseVerdict) {
	decided := false
	for i := range rules {
		r := &rules[i]
		if r.Off {
			continue
		}
		deciding := r.Outcome != "" || r.records != nil
		if deciding && decided {
			continue
		}
		if !r.when.eval(ctx) {
			continue
		}
		if r.records != nil {
			if r.applyRecords(ctx, v) {
				decided = true
			}
			continue
		}
		r.apply(ctx, v, "")
		if deciding {
			decided = true
		}
	}
}

// apply records what a matching rule concluded; msg, when set, replaces the rule's message.
func (r *Rule) apply(ctx *ruleCtx, v *schemas.ResponseVerdict, msg string) {
	if r.Outcome != "" {
		v.Outcome = r.Outcome
	}
	var sig schemas.Signal
	if r.Signal != "" {
		sig = ruleSignal(ctx, r)
		v.Signals = append(v.Signals, sig)
	}
	if r.Finding == "" {
		return
	}
	if msg == "" {
		msg = r.renderMessage(ctx)
	}
	if r.Signal != "" {
		msg += signalNote(sig, ctx.now)
	}
	f := txn.NewFinding(r.Finding, msg, r.detail())
	if r.Severity != "" {
		f.Severity = txn.Severity(r.Severity)
	}
	v.Findings = append(v.Findings, f)
}

func (r *Rule) renderMessage(ctx *ruleCtx) string {
	if r.message != nil {
		return r.message.render(ctx)
	}
	spec, _ := txn.Lookup(r.Finding)
	return spec.Title
}

// detail names the rule and its source, so a reader can find why mtguard said so.
func (r *Rule) detail() string {
	if r.Doc == "" {
		return "rule " + r.Name
	}
	return "rule " + r.Name + "; see " + r.Doc
}
