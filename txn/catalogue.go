package txn

import (
	"slices"
	"sort"
)

// FindingSpec is the catalogue entry of one finding code: what it means and what to do.
// Codes are stable: they are shown to users, used in filters and alert rules, and never
// renamed once shipped.
type FindingSpec struct {
	Code     string
	Severity Severity
	Title    string // what happened, in a few words
	Action   string // what to do about it
}

// Anchor is the anchor of the code in docs/findings.md.
func (f FindingSpec) Anchor() string { return "finding-" + dashed(f.Code) }

func dashed(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '.' || c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

// Redacted is what mtguard stores, logs and shows in place of a secret value. The proxy
// writes it; the admin API and CLI recognise it (a replay refuses a body holding it, a curl
// export turns it into a ${PLACEHOLDER}).
const Redacted = "[REDACTED]"

// Finding codes emitted today. Later capabilities (contracts, vendor presets) add theirs here.
const (
	CodeRouteUnknown        = "route.unknown"
	CodeRequestTooLarge     = "request.too_large"
	CodeUpstreamUnreachable = "upstream.unreachable"
	CodeUpstreamTimeout     = "upstream.timeout"
	CodeStoreWriteFailed    = "store.write_failed"
	CodeClientGone          = "client.gone"
	CodeClientDisconnected  = "client.disconnected"
	CodeConnectionUpgraded  = "connection.upgraded"
	CodeClientStalled       = "client.stalled"
	// CodeCallerUnknown marks a call refused because it matched none of its route's callers.
	CodeCallerUnknown = "caller.unknown"
	// CodeOutcomeUnknown marks a call left interrupted by a crash: its request was recorded,
	// nothing of the vendor's answer was.
	CodeOutcomeUnknown = "outcome.unknown"
	// CodeOutcomeUnchecked marks a call whose outcome was recovered after a crash from the
	// vendor's status and headers alone, recorded before the answer reached the tool.
	CodeOutcomeUnchecked = "outcome.unchecked"
	// CodeStoreUndecryptable marks, when read, a call whose stored headers and body are
	// encrypted (store.encrypt) with a key mtguard does not hold, or do not decrypt.
	CodeStoreUndecryptable = "store.undecryptable"
	// CodeDeliveryQueued marks a call accepted into the delivery queue (delivery.mode: queue).
	CodeDeliveryQueued = "delivery.queued"
	// CodeReplayEdited marks a replay whose body a person corrected before resending it; the
	// detail is what changed.
	CodeReplayEdited = "replay.edited"
)

// catalogue is every finding code; each concern keeps its entries beside its code.
var catalogue = slices.Concat(coreFindings, contractFindings, detectFindings, throttleFindings, recordKeyFindings, acrossFindings)

// CodeRecordKeysGuessed marks record keys read from an unparsable body by their shape.
const CodeRecordKeysGuessed = "record_keys.guessed"

// recordKeyFindings explain how a call's record keys were found.
var recordKeyFindings = []FindingSpec{
	{CodeRecordKeysGuessed, "info", "The body could not be parsed, so its record keys are the email addresses found in its first 64 KiB",
		"The call can still be found with mtguard log --record; the keys may include addresses that are not the record's (a cc, an owner). Fix the tool's payload so keys are read from the route's record_keys paths."},
}

// coreFindings explain the calls that mtguard answers itself.
var coreFindings = []FindingSpec{
	{CodeRouteUnknown, "error", "No route matches the path or host the tool called",
		"Reverse mode: point the tool at http://MTGUARD/<prefix>/... using a configured prefix. Forward mode: only the hosts named by routes (host:) are intercepted. Or add a route."},
	{CodeCallerUnknown, "error", "The call matched none of the route's callers (no valid key, no valid signature, not from an allowed network); it was not forwarded",
		"A tool you run: give it the caller's key header, sign its body with the caller's secret, or add its network to the caller's cidrs. A stranger: the callers alert fires after repeated failures; the call's address is in the record (mtguard log --finding caller.unknown)."},
	{CodeRequestTooLarge, "error", "The request body is larger than store.max_body; it was not forwarded",
		"Send smaller batches, or raise store.max_body if the vendor accepts bodies that large."},
	{CodeUpstreamUnreachable, "error", "mtguard could not connect to the vendor",
		"Check the route's upstream URL, DNS and firewall; the payload is recorded and can be resent."},
	{CodeUpstreamTimeout, "error", "The vendor did not answer within the route's timeout",
		"The vendor may still have processed the call: look it up there before resending. Raise the route's timeout if the vendor is slow but healthy."},
	{CodeStoreWriteFailed, "error", "mtguard could not write the call to its transaction log",
		"Check disk space and permissions of store.path; /readyz reports the store as failing until a write succeeds."},
	{CodeClientGone, "warn", "The calling tool disconnected before mtguard could answer",
		"Usually the tool's own timeout is shorter than the vendor's answer time; raise it, or look the call up at the vendor."},
	{CodeClientDisconnected, "warn", "The calling tool hung up before it received the whole answer",
		"The vendor did act on the call. The tool may not know it and retry, creating a duplicate: check the vendor before resending. Usually the tool's own timeout is shorter than the answer takes to stream; raise it."},
	{CodeConnectionUpgraded, "info", "The vendor switched the connection to another protocol (e.g. WebSocket); only the handshake is recorded",
		"Nothing to do if the tool expects it. The bytes exchanged after the switch pass through unrecorded and unchecked, and the call stops counting against the route's concurrency once switched."},
	{CodeClientStalled, "warn", "The calling tool stopped reading the answer, so mtguard cut it off",
		"The vendor answered (see the outcome), but the tool got only the first part of the answer and may resend the call, creating a duplicate. Check that the tool reads streamed answers to the end and is not starved of CPU or memory."},
	{CodeOutcomeUnknown, "error", "mtguard stopped before the vendor answered; the vendor may have acted",
		"Look the records up at the vendor before resending: a replay may duplicate them. Bulk replay skips interrupted calls unless asked (mtguard replay --include-interrupted); mtguard replay ID resends one."},
	{CodeStoreUndecryptable, "error", "The call's stored headers and body are encrypted with a key mtguard does not hold; they are shown empty",
		"Put the key they were written with (its id is in the finding's detail) back into store.encrypt's key variable, after the current key: id:base64,oldid:base64. Keep old keys until store.retention has deleted the calls they encrypted. Added when the call is read, so log --finding does not find it."},
	{CodeOutcomeUnchecked, "warn", "mtguard stopped before it finished reading and checking the vendor's answer; the outcome is the status's alone",
		"The tool got the vendor's status (the outcome recorded is what that status means) and perhaps the whole answer, but no rule read its body and only its headers are stored. Where the vendor hides failures in a 2xx body, look the records up there before resending."},
	{CodeDeliveryQueued, "info", "mtguard accepted the call into its delivery queue and answered the tool itself; it is sent in the background",
		"Nothing to do: mtguard deliveries lists what is waiting, its attempts and last error; the attempts are replays of this call (mtguard show ID lists them)."},
	{CodeReplayEdited, "info", "A person corrected the call's body before resending it (edit-then-replay)",
		"Nothing to do: the original stays in the chain (replay_of), the detail lists what changed, and the actor says who changed it."},
}

// Lookup returns the catalogue entry of code.
func Lookup(code string) (FindingSpec, bool) {
	for _, f := range catalogue {
		if f.Code == code {
			return f, true
		}
	}
	return FindingSpec{}, false
}

// Catalogue returns every finding code, sorted by code.
func Catalogue() []FindingSpec {
	out := append([]FindingSpec(nil), catalogue...)
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Finding codes of pinned contracts.
const (
	CodeSchemaRequestInvalid         = "schema.request.invalid"
	CodeSchemaRequestMalformed       = "schema.request.malformed"
	CodeSchemaResponseInvalid        = "schema.response.invalid"
	CodeContractUnpinned             = "contract.unpinned"
	CodeContractUnsupportedMediaType = "contract.unsupported_media_type"
)

// contractFindings explain what a pinned contract found in a call.
var contractFindings = []FindingSpec{
	{CodeSchemaRequestInvalid, "error", "The request body violates the contract pinned for this call",
		"Fix the mapping in the tool that sent it (each violation names the field, the rule and the value), then replay the call. If the vendor changed its API on purpose, re-import and re-pin the contract."},
	{CodeSchemaRequestMalformed, "error", "The request body is not valid JSON (or not a valid form) although a contract is pinned for this call",
		"The detail gives the byte offset where parsing failed; fix the tool's payload template (often an unescaped quote or a trailing comma) and replay the call."},
	{CodeSchemaResponseInvalid, "warn", "The vendor's answer does not match the contract pinned for this call",
		"The vendor may have changed its API: compare with its changelog, then re-import the contract with mtguard schemas import. The tool already has the answer; nothing was blocked."},
	{CodeContractUnpinned, "warn", "The route requires a pinned contract, but no pin matches this method and path",
		"Pin a contract for this call under the route's contracts.pins (mtguard schemas import writes one from the vendor's OpenAPI file), or set require_pin: false."},
	{CodeContractUnsupportedMediaType, "warn", "A contract is pinned for this call, but its body is neither plain JSON nor a urlencoded form, so it was not checked",
		"Send uncompressed JSON or application/x-www-form-urlencoded with the right Content-Type, or remove the pin if this call is meant to carry another media type."},
}

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
	CodeAuthInvalid          = "auth.invalid"
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
	{CodeAuthExpired, "error", "The vendor refused the credentials as expired (or, where the vendor does not say which, expired or invalid)",
		"Renew the access token in the calling tool (refresh it, or ask the identity endpoint again), then resend the failed calls; refresh on the token's expires_in rather than waiting for this error."},
	{CodeAuthInvalid, "error", "The vendor refused the credentials as invalid: revoked, wrong, malformed or missing",
		"Renewing does not help: re-authorise the integration (a new API key, or the OAuth consent again) or fix where the tool sends the credentials, then resend the failed calls."},
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

// CodeRateLimitThrottled is a call mtguard held back to stay within the vendor's limits.
const CodeRateLimitThrottled = "ratelimit.throttled"

// throttleFindings explain calls the throttler held back.
var throttleFindings = []FindingSpec{
	{CodeRateLimitThrottled, "warn", "mtguard held the call back: the vendor's budget was used up for longer than max_wait",
		"The payload is recorded: replay it once the budget is back (mtguard replay --outcome throttled). If this happens often, spread the sending tool's load or raise max_wait."},
}
