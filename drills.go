package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/store"
)

// drillFaults is the proxy's drills as the admin API's FaultSwitch: it knows which routes
// refuse drills (drills: false) and the answers their presets give for expire-auth and discard.
type drillFaults struct {
	drills *proxy.Drills
	routes []config.Route
}

// StartFault implements inspect.FaultSwitch.
func (f *drillFaults) StartFault(d store.Drill) error {
	var names []string
	for _, r := range f.routes {
		names = append(names, r.Name)
		if r.Name != d.Route {
			continue
		}
		if r.NoDrills {
			return fmt.Errorf("route %s has drills: false in the config", r.Name)
		}
		fault, err := proxy.ParseFault(d.Fault, presetAnswers(r))
		if err != nil {
			return fmt.Errorf("route %s: %w", r.Name, err)
		}
		return f.drills.Start(proxy.ActiveDrill{ID: d.ID, Route: r.Name, Fault: fault, Share: d.Share})
	}
	return fmt.Errorf("no route named %q; the routes are %s", d.Route, strings.Join(names, ", "))
}

// StopFault implements inspect.FaultSwitch.
func (f *drillFaults) StopFault(id string) { f.drills.Stop(id) }

// presetAnswers are the drill answers of the route's preset, falling back on the generic
// preset's.
func presetAnswers(r config.Route) map[string]*proxy.FaultAnswer {
	out := map[string]*proxy.FaultAnswer{}
	for p := r.Vendor; p != nil; p = p.Base {
		for k, a := range p.DrillAnswers {
			if out[k] == nil {
				out[k] = &proxy.FaultAnswer{Status: a.Status, Header: a.Headers.Clone(), Body: a.Body}
			}
		}
	}
	return out
}

// recoverDrills ends, and logs the report of, every drill the last run left running.
func (s *server) recoverDrills(ctx context.Context) {
	// Each ended drill is logged by Recover and kept in the store with its report.
	if _, err := s.drills.Recover(ctx); err != nil {
		s.log.Error().Err(err).Msg("drill: could not read the drills the last run left running")
	}
}

var _ inspect.FaultSwitch = (*drillFaults)(nil)
