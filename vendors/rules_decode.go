package vendors

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/yamlstrict"
	"go.yaml.in/yaml/v3"
)

// Signal kinds a rule may raise (Signal.Kind); header readings use SignalRemaining.
const (
	SignalRateLimit = "ratelimit"
	SignalQuota     = "quota"
	SignalRemaining = "remaining"
)

var ruleKeys = []string{"name", "doc", "when", "outcome", "finding", "severity", "message", "signal", "retry_after", "records", "off"}

var whenKeys = []string{"status", "method", "path", "empty_body", "query", "request_header", "header", "raw", "request", "body"}

var recordsKeys = []string{"each", "failed", "index", "index_by", "key", "reason", "keys"}

var testOps = []string{"equals", "not", "exists", "empty", "lt", "le", "gt", "ge", "contains", "matches", "not_matches", "count"}

// DecodeRules compiles a YAML list of outcome rules. key is the list's key path in messages
// (outcomes, routes[2].outcomes). Names must be unique within the list.
func DecodeRules(n *yaml.Node, key string) ([]Rule, Problems) {
	var r yreader
	rules := r.rules(n, key)
	return rules, r.Problems
}

func (r *yreader) rules(n *yaml.Node, key string) []Rule {
	var out []Rule
	seen := map[string]int{}
	for i, item := range r.Seq(n, key) {
		rk := fmt.Sprintf("%s[%d]", key, i)
		rule, ok := r.rule(item, rk)
		if line, dup := seen[rule.Name]; dup && rule.Name != "" {
			r.AddfAt(item, rk+".name", "%q is already the name of the rule on line %d; names must be unique", rule.Name, line)
			continue
		}
		seen[rule.Name] = item.Line
		if ok {
			out = append(out, rule)
		}
	}
	return out
}

func (r *yreader) rule(n *yaml.Node, rk string) (Rule, bool) {
	before := len(r.Problems)
	m, ok := r.Mapping(n, rk, ruleKeys...)
	if !ok {
		return Rule{}, false
	}
	rule := Rule{Line: n.Line, key: rk}
	if s, ok := r.Str(m.Get("name"), rk+".name"); ok && s != "" {
		rule.Name = s
	} else {
		r.AddfAt(n, rk, "name is required (a short id such as auth-expired; a route uses it to replace or switch off the rule)")
	}
	rule.Doc, _ = r.Str(m.Get("doc"), rk+".doc")
	if off, ok := r.Bool(m.Get("off"), rk+".off"); ok && off {
		rule.Off = true
		for _, f := range m.Fields() {
			if f.Name != "name" && f.Name != "off" && f.Name != "doc" {
				r.AddfAt(f.Key, rk+"."+f.Name, "a rule that is switched off needs only its name")
			}
		}
		return rule, len(r.Problems) == before
	}
	if m.Get("when") == nil {
		r.AddfAt(n, rk, "when is required: the conditions under which the rule applies (when: {} applies it to every call)")
	}
	rule.when = r.cond(m.Get("when"), rk+".when")
	if s, ok := r.OneOf(m.Get("outcome"), rk+".outcome", string(txn.OutcomeFailed), string(txn.OutcomePartial), string(txn.OutcomeDelivered)); ok {
		rule.Outcome = txn.Outcome(s)
	}
	if s, ok := r.Str(m.Get("finding"), rk+".finding"); ok {
		if _, known := txn.Lookup(s); !known {
			r.AddfAt(m.Get("finding"), rk+".finding", "%q is not a finding code (see the findings table in README.md, e.g. response.silent_failure)", s)
		}
		rule.Finding = s
	}
	if s, ok := r.OneOf(m.Get("severity"), rk+".severity", "info", "warn", "error"); ok {
		rule.Severity = s
	}
	if s, ok := r.Str(m.Get("message"), rk+".message"); ok {
		t, err := parseRuleTemplate(s)
		if err != nil {
			r.AddfAt(m.Get("message"), rk+".message", "%v", err)
		}
		rule.message = t
	}
	if s, ok := r.OneOf(m.Get("signal"), rk+".signal", SignalRateLimit, SignalQuota); ok {
		rule.Signal = s
	}
	if d, ok := r.Duration(m.Get("retry_after"), rk+".retry_after"); ok {
		rule.RetryAfter = d
		if rule.Signal == "" {
			r.AddfAt(m.Get("retry_after"), rk+".retry_after", "retry_after goes with signal: ratelimit or signal: quota")
		}
	}
	if m.Has("records") {
		rule.records = r.recordsSpec(m.Get("records"), rk+".records")
	}
	if rule.Outcome == "" && rule.Finding == "" && rule.Signal == "" && rule.records == nil && len(r.Problems) == before {
		r.AddfAt(n, rk, "the rule does nothing: give it an outcome, a finding, a signal or records")
	}
	if rule.message != nil && rule.Finding == "" && rule.records == nil {
		r.AddfAt(m.Get("message"), rk+".message", "a message needs a finding to go with")
	}
	return rule, len(r.Problems) == before
}

