package inspect

import (
	"context"
	"net/http"
	"time"
)

// Limits is what the throttler reports about its budgets, for GET /api/limits and
// mtguard limits. main adapts the proxy's limiter to it.
type Limits interface {
	// LimitStatus returns every limits group now, sorted by name.
	LimitStatus() []LimitStatus
}

// LimitsReport is the answer of GET /api/limits.
type LimitsReport struct {
	Time   time.Time     `json:"time"`
	Groups []LimitStatus `json:"groups"`
}

// LimitStatus is one limits group: a vendor budget shared by the routes that name it.
type LimitStatus struct {
	Group   string        `json:"group"`
	Routes  []string      `json:"routes"`
	Windows []WindowUsage `json:"windows"`
	// Concurrency is the cap on calls in flight; 0 means none.
	Concurrency int `json:"concurrency"`
	InFlight    int `json:"in_flight"`
	// Queued and QueuedReplays are the calls waiting for budget; replays go after live calls.
	Queued        int `json:"queued"`
	QueuedReplays int `json:"queued_replays"`
	// OldestWaitMS is how long the call at the head of the queue has waited.
	OldestWaitMS float64 `json:"oldest_wait_ms"`
	// Saturation is OldestWaitMS over max_wait, from 0 to 1: at 1 calls are answered 429.
	Saturation float64 `json:"saturation"`
	// MaxWait is the longest a call waits before it is answered 429 (a Go duration).
	MaxWait string `json:"max_wait"`
	// PausedUntil is set while a vendor limit signal pauses the group; PauseReason says which.
	PausedUntil time.Time `json:"paused_until,omitzero"`
	PauseReason string    `json:"pause_reason,omitempty"`
	// Paced is true while the vendor reports its budget running low and calls are spread out.
	Paced bool `json:"paced"`
	// Sent and Throttled count calls since mtguard started: sent to the vendor, and answered
	// 429 (or abandoned by their caller) while waiting.
	Sent      int64 `json:"sent"`
	Throttled int64 `json:"throttled"`

	// Shared says how the budget is shared with other instances (limits.shared): "redis", or
	// while Redis is unavailable "local-share 1/N (...)" or "hold (...)". Empty when not shared.
	Shared string `json:"shared,omitempty"`
}

// WindowUsage is one window of a group: Used of Requests per Per.
type WindowUsage struct {
	Requests int    `json:"requests"`
	Per      string `json:"per"` // a Go duration
	Used     int    `json:"used"`
	// Resets is when a fixed window (a daily quota) starts again; zero for a sliding window.
	Resets time.Time `json:"resets,omitzero"`
}

// limits answers GET /api/limits.
func (s *server) limits(w http.ResponseWriter, r *http.Request) {
	groups := s.limitsSrc.LimitStatus()
	if groups == nil {
		groups = []LimitStatus{}
	}
	s.respond(w, http.StatusOK, LimitsReport{Time: s.now(), Groups: groups})
}

// Limits returns every limits group's budget and state (GET /api/limits).
func (c *Client) Limits(ctx context.Context) (LimitsReport, error) {
	var rep LimitsReport
	err := c.get(ctx, "/api/limits", nil, &rep)
	return rep, err
}
