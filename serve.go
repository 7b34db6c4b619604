package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/console"
	"github.com/mtguard/mtguard/drift"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/journeys"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
)

// server is a running mtguard: the store, the data plane and the admin API.
type server struct {
	cfg       *config.Config
	store     transactionLog
	pipeline  *proxy.Pipeline
	data      *http.Server
	admin     *http.Server
	dataLn    net.Listener
	adminLn   net.Listener
	dataAddr  string
	adminAddr string
	forward   *forwardListener // nil when forward mode is off
	acme      []*acmeCerts     // the listeners whose certificate comes from an ACME CA
	alerts    *alerting
	faults    *proxy.Drills         // the drills under way, as the pipeline sees them
	drills    *inspect.DrillManager // mtguard drill (drills.go)
	journeys  *journeys.Engine      // nil without journeys, or with the PostgreSQL log (shared)
	drift     *drift.Learner        // nil without a route's drift: block, or with the PostgreSQL log
	readBack  *readBack             // nil without a route's verify: block
	reloads   reloadSlot            // the config reloader cmdServe attaches (reload.go)
	reverse   *proxy.Proxy          // the reverse front, whose routes a reload swaps
	limiter   *proxy.Limiter        // whose groups a reload reconfigures
	queue     *deliveries           // the delivery queue (deliveries.go); nil without a route that has one
	// shared runs journeys, drift and read-back on one instance for all with the PostgreSQL
	// log (engineshared.go); nil with bbolt.
	shared *sharedEngines
	// routeConfigs are the routes as configured now (a reload swaps them), for what the
	// admin API lists of them.
	routeConfigs atomic.Pointer[[]config.Route]
	log          zerolog.Logger
	stopping     atomic.Bool
	errs         chan error
	cancel       context.CancelFunc
	// closeShared closes the Redis client of limits.shared; nil without it.
	closeShared func() error
}