func (r *yreader) cond(n *yaml.Node, key string) ruleCond {
	var c ruleCond
	m, ok := r.Mapping(n, key, whenKeys...)
	if !ok {
		return c
	}
	if m.Has("status") {
		c.status = r.statusSet(m.Get("status"), key+".status")
	}
	for _, s := range r.Strs(m.Get("method"), key+".method") {
		c.methods = append(c.methods, strings.ToUpper(s))
	}
	for _, s := range r.Strs(m.Get("path"), key+".path") {
		p, err := parsePathPattern(s, false)
		if err != nil {
			r.AddfAt(m.Get("path"), key+".path", "%v", err)
			continue
		}
		c.paths = append(c.paths, p)
	}
	if b, ok := r.Bool(m.Get("empty_body"), key+".empty_body"); ok {
		c.emptyBody = -1
		if b {
			c.emptyBody = 1
		}
	}
	c.query = r.fieldTests(m.Get("query"), key+".query")
	c.reqHeader = r.fieldTests(m.Get("request_header"), key+".request_header")
	c.header = r.fieldTests(m.Get("header"), key+".header")
	if m.Has("raw") {
		t := r.valueTest(m.Get("raw"), key+".raw")
		c.raw = &t
	}
	c.request = r.jsonTests(m.Get("request"), key+".request")
	c.body = r.jsonTests(m.Get("body"), key+".body")
	return c
}

func (r *yreader) fieldTests(n *yaml.Node, key string) []fieldTest {
	m, _ := r.AnyMapping(n, key)
	var out []fieldTest
	for _, f := range m.Fields() {
		out = append(out, fieldTest{name: f.Name, test: r.valueTest(f.Val, yamlstrict.Join(key, f.Name))})
	}
	return out
}

func (r *yreader) jsonTests(n *yaml.Node, key string) []jsonTest {
	m, _ := r.AnyMapping(n, key)
	var out []jsonTest
	for _, f := range m.Fields() {
		p, err := parseJPath(f.Name)
		if err != nil {
			r.AddfAt(f.Key, yamlstrict.Join(key, f.Name), "%v", err)
			continue
		}
		out = append(out, jsonTest{path: p, test: r.valueTest(f.Val, yamlstrict.Join(key, f.Name))})
	}
	return out
}

// statusSet reads 200, "2xx", "400-499", a list of those, or {not: ...}.
func (r *yreader) statusSet(n *yaml.Node, key string) *statusSet {
	n = yamlstrict.Deref(n)
	s := &statusSet{}
	if n.Kind == yaml.MappingNode {
		m, _ := r.Mapping(n, key, "not")
		s.not = true
		n = yamlstrict.Deref(m.Get("not"))
		if !yamlstrict.Present(n) {
			r.AddfAt(n, key, "write status: {not: 204}")
			return s
		}
	}
	for _, v := range r.Strs(n, key) {
		rg, err := parseStatusRange(v)
		if err != nil {
			r.AddfAt(n, key, "%v", err)
			continue
		}
		s.ranges = append(s.ranges, rg)
	}
	return s
}

