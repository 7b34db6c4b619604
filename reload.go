package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/proxy"
)

// deliveryQueue is what a reload asks of the delivery queue (the store's queued deliveries):
// how many wait for a route, and dropping them, each recorded, when the route is removed with
// drop_queued. A store without a delivery queue has nothing queued.
type deliveryQueue interface {
	QueuedDeliveries(route string) (int, error)
	DropQueuedDeliveries(ctx context.Context, route, reason string) (int, error)
}

// reloader reads the config file again and, when it is valid, swaps what can change while
// calls flow: routes (with their presets, contracts, callers, credentials and timeouts),
// limits, alert rules and sinks. Everything is built and checked before anything is swapped,
// so a file with mistakes changes nothing. Reloads run one at a time.
type reloader struct {
	mu      sync.Mutex
	file    string
	getenv  func(string) string
	log     zerolog.Logger
	boot    *config.Config    // what serve started with: the settings only a restart changes
	cur     *config.Config    // what runs now
	digests map[string]string // of cur's contract files (contractDigests)
	s       *server
	reverse *proxy.Proxy
	limiter *proxy.Limiter
	queue   deliveryQueue // nil without a delivery queue
	env     *envFile      // serve --env-file, read again at each reload; nil without one
	// rotated are the env file's names whose values changed since the last applied reload
	// (a refused reload keeps them for the next).
	rotated []string
}

var _ inspect.Reloader = (*reloader)(nil)

func newReloader(s *server, getenv func(string) string) *reloader {
	r := &reloader{file: s.cfg.File, getenv: getenv, log: s.log, boot: s.cfg, cur: s.cfg, digests: contractDigests(s.cfg), s: s, reverse: s.reverse, limiter: s.limiter}
	if s.queue != nil {
		r.queue = s.queue
	}
	return r
}

// Reload reloads the config file. See reloader.
func (r *reloader) Reload(ctx context.Context, req inspect.ReloadRequest) inspect.ReloadReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := inspect.ReloadReport{File: r.file, Changes: []inspect.ReloadChange{}}
	if r.file == "" {
		rep.Problems = []string{"this mtguard was not started from a config file; nothing to reload"}
		return rep
	}
	if r.env != nil {
		changed, err := r.env.reread()
		if err != nil {
			rep.Problems = []string{err.Error() + "; nothing changed"}
			return rep
		}
		r.rotated = slices.Compact(slices.Sorted(slices.Values(append(r.rotated, changed...))))
	}
	rotated := r.rotated
	next, err := r.prepare()
	if err != nil {
		rep.Problems = problemLines(r.file, err)
		return rep
	}
	next.digests = contractDigests(next.cfg)
	rep.Changes = diffConfig(r.cur, next.cfg, r.digests, next.digests)
	if len(rotated) > 0 {
		rep.Changes = append(rep.Changes, inspect.ReloadChange{Kind: "secrets.changed", Name: r.env.path, Detail: strings.Join(rotated, ", ") + " (values not shown; route credentials and sinks use them from now on)"})
	}
	rep.NeedsRestart = needsRestart(r.boot, next.cfg, next.routes, next.groups)
	if refusal := r.refuse(ctx, next, req, &rep); refusal != nil {
		rep.Refused, rep.Problems = true, problemLines(r.file, refusal)
		return rep
	}
	// Everything below has been checked: the limiter's swap is the one step that may still
	// fail (it reads the log for windows that inherit no count), so it goes first.
	if err := r.limiter.Reconfigure(next.groups, next.routesOf, r.s.store.SendTimes); err != nil {
		rep.Problems = []string{fmt.Sprintf("limits: %v; nothing changed", err)}
		return rep
	}
	// Dropped before the routes go, so that the redeliverer does not meet a route that is no
	// longer there and make dead letters of calls the operator chose to drop.
	if r.queue != nil && req.DropQueued {
		for _, name := range removedRoutes(r.cur, next.cfg) {
			n, err := r.queue.DropQueuedDeliveries(ctx, name, fmt.Sprintf("route %s removed by a config reload (drop_queued, by %s)", name, actorName(req)))
			rep.DroppedQueued += n
			if err != nil {
				r.log.Error().Err(err).Str("route", name).Msg("reload: could not drop every queued delivery of a removed route")
			}
		}
	}
	r.reverse.SetRoutes(next.routes)
	if r.s.forward != nil {
		r.s.forward.fwd.SetRoutes(next.routes)
	}
	sinks := next.sinks
	if sameSetting(r.cur.Alerts.Sinks, next.cfg.Alerts.Sinks) && len(rotated) == 0 {
		sinks = nil // the same sinks: keep their workers and what they hold
	}
	if err := r.s.alerts.engine.Reconfigure(next.alertRoutes, sinks); err != nil {
		// Checked in prepare; only a sink list that changed between then and now could fail.
		r.log.Error().Err(err).Msg("reload: alerts keep their previous rules")
	}
	r.cur, r.digests = next.cfg, next.digests
	r.s.routeConfigs.Store(&next.cfg.Routes)
	r.rotated = nil
	rep.Applied = true
	ev := r.log.Info().Str("file", r.file).Str("by", actorName(req)).Int("changes", len(rep.Changes)).Strs("needs_restart", rep.NeedsRestart)
	for _, c := range rep.Changes {
		ev = ev.Str(c.Kind+" "+c.Name, c.Detail)
	}
	ev.Msg("config reloaded")
	return rep
}