// startServer opens the store and starts both listeners. Addresses ending in :0 get a free
// port; dataAddr and adminAddr tell which. It reads each secret from the environment once,
// builds the parts from the inside out (alert engine, store, limiter, pipeline, fronts) and
// only then listens, so a mistake in any part leaves nothing running.
//
// hooks are for tests only.
func startServer(ctx context.Context, cfg *config.Config, getenv func(string) string, log zerolog.Logger, hooks ...testHooks) (*server, error) {
	sec, sinks, err := preflight(cfg, getenv)
	if err != nil {
		return nil, listProblems("serve cannot start", err)
	}
	limits := &limiterView{}
	alerts, err := newAlerting(cfg, sinks, limits, log)
	if err != nil {
		return nil, err
	}
	// With bbolt the engines are fed this process's committed calls; with PostgreSQL one
	// instance runs each, fed every instance's from the shared log (engineshared.go).
	shared := sec.storeDSN != ""
	jc, err := journeysEngineConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	dc := driftConfig(cfg, log)
	rb, err := newReadBack(cfg, log)
	if err != nil {
		return nil, err
	}
	var jr *journeys.Engine
	var dl *drift.Learner
	if !shared {
		if jr, err = newJourneys(jc, alerts); err != nil {
			return nil, err
		}
		if jr != nil {
			alerts.also = append(alerts.also, jr.Observe)
		}
		if dl = newDrift(cfg, log); dl != nil {
			alerts.also = append(alerts.also, dl.Observe)
		}
		if rb != nil {
			alerts.also = append(alerts.also, rb.v.Observe)
		}
		watchDropped(alerts.metrics, jr, dl, rb)
	}
	var writeHook func(op string) error
	for _, h := range hooks {
		writeHook = h.storeWrite
		sec.tls.checkEvery(h.tlsCheckEvery)
		for _, a := range sec.tls.acme() {
			a.setHTTPClient(h.acmeHTTPClient)
		}
	}
	var st transactionLog
	if sec.storeDSN != "" {
		st, err = openPostgres(ctx, sec.storeDSN, cfg.Store.SpoolPath(), alerts.engine, log)
	} else {
		st, err = openStore(cfg, sec.storeKeys, alerts, log, writeHook)
	}
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, store: st, alerts: alerts, journeys: jr, drift: dl, readBack: rb, log: log, errs: make(chan error, 3), faults: proxy.NewDrills(nil)}
	journeysAPI, shapesAPI := journeyView(jr), driftView(dl)
	var sharedForget *sharedJourneys
	if pg, ok := st.(pgLog); ok {
		if s.shared, err = newSharedEngines(pg.Store, jc, dc, rb, alerts, log); err != nil {
			st.Close()
			return nil, err
		}
		s.shared.watchDropped(alerts.metrics)
		journeysAPI, shapesAPI, sharedForget = s.shared.journeysView(), s.shared.shapesView(), s.shared.jview
	}
	s.routeConfigs.Store(&cfg.Routes)
	s.drills = inspect.NewDrillManager(inspect.DrillConfig{Store: st, Faults: &drillFaults{drills: s.faults, routes: cfg.Routes},
		Alerts: alerts.engine, Transactions: st, Logger: log})
	// The delivery queue lives in either log; with PostgreSQL each instance works the
	// deliveries it queued (pgstore, redeliver.SharedQueue).
	s.queue = newDeliveries(cfg, st, alerts, limits, log)
	groups, err := s.buildPipeline(sec, limits)
	if err != nil {
		st.Close()
		return nil, err
	}
	reverse := proxy.NewProxy(sec.routes, s.pipeline, log)
	if rb != nil {
		rb.proxy.Store(reverse)
	}
	s.queue.use(reverse)
	writeTimeout := readTimeout + longestCall(sec.routes, groups)
	s.reverse, s.limiter = reverse, limits.l
	s.data = newHTTPServer(reverse, writeTimeout)
	adminAPI := inspect.NewServer(inspect.ServerConfig{
		Transactions: st,
		Replayer:     reverse,
		Eraser:       eraser{st: st, jr: jr, shared: sharedForget},
		Alerts:       alerts.engine,
		Metrics:      alerts.metrics.Handler(),
		Limits:       limits,
		Tokens:       sec.adminCreds,
		AuditLog:     st,
		Ready:        s.ready,
		Logger:       log,
		Version:      version,
		Reservations: st,
		ReplayHold:   replayHold(sec.routes, groups),
		Drills:       s.drills,
		Journeys:     journeysAPI,
		Shapes:       shapesAPI,
		Backup:       backuper(st),
		Reloader:     &s.reloads,
		Deliveries:   s.queue.api(),
		Sunsets:      func() []inspect.DeclaredSunset { return declaredSunsets(*s.routeConfigs.Load()) },
	})
	// The web console serves / on the admin listener and is a client of the API it wraps.
	webConsole, err := console.New(console.Config{API: adminAPI})
	if err != nil {
		st.Close()
		return nil, err
	}
	s.admin = newHTTPServer(webConsole, adminWriteTimeout)
	if err := s.listen(sec, writeTimeout); err != nil {
		st.Close()
		return nil, err
	}
	s.launch(ctx)
	return s, nil
}

// secrets is what startServer reads from the environment, each variable once: the admin tokens,
// the routes with the credentials they hold, and the forward proxy's settings.
type secrets struct {
	adminCreds []inspect.Token // the admin API's tokens
	routes     []proxy.Route
	forward    *proxy.ForwardConfig
	transport  http.RoundTripper
	tls        listenerTLS // the listeners' certificates (tlsfiles.go)
	storeKeys  *store.Keys // store.encrypt's keys, nil without it (storekeys.go)
	storeDSN   string      // the PostgreSQL connection string, "" for bbolt (storebackend.go)
	limitsURL  string      // limits.shared's Redis URL, "" without it (sharedlimits.go)
}

