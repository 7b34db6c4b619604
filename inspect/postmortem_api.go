package inspect

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// postmortem answers GET /api/postmortems?alert=ID or ?route=R&since=T&until=T, with
// format=json (the default), md or html.
func (s *server) postmortem(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	params := []string{"alert", "route", "since", "until", "format"}
	for name := range v {
		if !slices.Contains(params, name) {
			s.fail(w, r, problemf(errBadRequest, "unknown query parameter %q: use %s", name, strings.Join(params, ", ")))
			return
		}
	}
	format := v.Get("format")
	if format == "" {
		format = "json"
	}
	if !slices.Contains(PostmortemFormats, format) {
		s.fail(w, r, problemf(errBadRequest, "format %q must be one of %s", format, strings.Join(PostmortemFormats, ", ")))
		return
	}
	now := s.now()
	req := PostmortemRequest{Alert: strings.TrimSpace(v.Get("alert")), Route: strings.TrimSpace(v.Get("route"))}
	var err error
	if req.Since, err = parseTimeParam("since", v.Get("since"), now); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Until, err = parseTimeParam("until", v.Get("until"), now); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Alert != "" && req.Route != "" {
		s.fail(w, r, problemf(errBadRequest, "name an alert or a route, not both"))
		return
	}
	pm, err := BuildPostmortem(r.Context(), PostmortemSource{Transactions: s.txs, Alerts: s.alerts, Now: s.now}, req)
	if err != nil {
		s.fail(w, r, alertErr(err, req.Alert))
		return
	}
	var b bytes.Buffer
	switch format {
	case "json":
		s.respond(w, http.StatusOK, pm)
		return
	case "md":
		err = WritePostmortemMarkdown(&b, pm)
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	case "html":
		err = WritePostmortemHTML(&b, pm)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// Postmortem returns the report of req as JSON (GET /api/postmortems).
func (c *Client) Postmortem(ctx context.Context, req PostmortemRequest) (Postmortem, error) {
	v := url.Values{}
	if req.Alert != "" {
		v.Set("alert", req.Alert)
	}
	if req.Route != "" {
		v.Set("route", req.Route)
	}
	if !req.Since.IsZero() {
		v.Set("since", req.Since.UTC().Format(timeParamLayout))
	}
	if !req.Until.IsZero() {
		v.Set("until", req.Until.UTC().Format(timeParamLayout))
	}
	var pm Postmortem
	err := c.get(ctx, "/api/postmortems", v, &pm)
	return pm, err
}

// timeParamLayout is how the client sends times: RFC 3339 to the nanosecond, as
// parseTimeParam reads them.
const timeParamLayout = "2006-01-02T15:04:05.999999999Z07:00"
