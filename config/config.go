package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/vendors"
	"github.com/mtguard/mtguard/yamlstrict"
)

// Defaults applied by Parse to keys the file leaves out (or sets to null).
const (
	// DefaultListen is the data-plane address; loopback so a fresh install is not an open relay.
	DefaultListen = "127.0.0.1:8080"
	// DefaultAdminListen is the admin API address; loopback so it needs no token out of the box.
	DefaultAdminListen = "127.0.0.1:9090"
	// DefaultStorePath is the bbolt file; Load resolves it against the config file's directory.
	DefaultStorePath = "./mtguard.db"
	// DefaultRetention is how long transactions are kept: 30 days covers a monthly reconciliation.
	DefaultRetention = 720 * time.Hour
	// DefaultMaxBody is the largest request body the proxy accepts; bigger ones get 413.
	DefaultMaxBody int64 = 10 * mebibyte
	// DefaultCaptureBody is how many bytes of each body are kept in the log; when max_body is
	// set below it and capture_body is not set, max_body is used instead.
	DefaultCaptureBody int64 = 1 * mebibyte
	// DefaultOnError is what the proxy does when the store cannot record a call.
	DefaultOnError = OnErrorForward
	// DefaultRouteTimeout is how long a route waits for the vendor's response headers.
	DefaultRouteTimeout = 30 * time.Second
)

// Values of store.on_error.
const (
	// OnErrorForward sends the call to the vendor even when it could not be recorded:
	// losing a log line is better than losing a lead.
	OnErrorForward = "forward"
	// OnErrorReject answers 503 instead, for setups where every call must be auditable.
	OnErrorReject = "reject"
)

const mebibyte = 1 << 20

// Config is mtguard's configuration as loaded from YAML, with defaults applied.
type Config struct {
	// Listen is the data-plane address. Default DefaultListen.
	Listen string
	// TLS is the data plane's certificate and key (tls.go); nil for plain HTTP.
	TLS    *TLS
	Admin  Admin
	Store  Store
	Redact Redact
	// Routes has at least one entry; prefixes are unique and do not overlap.
	Routes []Route
	// Forward is the forward proxy (config_forward.go); off when the file has no forward: block.
	Forward Forward
	// Alerts are the alert sinks and reminder interval (config_alerts.go).
	Alerts Alerts
	// Journeys are the record journeys across routes (journeys.go).
	Journeys []Journey
	// File is the path the config was loaded from, "" when parsed from bytes.
	File string
	// SharedLimits shares the limit groups' budgets between instances (shared_limits.go);
	// nil without limits.shared.
	SharedLimits *SharedLimits
}

// Admin configures the control plane.
type Admin struct {
	// Listen is the admin API address. Default DefaultAdminListen.
	Listen string
	// TokenEnv names the environment variable holding the admin bearer token. It is required
	// when Listen is not loopback; Parse checks the name, not whether the variable is set.
	// Its token has the admin role. Not set together with Tokens.
	TokenEnv string
	// TLS is the admin API's certificate and key (tls.go); nil for plain HTTP.
	TLS *TLS
	// Tokens are named bearer tokens, each with a role (tokens.go).
	Tokens []Token
}

// Store configures the transaction log.
type Store struct {
	// Path is the bbolt file. Default DefaultStorePath; Load makes a relative path
	// relative to the config file's directory, Parse leaves it as written.
	Path string
	// Retention is how long transactions are kept; always > 0. Default DefaultRetention.
	Retention time.Duration
	// MaxBody is the largest accepted request body in bytes; always > 0. Default DefaultMaxBody.
	MaxBody int64
	// CaptureBody is how many bytes of each body are stored, 0 <= CaptureBody <= MaxBody;
	// 0 (written explicitly) stores no body. Default DefaultCaptureBody, or MaxBody if smaller.
	CaptureBody int64
	// OnError is OnErrorForward or OnErrorReject. Default DefaultOnError.
	OnError string
	// Encrypt, if set, encrypts stored headers and bodies (encrypt.go).
	Encrypt *Encrypt
	// Backend is StoreBBolt, StorePostgres or empty (bbolt, the default); DSNEnv names the environment
	// variable holding the PostgreSQL connection string (store_backend.go).
	Backend string
	DSNEnv  string
	// SpoolDir is the folder of the PostgreSQL backend's spool file (SpoolFile), where writes
	// wait while PostgreSQL does not answer. Default: store.path's folder; Load makes a
	// relative folder relative to the config file's directory.
	SpoolDir string
}

