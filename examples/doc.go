// Package examples holds runnable setups: the demo configuration and a fake CRM vendor that
// behaves like a real one (validation errors, slow answers) for the demo and the tests.
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
