package alerts

// Drills (mtguard drill) make a route fail on purpose to prove its alerts reach the owner. The
// engine treats a drill's calls as calls (so the rules fire as they would), except that they
// are left out of the Prometheus metrics, and the calls of a silence drill are hidden from the
// silence rule, so that the route looks silent while its traffic still flows.

// HideFromSilence makes the calls of drill id invisible to the silence rule, until
// ShowToSilence.
func (e *Engine) HideFromSilence(id string) { e.silenceDrills.Store(id, true) }

// ShowToSilence ends HideFromSilence for drill id.
func (e *Engine) ShowToSilence(id string) { e.silenceDrills.Delete(id) }

// drillObservation marks a silence drill's call hidden.
func (e *Engine) drillObservation(o observation) observation {
	if o.drill != "" {
		if _, ok := e.silenceDrills.Load(o.drill); ok {
			o.hidden = true
		}
	}
	return o
}
