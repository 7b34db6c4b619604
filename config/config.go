package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/vendors"
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

const (
	kibibyte = 1 << 10
	mebibyte = 1 << 20
	gibibyte = 1 << 30
)

// Config is mtguard's configuration as loaded from YAML, with defaults applied.
type Config struct {
	// Listen is the data-plane address. Default DefaultListen.
	Listen string
	Admin  Admin
	Store  Store
	Redact Redact
	// Routes has at least one entry; prefixes are unique and do not overlap.
	Routes []Route
	// Forward is the forward proxy (config_forward.go); off when the file has no forward: block.
	Forward Forward
	// Alerts are the alert sinks and reminder interval (config_alerts.go).
	Alerts Alerts
	// File is the path the config was loaded from, "" when parsed from bytes.
	File string
}

// Admin configures the control plane.
type Admin struct {
	// Listen is the admin API address. Default DefaultAdminListen.
	Listen string
	// TokenEnv names the environment variable holding the admin bearer token. It is required
	// when Listen is not loopback; Parse checks the name, not whether the variable is set.
	TokenEnv string
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

// Problem is one mistake in a config file.
type Problem struct {
	// Line is 1-based; 0 when the YAML parser gave no position.
	Line int
	// Key is the offending key path, like routes[0].upstream; "" when the problem is not about a key.
	Key string
	// Msg says what is wrong and what to do.
	Msg string
}

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
// mtguard is started from another working directory.
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
	resolveContractPaths(cfg.Routes, filepath.Dir(path))
	return cfg, nil
}

// Parse parses a config file's contents and applies defaults. name is used in messages
// only. On failure the error is a *Error listing every problem found.
func Parse(name string, data []byte) (*Config, error) {
	var p configParser
	cfg := p.parse(data)
	if len(p.problems) > 0 {
		sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
		return nil, &Error{Name: name, Problems: p.problems}
	}
	return cfg, nil
}

// yamlLineErr matches the position yaml puts in its syntax errors, so they can be reprinted
// in the same file:line form as ours.
var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlAnchorErr and yamlEncodingErr recognise the yaml errors that carry no position, to
// find it in the input.
var (
	yamlAnchorErr   = regexp.MustCompile(`^(?:unknown anchor|anchor) '([^']*)' (?:referenced|value contains itself)$`)
	yamlEncodingErr = regexp.MustCompile(`UTF-8|UTF-16|Unicode|surrogate|control characters`)
)

// routeNameRE keeps route names usable in URLs, metric labels and CLI arguments unquoted.
var routeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// envNameRE is what a POSIX shell accepts as a variable name.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// sizeRE splits a size into its number and unit; the unit is checked separately so the
// message can say what went wrong.
var sizeRE = regexp.MustCompile(`^([0-9]+) ?([A-Za-z]*)$`)

// configParser walks the YAML node tree, collecting problems instead of stopping at the first,
// so one run of check-config shows everything to fix.
type configParser struct {
	problems []Problem
}

func (p *configParser) addf(line int, key, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *configParser) parse(data []byte) *Config {
	root := p.decode(data)
	if root == nil {
		return nil
	}
	top := p.mapping(root, "", "listen", "admin", "store", "redact", "routes", "forward", "alerts")
	if top == nil {
		return nil
	}
	cfg := &Config{
		Listen: p.addr(top.get("listen"), "listen", DefaultListen),
		Admin:  p.admin(top.get("admin")),
		Store:  p.store(top.get("store")),
		Redact: p.redact(top.get("redact")),
		Routes: p.routes(top.get("routes")),
	}
	p.checkLimitGroups(cfg.Routes)
	cfg.Forward = p.forward(top.get("forward"))
	cfg.Alerts = p.alerts(top.get("alerts"), cfg.Routes)
	p.checkForward(cfg, top)
	p.checkHeldCredentials(cfg)
	// Port 0 picks a free port per listener, so two ":0" addresses do not collide.
	if cfg.Admin.Listen == cfg.Listen && !strings.HasSuffix(cfg.Listen, ":0") {
		switch n := deref(lookup(top.get("admin"), "listen")); {
		case n == nil:
			p.addf(top.get("listen").Line, "listen", "%q is also the default admin.listen; pick another port or set admin.listen", cfg.Listen)
		case n.Value == cfg.Admin.Listen: // Otherwise admin.listen was invalid and is reported already.
			p.addf(n.Line, "admin.listen", "%q is also the data-plane listen address; give the admin API its own port", cfg.Admin.Listen)
		}
	}
	return cfg
}

