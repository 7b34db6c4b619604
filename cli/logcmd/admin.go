package logcmd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/mtguard/mtguard/inspect/client"
)

// DefaultAdminURL is where the CLI looks for the admin API when neither --admin nor
// MTGUARD_ADMIN says otherwise; it matches config.DefaultAdminListen (package cli's test
// holds them equal: config is not imported here, it reaches the whole server).
const DefaultAdminURL = "http://127.0.0.1:9090"

// AdminClient builds the admin API client from --admin, MTGUARD_ADMIN, MTGUARD_ADMIN_TOKEN and
// MTGUARD_ADMIN_CA.
func AdminClient(flagURL string, getenv func(string) string) *client.Client {
	u := flagURL
	if u == "" {
		u = getenv("MTGUARD_ADMIN")
	}
	if u == "" {
		u = DefaultAdminURL
	}
	return &client.Client{BaseURL: u, Token: getenv("MTGUARD_ADMIN_TOKEN"), HTTP: adminHTTP(getenv)}
}

// adminCAEnv names the PEM file of the CA that signed the admin API's certificate, for an admin
// API served over https (admin.tls) with a certificate the system does not trust.
const adminCAEnv = "MTGUARD_ADMIN_CA"

// adminHTTP is the admin client's HTTP client. With MTGUARD_ADMIN_CA set, https URLs are
// trusted only when signed by the CA(s) in that file; without it, by the system's roots.
func adminHTTP(getenv func(string) string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	rt := &adminTransport{base: tr, ca: getenv(adminCAEnv)}
	if rt.ca != "" {
		tr.TLSClientConfig.RootCAs, rt.err = loadAdminCA(rt.ca)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: rt}
}

// loadAdminCA reads the CA bundle MTGUARD_ADMIN_CA names.
func loadAdminCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", adminCAEnv, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate; name the file of the CA that signed the admin API's certificate", adminCAEnv, file)
	}
	return pool, nil
}

// adminTransport fails every call when MTGUARD_ADMIN_CA does not load (rather than fall back
// to other roots), and says what to do when the admin API's certificate is not trusted.
type adminTransport struct {
	base *http.Transport
	ca   string
	err  error
}

func (t *adminTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.err != nil {
		return nil, t.err
	}
	resp, err := t.base.RoundTrip(req)
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown) && t.ca == "":
		err = fmt.Errorf("%w (the admin API's certificate is not signed by a CA this system trusts: set %s to the PEM file of the CA that signed it)", err, adminCAEnv)
	case errors.As(err, &unknown):
		err = fmt.Errorf("%w (the admin API's certificate is not signed by the CA in %s=%s)", err, adminCAEnv, t.ca)
	case errors.As(err, &host):
		err = fmt.Errorf("%w (call the admin API by a name its certificate holds)", err)
	}
	return resp, err
}
