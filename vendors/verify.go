package vendors

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/yamlstrict"
)

// Verify is a preset's read API for one record, for a route's verify: block: the request
// (path and query on the vendor's base URL, with {key} placeholders naming record keys) and
// what a record that landed looks like in the answer.
type Verify struct {
	Method, Path string
	Status       int
	// Body maps answer fields (properties.email, records[].Email) to the value expected.
	Body map[string]string
}

// verifyPreset reads a preset's verify: block; nil when absent.
func (r *yreader) verifyPreset(n *yaml.Node, key string) *Verify {
	if !yamlstrict.Given(n) {
		return nil
	}
	m, ok := r.Mapping(n, key, "request", "expect")
	if !ok {
		return nil
	}
	v := &Verify{Method: "GET", Status: 200, Body: map[string]string{}}
	rq, _ := r.Mapping(m.Get("request"), key+".request", "method", "path")
	if s, ok := r.OneOf(rq.Get("method"), key+".request.method", "GET", "POST"); ok {
		v.Method = s
	}
	if s, ok := r.Str(rq.Get("path"), key+".request.path"); ok && strings.HasPrefix(s, "/") && strings.Contains(s, "{") {
		v.Path = s
	} else {
		r.AddfAt(yamlstrict.Deref(n), key+".request.path", "a path starting with / with the record key in it ({email}) is required")
	}
	ex, _ := r.Mapping(m.Get("expect"), key+".expect", "status", "body")
	if s, ok := r.Int(ex.Get("status"), key+".expect.status"); ok {
		v.Status = s
	}
	if bm, ok := r.AnyMapping(ex.Get("body"), key+".expect.body"); ok {
		for _, f := range bm.Fields() {
			if s, ok := r.Str(f.Val, key+".expect.body."+f.Name); ok {
				v.Body[f.Name] = s
			}
		}
	}
	return v
}
