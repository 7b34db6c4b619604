// Package examples holds runnable setups: the demo configuration, ready configs for common
// stacks (configs/), fake vendors that behave like the real ones (fakecrm, fakevendors) for the
// demo and the tests, and fakestack, which serves them on loopback for trying the configs.
package examples

import "embed"

//go:embed demo.yaml
var files embed.FS

// DemoConfig returns demo.yaml, the configuration `mtguard demo` runs with after pointing the
// "crm" route at its fake CRM.
func DemoConfig() []byte {
	b, err := files.ReadFile("demo.yaml")
	if err != nil {
		panic("examples: demo.yaml is not embedded: " + err.Error()) // a build defect, not a runtime condition
	}
	return b
}
