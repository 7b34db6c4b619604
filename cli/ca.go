package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
)

const caUsage = `Usage:
  mtguard ca init [--config FILE] [--cert FILE] [--key FILE] [--force]

Creates the CA whose certificates the forward proxy presents for the vendor hosts it
intercepts (an ECDSA P-256 key, mode 0600, and a certificate valid for ten years), and prints
how to make tools trust it. The files are forward.ca of --config, or ./mtguard-ca.pem and
./mtguard-ca-key.pem; --cert and --key override either. Existing files are kept unless --force.
`

// CA runs "mtguard ca init".
func CA(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "init" {
		fmt.Fprint(stderr, caUsage)
		if len(args) == 0 {
			return fmt.Errorf("ca: missing subcommand: %w", ErrUsage)
		}
		return fmt.Errorf("ca: unknown subcommand %q (only init): %w", args[0], ErrUsage)
	}
	fset := NewFlagSet("ca init", stderr)
	fset.Usage = func() { fmt.Fprint(stderr, caUsage) }
	configPath := fset.String("config", "", "take the file names (and the proxy address) from this config's forward: block")
	certPath := fset.String("cert", "", "CA certificate `file` (default ./mtguard-ca.pem)")
	keyPath := fset.String("key", "", "CA private key `file` (default ./mtguard-ca-key.pem)")
	force := fset.Bool("force", false, "replace existing files (every tool must then trust the new CA)")
	pos, err := ParseFlags(fset, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("ca init takes no arguments (got %q): %w", pos[0], ErrUsage)
	}

	certFile, keyFile, listen := config.DefaultCACert, config.DefaultCAKey, config.DefaultForwardListen
	if *configPath != "" {
		cfg, err := config.Load(*configPath)
		if err != nil {
			return err
		}
		if cfg.Forward.Listen == "" {
			return fmt.Errorf("%s has no forward: block; add one (see docs/forward-proxy.md) or give --cert and --key", *configPath)
		}
		certFile, keyFile, listen = cfg.Forward.CA.Cert, cfg.Forward.CA.Key, cfg.Forward.Listen
	}
	if *certPath != "" {
		certFile = *certPath
	}
	if *keyPath != "" {
		keyFile = *keyPath
	}
	if certFile == keyFile {
		return fmt.Errorf("--cert and --key name the same file %s: %w", certFile, ErrUsage)
	}
	if !*force {
		for _, f := range []string{certFile, keyFile} {
			if _, err := os.Stat(f); err == nil {
				return fmt.Errorf("%s exists; keep it, or replace the CA with mtguard ca init --force (every tool that trusts the old CA must then trust the new one)", f)
			}
		}
	}

	certPEM, keyPEM, err := proxy.GenerateCA(time.Now())
	if err != nil {
		return err
	}
	// The key first, created with mode 0600 from the start: it never exists readable by others.
	if err := writeNew(keyFile, keyPEM, 0o600, *force); err != nil {
		return err
	}
	if err := writeNew(certFile, certPEM, 0o644, *force); err != nil {
		return err
	}
	ca, err := proxy.LoadCA(certFile, keyFile, nil)
	if err != nil {
		return fmt.Errorf("check the new CA: %w", err)
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	host, port, _ := net.SplitHostPort(listen)
	return caTrustText.Execute(stdout, map[string]string{
		"Cert": abs(certFile), "Key": abs(keyFile), "Listen": listen, "Host": host, "Port": port,
		"Until": ca.NotAfter().Format(time.DateOnly), "Fingerprint": ca.Fingerprint(),
	})
}

// writeNew writes data to a file that did not exist (or, with replace, is removed first), so
// that perm applies whatever the file was before.
func writeNew(path string, data []byte, perm os.FileMode, replace bool) error {
	if replace {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// caTrustText is what "mtguard ca init" prints: where the CA is and how each kind of tool comes
// to trust it.
var caTrustText = template.Must(template.New("trust").Parse(`Created mtguard's forward-proxy CA (ECDSA P-256, valid until {{.Until}}):
  certificate  {{.Cert}}
  private key  {{.Key}}  (mode 0600; keep it secret: whoever holds it can impersonate
               any site to every machine that trusts this CA)
  SHA-256      {{.Fingerprint}}

Point forward.ca at these files (cert, key) unless they are the defaults, run mtguard serve, then
send the tools through the proxy and make them trust the certificate (never the key):

  Proxy       HTTPS_PROXY=http://{{.Listen}}  (HTTP_PROXY too for plain-http vendors;
              NO_PROXY for hosts that should not go through mtguard)
  System      Debian/Ubuntu: sudo cp {{.Cert}} /usr/local/share/ca-certificates/mtguard-ca.crt && sudo update-ca-certificates
              RHEL/Fedora:   sudo cp {{.Cert}} /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust
              macOS:         sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {{.Cert}}
              Windows:       certutil -addstore -f Root {{.Cert}}
  Node.js     NODE_EXTRA_CA_CERTS={{.Cert}}  (added to Node's own roots)
  Python      REQUESTS_CA_BUNDLE (requests) and SSL_CERT_FILE (ssl, httpx) replace the default roots, so
              point them at a bundle that keeps them:
              cat "$(python3 -m certifi)" {{.Cert}} > mtguard-bundle.pem
              REQUESTS_CA_BUNDLE=$PWD/mtguard-bundle.pem SSL_CERT_FILE=$PWD/mtguard-bundle.pem
  Java        keytool -importcert -noprompt -alias mtguard -file {{.Cert}} -cacerts -storepass changeit
              (Java 8: -keystore "$JAVA_HOME/jre/lib/security/cacerts"); Java ignores HTTPS_PROXY:
              java -Dhttps.proxyHost={{.Host}} -Dhttps.proxyPort={{.Port}} ...
  curl        curl --proxy http://{{.Listen}} --cacert {{.Cert}} https://...
`))
