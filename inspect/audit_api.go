package inspect

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mtguard/mtguard/store"
)

// AuditLog is where the admin API writes every state-changing action and reads them back for
// GET /api/audit; *store.Store satisfies it.
type AuditLog interface {
	AppendAudit(e store.AuditEntry) (store.AuditEntry, error)
	Audit(q store.AuditQuery) ([]store.AuditEntry, error)
}

var _ AuditLog = (*store.Store)(nil)

// AuditPage answers GET /api/audit: entries newest first.
type AuditPage struct {
	Entries []store.AuditEntry `json:"entries"`
}

// listAudit answers GET /api/audit?since=&limit=.
func (s *server) listAudit(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	for name := range v {
		if name != "since" && name != "limit" {
			s.fail(w, r, problemf(errBadRequest, "unknown query parameter %q: use since, limit", name))
			return
		}
	}
	var q store.AuditQuery
	var err error
	if q.Since, err = parseTimeParam("since", v.Get("since"), s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			s.fail(w, r, problemf(errBadRequest, "limit %q must be a whole number from 1 to %d", l, maxLimit))
			return
		}
		q.Limit = n
	}
	entries, err := s.auditLog.Audit(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, http.StatusOK, AuditPage{Entries: entries})
}

// Audit returns the audit log's entries matching q, newest first.
func (c *Client) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	v := url.Values{}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var page AuditPage
	if err := c.get(ctx, "/api/audit", v, &page); err != nil {
		return nil, err
	}
	return page.Entries, nil
}