// SpoolFile is the name of the spool file in Store.SpoolDir.
const SpoolFile = "mtguard-spool.db"

// SpoolPath is the PostgreSQL backend's spool file: in SpoolDir, or beside Path.
func (s Store) SpoolPath() string {
	dir := s.SpoolDir
	if dir == "" {
		dir = filepath.Dir(s.Path)
	}
	return filepath.Join(dir, SpoolFile)
}

// Redact lists names redacted in addition to the built-in lists. Names are kept as
// written; they are meant to be matched case-insensitively.
type Redact struct {
	Headers []string
	Query   []string
	// Fields are JSON or form field names whose values are redacted in stored bodies.
	Fields []string
}

// Route maps a path prefix to a vendor.
type Route struct {
	// Name is unique and matches ^[a-z0-9][a-z0-9_-]*$.
	Name string
	// Prefix starts with "/", has no trailing "/" and is not a path-segment prefix of another
	// route's; "" for a route reached only through the forward proxy (then Host is set).
	Prefix string
	// Host is the vendor host[:port] the forward proxy intercepts for this route, lower case;
	// "" for a reverse-only route. Unique among routes (config_forward.go).
	Host string
	// Upstream is the vendor base URL as written: absolute http(s), with a host, no query or fragment.
	Upstream string
	// Owner is who to tell when this route misbehaves; optional.
	Owner string
	// RecordKeys are paths accepted by schemas.ParseKeyPath.
	RecordKeys []string
	// Timeout bounds the wait for the vendor's response headers; always > 0. Default DefaultRouteTimeout.
	Timeout time.Duration
	// Auth is a vendor credential mtguard holds for the route (used to resend calls); nil if none.
	Auth *Auth
	// Callers are who may use the route (callers.go); empty lets anyone who reaches the listener.
	Callers []Caller
	// Contracts are the JSON Schemas pinned to the route's calls (config_contracts.go).
	Contracts Contracts
	// Alerts are the route's alert rules and sinks, defaults applied (config_alerts.go).
	Alerts RouteAlerts
	// Preset names the route's vendor preset; "" for none (config_presets.go).
	Preset string
	// Vendor is the preset with the route's versions, outcomes and limits applied: version
	// rules, outcome rules and the documented limits the throttler reads. Nil when the route
	// has neither a preset nor rules of its own.
	Vendor *vendors.Preset
	// NoDrills refuses drills on the route (drills: false): mtguard drill start is refused.
	NoDrills bool
	// Drift, if set, learns the route's payload shape and flags changes (journeys.go).
	Drift *Drift
	// Verify, if set, reads delivered records back from the vendor (verify.go).
	Verify *Verify
	// Delivery is the route's delivery block (delivery.go); nil sends inline without retries.
	Delivery *Delivery
	// Line is the line of the route's item in the config file, for messages about the route.
	Line int
	// limitsLine and limitsKey say where the route's limits group is written, for messages
	// about the group (config_limits.go).
	limitsLine int
	limitsKey  string
}

// Error lists every problem found in a config file, sorted by line.
type Error struct {
	// Name is the file name used in messages.
	Name     string
	Problems []Problem
}

// Problem is one mistake in a config file: its line (0 when the YAML parser gave none), the
// key path (routes[0].upstream; "" when it is not about a key) and what to do.
type Problem = yamlstrict.Problem

// Error prints one "file:line: key: msg" line per problem.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Name)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Key != "" {
			b.WriteString(p.Key)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// Load reads and parses the config file at path. A relative store.path (including the