// preflight is everything startServer checks before it opens anything: it reads each secret
// (admin token, route credentials, forward proxy, alert sinks) once, loads the forward proxy's
// CA and the listeners' certificates (tls, admin.tls), and checks that the store's folder is writable. It returns every problem found, joined,
// not only the first; check-config runs it too, so the two cannot disagree.
func preflight(cfg *config.Config, getenv func(string) string) (secrets, []alerts.Sink, error) {
	sec, err := readSecrets(cfg, getenv)
	sinks, serr := alertSinks(cfg.Alerts.Sinks, getenv)
	var ferr error
	if cfg.Store.Backend != config.StorePostgres {
		ferr = storeFolder("store.path", cfg.Store.Path)
	} else { // the log is in PostgreSQL: only the spool is a file
		ferr = storeFolder("store.spool_dir", cfg.Store.SpoolPath())
	}
	return sec, sinks, errors.Join(err, ferr, serr)
}

// readSecrets reads the admin token, the routes' credentials and the forward proxy's settings,
// and returns every problem it met (joined).
func readSecrets(cfg *config.Config, getenv func(string) string) (secrets, error) {
	var sec secrets
	var errs []error
	var err error
	if sec.adminCreds, err = adminTokens(cfg.Admin, getenv); err != nil {
		errs = append(errs, err)
	}
	if sec.routes, err = proxyRoutes(cfg.Routes, getenv); err != nil {
		errs = append(errs, err)
	} else if err := errors.Join(missingCredential(cfg.Routes, sec.routes), missingCallerSecrets(cfg.Routes, sec.routes)); err != nil {
		errs = append(errs, err)
	}
	if sec.forward, err = forwardSettings(cfg.Forward, getenv); err != nil {
		errs = append(errs, err)
	}
	if sec.transport, err = upstreamTransport(cfg.Forward); err != nil {
		errs = append(errs, err)
	}
	if sec.tls, err = loadListenerTLS(cfg); err != nil {
		errs = append(errs, err)
	}
	if sec.storeKeys, err = storeKeys(cfg.Store.Encrypt, getenv); err != nil {
		errs = append(errs, err)
	}
	if sec.storeDSN, err = storeDSN(cfg.Store, getenv); err != nil {
		errs = append(errs, err)
	}
	if sec.limitsURL, err = sharedLimitsURL(cfg.SharedLimits, getenv); err != nil {
		errs = append(errs, err)
	}
	return sec, errors.Join(errs...)
}

// storeFolder checks, without opening the store, that store.Open can create or write the file
// at path and its journal segments beside it; key is the config key that names it, for messages.
func storeFolder(key, path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: the folder %s does not exist; create it (mkdir -p %s) or point %[1]s elsewhere", key, dir, dir)
	case err != nil:
		return fmt.Errorf("%s: %w; point %[1]s at a folder mtguard can write to", key, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a folder; point %[1]s elsewhere", key, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: %s is a folder; name a file in it, e.g. %s", key, path, filepath.Join(path, "mtguard.db"))
	}
	// The journal's segments are created beside the store file, so the folder must take new files.
	f, err := os.CreateTemp(dir, ".mtguard-check-*")
	if err != nil {
		return fmt.Errorf("%s: mtguard cannot create files in %s (%v); make the folder writable by the user serve runs as, or point %[1]s elsewhere", key, dir, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: mtguard cannot write %s (%v); make it writable by the user serve runs as", key, path, errors.Unwrap(err))
	}
	return nil
}

// testHooks are seams for tests: storeWrite, if set, fails the store's writes on demand (see
// store.Options.WriteHook); tlsCheckEvery, if set, replaces tlsCheckEvery.
type testHooks struct {
	storeWrite    func(op string) error
	tlsCheckEvery time.Duration
	// acmeHTTPClient, if set, is how the ACME managers reach the CA (one trusting a test CA).
	acmeHTTPClient *http.Client
}

