package inspect

import (
	"context"
	"net/http"
	"net/url"

	"github.com/mtguard/mtguard/journeys"
)

// Journeys answers for records on their journeys across routes. main gives the journeys
// engine.
type Journeys interface {
	// Lookup returns key's progress on every journey it entered.
	Lookup(ctx context.Context, key string) ([]journeys.Record, error)
	// Stuck returns the records lost in transit (journey "" for all).
	Stuck(journey string) []journeys.Record
	// InTransit returns the records in flight, not yet due.
	InTransit(journey string) []journeys.Record
	// Known fails for a journey name that is not configured.
	Known(journey string) error
	// Settle brings the journeys up to date with every call recorded so far.
	Settle(ctx context.Context) error
}

// JourneyAnswer is the answer of GET /api/journeys/{key}.
type JourneyAnswer struct {
	Key      string            `json:"key"`
	Journeys []journeys.Record `json:"journeys"`
}

// JourneyList is the answer of GET /api/journeys.
type JourneyList struct {
	Records []journeys.Record `json:"records"`
}

func (s *server) journeyEndpoints(cfg ServerConfig) []endpoint {
	list, one := s.listJourneys, s.getJourney
	if cfg.Journeys == nil {
		list = s.noJourneys
		one = s.noJourneys
	}
	s.journeys = cfg.Journeys
	return []endpoint{
		{"GET /api/journeys", RoleViewer, list},
		{"GET /api/journeys/{key}", RoleViewer, one},
		{"/api/journeys", RoleViewer, s.methodNotAllowed},
		{"/api/journeys/{key}", RoleViewer, s.methodNotAllowed},
	}
}

// noJourneys answers the journeys endpoints of a server whose config has no journeys.
func (s *server) noJourneys(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, problemf(errNotConfigured, "no journeys are configured: add a journeys: list to the config (see docs/journeys.md)"))
}

// getJourney answers GET /api/journeys/{key}: each journey the record entered, step by step.
func (s *server) getJourney(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if err := s.journeys.Settle(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	rs, err := s.journeys.Lookup(r.Context(), key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, http.StatusOK, JourneyAnswer{Key: key, Journeys: rs})
}

// listJourneys answers GET /api/journeys?state=lost|in_transit&journey=J: the records lost in
// transit (state=lost) or still in transit.
func (s *server) listJourneys(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	j := q.Get("journey")
	if err := s.journeys.Known(j); err != nil {
		s.fail(w, r, problemf(errBadRequest, "%v", err))
		return
	}
	if err := s.journeys.Settle(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	switch q.Get("state") {
	case journeys.StateLost:
		s.respond(w, http.StatusOK, JourneyList{Records: s.journeys.Stuck(j)})
	case journeys.StateInTransit, "":
		s.respond(w, http.StatusOK, JourneyList{Records: s.journeys.InTransit(j)})
	default:
		s.fail(w, r, problemf(errBadRequest, "state=%s: write lost or in_transit", q.Get("state")))
	}
}

// Journey returns key's progress on every journey it entered (GET /api/journeys/{key}).
func (c *Client) Journey(ctx context.Context, key string) (JourneyAnswer, error) {
	var a JourneyAnswer
	err := c.get(ctx, "/api/journeys/"+url.PathEscape(key), nil, &a)
	return a, err
}

// JourneyRecords returns the records lost in transit (stuck) or in transit, of one journey or
// all (GET /api/journeys).
func (c *Client) JourneyRecords(ctx context.Context, journey string, stuck bool) ([]journeys.Record, error) {
	v := url.Values{}
	if journey != "" {
		v.Set("journey", journey)
	}
	v.Set("state", journeys.StateInTransit)
	if stuck {
		v.Set("state", journeys.StateLost)
	}
	var l JourneyList
	err := c.get(ctx, "/api/journeys", v, &l)
	if l.Records == nil {
		l.Records = []journeys.Record{}
	}
	return l.Records, err
}
