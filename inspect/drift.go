package inspect

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mtguard/mtguard/drift"
)

// Shapes answers for the payload shapes the routes with drift: learn. main gives the learner.
type Shapes interface {
	// Shape returns route's learned shape; false when it has seen no call yet.
	Shape(route string) (drift.Shape, bool)
	// Routes lists the routes that learn a shape.
	Routes() []string
	// Settle brings the shapes up to date with every call recorded so far.
	Settle(ctx context.Context) error
}

func (s *server) driftEndpoints(cfg ServerConfig) []endpoint {
	get := s.getShape
	if cfg.Shapes == nil {
		get = func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, r, problemf(errNotConfigured, "no route learns its payload shape: give the route a drift: {learn: 7d} block (see docs/journeys.md)"))
		}
	}
	s.shapes = cfg.Shapes
	return s.alone("GET", "/api/drift/{route}", RoleViewer, get)
}

// getShape answers GET /api/drift/{route}: the learned shape and the changes seen since.
func (s *server) getShape(w http.ResponseWriter, r *http.Request) {
	route := r.PathValue("route")
	if !slices.Contains(s.shapes.Routes(), route) {
		s.fail(w, r, problemf(errNotConfigured, "route %q has no drift: block (routes that learn a shape: %s)", route, strings.Join(s.shapes.Routes(), ", ")))
		return
	}
	if err := s.shapes.Settle(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	sh, ok := s.shapes.Shape(route)
	if !ok {
		sh = drift.Shape{Route: route, Fields: map[string]*drift.Field{}, Changes: []drift.Change{}}
	}
	s.respond(w, http.StatusOK, sh)
}

// Shape returns route's learned payload shape (GET /api/drift/{route}).
func (c *Client) Shape(ctx context.Context, route string) (drift.Shape, error) {
	var sh drift.Shape
	err := c.get(ctx, "/api/drift/"+url.PathEscape(route), nil, &sh)
	return sh, err
}
