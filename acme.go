package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/mtguard/mtguard/config"
)

// acmeCerts is a listener whose certificate comes from an ACME CA (tls.acme, admin.tls.acme),
// through golang.org/x/crypto/acme/autocert. The CA proves control of each name with the
// tls-alpn-01 challenge: it connects to port 443 of the name and asks, by ALPN, for the
// challenge certificate, which the listener itself answers, so no other port (no port 80) is
// needed. Certificates are obtained when serve starts (warm), kept in the cache folder with the
// account key, and renewed by autocert before they expire (30 days before, or a third of the
// lifetime for short ones), without a restart.
type acmeCerts struct {
	key     string // "tls" or "admin.tls", for messages
	domains []string
	m       *acmeManager
	log     zerolog.Logger

	mu          sync.Mutex
	lastFailure string // the last failure logged, so a retry storm is logged once
}

// acmeManager is one autocert.Manager, shared by the listeners whose blocks name the same
// directory, email and cache: the CA's challenge connection for a name of the admin listener
// may then be answered by the data plane (the one reachable on port 443), and the account is
// registered once.
type acmeManager struct {
	m      *autocert.Manager
	client *acme.Client
	cache  *loggingCache
	names  []string // every listener's domains: the host policy
}

// acmeSetup builds the listeners' ACME managers: it checks the cache folders (without creating
// them: check-config runs it too) and contacts nobody.
func acmeSetup(cfg *config.Config, data, admin **acmeCerts) error {
	managers := map[string]*acmeManager{}
	var errs []error
	for _, l := range []struct {
		key string
		t   *config.TLS
		out **acmeCerts
	}{{"tls", cfg.TLS, data}, {"admin.tls", cfg.Admin.TLS, admin}} {
		if l.t == nil || l.t.ACME == nil {
			continue
		}
		a := *l.t.ACME
		if a.Cache == "" {
			a.Cache = config.DefaultACMECache(cfg.Store.Path)
		}
		if err := checkACMECache(a.Cache); err != nil {
			errs = append(errs, fmt.Errorf("%s.acme.cache: %w", l.key, err))
			continue
		}
		id := a.Directory + "\x00" + a.Email + "\x00" + filepath.Clean(a.Cache)
		mgr := managers[id]
		if mgr == nil {
			mgr = newACMEManager(a)
			managers[id] = mgr
		}
		mgr.allow(a.Domains)
		*l.out = &acmeCerts{key: l.key, domains: a.Domains, m: mgr, log: zerolog.Nop()}
	}
	return errors.Join(errs...)
}

// newACMEManager makes the manager of one acme block; its host policy starts empty (allow).
func newACMEManager(a config.ACME) *acmeManager {
	mgr := &acmeManager{
		client: &acme.Client{DirectoryURL: a.Directory, UserAgent: "mtguard/" + version},
		cache:  &loggingCache{dir: autocert.DirCache(a.Cache), log: zerolog.Nop()},
	}
	mgr.m = &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  mgr.cache,
		Client: mgr.client,
		Email:  a.Email,
	}
	return mgr
}

// allow adds names to the manager's host policy.
func (mgr *acmeManager) allow(domains []string) {
	mgr.names = append(mgr.names, domains...)
	mgr.m.HostPolicy = autocert.HostWhitelist(mgr.names...)
}

// checkACMECache checks that dir is, or can be made, a folder serve can write: it exists as a
// writable folder, or its parent folder exists.
func checkACMECache(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(dir)
		if pfi, perr := os.Stat(parent); perr != nil || !pfi.IsDir() {
			return fmt.Errorf("neither %s nor its parent folder %s exists; create %s, or point cache at a folder in an existing one", dir, parent, parent)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%v; point cache at a folder mtguard can write to", err)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a folder; point cache at a folder (it holds the ACME account key and the certificates)", dir)
	}
	f, err := os.CreateTemp(dir, ".mtguard-check-*")
	if err != nil {
		return fmt.Errorf("mtguard cannot create files in %s (%v); make the folder writable by the user serve runs as", dir, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// prepare creates the cache folder, readable by serve's user only since it holds private keys,
// and tightens an existing one to 0700.
func (a *acmeCerts) prepare() error {
	dir := string(a.m.cache.dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s.acme.cache: %w", a.key, err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("%s.acme.cache: %s is readable by others and mtguard cannot restrict it (%v); chmod 700 %s: it holds private keys", a.key, dir, err, dir)
		}
		a.log.Warn().Str("listener", a.key).Str("cache", dir).Msg("restricted the ACME cache folder to its owner (0700): it holds private keys")
	}
	return nil
}

// getCertificate is the listener's tls.Config.GetCertificate. A tls-alpn-01 challenge
// connection gets the challenge certificate (for any name of the manager: another listener's
// order may be validated here); a client naming one of the listener's domains gets its
// certificate, obtained first if need be; any other name, or none, fails the handshake.
func (a *acmeCerts) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto {
		return a.m.m.GetCertificate(hello)
	}
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if name == "" {
		return nil, fmt.Errorf("no server name (SNI) in the TLS hello; call the listener by one of its names (%s)", strings.Join(a.domains, ", "))
	}
	if !slices.Contains(a.domains, name) {
		return nil, fmt.Errorf("%q is not one of the listener's names (%s)", name, strings.Join(a.domains, ", "))
	}
	cert, err := a.m.m.GetCertificate(hello)
	if err != nil {
		a.failed(name, err)
	}
	return cert, err
}

