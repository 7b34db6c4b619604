// Command fakestack serves the fake CRM and the fake vendors on loopback, so that mtguard can
// be tried with the configs in examples/configs without a real vendor account:
//
//	go run ./examples/fakestack                       # CRM on 127.0.0.1:9000, vendors on 127.0.0.1:9100-9111
//	go run ./examples/fakestack --crm 127.0.0.1:0 --vendors 127.0.0.1:0   # free ports, printed
//
// Each fake vendor answers at the root of its own port, the next ones after --vendors
// (HubSpot on 9101, Marketo on 9102, ...), as the real vendor does at its host: a route's
// upstream is then just the address, and the vendor paths that contracts and preset rules
// match are the real ones. The --vendors address itself serves every vendor under /<preset>/
// (the layout `mtguard demo` uses) and takes alert webhooks on /_alerts, which it prints.
//
// It prints what it serves, the demo credentials each fake vendor accepts and which config to
// run mtguard with, then serves until Ctrl-C or SIGTERM.
package main
