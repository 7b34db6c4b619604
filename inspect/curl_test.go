package inspect

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"

	"github.com/mtguard/mtguard/txn"
)

// placeholderRE is what a placeholder mtguard puts in a curl line may be named.
var placeholderRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// checkOnlyCurl parses line as a POSIX shell would and fails unless it is one simple command
// running curl whose words hold nothing the shell would act on but mtguard's ${NAME}
// placeholders: no command substitution, no arithmetic, no other expansion, no redirection.
func checkOnlyCurl(t *testing.T, line string) (placeholders []string) {
	t.Helper()
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
	if err != nil {
		t.Fatalf("the curl line does not parse: %v\n%s", err, line)
	}
	if len(f.Stmts) != 1 {
		t.Fatalf("the curl line holds %d commands:\n%s", len(f.Stmts), line)
	}
	st := f.Stmts[0]
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || st.Negated || st.Background || st.Coprocess || len(st.Redirs) > 0 || len(call.Assigns) > 0 {
		t.Fatalf("the curl line is not one simple command:\n%s", line)
	}
	for i, w := range call.Args {
		for _, p := range w.Parts {
			switch p := p.(type) {
			case *syntax.SglQuoted:
			case *syntax.Lit:
				if i == 0 && p.Value != "curl" {
					t.Fatalf("the command is %q, not curl:\n%s", p.Value, line)
				}
			case *syntax.DblQuoted:
				if len(p.Parts) != 1 {
					t.Fatalf("word %d: a double-quoted part that is not one placeholder:\n%s", i, line)
				}
				pe, ok := p.Parts[0].(*syntax.ParamExp)
				if !ok || pe.Short || pe.Exp != nil || pe.Repl != nil || pe.Slice != nil || pe.Index != nil || pe.Excl || pe.Length || pe.Width || !placeholderRE.MatchString(pe.Param.Value) {
					t.Fatalf("word %d: %T is not a plain ${NAME} placeholder:\n%s", i, p.Parts[0], line)
				}
				placeholders = append(placeholders, pe.Param.Value)
			default:
				t.Fatalf("word %d holds a %T, which the shell would act on:\n%s", i, p, line)
			}
		}
	}
	if len(call.Args) == 0 {
		t.Fatalf("empty command:\n%s", line)
	}
	return placeholders
}

// hostileTx is a call whose every stored field a caller chose.
func hostileTx(method, path, name, value, body string) txn.Transaction {
	var tx txn.Transaction
	tx.Method, tx.UpstreamURL = method, "https://api.example.com"+path
	tx.Request.Headers = http.Header{name: {value}, "Authorization": {txn.Redacted}}
	tx.Request.Body = body
	return tx
}

func TestCurlQuotesWhatCallersSent(t *testing.T) {
	tests := []struct {
		name                          string
		method, path, hname, hv, body string
		want                          []string // placeholders, in order
	}{
		{"plain", "POST", "/v1/leads", "Content-Type", "application/json", `{"email":"a@b.c"}`, []string{"AUTHORIZATION"}},
		{"a header that looks like a placeholder", "POST", "/v1", "X-Note", "${A:-$(touch /tmp/PWNED)}", "", []string{"AUTHORIZATION"}},
		{"a backquoted method", "`touch /tmp/PWNED`", "/v1", "X-A", "b", "", []string{"AUTHORIZATION"}},
		{"a method with a newline", "POST\ntouch /tmp/PWNED", "/v1", "X-A", "b", "", []string{"AUTHORIZATION"}},
		{"a query with command substitution", "GET", "/v1?q=$(id)&api_key=" + txn.Redacted, "X-A", "'\"; id; '", "", []string{"API_KEY", "AUTHORIZATION"}},
		{"a placeholder in the path", "GET", "/v1/${HOME}/x?a=${PATH}", "X-A", "b", "", []string{"AUTHORIZATION"}},
		{"quotes and newlines in the body", "POST", "/v1", "X-A", "b", "'\n$(id)\n`id`\n\\'", []string{"AUTHORIZATION"}},
		{"a header name that is not a variable name", "POST", "/v1", "1-$(id)", txn.Redacted, "", []string{"V_1___ID_", "AUTHORIZATION"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkOnlyCurl(t, Curl(hostileTx(tt.method, tt.path, tt.hname, tt.hv, tt.body)))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("placeholders %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzCurlRunsOnlyCurl(f *testing.F) {
	f.Add("POST", "/v1/leads?api_key="+txn.Redacted, "X-Note", "${A:-$(touch /tmp/PWNED)}", `{"a":"$(id)"}`)
	f.Add("`id`", "/${X}", "A'B", "'\"\\", "'")
	f.Fuzz(func(t *testing.T, method, path, name, value, body string) {
		for _, s := range []string{method, path, name, value, body} {
			if strings.Contains(s, "\x00") || !utf8.ValidString(s) {
				// No stored value holds NUL (an argument cannot carry one), and the checking
				// parser reads UTF-8 only; single quotes pass any other byte through unchanged.
				return
			}
		}
		if name == "" {
			return
		}
		checkOnlyCurl(t, Curl(hostileTx(method, path, name, value, body)))
	})
}