// decode parses data and returns the document's root node, or reports why it cannot.
func (p *configParser) decode(data []byte) *yaml.Node {
	const empty = "the file is empty; it needs at least a routes: list (each route has name, prefix and upstream)"
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.addf(1, "", empty)
		} else {
			p.yamlErr(err, data)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.addf(extra.Line, "", `a second YAML document starts here; mtguard reads one, so remove the "---" separator`)
	} else if !errors.Is(err, io.EOF) {
		p.yamlErr(err, data)
	}
	if len(doc.Content) == 0 || !present(doc.Content[0]) {
		p.addf(1, "", empty)
		return nil
	}
	return doc.Content[0]
}

// yamlErr reprints a yaml parse error in file:line form.
func (p *configParser) yamlErr(err error, data []byte) {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.addf(line, "", "YAML syntax error: %s", m[2])
		return
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	p.addf(yamlErrLine(msg, data), "", "YAML syntax error: %s", msg)
}

// yamlErrLine finds the line of a yaml error that carries none, or returns 0. yaml.v3 leaves
// the position out of a syntax error on the first line (it tests the 0-based line for != 0),
// of every encoding error, and of anchor errors.
func yamlErrLine(msg string, data []byte) int {
	if m := yamlAnchorErr.FindStringSubmatch(msg); m != nil {
		sigil := "&"
		if strings.HasPrefix(msg, "unknown") {
			sigil = "*"
		}
		if i := bytes.Index(data, []byte(sigil+m[1])); i >= 0 {
			return lineOf(data, i)
		}
		return 0
	}
	if yamlEncodingErr.MatchString(msg) {
		for i := 0; i < len(data); {
			r, size := utf8.DecodeRune(data[i:])
			invalid := r == utf8.RuneError && size <= 1
			control := (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f
			if invalid || control {
				return lineOf(data, i)
			}
			i += size
		}
		return 0
	}
	if strings.Contains(msg, "aliasing") || strings.Contains(msg, "depth") {
		return 0 // A property of the whole document, not of one line.
	}
	return 1
}

// lineOf returns the 1-based line of byte offset i.
func lineOf(data []byte, i int) int {
	return 1 + bytes.Count(data[:i], []byte("\n"))
}

// fields holds a mapping's values by key; a nil fields reads as empty.
type fields map[string]*yaml.Node

func (f fields) get(key string) *yaml.Node { return f[key] }

// mapping checks that n is a mapping with only known keys, each at most once. An absent or
// null n yields empty fields; anything else that is not a mapping is reported and yields nil.
func (p *configParser) mapping(n *yaml.Node, path string, known ...string) fields {
	n = deref(n)
	f := fields{}
	if !present(n) {
		return f
	}
	if n.Kind != yaml.MappingNode {
		p.addf(n.Line, path, "expected a mapping with keys %s, found %s", strings.Join(known, ", "), describe(n))
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := k.Value
		if path != "" {
			kp = path + "." + k.Value
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			p.addf(k.Line, path, "found %s used as a key; keys are plain names", describe(k))
		case k.Value == "<<":
			p.addf(k.Line, path, "YAML merge keys (<<) are not supported; write the keys out")
		case !slices.Contains(known, k.Value):
			p.addf(k.Line, kp, "unknown key (known keys: %s)", strings.Join(known, ", "))
		case f[k.Value] != nil:
			// yaml.v3 only catches duplicate keys when decoding into Go values, not into a Node.
			p.addf(k.Line, kp, "is set twice (first on line %d); remove one", keyLine(n, k.Value))
		default:
			f[k.Value] = v
		}
	}
	return f
}

// keyLine returns the line of the first occurrence of key in mapping n.
func keyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return 0
}

