// Package dkim manages Floe's DKIM signing keys and signs outgoing mail
// (RFC 6376) with github.com/emersion/go-msgauth/dkim.
//
// Keys live on disk, one PKCS#8 PEM file per selector:
//
//	<dir>/<domain>/<selector>.pem   private key, mode 0600
//	<dir>/<domain>/active           the selector used for signing (optional)
//
// A domain may hold several selectors so keys can be rotated: generate a new
// selector, publish its TXT record, wait for DNS to spread, then make it
// active (Generate with activate, or write its name into "active"); keep the
// old key published for a few days so messages in flight still verify.
// Without an "active" file the most recently modified key signs.
//
// The key directory is re-read when any file in it changes (checked at most
// once a second, on Sign and List) or on Reload.
package dkim

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// Algorithms accepted by Generate.
const (
	RSA     = "rsa"     // RSA 2048 (rsa-sha256), the default
	Ed25519 = "ed25519" // ed25519-sha256, RFC 8463
)

// RSABits is the size of generated RSA keys.
const RSABits = 2048

// SignedHeaders are the header fields signed when present (RFC 6376
// 5.4.1). From is signed once more than it occurs ("oversigned", RFC 6376
// 5.4.2) so that no From field can be added without breaking the signature.
var SignedHeaders = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To",
	"References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// maxHeader bounds the message header read before signing.
const maxHeader = 1 << 20

// Errors.
var (
	ErrInvalidName = errors.New("dkim: invalid domain or selector")
	ErrExists      = errors.New("dkim: selector already exists")
	ErrNoKey       = errors.New("dkim: no such key")
	ErrAlgorithm   = errors.New("dkim: unknown algorithm (use rsa or ed25519)")
)

// Key is one selector's key.
type Key struct {
	Domain    string
	Selector  string
	Algorithm string // RSA or Ed25519
	Active    bool
	Modified  time.Time
	signer    crypto.Signer
}

// Keys is the set of DKIM keys under one directory. It is safe for
// concurrent use.
type Keys struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	keys    map[string][]*Key // domain -> keys, sorted by selector
	stamp   string            // fingerprint of the directory at last load
	checked time.Time
}

// Open loads the keys under dir (created when missing, mode 0700).
func Open(dir string, log *slog.Logger) (*Keys, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	k := &Keys{dir: dir, log: log}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload re-reads the key directory. Keys that cannot be read are logged
// and skipped.
func (k *Keys) Reload() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reloadLocked()
}

func (k *Keys) reloadLocked() error {
	stamp, err := k.fingerprint()
	if err != nil {
		return err
	}
	keys := map[string][]*Key{}
	domains, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	for _, d := range domains {
		if !d.IsDir() || validName(d.Name()) != nil {
			continue
		}
		domain := d.Name()
		ddir := filepath.Join(k.dir, domain)
		files, err := os.ReadDir(ddir)
		if err != nil {
			k.log.Warn("dkim: reading key directory", "domain", domain, "err", err)
			continue
		}
		active := ""
		if b, err := os.ReadFile(filepath.Join(ddir, "active")); err == nil {
			active = strings.TrimSpace(string(b))
		}
		var list []*Key
		for _, f := range files {
			sel, ok := strings.CutSuffix(f.Name(), ".pem")
			if !ok || f.IsDir() || validName(sel) != nil {
				continue
			}
			key, err := readKey(filepath.Join(ddir, f.Name()))
			if err != nil {
				k.log.Warn("dkim: unusable key", "domain", domain, "selector", sel, "err", err)
				continue
			}
			key.Domain, key.Selector = domain, sel
			list = append(list, key)
		}
		if len(list) == 0 {
			continue
		}
		slices.SortFunc(list, func(a, b *Key) int { return strings.Compare(a.Selector, b.Selector) })
		var act *Key
		for _, key := range list {
			if key.Selector == active {
				act = key
			}
		}
		if act == nil {
			if active != "" {
				k.log.Warn("dkim: active selector has no key; using the newest", "domain", domain, "selector", active)
			}
			for _, key := range list {
				if act == nil || key.Modified.After(act.Modified) {
					act = key
				}
			}
		}
		act.Active = true
		keys[domain] = list
	}
	k.keys, k.stamp, k.checked = keys, stamp, time.Now()
	return nil
}

