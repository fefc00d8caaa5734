// Package certgen makes self-signed TLS certificates: the one the server
// generates when no certificate is configured (the development default),
// and the ones the protocol tests run their listeners with.
package certgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"time"
)

// Cert is a generated certificate with its key.
type Cert struct {
	TLS     tls.Certificate // with Leaf set
	CertPEM []byte          // "CERTIFICATE"
	KeyPEM  []byte          // "PRIVATE KEY" (PKCS #8)
}

// New returns a self-signed ECDSA P-256 certificate for names (DNS names
// and IP literals; the first is the subject), valid from an hour ago for
// validity. It is its own CA, so clients can import it as a trust anchor.
func New(names []string, validity time.Duration) (*Cert, error) {
	if len(names) == 0 {
		return nil, errors.New("certgen: no names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"Floe self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Cert{
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Pair returns a server TLS config with a fresh certificate for names and a
// client config that trusts exactly that certificate, verifying the first
// name (for tests). It panics on failure, which only a broken system's
// random source causes.
func Pair(names ...string) (server, client *tls.Config) {
	c, err := New(names, 24*time.Hour)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.TLS.Leaf)
	server = &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, ServerName: names[0], MinVersion: tls.VersionTLS12}
	return server, client
}
