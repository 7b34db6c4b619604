package txn

// Finding codes of what mtguard learns across calls rather than from one: a lead that did not
// travel the whole journey, a payload whose shape changed from the one learned.
const (
	// CodeJourneyLostInTransit marks the last call seen of a record that entered a journey and
	// did not reach its last step within the journey's time.
	CodeJourneyLostInTransit = "journey.lost_in_transit"
	// CodeSchemaDrift marks the first call whose payload differs from the route's learned
	// shape in one way (a field appeared, vanished or changed type).
	CodeSchemaDrift = "schema.drift"
	// CodeDeliveryUnverified marks a delivered call whose read-back (a probe asking the
	// vendor for the record) failed or disagreed.
	CodeDeliveryUnverified = "delivery.unverified"
)

// KindProbe is the Kind of a read-back call mtguard sends to check a delivery.
const KindProbe = "probe"

// acrossFindings explain what mtguard noticed by comparing a call with others.
var acrossFindings = []FindingSpec{
	{CodeJourneyLostInTransit, "error", "A record entered a journey and did not reach its last step in time; this is the last call that carried it",
		"mtguard journey KEY shows each step, when it was reached and with what outcome. The step after the last one reached dropped the record: look it up in that tool (a sync filter, a failed workflow, a field mapping), fix it, and resend the record from there."},
	{CodeSchemaDrift, "warn", "The call's payload differs from the shape the route learned: a field appeared, vanished or changed type",
		"The detail is the field's JSON pointer with the type before and after. If the tool's mapping changed by mistake, fix it there; if on purpose, nothing to do: the change is flagged once, counted, and later calls are not flagged for it. mtguard drift --route R shows the learned shape."},
	{CodeDeliveryUnverified, "error", "The vendor answered success, but reading the record back did not find it as sent",
		"The probe call (mtguard log --route R, kind probe, linked to this call) shows what the vendor answered. The vendor dropped or changed the record despite its 2xx: check its import log, dedupe and validation settings, then replay this call."},
}