// default) is resolved against the file's directory, so the database does not move when
// mtguard is started from another working directory. The TLS files (tls, admin.tls) are
// resolved the same way and must load (tls.go); Parse does not read them.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	cfg.File = path
	cfg.Forward.resolve(filepath.Dir(path))
	if !filepath.IsAbs(cfg.Store.Path) {
		cfg.Store.Path = filepath.Join(filepath.Dir(path), cfg.Store.Path)
	}
	if cfg.Store.SpoolDir != "" && !filepath.IsAbs(cfg.Store.SpoolDir) {
		cfg.Store.SpoolDir = filepath.Join(filepath.Dir(path), cfg.Store.SpoolDir)
	}
	resolveContractPaths(cfg.Routes, filepath.Dir(path))
	if err := loadTLSFiles(path, cfg, filepath.Dir(path)); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse parses a config file's contents and applies defaults. name is used in messages
// only. On failure the error is a *Error listing every problem found.
func Parse(name string, data []byte) (*Config, error) {
	p := configParser{Reader: yamlstrict.Reader{DuplicateLine: true}}
	cfg := p.parse(data)
	if len(p.Problems) > 0 {
		p.Problems.SortByLine()
		return nil, &Error{Name: name, Problems: p.Problems}
	}
	return cfg, nil
}

// routeNameRE keeps route names usable in URLs, metric labels and CLI arguments unquoted.
var routeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// envNameRE is what a POSIX shell accepts as a variable name.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// EnvName reports whether s is a variable name the config accepts (what a POSIX shell does):
// serve --env-file reads its names by the same rule.
func EnvName(s string) bool { return envNameRE.MatchString(s) }

// configParser reads the config file's YAML with the strict reader, which collects problems
// instead of stopping at the first, so one run of check-config shows everything to fix; the
// methods here know the config's keys.
type configParser struct {
	yamlstrict.Reader
}

func (p *configParser) parse(data []byte) *Config {
	root := p.Decode(data, "the file is empty; it needs at least a routes: list (each route has name, prefix and upstream)")
	if root == nil {
		return nil
	}
	top, ok := p.Mapping(root, "", "listen", "admin", "store", "redact", "routes", "forward", "alerts", "tls", "limits", "journeys")
	if !ok {
		return nil
	}
	cfg := &Config{
		Listen: p.Addr(top.Get("listen"), "listen", DefaultListen),
		Admin:  p.admin(top.Get("admin")),
		Store:  p.store(top.Get("store")),
		Redact: p.redact(top.Get("redact")),
		Routes: p.routes(top.Get("routes")),
	}
	p.checkLimitGroups(cfg.Routes)
	cfg.Forward = p.forward(top.Get("forward"))
	cfg.Alerts = p.alerts(top.Get("alerts"), cfg.Routes)
	cfg.Journeys = p.journeys(top.Get("journeys"), cfg.Routes)
	p.checkForward(cfg, top)
	p.checkHeldCredentials(cfg)
	p.tlsBlocks(cfg, top)
	p.checkCallersRequired(cfg)
	cfg.SharedLimits = p.sharedLimits(top.Get("limits"))
	// Port 0 picks a free port per listener, so two ":0" addresses do not collide.
	if cfg.Admin.Listen == cfg.Listen && !strings.HasSuffix(cfg.Listen, ":0") {
		switch n := yamlstrict.Deref(yamlstrict.Lookup(top.Get("admin"), "listen")); {
		case n == nil:
			p.Addf(top.Get("listen").Line, "listen", "%q is also the default admin.listen; pick another port or set admin.listen", cfg.Listen)
		case n.Value == cfg.Admin.Listen: // Otherwise admin.listen was invalid and is reported already.
			p.Addf(n.Line, "admin.listen", "%q is also the data-plane listen address; give the admin API its own port", cfg.Admin.Listen)
		}
	}
	return cfg
}

