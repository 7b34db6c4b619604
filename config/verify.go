package config

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/vendors"
	"github.com/mtguard/mtguard/yamlstrict"
)

// Verify is a route's verify: block: after a call is delivered, read its records back from the
// vendor and compare (for vendors that answer 2xx to everything).
type Verify struct {
	// After is how long after the delivery the record is read back. Default DefaultVerifyAfter.
	After time.Duration
	// Method is the read-back's method (GET unless set); Path its path and query on the
	// route's upstream, with {key} placeholders naming the route's record keys.
	Method, Path string
	// Status is the status expected (200 unless set).
	Status int
	// Body maps fields of the answer (properties.email, records[].Email) to the value expected,
	// with the same placeholders.
	Body map[string]string
	// Sample is the share of delivered calls read back, 0 to 1. Default DefaultVerifySample.
	Sample float64
	Line   int
}

// Defaults of a verify: block.
const (
	DefaultVerifyAfter  = 2 * time.Minute
	DefaultVerifySample = 0.1
)

// placeholderRE finds {key} placeholders in a verify template.
var placeholderRE = regexp.MustCompile(`\{([^{}]*)\}`)

// Placeholders lists the record keys a verify template names.
func Placeholders(tmpl string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(tmpl, -1) {
		out = append(out, m[1])
	}
	return out
}

// verify reads a route's verify: block; nil when absent. recordKeys are the route's.
// A preset's verify block gives the request and expect the route leaves out.
func (p *configParser) verify(n *yaml.Node, key string, recordKeys []string, preset *vendors.Preset) *Verify {
	if !yamlstrict.Given(n) {
		return nil
	}
	f, ok := p.Mapping(n, key, "after", "request", "expect", "sample")
	if !ok {
		return nil
	}
	v := &Verify{After: DefaultVerifyAfter, Method: "GET", Status: 200, Sample: DefaultVerifySample, Line: yamlstrict.Deref(n).Line}
	var pv *vendors.Verify
	if preset != nil && preset.Verify != nil {
		pv = preset.Verify
		if !yamlstrict.Given(f.Get("request")) {
			v.Method, v.Path = pv.Method, pv.Path
			for _, name := range Placeholders(pv.Path) {
				if !slices.ContainsFunc(recordKeys, func(rk string) bool { return KeyMatches(rk, name) }) {
					p.AddfAt(yamlstrict.Deref(n), key, "preset %s reads records back by {%s}, which names no record key of the route (its record_keys: [%s]); add one, or give verify a request of its own", preset.Name, name, strings.Join(recordKeys, ", "))
				}
			}
		}
		if !yamlstrict.Given(f.Get("expect")) {
			v.Status, v.Body = pv.Status, pv.Body
		}
	}
	if d, ok := p.Duration(f.Get("after"), key+".after"); ok {
		v.After = d
	}
	checkTmpl := func(tmpl string, line int, k string) {
		for _, name := range Placeholders(tmpl) {
			if !slices.ContainsFunc(recordKeys, func(rk string) bool { return KeyMatches(rk, name) }) {
				p.Addf(line, k, "{%s} names no record key of the route (its record_keys: [%s]); name one of them, e.g. {email} for properties.email", name, strings.Join(recordKeys, ", "))
			}
		}
	}
	rq, _ := p.Mapping(f.Get("request"), key+".request", "method", "path")
	if s, ok := p.OneOf(rq.Get("method"), key+".request.method", "GET", "POST"); ok {
		v.Method = s
	}
	if s, ok := p.Str(rq.Get("path"), key+".request.path"); ok {
		line := rq.Get("path").Line
		switch {
		case !strings.HasPrefix(s, "/"):
			p.Addf(line, key+".request.path", "%q must start with / (a path on the route's upstream, e.g. /crm/v3/objects/contacts/{email}?idProperty=email)", s)
		case len(Placeholders(s)) == 0:
			p.Addf(line, key+".request.path", "%q names no record key; put the record's key in it, e.g. /contacts/{email}", s)
		default:
			checkTmpl(s, line, key+".request.path")
		}
		v.Path = s
	} else if !yamlstrict.Given(rq.Get("path")) && v.Path == "" {
		p.AddfAt(yamlstrict.Deref(n), key, "request.path is required (the route's preset ships none): the vendor's read API for one record, with the record key in it, e.g. /crm/v3/objects/contacts/{email}?idProperty=email")
	}
	ex, _ := p.Mapping(f.Get("expect"), key+".expect", "status", "body")
	if s, ok := p.Int(ex.Get("status"), key+".expect.status"); ok {
		if s < 100 || s > 599 {
			p.Addf(ex.Get("status").Line, key+".expect.status", "%d is not an HTTP status", s)
		} else {
			v.Status = s
		}
	}
	if bm, ok := p.AnyMapping(ex.Get("body"), key+".expect.body"); ok && yamlstrict.Given(ex.Get("body")) {
		v.Body = map[string]string{}
		for _, fl := range bm.Fields() {
			bk := key + ".expect.body." + fl.Name
			if s, ok := p.Str(fl.Val, bk); ok {
				checkTmpl(s, fl.Val.Line, bk)
				v.Body[fl.Name] = s
			}
		}
	}
	if s, ok := p.Str(f.Get("sample"), key+".sample"); ok {
		x, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil || x < 0 || x > 100 {
			p.Addf(f.Get("sample").Line, key+".sample", "%q is not a share between 0%% and 100%% (write 10%% to read back one delivered call in ten)", s)
		} else {
			v.Sample = x / 100
		}
	}
	return v
}