// openStore opens the transaction log, handing every committed call to the alert engine and
// every failed write to the log and the alert engine (storeOptions).
func openStore(cfg *config.Config, keys *store.Keys, alerts *alerting, log zerolog.Logger, writeHook func(op string) error) (*store.Store, error) {
	var opened atomic.Pointer[store.Store]
	opts := storeOptions(cfg, alerts, log, writeHook, &opened)
	opts.Keys = keys
	st, err := store.Open(cfg.Store.Path, opts)
	if err != nil {
		return nil, err
	}
	opened.Store(st)
	if keys != nil {
		log.Info().Str("key", keys.Current()).Strs("keys", keys.IDs()).Msg("store.encrypt: new calls are encrypted with the first key; calls encrypted with any of the keys are readable")
	}
	if n := st.Recovered(); n > 0 {
		log.Warn().Int("calls", n).Msg("marked calls left without an outcome by the previous run as interrupted")
	}
	if n := st.RecoveredProvisional(); n > 0 {
		log.Warn().Int("calls", n).Msg("gave calls the previous run left unfinished the outcome of the vendor's status (finding outcome.unchecked)")
	}
	return st, nil
}

// buildPipeline makes the limiter and the pipeline every call goes through, and returns the
// limits groups.
func (s *server) buildPipeline(sec secrets, limits *limiterView) ([]proxy.LimitGroup, error) {
	// The limiter counts the calls the log already holds, so a restart does not reset a quota.
	groups, routesOf := limitGroups(s.cfg.Routes)
	var err error
	if limits.l, err = proxy.NewLimiter(groups, routesOf, s.store.SendTimes, nil); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	if sec.limitsURL != "" {
		if s.closeShared, err = shareLimits(context.Background(), limits.l, s.cfg.SharedLimits, sec.limitsURL, groups, replayHold(sec.routes, groups), s.alerts.engine.SharedLimitsChanged, s.log); err != nil {
			return nil, err
		}
	}
	var recorder proxy.Recorder = s.store
	if bolt, ok := s.store.(*store.Store); ok {
		keepPauses(limits.l, bolt, s.log)
		recorder = s.queue.recorder(bolt)
	} else {
		// With limits.shared a pause lives in Redis, where every instance (a restarted one
		// too) sees it and the instance whose probe ends it clears it: a copy in PostgreSQL
		// could outlive that end. Without it, PostgreSQL keeps it as bbolt does.
		if pg, ok := s.store.(pgLog); ok && sec.limitsURL == "" {
			keepPauses(limits.l, pg.Store, s.log)
		}
		recorder = s.queue.logRecorder(s.store)
	}
	s.pipeline, err = proxy.NewPipeline(proxy.PipelineConfig{
		Recorder:           recorder,
		Transport:          sec.transport,
		MaxBody:            s.cfg.Store.MaxBody,
		CaptureBody:        s.cfg.Store.CaptureBody,
		RejectOnStoreError: s.cfg.Store.OnError == config.OnErrorReject,
		StoreHealth:        s.store.Healthy,
		Redactor:           proxy.NewRedactor(redactConfig(s.cfg)),
		Logger:             s.log,
		Limiter:            limits.l,
		WriteIdleTimeout:   writeIdleTimeout,
		Drills:             s.faults,
		Queue:              s.queue.enqueuer(),
	})
	return groups, err
}

// longestCall is how long a call may take from its request to the start of its answer: it may
// wait for its vendor's budget (max_wait), then for the vendor's headers (the route's timeout).
func longestCall(routes []proxy.Route, groups []proxy.LimitGroup) time.Duration {
	maxWait := map[string]time.Duration{}
	for _, g := range groups {
		maxWait[g.Name] = g.MaxWait
	}
	longest := proxy.DefaultTimeout
	for _, r := range routes {
		longest = max(longest, maxWait[r.LimitGroup]+r.Timeout)
	}
	return longest
}

