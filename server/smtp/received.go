package smtp

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"time"

	"github.com/floemail/floe/server/delivery"
)

type tlsState = tls.ConnectionState

// receivedInfo is what the Received header records.
type receivedInfo struct {
	helo     string
	remote   netip.Addr
	hostname string
	id       string
	tls      *tlsState
	auth     bool
	utf8     bool
	rcpts    []delivery.Recipient
	now      time.Time
}

// receivedHeader returns the Received trace field (RFC 5321 4.4, RFC 5322
// 3.6.7), folded, ending in CRLF:
//
//	Received: from helo ([192.0.2.1])
//		by mx.example.com (Floe) with ESMTPS id 1a2b3c.1
//		(TLS1.3 TLS_AES_128_GCM_SHA256)
//		for <user@example.com>; Mon, 2 Jan 2006 15:04:05 -0700
//
// The "with" protocol follows RFC 3848 (ESMTP, ESMTPA, ESMTPS, ESMTPSA) and
// RFC 6531 3.7.3 (UTF8SMTP...). No DNS is consulted: the client is named by
// its HELO argument (when it is a syntactically valid domain or address
// literal) and its IP address literal. "for" is given only for a single
// recipient, so that the header does not disclose the other (Bcc)
// recipients.
func receivedHeader(in receivedInfo) string {
	lit := addressLiteral(in.remote)
	from := lit
	if validHelo(in.helo) {
		from = in.helo
	}
	with := "ESMTP"
	if in.utf8 {
		with = "UTF8SMTP"
	}
	if in.tls != nil {
		with += "S"
	}
	if in.auth {
		with += "A"
	}
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(from)
	b.WriteString(" (")
	b.WriteString(lit)
	b.WriteString(")\r\n\tby ")
	b.WriteString(in.hostname)
	b.WriteString(" (Floe) with ")
	b.WriteString(with)
	b.WriteString(" id ")
	b.WriteString(in.id)
	if in.tls != nil {
		b.WriteString("\r\n\t(")
		b.WriteString(tls.VersionName(in.tls.Version))
		b.WriteString(" ")
		b.WriteString(tls.CipherSuiteName(in.tls.CipherSuite))
		b.WriteString(")")
	}
	if len(in.rcpts) == 1 && (in.utf8 || isASCII(in.rcpts[0].Address)) {
		b.WriteString("\r\n\tfor <")
		b.WriteString(in.rcpts[0].Address)
		b.WriteString(">")
	}
	b.WriteString(";\r\n\t")
	b.WriteString(in.now.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return b.String()
}

// addressLiteral formats an IP as an RFC 5321 4.1.3 address literal.
func addressLiteral(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "[unknown]"
	case ip.Is4() || ip.Is4In6():
		return "[" + ip.Unmap().String() + "]"
	default:
		return "[IPv6:" + ip.WithZone("").String() + "]"
	}
}

// validHelo reports whether a HELO/EHLO argument may be copied into the
// header: a domain (letters, digits, '-', '.', '_') or an address literal,
// at most 255 octets.
func validHelo(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	if h[0] == '[' {
		if h[len(h)-1] != ']' {
			return false
		}
		inner := strings.TrimPrefix(h[1:len(h)-1], "IPv6:")
		_, err := netip.ParseAddr(inner)
		return err == nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}
