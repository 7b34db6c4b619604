package main

import (
	"github.com/mtguard/mtguard/schemas"
)

// routeChecks compiles the checks of one configured route: each capability (pinned contracts,
// vendor presets and route rules) contributes its request and response checks here, in the
// order they should run. A compile error names the route and what to fix.
func routeChecks(rc RouteConfig) (*schemas.Checks, error) {
	checks := &schemas.Checks{}
	return checks, nil
}
