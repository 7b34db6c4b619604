package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
)

// decodeContent undoes the Content-Encoding enc of b (RFC 9110 section 8.4: codings listed in
// the order they were applied), so that a body is stored, scanned for record keys and redacted
// as the text it is. It knows gzip (and x-gzip), deflate (zlib-wrapped as the RFC says, or raw
// as some servers send it) and br. decoded names the codings removed; ok is false when there
// is nothing to undo, a coding is unknown (the body is then stored as it came), the bytes are
// not what they claim, or they inflate beyond limit (a decompression bomb).
func decodeContent(enc string, b []byte, limit int64) (plain []byte, decoded string, ok bool) {
	var codings []string
	for _, c := range strings.Split(enc, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if c != "" && c != "identity" {
			codings = append(codings, c)
		}
	}
	if len(codings) == 0 || len(b) == 0 {
		return nil, "", false
	}
	plain = b
	for i := len(codings) - 1; i >= 0; i-- {
		if plain, ok = decodeOne(codings[i], plain, limit); !ok {
			return nil, "", false
		}
	}
	return plain, strings.Join(codings, ", "), true
}

func decodeOne(coding string, b []byte, limit int64) ([]byte, bool) {
	switch coding {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, false
		}
		return readLimited(zr, limit)
	case "deflate":
		if zr, err := zlib.NewReader(bytes.NewReader(b)); err == nil {
			if plain, ok := readLimited(zr, limit); ok {
				return plain, true
			}
		}
		return readLimited(flate.NewReader(bytes.NewReader(b)), limit)
	case "br":
		return readLimited(brotli.NewReader(bytes.NewReader(b)), limit)
	}
	return nil, false
}

// readLimited reads r to its end; ok is false when that fails or passes limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, bool) {
	plain, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil || int64(len(plain)) > limit {
		return nil, false
	}
	return plain, true
}
