package vendors

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mtguard/mtguard/txn"
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
	return rules, r.problems
}

func (r *yreader) rules(n *yaml.Node, key string) []Rule {
	var out []Rule
	seen := map[string]int{}
	for i, item := range r.seq(n, key) {
		rk := fmt.Sprintf("%s[%d]", key, i)
		rule, ok := r.rule(item, rk)
		if line, dup := seen[rule.Name]; dup && rule.Name != "" {
			r.addf(item, rk+".name", "%q is already the name of the rule on line %d; names must be unique", rule.Name, line)
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
	before := len(r.problems)
	m, ok := r.mapping(n, rk, ruleKeys...)
	if !ok {
		return Rule{}, false
	}
	rule := Rule{Line: n.Line, key: rk}
	if s, ok := r.str(m.get("name"), rk+".name"); ok && s != "" {
		rule.Name = s
	} else {
		r.addf(n, rk, "name is required (a short id such as auth-expired; a route uses it to replace or switch off the rule)")
	}
	rule.Doc, _ = r.str(m.get("doc"), rk+".doc")
	if off, ok := r.boolean(m.get("off"), rk+".off"); ok && off {
		rule.Off = true
		for _, f := range m.order {
			if f.name != "name" && f.name != "off" && f.name != "doc" {
				r.addf(f.key, rk+"."+f.name, "a rule that is switched off needs only its name")
			}
		}
		return rule, len(r.problems) == before
	}
	if m.get("when") == nil {
		r.addf(n, rk, "when is required: the conditions under which the rule applies (when: {} applies it to every call)")
	}
	rule.when = r.cond(m.get("when"), rk+".when")
	if s, ok := r.oneOf(m.get("outcome"), rk+".outcome", string(txn.OutcomeFailed), string(txn.OutcomePartial), string(txn.OutcomeDelivered)); ok {
		rule.Outcome = txn.Outcome(s)
	}
	if s, ok := r.str(m.get("finding"), rk+".finding"); ok {
		if _, known := txn.Lookup(s); !known {
			r.addf(m.get("finding"), rk+".finding", "%q is not a finding code (see the findings table in README.md, e.g. response.silent_failure)", s)
		}
		rule.Finding = s
	}
	if s, ok := r.oneOf(m.get("severity"), rk+".severity", "info", "warn", "error"); ok {
		rule.Severity = s
	}
	if s, ok := r.str(m.get("message"), rk+".message"); ok {
		t, err := parseRuleTemplate(s)
		if err != nil {
			r.addf(m.get("message"), rk+".message", "%v", err)
		}
		rule.message = t
	}
	if s, ok := r.oneOf(m.get("signal"), rk+".signal", SignalRateLimit, SignalQuota); ok {
		rule.Signal = s
	}
	if d, ok := r.duration(m.get("retry_after"), rk+".retry_after"); ok {
		rule.RetryAfter = d
		if rule.Signal == "" {
			r.addf(m.get("retry_after"), rk+".retry_after", "retry_after goes with signal: ratelimit or signal: quota")
		}
	}
	if m.has("records") {
		rule.records = r.recordsSpec(m.get("records"), rk+".records")
	}
	if rule.Outcome == "" && rule.Finding == "" && rule.Signal == "" && rule.records == nil && len(r.problems) == before {
		r.addf(n, rk, "the rule does nothing: give it an outcome, a finding, a signal or records")
	}
	if rule.message != nil && rule.Finding == "" && rule.records == nil {
		r.addf(m.get("message"), rk+".message", "a message needs a finding to go with")
	}
	return rule, len(r.problems) == before
}

func (r *yreader) cond(n *yaml.Node, key string) ruleCond {
	var c ruleCond
	m, ok := r.mapping(n, key, whenKeys...)
	if !ok {
		return c
	}
	if m.has("status") {
		c.status = r.statusSet(m.get("status"), key+".status")
	}
	for _, s := range r.strs(m.get("method"), key+".method") {
		c.methods = append(c.methods, strings.ToUpper(s))
	}
	for _, s := range r.strs(m.get("path"), key+".path") {
		p, err := parsePathPattern(s, false)
		if err != nil {
			r.addf(m.get("path"), key+".path", "%v", err)
			continue
		}
		c.paths = append(c.paths, p)
	}
	if b, ok := r.boolean(m.get("empty_body"), key+".empty_body"); ok {
		c.emptyBody = -1
		if b {
			c.emptyBody = 1
		}
	}
	c.query = r.fieldTests(m.get("query"), key+".query")
	c.reqHeader = r.fieldTests(m.get("request_header"), key+".request_header")
	c.header = r.fieldTests(m.get("header"), key+".header")
	if m.has("raw") {
		t := r.valueTest(m.get("raw"), key+".raw")
		c.raw = &t
	}
	c.request = r.jsonTests(m.get("request"), key+".request")
	c.body = r.jsonTests(m.get("body"), key+".body")
	return c
}

func (r *yreader) fieldTests(n *yaml.Node, key string) []fieldTest {
	m, _ := r.anyMapping(n, key)
	var out []fieldTest
	for _, f := range m.order {
		out = append(out, fieldTest{name: f.name, test: r.valueTest(f.val, yjoin(key, f.name))})
	}
	return out
}

func (r *yreader) jsonTests(n *yaml.Node, key string) []jsonTest {
	m, _ := r.anyMapping(n, key)
	var out []jsonTest
	for _, f := range m.order {
		p, err := parseJPath(f.name)
		if err != nil {
			r.addf(f.key, yjoin(key, f.name), "%v", err)
			continue
		}
		out = append(out, jsonTest{path: p, test: r.valueTest(f.val, yjoin(key, f.name))})
	}
	return out
}

// statusSet reads 200, "2xx", "400-499", a list of those, or {not: ...}.
func (r *yreader) statusSet(n *yaml.Node, key string) *statusSet {
	n = yderef(n)
	s := &statusSet{}
	if n.Kind == yaml.MappingNode {
		m, _ := r.mapping(n, key, "not")
		s.not = true
		n = yderef(m.get("not"))
		if !ypresent(n) {
			r.addf(n, key, "write status: {not: 204}")
			return s
		}
	}
	for _, v := range r.strs(n, key) {
		rg, err := parseStatusRange(v)
		if err != nil {
			r.addf(n, key, "%v", err)
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
	n = yderef(n)
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
				r.addf(k, yjoin(key, k.Value), "is not a test (tests: %s); for a field inside an object write its dotted path, e.g. error.code: 190", strings.Join(testOps, ", "))
				return t
			}
		}
		m, _ := r.mapping(n, key, testOps...)
		for _, f := range m.order {
			fk := yjoin(key, f.name)
			switch f.name {
			case "equals":
				t.anyOf = r.scalars(f.val, fk)
			case "not":
				t.noneOf = r.scalars(f.val, fk)
			case "exists", "empty":
				b, ok := r.boolean(f.val, fk)
				if !ok {
					continue
				}
				v := int8(-1)
				if b {
					v = 1
				}
				if f.name == "exists" {
					t.exists = v
				} else {
					t.empty = v
				}
			case "lt", "le", "gt", "ge":
				s, ok := r.str(f.val, fk)
				if !ok {
					continue
				}
				c := ruleCmp{op: f.name}
				if num, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
					c.num = num
				} else if ref, err := parseRuleRef(s); err == nil {
					c.ref = ref
				} else {
					r.addf(f.val, fk, "%q is neither a number nor a reference like count(request.data): %v", s, err)
					continue
				}
				t.cmps = append(t.cmps, c)
			case "count":
				ct := r.valueTest(f.val, fk)
				if len(ct.contains) > 0 || ct.re != nil || ct.notRe != nil || ct.count != nil || ct.exists != 0 || ct.empty != 0 || len(ct.noneOf) > 0 {
					r.addf(f.val, fk, "count takes a number or comparisons: count: 0, count: {gt: 2500}")
				}
				t.count = &ct
			case "contains":
				for _, s := range r.strs(f.val, fk) {
					t.contains = append(t.contains, strings.ToLower(s))
				}
			case "matches", "not_matches":
				s, ok := r.str(f.val, fk)
				if !ok {
					continue
				}
				re, err := regexp.Compile(s)
				if err != nil {
					r.addf(f.val, fk, "%q is not a regular expression: %v", s, err)
					continue
				}
				if f.name == "matches" {
					t.re = re
				} else {
					t.notRe = re
				}
			}
		}
		if len(m.order) == 0 {
			r.addf(n, key, "empty test; write a value, a list, or operators such as {exists: true}")
		}
	}
	t.positive = len(t.anyOf) > 0 || len(t.cmps) > 0 || len(t.contains) > 0 || t.re != nil || t.notRe != nil || t.exists > 0 || t.empty < 0
	return t
}

