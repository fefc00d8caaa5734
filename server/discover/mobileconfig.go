package discover

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/smallstep/pkcs7"
)

// Apple configuration profile (Configuration Profile Reference): one
// Configuration payload holding com.apple.mail.managed,
// com.apple.caldav.account and com.apple.carddav.account payloads. The
// profile carries no password: the device asks for it on installation.

// plistDict is an ordered property-list dictionary.
type plistDict []plistKV

type plistKV struct {
	Key   string
	Value any // string, int, bool, plistDict, []plistDict
}

// writePlist encodes v as property-list XML.
func writePlist(b *bytes.Buffer, v any) {
	esc := func(s string) {
		xml.EscapeText(b, []byte(s))
	}
	switch x := v.(type) {
	case string:
		b.WriteString("<string>")
		esc(x)
		b.WriteString("</string>")
	case int:
		b.WriteString("<integer>" + strconv.Itoa(x) + "</integer>")
	case bool:
		if x {
			b.WriteString("<true/>")
		} else {
			b.WriteString("<false/>")
		}
	case plistDict:
		b.WriteString("<dict>\n")
		for _, kv := range x {
			b.WriteString("<key>")
			esc(kv.Key)
			b.WriteString("</key>")
			writePlist(b, kv.Value)
			b.WriteByte('\n')
		}
		b.WriteString("</dict>")
	case []plistDict:
		b.WriteString("<array>\n")
		for _, d := range x {
			writePlist(b, d)
			b.WriteByte('\n')
		}
		b.WriteString("</array>")
	default:
		panic(fmt.Sprintf("plist: unsupported type %T", v))
	}
}

// uuidFrom derives a stable RFC 4122 (version 5 style) UUID from parts, so
// a re-downloaded profile replaces the installed one instead of adding a
// second.
func uuidFrom(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	x := fmt.Sprintf("%x", h[:16])
	return strings.ToUpper(x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32])
}

// reverseDNS turns mail.example.org into org.example.mail for payload
// identifiers.
func reverseDNS(host string) string {
	l := strings.Split(host, ".")
	for i, j := 0, len(l)-1; i < j; i, j = i+1, j-1 {
		l[i], l[j] = l[j], l[i]
	}
	return strings.Join(l, ".")
}

