package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/floemail/floe/server/certgen"
	"github.com/floemail/floe/server/config"
)

// Generated self-signed certificates live in DataDir/tls.
const (
	tlsDirName   = "tls"
	certFileName = "cert.pem"
	keyFileName  = "key.pem"
	// selfSignedValidity is the lifetime of a generated certificate; it is
	// regenerated when less than selfSignedRenew remains.
	selfSignedValidity = 5 * 365 * 24 * time.Hour
	selfSignedRenew    = 30 * 24 * time.Hour
)

// certStore holds the current certificate; tls.Config.GetCertificate reads
// it, so a reload swaps certificates without touching the listeners.
type certStore struct {
	cert atomic.Pointer[tls.Certificate]
}

// tlsConfig returns the server TLS configuration (TLS 1.2 minimum) backed
// by cs.
func (cs *certStore) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c := cs.cert.Load()
			if c == nil {
				return nil, errors.New("no certificate loaded")
			}
			return c, nil
		},
	}
}

// SelfSignedCertPaths returns where the generated certificate and key of
// dataDir are stored.
func SelfSignedCertPaths(dataDir string) (certFile, keyFile string) {
	dir := filepath.Join(dataDir, tlsDirName)
	return filepath.Join(dir, certFileName), filepath.Join(dir, keyFileName)
}

// loadCertificate returns the certificate the config asks for: the
// [tls] cert_file/key_file pair, or else the self-signed certificate in
// DataDir/tls, generated when it is missing, expiring or does not cover every
// name the server needs (Server.Hostname, "localhost", 127.0.0.1, ::1 and
// every configured domain). A certificate that is still good is reused, so
// clients that accepted it once keep accepting it across restarts.
func loadCertificate(cfg *config.Config, log *slog.Logger) (*tls.Certificate, error) {
	if cfg.TLS.CertFile != "" || cfg.TLS.KeyFile != "" {
		if cfg.TLS.CertFile == "" || cfg.TLS.KeyFile == "" {
			return nil, errors.New("tls: set both cert_file and key_file, or neither to use a generated certificate")
		}
		c, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: loading %s and %s: %w", cfg.TLS.CertFile, cfg.TLS.KeyFile, err)
		}
		return &c, nil
	}
	names := certNames(cfg)
	certFile, keyFile := SelfSignedCertPaths(cfg.Server.DataDir)
	if c, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		if reason := unfit(c.Leaf, names); reason == "" {
			return &c, nil
		} else {
			log.Info("regenerating self-signed certificate", slog.String("file", certFile), slog.String("reason", reason))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Warn("regenerating unreadable self-signed certificate", slog.String("file", certFile), slog.Any("error", err))
	}
	c, err := generateSelfSigned(certFile, keyFile, names)
	if err != nil {
		return nil, fmt.Errorf("tls: generating a self-signed certificate in %s: %w", filepath.Dir(certFile), err)
	}
	log.Info("generated self-signed certificate", slog.String("file", certFile), slog.Any("names", names))
	return c, nil
}

// certNames lists the DNS names and IP addresses a generated certificate
// covers.
func certNames(cfg *config.Config) []string {
	names := []string{}
	add := func(n string) {
		n = strings.ToLower(strings.TrimSpace(n))
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	add(cfg.Server.Hostname)
	add("localhost")
	add("127.0.0.1")
	add("::1")
	for _, d := range cfg.Domains {
		add(d.Name)
	}
	return names
}

// unfit says why leaf cannot be reused for names ("" when it can).
func unfit(leaf *x509.Certificate, names []string) string {
	if leaf == nil {
		return "certificate unreadable"
	}
	if time.Until(leaf.NotAfter) < selfSignedRenew {
		return "certificate expires soon"
	}
	for _, n := range names {
		if err := leaf.VerifyHostname(n); err != nil {
			return "certificate does not cover " + n
		}
	}
	return ""
}

// generateSelfSigned creates an ECDSA P-256 certificate for names and writes
// it to certFile (0644) and keyFile (0600), each through a temporary file
// renamed into place.
func generateSelfSigned(certFile, keyFile string, names []string) (*tls.Certificate, error) {
	c, err := certgen.New(names, selfSignedValidity)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(keyFile, c.KeyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certFile, c.CertPEM, 0o644); err != nil {
		return nil, err
	}
	return &c.TLS, nil
}

// writeFileAtomic writes data to a temporary file in path's directory with
// mode perm, fsyncs it and renames it over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