// failed logs a failure to obtain a certificate at error level, once until it changes.
func (a *acmeCerts) failed(name string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if msg := err.Error(); msg != a.lastFailure {
		a.lastFailure = msg
		a.log.Error().Err(err).Str("listener", a.key).Str("domain", name).Str("directory", a.m.client.DirectoryURL).
			Msg("cannot obtain the TLS certificate from the ACME CA; handshakes for this name fail until it is obtained (retried on the next handshake after a minute)")
	}
}

// warm obtains (or loads from the cache) the certificate of each domain, so the first client
// does not wait for the CA. It returns when every domain has been tried; failures are logged.
func (a *acmeCerts) warm() {
	for _, d := range a.domains {
		hello := &tls.ClientHelloInfo{
			ServerName:        d,
			CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedCurves:   []tls.CurveID{tls.CurveP256},
			SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		}
		if _, err := a.getCertificate(hello); err == nil {
			a.log.Info().Str("listener", a.key).Str("domain", d).Msg("the TLS certificate from the ACME CA is ready")
		}
	}
}

// serverConfig is the listener's TLS configuration: as for certificate files (TLS 1.2 at least,
// tls12CipherSuites, HTTP/1.1), plus the acme-tls/1 protocol for the challenge.
func (a *acmeCerts) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12CipherSuites,
		GetCertificate: a.getCertificate,
		NextProtos:     []string{"http/1.1", acme.ALPNProto},
	}
}

// wrap makes ln serve TLS with certificates from the CA, logging to log, as certFiles.wrap
// does; a nil a leaves ln and srv as they are.
func (a *acmeCerts) wrap(srv *http.Server, ln net.Listener, log zerolog.Logger) net.Listener {
	if a == nil {
		return ln
	}
	a.log = log
	a.m.cache.log = log
	return tlsListener(a.key, a.serverConfig(), srv, ln, log)
}

// setHTTPClient makes the manager talk to the CA with c (tests: a client trusting a test CA).
func (a *acmeCerts) setHTTPClient(c *http.Client) {
	if a != nil && c != nil {
		a.m.client.HTTPClient = c
	}
}

// loggingCache is the cache folder (autocert.DirCache), logging each certificate stored in it:
// that is when one was obtained or renewed.
type loggingCache struct {
	dir autocert.DirCache
	log zerolog.Logger
}

func (c *loggingCache) Get(ctx context.Context, key string) ([]byte, error) {
	return c.dir.Get(ctx, key)
}

func (c *loggingCache) Delete(ctx context.Context, key string) error {
	return c.dir.Delete(ctx, key)
}

func (c *loggingCache) Put(ctx context.Context, key string, data []byte) error {
	err := c.dir.Put(ctx, key, data)
	if strings.Contains(key, "+token") || strings.HasPrefix(key, "acme_account") {
		return err
	}
	ev := c.log.Info()
	if err != nil {
		ev = c.log.Error().Err(err)
	}
	if leaf := firstCert(data); leaf != nil {
		ev = ev.Str("issuer", leaf.Issuer.String()).Str("names", strings.Join(leaf.DNSNames, ",")).Time("not_after", leaf.NotAfter)
	}
	ev.Str("cache", string(c.dir)).Str("entry", key).Msg("obtained a TLS certificate from the ACME CA")
	return err
}

// firstCert is the first certificate of a cache entry (the key, then the chain, in PEM).
func firstCert(data []byte) *x509.Certificate {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil
			}
			return c
		}
	}
}