func actorName(req inspect.ReloadRequest) string {
	if req.Actor == "" {
		return "SIGHUP"
	}
	return req.Actor
}

// nextConfig is a new config, built and checked: what a reload swaps in.
type nextConfig struct {
	cfg         *config.Config
	routes      []proxy.Route
	groups      []proxy.LimitGroup
	routesOf    map[string][]string
	alertRoutes []alerts.RouteAlerts
	sinks       []alerts.Sink
	digests     map[string]string
}

// prepare loads the file and builds everything a reload swaps in, checking it exactly as
// check-config does (and as serve does before it starts); it returns every problem found.
func (r *reloader) prepare() (nextConfig, error) {
	cfg, err := config.Load(r.file)
	if err != nil {
		return nextConfig{}, err
	}
	n := nextConfig{cfg: cfg}
	if n.routes, err = proxyRoutes(cfg.Routes, r.getenv); err != nil {
		return n, err
	}
	sec, sinks, err := preflight(cfg, r.getenv)
	if err != nil {
		return n, err
	}
	n.routes, n.sinks = sec.routes, sinks
	n.groups, n.routesOf = limitGroups(cfg.Routes)
	if _, err := proxy.NewLimiter(n.groups, n.routesOf, nil, nil); err != nil {
		return n, fmt.Errorf("limits: %w", err)
	}
	for _, rc := range cfg.Routes {
		n.alertRoutes = append(n.alertRoutes, alerts.RouteAlerts{Route: rc.Name, Owner: rc.Owner, Sinks: rc.Alerts.Sinks, Rules: rc.Alerts.EffectiveRules()})
	}
	if err := alerts.CheckConfig(n.alertRoutes, n.sinks); err != nil {
		return n, err
	}
	return n, nil
}

// refuse returns why a valid config must not be swapped in now, or nil.
func (r *reloader) refuse(ctx context.Context, next nextConfig, req inspect.ReloadRequest, rep *inspect.ReloadReport) error {
	var errs []error
	// Secrets are redacted by header name, and the names are fixed at start: a route that
	// would hold a credential in a header the running mtguard does not redact could have that
	// header stored in clear.
	running := proxy.NewRedactor(redactConfig(r.boot))
	for _, rc := range next.cfg.Routes {
		if rc.Auth != nil && running.Header(http.Header{rc.Auth.Header: {"probe"}}).Get(rc.Auth.Header) == "probe" {
			errs = append(errs, fmt.Errorf("route %s: auth.header %s is not a header the running mtguard redacts; restart mtguard to add this route (a reload cannot change redaction)", rc.Name, rc.Auth.Header))
		}
	}
	if r.queue != nil {
		for _, name := range removedRoutes(r.cur, next.cfg) {
			q, err := r.queue.QueuedDeliveries(name)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("route %s is removed but its queued deliveries cannot be counted: %w", name, err))
			case q > 0 && !req.DropQueued:
				errs = append(errs, fmt.Errorf("route %s is removed but %d deliveries are queued for it; deliver them first, or reload with --drop-queued to drop them (each is recorded)", name, q))
			}
		}
	}
	return errors.Join(errs...)
}

