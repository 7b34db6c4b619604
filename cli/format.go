package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/txn"
)

// WriteLog writes txs as a table for the terminal, one line per transaction, oldest first
// whatever the order of txs. Times are shown in loc; if loc is nil, time.Local is used. The
// table is logcmd's, which mtguard-log prints too.
func WriteLog(w io.Writer, txs []txn.Transaction, loc *time.Location) error {
	return logcmd.WriteLog(w, txs, loc)
}

// WriteTransaction writes one call in full, the way a marketing-ops engineer reads it: what
// mtguard made of it, what the tool sent, where it went, and what the vendor answered, or,
// for a call mtguard answered itself (rejected, throttled, unreachable, timed out), that it was
// not forwarded or got no answer, and mtguard's own answer. Times are shown in loc; if loc is
// nil, time.Local is used.
func WriteTransaction(w io.Writer, tx txn.Transaction, loc *time.Location) error {
	if loc == nil {
		loc = time.Local
	}
	h := inspect.HandlingOf(tx)
	var b bytes.Buffer

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s\t%s\n", name, txn.Clean(value, false))
		}
	}
	field("id", tx.ID)
	field("time", tx.Time.In(loc).Format("2006-01-02 15:04:05.000 MST"))
	field("route", tx.Route)
	field("outcome", string(tx.Outcome))
	switch {
	case h.AnsweredBy == inspect.AnsweredByMtguard && !h.Forwarded:
		field("status", statusLine(tx.Status)+" (answered by mtguard; nothing was sent to the vendor)")
	case h.AnsweredBy == inspect.AnsweredByMtguard:
		field("status", statusLine(tx.Status)+" (answered by mtguard; the vendor did not answer)")
	case tx.Status == 0 && !h.Forwarded:
		field("status", "- (not sent to the vendor, and nobody was answered)")
	case tx.Status == 0:
		field("status", "- (no answer from the vendor)")
	default:
		field("status", statusLine(tx.Status))
	}
	field("duration", duration(tx.Result))
	field("upstream url", tx.UpstreamURL)
	field("record keys", strings.Join(tx.RecordKeys, ", "))
	field("from", tx.RemoteAddr)
	field("caller", tx.Caller)
	field("replay of", tx.ReplayOf)
	if tx.Attempt > 0 {
		field("attempt", strconv.Itoa(tx.Attempt))
	}
	field("replayed by", strings.Join(tx.ReplayedBy, ", "))
	if tx.Kind == txn.KindProbe {
		field("read-back of", tx.Verifies+" (a probe mtguard sent to check that call's records landed)")
	}
	field("error", tx.Error)
	tw.Flush()

	b.WriteString("\nFindings\n")
	if len(tx.Findings) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, f := range tx.Findings {
		sev := ""
		if f.Severity != "" {
			sev = " [" + txn.Clean(string(f.Severity), false) + "]"
		}
		fmt.Fprintf(&b, "  %s%s", txn.Clean(f.Code, false), sev)
		if f.Message != "" {
			b.WriteString(": " + txn.Clean(f.Message, false))
		}
		b.WriteString("\n")
		if f.Detail != "" {
			b.WriteString(indent(txn.Clean(f.Detail, true), "      "))
		}
		if spec, ok := txn.Lookup(f.Code); ok && spec.Action != "" {
			b.WriteString(indent("what to do: "+spec.Action, "      "))
		}
	}
	if tx.Outcome == txn.OutcomeFailed || tx.Outcome == txn.OutcomePartial || tx.Outcome == txn.OutcomeRejected ||
		tx.Outcome == txn.OutcomeUnreachable || tx.Outcome == txn.OutcomeTimeout || tx.Outcome == txn.OutcomeThrottled {
		fmt.Fprintf(&b, "\n  resend it: mtguard replay %s   (see it as curl: mtguard show %s --curl)\n", tx.ID, tx.ID)
	}

	if len(tx.Records) > 0 {
		b.WriteString("\nRecords in the batch\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, r := range tx.Records {
			fate := "ok"
			if !r.OK {
				fate = "failed"
				if r.Reason != "" {
					fate += ": " + r.Reason
				}
			}
			fmt.Fprintf(tw, "  #%d\t%s\t%s\n", r.Index, logcmd.OrDash(txn.Clean(r.Key, false)), txn.Clean(fate, false))
		}
		tw.Flush()
	}

	b.WriteString("\nRequest (as sent by the tool)\n")
	fmt.Fprintf(&b, "  %s %s\n", txn.Clean(tx.Method, false), txn.Clean(tx.Path, false))
	writeMessage(&b, tx.Request)

	switch {
	case !h.Forwarded:
		fmt.Fprintf(&b, "\nNot forwarded: %s\n", txn.Clean(h.Why, false))
		if tx.UpstreamURL != "" {
			fmt.Fprintf(&b, "  it would have gone to %s\n", txn.Clean(tx.UpstreamURL, false))
		}
	case tx.Outcome == txn.OutcomeUnreachable || tx.Outcome == txn.OutcomeTimeout:
		fmt.Fprintf(&b, "\nSent, but no answer: %s\n", txn.Clean(h.Why, false))
		if tx.UpstreamURL != "" {
			fmt.Fprintf(&b, "  sent to %s\n", txn.Clean(tx.UpstreamURL, false))
		}
	default:
		b.WriteString("\nForwarded to\n")
		if tx.UpstreamURL == "" {
			b.WriteString("  (not forwarded)\n")
		} else {
			fmt.Fprintf(&b, "  %s\n", txn.Clean(tx.UpstreamURL, false))
		}
	}

	reason := tx.Error
	if reason == "" {
		reason = "outcome " + string(tx.Outcome)
	}
	switch {
	case h.AnsweredBy == inspect.AnsweredByMtguard:
		b.WriteString("\nAnswered by mtguard, not the vendor\n")
		fmt.Fprintf(&b, "  %s\n", statusLine(tx.Status))
		writeMessage(&b, tx.Response)
	case h.AnsweredBy == inspect.AnsweredByNobody || tx.Status == 0:
		b.WriteString("\nResponse\n")
		fmt.Fprintf(&b, "  (none: %s)\n", txn.Clean(reason, false))
	default:
		b.WriteString("\nResponse (as answered by the vendor)\n")
		fmt.Fprintf(&b, "  %s\n", statusLine(tx.Status))
		writeMessage(&b, tx.Response)
	}

	_, err := w.Write(b.Bytes())
	return err
}

