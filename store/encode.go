package store

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// Every call is encoded twice (its request side before it is forwarded, its result after),
// and encoding/json's reflection was the largest CPU cost mtguard itself added to a call. The
// appenders below write exactly the bytes json.Marshal writes for Call and Result (same field
// order, omitempty rules, HTML-safe string escaping, float and time formats), so stored
// records, the journal and the API are unchanged; TestEncodeMatchesJSON and
// FuzzEncodeMatchesJSON hold them to that. Values json.Marshal would refuse or format
// through another path (a NaN duration, a year past 9999) go to json.Marshal itself.

// marshalCall encodes c as json.Marshal(c) would.
func marshalCall(c *txn.Call) ([]byte, error) {
	if !encodableTime(c.Time) {
		return json.Marshal(c)
	}
	b := make([]byte, 0, 256+len(c.ID)+len(c.Route)+len(c.Front)+len(c.Method)+len(c.Path)+
		len(c.UpstreamURL)+len(c.RemoteAddr)+len(c.Caller)+len(c.ReplayOf)+len(c.Actor)+len(c.Drill)+len(c.Kind)+len(c.Verifies)+stringsLen(c.RecordKeys)+messageLen(&c.Request))
	b = append(b, `{"id":`...)
	b = txn.AppendJSONString(b, c.ID)
	b = append(b, `,"time":"`...)
	b = c.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","route":`...)
	b = txn.AppendJSONString(b, c.Route)
	b = appendOptString(b, `,"front":`, c.Front)
	b = append(b, `,"method":`...)
	b = txn.AppendJSONString(b, c.Method)
	b = append(b, `,"path":`...)
	b = txn.AppendJSONString(b, c.Path)
	b = appendOptString(b, `,"upstream_url":`, c.UpstreamURL)
	b = appendOptString(b, `,"remote_addr":`, c.RemoteAddr)
	b = appendOptString(b, `,"caller":`, c.Caller)
	b = append(b, `,"record_keys":`...)
	b = appendStrings(b, c.RecordKeys)
	b = append(b, `,"request":`...)
	b = appendMessage(b, &c.Request)
	b = appendOptString(b, `,"replay_of":`, c.ReplayOf)
	if c.Attempt != 0 {
		b = append(b, `,"attempt":`...)
		b = strconv.AppendInt(b, int64(c.Attempt), 10)
	}
	b = appendOptString(b, `,"actor":`, c.Actor)
	b = appendOptString(b, `,"drill":`, c.Drill)
	b = appendOptString(b, `,"kind":`, c.Kind)
	b = appendOptString(b, `,"verifies":`, c.Verifies)
	return append(b, '}'), nil
}

