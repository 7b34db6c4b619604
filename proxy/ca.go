package proxy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// CA lifetimes. A leaf is short-lived and re-signed before it expires, so a leaked leaf key is
// worth little; the CA lives long because every tool that trusts it must be told again when it
// changes.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 7 * 24 * time.Hour
	// leafRenewal is how long before its expiry a cached leaf is replaced.
	leafRenewal = 24 * time.Hour
	// clockSkew backdates certificates so a client whose clock is slightly behind accepts them.
	clockSkew = time.Hour
)

// CA is the certificate authority the forward front signs the certificates of intercepted
// hosts with. It is mtguard's own (see GenerateCA and LoadCA), never goproxy's built-in one.
// Leaves are ECDSA P-256 (about 0.3 ms to sign, against some 150 ms for RSA-2048) and cached per
// host until a day before they expire.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	now  func() time.Time

	mu     sync.Mutex
	leaves map[string]*leafEntry
}

// leafEntry is one host's cached certificate; ready is closed once cert or err is set, so
// concurrent first connections to a host sign it once.
type leafEntry struct {
	ready   chan struct{}
	cert    *tls.Certificate
	err     error
	renewAt time.Time
}

// GenerateCA creates a new CA: an ECDSA P-256 key and a self-signed certificate valid for ten
// years from now, both PEM-encoded (the key as PKCS #8).
func GenerateCA(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	// The name carries the creation date and a few serial digits, so that two installations
	// can be told apart in a trust store.
	id := serial.Text(16)
	name := fmt.Sprintf("mtguard forward-proxy CA %s %s", now.UTC().Format(time.DateOnly), id[:min(8, len(id))])
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"mtguard"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode CA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// LoadCA reads a CA certificate and its key from PEM files, as written by "mtguard ca init".
// now is the clock (nil means time.Now). It refuses a certificate that is not a CA, a key that
// does not match it, an expired CA, and (outside Windows) a key file that other users can read:
// whoever holds the key can impersonate any site to every machine that trusts the CA.
func LoadCA(certFile, keyFile string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w (create one with: mtguard ca init)", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w (create one with: mtguard ca init)", err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(keyFile)
		if err != nil {
			return nil, fmt.Errorf("CA key: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("CA key %s is readable by other users (mode %04o); run: chmod 600 %s", keyFile, fi.Mode().Perm(), keyFile)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA %s / %s: %w", certFile, keyFile, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", certFile, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s is not a CA certificate (it cannot sign certificates); create one with: mtguard ca init", certFile)
	}
	if t := now(); t.After(cert.NotAfter) {
		return nil, fmt.Errorf("CA %s expired on %s; create a new one with: mtguard ca init --force, and trust it again", certFile, cert.NotAfter.Format(time.DateOnly))
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key %s cannot sign", keyFile)
	}
	return &CA{cert: cert, key: key, now: now, leaves: map[string]*leafEntry{}}, nil
}

// Certificate returns the leaf certificate for host (a name or an IP, with or without a
// port), signing it on first use and when the cached one nears its expiry.
func (ca *CA) Certificate(host string) (*tls.Certificate, error) {
	name := certName(host)
	now := ca.now()
	ca.mu.Lock()
	e := ca.leaves[name]
	if e != nil {
		select {
		case <-e.ready:
			if e.err != nil || !now.Before(e.renewAt) {
				e = nil // sign again: a failure is not cached, and an old leaf is replaced
			}
		default: // another connection is signing it
		}
	}
	if e == nil {
		e = &leafEntry{ready: make(chan struct{})}
		ca.leaves[name] = e
		ca.mu.Unlock()
		e.cert, e.renewAt, e.err = ca.sign(name, now)
		close(e.ready)
		return e.cert, e.err
	}
	ca.mu.Unlock()
	<-e.ready
	return e.cert, e.err
}

// sign issues a P-256 leaf for name, valid for leafLifetime (never beyond the CA's own expiry).
func (ca *CA) sign(name string, now time.Time) (*tls.Certificate, time.Time, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("generate key for %s: %w", name, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, time.Time{}, err
	}
	notAfter := now.Add(leafLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sign certificate for %s: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("parse certificate for %s: %w", name, err)
	}
	renewAt := notAfter.Add(-leafRenewal)
	if renewAt.Before(now) {
		renewAt = notAfter // the CA itself expires within a day: keep what it can still sign
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, renewAt, nil
}

// Fingerprint is the SHA-256 fingerprint of the CA certificate, as trust stores show it.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert.Raw) }

// Fingerprint formats the SHA-256 fingerprint of a DER certificate as colon-separated hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// NotAfter is when the CA expires.
func (ca *CA) NotAfter() time.Time { return ca.cert.NotAfter }

// certName is the name a leaf is issued for: host without port or IPv6 brackets, lower case.
func certName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil // RFC 5280 serials are positive
}
