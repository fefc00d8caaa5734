package clientsvc

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/floemail/floe/server/config"
)

// License is the signed content of a license document.
type License struct {
	// Format is "floe-license-1".
	Format    string    `json:"format"`
	ID        int64     `json:"id"` // the activation's ID
	Product   string    `json:"product"`
	Account   string    `json:"account"`
	Domain    string    `json:"domain"`
	MachineID string    `json:"machine_id"`
	Server    string    `json:"server"` // the issuing server's public host name
	Issued    time.Time `json:"issued"`
	Expires   time.Time `json:"expires"`
}

// Document is what a client receives and keeps: the license as the exact
// bytes that were signed (base64) and the Ed25519 signature over them
// (RFC 8032), verifiable offline with the server's public key.
type Document struct {
	Algorithm string `json:"algorithm"` // "Ed25519"
	KeyID     string `json:"key_id"`    // KeyID of the signing public key
	Payload   string `json:"payload"`   // base64 (standard) of the License JSON
	Signature string `json:"signature"` // base64 (standard) of the signature over the payload bytes
}

// Constants of the license format.
const (
	LicenseFormat = "floe-license-1"
	Product       = "floe-client"
	Algorithm     = "Ed25519"
)

// Errors of VerifyDocument.
var (
	ErrBadSignature = errors.New("license signature does not verify with this public key")
	ErrMalformed    = errors.New("malformed license document")
)

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Sign signs l with key.
func Sign(key ed25519.PrivateKey, l License) (Document, error) {
	l.Format, l.Product = LicenseFormat, Product
	l.Issued, l.Expires = l.Issued.UTC().Truncate(time.Second), l.Expires.UTC().Truncate(time.Second)
	payload, err := json.Marshal(l)
	if err != nil {
		return Document{}, err
	}
	return Document{
		Algorithm: Algorithm,
		KeyID:     KeyID(key.Public().(ed25519.PublicKey)),
		Payload:   base64.StdEncoding.EncodeToString(payload),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, payload)),
	}, nil
}

// VerifyDocument checks doc's signature with pub and returns its license.
// It does not check expiry: the caller compares Expires with its clock.
func VerifyDocument(pub ed25519.PublicKey, doc Document) (License, error) {
	if doc.Algorithm != Algorithm {
		return License{}, ErrMalformed
	}
	payload, err := base64.StdEncoding.DecodeString(doc.Payload)
	if err != nil {
		return License{}, ErrMalformed
	}
	sig, err := base64.StdEncoding.DecodeString(doc.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return License{}, ErrMalformed
	}
	if !ed25519.Verify(pub, payload, sig) {
		return License{}, ErrBadSignature
	}
	var l License
	if err := json.Unmarshal(payload, &l); err != nil || l.Format != LicenseFormat {
		return License{}, ErrMalformed
	}
	return l, nil
}

// KeyFile returns the signing key file of cfg.
func KeyFile(cfg *config.Config) string {
	if cfg.ClientSvc.SigningKeyFile != "" {
		return cfg.ClientSvc.SigningKeyFile
	}
	return filepath.Join(cfg.Server.DataDir, "license", "ed25519.pem")
}

// LoadOrCreateKey reads the Ed25519 private key (PEM "PRIVATE KEY", PKCS #8)
// at path, generating it (mode 0600, directory 0700) when the file does not
// exist. Two processes creating it at once end up with the same key: the
// file is linked into place only if absent, and the loser reads the
// winner's.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	if k, err := readKey(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ed25519-*.pem")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return readKey(path)
}

func readKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM \"PRIVATE KEY\"", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return ek, nil
}

// PublicKeyPEM returns pub as PEM "PUBLIC KEY" (PKIX).
func PublicKeyPEM(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// NewActivationKey returns a random activation key: "FLOE-" and four groups
// of five base32 characters (100 bits).
func NewActivationKey() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])[:20]
	return "FLOE-" + s[0:5] + "-" + s[5:10] + "-" + s[10:15] + "-" + s[15:20]
}

// NormalizeKey uppercases a key typed by a person and removes spaces.
func NormalizeKey(k string) string {
	return strings.ToUpper(strings.Join(strings.Fields(k), ""))
}

// MarshalDocument encodes doc as indented JSON with a final newline (the
// form written to files by `floe license issue`).
func MarshalDocument(doc Document) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.Encode(doc)
	return b.Bytes()
}
