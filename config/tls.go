package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/yamlstrict"
)

// TLS names the PEM certificate (chain) and private key a listener serves HTTPS with:
// tls: {cert: FILE, key: FILE} at the top level for the data plane, admin.tls for the admin
// API. Nil when the block is absent: the listener speaks plain HTTP. Load resolves relative
// paths against the config file's folder and checks that the pair loads (LoadKeyPair).
type TLS struct {
	Cert, Key string
	// ACME, when set, replaces Cert and Key (both empty): the listener obtains and renews its
	// certificate from an ACME CA itself (acme.go).
	ACME *ACME
	// Line, CertLine and KeyLine are where the block and its keys are written, for messages.
	Line, CertLine, KeyLine int
	// path is the block's key path ("tls" or "admin.tls"), for messages.
	path string
}

// tlsBlocks reads the data plane's tls: and admin.tls (admin() accepts the key; its value is
// read here so that TLS lives in this file).
func (p *configParser) tlsBlocks(cfg *Config, top yamlstrict.Map) {
	cfg.TLS = p.tls(top.Get("tls"), "tls")
	cfg.Admin.TLS = p.tls(yamlstrict.Lookup(top.Get("admin"), "tls"), "admin.tls")
}

// tls reads one {cert, key} or {acme: {...}} block; cert and key go together, acme alone.
func (p *configParser) tls(n *yaml.Node, key string) *TLS {
	n = yamlstrict.Deref(n)
	if !yamlstrict.Present(n) {
		return nil
	}
	f, ok := p.Mapping(n, key, "cert", "key", "acme")
	if !ok {
		return nil
	}
	t := &TLS{Line: n.Line, path: key}
	if f.Get("acme") != nil { // written, even if empty
		an := yamlstrict.Deref(f.Get("acme"))
		if f.Has("cert") || f.Has("key") {
			p.Addf(fieldLine(f, "acme", n.Line), key+".acme", "acme and cert/key are alternatives: either mtguard obtains the certificate (acme) or you give its files (cert, key); remove one")
			return nil
		}
		if t.ACME = p.acme(an, key+".acme"); t.ACME == nil {
			return nil // reported
		}
		return t
	}
	for _, k := range []struct {
		name, what string
		val        *string
		line       *int
	}{
		{"cert", "the PEM certificate, with its intermediates, e.g. /etc/mtguard/tls.crt", &t.Cert, &t.CertLine},
		{"key", "the PEM private key of that certificate, e.g. /etc/mtguard/tls.key", &t.Key, &t.KeyLine},
	} {
		vn := f.Get(k.name)
		v, ok := p.Str(vn, key+"."+k.name)
		switch {
		case !ok && !yamlstrict.Given(vn):
			p.Addf(n.Line, key, "%s is required (the file of %s)", k.name, k.what)
		case ok && strings.TrimSpace(v) == "":
			p.Addf(vn.Line, key+"."+k.name, "empty path; name the file of %s", k.what)
		case ok:
			*k.val, *k.line = v, vn.Line
		}
	}
	if t.Cert == "" || t.Key == "" {
		return nil // reported
	}
	return t
}

