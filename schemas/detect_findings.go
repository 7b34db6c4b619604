package schemas

// Finding codes of the silent-failure detectors: vendor presets, outcome rules and version rules.
const (
	CodeEndpointDeprecated   = "endpoint.deprecated"
	CodeEndpointRetired      = "endpoint.retired"
	CodeDeprecationAnnounced = "endpoint.deprecation_announced"
	CodeVersionUnpinned      = "version.unpinned"
	CodeSilentFailure        = "response.silent_failure"
	CodePartialFailure       = "response.partial_failure"
	CodeEmptySuccess         = "response.empty_success"
	CodeAuthExpired          = "auth.expired"
	CodeAuthForbidden        = "auth.forbidden"
	CodeAuthExpiring         = "auth.expiring"
	CodeRateLimitUpstream    = "ratelimit.upstream"
	CodeQuotaExhausted       = "quota.exhausted"
)

// detectFindings explain what the vendor really did with a call, whatever its status said.
var detectFindings = []FindingSpec{
	{CodeSilentFailure, "error", "The vendor answered with success, but the call failed",
		"Read the vendor's error in the recorded response (mtguard show ID), fix the payload or the account setting it names, and resend: nothing reached the vendor's records."},
	{CodePartialFailure, "error", "Some records of a batch call failed while the others went through",
		"The call's records list which inputs failed and why; fix those and resend only them. The other records were accepted."},
	{CodeEmptySuccess, "warn", "The vendor answered with success but an empty body, where it always sends one",
		"mtguard cannot tell whether the call worked: look the records up at the vendor. Repeated empty answers usually mean a proxy or load balancer in between cut the response."},
	{CodeAuthExpired, "error", "The vendor refused the credentials as expired or invalid",
		"Refresh the access token (or fix the API key) in the calling tool, then resend the failed calls; refresh on the token's expires_in rather than waiting for this error."},
	{CodeAuthForbidden, "error", "The credentials are valid but not allowed to make this call",
		"Grant the missing scope or permission (or allow-list the caller's IP) in the vendor's app settings; resending as-is fails again."},
	{CodeAuthExpiring, "warn", "The access token the tool uses is about to expire",
		"Make the tool refresh its token before expiry (follow expires_in), so calls do not start failing with auth.expired."},
	{CodeRateLimitUpstream, "warn", "The vendor refused the call because of its rate limit",
		"Resend after the reset time in the finding; lower the tool's concurrency or batch more records per call so it stays under the vendor's documented limits."},
	{CodeQuotaExhausted, "error", "The vendor's daily or monthly quota is used up",
		"Calls fail until the quota resets (see the finding for when); spread the load over the day, batch records, or raise the quota with the vendor."},
	{CodeEndpointDeprecated, "warn", "The call uses an API version the vendor has deprecated; it stops working at the sunset date",
		"Move the integration to the replacement version before the sunset date in the message; until then the calls still work."},
	{CodeEndpointRetired, "error", "The call uses an API version the vendor has retired",
		"Move the integration to a supported version; calls on a retired version fail or, worse, are silently answered by a newer version."},
	{CodeDeprecationAnnounced, "warn", "The vendor's answer announces that this endpoint is deprecated or will be sunset",
		"Read the linked deprecation notice and plan the migration; add the dates to the route's versions table so mtguard counts the days down."},
	{CodeVersionUnpinned, "warn", "The call did not say which API version it wants, so the vendor picks one",
		"Send the version header from the tool, or set pin: in the route's versions rule so mtguard sends it; otherwise an app-setting change at the vendor changes behaviour silently."},
}
