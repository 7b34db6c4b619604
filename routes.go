package main

import (
	"fmt"
	"os"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/schemas"
)

// compileContracts compiles a route's contracts, reading schema files from disk. A route
// without contracts yields nil.
func compileContracts(c config.Contracts) (*schemas.Contracts, error) {
	if c.Empty() {
		return nil, nil
	}
	spec := schemas.ContractsSpec{Mode: c.Mode, RequirePin: c.RequirePin}
	for _, vendor := range c.Builtin {
		pins, _ := schemas.BuiltinVendorPins(vendor)
		for _, ps := range pins {
			ps.Overridable = true
			spec.Pins = append(spec.Pins, ps)
		}
	}
	for _, pc := range c.Pins {
		where := pc.Key
		if pc.Line > 0 {
			where = fmt.Sprintf("%s (line %d)", pc.Key, pc.Line)
		}
		spec.Pins = append(spec.Pins, schemas.PinSpec{
			Match: pc.Match, Mode: pc.Mode, Request: pc.Request, Responses: pc.Responses, Where: where,
		})
	}
	return schemas.CompileContracts(spec, schemas.ContractOptions{ReadFile: os.ReadFile})
}
