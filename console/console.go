package console

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtguard/mtguard/inspect"
)

//go:embed assets templates
var files embed.FS

// Config is what the console needs.
type Config struct {
	// API is the admin API's handler; the console serves it under its own paths (/api/,
	// /metrics, /healthz, /readyz) and calls it in-process for every page and action.
	API http.Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SessionTTL is how long a sign-in lasts; zero means 12 hours.
	SessionTTL time.Duration
}

// Console serves the pages and hands the API's paths to the API.
type Console struct {
	api      http.Handler
	now      func() time.Time
	ttl      time.Duration
	pages    map[string]*template.Template
	static   http.Handler
	mux      *http.ServeMux
	mu       sync.Mutex
	sessions map[string]*session
	// tokens is set once the API has answered that it needs a token: that never changes while
	// it runs (tokens are read at start), and a page without a session then goes to sign-in
	// without asking the API again (each such ask would be a 401 in the server log).
	tokens atomic.Bool
}

// maxSessions bounds the session map: an attacker who can reach the sign-in form must not
// grow it without end (anonymous sessions are made on any GET of a loopback console).
const maxSessions = 10000

// session is one signed-in browser. The token stays here, never in the cookie or a page.
type session struct {
	id      string
	token   string // the admin token; "" on an API without tokens
	name    string
	role    string
	csrf    string
	expires time.Time
}

const cookieName = "mtguard_console"

// New returns the admin listener's handler: the console at / and the admin API at its paths.
func New(cfg Config) (*Console, error) {
	c := &Console{api: cfg.API, now: cfg.Now, ttl: cfg.SessionTTL, sessions: map[string]*session{}, pages: map[string]*template.Template{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.ttl == 0 {
		c.ttl = 12 * time.Hour
	}
	for _, p := range []string{"signin", "calls", "call", "edit", "lead", "routes", "alerts", "sunsets", "contracts", "error", "deliveries", "postmortem"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/rows.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", p, err)
		}
		c.pages[p] = t
	}
	assets, err := fs.Sub(files, "assets")
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	c.static = http.StripPrefix("/static/", http.FileServerFS(assets))
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /static/{file}", c.static.ServeHTTP) // files only, no listing
	m.HandleFunc("GET /signin", c.signinPage)
	m.HandleFunc("POST /signin", c.signin)
	m.HandleFunc("POST /signout", c.page(c.signout))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/calls", http.StatusSeeOther) })
	m.HandleFunc("GET /calls", c.page(c.calls))
	m.HandleFunc("GET /calls/rows", c.page(c.rows))
	m.HandleFunc("GET /calls/{id}", c.page(c.callPage))
	m.HandleFunc("GET /calls/{id}/export", c.page(c.export))
	m.HandleFunc("POST /calls/{id}/replay", c.page(c.replay))
	m.HandleFunc("GET /calls/{id}/edit", c.page(c.editPage))
	m.HandleFunc("POST /calls/{id}/edit", c.page(c.edit))
	m.HandleFunc("GET /lead", c.page(c.lead))
	m.HandleFunc("POST /lead/forget", c.page(c.forget))
	m.HandleFunc("GET /routes", c.page(c.routesPage))
	m.HandleFunc("GET /routes/{route}/chart.svg", c.page(c.chart))
	m.HandleFunc("GET /alerts", c.page(c.alerts))
	m.HandleFunc("POST /alerts/{id}/ack", c.page(c.ack))
	m.HandleFunc("GET /alerts/{id}/postmortem", c.page(c.postmortem))
	m.HandleFunc("GET /alerts/{id}/postmortem/{format}", c.page(c.postmortemFile))
	m.HandleFunc("GET /deliveries", c.page(c.deliveries))
	m.HandleFunc("POST /deliveries/retry", c.page(c.retryRoute))
	m.HandleFunc("POST /deliveries/{id}/retry", c.page(c.retryDelivery))
	m.HandleFunc("POST /deliveries/{id}/drop", c.page(c.dropDelivery))
	m.HandleFunc("GET /sunsets", c.page(c.sunsets))
	m.HandleFunc("GET /contracts", c.page(c.contracts))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", nil, view{Title: "Not found", Error: "There is no console page at " + r.URL.Path + "."})
	})
	c.mux = m
}

// isAPI reports whether path belongs to the admin API rather than the console.
func isAPI(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/api" || path == "/metrics" || path == "/healthz" || path == "/readyz"
}

// csp allows nothing inline: every script and style is a file of the console's own.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isAPI(r.URL.Path) {
		c.api.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

// apiError is a problem the admin API answered.
type apiError struct {
	Status int
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

func (e *apiError) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	return fmt.Sprintf("the admin API answered %d %s", e.Status, e.Title)
}

// call sends one request to the admin API in-process, as the browser's session: the same
// Host and remote address (so the API's loopback check and audit see the browser), and the
// session's token.
func (c *Console) call(r *http.Request, s *session, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, body)
	if err != nil {
		return err
	}
	req.Host, req.RemoteAddr = r.Host, r.RemoteAddr
	if s != nil && s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{h: http.Header{}}
	c.api.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 400 {
		e := &apiError{Status: rec.status}
		json.Unmarshal(rec.buf.Bytes(), e)
		return e
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = rec.buf.Bytes()
		return nil
	default:
		return json.Unmarshal(rec.buf.Bytes(), out)
	}
}

// recorder collects an in-process answer of the API.
type recorder struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.buf.Write(b)
}

type whoami struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Auth bool   `json:"auth"`
}

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// lookup returns the session of r's cookie, if it is one and has not expired.
func (c *Console) lookup(r *http.Request) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[ck.Value]
	if s == nil {
		return nil
	}
	if c.now().After(s.expires) {
		delete(c.sessions, s.id)
		return nil
	}
	return s
}