func parseStatusRange(v string) ([2]int, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	bad := fmt.Errorf("%q is not a status (write 200, 2xx, 400-499 or a list of them)", v)
	if len(v) == 3 && strings.HasSuffix(v, "xx") && v[0] >= '1' && v[0] <= '5' {
		base := int(v[0]-'0') * 100
		return [2]int{base, base + 99}, nil
	}
	lo, hi, isRange := strings.Cut(v, "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil || a < 100 || a > 599 {
		return [2]int{}, bad
	}
	if !isRange {
		return [2]int{a, a}, nil
	}
	b, err := strconv.Atoi(strings.TrimSpace(hi))
	if err != nil || b < a || b > 599 {
		return [2]int{}, bad
	}
	return [2]int{a, b}, nil
}

// valueTest reads a value (equals), a list (one of) or a mapping of operators.
func (r *yreader) valueTest(n *yaml.Node, key string) valueTest {
	n = yamlstrict.Deref(n)
	var t valueTest
	switch {
	case n == nil:
		return t
	case n.Kind == yaml.ScalarNode:
		t.anyOf = []ruleScalar{newRuleScalar(n.Value, n.ShortTag())}
	case n.Kind == yaml.SequenceNode:
		t.anyOf = r.scalars(n, key)
	case n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !slices.Contains(testOps, k.Value) {
				r.AddfAt(k, yamlstrict.Join(key, k.Value), "is not a test (tests: %s); for a field inside an object write its dotted path, e.g. error.code: 190", strings.Join(testOps, ", "))
				return t
			}
		}
		m, _ := r.Mapping(n, key, testOps...)
		for _, f := range m.Fields() {
			fk := yamlstrict.Join(key, f.Name)
			switch f.Name {
			case "equals":
				t.anyOf = r.scalars(f.Val, fk)
			case "not":
				t.noneOf = r.scalars(f.Val, fk)
			case "exists", "empty":
				b, ok := r.Bool(f.Val, fk)
				if !ok {
					continue
				}
				v := int8(-1)
				if b {
					v = 1
				}
				if f.Name == "exists" {
					t.exists = v
				} else {
					t.empty = v
				}
			case "lt", "le", "gt", "ge":
				s, ok := r.Str(f.Val, fk)
				if !ok {
					continue
				}
				c := ruleCmp{op: f.Name}
				if num, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
					c.num = num
				} else if ref, err := parseRuleRef(s); err == nil {
					c.ref = ref
				} else {
					r.AddfAt(f.Val, fk, "%q is neither a number nor a reference like count(request.data): %v", s, err)
					continue
				}
				t.cmps = append(t.cmps, c)
			case "count":
				ct := r.valueTest(f.Val, fk)
				if len(ct.contains) > 0 || ct.re != nil || ct.notRe != nil || ct.count != nil || ct.exists != 0 || ct.empty != 0 || len(ct.noneOf) > 0 {
					r.AddfAt(f.Val, fk, "count takes a number or comparisons: count: 0, count: {gt: 2500}")
				}
				t.count = &ct
			case "contains":
				for _, s := range r.Strs(f.Val, fk) {
					t.contains = append(t.contains, strings.ToLower(s))
				}
			case "matches", "not_matches":
				s, ok := r.Str(f.Val, fk)
				if !ok {
					continue
				}
				re, err := regexp.Compile(s)
				if err != nil {
					r.AddfAt(f.Val, fk, "%q is not a regular expression: %v", s, err)
					continue
				}
				if f.Name == "matches" {
					t.re = re
				} else {
					t.notRe = re
				}
			}
		}
		if len(m.Fields()) == 0 {
			r.AddfAt(n, key, "empty test; write a value, a list, or operators such as {exists: true}")
		}
	}
	t.positive = len(t.anyOf) > 0 || len(t.cmps) > 0 || len(t.contains) > 0 || t.re != nil || t.notRe != nil || t.exists > 0 || t.empty < 0
	return t
}

func (r *yreader) scalars(n *yaml.Node, key string) []ruleScalar {
	n = yamlstrict.Deref(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []ruleScalar{newRuleScalar(n.Value, n.ShortTag())}
	}
	if n.Kind != yaml.SequenceNode {
		r.AddfAt(n, key, "expected a value or a list of values, found %s", yamlstrict.Describe(n))
		return nil
	}
	var out []ruleScalar
	for i, it := range n.Content {
		it = yamlstrict.Deref(it)
		if it.Kind != yaml.ScalarNode {
			r.AddfAt(it, fmt.Sprintf("%s[%d]", key, i), "expected a value, found %s", yamlstrict.Describe(it))
			continue
		}
		out = append(out, newRuleScalar(it.Value, it.ShortTag()))
	}
	return out
}

