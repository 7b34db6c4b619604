package vendors

import (
	"fmt"
	"net/http"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/yamlstrict"
)

// DrillAnswer is an answer the vendor gives when it fails in a way a drill can play back
// (mtguard drill --fault expire-auth or discard): the status, headers and body, as the vendor
// documents them. The preset's own rules must recognise it (the root TestDrillsEndToEnd plays
// the marketo and generic ones through the real server).
type DrillAnswer struct {
	Status  int
	Headers http.Header
	Body    string
}

// The drill faults a preset can give answers for.
const (
	DrillExpireAuth = "expire-auth" // the answer to a call whose token expired
	DrillDiscard    = "discard"     // a 2xx answer to a call the vendor did not carry out
)

var drillAnswerKeys = []string{"status", "headers", "body"}

// drillAnswers reads a preset's drill_answers: {expire-auth: {status, headers, body}, discard: ...}.
func (r *yreader) drillAnswers(n *yaml.Node, key string) map[string]DrillAnswer {
	if !yamlstrict.Present(yamlstrict.Deref(n)) {
		return nil
	}
	m, ok := r.Mapping(n, key, DrillExpireAuth, DrillDiscard)
	if !ok {
		return nil
	}
	out := map[string]DrillAnswer{}
	for _, name := range []string{DrillExpireAuth, DrillDiscard} {
		an := m.Get(name)
		if !yamlstrict.Present(yamlstrict.Deref(an)) {
			continue
		}
		ak := key + "." + name
		am, ok := r.Mapping(an, ak, drillAnswerKeys...)
		if !ok {
			continue
		}
		a := DrillAnswer{Headers: http.Header{}}
		if st, ok := r.Int(am.Get("status"), ak+".status"); ok && st >= 100 && st <= 599 {
			a.Status = st
		} else {
			r.AddfAt(an, ak+".status", "status is required: the HTTP status the vendor answers with, 100 to 599")
			continue
		}
		if hn := am.Get("headers"); yamlstrict.Present(yamlstrict.Deref(hn)) {
			hm, _ := r.AnyMapping(hn, ak+".headers")
			for _, f := range hm.Fields() {
				if v, ok := r.Str(f.Val, fmt.Sprintf("%s.headers.%s", ak, f.Name)); ok {
					a.Headers.Set(f.Name, v)
				}
			}
		}
		a.Body, _ = r.Str(am.Get("body"), ak+".body")
		out[name] = a
	}
	return out
}
