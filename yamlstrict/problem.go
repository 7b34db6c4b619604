package yamlstrict

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one mistake in a YAML document, with the line it is on and the key path that holds
// it (outcomes[2].when.status), so a loader can print it as file:line: key: message.
type Problem struct {
	// Line is 1-based; 0 when the YAML parser gave no position.
	Line int
	// Key is the offending key path, like routes[0].upstream; "" when the problem is not about a key.
	Key string
	// Msg says what is wrong and what to do.
	Msg string
}

// Problems is every mistake found in one document; it is an error when non-empty.
type Problems []Problem

// Error prints one "line N: key: msg" line per problem, leaving out what is unknown.
func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Line > 0 {
			fmt.Fprintf(&b, "line %d: ", p.Line)
		}
		if p.Key != "" {
			b.WriteString(p.Key + ": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// SortByLine orders the problems by line, keeping the order found among those on one line.
func (ps Problems) SortByLine() {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}
