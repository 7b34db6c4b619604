package inspect

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), the subset browser devtools,
// Charles and Fiddler read. Each transaction is one entry: the request as the tool sent it,
// addressed to the vendor, and the answer the tool got, secrets already redacted. When that
// answer is mtguard's own (a rejected, throttled, unreachable or timed-out call), the entry's
// comment says so and its _mtguard field (HAR allows custom fields that start with "_") says
// who answered and whether the call was forwarded.
type (
	HAR struct {
		Log HARLog `json:"log"`
	}
	HARLog struct {
		Version string     `json:"version"`
		Creator HARCreator `json:"creator"`
		Entries []HAREntry `json:"entries"`
	}
	HARCreator struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	HAREntry struct {
		StartedDateTime string      `json:"startedDateTime"`
		Time            float64     `json:"time"`
		Request         HARRequest  `json:"request"`
		Response        HARResponse `json:"response"`
		Cache           struct{}    `json:"cache"`
		Timings         HARTimings  `json:"timings"`
		Comment         string      `json:"comment,omitempty"`
		Mtguard         *HARMtguard `json:"_mtguard,omitempty"`
	}
	// HARMtguard is mtguard's account of an entry: which call it is, who answered the tool,
	// and the timings as recorded (in milliseconds).
	HARMtguard struct {
		ID         string  `json:"id"`
		Outcome    string  `json:"outcome"`
		AnsweredBy string  `json:"answered_by"` // vendor, mtguard or nobody
		Forwarded  bool    `json:"forwarded"`   // mtguard sent the call on to the vendor
		Finding    string  `json:"finding,omitempty"`
		Error      string  `json:"error,omitempty"`
		WaitMS     float64 `json:"wait_ms,omitempty"`
		RecordMS   float64 `json:"record_ms,omitempty"`
		UpstreamMS float64 `json:"upstream_ms,omitempty"`
	}
	HARRequest struct {
		Method      string       `json:"method"`
		URL         string       `json:"url"`
		HTTPVersion string       `json:"httpVersion"`
		Cookies     []HARNameVal `json:"cookies"`
		Headers     []HARNameVal `json:"headers"`
		QueryString []HARNameVal `json:"queryString"`
		PostData    *HARPostData `json:"postData,omitempty"`
		HeadersSize int          `json:"headersSize"`
		BodySize    int64        `json:"bodySize"`
	}
	HARResponse struct {
		Status      int          `json:"status"`
		StatusText  string       `json:"statusText"`
		HTTPVersion string       `json:"httpVersion"`
		Cookies     []HARNameVal `json:"cookies"`
		Headers     []HARNameVal `json:"headers"`
		Content     HARContent   `json:"content"`
		RedirectURL string       `json:"redirectURL"`
		HeadersSize int          `json:"headersSize"`
		BodySize    int64        `json:"bodySize"`
	}
	HARNameVal struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	HARPostData struct {
		MimeType string `json:"mimeType"`
		Text     string `json:"text"`
	}
	HARContent struct {
		Size     int64  `json:"size"`
		MimeType string `json:"mimeType"`
		Text     string `json:"text,omitempty"`
		Encoding string `json:"encoding,omitempty"`
	}
	// HARTimings splits an entry's time; their sum is the entry's time. blocked is the time
	// before the call could leave: recording it durably and queueing for the vendor's limits.
	HARTimings struct {
		Blocked float64 `json:"blocked"`
		Send    float64 `json:"send"`
		Wait    float64 `json:"wait"`
		Receive float64 `json:"receive"`
	}
)

