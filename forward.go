package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
	"github.com/rs/zerolog"
)

// forwardSettings prepares forward mode from the config before anything is opened: it loads
// the CA and reads the proxy credentials from the environment. It returns nil when forward
// mode is off.
func forwardSettings(fc config.Forward, getenv func(string) string) (*proxy.ForwardConfig, error) {
	if fc.Listen == "" {
		return nil, nil
	}
	ca, err := proxy.LoadCA(fc.CA.Cert, fc.CA.Key, nil)
	if err != nil {
		return nil, fmt.Errorf("forward.ca: %w", err)
	}
	out := &proxy.ForwardConfig{CA: ca, UnknownHosts: fc.UnknownHosts, IdleTimeout: idleTimeout}
	if a := fc.ProxyAuth; a != nil {
		user, pass := getenv(a.UsernameEnv), getenv(a.PasswordEnv)
		var errs []error
		for _, v := range []struct{ key, env, val string }{
			{"username_env", a.UsernameEnv, user}, {"password_env", a.PasswordEnv, pass},
		} {
			if v.val == "" {
				errs = append(errs, fmt.Errorf("forward.proxy_auth.%s names %s, but that environment variable is empty; set it to the forward proxy's credential", v.key, v.env))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		out.Auth = &proxy.ProxyAuth{Username: user, Password: pass}
	}
	return out, nil
}

// upstreamTransport returns the transport to vendors when forward.upstream_ca adds trusted
// roots, or nil for the pipeline's default.
func upstreamTransport(fc config.Forward) (http.RoundTripper, error) {
	if fc.UpstreamCA == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(fc.UpstreamCA)
	if err != nil {
		return nil, fmt.Errorf("forward.upstream_ca: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool() // no system roots on this platform: the bundle alone
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("forward.upstream_ca: %s holds no PEM certificate", fc.UpstreamCA)
	}
	tr := proxy.NewTransport()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	return tr, nil
}

// forwardListener is the forward proxy as the server runs it.
type forwardListener struct {
	fwd  *proxy.Forward
	srv  *http.Server
	ln   net.Listener
	addr string
}

// listenForward builds the forward front and opens its listener; start serves it. It returns
// nil when forward mode is off.
func listenForward(cfg *config.Config, settings *proxy.ForwardConfig, routes []proxy.Route, pipeline *proxy.Pipeline, writeTimeout time.Duration, log zerolog.Logger) (*forwardListener, error) {
	if settings == nil {
		return nil, nil
	}
	fwd, err := proxy.NewForward(routes, pipeline, *settings, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Forward.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (forward.listen): %w", cfg.Forward.Listen, err)
	}
	srv := &http.Server{
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
	}
	return &forwardListener{fwd: fwd, srv: srv, ln: ln, addr: ln.Addr().String()}, nil
}

// start serves the forward proxy in the background; a failure goes to errs.
func (f *forwardListener) start(errs chan<- error) {
	if f == nil {
		return
	}
	go func() {
		if err := f.fwd.Serve(f.srv, f.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
	}()
}

// describe prints where the forward proxy listens and which routes it intercepts, under
// serve's banner.
func (f *forwardListener) describe(w io.Writer, cfg *config.Config) {
	if f == nil {
		return
	}
	fmt.Fprintf(w, "  forward proxy http://%s  (HTTPS_PROXY; CA %s; unknown hosts: %s)\n", f.addr, cfg.Forward.CA.Cert, cfg.Forward.UnknownHosts)
	for _, r := range cfg.Routes {
		if r.Host != "" {
			fmt.Fprintf(w, "  route %-16s https://%s/... through the forward proxy -> %s\n", r.Name, r.Host, r.Upstream)
		}
	}
}

// shutdown stops the forward proxy: no new connections, calls in flight finish, tunnels close.
func (f *forwardListener) shutdown(ctx context.Context) error {
	if f == nil {
		return nil
	}
	return f.fwd.Shutdown(ctx)
}
