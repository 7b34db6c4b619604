package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
)

// server is a running mtguard: the store, the data plane and the admin API.
type server struct {
	cfg       *config.Config
	store     *store.Store
	pipeline  *proxy.Pipeline
	data      *http.Server
	admin     *http.Server
	dataAddr  string
	adminAddr string
	forward   *forwardListener // nil when forward mode is off
	alerts    *alerting
	log       zerolog.Logger
	stopping  atomic.Bool
	errs      chan error
	cancel    context.CancelFunc
}

// startServer opens the store and starts both listeners. Addresses ending in :0 get a free
// port; dataAddr and adminAddr tell which.
func startServer(ctx context.Context, cfg *config.Config, getenv func(string) string, log zerolog.Logger) (*server, error) {
	token := ""
	if cfg.Admin.TokenEnv != "" {
		token = getenv(cfg.Admin.TokenEnv)
		if token == "" {
			return nil, fmt.Errorf("admin.token_env names %s, but that environment variable is empty; set it to the admin API token", cfg.Admin.TokenEnv)
		}
	}
	routes, err := proxyRoutes(cfg.Routes, getenv)
	if err != nil {
		return nil, err
	}
	if err := checkCredentialEnv(cfg.Routes, getenv); err != nil {
		return nil, err
	}
	forwardCfg, err := forwardSettings(cfg.Forward, getenv)
	if err != nil {
		return nil, err
	}
	transport, err := upstreamTransport(cfg.Forward)
	if err != nil {
		return nil, err
	}
	limits := &limiterView{}
	alerts, err := newAlerting(cfg, limits, getenv, log)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(cfg.Store.Path, store.Options{OnResult: alerts.engine.Observe, JournalPrealloc: journalPrealloc})
	if err != nil {
		return nil, err
	}
	if n := st.Recovered(); n > 0 {
		log.Warn().Int("calls", n).Msg("marked calls left without an outcome by the previous run as interrupted")
	}
	// The limiter counts the calls the log already holds, so a restart does not reset a quota.
	groups, routesOf := limitGroups(cfg.Routes)
	if limits.l, err = proxy.NewLimiter(groups, routesOf, st.SendTimes, nil); err != nil {
		st.Close()
		return nil, fmt.Errorf("limits: %w", err)
	}
	pipeline, err := proxy.NewPipeline(proxy.PipelineConfig{
		Recorder:           st,
		Transport:          transport,
		MaxBody:            cfg.Store.MaxBody,
		CaptureBody:        cfg.Store.CaptureBody,
		RejectOnStoreError: cfg.Store.OnError == config.OnErrorReject,
		Redactor:           proxy.NewRedactor(redactConfig(cfg)),
		Logger:             log,
		Limiter:            limits.l,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &server{cfg: cfg, store: st, pipeline: pipeline, log: log, errs: make(chan error, 3)}
	// A call may wait for its vendor's budget (max_wait), then for the vendor's answer.
	maxWait := map[string]time.Duration{}
	for _, g := range groups {
		maxWait[g.Name] = g.MaxWait
	}
	maxTimeout := proxy.DefaultTimeout
	for _, r := range routes {
		maxTimeout = max(maxTimeout, maxWait[r.LimitGroup]+r.Timeout)
	}
	reverse := proxy.NewProxy(routes, pipeline, log)
	s.data = &http.Server{
		Handler:           reverse,
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		// The answer may only start once the vendor answered: allow the longest route timeout.
		WriteTimeout: readTimeout + maxTimeout,
		IdleTimeout:  idleTimeout,
		ErrorLog:     nil,
	}
	s.admin = &http.Server{
		Handler: inspect.NewServer(inspect.ServerConfig{
			Transactions: st,
			Replayer:     reverse,
			Eraser:       st,
			Alerts:       alerts.engine,
			Metrics:      alerts.metrics.Handler(),
			Limits:       limits,
			Token:        token,
			Ready:        s.ready,
			Logger:       log,
			Version:      version,
		}),
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       idleTimeout,
	}
	dataLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s (listen): %w", cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		dataLn.Close()
		st.Close()
		return nil, fmt.Errorf("listen on %s (admin.listen): %w", cfg.Admin.Listen, err)
	}
	if s.forward, err = listenForward(cfg, forwardCfg, routes, pipeline, readTimeout+maxTimeout, log); err != nil {
		adminLn.Close()
		dataLn.Close()
		st.Close()
		return nil, err
	}
	s.dataAddr, s.adminAddr = dataLn.Addr().String(), adminLn.Addr().String()
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.alerts = alerts
	alerts.start(ctx, cfg.Store.Path, st, pipeline)
	go s.serve(s.data, dataLn)
	go s.serve(s.admin, adminLn)
	s.forward.start(s.errs)
	go st.RunRetention(bg, cfg.Store.Retention, retentionEvery, func(n int, err error) {
		if err != nil {
			log.Error().Err(err).Msg("retention sweep failed")
			return
		}
		log.Info().Int("deleted", n).Dur("retention", cfg.Store.Retention).Msg("retention sweep")
	})
	return s, nil
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
	s.alerts.close()
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// The proxy resends calls for the admin API; the store erases records for it.
var (
	_ inspect.Replayer = (*proxy.Proxy)(nil)
	_ inspect.Eraser   = (*store.Store)(nil)
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

// checkCredentialEnv fails when a route's credential variable is empty: better to refuse to
// start than to discover it at the first replay.
func checkCredentialEnv(rcs []config.Route, getenv func(string) string) error {
	for _, rc := range rcs {
		if rc.Auth != nil && getenv(rc.Auth.ValueEnv) == "" {
			return fmt.Errorf("route %s: auth.value_env names %s, but that environment variable is empty; set it to the whole %s header value", rc.Name, rc.Auth.ValueEnv, rc.Auth.Header)
		}
	}
	return nil
}

// proxyRoutes turns the configured routes into the proxy's. Credentials are read from the
// environment here; a route whose variable is empty gets none (startServer refuses that).
func proxyRoutes(rcs []config.Route, getenv func(string) string) ([]proxy.Route, error) {
	out := make([]proxy.Route, 0, len(rcs))
	for _, rc := range rcs {
		u, err := url.Parse(rc.Upstream)
		if err != nil {
			return nil, fmt.Errorf("route %s: upstream: %w", rc.Name, err)
		}
		keys, err := schemas.ParseKeyPaths(rc.RecordKeys)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		checks, err := routeChecks(rc)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		var auth *proxy.Auth
		if rc.Auth != nil && getenv(rc.Auth.ValueEnv) != "" {
			auth = &proxy.Auth{Header: rc.Auth.Header, Value: getenv(rc.Auth.ValueEnv)}
		}
		out = append(out, proxy.Route{Name: rc.Name, Prefix: rc.Prefix, Host: rc.Host, Upstream: u, Owner: rc.Owner, RecordKeys: keys, Timeout: rc.Timeout, Checks: checks, Auth: auth, LimitGroup: rc.LimitGroup()})
	}
	return out, nil
}

// newLogger returns the process logger: JSON lines, or a console format for people.
func newLogger(w io.Writer, format string, level zerolog.Level) zerolog.Logger {
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}