// duration reads a store's or a route's duration, def when absent or invalid (reported). It is
// not the strict reader's Duration: config's messages tell "not a duration" from "not greater
// than zero", and give config's own examples.
func (p *configParser) duration(n *yaml.Node, key string, def time.Duration) time.Duration {
	s, ok := p.Str(n, key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.Addf(n.Line, key, "%q is not a duration (write Go syntax like 720h or 30m)", s)
		return def
	}
	if d <= 0 {
		p.Addf(n.Line, key, "%q must be greater than zero", s)
		return def
	}
	return d
}

func (p *configParser) admin(n *yaml.Node) Admin {
	a := Admin{Listen: DefaultAdminListen}
	f, _ := p.Mapping(n, "admin", "listen", "token_env", "tokens", "tls")
	a.Listen = p.Addr(f.Get("listen"), "admin.listen", DefaultAdminListen)
	tokenSet := false
	if s, ok := p.Str(f.Get("token_env"), "admin.token_env"); ok {
		tokenSet = true
		if envNameRE.MatchString(s) {
			a.TokenEnv = s
		} else {
			p.Addf(f.Get("token_env").Line, "admin.token_env", "%q is not an environment variable name; write the variable's name (e.g. MTGUARD_ADMIN_TOKEN), not the token", s)
		}
	}
	a.Tokens = p.tokens(f.Get("tokens"), f.Get("token_env"))
	// Anyone who can reach the admin API can read every recorded body, so leaving loopback
	// needs a token. Whether the variable is set is checked at startup, not here.
	if !tokenSet && !yamlstrict.Given(f.Get("tokens")) && !isLoopback(a.Listen) {
		p.Addf(f.Get("listen").Line, "admin.listen", "%q is reachable from other hosts, so admin.tokens or admin.token_env is required (the env vars holding the admin API's bearer tokens)", a.Listen)
	}
	return a
}

// isLoopback reports whether a listen address only accepts local connections. An empty host
// binds every interface, so it is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (p *configParser) store(n *yaml.Node) Store {
	s := Store{
		Path:        DefaultStorePath,
		Retention:   DefaultRetention,
		MaxBody:     DefaultMaxBody,
		CaptureBody: DefaultCaptureBody,
		OnError:     DefaultOnError,
	}
	f, _ := p.Mapping(n, "store", "path", "retention", "max_body", "capture_body", "on_error", "encrypt", "backend", "dsn_env", "spool_dir")
	s.Encrypt = p.encrypt(f.Get("encrypt"))
	p.storeBackend(f, &s)
	if v, ok := p.Str(f.Get("path"), "store.path"); ok {
		if strings.TrimSpace(v) == "" {
			p.Addf(f.Get("path").Line, "store.path", "empty path; remove the key for the default %s", DefaultStorePath)
		} else {
			s.Path = v
		}
	}
	s.Retention = p.duration(f.Get("retention"), "store.retention", DefaultRetention)

	maxOK := !yamlstrict.Given(f.Get("max_body"))
	if v, ok := p.Size(f.Get("max_body"), "store.max_body"); ok {
		if v <= 0 {
			p.Addf(f.Get("max_body").Line, "store.max_body", "must be greater than zero")
		} else {
			s.MaxBody, maxOK = v, true
		}
	}
	if v, ok := p.Size(f.Get("capture_body"), "store.capture_body"); ok {
		s.CaptureBody = v
		// Comparing against a max_body that failed to parse would add a bogus second problem.
		if maxOK && v > s.MaxBody {
			p.Addf(f.Get("capture_body").Line, "store.capture_body", "%q is more than max_body (%d bytes); lower capture_body or raise max_body", f.Get("capture_body").Value, s.MaxBody)
		}
	} else if !yamlstrict.Given(f.Get("capture_body")) {
		// A small max_body alone should not force the user to also lower capture_body.
		s.CaptureBody = min(s.CaptureBody, s.MaxBody)
	}

	if v, ok := p.Str(f.Get("on_error"), "store.on_error"); ok {
		if v == OnErrorForward || v == OnErrorReject {
			s.OnError = v
		} else {
			p.Addf(f.Get("on_error").Line, "store.on_error", "%q is not an option (write %s or %s)", v, OnErrorForward, OnErrorReject)
		}
	}
	return s
}

