package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// problem is an RFC 9457 problem detail that mtguard answers in the vendor's place.
type problem struct {
	Type     string   `json:"type"`
	Title    string   `json:"title"`
	Status   int      `json:"status"`
	Detail   string   `json:"detail"`
	Instance string   `json:"instance,omitempty"` // the transaction id
	Routes   []string `json:"routes,omitempty"`   // the configured prefixes, for an unknown path
	Errors   []string `json:"errors,omitempty"`   // every violation, when a check found several
}

// problemDocs is where each problem type is explained.
const problemDocs = "https://github.com/mtguard/mtguard#"

func (p problem) body() []byte {
	b, _ := json.Marshal(p) // a struct of strings and ints always encodes
	return b
}

// response builds the answer to req that mtguard gives instead of the vendor's.
func (p problem) response(req *http.Request) *http.Response {
	b := p.body()
	h := http.Header{}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if p.Instance != "" {
		h.Set(HeaderID, p.Instance)
	}
	return &http.Response{
		Status:        strconv.Itoa(p.Status) + " " + http.StatusText(p.Status),
		StatusCode:    p.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       req,
	}
}