// replayHold is how long a replay may hold its chain: one call, the longest a route's can
// last, and a minute for its answer's body. A holder past that is presumed stuck.
func replayHold(routes []proxy.Route, groups []proxy.LimitGroup) time.Duration {
	return longestCall(routes, groups) + time.Minute
}

// newHTTPServer bounds what one caller can hold: header size, read time, idle time, and the
// time until the answer starts, which on the data plane may only be once the vendor answered.
// On the data plane that is all writeTimeout bounds: the fronts give each write of the answer
// its own deadline (writeIdleTimeout), so a stream is never cut for lasting long.
func newHTTPServer(h http.Handler, writeTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
	}
}

// listen opens the data, admin and forward listeners, or none of them.
func (s *server) listen(sec secrets, writeTimeout time.Duration) error {
	for _, a := range sec.tls.acme() {
		if err := a.prepare(); err != nil {
			return err
		}
	}
	dataLn, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (listen): %w", s.cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", s.cfg.Admin.Listen)
	if err != nil {
		dataLn.Close()
		return fmt.Errorf("listen on %s (admin.listen): %w", s.cfg.Admin.Listen, err)
	}
	if s.forward, err = listenForward(s.cfg, sec.forward, sec.routes, s.pipeline, writeTimeout, s.log); err != nil {
		adminLn.Close()
		dataLn.Close()
		return err
	}
	s.dataLn, s.adminLn = sec.tls.wrap(true, s.data, dataLn, s.log), sec.tls.wrap(false, s.admin, adminLn, s.log)
	s.acme = sec.tls.acme()
	s.dataAddr, s.adminAddr = dataLn.Addr().String(), adminLn.Addr().String()
	return nil
}

// launch starts serving and the background work: alerts, retention.
func (s *server) launch(ctx context.Context) {
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.alerts.start(ctx, s.cfg.Store.Path, s.store, s.pipeline)
	s.recoverDrills(ctx) // before serving: no drill of the last run outlives it
	// Journeys, drift and read-back run here on this process's calls with the bbolt log; with
	// PostgreSQL, on whichever instance holds each one's lease (s.shared, started below).
	if bolt, ok := s.store.(*store.Store); ok {
		if s.journeys != nil {
			if err := s.journeys.Start(bolt); err != nil {
				s.log.Error().Err(err).Msg("journeys start empty")
			}
		}
		if s.readBack != nil {
			s.readBack.v.Start(bolt)
		}
		if s.drift != nil {
			if err := s.drift.Start(bolt); err != nil {
				s.log.Error().Err(err).Msg("drift learning starts over")
			}
		}
	}
	go s.serve(s.data, s.dataLn)
	go s.serve(s.admin, s.adminLn)
	for _, a := range s.acme {
		go a.warm()
	}
	s.forward.start(s.errs)
	s.queue.run(bg)
	go leadAlerts(bg, s.store, s.alerts.engine, s.log)
	if s.shared != nil {
		s.shared.run(bg)
	}
	retention := s.cfg.Store.Retention
	go s.store.RunRetention(bg, retention, retentionEvery, func(n int, err error) {
		if err != nil {
			s.log.Error().Err(err).Msg("retention sweep failed")
			return
		}
		s.log.Info().Int("deleted", n).Dur("retention", retention).Msg("retention sweep")
	})
}

func (s *server) serve(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.errs <- err
	}
}

// ready backs /readyz: not ready while shutting down or while the store cannot write.
func (s *server) ready() error {
	if s.stopping.Load() {
		return errors.New("shutting down")
	}
	if err := s.store.Healthy(); err != nil {
		return fmt.Errorf("transaction log cannot write: %w", err)
	}
	return nil
}

// wait blocks until ctx is done or a listener fails, then shuts down.
func (s *server) wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-s.errs:
	}
	if serr := s.shutdown(); err == nil {
		err = serr
	}
	return err
}

