package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
)

// tlsCheckEvery is how often, at most, a listener looks at its certificate files for a change:
// on a handshake, never in between, so an idle listener costs nothing.
const tlsCheckEvery = 5 * time.Second

// tls12CipherSuites are the TLS 1.2 suites the listeners accept: forward secret (ECDHE) and
// AEAD only, no CBC, no RSA key exchange, no 3DES. TLS 1.3's suites are Go's, which are all
// modern and not configurable.
var tls12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// listenerTLS holds the certificate files of the listeners that serve HTTPS, or their ACME
// managers (acme.go); a listener with neither speaks plain HTTP.
type listenerTLS struct {
	data, admin         *certFiles
	dataACME, adminACME *acmeCerts
}

// loadListenerTLS loads the pairs the config names, every problem joined. serve's preflight
// calls it, so check-config reports what serve would.
func loadListenerTLS(cfg *config.Config) (listenerTLS, error) {
	var lt listenerTLS
	var errs []error
	var err error
	if lt.data, err = loadCertFiles("tls", cfg.TLS); err != nil {
		errs = append(errs, err)
	}
	if lt.admin, err = loadCertFiles("admin.tls", cfg.Admin.TLS); err != nil {
		errs = append(errs, err)
	}
	if err := acmeSetup(cfg, &lt.dataACME, &lt.adminACME); err != nil {
		errs = append(errs, err)
	}
	return lt, errors.Join(errs...)
}

// wrap makes the data plane's (data) or the admin API's listener serve TLS, with files or ACME,
// or leaves it plain.
func (lt listenerTLS) wrap(data bool, srv *http.Server, ln net.Listener, log zerolog.Logger) net.Listener {
	if data {
		if lt.dataACME != nil {
			return lt.dataACME.wrap(srv, ln, log)
		}
		return lt.data.wrap(srv, ln, log)
	}
	if lt.adminACME != nil {
		return lt.adminACME.wrap(srv, ln, log)
	}
	return lt.admin.wrap(srv, ln, log)
}

