package schemas

import (
	"slices"
	"sort"
)

// FindingSpec is the catalogue entry of one finding code: what it means and what to do.
// Codes are stable: they are shown to users, used in filters and alert rules, and never
// renamed once shipped.
type FindingSpec struct {
	Code     string
	Severity string // info, warn or error
	Title    string // what happened, in a few words
	Action   string // what to do about it
}

// Anchor is the README anchor that documents the code.
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
)

// catalogue is every finding code; each concern keeps its entries beside its code.
var catalogue = slices.Concat(coreFindings, contractFindings, detectFindings, throttleFindings)

// coreFindings explain the calls that mtguard answers itself.
var coreFindings = []FindingSpec{
	{CodeRouteUnknown, "error", "No route matches the path or host the tool called",
		"Reverse mode: point the tool at http://MTGUARD/<prefix>/... using a configured prefix. Forward mode: only the hosts named by routes (host:) are intercepted. Or add a route."},
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
