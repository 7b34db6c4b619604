package fakevendors

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SegmentOptions configure a fake Segment HTTP Tracking API.
type SegmentOptions struct {
	Now Clock
	// RateLimit requests a second, then 429 with Retry-After; 0 means no limit.
	RateLimit int
}

// Segment is a fake Segment HTTP Tracking API: it answers 200 {"success":true} to every call
// except bodies over 32 KB (500 KB for /v1/batch) and invalid JSON (400), and silently drops
// what it would reject: batches over 2,500 events, track calls without an event, calls with
// neither userId nor anonymousId.
type Segment struct {
	opts SegmentOptions
	rate window

	mu        sync.Mutex
	delivered int
	dropped   int
}

// NewSegment returns a fake Segment.
func NewSegment(o SegmentOptions) *Segment { return &Segment{opts: o} }

// Counts returns how many events were delivered and how many were silently dropped.
func (s *Segment) Counts() (delivered, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered, s.dropped
}

func (s *Segment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if s.opts.RateLimit > 0 {
		if n, end := s.rate.add(s.opts.Now.now(), time.Second); n > s.opts.RateLimit {
			secs := strconv.Itoa(max(1, int(end.Sub(s.opts.Now.now()).Seconds()+0.5)))
			w.Header().Set("Retry-After", secs)
			w.Header().Set("X-RateLimit-Reset", secs)
			http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
			return
		}
	}
	limit := int64(32 << 10)
	if kind == "batch" {
		limit = 500 << 10
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil || int64(len(body)) > limit {
		writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "message": "payload too large"})
		return
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "message": "invalid JSON"})
		return
	}
	events := []map[string]any{doc}
	if kind == "batch" {
		batch, _ := doc["batch"].([]any)
		events = events[:0]
		for _, e := range batch {
			if m, ok := e.(map[string]any); ok {
				events = append(events, m)
			}
		}
	}
	s.mu.Lock()
	switch {
	case len(events) > 2500:
		s.dropped += len(events) // the whole batch is rejected, yet the answer is 200
	default:
		for _, e := range events {
			t, _ := e["type"].(string)
			if kind != "batch" {
				t = kind
			}
			uid, _ := e["userId"].(string)
			aid, _ := e["anonymousId"].(string)
			name, _ := e["event"].(string)
			if (uid == "" && aid == "") || (t == "track" && name == "") {
				s.dropped++
				continue
			}
			s.delivered++
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
}

// GA4 is a fake GA4 Measurement Protocol: /mp/collect answers 204 to everything and keeps only
// valid events; /debug/mp/collect answers validationMessages.
type GA4 struct {
	mu        sync.Mutex
	collected int
	dropped   int
}

// NewGA4 returns a fake GA4 Measurement Protocol endpoint.
func NewGA4() *GA4 { return &GA4{} }

// Counts returns how many events were kept and how many silently dropped.
func (g *GA4) Counts() (collected, dropped int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.collected, g.dropped
}

// ga4EventName is GA4's event-name rule: up to 40 letters, digits and underscores, starting
// with a letter.
var ga4EventName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,39}$`)

func (g *GA4) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	debug := r.URL.Path == "/debug/mp/collect"
	if r.URL.Path != "/mp/collect" && !debug {
		http.NotFound(w, r)
		return
	}
	var doc struct {
		ClientID      string `json:"client_id"`
		AppInstanceID string `json:"app_instance_id"`
		Events        []struct {
			Name string `json:"name"`
		} `json:"events"`
	}
	_, ok := readJSON(r, &doc)
	var msgs []any
	add := func(path, desc, code string) {
		msgs = append(msgs, map[string]string{"fieldPath": path, "description": desc, "validationCode": code})
	}
	switch {
	case !ok:
		add("", "Unable to parse the payload.", "VALUE_INVALID")
	case doc.ClientID == "" && doc.AppInstanceID == "":
		add("client_id", "Measurement requires a client_id.", "VALUE_REQUIRED")
	case len(doc.Events) > 25:
		add("events", "A request may contain at most 25 events.", "EXCEEDED_MAX_ENTITIES")
	}
	for i, e := range doc.Events {
		switch {
		case !ga4EventName.MatchString(e.Name):
			add("events", "Event at index: ["+strconv.Itoa(i)+"] has invalid name ["+e.Name+"]. Names must start with an alphabetic character.", "NAME_INVALID")
		case strings.HasPrefix(e.Name, "ga_") || strings.HasPrefix(e.Name, "google_") || strings.HasPrefix(e.Name, "firebase_"):
			add("events", "Event at index: ["+strconv.Itoa(i)+"] has name ["+e.Name+"] which is reserved.", "NAME_RESERVED")
		}
	}
	if debug {
		if msgs == nil {
			msgs = []any{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"validationMessages": msgs})
		return
	}
	g.mu.Lock()
	if len(msgs) > 0 || r.URL.Query().Get("api_secret") == "" {
		g.dropped += len(doc.Events)
	} else {
		g.collected += len(doc.Events)
	}
	g.mu.Unlock()
	// "The Measurement Protocol does not return HTTP error codes, even if an event is malformed."
	w.WriteHeader(http.StatusNoContent)
}