func (r *yreader) scalars(n *yaml.Node, key string) []ruleScalar {
	n = yderef(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []ruleScalar{newRuleScalar(n.Value, n.ShortTag())}
	}
	if n.Kind != yaml.SequenceNode {
		r.addf(n, key, "expected a value or a list of values, found %s", ydescribe(n))
		return nil
	}
	var out []ruleScalar
	for i, it := range n.Content {
		it = yderef(it)
		if it.Kind != yaml.ScalarNode {
			r.addf(it, fmt.Sprintf("%s[%d]", key, i), "expected a value, found %s", ydescribe(it))
			continue
		}
		out = append(out, newRuleScalar(it.Value, it.ShortTag()))
	}
	return out
}

func (r *yreader) recordsSpec(n *yaml.Node, key string) *recordsSpec {
	m, ok := r.mapping(n, key, recordsKeys...)
	if !ok {
		return nil
	}
	rs := &recordsSpec{}
	if s, ok := r.str(m.get("each"), key+".each"); ok {
		p, err := parseJPath(s)
		if err != nil {
			r.addf(m.get("each"), key+".each", "%v", err)
		} else if !p.hasEach() {
			r.addf(m.get("each"), key+".each", "%q walks no array; write the list of per-record results, e.g. result[] or errors[]", s)
		}
		rs.each = p
	} else {
		r.addf(n, key, "each is required: the list in the answer with one element per record (result[], errors[], [])")
	}
	if m.has("failed") {
		// The failed test reads like a when's body, relative to the element.
		fm, _ := r.anyMapping(m.get("failed"), key+".failed")
		c := &ruleCond{}
		for _, f := range fm.order {
			p, err := parseJPath(f.name)
			if err != nil {
				r.addf(f.key, yjoin(key+".failed", f.name), "%v", err)
				continue
			}
			c.body = append(c.body, jsonTest{path: p, test: r.valueTest(f.val, yjoin(key+".failed", f.name))})
		}
		rs.failed = c
	}
	if s, ok := r.str(m.get("index"), key+".index"); ok {
		if s == "$key" {
			rs.indexKey = true
		} else if p, err := parseJPath(s); err != nil {
			r.addf(m.get("index"), key+".index", "%v", err)
		} else {
			rs.index = &p
		}
	}
	if m.has("index_by") {
		bm, _ := r.mapping(m.get("index_by"), key+".index_by", "answer", "request")
		a, okA := r.str(bm.get("answer"), key+".index_by.answer")
		q, okQ := r.str(bm.get("request"), key+".index_by.request")
		pa, errA := parseJPath(a)
		pq, errQ := parseJPath(q)
		_, _, each := pq.splitAtEach()
		switch {
		case !okA || !okQ:
			r.addf(m.get("index_by"), key+".index_by", "write index_by: {answer: objectWriteTraceId, request: \"inputs[].objectWriteTraceId\"}")
		case errA != nil:
			r.addf(m.get("index_by"), key+".index_by.answer", "%v", errA)
		case errQ != nil || !each:
			r.addf(m.get("index_by"), key+".index_by.request", "%q must be a request path through the inputs array, e.g. inputs[].objectWriteTraceId", q)
		default:
			rs.byAnswer, rs.byRequest = &pa, &pq
		}
		if m.has("index") {
			r.addf(m.get("index"), key+".index", "give index or index_by, not both")
		}
	}
	if s, ok := r.str(m.get("key"), key+".key"); ok {
		if p, err := parseJPath(s); err != nil {
			r.addf(m.get("key"), key+".key", "%v", err)
		} else {
			rs.key = &p
		}
	}
	if s, ok := r.str(m.get("reason"), key+".reason"); ok {
		t, err := parseRuleTemplate(s)
		if err != nil {
			r.addf(m.get("reason"), key+".reason", "%v", err)
		}
		rs.reason = t
	}
	for _, s := range r.strs(m.get("keys"), key+".keys") {
		p, err := parseJPath(s)
		if err != nil {
			r.addf(m.get("keys"), key+".keys", "%v", err)
			continue
		}
		if _, _, ok := p.splitAtEach(); !ok {
			r.addf(m.get("keys"), key+".keys", "%q walks no array; write the request path of each record's key, e.g. input[].email", s)
			continue
		}
		rs.keys = append(rs.keys, p)
	}
	return rs
}