// problemLines is every problem of err as a line: a config mistake as "file:line: key: what",
// anything else as "file: what".
func problemLines(file string, err error) []string {
	var out []string
	for _, e := range flatten(err) {
		var ce *config.Error
		if errors.As(e, &ce) {
			out = append(out, strings.Split(ce.Error(), "\n")...)
			continue
		}
		msg := e.Error()
		if !strings.HasPrefix(msg, file) {
			msg = file + ": " + msg
		}
		out = append(out, msg)
	}
	return out
}

// removedRoutes are the routes of old that new does not have (by name).
func removedRoutes(old, new *config.Config) []string {
	var out []string
	for _, o := range old.Routes {
		if !slices.ContainsFunc(new.Routes, func(n config.Route) bool { return n.Name == o.Name }) {
			out = append(out, o.Name)
		}
	}
	return out
}

// diffConfig lists what a reload from old to new changes: routes added, removed and changed
// (by name: a renamed route is a new route, and the old name's counts, pauses and alert
// states do not follow it), limits tightened or loosened, alert settings.
func diffConfig(old, new *config.Config, oldDigests, newDigests map[string]string) []inspect.ReloadChange {
	var out []inspect.ReloadChange
	byName := func(rs []config.Route) map[string]config.Route {
		m := map[string]config.Route{}
		for _, r := range rs {
			m[r.Name] = r
		}
		return m
	}
	om, nm := byName(old.Routes), byName(new.Routes)
	renamedFrom := func(n config.Route) string {
		for _, o := range old.Routes {
			if _, still := nm[o.Name]; !still && o.Upstream == n.Upstream && o.Prefix == n.Prefix && o.Host == n.Host {
				return o.Name
			}
		}
		return ""
	}
	for _, n := range new.Routes {
		o, ok := om[n.Name]
		if !ok {
			detail := fmt.Sprintf("%s -> %s", routeWhere(n), n.Upstream)
			if from := renamedFrom(n); from != "" {
				detail += fmt.Sprintf(" (renamed from %s: a renamed route is a new route; its limit counts, pauses and alert states start afresh)", from)
			}
			out = append(out, inspect.ReloadChange{Kind: "route.added", Name: n.Name, Detail: detail})
			continue
		}
		if what := routeChanges(o, n, oldDigests[n.Name], newDigests[n.Name]); len(what) > 0 {
			out = append(out, inspect.ReloadChange{Kind: "route.changed", Name: n.Name, Detail: strings.Join(what, ", ")})
		}
	}
	for _, o := range old.Routes {
		if _, ok := nm[o.Name]; !ok {
			out = append(out, inspect.ReloadChange{Kind: "route.removed", Name: o.Name, Detail: routeWhere(o)})
		}
	}
	out = append(out, diffLimits(old, new)...)
	if !sameSetting(old.Alerts.Sinks, new.Alerts.Sinks) {
		out = append(out, inspect.ReloadChange{Kind: "sinks.changed", Name: "alerts.sinks", Detail: sinkNames(old.Alerts.Sinks) + " -> " + sinkNames(new.Alerts.Sinks)})
	}
	if old.Alerts.Renotify != new.Alerts.Renotify {
		out = append(out, inspect.ReloadChange{Kind: "alerts.changed", Name: "alerts.renotify", Detail: fmt.Sprintf("%s -> %s (needs a restart)", old.Alerts.Renotify, new.Alerts.Renotify)})
	}
	return out
}

