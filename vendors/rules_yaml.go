package vendors

import "github.com/mtguard/mtguard/yamlstrict"

// Problem is one mistake in a preset file or in a route's rules, with the line it is on and the
// key path that holds it (outcomes[2].when.status), so a config loader can print it as
// file:line: key: message.
type Problem = yamlstrict.Problem

// Problems is every mistake found in one document; it is an error when non-empty.
type Problems = yamlstrict.Problems

// yreader is the strict YAML reader of package yamlstrict, collecting problems instead of
// stopping at the first one like the config parser does, with vendors' decoders as methods.
type yreader struct {
	yamlstrict.Reader
}