func (p *configParser) redact(n *yaml.Node) Redact {
	f, _ := p.Mapping(n, "redact", "headers", "query", "fields")
	return Redact{
		Headers: p.StrList(f.Get("headers"), "redact.headers"),
		Query:   p.StrList(f.Get("query"), "redact.query"),
		Fields:  p.StrList(f.Get("fields"), "redact.fields"),
	}
}

// claim is the first route to use a name or prefix, kept to name it in later messages.
type claim struct {
	value, route string
	line         int
}

// routeSet accumulates what earlier routes used, for the uniqueness checks.
type routeSet struct {
	names, prefixes []claim
}

func (p *configParser) routes(n *yaml.Node) []Route {
	n = yamlstrict.Deref(n)
	if !yamlstrict.Present(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0) {
		line := 1
		if n != nil {
			line = n.Line
		}
		p.Addf(line, "routes", "at least one route is required (add a routes: list; each route has name, prefix and upstream)")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.Addf(n.Line, "routes", `expected a list of routes (items starting with "- name: ..."), found %s`, yamlstrict.Describe(n))
		return nil
	}
	var set routeSet
	var out []Route
	for i, item := range n.Content {
		if r, ok := p.route(routeKey(i), yamlstrict.Deref(item), &set); ok {
			out = append(out, r)
		}
	}
	return out
}

func (p *configParser) route(rk string, item *yaml.Node, set *routeSet) (Route, bool) {
	if item.Kind != yaml.MappingNode {
		p.Addf(item.Line, rk, "expected a route (a mapping with name, prefix, upstream, ...), found %s", yamlstrict.Describe(item))
		return Route{}, false
	}
	f, _ := p.Mapping(item, rk, "name", "prefix", "upstream", "owner", "record_keys", "timeout", "auth", "contracts", "host", "alerts", "preset", "versions", "outcomes", "limits", "callers", "drills", "drift", "verify", "delivery")
	r := Route{Line: item.Line}
	preset := p.routePreset(f, rk)

	if v, ok := p.Str(f.Get("name"), rk+".name"); ok {
		line := f.Get("name").Line
		if !routeNameRE.MatchString(v) {
			p.Addf(line, rk+".name", "%q is not a route name (use lowercase letters, digits, _ and -, starting with a letter or digit, e.g. crm)", v)
		} else if i := slices.IndexFunc(set.names, func(c claim) bool { return c.value == v }); i >= 0 {
			p.Addf(line, rk+".name", "%q is already used by the route on line %d; give each route its own name", v, set.names[i].line)
		} else {
			set.names = append(set.names, claim{value: v, route: v, line: line})
		}
		r.Name = v
	} else if !yamlstrict.Given(f.Get("name")) {
		p.Addf(item.Line, rk, "name is required (a short id like crm, used in logs and the admin API)")
	}

	r.Host = p.routeHost(f.Get("host"), rk+".host")
	hostSet := yamlstrict.Given(f.Get("host"))

	if v, ok := p.Str(f.Get("prefix"), rk+".prefix"); ok {
		line := f.Get("prefix").Line
		if msg := checkPrefix(v); msg != "" {
			p.Addf(line, rk+".prefix", "%q %s", v, msg)
		} else if c, same, clash := prefixClash(set.prefixes, v); !clash {
			set.prefixes = append(set.prefixes, claim{value: v, route: r.Name, line: line})
		} else if same {
			p.Addf(line, rk+".prefix", "%q is already used by route %q (line %d); give each route its own prefix", v, c.route, c.line)
		} else {
			p.Addf(line, rk+".prefix", "%q overlaps %q of route %q (line %d), so a request could match both; give routes prefixes where neither is a path-segment prefix of the other", v, c.value, c.route, c.line)
		}
		r.Prefix = v
	} else if !yamlstrict.Given(f.Get("prefix")) && !hostSet {
		p.Addf(item.Line, rk, "prefix or host is required (prefix: the path this route is served under, e.g. /crm; host: the vendor host the forward proxy intercepts, e.g. api.hubapi.com)")
	}

	if v, ok := p.Str(f.Get("upstream"), rk+".upstream"); ok {
		if msg := checkUpstream(v); msg != "" {
			p.Addf(f.Get("upstream").Line, rk+".upstream", "%q %s", v, msg)
		}
		r.Upstream = v
	} else if preset != nil && preset.Upstream != "" {
		r.Upstream = preset.Upstream
	} else if r.Host != "" {
		r.Upstream = "https://" + r.Host // a forward route's vendor is the host it intercepts
	} else if !yamlstrict.Given(f.Get("upstream")) && !hostSet && !presetFailed(f, preset) {
		p.Addf(item.Line, rk, "%s", presetUpstreamHint(preset))
	}

	r.Owner, _ = p.Str(f.Get("owner"), rk+".owner")
	if on, ok := p.Bool(f.Get("drills"), rk+".drills"); ok {
		r.NoDrills = !on
	}

	for _, k := range p.List(f.Get("record_keys"), rk+".record_keys") {
		if _, err := schemas.ParseKeyPath(k.Val); err != nil {
			p.Addf(k.Line, k.Key, "%v", err)
			continue
		}
		r.RecordKeys = append(r.RecordKeys, k.Val)
	}
	if preset != nil && !yamlstrict.Given(f.Get("record_keys")) {
		r.RecordKeys = preset.RecordKeys
	}

	r.Timeout = p.duration(f.Get("timeout"), rk+".timeout", DefaultRouteTimeout)
	r.Auth = p.auth(f.Get("auth"), rk+".auth")
	r.Callers = p.callers(f.Get("callers"), rk+".callers")
	r.Contracts = p.contracts(f.Get("contracts"), rk+".contracts")
	r.Alerts = p.routeAlerts(f.Get("alerts"), rk+".alerts")
	r.Drift = p.drift(f.Get("drift"), rk+".drift")
	r.Verify = p.verify(f.Get("verify"), rk+".verify", r.RecordKeys, preset)
	if preset != nil {
		r.Preset = preset.Name
	}
	r.Vendor = p.routeVendor(f, rk, preset, r)
	r.limitsLine, r.limitsKey = limitsPos(f.Get("limits"), rk)
	r.Delivery = p.delivery(f.Get("delivery"), rk+".delivery", r.Vendor)
	return r, true
}