// resolve makes relative paths relative to dir, as Load does for store.path.
func (t *TLS) resolve(dir string) {
	if t == nil {
		return
	}
	if t.ACME != nil {
		if t.ACME.Cache != "" && !filepath.IsAbs(t.ACME.Cache) {
			t.ACME.Cache = filepath.Join(dir, t.ACME.Cache)
		}
		return
	}
	for _, p := range []*string{&t.Cert, &t.Key} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// loadTLSFiles resolves both listeners' files against dir and checks that each pair loads,
// reporting every problem with the line of the key it is about.
func loadTLSFiles(name string, cfg *Config, dir string) error {
	var probs []Problem
	for _, t := range []*TLS{cfg.TLS, cfg.Admin.TLS} {
		if t == nil {
			continue
		}
		t.resolve(dir)
		if t.ACME != nil {
			if t.ACME.Cache == "" {
				t.ACME.Cache = DefaultACMECache(cfg.Store.Path)
			}
			continue // nothing to load: the certificate is obtained when serve runs
		}
		if _, err := LoadKeyPair(t.Cert, t.Key, time.Now()); err != nil {
			probs = append(probs, t.problem(err))
		}
	}
	if len(probs) == 0 {
		return nil
	}
	yamlstrict.Problems(probs).SortByLine()
	return &Error{Name: name, Problems: probs}
}

// problem places a LoadKeyPair error on the line of the key it is about.
func (t *TLS) problem(err error) Problem {
	p := Problem{Line: t.Line, Key: t.path, Msg: err.Error()}
	var ke *KeyPairError
	if errors.As(err, &ke) {
		p.Msg = ke.Msg
		switch ke.File {
		case "cert":
			p.Line, p.Key = t.CertLine, t.path+".cert"
		case "key":
			p.Line, p.Key = t.KeyLine, t.path+".key"
		}
	}
	return p
}

// KeyPairError is why a certificate and key pair does not load. File is "cert" or "key" when
// one file is at fault, "" when it is the pair (the key does not match the certificate).
type KeyPairError struct {
	File string
	Msg  string
}

func (e *KeyPairError) Error() string {
	if e.File == "" {
		return e.Msg
	}
	return e.File + ": " + e.Msg
}

// LoadKeyPair reads a PEM certificate (chain) and its private key, and checks that they belong
// together and that the certificate is valid at now. Load uses it to check the files and serve
// to load them (at start and on every reload), so check-config and serve agree. Its errors are
// *KeyPairError.
func LoadKeyPair(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := readPEM("cert", certFile, "certificate")
	if err != nil {
		return nil, err
	}
	keyPEM, err := readPEM("key", keyFile, "private key")
	if err != nil {
		return nil, err
	}
	if !hasBlock(certPEM, func(t string) bool { return t == "CERTIFICATE" }) {
		return nil, &KeyPairError{"cert", fmt.Sprintf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----); is it the key?", certFile)}
	}
	if !hasBlock(keyPEM, func(t string) bool { return t == "PRIVATE KEY" || strings.HasSuffix(t, " PRIVATE KEY") }) {
		return nil, &KeyPairError{"key", fmt.Sprintf("%s holds no PEM private key (-----BEGIN PRIVATE KEY-----); is it the certificate? An encrypted key must be decrypted first", keyFile)}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "does not match"):
			return nil, &KeyPairError{"", fmt.Sprintf("the key in %s does not belong to the certificate in %s; replace both files with the pair the certificate was issued for", keyFile, certFile)}
		case strings.Contains(msg, "private key"):
			return nil, &KeyPairError{"key", fmt.Sprintf("%s: %v", keyFile, strings.TrimPrefix(msg, "tls: "))}
		}
		return nil, &KeyPairError{"cert", fmt.Sprintf("%s: %v", certFile, strings.TrimPrefix(msg, "tls: "))}
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, &KeyPairError{"cert", fmt.Sprintf("%s: %v", certFile, err)}
		}
		cert.Leaf = leaf
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, &KeyPairError{"cert", fmt.Sprintf("%s expired on %s; renew it", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(leaf.NotBefore):
		return nil, &KeyPairError{"cert", fmt.Sprintf("%s is not valid before %s; check the clock, or wait", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	return &cert, nil
}

// readPEM reads one of the pair's files, explaining a failure.
func readPEM(which, file, what string) ([]byte, error) {
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &KeyPairError{which, fmt.Sprintf("%s does not exist; name the file of the %s (a relative path is relative to the config file's folder)", file, what)}
	case errors.Is(err, fs.ErrPermission):
		return nil, &KeyPairError{which, fmt.Sprintf("mtguard cannot read %s (permission denied); make it readable by the user serve runs as", file)}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &KeyPairError{which, fmt.Sprintf("cannot read %s (%v); name the file of the %s", file, err, what)}
	}
	return b, nil
}

// hasBlock reports whether data holds a PEM block whose type satisfies ok.
func hasBlock(data []byte, ok func(string) bool) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if ok(b.Type) {
			return true
		}
	}
}