// lookup returns the value of key in mapping n, or nil, without reporting anything.
func lookup(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// str returns a scalar's text; ok is false when n is absent, null, or not a scalar (reported).
// Any scalar is accepted, so `name: 123` is the name "123".
func (p *configParser) str(n *yaml.Node, key string) (s string, ok bool) {
	n = deref(n)
	if !present(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		p.addf(n.Line, key, "expected a single value, found %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// listItem is one non-empty string of a list, with where it was written.
type listItem struct {
	val, key string
	line     int
}

// list reads a list of non-empty scalars, reporting each bad item and leaving it out.
func (p *configParser) list(n *yaml.Node, key string) []listItem {
	n = deref(n)
	if !present(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf(" (write [%s])", n.Value)
		}
		p.addf(n.Line, key, "expected a list, found %s%s", describe(n), hint)
		return nil
	}
	var out []listItem
	for i, item := range n.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		s, ok := p.str(item, ik)
		if !ok && present(deref(item)) {
			continue // str reported the wrong kind.
		}
		if strings.TrimSpace(s) == "" {
			p.addf(item.Line, ik, "empty item; remove it or give it a value")
			continue
		}
		out = append(out, listItem{val: s, key: ik, line: item.Line})
	}
	return out
}

func (p *configParser) strList(n *yaml.Node, key string) []string {
	var out []string
	for _, it := range p.list(n, key) {
		out = append(out, it.val)
	}
	return out
}

// addr reads a host:port listen address.
func (p *configParser) addr(n *yaml.Node, key, def string) string {
	s, ok := p.str(n, key)
	if !ok {
		return def
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		p.addf(n.Line, key, "%q is not host:port (write 127.0.0.1:8080, or :8080 for every interface)", s)
		return def
	}
	if pn, err := strconv.Atoi(port); err != nil || pn < 0 || pn > 65535 {
		p.addf(n.Line, key, "%q has port %q; write a number from 0 to 65535", s, port)
		return def
	}
	return s
}

func (p *configParser) duration(n *yaml.Node, key string, def time.Duration) time.Duration {
	s, ok := p.str(n, key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.addf(n.Line, key, "%q is not a duration (write Go syntax like 720h or 30m)", s)
		return def
	}
	if d <= 0 {
		p.addf(n.Line, key, "%q must be greater than zero", s)
		return def
	}
	return d
}

// size reads a byte count; ok is false when absent or invalid (reported).
func (p *configParser) size(n *yaml.Node, key string) (v int64, ok bool) {
	s, ok := p.str(n, key)
	if !ok {
		return 0, false
	}
	v, err := parseSize(s)
	if err != nil {
		p.addf(n.Line, key, "%v", err)
		return 0, false
	}
	return v, true
}

// parseSize reads plain bytes or a number with a unit: B, KB, MB, GB are powers of 1000 and
// KiB, MiB, GiB powers of 1024, as in IEC 80000-13. Units are matched case-insensitively,
// which is unambiguous because the binary units differ by the "i".
func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (write 10MiB or 1048576)", s)
	}
	var mult int64
	switch strings.ToLower(m[2]) {
	case "", "b":
		mult = 1
	case "kb":
		mult = 1000
	case "mb":
		mult = 1000 * 1000
	case "gb":
		mult = 1000 * 1000 * 1000
	case "kib":
		mult = kibibyte
	case "mib":
		mult = mebibyte
	case "gib":
		mult = gibibyte
	default:
		return 0, fmt.Errorf("%q is not a size: unknown unit %q (use B, KB, MB, GB, KiB, MiB or GiB)", s, m[2])
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large a size", s)
	}
	return n * mult, nil
}