// routeKey is the config key of the i-th route, as messages name it.
func routeKey(i int) string { return fmt.Sprintf("routes[%d]", i) }

// prefixClash finds an earlier prefix equal to v (same) or overlapping it on a path-segment
// boundary: "/crm" and "/crm/v2" clash, "/crm" and "/crmx" do not.
func prefixClash(earlier []claim, v string) (c claim, same, clash bool) {
	for _, c := range earlier {
		if c.value == v {
			return c, true, true
		}
		if strings.HasPrefix(v, c.value+"/") || strings.HasPrefix(c.value, v+"/") {
			return c, false, true
		}
	}
	return claim{}, false, false
}

// checkPrefix returns why a route prefix is unusable, or "".
func checkPrefix(s string) string {
	switch {
	case !strings.HasPrefix(s, "/"):
		return `must start with "/" (e.g. /crm)`
	case s == "/":
		return `would catch every request; use a prefix like /crm so routes stay distinguishable`
	case strings.HasSuffix(s, "/"):
		return fmt.Sprintf("must not end with \"/\" (write %q)", strings.TrimRight(s, "/"))
	case strings.ContainsAny(s, "?# \t"):
		return "must be a plain path, without spaces, query or fragment"
	case strings.Contains(s, "//"):
		return `must not contain an empty segment ("//")`
	}
	return ""
}

// checkUpstream returns why an upstream URL is unusable, or "".
func checkUpstream(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL (write the vendor base URL, e.g. https://api.hubapi.com)"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an absolute http or https URL (e.g. https://api.hubapi.com)"
	case u.Host == "":
		return "has no host (write e.g. https://api.hubapi.com)"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query string; the client's query is passed through"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment (#...)"
	}
	return ""
}
