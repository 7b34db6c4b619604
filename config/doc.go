// Package config turns mtguard's YAML file into a typed Config: defaults applied, every mistake
// collected with its file:line and key path (routes[2].limits.group) and a sentence that says
// what to do, rather than stopping at the first. The strict walk of the YAML nodes (unknown
// keys, wrong kinds, keys set twice) is package yamlstrict's, which vendors shares; what each
// key means is here.
//
// It builds nothing: no listener, store, transport or compiled contract. The composition root
// turns a Config into running parts. It reads vendor presets (package vendors) because a
// route's preset decides which keys are valid, and the alert rules' types (package inspect)
// because a route's alerts block is decoded into them.
package config