// fingerprint summarises names, sizes and times of every file under dir.
func (k *Keys) fingerprint() (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(k.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		fmt.Fprintf(&b, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	return b.String(), nil
}

// refresh reloads when the directory changed; checks at most once a second.
// Called with k.mu held.
func (k *Keys) refresh() {
	if time.Since(k.checked) < time.Second {
		return
	}
	k.checked = time.Now()
	stamp, err := k.fingerprint()
	if err != nil || stamp == k.stamp {
		return
	}
	if err := k.reloadLocked(); err != nil {
		k.log.Warn("dkim: reloading keys", "err", err)
	}
}

func readKey(path string) (*Key, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	key := &Key{Modified: info.ModTime()}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		key.Algorithm, key.signer = RSA, p
	case ed25519.PrivateKey:
		key.Algorithm, key.signer = Ed25519, p
	default:
		return nil, fmt.Errorf("unsupported key type %T", priv)
	}
	return key, nil
}

// validName accepts a DNS label sequence: letters, digits, '-', '_', '.'.
func validName(s string) error {
	if s == "" || len(s) > 253 || s[0] == '.' || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return ErrInvalidName
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return ErrInvalidName
		}
	}
	return nil
}

// Generate creates a key for domain and selector (algorithm RSA or
// Ed25519; "" means RSA) and writes it with mode 0600. The first key of a
// domain becomes its active key; later ones wait for Activate, so that a
// new key signs only once its TXT record is published. The domain is
// lowercased.
func (k *Keys) Generate(domain, selector, algorithm string) (*Key, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	selector = strings.ToLower(selector)
	if validName(domain) != nil || validName(selector) != nil || strings.Contains(selector, ".") {
		return nil, ErrInvalidName
	}
	var priv crypto.Signer
	switch strings.ToLower(algorithm) {
	case "", RSA:
		algorithm = RSA
		p, err := rsa.GenerateKey(rand.Reader, RSABits)
		if err != nil {
			return nil, err
		}
		priv = p
	case Ed25519:
		algorithm = Ed25519
		_, p, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = p
	default:
		return nil, ErrAlgorithm
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	ddir := filepath.Join(k.dir, domain)
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	path := filepath.Join(ddir, selector+".pem")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, ErrExists
	} else if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("dkim: writing key: %w", err)
	}
	if err := k.reloadLocked(); err != nil {
		return nil, err
	}
	if len(k.keys[domain]) == 1 {
		if err := k.activateLocked(domain, selector); err != nil {
			return nil, err
		}
	}
	return k.findLocked(domain, selector)
}

// Activate makes selector the signing key of domain.
func (k *Keys) Activate(domain, selector string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.activateLocked(strings.ToLower(domain), strings.ToLower(selector))
}

func (k *Keys) activateLocked(domain, selector string) error {
	if _, err := k.findLocked(domain, selector); err != nil {
		return err
	}
	path := filepath.Join(k.dir, domain, "active")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(selector+"\n"), 0o600); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	return k.reloadLocked()
}

func (k *Keys) findLocked(domain, selector string) (*Key, error) {
	for _, key := range k.keys[domain] {
		if key.Selector == selector {
			c := *key
			return &c, nil
		}
	}
	return nil, ErrNoKey
}

// List returns every key, sorted by domain and selector.
func (k *Keys) List() []Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refresh()
	var out []Key
	for _, list := range k.keys {
		for _, key := range list {
			c := *key
			c.signer = nil
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Key) int {
		if c := strings.Compare(a.Domain, b.Domain); c != 0 {
			return c
		}
		return strings.Compare(a.Selector, b.Selector)
	})
	return out
}