func (p *configParser) admin(n *yaml.Node) Admin {
	a := Admin{Listen: DefaultAdminListen}
	f := p.mapping(n, "admin", "listen", "token_env")
	a.Listen = p.addr(f.get("listen"), "admin.listen", DefaultAdminListen)
	tokenSet := false
	if s, ok := p.str(f.get("token_env"), "admin.token_env"); ok {
		tokenSet = true
		if envNameRE.MatchString(s) {
			a.TokenEnv = s
		} else {
			p.addf(f.get("token_env").Line, "admin.token_env", "%q is not an environment variable name; write the variable's name (e.g. MTGUARD_ADMIN_TOKEN), not the token", s)
		}
	}
	// Anyone who can reach the admin API can read every recorded body, so leaving loopback
	// needs a token. Whether the variable is set is checked at startup, not here.
	if !tokenSet && !isLoopback(a.Listen) {
		p.addf(f.get("listen").Line, "admin.listen", "%q is reachable from other hosts, so admin.token_env is required (the name of the env var holding the admin bearer token)", a.Listen)
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
	f := p.mapping(n, "store", "path", "retention", "max_body", "capture_body", "on_error")
	if v, ok := p.str(f.get("path"), "store.path"); ok {
		if strings.TrimSpace(v) == "" {
			p.addf(f.get("path").Line, "store.path", "empty path; remove the key for the default %s", DefaultStorePath)
		} else {
			s.Path = v
		}
	}
	s.Retention = p.duration(f.get("retention"), "store.retention", DefaultRetention)

	maxOK := !present(deref(f.get("max_body")))
	if v, ok := p.size(f.get("max_body"), "store.max_body"); ok {
		if v <= 0 {
			p.addf(f.get("max_body").Line, "store.max_body", "must be greater than zero")
		} else {
			s.MaxBody, maxOK = v, true
		}
	}
	if v, ok := p.size(f.get("capture_body"), "store.capture_body"); ok {
		s.CaptureBody = v
		// Comparing against a max_body that failed to parse would add a bogus second problem.
		if maxOK && v > s.MaxBody {
			p.addf(f.get("capture_body").Line, "store.capture_body", "%q is more than max_body (%d bytes); lower capture_body or raise max_body", f.get("capture_body").Value, s.MaxBody)
		}
	} else if !present(deref(f.get("capture_body"))) {
		// A small max_body alone should not force the user to also lower capture_body.
		s.CaptureBody = min(s.CaptureBody, s.MaxBody)
	}

	if v, ok := p.str(f.get("on_error"), "store.on_error"); ok {
		if v == OnErrorForward || v == OnErrorReject {
			s.OnError = v
		} else {
			p.addf(f.get("on_error").Line, "store.on_error", "%q is not an option (write %s or %s)", v, OnErrorForward, OnErrorReject)
		}
	}
	return s
}

func (p *configParser) redact(n *yaml.Node) Redact {
	f := p.mapping(n, "redact", "headers", "query", "fields")
	return Redact{
		Headers: p.strList(f.get("headers"), "redact.headers"),
		Query:   p.strList(f.get("query"), "redact.query"),
		Fields:  p.strList(f.get("fields"), "redact.fields"),
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
	n = deref(n)
	if !present(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0) {
		line := 1
		if n != nil {
			line = n.Line
		}
		p.addf(line, "routes", "at least one route is required (add a routes: list; each route has name, prefix and upstream)")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.addf(n.Line, "routes", `expected a list of routes (items starting with "- name: ..."), found %s`, describe(n))
		return nil
	}
	var set routeSet
	var out []Route
	for i, item := range n.Content {
		if r, ok := p.route(routeKey(i), deref(item), &set); ok {
			out = append(out, r)
		}
	}
	return out
}

func (p *configParser) route(rk string, item *yaml.Node, set *routeSet) (Route, bool) {
	if item.Kind != yaml.MappingNode {
		p.addf(item.Line, rk, "expected a route (a mapping with name, prefix, upstream, ...), found %s", describe(item))
		return Route{}, false
	}
	f := p.mapping(item, rk, "name", "prefix", "upstream", "owner", "record_keys", "timeout", "auth", "contracts", "host", "alerts", "preset", "versions", "outcomes", "limits")
	r := Route{Line: item.Line}
	preset := p.routePreset(f, rk)

	if v, ok := p.str(f.get("name"), rk+".name"); ok {
		line := f.get("name").Line
		if !routeNameRE.MatchString(v) {
			p.addf(line, rk+".name", "%q is not a route name (use lowercase letters, digits, _ and -, starting with a letter or digit, e.g. crm)", v)
		} else if i := slices.IndexFunc(set.names, func(c claim) bool { return c.value == v }); i >= 0 {
			p.addf(line, rk+".name", "%q is already used by the route on line %d; give each route its own name", v, set.names[i].line)
		} else {
			set.names = append(set.names, claim{value: v, route: v, line: line})
		}
		r.Name = v
	} else if !present(deref(f.get("name"))) {
		p.addf(item.Line, rk, "name is required (a short id like crm, used in logs and the admin API)")
	}

	r.Host = p.routeHost(f.get("host"), rk+".host")
	hostSet := present(deref(f.get("host")))

	if v, ok := p.str(f.get("prefix"), rk+".prefix"); ok {
		line := f.get("prefix").Line
		if msg := checkPrefix(v); msg != "" {
			p.addf(line, rk+".prefix", "%q %s", v, msg)
		} else if c, same, clash := prefixClash(set.prefixes, v); !clash {
			set.prefixes = append(set.prefixes, claim{value: v, route: r.Name, line: line})
		} else if same {
			p.addf(line, rk+".prefix", "%q is already used by route %q (line %d); give each route its own prefix", v, c.route, c.line)
		} else {
			p.addf(line, rk+".prefix", "%q overlaps %q of route %q (line %d), so a request could match both; give routes prefixes where neither is a path-segment prefix of the other", v, c.value, c.route, c.line)
		}
		r.Prefix = v
	} else if !present(deref(f.get("prefix"))) && !hostSet {
		p.addf(item.Line, rk, "prefix or host is required (prefix: the path this route is served under, e.g. /crm; host: the vendor host the forward proxy intercepts, e.g. api.hubapi.com)")
	}

	if v, ok := p.str(f.get("upstream"), rk+".upstream"); ok {
		if msg := checkUpstream(v); msg != "" {
			p.addf(f.get("upstream").Line, rk+".upstream", "%q %s", v, msg)
		}
		r.Upstream = v
	} else if preset != nil && preset.Upstream != "" {
		r.Upstream = preset.Upstream
	} else if r.Host != "" {
		r.Upstream = "https://" + r.Host // a forward route's vendor is the host it intercepts
	} else if !present(deref(f.get("upstream"))) && !hostSet && !presetFailed(f, preset) {
		p.addf(item.Line, rk, "%s", presetUpstreamHint(preset))
	}

	r.Owner, _ = p.str(f.get("owner"), rk+".owner")

	for _, k := range p.list(f.get("record_keys"), rk+".record_keys") {
		if _, err := schemas.ParseKeyPath(k.val); err != nil {
			p.addf(k.line, k.key, "%v", err)
			continue
		}
		r.RecordKeys = append(r.RecordKeys, k.val)
	}
	if preset != nil && !present(deref(f.get("record_keys"))) {
		r.RecordKeys = preset.RecordKeys
	}

	r.Timeout = p.duration(f.get("timeout"), rk+".timeout", DefaultRouteTimeout)
	r.Auth = p.auth(f.get("auth"), rk+".auth")
	r.Contracts = p.contracts(f.get("contracts"), rk+".contracts")
	r.Alerts = p.routeAlerts(f.get("alerts"), rk+".alerts")
	if preset != nil {
		r.Preset = preset.Name
	}
	r.Vendor = p.routeVendor(f, rk, preset, r)
	r.limitsLine, r.limitsKey = limitsPos(f.get("limits"), rk)
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

// deref follows YAML aliases (*name) to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// present reports whether a key was given a value: an absent key and an explicit null
// (`key:` with nothing after it) both mean "use the default".
func present(n *yaml.Node) bool {
	return n != nil && !(n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names a node's kind for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping (key: value lines)"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case !present(n):
		return "nothing"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}