// shutdown stops accepting calls, lets in-flight ones finish (bounded), then closes the store
// so that every queued outcome is committed.
func (s *server) shutdown() error {
	s.stopping.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := s.data.Shutdown(ctx)
	if aerr := s.admin.Shutdown(ctx); err == nil {
		err = aerr
	}
	if ferr := s.forward.shutdown(ctx); err == nil {
		err = ferr
	}
	s.cancel()
	s.drills.Close()
	s.queue.wait() // its attempts are recorded before the store closes
	if s.shared != nil {
		s.shared.wait() // the engines stopped and saved their state (s.cancel ended their terms)
	}
	s.alerts.close()
	if s.shared == nil {
		if s.journeys != nil {
			s.journeys.Close()
		}
		if s.drift != nil {
			s.drift.Close()
		}
		if s.readBack != nil {
			s.readBack.v.Close()
		}
	}
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	if s.closeShared != nil {
		s.closeShared()
	}
	return err
}

// The proxy resends calls for the admin API; the store erases records for it, and records
// the proxy's calls.
var (
	_ inspect.Replayer = (*proxy.Proxy)(nil)
	_ inspect.Eraser   = (*store.Store)(nil)
	_ proxy.Recorder   = (*store.Store)(nil)
)

// redactConfig is the configured redaction plus every header a route holds a credential in.
func redactConfig(cfg *config.Config) proxy.RedactConfig {
	rc := proxy.RedactConfig(cfg.Redact)
	rc.Headers = slices.Clone(rc.Headers)
	for _, r := range cfg.Routes {
		if r.Auth != nil {
			rc.Headers = append(rc.Headers, r.Auth.Header)
		}
	}
	return rc
}

// missingCredential fails when routes hold a credential whose variable was empty (each named) (proxyRoutes
// then gave the route none): better to refuse to start than to discover it at the first replay.
func missingCredential(rcs []config.Route, routes []proxy.Route) error {
	var errs []error
	for i, rc := range rcs {
		if rc.Auth != nil && routes[i].Auth == nil {
			errs = append(errs, fmt.Errorf("route %s: auth.value_env names %s, but that environment variable is empty; set it to the whole %s header value", rc.Name, rc.Auth.ValueEnv, rc.Auth.Header))
		}
	}
	return errors.Join(errs...)
}

// proxyRoutes turns the configured routes into the proxy's. Credentials are read from the
// environment here; a route whose variable is empty gets none (missingCredential says so).
func proxyRoutes(rcs []config.Route, getenv func(string) string) ([]proxy.Route, error) {
	out := make([]proxy.Route, 0, len(rcs))
	getenv = envOnce(getenv)
	for _, rc := range rcs {
		u, err := url.Parse(rc.Upstream)
		if err != nil {
			return nil, fmt.Errorf("route %s: upstream: %w", rc.Name, err)
		}
		keys, err := schemas.ParseKeyPaths(rc.RecordKeys)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		checks, err := routeChecks(rc, keys)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		var auth *proxy.Auth
		if rc.Auth != nil {
			if v := getenv(rc.Auth.ValueEnv); v != "" {
				auth = &proxy.Auth{Header: rc.Auth.Header, Value: v}
			}
		}
		out = append(out, proxy.Route{Name: rc.Name, Prefix: rc.Prefix, Host: rc.Host, Upstream: u, Owner: rc.Owner, RecordKeys: keys, Timeout: rc.Timeout, Checks: checks, Auth: auth, LimitGroup: rc.LimitGroup(),
			Callers: proxyCallers(rc.Callers, getenv), Queue: queueAnswer(rc.Delivery), Retry: inlineRetry(rc.Delivery)})
	}
	return out, nil
}

// newLogger returns the process logger: JSON lines, or a console format for people, in colour
// only when w is a terminal (a file, a pipe or journald would get raw escape codes).
func newLogger(w io.Writer, format string, level zerolog.Level) zerolog.Logger {
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
