package txn

// Problem is an RFC 9457 problem details object: the one error body mtguard writes, on the data
// plane when it answers a call in the vendor's place and on the admin API.
type Problem struct {
	// Type documents the problem: a finding's entry in docs/findings.md (FindingSpec.DocsURL),
	// or "about:blank" when the status says it all (RFC 9457, section 4.2.1).
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance is the transaction id of the call the problem answers.
	Instance string `json:"instance,omitempty"`
	// Routes are the configured prefixes, for a path that matches none.
	Routes []string `json:"routes,omitempty"`
	// Errors lists every violation when a check found several.
	Errors []string `json:"errors,omitempty"`
}

// ProblemContentType is the media type of a problem body (RFC 9457, section 3).
const ProblemContentType = "application/problem+json"

// FindingsDocs is the page that explains every finding code; a code's entry is at its Anchor.
const FindingsDocs = "https://github.com/mtguard/mtguard/blob/main/docs/findings.md"

// DocsURL is where the code is explained, used as the Type of the problems it causes.
func (f FindingSpec) DocsURL() string { return FindingsDocs + "#" + f.Anchor() }
