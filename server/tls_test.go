package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"log/slog"
	"os"
	"testing"

	"github.com/floemail/floe/server/config"
)

func TestSelfSignedCertificate(t *testing.T) {
	cfg := config.Development()
	cfg.Server.DataDir = t.TempDir()
	cfg.Server.Hostname = "mail.example.test"
	log := slog.New(slog.DiscardHandler)

	c1, err := loadCertificate(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c1.Leaf
	if leaf == nil {
		t.Fatal("no leaf")
	}
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("key type %T, want ECDSA", leaf.PublicKey)
	}
	for _, n := range []string{"mail.example.test", "localhost", "127.0.0.1", "::1", "example.test"} {
		if err := leaf.VerifyHostname(n); err != nil {
			t.Errorf("certificate does not cover %s: %v", n, err)
		}
	}
	certFile, keyFile := SelfSignedCertPaths(cfg.Server.DataDir)
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %o, want 600", perm)
	}
	pem1, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}

	// Restart: the same certificate is reused.
	c2, err := loadCertificate(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c1.Certificate[0], c2.Certificate[0]) {
		t.Fatal("certificate regenerated on restart; want it reused")
	}

	// A new domain is not covered: a new certificate is generated.
	cfg.Domains = append(cfg.Domains, config.Domain{Name: "other.test"})
	c3, err := loadCertificate(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(c1.Certificate[0], c3.Certificate[0]) {
		t.Fatal("certificate not regenerated for a new domain")
	}
	if err := c3.Leaf.VerifyHostname("other.test"); err != nil {
		t.Fatal(err)
	}
	pem3, _ := os.ReadFile(certFile)
	if bytes.Equal(pem1, pem3) {
		t.Fatal("certificate file not rewritten")
	}

	// Configured files win over the generated certificate.
	cfg2 := config.Development()
	cfg2.Server.DataDir = t.TempDir()
	cfg2.TLS.CertFile, cfg2.TLS.KeyFile = certFile, keyFile
	c4, err := loadCertificate(cfg2, log)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c4.Certificate[0], c3.Certificate[0]) {
		t.Fatal("configured certificate not used")
	}
	cfg2.TLS.KeyFile = cfg2.Server.DataDir + "/missing.pem"
	if _, err := loadCertificate(cfg2, log); err == nil {
		t.Fatal("missing key file accepted")
	}
}

func TestTLSConfigMinVersion(t *testing.T) {
	var cs certStore
	tc := cs.tlsConfig()
	if tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion = %x, want TLS 1.2", tc.MinVersion)
	}
	if _, err := tc.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Fatal("GetCertificate without a certificate did not fail")
	}
}
