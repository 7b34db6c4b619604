package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeCA(t *testing.T, certPEM, keyPEM []byte, keyMode os.FileMode) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, keyMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, keyMode); err != nil { // past the umask
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestGenerateCA(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	certPEM, keyPEM, err := GenerateCA(now)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", cert.PublicKey)
	}
	if !cert.IsCA || !cert.MaxPathLenZero || cert.KeyUsage&x509.KeyUsageCertSign == 0 || len(cert.SubjectKeyId) == 0 {
		t.Errorf("CA certificate: IsCA %v MaxPathLenZero %v KeyUsage %v SKID %x", cert.IsCA, cert.MaxPathLenZero, cert.KeyUsage, cert.SubjectKeyId)
	}
	if !strings.HasPrefix(cert.Subject.CommonName, "mtguard forward-proxy CA 2026-11-28 ") || cert.NotAfter.Before(now.AddDate(9, 0, 0)) {
		t.Errorf("CA %q valid until %v", cert.Subject.CommonName, cert.NotAfter)
	}
	if kb, _ := pem.Decode(keyPEM); kb == nil || kb.Type != "PRIVATE KEY" {
		t.Errorf("key PEM is not PKCS #8")
	}
	// Two CAs never share a key or a name.
	certPEM2, _, _ := GenerateCA(now)
	b2, _ := pem.Decode(certPEM2)
	c2, _ := x509.ParseCertificate(b2.Bytes)
	if c2.Subject.CommonName == cert.Subject.CommonName || c2.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Errorf("two CAs share a name or serial")
	}
}

func TestLoadCA(t *testing.T) {
	now := time.Now()
	certPEM, keyPEM, err := GenerateCA(now)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, _ := GenerateCA(now)

	t.Run("ok", func(t *testing.T) {
		c, k := writeCA(t, certPEM, keyPEM, 0o600)
		ca, err := LoadCA(c, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ca.Fingerprint()) != 32*3-1 {
			t.Errorf("fingerprint %q", ca.Fingerprint())
		}
	})
	t.Run("key readable by others", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no POSIX modes")
		}
		c, k := writeCA(t, certPEM, keyPEM, 0o644)
		if _, err := LoadCA(c, k, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("LoadCA with a 0644 key: %v", err)
		}
	})
	t.Run("key of another CA", func(t *testing.T) {
		c, k := writeCA(t, certPEM, otherKey, 0o600)
		if _, err := LoadCA(c, k, nil); err == nil {
			t.Error("LoadCA accepted a key that does not match the certificate")
		}
	})
	t.Run("not a CA", func(t *testing.T) {
		c, k := writeCA(t, otherCert, otherKey, 0o600)
		ca, _ := LoadCA(c, k, nil)
		leaf, err := ca.Certificate("example.com")
		if err != nil {
			t.Fatal(err)
		}
		leafKey, _ := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
		c, k = writeCA(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: leafKey}), 0o600)
		if _, err := LoadCA(c, k, nil); err == nil || !strings.Contains(err.Error(), "not a CA") {
			t.Errorf("LoadCA with a leaf: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		c, k := writeCA(t, certPEM, keyPEM, 0o600)
		later := func() time.Time { return now.AddDate(11, 0, 0) }
		if _, err := LoadCA(c, k, later); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("LoadCA of an expired CA: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := LoadCA(filepath.Join(t.TempDir(), "none.pem"), "none-key.pem", nil); err == nil || !strings.Contains(err.Error(), "mtguard ca init") {
			t.Errorf("LoadCA of missing files: %v", err)
		}
	})
}

func TestCALeaves(t *testing.T) {
	certPEM, keyPEM, err := GenerateCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, k := writeCA(t, certPEM, keyPEM, 0o600)
	clock := time.Now()
	var mu sync.Mutex
	ca, err := LoadCA(c, k, func() time.Time { mu.Lock(); defer mu.Unlock(); return clock })
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)

	for _, host := range []string{"api.hubapi.com:443", "API.HubAPI.com", "127.0.0.1:8443", "[::1]:443"} {
		leaf, err := ca.Certificate(host)
		if err != nil {
			t.Fatal(err)
		}
		name := certName(host)
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: clock}); err != nil {
			t.Errorf("leaf for %s does not verify: %v", host, err)
		}
		if pub, ok := leaf.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
			t.Errorf("leaf for %s has a %T key, want P-256", host, leaf.Leaf.PublicKey)
		}
	}

	// Cached per host, whatever the port or case; signed once under concurrent first use.
	a, _ := ca.Certificate("api.hubapi.com:443")
	b, _ := ca.Certificate("api.hubapi.com")
	if a != b {
		t.Error("the leaf of api.hubapi.com is signed twice")
	}
	var wg sync.WaitGroup
	got := make([]any, 16)
	for i := range got {
		wg.Go(func() {
			c, err := ca.Certificate("new.example.com")
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		})
	}
	wg.Wait()
	for _, c := range got {
		if c != got[0] {
			t.Fatal("concurrent first connections signed several leaves")
		}
	}

	// A leaf is replaced a day before it expires.
	mu.Lock()
	clock = clock.Add(leafLifetime - leafRenewal + time.Minute)
	mu.Unlock()
	c2, _ := ca.Certificate("api.hubapi.com")
	if c2 == a || !c2.Leaf.NotAfter.After(a.Leaf.NotAfter) {
		t.Error("a leaf near its expiry was not renewed")
	}
}

// BenchmarkLeafSign measures what the leaf cache saves on each new intercepted host.
func BenchmarkLeafSign(b *testing.B) {
	certPEM, keyPEM, err := GenerateCA(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	c, k := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(c, certPEM, 0o644)
	os.WriteFile(k, keyPEM, 0o600)
	ca, err := LoadCA(c, k, nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for b.Loop() {
		if _, _, err := ca.sign("api.hubapi.com", now); err != nil {
			b.Fatal(err)
		}
	}
}
