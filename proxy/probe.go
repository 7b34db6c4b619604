package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// ErrPaused is returned by Probe when the route's limits group is paused by the vendor: a
// read-back is not worth spending a budget the vendor asked to be left alone.
var ErrPaused = errors.New("the route's vendor budget is paused")

// maxProbeBody bounds the part of a probe's answer kept for the comparison.
const maxProbeBody = 1 << 20

// ProbeAnswer is what the vendor answered a read-back probe.
type ProbeAnswer struct {
	ID     string // the probe's own call id
	Status int
	Body   []byte
}

// Probe sends a read-back request (pathAndQuery relative to the route's upstream) through the
// pipeline, like a replay: recorded as a call of kind probe that verifies the call verifies,
// with the route's credential, behind live calls in the route's limits group. It is not sent
// while the group is paused (ErrPaused, until then).
func (p *Proxy) Probe(ctx context.Context, routeName, method, pathAndQuery, verifies string) (ProbeAnswer, error) {
	route := p.routes.Load().byName(routeName)
	if route == nil {
		return ProbeAnswer{}, fmt.Errorf("probe: route %q is not configured", routeName)
	}
	if l := p.pipeline.cfg.Limiter; l != nil && route.LimitGroup != "" {
		if until := l.PausedUntil(route.LimitGroup); !until.IsZero() {
			return ProbeAnswer{}, fmt.Errorf("%w until %s", ErrPaused, until.UTC().Format(time.RFC3339))
		}
	}
	rel, err := url.Parse(pathAndQuery)
	if err != nil || rel.IsAbs() || rel.Host != "" {
		return ProbeAnswer{}, fmt.Errorf("probe: %q is not a path on the route's upstream", pathAndQuery)
	}
	u := *route.Upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(rel.Path, "/")
	u.RawPath, u.RawQuery = "", rel.RawQuery
	original := route.Prefix + "/" + strings.TrimPrefix(rel.Path, "/")
	if rel.RawQuery != "" {
		original += "?" + rel.RawQuery
	}
	c := &Call{Route: route, Front: "probe", OriginalURL: original, Kind: txn.KindProbe, Verifies: verifies}
	req, err := http.NewRequestWithContext(WithCall(ctx, c), method, u.String(), http.NoBody)
	if err != nil {
		return ProbeAnswer{}, fmt.Errorf("probe: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if route.Auth != nil {
		req.Header.Set(route.Auth.Header, route.Auth.Value)
	}
	resp, err := p.pipeline.RoundTrip(req)
	if err != nil {
		return ProbeAnswer{}, fmt.Errorf("probe: %w", err)
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	resp.Body.Close() // records the outcome
	a := ProbeAnswer{ID: resp.Header.Get(HeaderID), Status: resp.StatusCode, Body: body}
	if rerr != nil {
		return a, fmt.Errorf("probe: read the answer: %w", rerr)
	}
	return a, nil
}