func (r *yreader) recordsSpec(n *yaml.Node, key string) *recordsSpec {
	m, ok := r.Mapping(n, key, recordsKeys...)
	if !ok {
		return nil
	}
	rs := &recordsSpec{}
	if s, ok := r.Str(m.Get("each"), key+".each"); ok {
		p, err := parseJPath(s)
		if err != nil {
			r.AddfAt(m.Get("each"), key+".each", "%v", err)
		} else if !p.hasEach() {
			r.AddfAt(m.Get("each"), key+".each", "%q walks no array; write the list of per-record results, e.g. result[] or errors[]", s)
		}
		rs.each = p
	} else {
		r.AddfAt(n, key, "each is required: the list in the answer with one element per record (result[], errors[], [])")
	}
	if m.Has("failed") {
		// The failed test reads like a when's body, relative to the element.
		fm, _ := r.AnyMapping(m.Get("failed"), key+".failed")
		c := &ruleCond{}
		for _, f := range fm.Fields() {
			p, err := parseJPath(f.Name)
			if err != nil {
				r.AddfAt(f.Key, yamlstrict.Join(key+".failed", f.Name), "%v", err)
				continue
			}
			c.body = append(c.body, jsonTest{path: p, test: r.valueTest(f.Val, yamlstrict.Join(key+".failed", f.Name))})
		}
		rs.failed = c
	}
	if s, ok := r.Str(m.Get("index"), key+".index"); ok {
		if s == "$key" {
			rs.indexKey = true
		} else if p, err := parseJPath(s); err != nil {
			r.AddfAt(m.Get("index"), key+".index", "%v", err)
		} else {
			rs.index = &p
		}
	}
	if m.Has("index_by") {
		bm, _ := r.Mapping(m.Get("index_by"), key+".index_by", "answer", "request")
		a, okA := r.Str(bm.Get("answer"), key+".index_by.answer")
		q, okQ := r.Str(bm.Get("request"), key+".index_by.request")
		pa, errA := parseJPath(a)
		pq, errQ := parseJPath(q)
		_, _, each := pq.splitAtEach()
		switch {
		case !okA || !okQ:
			r.AddfAt(m.Get("index_by"), key+".index_by", "write index_by: {answer: objectWriteTraceId, request: \"inputs[].objectWriteTraceId\"}")
		case errA != nil:
			r.AddfAt(m.Get("index_by"), key+".index_by.answer", "%v", errA)
		case errQ != nil || !each:
			r.AddfAt(m.Get("index_by"), key+".index_by.request", "%q must be a request path through the inputs array, e.g. inputs[].objectWriteTraceId", q)
		default:
			rs.byAnswer, rs.byRequest = &pa, &pq
		}
		if m.Has("index") {
			r.AddfAt(m.Get("index"), key+".index", "give index or index_by, not both")
		}
	}
	if s, ok := r.Str(m.Get("key"), key+".key"); ok {
		if p, err := parseJPath(s); err != nil {
			r.AddfAt(m.Get("key"), key+".key", "%v", err)
		} else {
			rs.key = &p
		}
	}
	if s, ok := r.Str(m.Get("reason"), key+".reason"); ok {
		t, err := parseRuleTemplate(s)
		if err != nil {
			r.AddfAt(m.Get("reason"), key+".reason", "%v", err)
		}
		rs.reason = t
	}
	for _, s := range r.Strs(m.Get("keys"), key+".keys") {
		p, err := parseJPath(s)
		if err != nil {
			r.AddfAt(m.Get("keys"), key+".keys", "%v", err)
			continue
		}
		if _, _, ok := p.splitAtEach(); !ok {
			r.AddfAt(m.Get("keys"), key+".keys", "%q walks no array; write the request path of each record's key, e.g. input[].email", s)
			continue
		}
		rs.keys = append(rs.keys, p)
	}
	return rs
}
