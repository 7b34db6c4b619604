package main

import "strings"

// yamlLines joins lines with newlines, so a case's line numbers are its argument positions.
func yamlLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}
