package delivery

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/smallstep/pkcs7"

	"github.com/floemail/floe/storage"
)

// CertEntry is the server metadata entry (RFC 5464, mailbox 0, private to
// the account) holding the account's S/MIME certificate in PEM: the
// seed's cert.pem. The account stores it with IMAP SETMETADATA, the
// administrator with `floe rules cert ACCOUNT cert.pem`.
const CertEntry = "/private/vendor/floe/smime-cert"

// maxEncrypt bounds the message size encrypt holds in memory.
const maxEncrypt = 64 << 20

func init() {
	// CMS content encryption: AES-256-CBC (RFC 3565), which Thunderbird,
	// Outlook and OpenSSL read; the library's default (DES) is not
	// acceptable. This package is the library's only user in Floe.
	pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmAES256CBC
}

// AccountCert returns the S/MIME certificate of acct.
func AccountCert(ctx context.Context, st storage.Store, acct storage.AccountID) (*x509.Certificate, error) {
	es, err := st.GetMetadata(ctx, acct, 0, []string{CertEntry}, 0)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, errors.New("the account has no S/MIME certificate (cert.pem)")
	}
	return ParseCert(es[0].Value)
}

// ParseCert reads the first certificate of a PEM file; it must have an RSA
// key (CMS key transport).
func ParseCert(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no certificate in the PEM data")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, errors.New("the certificate's key is not RSA")
		}
		return c, nil
	}
}

// encrypt turns the message read from msg into an S/MIME enveloped-data
// message (RFC 8551 3.3) for the recipient account's certificate: the
// header fields other than Content-* stay outside; the MIME entity (the
// Content-* fields and the body) is encrypted into CMS enveloped-data
// (RFC 5652 6) with AES-256-CBC.
func (d *Deliverer) encrypt(ctx context.Context, r Recipient, msg io.Reader) (io.Reader, error) {
	cert, err := AccountCert(ctx, d.store, r.Account)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(msg, maxEncrypt+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxEncrypt {
		return nil, fmt.Errorf("message larger than %d bytes", maxEncrypt)
	}
	return EncryptMessage(data, cert)
}

// EncryptMessage builds the S/MIME enveloped-data message of data for cert.
func EncryptMessage(data []byte, cert *x509.Certificate) (io.Reader, error) {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, errors.New("message without a header")
	}
	fields := splitHeader(data[:end+2])
	var outer, inner strings.Builder
	for _, f := range fields {
		ln := strings.ToLower(f.name)
		switch {
		case strings.HasPrefix(ln, "content-"):
			inner.WriteString(f.raw)
		case ln == "mime-version":
		default:
			outer.WriteString(f.raw)
		}
	}
	if inner.Len() == 0 {
		inner.WriteString("Content-Type: text/plain; charset=us-ascii\r\n")
	}
	inner.WriteString("\r\n")
	entity := append([]byte(inner.String()), data[end+4:]...)
	der, err := pkcs7.Encrypt(entity, []*x509.Certificate{cert})
	if err != nil {
		return nil, fmt.Errorf("cms: %w", err)
	}
	outer.WriteString("MIME-Version: 1.0\r\n")
	outer.WriteString("Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"\r\n")
	outer.WriteString("Content-Disposition: attachment; filename=\"smime.p7m\"\r\n")
	outer.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	b64 := base64.StdEncoding.EncodeToString(der)
	for len(b64) > 76 {
		outer.WriteString(b64[:76] + "\r\n")
		b64 = b64[76:]
	}
	outer.WriteString(b64 + "\r\n")
	return strings.NewReader(outer.String()), nil
}
