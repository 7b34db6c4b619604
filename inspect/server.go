package inspect

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/inspect/client"
	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// Transactions is the read side of the transaction log that the admin API serves.
// *store.Store satisfies it; tests use a fake.
type Transactions interface {
	// Get returns the transaction with id, or an error wrapping store.ErrNotFound.
	Get(ctx context.Context, id string) (txn.Transaction, error)
	// Query returns one page of matching transactions; a cursor the store did not issue is an
	// error wrapping store.ErrBadCursor.
	Query(ctx context.Context, q store.Query) (store.Page, error)
}

// The store is what main wires in; this fails to compile when the two drift apart.
var _ Transactions = (*store.Store)(nil)

// ServerConfig is what the admin API needs. Zero fields fall back to the stated defaults.
type ServerConfig struct {
	// Transactions is the log the API reads. It is required.
	Transactions Transactions
	// Token, when not empty, is a bearer token with the admin role, named "admin" (what
	// admin.token_env gives). Tokens are named tokens with their roles. Every /api/ request
	// must carry one of them; without any, the API is open (fit only for a loopback listener).
	Token  string
	Tokens []Token
	// AuditLog receives every state-changing request of a known token, and serves GET
	// /api/audit. If nil, nothing is audited and the endpoint is not served.
	AuditLog AuditLog
	// Ready reports whether the server can serve traffic, for /readyz. If nil, it is always ready.
	Ready func() error
	// Logger receives one line per API error. The zero Logger discards everything.
	Logger zerolog.Logger
	// Version is reported by /healthz.
	Version string
	// Replayer resends stored calls. If nil, the replay endpoints answer 501.
	Replayer Replayer
	// Reservations hold each replay chain for one replay at a time (main gives the store, so
	// the holds are in the transaction log). If nil, they are held in memory.
	Reservations Reservations
	// ReplayHold is the longest a replay may hold a chain: longer than any one call can last
	// (the longest route timeout plus max_wait). A holder that has not released its chain by
	// then is presumed stuck, and another replay may take it. Zero means DefaultReplayHold.
	ReplayHold time.Duration
	// Eraser erases a record's transactions. If nil, DELETE /api/records/{key} answers 501.
	Eraser Eraser
	// Alerts serves GET /api/health, GET /api/alerts and POST /api/alerts/{id}/ack. If nil,
	// those endpoints are not served.
	Alerts *alerts.Engine
	// Metrics serves GET /metrics (behind the token, when there is one). If nil, it is not served.
	Metrics http.Handler
	// Limits serves GET /api/limits. If nil, it is not served.
	Limits Limits
	// Drills serves /api/drills (mtguard drill). If nil, it is not served.
	Drills *DrillManager
	// Journeys serves GET /api/journeys and /api/journeys/{key}. If nil, they are not served.
	Journeys Journeys
	// Shapes serves GET /api/drift/{route}. If nil, it is not served.
	Shapes Shapes
	// Deliveries serves the delivery queue (deliveries.go). If nil, it is not served.
	Deliveries Deliveries
	// Sunsets lists the version sunsets the routes declare, for GET /api/sunsets. If nil,
	// it is not served.
	Sunsets func() []DeclaredSunset
	// Now is the clock that relative times such as since=24h count back from.
	// If nil, time.Now is used.
	Now func() time.Time
	// Backup streams a copy of the log for POST /api/backup. If nil, it is not served.
	Backup Backuper
	// Reloader reloads the config for POST /api/reload. If nil, it is not served.
	Reloader Reloader
}

// server holds the handlers of the admin API.
type server struct {
	txs     Transactions
	tokens  []credential // hashes of the tokens, so comparing leaks neither content nor length
	auth    bool
	ready   func() error
	log     zerolog.Logger
	version string
	now     func() time.Time
	replays *replays // nil without a Replayer
	eraser  Eraser
	alerts  *alerts.Engine // nil without an alert engine
	// limitsSrc is the throttler's view; nil without one.
	limitsSrc Limits
	// auditLog is nil without one.
	auditLog AuditLog
	drills   *DrillManager // nil without drills
	journeys Journeys      // nil without journeys
	shapes   Shapes        // nil without drift learning
	backuper Backuper      // nil without one
	reloader Reloader      // nil without one
	// deliveries is nil without a delivery queue.
	deliveries Deliveries
	sunsets    func() []DeclaredSunset // nil without one
}

