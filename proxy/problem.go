package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/mtguard/mtguard/txn"
)

// problemBody encodes p.
func problemBody(p txn.Problem) []byte {
	b, _ := json.Marshal(p) // a struct of strings and ints always encodes
	return b
}

// problemResponse builds the answer to req that mtguard gives instead of the vendor's.
func problemResponse(req *http.Request, p txn.Problem) *http.Response {
	b := problemBody(p)
	h := http.Header{}
	h.Set("Content-Type", txn.ProblemContentType)
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