// writeMessage writes the headers, sorted, then a blank line and the body.
func writeMessage(b *bytes.Buffer, m txn.Message) {
	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	if m.ContentType != "" && m.Headers.Get("Content-Type") == "" {
		fmt.Fprintf(b, "  Content-Type: %s\n", txn.Clean(m.ContentType, false))
	}
	for _, name := range names {
		for _, v := range m.Headers[name] {
			fmt.Fprintf(b, "  %s: %s\n", txn.Clean(name, false), txn.Clean(v, false))
		}
	}
	b.WriteString("\n")
	b.WriteString(indent(body(m), "  "))
	if m.Truncated && m.BodyEncoding != "base64" {
		fmt.Fprintf(b, "  (truncated: %d of %d bytes kept)\n", len(m.Body), m.Size)
	}
}

// body renders a captured body for reading: JSON pretty-printed, a form one field per line,
// anything else as text; binary bodies are not printed.
func body(m txn.Message) string {
	switch {
	case m.BodyEncoding == "base64":
		return fmt.Sprintf("(binary body, %d bytes)", m.Size)
	case m.Body == "" && m.Size > 0:
		return fmt.Sprintf("(body not captured, %d bytes)", m.Size)
	case m.Body == "":
		return "(no body)"
	}
	// Vendors often answer JSON under text/plain or text/html, so the body decides, not the
	// media type. A truncated document is not valid JSON and is shown as it is.
	if trimmed := strings.TrimSpace(m.Body); strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[") {
		var out bytes.Buffer
		if json.Indent(&out, []byte(trimmed), "", "  ") == nil {
			return txn.Clean(out.String(), true)
		}
	}
	if mt, _, _ := mime.ParseMediaType(m.ContentType); mt == "application/x-www-form-urlencoded" {
		if form, ok := formLines(m.Body); ok {
			return form
		}
	}
	return txn.Clean(m.Body, true)
}

// formLines writes a urlencoded body one "name = value" per line, in the order sent.
func formLines(s string) (string, bool) {
	var b strings.Builder
	for pair := range strings.SplitSeq(s, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(name)
		value, err2 := url.QueryUnescape(value)
		if err1 != nil || err2 != nil {
			return "", false
		}
		fmt.Fprintf(&b, "%s = %s\n", txn.Clean(name, false), txn.Clean(value, false))
	}
	return b.String(), true
}

// duration says how long the call took and where the time went.
func duration(r txn.Result) string {
	if r.DurationMS == 0 {
		return ""
	}
	s := logcmd.Millis(r.DurationMS) + " ms"
	var parts []string
	if r.WaitMS > 0 {
		parts = append(parts, logcmd.Millis(r.WaitMS)+" ms waiting for the rate limit")
	}
	if r.RecordMS > 0 {
		// Sub-millisecond on a healthy disk: whole milliseconds would say 0.
		parts = append(parts, strconv.FormatFloat(r.RecordMS, 'f', 1, 64)+" ms recording it durably")
	}
	if r.UpstreamMS > 0 {
		parts = append(parts, logcmd.Millis(r.UpstreamMS)+" ms at the vendor")
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// statusLine is "404 Not Found", or the bare code when it has no standard name.
func statusLine(code int) string {
	if text := http.StatusText(code); text != "" {
		return strconv.Itoa(code) + " " + text
	}
	return strconv.Itoa(code)
}

// indent puts prefix before every non-empty line of s and ends it with a newline.
func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		if line != "" {
			b.WriteString(prefix)
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String()
}
