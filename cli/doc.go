// Package cli holds mtguard's command-line verbs, one per file, and the terminal tables they
// print. The verbs that read the log (log, show, replay, forget, export, health, alerts,
// limits) talk to a running mtguard through the admin API's client in package inspect: bbolt
// locks its file, so a second process cannot open the store while serve runs. The offline
// verbs (schemas, presets, ca) work on files.
//
// serve, check-config and demo are not here: they wire the packages together, which is the
// composition root's job. Nothing in this package starts a listener or opens the store.
package cli
