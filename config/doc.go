// Package config turns mtguard's YAML file into a typed Config: defaults applied, every mistake
// collected with its file:line and key path (routes[2].limits.group) and a sentence that says
// what to do, rather than stopping at the first.
//
// It builds nothing: no listener, store, transport or compiled contract. The composition root
// turns a Config into running parts. It reads vendor presets (package vendors) because a
// route's preset decides which keys are valid, and the alert rules' types (package inspect)
// because a route's alerts block is decoded into them.
package config
