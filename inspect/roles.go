package inspect

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
)

// Role is what an admin token may do. Each role may do what the roles below it may.
type Role int

// The roles, least allowed first. The zero Role is no role: every endpoint must name one.
const (
	roleNone Role = iota
	// RoleViewer reads: transactions (bodies as stored, redacted; as JSON, HAR or curl),
	// replay jobs, alerts, health, limits, metrics.
	RoleViewer
	// RoleOperator also resends calls and acknowledges alerts.
	RoleOperator
	// RoleAdmin also erases records and reads the audit log.
	RoleAdmin
)

// String is the role's name as the config writes it.
func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole reads a role's name (viewer, operator, admin).
func ParseRole(s string) (Role, bool) {
	for _, r := range []Role{RoleViewer, RoleOperator, RoleAdmin} {
		if r.String() == s {
			return r, true
		}
	}
	return roleNone, false
}

// Token is one bearer token the admin API accepts: its name (what the audit log and replayed
// calls record), its role, and the token itself.
type Token struct {
	Name  string
	Role  Role
	Value string
}

// credential is a token as the server keeps it: the hash of its value, so that comparing
// leaks neither its content nor its length.
type credential struct {
	name string
	role Role
	hash [sha256.Size]byte
}

// Actor is who sent an admin request: the token's name and role.
type Actor struct {
	Name string
	Role Role
}

// anonymous is the actor of every request to an admin API without tokens (loopback only):
// whoever can reach it may do anything.
var anonymous = Actor{Name: "anonymous", Role: RoleAdmin}

type actorKey struct{}

// actorOf returns who sent r (set by requireRole).
func actorOf(r *http.Request) Actor {
	if a, ok := r.Context().Value(actorKey{}).(Actor); ok {
		return a
	}
	return anonymous
}

// authenticate finds the token presented among the server's. Every token is compared, in
// constant time and without branching on the result, so the time taken says nothing about
// which token (if any) was close.
func (s *server) authenticate(presented string) (Actor, bool) {
	got := sha256.Sum256([]byte(presented))
	match, idx := 0, 0
	for i := range s.tokens {
		eq := subtle.ConstantTimeCompare(got[:], s.tokens[i].hash[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		match |= eq
	}
	if match != 1 || presented == "" {
		return Actor{}, false
	}
	c := s.tokens[idx]
	return Actor{Name: c.name, Role: c.role}, true
}

// requireRole lets a request through only with "Authorization: Bearer <token>" of a token
// whose role is at least min, when the server has tokens. The scheme is case-insensitive (RFC
// 9110, section 11.1). A request that may change something (any method but GET, HEAD and
// OPTIONS) from a known token is written to the audit log with its outcome, refusals (403)
// included; one without a valid token is not: anyone can send those, and they must not grow
// the store.
func (s *server) requireRole(min Role, next http.HandlerFunc) http.HandlerFunc {
	if min == roleNone {
		panic("inspect: an admin endpoint without a role")
	}
	return func(w http.ResponseWriter, r *http.Request) {
		actor := anonymous
		if s.auth {
			scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			switch {
			case scheme == "":
				s.fail(w, r, problemf(errNoToken, "this admin API needs a token: send Authorization: Bearer <token>"))
				return
			case !strings.EqualFold(scheme, "Bearer"):
				// The scheme is not echoed: a caller that sent the bare token would see it in the answer.
				s.fail(w, r, problemf(errNoToken, "this admin API takes a bearer token: send Authorization: Bearer <token>"))
				return
			}
			var ok bool
			if actor, ok = s.authenticate(strings.TrimSpace(token)); !ok {
				s.fail(w, r, problemf(errBadToken, "the bearer token is not one this server was started with"))
				return
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), actorKey{}, actor))
		if !changes(r.Method) || s.auditLog == nil {
			s.allow(w, r, actor, min, next)
			return
		}
		note := &auditNote{target: auditTarget(r)}
		r = r.WithContext(context.WithValue(r.Context(), auditKey{}, note))
		sw := &statusWriter{ResponseWriter: w}
		s.allow(sw, r, actor, min, next)
		s.audit(r, actor, note, sw.status)
	}
}

// allow runs next when actor's role is at least min, else answers 403 naming the role needed.
func (s *server) allow(w http.ResponseWriter, r *http.Request, actor Actor, min Role, next http.HandlerFunc) {
	if actor.Role < min {
		what := r.Method + " " + endpointOf(r)
		s.fail(w, r, problemf(errForbidden, "the token %q has the role %s, which may not %s: that needs the %s role%s", actor.Name, actor.Role, what, min, orAbove(min)))
		return
	}
	next(w, r)
}

func orAbove(r Role) string {
	if r < RoleAdmin {
		return " or above"
	}
	return ""
}

// changes reports whether a method may change state.
func changes(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// endpointOf is the pattern the request matched, without its method: the endpoint, never the
// path itself (DELETE /api/records/{key} would put a record key in the log).
func endpointOf(r *http.Request) string {
	p := r.Pattern
	if _, rest, ok := strings.Cut(p, " "); ok {
		p = rest
	}
	if p == "" {
		p = "/api/"
	}
	return p
}

// auditNote is what a handler adds to its audit entry: parameters and what it made.
type auditNote struct {
	target string
	params map[string]string
	result string
}

type auditKey struct{}

// noteAudit returns the audit note of r, or a throwaway one when r is not audited.
func noteAudit(r *http.Request) *auditNote {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		return n
	}
	return &auditNote{}
}

// param sets one audit parameter; empty values are left out.
func (n *auditNote) param(name, value string) {
	if value == "" || value == "0" || value == "false" {
		return
	}
	if n.params == nil {
		n.params = map[string]string{}
	}
	n.params[name] = value
}

// auditTarget is what a request is about, from its path: an id, or a record key's hash.
func auditTarget(r *http.Request) string {
	if id := r.PathValue("id"); id != "" {
		return id
	}
	if key := r.PathValue("key"); key != "" {
		return hashKey(key)
	}
	return ""
}

// hashKey stands for a record key in the audit log: "sha256:" and the first 16 hex digits of
// the SHA-256 of the key as the store normalises it. Whoever has an address can tell whether
// it was erased; the log alone does not give it away.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(schemas.NormaliseKey(key)))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// audit writes one entry. The answer is sent already, so a write that fails can only be logged.
func (s *server) audit(r *http.Request, actor Actor, note *auditNote, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	e := store.AuditEntry{
		Time: s.now(), Actor: actor.Name, Role: actor.Role.String(), Method: r.Method,
		Endpoint: endpointOf(r), Target: note.target, Params: note.params, Remote: r.RemoteAddr,
		Status: status, Result: note.result,
	}
	if _, err := s.auditLog.AppendAudit(e); err != nil {
		s.log.Error().Err(err).Str("actor", actor.Name).Str("method", r.Method).Str("endpoint", e.Endpoint).Int("status", status).Msg("admin API: the audit log could not be written")
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
