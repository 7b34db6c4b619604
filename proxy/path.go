package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/mtguard/mtguard/txn"
)

// cleanPath is the one path mtguard matches a route on, checks and forwards: the request's
// path with its dot segments removed (RFC 3986, section 5.2.4), percent-encoded dots
// included, and empty segments (//) collapsed. A vendor's own server may resolve "%2e%2e" or
// "//" after mtguard has checked the call; resolving them first means a contract or a version
// rule sees the path the vendor will act on.
//
// An encoded slash (%2F) stays encoded inside its segment: it is data (an id holding a slash),
// not a separator, and both the checks and the vendor see it as one segment.
//
// ok is false when a ".." segment would climb above the root.
func cleanPath(escaped string) (clean string, ok bool) {
	if alreadyClean(escaped) {
		return escaped, true
	}
	var out []string
	trailing := false // whether the path names a folder: it ends in "/", "." or ".."
	for seg := range strings.SplitSeq(escaped, "/") {
		switch {
		case dots(seg) == 1:
			trailing = true
		case dots(seg) == 2:
			if len(out) == 0 {
				return "", false
			}
			out = out[:len(out)-1]
			trailing = true
		case seg == "":
			trailing = true
		default:
			out = append(out, seg)
			trailing = false
		}
	}
	clean = "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		clean += "/"
	}
	return clean, true
}

// alreadyClean reports whether cleanPath would return escaped as it is: it starts with "/",
// and no segment is empty (but a trailing one) or starts with a dot, literal or encoded. Most
// paths are, and this answers them without splitting (five allocations per call otherwise).
func alreadyClean(escaped string) bool {
	if escaped == "" || escaped[0] != '/' || strings.Contains(escaped, "//") {
		return false
	}
	for i := 0; i < len(escaped)-1; i++ {
		if escaped[i] != '/' {
			continue
		}
		switch next := escaped[i+1:]; {
		case next[0] == '.':
			return false
		case len(next) >= 3 && next[0] == '%' && next[1] == '2' && (next[2] == 'e' || next[2] == 'E'):
			return false
		}
	}
	return true
}

// dots reports whether seg is "." (1) or ".." (2), in any mix of literal and percent-encoded
// dots ("%2e", "%2E"); 0 otherwise.
func dots(seg string) int {
	n := 0
	for seg != "" {
		switch {
		case seg[0] == '.':
			seg = seg[1:]
		case len(seg) >= 3 && seg[0] == '%' && seg[1] == '2' && (seg[2] == 'e' || seg[2] == 'E'):
			seg = seg[3:]
		default:
			return 0
		}
		n++
		if n > 2 {
			return 0
		}
	}
	return n
}

// normalizeURL replaces u's path by its clean form. ok is false when the path climbs above the
// root; u is then left as it was.
func normalizeURL(u *url.URL) bool {
	clean, ok := cleanPath(u.EscapedPath())
	if !ok {
		return false
	}
	if clean == u.EscapedPath() {
		return true
	}
	p, err := url.PathUnescape(clean)
	if err != nil {
		return false
	}
	u.Path, u.RawPath = p, clean
	if u.EscapedPath() != clean {
		u.RawPath = "" // Path alone encodes to the same text
	}
	return true
}

// pathRefusal answers a path that climbs above the root or out of the route it names.
func pathRefusal(detail string) *Refusal {
	return &Refusal{Status: http.StatusBadRequest, Title: "Path leaves its route", Code: txn.CodeRouteUnknown, Detail: detail}
}
