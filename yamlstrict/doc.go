// Package yamlstrict reads YAML nodes strictly: a mapping may hold only the keys its reader
// knows (an unknown key is reported with the list of known ones), each key once, merge keys
// (<<) and non-scalar keys are refused, and every value is checked for the kind it must be.
// A Reader collects every mistake as a Problem with its line and key path
// (routes[2].limits.group) instead of stopping at the first, so one run shows everything to
// fix.
//
// It owns the walk and the wording that does not depend on what a key means: "unknown key
// (known keys: ...)", "expected a list, found ...", "is set twice", YAML syntax errors given a
// line, and the values any YAML file may hold (strings, lists, numbers, booleans, durations,
// dates, sizes, host:port addresses).
//
// It must not know anything of mtguard's config: no key, default, route or vendor. The callers
// (packages config and vendors) pass the key paths, the known keys and every message that names
// their own keys; the program's name, in the message about a second document, is the only word
// of mtguard here. It imports nothing of mtguard's.
package yamlstrict
