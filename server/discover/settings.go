// Package discover is SmartDiscover: it tells mail, calendar and contacts
// clients how to reach Floe, from nothing more than an address. It answers
// Microsoft Autodiscover (POX, outlook and mobilesync schemas, and the v2
// JSON redirector), Mozilla autoconfig (Thunderbird), and serves Apple
// configuration profiles (.mobileconfig), signed when the server's
// certificate is not self-signed.
//
// Every answer is computed by Describe from the configuration: the public
// host name, the ports and TLS modes of the enabled listeners, and the
// WebDAV/SmartAttach, CalDAV and CardDAV URLs. Answers never depend on
// whether the asked address has an account, so they reveal nothing about
// the directory.
package discover

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/floemail/floe/server/config"
)

// Security is how a client secures a connection to an endpoint.
type Security string

const (
	// SSL is implicit TLS from the first byte (993, 995, 465).
	SSL Security = "ssl"
	// STARTTLS upgrades a plain connection (143, 110, 587).
	STARTTLS Security = "starttls"
)

// Endpoint is one listener a client can use.
type Endpoint struct {
	Protocol string   `json:"protocol"` // "imap", "pop3" or "smtp"
	Host     string   `json:"host"`
	Port     int      `json:"port"`
	Security Security `json:"security"`
}

// Settings is everything a client needs for one address.
type Settings struct {
	Email string `json:"email"`
	// DisplayName is the account's display name, filled only for a
	// request authenticated as that account (never revealed to anyone
	// else); "" otherwise, and answers show the address.
	DisplayName string `json:"display_name,omitempty"`
	// LoginName is what the client sends as user name: the full address.
	LoginName string `json:"login_name"`
	Domain    string `json:"domain"`
	// Organization names the provider (discover.organization, else the
	// domain).
	Organization string `json:"organization"`
	// IMAP, POP3 and SMTP list the usable listeners, preferred first
	// (implicit TLS before STARTTLS, RFC 8314 3). SMTP lists only the
	// submission listeners, never port 25.
	IMAP []Endpoint `json:"imap"`
	POP3 []Endpoint `json:"pop3"`
	SMTP []Endpoint `json:"smtp"`
	// WebDAV (SmartAttach), CalDAV and CardDAV URLs; "" when the https
	// listener is disabled and no URL is configured.
	WebDAV  string `json:"webdav_url,omitempty"`
	CalDAV  string `json:"caldav_url,omitempty"`
	CardDAV string `json:"carddav_url,omitempty"`
	// ClientServices is the base URL of the client services (5229); ""
	// when that listener is disabled.
	ClientServices string `json:"client_services_url,omitempty"`
}

// Describe returns the settings for email under cfg. email need not be an
// account (nothing is looked up); a malformed address gives settings with
// an empty Domain.
func Describe(cfg *config.Config, email string) Settings {
	return DescribeBound(cfg, email, nil)
}

// DescribeBound is Describe with the ports the listeners are actually bound
// to (by listener name: "imaps", "submission", "https", ...), which win over
// the configured ones: they differ when the config asks for port 0 (tests)
// and are what clients must use.
func DescribeBound(cfg *config.Config, email string, bound map[string]int) Settings {
	email = strings.ToLower(strings.TrimSpace(email))
	host := cfg.PublicHostname()
	s := Settings{Email: email, LoginName: email, Organization: cfg.Discover.Organization}
	if at := strings.LastIndexByte(email, '@'); at > 0 {
		s.Domain = email[at+1:]
	}
	if s.Organization == "" {
		s.Organization = s.Domain
	}
	if s.Organization == "" {
		s.Organization = host
	}
	l := cfg.Listeners
	portOf := func(name, addr string) int {
		if addr == "" {
			return 0 // disabled
		}
		if p := bound[name]; p > 0 {
			return p
		}
		return port(addr)
	}
	add := func(list *[]Endpoint, proto, name, addr string, sec Security) {
		if p := portOf(name, addr); p > 0 {
			*list = append(*list, Endpoint{Protocol: proto, Host: host, Port: p, Security: sec})
		}
	}
	add(&s.IMAP, "imap", "imaps", l.IMAPS, SSL)
	add(&s.IMAP, "imap", "imap", l.IMAP, STARTTLS)
	add(&s.POP3, "pop3", "pop3s", l.POP3S, SSL)
	add(&s.POP3, "pop3", "pop3", l.POP3, STARTTLS)
	add(&s.SMTP, "smtp", "submissions", l.Submissions, SSL)
	add(&s.SMTP, "smtp", "submission", l.Submission, STARTTLS)

	base := ""
	if p := portOf("https", l.HTTPS); p > 0 {
		base = "https://" + hostPort(host, p, 443)
	}
	s.WebDAV = pick(cfg.Discover.WebDAVURL, base, "/webdav/")
	s.CalDAV = pick(cfg.Discover.CalDAVURL, base, "/.well-known/caldav")
	s.CardDAV = pick(cfg.Discover.CardDAVURL, base, "/.well-known/carddav")
	if p := portOf("clientsvc", l.ClientSvc); p > 0 {
		s.ClientServices = "https://" + hostPort(host, p, 443) + "/"
	}
	return s
}

// AutodiscoverURL returns the POX Autodiscover URL on the https listener
// ("" when it is disabled).
func AutodiscoverURL(cfg *config.Config, bound map[string]int) string {
	p := port(cfg.Listeners.HTTPS)
	if b := bound["https"]; b > 0 && cfg.Listeners.HTTPS != "" {
		p = b
	}
	if p == 0 {
		return ""
	}
	return "https://" + hostPort(cfg.PublicHostname(), p, 443) + "/autodiscover/autodiscover.xml"
}

func pick(configured, base, path string) string {
	if configured != "" {
		return configured
	}
	if base == "" {
		return ""
	}
	return base + path
}

// port returns the port of a listener address, 0 when it is disabled or
// malformed (config validation rejects those).
func port(addr string) int {
	if addr == "" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return 0
	}
	return n
}

// hostPort writes host with the port unless it is the default one.
func hostPort(host string, port, def int) string {
	if port == def {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// URLHost returns the host and port of an http(s) URL, with the scheme's
// default port when none is written, and whether it uses TLS.
func URLHost(raw string) (host string, port int, tls bool, path string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", 0, false, ""
	}
	tls = u.Scheme == "https"
	port = 80
	if tls {
		port = 443
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	return u.Hostname(), port, tls, u.EscapedPath()
}
