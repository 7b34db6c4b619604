package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/txn"
)

// maxPretty bounds the text of one body on a page: beyond it the page says so and the HAR
// download has it whole.
const maxPretty = 64 << 10

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"neg":  func(n int) int { return -n },
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"ms": func(f float64) string {
		if f >= 1000 {
			return fmt.Sprintf("%.1f s", f/1000)
		}
		return fmt.Sprintf("%.0f ms", f)
	},
	"pct":    func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"pretty": func(b string) string { return prettyBody(b) },
	"statusClass": func(code int) string {
		if code == 0 {
			return "none"
		}
		return fmt.Sprintf("s%dxx", code/100)
	},
	"outcomeClass": func(o txn.Outcome) string {
		switch o {
		case txn.OutcomeDelivered:
			return "ok"
		case txn.OutcomePending:
			return "pending"
		}
		return "bad"
	},
	"findingCodes": func(fs []txn.Finding) string {
		codes := make([]string, 0, len(fs))
		for _, f := range fs {
			if !slices.Contains(codes, f.Code) {
				codes = append(codes, f.Code)
			}
		}
		return strings.Join(codes, ", ")
	},
	"host": func(raw string) string { // the vendor a call was sent to
		if u, err := url.Parse(raw); err == nil {
			return u.Host
		}
		return ""
	},
	// handling says whether the call was sent on and who answered the tool, in the words
	// show and the HAR export use, so no page presents mtguard's answer as the vendor's.
	"handling": inspect.HandlingOf,
	"join":     strings.Join,
	"age":      age,
	"secs":     secs,
	"event":    func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"q":        url.QueryEscape,
	"path":     url.PathEscape,
	"failed": func(tx txn.Transaction) bool {
		return tx.Outcome != txn.OutcomeDelivered && tx.Outcome != txn.OutcomePending
	},
	"headers": func(m map[string][]string) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make([]string, 0, len(keys))
		for _, k := range keys {
			out = append(out, k+": "+strings.Join(m[k], ", "))
		}
		return out
	},
	"with": func(v url.Values, k, val string) string {
		c := url.Values{}
		for kk, vv := range v {
			c[kk] = vv
		}
		c.Set(k, val)
		return c.Encode()
	},
	"snippet": func(s string) string {
		s = strings.Join(strings.Fields(s), " ")
		if len(s) > 160 {
			s = s[:160] + "…"
		}
		return s
	},
}

// prettyBody indents a JSON body and returns any other text as it is, both cut at maxPretty.
// Stored bodies are hostile: the templates escape what this returns.
func prettyBody(b string) string {
	out := b
	if t := strings.TrimSpace(b); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		var buf bytes.Buffer
		if json.Indent(&buf, []byte(t), "", "  ") == nil {
			out = buf.String()
		}
	}
	if len(out) > maxPretty {
		out = out[:maxPretty] + "\n… (cut here on this page: download the HAR for the whole body)"
	}
	return out
}

// diffLine is one line of a line diff: ' ' kept, '-' removed, '+' added.
type diffLine struct {
	Op   byte
	Text string
}

// Sign is the line's mark as text.
func (d diffLine) Sign() string { return string(d.Op) }

// maxDiffLines bounds the LCS table; longer bodies are compared as removed and added whole.
const maxDiffLines = 2000

// diffLines is a line diff of a and b (longest common subsequence).
func diffLines(a, b string) []diffLine {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(x) > maxDiffLines || len(y) > maxDiffLines {
		var out []diffLine
		for _, l := range x {
			out = append(out, diffLine{'-', l})
		}
		for _, l := range y {
			out = append(out, diffLine{'+', l})
		}
		return out
	}
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{' ', x[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{'-', x[i]})
			i++
		default:
			out = append(out, diffLine{'+', y[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{'-', x[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{'+', y[j]})
	}
	return out
}

// chart is a server-side SVG sparkline: 24 hourly points, oldest first.
type chart struct {
	Points string // the polyline's points
	Label  string // what it shows, for screen readers
	Max    string
	Empty  bool
}

const chartW, chartH = 240.0, 40.0

// hourlyCharts buckets calls into the 24 hours before now: the error rate (calls not
// delivered) and the p95 of the vendor's latency of each hour.
func hourlyCharts(txs []txn.Transaction, now time.Time) (errs, lat chart) {
	var calls, bad [24]int
	var lats [24][]float64
	for _, tx := range txs {
		h := int(now.Sub(tx.Time) / time.Hour)
		if h < 0 || h > 23 || tx.Outcome == txn.OutcomePending {
			continue
		}
		i := 23 - h
		calls[i]++
		if tx.Outcome != txn.OutcomeDelivered {
			bad[i]++
		}
		if tx.UpstreamMS > 0 {
			lats[i] = append(lats[i], tx.UpstreamMS)
		}
	}
	var rate, p95 [24]float64
	var any bool
	for i := range 24 {
		if calls[i] > 0 {
			rate[i] = float64(bad[i]) / float64(calls[i])
			any = true
		}
		if l := lats[i]; len(l) > 0 {
			slices.Sort(l)
			p95[i] = l[int(math.Ceil(0.95*float64(len(l))))-1]
		}
	}
	errs = line(rate[:], 1, "error rate per hour over 24 hours")
	errs.Max = "100%"
	top := slices.Max(p95[:])
	lat = line(p95[:], top, "vendor latency p95 per hour over 24 hours")
	lat.Max = fmt.Sprintf("%.0f ms", top)
	errs.Empty, lat.Empty = !any, !any
	return errs, lat
}

func line(v []float64, top float64, label string) chart {
	if top <= 0 {
		top = 1
	}
	var b strings.Builder
	for i, f := range v {
		x := float64(i) * chartW / float64(len(v)-1)
		y := chartH - 2 - (f/top)*(chartH-4)
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
	}
	return chart{Points: strings.TrimSpace(b.String()), Label: label}
}

// chartSVG draws the error-rate and latency charts one above the other, each with its caption,
// and the number of calls they were drawn from. It holds numbers and fixed words only.
func chartSVG(errs, lat chart, calls int, partial bool) []byte {
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 240 124" width="240" height="124" font-family="sans-serif" font-size="10" fill="#444">`)
	if errs.Empty {
		b.WriteString(`<text x="0" y="14">no calls in the last 24 hours</text></svg>`)
		return []byte(b.String())
	}
	fmt.Fprintf(&b, `<text x="0" y="10">error rate per hour, 24 h (max %s)</text>`, errs.Max)
	fmt.Fprintf(&b, `<polyline transform="translate(0,14)" fill="none" stroke="#a4161a" stroke-width="2" points="%s"/>`, errs.Points)
	fmt.Fprintf(&b, `<text x="0" y="68">vendor p95 per hour, 24 h (max %s)</text>`, lat.Max)
	fmt.Fprintf(&b, `<polyline transform="translate(0,72)" fill="none" stroke="#1f3a68" stroke-width="2" points="%s"/>`, lat.Points)
	from := fmt.Sprintf("from %d calls", calls)
	if partial {
		from += " (the latest of the day)"
	}
	fmt.Fprintf(&b, `<text x="0" y="122">%s</text></svg>`, from)
	return []byte(b.String())
}
