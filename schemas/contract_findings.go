package schemas

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