// newSession stores a session and sets its cookie.
func (c *Console) newSession(w http.ResponseWriter, r *http.Request, token string, who whoami) *session {
	s := &session{id: randomID(), token: token, name: who.Name, role: who.Role, csrf: randomID(), expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	now := c.now()
	for id, o := range c.sessions {
		if now.After(o.expires) {
			delete(c.sessions, id)
		}
	}
	for id := range c.sessions {
		if len(c.sessions) < maxSessions {
			break
		}
		delete(c.sessions, id) // full of live sessions: drop any; its holder signs in again
	}
	c.sessions[s.id] = s
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, Expires: s.expires})
	return s
}

func (c *Console) dropSession(w http.ResponseWriter, r *http.Request, s *session) {
	c.mu.Lock()
	delete(c.sessions, s.id)
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1})
}

type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// page wraps a console handler: it finds the session (or, on an API without tokens, makes
// an anonymous one), sends the browser to sign in when there is none, checks the CSRF token
// and origin of every POST, and renders an API error as a page with the API's status.
func (c *Console) page(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.lookup(r)
		var who whoami
		var err error
		if s == nil && c.tokens.Load() {
			err = &apiError{Status: http.StatusUnauthorized}
		} else {
			err = c.call(r, s, http.MethodGet, "/api/whoami", nil, &who)
		}
		if isStatus(err, http.StatusUnauthorized) || who.Auth {
			c.tokens.Store(true)
		}
		if ae, ok := err.(*apiError); ok && ae.Status == http.StatusUnauthorized && s != nil {
			c.dropSession(w, r, s) // the token is no longer one the server takes
			s = nil
		}
		switch {
		case err == nil && s == nil && !who.Auth:
			s = c.newSession(w, r, "", who)
		case err == nil && s != nil:
			// The name and role were set at sign-in, and a token's role cannot change while
			// mtguard runs (tokens are read at start): a session is never written after it is
			// made, since one browser loads several of its pages at once.
		case isStatus(err, http.StatusUnauthorized):
			if r.Method == http.MethodGet && r.URL.Path != "/calls/rows" {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.render(w, r, http.StatusUnauthorized, "error", nil, view{Title: "Sign in", Error: "Your session has ended: sign in again."})
			return
		default:
			c.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			if inspect.CrossSite(r) {
				c.render(w, r, http.StatusForbidden, "error", s, view{Title: "Refused", Error: "A page of another site may not act here."})
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
				c.render(w, r, http.StatusForbidden, "error", s, view{Title: "Refused", Error: "This form has expired or did not come from the console (CSRF token missing or wrong): reload the page and try again."})
				return
			}
		}
		if err := h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	}
}

func isStatus(err error, status int) bool {
	ae, ok := err.(*apiError)
	return ok && ae.Status == status
}

// fail renders err as an error page with the API's status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status := http.StatusBadGateway
	if ae, ok := err.(*apiError); ok {
		status = ae.Status
	}
	title := http.StatusText(status)
	if status == http.StatusForbidden {
		title = "Not allowed"
	}
	c.render(w, r, status, "error", s, view{Title: title, Error: err.Error()})
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string
	Error   string
	Notice  string
	Session *session
	CSRF    string
	Data    any
}

// CanAct reports whether the session's role may replay, edit and acknowledge.
func (v view) CanAct() bool {
	return v.Session != nil && (v.Session.role == "operator" || v.Session.role == "admin")
}

// IsAdmin reports whether the session's role may erase a record.
func (v view) IsAdmin() bool { return v.Session != nil && v.Session.role == "admin" }

// SignedIn reports whether there is a session with a token (one that can sign out).
func (v view) SignedIn() bool { return v.Session != nil && v.Session.token != "" }

// Who names the session's token and role for the header.
func (v view) Who() string {
	if v.Session == nil {
		return ""
	}
	return v.Session.name + " (" + v.Session.role + ")"
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, v view) {
	v.Session = s
	if s != nil {
		v.CSRF = s.csrf
	}
	t, tmpl := c.pages[name], "layout.html"
	if name == "rows" {
		t, tmpl = c.pages["calls"], "rows" // the Calls table's body alone
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, v); err != nil {
		http.Error(w, "the console could not render this page: "+template.HTMLEscapeString(err.Error()), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	var who whoami
	var err error = &apiError{Status: http.StatusUnauthorized}
	if !c.tokens.Load() {
		err = c.call(r, nil, http.MethodGet, "/api/whoami", nil, &who)
	}
	if err == nil {
		http.Redirect(w, r, "/calls", http.StatusSeeOther) // nothing to sign in to
		return
	}
	if !isStatus(err, http.StatusUnauthorized) {
		c.fail(w, r, nil, err)
		return
	}
	c.render(w, r, http.StatusOK, "signin", nil, view{Title: "Sign in", Data: safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a redirect after sign-in on the console: a path, never another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || isAPI(next) {
		return "/calls"
	}
	return next
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	if inspect.CrossSite(r) {
		c.render(w, r, http.StatusForbidden, "error", nil, view{Title: "Refused", Error: "A page of another site may not sign in here."})
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	var who whoami
	err := c.call(r, &session{token: token}, http.MethodGet, "/api/whoami", nil, &who)
	if token == "" || isStatus(err, http.StatusUnauthorized) {
		c.render(w, r, http.StatusUnauthorized, "signin", nil, view{Title: "Sign in", Error: "That token is not one this mtguard was started with (admin.tokens or admin.token_env). Ask whoever runs it for yours.", Data: next})
		return
	}
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if old := c.lookup(r); old != nil {
		c.dropSession(w, r, old)
	}
	c.newSession(w, r, token, who)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) error {
	c.dropSession(w, r, s)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}