// NewServer returns the admin API handler: the transaction log under /api/ and the health
// probes /healthz (liveness) and /readyz (readiness), which never need the token.
func NewServer(cfg ServerConfig) http.Handler {
	s := &server{
		txs:     cfg.Transactions,
		auth:    cfg.Token != "" || len(cfg.Tokens) > 0,
		ready:   cfg.Ready,
		log:     cfg.Logger,
		version: cfg.Version,
		now:     cfg.Now,
	}
	if s.ready == nil {
		s.ready = func() error { return nil }
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.eraser = cfg.Eraser
	s.auditLog = cfg.AuditLog
	tokens := cfg.Tokens
	if cfg.Token != "" {
		tokens = append([]Token{{Name: "admin", Role: RoleAdmin, Value: cfg.Token}}, tokens...)
	}
	for _, t := range tokens {
		// An empty token would let "Authorization: Bearer " in; it is left out, and the API
		// still needs a token.
		if t.Value != "" && t.Role != roleNone {
			s.tokens = append(s.tokens, credential{name: t.Name, role: t.Role, hash: sha256.Sum256([]byte(t.Value))})
		}
	}
	if cfg.Replayer != nil {
		s.replays = newReplays(cfg.Transactions, cfg.Replayer, cfg.Reservations, cfg.ReplayHold, s.now)
	}

	mux := http.NewServeMux()
	for _, e := range s.surface(cfg) {
		if e.role == roleNone {
			mux.HandleFunc(e.pattern, e.handler)
		} else {
			mux.HandleFunc(e.pattern, s.requireRole(e.role, e.handler))
		}
	}
	return noStore(s.sameOrigin(mux))
}

// endpoint is one pattern of the admin API with the least role that may use it; roleNone only
// for the probes and the catch-all outside /api/, which need no token.
type endpoint struct {
	pattern string
	role    Role
	handler http.HandlerFunc
}

// surface is the whole admin API, each endpoint with its role. A GET pattern also answers
// HEAD; the method-less twin of each API pattern turns other methods into a 405 problem
// rather than the mux's plain text. Reading stored calls in any form (JSON, HAR, curl) is a
// viewer's: HAR and curl are renderings of the same redacted record, which the CLI builds from
// the JSON anyway. Every state-changing endpoint needs operator or admin.
func (s *server) surface(cfg ServerConfig) []endpoint {
	open, api := roleNone, RoleViewer
	eps := []endpoint{
		{"GET /healthz", open, s.healthz},
		{"GET /readyz", open, s.readyz},
		{"GET /api/transactions", api, s.listTransactions},
		{"GET /api/transactions/{id}", api, s.getTransaction},
		{"POST /api/transactions/{id}/replay", RoleOperator, s.replayOne},
		{"POST /api/replays", RoleOperator, s.startReplay},
		{"GET /api/replays/{id}", api, s.getReplay},
		{"DELETE /api/records/{key}", RoleAdmin, s.forgetRecord},
		{"POST /api/transactions/{id}/replay-edit", RoleOperator, s.replayEdit},
		{"GET /api/whoami", api, s.whoami},
		{"/api/transactions", api, s.methodNotAllowed},
		{"/api/transactions/{id}", api, s.methodNotAllowed},
	}
	if cfg.Alerts != nil {
		s.alerts = cfg.Alerts
		eps = append(eps,
			endpoint{"GET /api/health", api, s.health},
			endpoint{"GET /api/alerts", api, s.listAlerts},
			endpoint{"GET /api/alerts/{id}", api, s.getAlert},
			endpoint{"POST /api/alerts/{id}/ack", RoleOperator, s.ackAlert},
			endpoint{"POST /api/alerts/test", RoleOperator, s.testSink},
			endpoint{"GET /api/postmortems", api, s.postmortem},
			endpoint{"/api/postmortems", api, s.methodNotAllowed},
			endpoint{"/api/health", api, s.methodNotAllowed},
			endpoint{"/api/alerts", api, s.methodNotAllowed},
			endpoint{"/api/alerts/{id}", api, s.methodNotAllowed},
			endpoint{"/api/alerts/{id}/ack", api, s.onlyPost},
		)
	}
	if cfg.Metrics != nil {
		eps = append(eps, endpoint{"GET /metrics", api, cfg.Metrics.ServeHTTP})
	}
	if cfg.Limits != nil {
		s.limitsSrc = cfg.Limits
		eps = append(eps, s.alone("GET", "/api/limits", api, s.limits)...)
	}
	if cfg.Drills != nil {
		// A drill breaks a route on purpose: an operator's call, like a replay.
		s.drills = cfg.Drills
		eps = append(eps,
			endpoint{"POST /api/drills", RoleOperator, s.startDrill},
			endpoint{"GET /api/drills", api, s.listDrills},
			endpoint{"GET /api/drills/{id}", api, s.getDrill},
			endpoint{"POST /api/drills/{id}/stop", RoleOperator, s.stopDrill},
			endpoint{"/api/drills", api, s.methodNotAllowed},
			endpoint{"/api/drills/{id}", api, s.methodNotAllowed},
			endpoint{"/api/drills/{id}/stop", api, s.onlyPost},
		)
	}
	if cfg.Sunsets != nil {
		s.sunsets = cfg.Sunsets
		eps = append(eps, s.alone("GET", "/api/sunsets", api, s.listSunsets)...)
	}
	if cfg.Deliveries != nil {
		s.deliveries = cfg.Deliveries
		eps = append(eps, s.deliveryEndpoints()...)
	}
	if cfg.AuditLog != nil {
		// The audit log is the check on what operators and admins did, and tells where each
		// token is used from: it is for admins.
		eps = append(eps, s.alone("GET", "/api/audit", RoleAdmin, s.listAudit)...)
	}
	eps = append(eps, s.journeyEndpoints(cfg)...)
	eps = append(eps, s.driftEndpoints(cfg)...)
	if cfg.Backup != nil {
		s.backuper = cfg.Backup
		eps = append(eps, s.alone("POST", "/api/backup", RoleOperator, s.backup)...)
	}
	if cfg.Reloader != nil {
		s.reloader = cfg.Reloader
		eps = append(eps, s.alone("POST", "/api/reload", RoleOperator, s.reload)...)
	}
	return append(eps,
		endpoint{"/api/", api, s.notFound},
		endpoint{"/", open, s.notFound},
	)
}

// alone is an endpoint that is the only method on its path, with its method-less twin (same
// role) answering other methods with a 405 problem: onlyPost for a POST, else methodNotAllowed.
func (s *server) alone(method, path string, role Role, h http.HandlerFunc) []endpoint {
	twin := s.methodNotAllowed
	if method == http.MethodPost {
		twin = s.onlyPost
	}
	return []endpoint{{method + " " + path, role, h}, {path, role, twin}}
}

// sameOrigin keeps web pages out. A page on any site can make a browser send requests to
// 127.0.0.1:9090: with DNS rebinding it can even read the answers, since the browser thinks
// they come from the page's own name. So a server without a token answers only requests
// addressed to this machine by a loopback name, and no server accepts a state-changing
// request that a browser marks as sent by a page of another origin. The CLI, curl and scripts
// send no Origin and are unaffected.
func (s *server) sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.auth && !loopbackHost(r.Host) {
			s.fail(w, r, problemf(errForeignHost, "this admin API has no token (admin.tokens), so it answers only requests addressed to localhost or a loopback address, not %q; set a token to serve it under another name", txn.Truncate(txn.Clean(r.Host, false), 100)))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions && CrossSite(r) {
			s.fail(w, r, problemf(errCrossSite, "a page of another site (Origin %q) may not %s here; use the mtguard CLI or the API without a browser", txn.Truncate(txn.Clean(r.Header.Get("Origin"), false), 100), r.Method))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether host (a Host header, with or without a port) names this
// machine: localhost, or a loopback IP address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CrossSite reports whether a browser says a page of another origin sent r: Sec-Fetch-Site
// when the browser sends it, else an Origin whose host differs from the request's. The web
// console asks it too, for its own forms.
func CrossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	case "same-origin", "none":
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

func (s *server) listTransactions(w http.ResponseWriter, r *http.Request) {
	q, err := decodeQuery(r.URL.Query(), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.txs.Query(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if page.Transactions == nil {
		page.Transactions = []txn.Transaction{}
	}
	if r.URL.Query().Get("format") == "har" {
		s.respond(w, http.StatusOK, NewHAR(page.Transactions, s.version))
		return
	}
	s.respond(w, http.StatusOK, page)
}

func (s *server) getTransaction(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tx, err := s.txs.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		err = problemf(err, "no transaction with id %s", id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch format := r.URL.Query().Get("format"); format {
	case "", "json":
		s.respond(w, http.StatusOK, tx)
	case "har":
		s.respond(w, http.StatusOK, NewHAR([]txn.Transaction{tx}, s.version))
	case "curl":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, Curl(tx)+"\n")
	default:
		s.fail(w, r, problemf(errBadRequest, "format %q must be json, har or curl", format))
	}
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	s.respond(w, http.StatusOK, map[string]string{"status": "ok", "version": s.version})
}

// readyz answers 503 while cfg.Ready fails. A probe that is not ready yet is not an API error,
// so it is not logged: orchestrators poll it every few seconds.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.ready(); err != nil {
		s.respond(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
		return
	}
	s.respond(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, problemf(errNoRoute, "no admin API endpoint at %s; see GET /api/transactions", r.URL.Path))
}

func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	s.fail(w, r, problemf(errMethod, "%s is read-only: use GET, not %s", r.URL.Path, r.Method))
}

// noStore marks every answer as uncacheable: transactions hold customer data and change state.
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// maxLimit is the largest page GET /api/transactions serves, and defaultLimit the page size
// when none is asked for; both match store.Query.
const (
	defaultLimit = 50
	maxLimit     = 1000
)

// decodeQuery reads and validates the query parameters of GET /api/transactions. Relative
// times count back from now.
func decodeQuery(v url.Values, now time.Time) (store.Query, error) {
	// An unknown parameter is refused rather than ignored: a typo such as email= instead of
	// record= would otherwise list every transaction as if they all matched.
	listParams := []string{"record", "route", "outcome", "finding", "status", "since", "until", "limit", "cursor", "order", "format", "caller"}
	for name := range v {
		if !slices.Contains(listParams, name) {
			return store.Query{}, problemf(errBadRequest, "unknown query parameter %q: use %s", name, strings.Join(listParams, ", "))
		}
	}
	q := store.Query{
		RecordKey: schemas.NormaliseKey(v.Get("record")),
		Route:     strings.TrimSpace(v.Get("route")),
		Outcome:   txn.Outcome(strings.TrimSpace(v.Get("outcome"))),
		Finding:   strings.TrimSpace(v.Get("finding")),
		Caller:    strings.TrimSpace(v.Get("caller")),
		Cursor:    v.Get("cursor"),
		Limit:     defaultLimit,
	}
	if st := v.Get("status"); st != "" {
		code, class, ok := client.ParseStatusFilter(st)
		if !ok {
			return store.Query{}, problemf(errBadRequest, "status %q must be an HTTP status code such as 502, or a class such as 4xx (1xx to 5xx)", st)
		}
		q.Status, q.StatusClass = code, class
	}
	switch f := v.Get("format"); f {
	case "", "json", "har":
	default:
		return store.Query{}, problemf(errBadRequest, "format %q must be json or har", f)
	}
	if q.Outcome != "" && !q.Outcome.Valid() {
		valid := make([]string, len(txn.Outcomes))
		for i, o := range txn.Outcomes {
			valid[i] = string(o)
		}
		return store.Query{}, problemf(errBadRequest, "outcome %q is not one of %s", q.Outcome, strings.Join(valid, ", "))
	}
	var err error
	if q.Since, err = parseTimeParam("since", v.Get("since"), now); err != nil {
		return store.Query{}, err
	}
	if q.Until, err = parseTimeParam("until", v.Get("until"), now); err != nil {
		return store.Query{}, err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return store.Query{}, problemf(errBadRequest, "since (%s) must be before until (%s)",
			q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return store.Query{}, problemf(errBadRequest, "limit %q must be a whole number from 1 to %d", s, maxLimit)
		}
		q.Limit = n
	}
	switch order := v.Get("order"); order {
	case "", "desc":
	case "asc":
		q.Ascending = true
	default:
		return store.Query{}, problemf(errBadRequest, "order %q must be asc (oldest first) or desc (newest first)", order)
	}
	return q, nil
}

// parseTimeParam reads since or until: either a Go duration counted back from now ("24h",
// "90m") or an RFC 3339 time ("2025-03-01T00:00:00Z"). Empty means no bound.
func parseTimeParam(name, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, problemf(errBadRequest, "%s %q must be a positive duration back from now", name, s)
		}
		return now.Add(-d), nil
	}
	// A "+" in an unescaped query string arrives as a space; put the zone offset back.
	t, err := time.Parse(time.RFC3339, strings.ReplaceAll(s, " ", "+"))
	if err != nil {
		return time.Time{}, problemf(errBadRequest,
			"%s %q must be a duration back from now like 24h or 90m, or an RFC 3339 time like 2025-03-01T00:00:00Z", name, s)
	}
	return t, nil
}