// Mobileconfig returns the unsigned profile (property-list XML) for s, whose
// services are on host. It needs at least one IMAP and one SMTP endpoint
// for the mail payload; the CalDAV and CardDAV payloads are added when
// their URLs are known.
func Mobileconfig(s Settings, host string) []byte {
	base := reverseDNS(host) + ".floe." + s.Email
	var payloads []plistDict
	if len(s.IMAP) > 0 && len(s.SMTP) > 0 {
		in, out := s.IMAP[0], s.SMTP[0]
		payloads = append(payloads, plistDict{
			{"PayloadType", "com.apple.mail.managed"},
			{"PayloadVersion", 1},
			{"PayloadIdentifier", base + ".mail"},
			{"PayloadUUID", uuidFrom(host, s.Email, "mail")},
			{"PayloadDisplayName", "Mail (" + s.Email + ")"},
			{"EmailAccountDescription", s.Organization + " mail"},
			{"EmailAccountName", s.Email},
			{"EmailAccountType", "EmailTypeIMAP"},
			{"EmailAddress", s.Email},
			{"IncomingMailServerAuthentication", "EmailAuthPassword"},
			{"IncomingMailServerHostName", in.Host},
			{"IncomingMailServerPortNumber", in.Port},
			{"IncomingMailServerUseSSL", true},
			{"IncomingMailServerUsername", s.LoginName},
			{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
			{"OutgoingMailServerHostName", out.Host},
			{"OutgoingMailServerPortNumber", out.Port},
			{"OutgoingMailServerUseSSL", true},
			{"OutgoingMailServerUsername", s.LoginName},
			{"OutgoingPasswordSameAsIncomingPassword", true},
		})
	}
	dav := func(kind, url string) {
		if url == "" {
			return
		}
		h, port, tls, path := URLHost(url)
		prefix := "CalDAV"
		typ := "com.apple.caldav.account"
		if kind == "carddav" {
			prefix, typ = "CardDAV", "com.apple.carddav.account"
		}
		d := plistDict{
			{"PayloadType", typ},
			{"PayloadVersion", 1},
			{"PayloadIdentifier", base + "." + kind},
			{"PayloadUUID", uuidFrom(host, s.Email, kind)},
			{"PayloadDisplayName", prefix + " (" + s.Email + ")"},
			{prefix + "AccountDescription", s.Organization + " " + map[string]string{"caldav": "calendars", "carddav": "contacts"}[kind]},
			{prefix + "HostName", h},
			{prefix + "Port", port},
			{prefix + "UseSSL", tls},
			{prefix + "Username", s.LoginName},
		}
		if path != "" && path != "/" {
			d = append(d, plistKV{prefix + "PrincipalURL", url})
		}
		payloads = append(payloads, d)
	}
	dav("caldav", s.CalDAV)
	dav("carddav", s.CardDAV)
	top := plistDict{
		{"PayloadType", "Configuration"},
		{"PayloadVersion", 1},
		{"PayloadIdentifier", base},
		{"PayloadUUID", uuidFrom(host, s.Email, "profile")},
		{"PayloadDisplayName", s.Organization + " (" + s.Email + ")"},
		{"PayloadDescription", "Mail, calendars and contacts of " + s.Email + " on " + host + ". You will be asked for your password."},
		{"PayloadOrganization", s.Organization},
		{"PayloadRemovalDisallowed", false},
		{"PayloadContent", payloads},
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	writePlist(&b, top)
	b.WriteString("\n</plist>\n")
	return b.Bytes()
}

// ErrSelfSigned is returned by SignProfile for a self-signed certificate:
// devices would show a signed-but-untrusted profile, which is worse than an
// unsigned one.
var ErrSelfSigned = errors.New("certificate is self-signed")

// IsSelfSigned reports whether leaf is its own issuer.
func IsSelfSigned(leaf *x509.Certificate) bool {
	if !bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
		return false
	}
	return leaf.CheckSignatureFrom(leaf) == nil
}

// SignProfile wraps profile in a CMS SignedData (RFC 5652) signed with the
// certificate's key, carrying the certificate chain, as Apple devices
// expect for a "Verified" profile. It refuses self-signed certificates
// (ErrSelfSigned).
func SignProfile(profile []byte, cert *tls.Certificate) ([]byte, error) {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil, errors.New("no certificate")
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	if IsSelfSigned(leaf) {
		return nil, ErrSelfSigned
	}
	var chain []*x509.Certificate
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	sd, err := pkcs7.NewSignedData(profile)
	if err != nil {
		return nil, err
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSignerChain(leaf, cert.PrivateKey, chain, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, err
	}
	return sd.Finish()
}

// ProfileFor returns the profile of s, signed when cert allows it, and
// whether it is signed.
func ProfileFor(s Settings, host string, cert *tls.Certificate) ([]byte, bool) {
	p := Mobileconfig(s, host)
	if cert != nil {
		if signed, err := SignProfile(p, cert); err == nil {
			return signed, true
		}
	}
	return p, false
}

// mobileconfig answers GET /apple/profile.mobileconfig?emailaddress=ADDR.
// The profile holds no secret (the device asks for the password), so it is
// served to anyone, like autoconfig.
func (h *Handler) mobileconfig(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("emailaddress")))
	if !validAddress(email) {
		http.Error(w, "emailaddress is required (local@domain)", http.StatusBadRequest)
		return
	}
	cfg := h.o.Config()
	var cert *tls.Certificate
	if h.o.Certificate != nil {
		cert = h.o.Certificate()
	}
	body, _ := ProfileFor(h.describe(cfg, email), cfg.PublicHostname(), cert)
	WriteProfile(w, email, body)
}

// WriteProfile sends a profile as a download.
func WriteProfile(w http.ResponseWriter, email string, body []byte) {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, email)
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.mobileconfig"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}
