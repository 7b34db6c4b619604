package vendors

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ruleRef names a value a rule can compare against or print: a path in the response body (or
// in the record being looked at), request.<path> in the request body, header.<Name> in the
// response headers, query.<name> in the request's query, count(<path>) for how many values a
// path yields, and $status, $method, $path and $key (the object key a "*" step walked).
type ruleRef struct {
	raw   string
	ns    refNS
	path  jpath
	name  string
	count bool
}

type refNS uint8

const (
	refBody refNS = iota
	refRequest
	refHeader
	refQuery
	refStatus
	refMethod
	refPath
	refKey
)

func parseRuleRef(s string) (*ruleRef, error) {
	r := &ruleRef{raw: s}
	s = strings.TrimSpace(s)
	if inner, ok := strings.CutPrefix(s, "count("); ok {
		inner, ok = strings.CutSuffix(inner, ")")
		if !ok {
			return nil, fmt.Errorf("%q: count( needs its closing parenthesis", r.raw)
		}
		sub, err := parseRuleRef(inner)
		if err != nil {
			return nil, err
		}
		if sub.ns != refBody && sub.ns != refRequest {
			return nil, fmt.Errorf("%q: count() takes a body path, e.g. count(request.data)", r.raw)
		}
		sub.raw, sub.count = r.raw, true
		return sub, nil
	}
	switch s {
	case "$status":
		r.ns = refStatus
		return r, nil
	case "$method":
		r.ns = refMethod
		return r, nil
	case "$path":
		r.ns = refPath
		return r, nil
	case "$key":
		r.ns = refKey
		return r, nil
	}
	if strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("%q: unknown name (use $status, $method, $path or $key)", r.raw)
	}
	if name, ok := strings.CutPrefix(s, "header."); ok && name != "" {
		r.ns, r.name = refHeader, name
		return r, nil
	}
	if name, ok := strings.CutPrefix(s, "query."); ok && name != "" {
		r.ns, r.name = refQuery, name
		return r, nil
	}
	if p, ok := strings.CutPrefix(s, "request."); ok {
		r.ns = refRequest
		s = p
	}
	jp, err := parseJPath(s)
	if err != nil {
		return nil, err
	}
	r.path = jp
	return r, nil
}

// each calls fn with every value the reference yields.
func (r *ruleRef) each(ctx *ruleCtx, fn func(v any) bool) {
	switch r.ns {
	case refStatus:
		fn(json.Number(strconv.Itoa(ctx.resp.Status)))
	case refMethod:
		fn(ctx.req.Method)
	case refPath:
		fn(ctx.req.Path)
	case refKey:
		fn(ctx.key)
	case refHeader:
		for _, v := range ctx.resp.Header.Values(r.name) {
			if !fn(v) {
				return
			}
		}
	case refQuery:
		for _, v := range ctx.req.Query[r.name] {
			if !fn(v) {
				return
			}
		}
	case refRequest, refBody:
		b := ctx.req.Doc()
		if r.ns == refBody {
			if ctx.inElem {
				r.walkDoc(ctx.elem, fn)
				return
			}
			b = ctx.resp.Doc()
		}
		if b.Form != nil {
			for _, v := range b.Form[r.path.raw] {
				if !fn(v) {
					return
				}
			}
			return
		}
		r.walkDoc(b.JSON, fn)
	}
}

func (r *ruleRef) walkDoc(doc any, fn func(any) bool) {
	if r.path.raw == "." && len(r.path.steps) == 0 {
		fn(doc)
		return
	}
	r.path.walk(doc, func(v any, _ string) bool { return fn(v) })
}

// number is the reference as a number: a count, or the first value that is numeric.
func (r *ruleRef) number(ctx *ruleCtx) (float64, bool) {
	if r.count {
		n := 0
		r.each(ctx, func(v any) bool {
			if a, ok := v.([]any); ok {
				n += len(a)
			} else if v != nil {
				n++
			}
			return true
		})
		return float64(n), true
	}
	var out float64
	found := false
	r.each(ctx, func(v any) bool {
		out, found = number(v)
		return !found
	})
	return out, found
}

// maxRefText bounds what one reference prints into a message.
const maxRefText = 300

// text renders the reference for a message: values joined by ", ", "?" when there is none.
func (r *ruleRef) text(ctx *ruleCtx) string {
	if r.count {
		n, _ := r.number(ctx)
		return strconv.Itoa(int(n))
	}
	var b strings.Builder
	var seen []string
	n := 0
	r.each(ctx, func(v any) bool {
		if v == nil {
			return true
		}
		s, ok := scalarText(v)
		if !ok {
			j, _ := json.Marshal(v)
			s = string(j)
		}
		// Twenty recipients queued for the same reason say it once.
		for _, x := range seen {
			if x == s {
				return true
			}
		}
		seen = append(seen, s)
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString(s)
		return b.Len() < maxRefText
	})
	if n == 0 {
		return "?"
	}
	s := b.String()
	if len(s) > maxRefText {
		s = s[:maxRefText] + "…"
	}
	return s
}

// ruleTemplate is a message with {references}: "Marketo {errors[0].code}: {errors[0].message}".
type ruleTemplate struct {
	raw   string
	parts []tmplPart
}

type tmplPart struct {
	lit string
	// refs are alternatives, {reasons[].message|reason.message}: the first that has a value
	// is printed.
	refs []*ruleRef
}

func parseRuleTemplate(s string) (*ruleTemplate, error) {
	t := &ruleTemplate{raw: s}
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("message %q: a { has no closing }", s)
		}
		var refs []*ruleRef
		for _, alt := range strings.Split(rest[i+1:i+j], "|") {
			ref, err := parseRuleRef(alt)
			if err != nil {
				return nil, fmt.Errorf("message %q: %v", s, err)
			}
			refs = append(refs, ref)
		}
		t.parts = append(t.parts, tmplPart{refs: refs})
		rest = rest[i+j+1:]
	}
	return t, nil
}

func (t *ruleTemplate) render(ctx *ruleCtx) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.refs == nil {
			b.WriteString(p.lit)
			continue
		}
		text := "?"
		for _, ref := range p.refs {
			if text = ref.text(ctx); text != "?" {
				break
			}
		}
		b.WriteString(text)
	}
	return b.String()
}
