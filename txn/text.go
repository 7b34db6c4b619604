package txn

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from a call (a vendor's error, a stored header) is hostile wherever it is shown: the
// API client, the CLI's tables and the alert sinks pass it through Clean before showing it.

// Truncate shortens s to at most n characters, the last being "…".
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Clean makes text from a call safe to print on a terminal: control characters, which could
// move the cursor or recolour the screen, are shown escaped ("\x1b"), as are newlines and tabs
// unless multiline is set, line separators and bidirectional overrides (which can make text
// read differently from what it is). Invalid UTF-8 becomes U+FFFD.
func Clean(s string, multiline bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if multiline {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x100 && unicode.IsControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		case r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