// active returns the signing key of domain or nil.
func (k *Keys) active(domain string) *Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refresh()
	for _, key := range k.keys[domain] {
		if key.Active {
			return key
		}
	}
	return nil
}

// TXTRecord returns the DNS name and TXT value publishing the public key of
// domain's selector (RFC 6376 3.6.1), e.g. "s1._domainkey.example.org" and
// "v=DKIM1; k=rsa; p=MIIB...". The value may exceed 255 bytes; DNS servers
// split it into several strings.
func (k *Keys) TXTRecord(domain, selector string) (name, value string, err error) {
	domain, selector = strings.ToLower(domain), strings.ToLower(selector)
	k.mu.Lock()
	key, err := k.findLocked(domain, selector)
	var signer crypto.Signer
	if err == nil {
		signer = k.keys[domain][slices.IndexFunc(k.keys[domain], func(x *Key) bool { return x.Selector == selector })].signer
	}
	k.mu.Unlock()
	if err != nil {
		return "", "", err
	}
	value, err = txtValue(signer)
	if err != nil {
		return "", "", err
	}
	return key.Selector + "._domainkey." + key.Domain, value, nil
}

func txtValue(s crypto.Signer) (string, error) {
	switch pub := s.Public().(type) {
	case *rsa.PublicKey:
		// RFC 6376 3.6.1: p= is the base64 SubjectPublicKeyInfo for RSA.
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		// RFC 8463 4.2: the raw 32-byte public key.
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("dkim: unsupported public key %T", s.Public())
}

// Sign reads the whole message and returns the "DKIM-Signature: ...\r\n"
// header field to prepend to it, signed with domain's active key (relaxed/
// relaxed canonicalisation, rsa-sha256 or ed25519-sha256). It returns ""
// and no error when domain has no key.
func (k *Keys) Sign(domain string, msg io.Reader) (string, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	key := k.active(domain)
	if key == nil {
		return "", nil
	}
	br := bufio.NewReader(msg)
	head, names, err := readHeader(br)
	if err != nil {
		return "", err
	}
	var hk []string
	for _, h := range SignedHeaders {
		for range names[strings.ToLower(h)] {
			hk = append(hk, h)
		}
	}
	hk = append(hk, "From") // oversign, RFC 6376 5.4.2; From is required (5.4)
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 domain,
		Selector:               key.Selector,
		Signer:                 key.signer,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             hk,
	})
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(s, io.MultiReader(bytes.NewReader(head), br)); err != nil {
		_ = s.Close()
		return "", fmt.Errorf("dkim: signing: %w", err)
	}
	if err := s.Close(); err != nil {
		return "", fmt.Errorf("dkim: signing: %w", err)
	}
	return s.Signature(), nil
}

// readHeader reads the header section (up to and including the empty line,
// at most maxHeader bytes) and counts the field names, lowercased.
func readHeader(br *bufio.Reader) ([]byte, map[string]int, error) {
	var head []byte
	names := map[string]int{}
	partial := false // the previous read ended inside a line
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || partial {
			// Inside a very long line: no field name, no end of header.
			partial = errors.Is(err, bufio.ErrBufferFull)
			head = append(head, line...)
			if len(head) > maxHeader {
				return nil, nil, errors.New("dkim: message header too large")
			}
			if err != nil && !partial {
				if err == io.EOF {
					return head, names, nil
				}
				return nil, nil, err
			}
			continue
		}
		head = append(head, line...)
		if len(head) > maxHeader {
			return nil, nil, errors.New("dkim: message header too large")
		}
		trimmed := strings.TrimRight(string(line), "\r\n")
		if trimmed == "" || err != nil {
			if err != nil && err != io.EOF {
				return nil, nil, err
			}
			return head, names, nil
		}
		if line[0] != ' ' && line[0] != '\t' {
			if i := strings.IndexByte(trimmed, ':'); i > 0 {
				names[strings.ToLower(strings.TrimSpace(trimmed[:i]))]++
			}
		}
	}
}