// acme is the listeners that get their certificate from an ACME CA.
func (lt listenerTLS) acme() []*acmeCerts {
	var out []*acmeCerts
	for _, a := range []*acmeCerts{lt.dataACME, lt.adminACME} {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

// certFiles is one listener's certificate and key files and the pair loaded from them. The
// files are looked at, at most every tlsCheckEvery, on a handshake; when either changed (its
// size, its modification time, or the file a path names, as a rename or a symlink swap does) the
// pair is loaded again. A new pair that does not load (a half-written file, a key that belongs
// to another certificate, an expired certificate) leaves the old one in use, and is logged once.
type certFiles struct {
	key         string // "tls" or "admin.tls", for messages
	cfg         config.TLS
	every       time.Duration
	log         zerolog.Logger
	cert        atomic.Pointer[tls.Certificate]
	next        atomic.Int64 // unix nano of the next look at the files
	mu          sync.Mutex   // held by the handshake that looks; others go on with the current pair
	loaded      [2]os.FileInfo
	failed      [2]os.FileInfo // the files as they were when a reload failed, so it is not retried
	lastFailure string
	now         func() time.Time
}

// loadCertFiles loads a listener's pair; nil (and no error) when the listener has no TLS.
func loadCertFiles(key string, t *config.TLS) (*certFiles, error) {
	if t == nil || t.ACME != nil {
		return nil, nil
	}
	c := &certFiles{key: key, cfg: *t, every: tlsCheckEvery, log: zerolog.Nop(), now: time.Now}
	stamps, _ := c.stat()
	cert, err := config.LoadKeyPair(t.Cert, t.Key, c.now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	c.cert.Store(cert)
	c.loaded = stamps
	c.next.Store(c.now().Add(c.every).UnixNano())
	return c, nil
}

// stat looks at both files; the error is the first file that cannot be looked at.
func (c *certFiles) stat() ([2]os.FileInfo, error) {
	var out [2]os.FileInfo
	var errs []error
	for i, p := range []string{c.cfg.Cert, c.cfg.Key} {
		fi, err := os.Stat(p)
		out[i] = fi
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// sameFiles reports whether two looks at the pair saw the same files, unchanged.
func sameFiles(a, b [2]os.FileInfo) bool {
	for i := range a {
		if a[i] == nil || b[i] == nil || !os.SameFile(a[i], b[i]) || !a[i].ModTime().Equal(b[i].ModTime()) || a[i].Size() != b[i].Size() {
			return false
		}
	}
	return true
}

// getCertificate is the listener's tls.Config.GetCertificate: the current pair, after a look
// at the files when one is due.
func (c *certFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if now := c.now(); now.UnixNano() >= c.next.Load() && c.mu.TryLock() {
		c.next.Store(now.Add(c.every).UnixNano())
		c.reload(now)
		c.mu.Unlock()
	}
	return c.cert.Load(), nil
}

// reload loads the pair again if the files changed since it was loaded, or since the last
// attempt failed. The files are looked at before they are read, so a change while they are read
// is seen at the next look.
func (c *certFiles) reload(now time.Time) {
	stamps, err := c.stat()
	if err == nil && (sameFiles(stamps, c.loaded) || sameFiles(stamps, c.failed)) {
		return
	}
	var cert *tls.Certificate
	if err == nil {
		cert, err = config.LoadKeyPair(c.cfg.Cert, c.cfg.Key, now)
	}
	if err != nil {
		c.failed = stamps
		if msg := err.Error(); msg != c.lastFailure {
			c.lastFailure = msg
			c.log.Error().Err(err).Str("listener", c.key).Str("cert", c.cfg.Cert).Str("key", c.cfg.Key).
				Msg("the TLS certificate files changed but do not load; still serving the previous certificate")
		}
		return
	}
	c.cert.Store(cert)
	c.loaded, c.failed, c.lastFailure = stamps, [2]os.FileInfo{}, ""
	c.log.Info().Str("listener", c.key).Str("cert", c.cfg.Cert).Str("subject", cert.Leaf.Subject.String()).
		Str("names", strings.Join(cert.Leaf.DNSNames, ",")).Time("not_after", cert.Leaf.NotAfter).
		Msg("reloaded the TLS certificate")
}

// serverConfig is the listener's TLS configuration: TLS 1.2 at least, tls12CipherSuites for
// 1.2, and HTTP/1.1 only (the proxy and the admin API are HTTP/1.1 servers).
func (c *certFiles) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12CipherSuites,
		GetCertificate: c.getCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// wrap makes ln serve TLS with c's pair, logging reloads to log, and gives srv an error log
// that keeps failed handshakes out of sight; a nil c leaves ln and srv as they are.
func (c *certFiles) wrap(srv *http.Server, ln net.Listener, log zerolog.Logger) net.Listener {
	if c == nil {
		return ln
	}
	c.log = log
	return tlsListener(c.key, c.serverConfig(), srv, ln, log)
}

// tlsListener makes ln serve TLS with cfg and gives srv an error log that keeps failed
// handshakes out of sight.
func tlsListener(key string, cfg *tls.Config, srv *http.Server, ln net.Listener, log zerolog.Logger) net.Listener {
	srv.ErrorLog = stdlog.New(serverErrorLog{log.With().Str("listener", key).Logger()}, "", 0)
	return tls.NewListener(ln, cfg)
}

// serverErrorLog is a TLS listener's http.Server.ErrorLog: failed handshakes (scanners, TLS 1.1,
// a client that does not trust the certificate, plain HTTP on the port) are logged at debug
// level, since anyone on the network can cause them; anything else at error level.
type serverErrorLog struct{ log zerolog.Logger }

func (w serverErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	ev := w.log.Error()
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		ev = w.log.Debug()
	}
	ev.Msg(msg)
	return len(p), nil
}

// checkEvery sets how often the files are looked at (tests); 0 leaves tlsCheckEvery.
func (lt listenerTLS) checkEvery(d time.Duration) {
	for _, c := range []*certFiles{lt.data, lt.admin} {
		if c != nil && d > 0 {
			c.every = d
			c.next.Store(c.now().Add(d).UnixNano())
		}
	}
}

// scheme is how a listener is called: https with a tls block, http without.
func scheme(t *config.TLS) string {
	if t != nil {
		return "https"
	}
	return "http"
}