func routeWhere(r config.Route) string {
	if r.Prefix != "" {
		return r.Prefix
	}
	return r.Host
}

func sinkNames(ss []config.Sink) string {
	if len(ss) == 0 {
		return "none"
	}
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

// routeChanges names what differs between two versions of a route.
func routeChanges(o, n config.Route, oDigest, nDigest string) []string {
	var what []string
	add := func(changed bool, format string, args ...any) {
		if changed {
			what = append(what, fmt.Sprintf(format, args...))
		}
	}
	add(o.Prefix != n.Prefix, "prefix %s -> %s", o.Prefix, n.Prefix)
	add(o.Host != n.Host, "host %s -> %s", o.Host, n.Host)
	add(o.Upstream != n.Upstream, "upstream %s -> %s", o.Upstream, n.Upstream)
	add(o.Owner != n.Owner, "owner %s -> %s", o.Owner, n.Owner)
	add(o.Timeout != n.Timeout, "timeout %s -> %s", o.Timeout, n.Timeout)
	add(!slices.Equal(o.RecordKeys, n.RecordKeys), "record_keys")
	add(!sameSetting(o.Auth, n.Auth), "auth")
	add(!sameSetting(o.Callers, n.Callers), "callers")
	add(!sameSetting(o.Contracts, n.Contracts), "contracts")
	add(sameSetting(o.Contracts, n.Contracts) && oDigest != nDigest, "contract files edited")
	add(o.Preset != n.Preset, "preset %q -> %q", o.Preset, n.Preset)
	add(o.Preset == n.Preset && !sameSetting(o.Vendor, n.Vendor), "versions, outcomes or limits rules")
	add(!sameSetting(o.Alerts, n.Alerts), "alerts")
	add(o.LimitGroup() != n.LimitGroup(), "limits group %s -> %s", o.LimitGroup(), n.LimitGroup())
	return what
}

// diffLimits compares each limits group that both configs have: tightened when every change
// lowers a budget (fewer requests per window, a new window, less concurrency, a shorter
// max_wait), loosened when every change raises one, changed when some do each.
func diffLimits(old, new *config.Config) []inspect.ReloadChange {
	og, _ := limitGroups(old.Routes)
	ng, _ := limitGroups(new.Routes)
	var out []inspect.ReloadChange
	for _, n := range ng {
		i := slices.IndexFunc(og, func(o proxy.LimitGroup) bool { return o.Name == n.Name })
		if i < 0 {
			continue // a new group: its route is listed as added or changed
		}
		o := og[i]
		var tighter, looser []string
		cmp := func(what string, before, after int, lowerIsTighter bool) {
			switch {
			case before == after:
			case (after < before) == lowerIsTighter:
				tighter = append(tighter, fmt.Sprintf("%s %d -> %d", what, before, after))
			default:
				looser = append(looser, fmt.Sprintf("%s %d -> %d", what, before, after))
			}
		}
		unlimited := func(n int) int {
			if n == 0 {
				return int(^uint(0) >> 1)
			}
			return n
		}
		if o.Concurrency != n.Concurrency {
			cmp("concurrency", unlimited(o.Concurrency), unlimited(n.Concurrency), true)
		}
		if o.MaxWait != n.MaxWait {
			if n.MaxWait < o.MaxWait {
				tighter = append(tighter, fmt.Sprintf("max_wait %s -> %s", o.MaxWait, n.MaxWait))
			} else {
				looser = append(looser, fmt.Sprintf("max_wait %s -> %s", o.MaxWait, n.MaxWait))
			}
		}
		for _, nw := range n.Windows {
			j := slices.IndexFunc(o.Windows, func(ow proxy.Window) bool { return ow.Per == nw.Per && (ow.Reset == nil) == (nw.Reset == nil) })
			if j < 0 {
				tighter = append(tighter, fmt.Sprintf("new window %d per %s", nw.Requests, nw.Per))
				continue
			}
			cmp(fmt.Sprintf("requests per %s", nw.Per), o.Windows[j].Requests, nw.Requests, true)
		}
		for _, ow := range o.Windows {
			if !slices.ContainsFunc(n.Windows, func(nw proxy.Window) bool { return ow.Per == nw.Per && (ow.Reset == nil) == (nw.Reset == nil) }) {
				looser = append(looser, fmt.Sprintf("window %d per %s removed", ow.Requests, ow.Per))
			}
		}
		kind := ""
		switch {
		case len(tighter) > 0 && len(looser) > 0:
			kind = "limits.changed"
		case len(tighter) > 0:
			kind = "limits.tightened"
		case len(looser) > 0:
			kind = "limits.loosened"
		default:
			continue
		}
		out = append(out, inspect.ReloadChange{Kind: kind, Name: n.Name, Detail: strings.Join(append(tighter, looser...), ", ") + " (counts so far carry over)"})
	}
	return out
}

// needsRestart names the settings of next that differ from what serve started with and that
// only a restart applies.
func needsRestart(boot, next *config.Config, routes []proxy.Route, groups []proxy.LimitGroup) []string {
	var out []string
	add := func(changed bool, name string) {
		if changed {
			out = append(out, name)
		}
	}
	add(boot.Listen != next.Listen, "listen")
	add(!sameSetting(boot.TLS, next.TLS), "tls")
	add(boot.Admin.Listen != next.Admin.Listen, "admin.listen")
	add(!sameSetting(boot.Admin.TLS, next.Admin.TLS), "admin.tls")
	add(boot.Admin.TokenEnv != next.Admin.TokenEnv || !sameSetting(boot.Admin.Tokens, next.Admin.Tokens), "admin tokens")
	add(boot.Store.Path != next.Store.Path, "store.path")
	add(!sameSetting(boot.Store, next.Store) && boot.Store.Path == next.Store.Path, "store (retention, max_body, capture_body, on_error, encrypt)")
	add(!sameSetting(boot.Redact, next.Redact), "redact")
	add(!sameSetting(boot.Forward, next.Forward), "forward")
	add(boot.Alerts.Renotify != next.Alerts.Renotify, "alerts.renotify")
	// The engines built beside the pipeline at start read their settings once.
	add(!sameSetting(boot.Journeys, next.Journeys), "journeys")
	add(!sameSetting(boot.SharedLimits, next.SharedLimits), "limits.shared")
	add(routesDiffer(boot, next, func(r config.Route) any { return r.Drift }), "a route's drift")
	add(routesDiffer(boot, next, func(r config.Route) any { return r.Verify }), "a route's verify")
	add(routesDiffer(boot, next, func(r config.Route) any { return r.NoDrills }), "a route's drills")
	add(routesDiffer(boot, next, func(r config.Route) any { return r.Delivery }), "a route's delivery")
	// The data listener bounds the wait for a vendor's answer by the longest a call could
	// take at start (a route's timeout plus its max_wait).
	bootGroups, _ := limitGroups(boot.Routes)
	bootRoutes := make([]proxy.Route, len(boot.Routes))
	for i, rc := range boot.Routes {
		bootRoutes[i] = proxy.Route{Timeout: rc.Timeout, LimitGroup: rc.LimitGroup()}
	}
	add(longestCall(routes, groups) > longestCall(bootRoutes, bootGroups), "a route's timeout plus max_wait now exceeds the longest at start (the listener's write timeout)")
	return out
}

// onHUP reloads the config on every SIGHUP until ctx is done, and prints each report. It
// returns a function that stops listening.
func (r *reloader) onHUP(ctx context.Context, w io.Writer) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				rep := r.Reload(ctx, inspect.ReloadRequest{})
				cli.WriteReload(w, rep)
				if !rep.Applied {
					r.log.Error().Strs("problems", rep.Problems).Msg("config reload refused; the running config is unchanged")
				}
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}