// NewHAR builds a HAR log of txs, oldest first.
func NewHAR(txs []txn.Transaction, version string) HAR {
	sorted := append([]txn.Transaction(nil), txs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	h := HAR{Log: HARLog{Version: "1.2", Creator: HARCreator{Name: "mtguard", Version: version}, Entries: []HAREntry{}}}
	for _, tx := range sorted {
		h.Log.Entries = append(h.Log.Entries, harEntry(tx))
	}
	return h
}

func harEntry(tx txn.Transaction) HAREntry {
	target := tx.UpstreamURL
	if target == "" {
		target = tx.Path // refused before a route was chosen: the URL as called
	}
	h := HandlingOf(tx)
	e := HAREntry{
		StartedDateTime: tx.Time.UTC().Format(time.RFC3339Nano),
		Request: HARRequest{
			Method: tx.Method, URL: target, HTTPVersion: "HTTP/1.1",
			Cookies: []HARNameVal{}, Headers: harHeaders(tx.Request.Headers), QueryString: harQuery(target),
			HeadersSize: -1, BodySize: tx.Request.Size,
		},
		Response: HARResponse{
			Status: tx.Status, StatusText: http.StatusText(tx.Status), HTTPVersion: "HTTP/1.1",
			Cookies: []HARNameVal{}, Headers: harHeaders(tx.Response.Headers),
			Content:     HARContent{Size: tx.Response.Size, MimeType: tx.Response.ContentType, Text: tx.Response.Body},
			HeadersSize: -1, BodySize: tx.Response.Size,
		},
		Timings: harTimings(tx, h),
		Comment: "mtguard " + tx.ID + " " + string(tx.Outcome) + ": " + h.Summary(),
		Mtguard: &HARMtguard{
			ID: tx.ID, Outcome: string(tx.Outcome), AnsweredBy: h.AnsweredBy, Forwarded: h.Forwarded, Finding: h.Finding,
			Error: tx.Error, WaitMS: tx.WaitMS, RecordMS: tx.RecordMS, UpstreamMS: tx.UpstreamMS,
		},
	}
	if h.AnsweredBy == AnsweredByMtguard {
		e.Comment += "; the response is mtguard's, not the vendor's"
	}
	e.Time = e.Timings.Blocked + e.Timings.Send + e.Timings.Wait + e.Timings.Receive
	if tx.Response.BodyEncoding == "base64" {
		e.Response.Content.Encoding = "base64"
	}
	if tx.Request.Body != "" {
		text := tx.Request.Body
		if tx.Request.BodyEncoding == "base64" {
			if b, err := base64.StdEncoding.DecodeString(text); err == nil {
				text = string(b)
			}
		}
		e.Request.PostData = &HARPostData{MimeType: tx.Request.ContentType, Text: text}
	}
	return e
}

// harTimings splits the call's duration so that the parts add up to it exactly: blocked for
// recording and queueing, wait for the vendor (or, for a call mtguard answered without
// sending it, for mtguard's own answer), receive for the rest. Parts that, rounded, exceed the
// whole are cut to fit.
func harTimings(tx txn.Transaction, h Handling) HARTimings {
	total := max(0, tx.DurationMS)
	t := HARTimings{Blocked: min(total, max(0, tx.WaitMS)+max(0, tx.RecordMS))}
	if !h.Forwarded {
		t.Wait = total - t.Blocked
		return t
	}
	t.Wait = min(total-t.Blocked, max(0, tx.UpstreamMS))
	t.Receive = total - t.Blocked - t.Wait
	return t
}

func harHeaders(h http.Header) []HARNameVal {
	out := []HARNameVal{}
	for _, k := range sortedKeys(h) {
		for _, v := range h[k] {
			out = append(out, HARNameVal{Name: k, Value: v})
		}
	}
	return out
}

func harQuery(raw string) []HARNameVal {
	out := []HARNameVal{}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			out = append(out, HARNameVal{Name: k, Value: v})
		}
	}
	return out
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Curl returns a curl command equivalent to the call as forwarded. Redacted secrets become
// shell variables named after the header or parameter (${AUTHORIZATION}), so the command can
// be run after exporting them and never carries a secret itself.
//
// Everything else in it came from a caller and is hostile: every byte of it is single-quoted,
// the method too, so that no stored value can make the line do anything but run curl. Only the
// placeholders mtguard itself puts in are left for the shell to expand.
func Curl(tx txn.Transaction) string {
	target := tx.UpstreamURL
	if target == "" {
		target = tx.Path
	}
	var b strings.Builder
	b.WriteString("curl -sS -X " + shellQuote(tx.Method) + " " + curlURL(target).String())
	for _, k := range sortedKeys(tx.Request.Headers) {
		if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Accept-Encoding") || strings.HasPrefix(strings.ToLower(k), "x-mtguard-") {
			continue
		}
		for _, v := range tx.Request.Headers[k] {
			w := shellWord{}.lit(k + ": ")
			if v == txn.Redacted {
				w = w.env(envName(k))
			} else {
				w = w.lit(v)
			}
			b.WriteString(" \\\n  -H " + w.String())
		}
	}
	if tx.Request.Body != "" && tx.Request.BodyEncoding != "base64" {
		b.WriteString(" \\\n  --data-raw " + shellQuote(tx.Request.Body))
	}
	return b.String()
}

// curlURL is the target with each redacted query value replaced by a ${NAME} placeholder.
func curlURL(raw string) shellWord {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return shellWord{}.lit(raw)
	}
	q := u.RawQuery
	u.RawQuery = ""
	w := shellWord{}.lit(u.String() + "?")
	for i, p := range strings.Split(q, "&") {
		if i > 0 {
			w = w.lit("&")
		}
		name, val, _ := strings.Cut(p, "=")
		if v, err := url.QueryUnescape(val); err == nil && v == txn.Redacted {
			w = w.lit(name + "=").env(envName(name))
			continue
		}
		w = w.lit(p)
	}
	return w
}

// shellWord is one shell word built from literal text, which is quoted, and placeholders for
// environment variables, which expand. Only mtguard adds placeholders, with names from envName.
type shellWord struct{ parts []shellPart }

type shellPart struct {
	text string
	env  bool
}

func (w shellWord) lit(s string) shellWord {
	return shellWord{append(slices.Clone(w.parts), shellPart{text: s})}
}

func (w shellWord) env(name string) shellWord {
	return shellWord{append(slices.Clone(w.parts), shellPart{text: name, env: true})}
}

// String writes the word: literal text single-quoted, placeholders as "${NAME}".
func (w shellWord) String() string {
	var b strings.Builder
	for _, p := range w.parts {
		if p.env {
			b.WriteString(`"${` + p.text + `}"`)
			continue
		}
		b.WriteString(shellQuote(p.text))
	}
	if b.Len() == 0 {
		return "''"
	}
	return b.String()
}

// envName turns a header or parameter name into a shell variable name: upper case letters,
// digits and underscores, never starting with a digit.
func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		return "V_" + string(b)
	}
	return string(b)
}

// shellQuote quotes s for a POSIX shell, with no expansion.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
