package vendors

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// DefaultExpiringWithin is how close to its expiry a token must be for auth.expiring, when a
// preset does not say.
const DefaultExpiringWithin = 5 * time.Minute

// maxJWTPayload bounds the claims mtguard decodes from a bearer token.
const maxJWTPayload = 8 << 10

// checkBearerExpiry reads the exp claim of a JWT bearer token, when the tool sends one, and
// says so before the vendor starts refusing it. Only the expiry is read: the token is neither
// kept nor printed.
func checkBearerExpiry(within time.Duration, now time.Time, req *schemas.Request, v *schemas.RequestVerdict) {
	auth := req.Header.Get("Authorization")
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "bearer ") {
		return
	}
	exp, ok := jwtExpiry(strings.TrimSpace(auth[7:]))
	if !ok {
		return
	}
	left := exp.Sub(now)
	at := exp.UTC().Format("2006-01-02 15:04:05 UTC")
	switch {
	case left <= 0:
		v.Findings = append(v.Findings, txn.NewFinding(txn.CodeAuthExpired,
			fmt.Sprintf("the bearer token (a JWT) expired at %s, %s before this call; the vendor will refuse it", at, shortDuration(-left)),
			"the token's exp claim"))
	case left <= within:
		v.Findings = append(v.Findings, txn.NewFinding(txn.CodeAuthExpiring,
			fmt.Sprintf("the bearer token (a JWT) expires at %s, %s after this call", at, shortDuration(left)),
			"the token's exp claim"))
	}
}

// jwtExpiry returns the exp claim of a JWT; ok is false for anything that is not one.
func jwtExpiry(tok string) (time.Time, bool) {
	first := strings.IndexByte(tok, '.')
	last := strings.LastIndexByte(tok, '.')
	if first <= 0 || last == first || last-first-1 > maxJWTPayload {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok[first+1:last], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// checkTokenGrant reads an OAuth token response passing through the proxy (RFC 6749 section
// 5.1: access_token with expires_in). A token handed out with little life left (Marketo's
// identity endpoint returns the same token until it expires) is about to break the tool's
// calls. The token itself is not read.
func checkTokenGrant(within time.Duration, now time.Time, resp *schemas.Response, v *schemas.ResponseVerdict) {
	// Only a body that mentions expires_in can be a token grant: skip parsing every other
	// answer (most routes never see one).
	if resp.Status/100 != 2 || !bytes.Contains(resp.Raw, []byte(`"expires_in"`)) {
		return
	}
	m, ok := resp.Doc().JSON.(map[string]any)
	if !ok {
		return
	}
	if _, has := m["access_token"]; !has {
		return
	}
	secs, ok := number(m["expires_in"])
	if !ok {
		return
	}
	left := time.Duration(secs * float64(time.Second))
	if left > within {
		return
	}
	v.Findings = append(v.Findings, txn.NewFinding(txn.CodeAuthExpiring,
		fmt.Sprintf("the access token issued in this answer expires in %s (expires_in: %s), at %s; the tool will soon be refused unless it refreshes",
			shortDuration(left), strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", secs), "0"), "."), now.Add(left).UTC().Format("2006-01-02 15:04:05 UTC")),
		"expires_in of the token response"))
}
