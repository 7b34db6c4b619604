package main

import (
	"fmt"
	"strings"
)

// listProblems is err, whose parts errors.Join may have joined, after lead: one part on the
// line, several one a line.
func listProblems(lead string, err error) error {
	problems := flatten(err)
	if len(problems) == 1 {
		return fmt.Errorf("%s: %w", lead, err)
	}
	var b strings.Builder
	for _, p := range problems {
		b.WriteString("\n  - " + p.Error())
	}
	return fmt.Errorf("%s, for %d reasons:%s", lead, len(problems), b.String())
}

// flatten lists the errors that errors.Join joined, at any depth.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}