// marshalResult encodes r as json.Marshal(r) would.
func marshalResult(r *txn.Result) ([]byte, error) {
	if !finite(r.DurationMS) || !finite(r.WaitMS) || !finite(r.UpstreamMS) || !finite(r.RecordMS) {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode result: %w", err)
		}
		return b, nil
	}
	size := 192 + len(r.Outcome) + len(r.Error) + stringsLen(r.ReplayedBy) + messageLen(&r.Response)
	for _, f := range r.Findings {
		size += 96 + len(f.Code) + len(f.Severity) + len(f.Message) + len(f.Detail) + len(f.Replacement)
	}
	for _, rr := range r.Records {
		size += 48 + len(rr.Key) + len(rr.Reason)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"outcome":`...)
	b = txn.AppendJSONString(b, string(r.Outcome))
	b = append(b, `,"duration_ms":`...)
	b = appendJSONFloat(b, r.DurationMS)
	if r.WaitMS != 0 {
		b = append(b, `,"wait_ms":`...)
		b = appendJSONFloat(b, r.WaitMS)
	}
	if r.UpstreamMS != 0 {
		b = append(b, `,"upstream_ms":`...)
		b = appendJSONFloat(b, r.UpstreamMS)
	}
	if r.RecordMS != 0 {
		b = append(b, `,"record_ms":`...)
		b = appendJSONFloat(b, r.RecordMS)
	}
	b = append(b, `,"findings":`...)
	if r.Findings == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Findings {
			if i > 0 {
				b = append(b, ',')
			}
			f := &r.Findings[i]
			b = append(b, `{"code":`...)
			b = txn.AppendJSONString(b, f.Code)
			b = appendOptString(b, `,"severity":`, string(f.Severity))
			b = append(b, `,"message":`...)
			b = txn.AppendJSONString(b, f.Message)
			b = appendOptString(b, `,"detail":`, f.Detail)
			if f.Sunset != nil {
				b = append(b, `,"sunset":"`...)
				b = f.Sunset.AppendFormat(b, time.RFC3339Nano)
				b = append(b, '"')
			}
			b = appendOptString(b, `,"replacement":`, f.Replacement)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Records) > 0 {
		b = append(b, `,"records":[`...)
		for i := range r.Records {
			if i > 0 {
				b = append(b, ',')
			}
			rr := &r.Records[i]
			b = append(b, `{"index":`...)
			b = strconv.AppendInt(b, int64(rr.Index), 10)
			b = appendOptString(b, `,"key":`, rr.Key)
			b = append(b, `,"ok":`...)
			b = strconv.AppendBool(b, rr.OK)
			b = appendOptString(b, `,"reason":`, rr.Reason)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"response":`...)
	b = appendMessage(b, &r.Response)
	if len(r.ReplayedBy) > 0 {
		b = append(b, `,"replayed_by":`...)
		b = appendStrings(b, r.ReplayedBy)
	}
	b = appendOptString(b, `,"error":`, r.Error)
	return append(b, '}'), nil
}

func appendMessage(b []byte, m *txn.Message) []byte {
	b = append(b, '{')
	if len(m.Headers) > 0 {
		b = append(b, `"headers":`...)
		b = appendHeader(b, m.Headers)
		b = append(b, ',')
	}
	if len(m.Trailers) > 0 {
		b = append(b, `"trailers":`...)
		b = appendHeader(b, m.Trailers)
		b = append(b, ',')
	}
	b = appendOptField(b, `"content_type":`, m.ContentType)
	b = appendOptField(b, `"body":`, m.Body)
	b = appendOptField(b, `"body_encoding":`, m.BodyEncoding)
	b = appendOptField(b, `"decoded":`, m.Decoded)
	b = append(b, `"size":`...)
	b = strconv.AppendInt(b, m.Size, 10)
	if m.SizeAtLeast {
		b = append(b, `,"size_at_least":true`...)
	}
	if m.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	if m.Incomplete {
		b = append(b, `,"incomplete":true`...)
	}
	return append(b, '}')
}

// appendHeader appends h as a JSON object with sorted keys, as json.Marshal writes a map.
func appendHeader(b []byte, h map[string][]string) []byte {
	b = append(b, '{')
	var arr [24]string
	keys := arr[:0]
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = txn.AppendJSONString(b, k)
		b = append(b, ':')
		b = appendStrings(b, h[k])
	}
	return append(b, '}')
}

// messageLen is about the encoded size of m, escapes aside: enough that the buffer
// rarely grows while the call is encoded.
func messageLen(m *txn.Message) int {
	n := 96 + len(m.ContentType) + len(m.Body) + len(m.Body)/16 + len(m.BodyEncoding) + len(m.Decoded)
	for k, vs := range m.Headers {
		n += len(k) + 6 + stringsLen(vs)
	}
	for k, vs := range m.Trailers {
		n += len(k) + 6 + stringsLen(vs)
	}
	return n
}

// stringsLen is the encoded size of ss as a JSON array of plain strings.
func stringsLen(ss []string) int {
	n := 2
	for _, s := range ss {
		n += len(s) + 3
	}
	return n
}

// appendOptString appends key (which starts with its comma) and s unless s is empty.
func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return txn.AppendJSONString(append(b, key...), s)
}

// appendOptField appends key, s and a comma unless s is empty: for fields that are never last.
func appendOptField(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return append(txn.AppendJSONString(append(b, key...), s), ',')
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = txn.AppendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONFloat formats f as encoding/json does: shortest representation, exponent form
// only for very small or very large magnitudes, and no leading zero in a negative exponent.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// encodableTime reports whether time.Time.MarshalJSON would write t as plain RFC 3339.
func encodableTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	// MarshalJSON refuses zone offsets of 24 hours or more.
	return off > -24*3600 && off < 24*3600
}
