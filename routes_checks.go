package main

import (
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/schemas"
)

// routeChecks compiles the checks of one configured route: each capability (pinned contracts,
// vendor presets and route rules) contributes its request and response checks here, in the
// order they should run. A compile error names the route and what to fix.
func routeChecks(rc config.Route, keys []schemas.KeyPath) (*schemas.Checks, error) {
	checks := &schemas.Checks{}
	// Version rules come first (the "check request" stage: a retired version is refused before its
	// payload is validated); the preset's outcome rules read the answer before the contract.
	if rc.Vendor != nil && !limitsOnly(rc) {
		rc.Vendor.AddTo(checks, keys)
	}
	contracts, err := compileContracts(rc.Contracts)
	if err != nil {
		return nil, err
	}
	contracts.AddTo(checks)
	return checks, nil
}
