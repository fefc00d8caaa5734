package server

import (
	"context"
	"net"
	"net/http"
	"strconv"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/httpd"
	"github.com/floemail/floe/server/imap"
	"github.com/floemail/floe/server/pop3"
	"github.com/floemail/floe/server/smtp"
)

// Service is a protocol served on a listener, as the Server runs it.
//
// Serve accepts and serves connections on l until Shutdown and then
// returns (nil, or an error wrapping net.ErrClosed, which the Server does
// not report after it began stopping). Shutdown stops the service
// gracefully: no new connections, idle clients told goodbye in their
// protocol, work in flight allowed to finish until ctx ends; then the
// remaining connections are closed and ctx.Err() is returned.
type Service interface {
	Serve(l net.Listener) error
	Shutdown(ctx context.Context) error
}

// components are the protocol servers and muxes of one Start, from which
// the table's entries make their Services.
type components struct {
	smtp   *smtp.Server
	pop3   *pop3.Server
	imap   *imap.Server
	http   func(name string, handler http.Handler, redirect bool) Service
	web    *httpd.Mux   // http and https
	client *httpd.Mux   // clientsvc
	admin  http.Handler // admin: /metrics and /healthz (server/metrics)
}

// listenerSpec is one entry of the services table: a listener of the
// config and the Service that serves it.
type listenerSpec struct {
	name     string // the [listeners] key and the key of Server.Addrs
	addr     func(*config.Config) string
	describe string // for the start-up summary
	// implicitTLS: the Server puts TLS on the listener (with alpn as its
	// ALPN protocols) before the Service sees it, above the per-IP limit.
	implicitTLS bool
	alpn        []string
	// refusal is written to a client over its per-IP limit (nothing on
	// TLS listeners, where it would be garbage to the client).
	refusal  string
	maxPerIP func(*config.Config) int
	// group names the protocol server the entry's Service belongs to:
	// entries of one group share it, and the Server shuts each group down
	// once, through the Service of its first open entry.
	group   string
	service func(*components) Service
}

// specs is the services table, in start order. Adding a listener is one
// entry here (and its key in config.Listeners).
var specs = []listenerSpec{
	{name: "smtp", addr: func(c *config.Config) string { return c.Listeners.SMTP }, describe: "SMTP (MX, STARTTLS)",
		refusal: smtpRefusal, maxPerIP: smtpMax, group: "smtp",
		service: func(c *components) Service { return smtpService{c.smtp, smtp.MX} }},
	{name: "submissions", addr: func(c *config.Config) string { return c.Listeners.Submissions }, describe: "SMTP submission (implicit TLS)",
		implicitTLS: true, maxPerIP: smtpMax, group: "smtp",
		service: func(c *components) Service { return smtpService{c.smtp, smtp.Submissions} }},
	{name: "submission", addr: func(c *config.Config) string { return c.Listeners.Submission }, describe: "SMTP submission (STARTTLS, AUTH)",
		refusal: smtpRefusal, maxPerIP: smtpMax, group: "smtp",
		service: func(c *components) Service { return smtpService{c.smtp, smtp.Submission} }},
	{name: "pop3", addr: func(c *config.Config) string { return c.Listeners.POP3 }, describe: "POP3 (STLS)",
		refusal: pop3Refusal, maxPerIP: pop3Max, group: "pop3",
		service: func(c *components) Service { return pop3Service{c.pop3, false} }},
	{name: "pop3s", addr: func(c *config.Config) string { return c.Listeners.POP3S }, describe: "POP3 (implicit TLS)",
		implicitTLS: true, maxPerIP: pop3Max, group: "pop3",
		service: func(c *components) Service { return pop3Service{c.pop3, true} }},
	{name: "imap", addr: func(c *config.Config) string { return c.Listeners.IMAP }, describe: "IMAP (STARTTLS)",
		refusal: imapRefusal, maxPerIP: imapMax, group: "imap",
		service: func(c *components) Service { return imapService{c.imap, false} }},
	{name: "imaps", addr: func(c *config.Config) string { return c.Listeners.IMAPS }, describe: "IMAP (implicit TLS)",
		implicitTLS: true, maxPerIP: imapMax, group: "imap",
		service: func(c *components) Service { return imapService{c.imap, true} }},
	{name: "http", addr: func(c *config.Config) string { return c.Listeners.HTTP }, describe: "HTTP (other hosts redirected to HTTPS)",
		refusal: httpRefusal, maxPerIP: httpMax, group: "http",
		service: func(c *components) Service { return c.http("http", c.web, true) }},
	{name: "https", addr: func(c *config.Config) string { return c.Listeners.HTTPS }, describe: "HTTPS (HTTP/2)",
		implicitTLS: true, alpn: []string{"h2", "http/1.1"}, maxPerIP: httpMax, group: "https",
		service: func(c *components) Service { return c.http("https", c.web, false) }},
	{name: "clientsvc", addr: func(c *config.Config) string { return c.Listeners.ClientSvc }, describe: "client services (HTTPS)",
		implicitTLS: true, alpn: []string{"h2", "http/1.1"}, maxPerIP: httpMax, group: "clientsvc",
		service: func(c *components) Service { return c.http("clientsvc", c.client, false) }},
	{name: "admin", addr: func(c *config.Config) string { return c.Listeners.Admin }, describe: "admin (/metrics, /healthz; plain HTTP)",
		refusal: httpRefusal, maxPerIP: httpMax, group: "admin",
		service: func(c *components) Service { return c.http("admin", c.admin, false) }},
}

func smtpMax(c *config.Config) int { return c.SMTP.MaxConnectionsPerIP }
func pop3Max(c *config.Config) int { return c.POP3.MaxConnectionsPerIP }
func imapMax(c *config.Config) int { return c.IMAP.MaxConnectionsPerIP }
func httpMax(c *config.Config) int { return c.HTTP.MaxConnectionsPerIP }

// httpRefusal answers a plain-HTTP client over its per-IP limit (RFC 9110
// 15.6.4).
var httpRefusal = func() string {
	body := "too many connections from your address\n"
	return "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 10\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

// smtpService serves one SMTP mode; the three SMTP listeners share one
// smtp.Server.
type smtpService struct {
	srv  *smtp.Server
	mode smtp.Mode
}

func (s smtpService) Serve(l net.Listener) error         { return s.srv.Serve(l, s.mode) }
func (s smtpService) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// pop3Service serves POP3 with or without implicit TLS.
type pop3Service struct {
	srv         *pop3.Server
	implicitTLS bool
}

func (s pop3Service) Serve(l net.Listener) error         { return s.srv.Serve(l, s.implicitTLS) }
func (s pop3Service) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// imapService serves IMAP with or without implicit TLS.
type imapService struct {
	srv         *imap.Server
	implicitTLS bool
}

func (s imapService) Serve(l net.Listener) error         { return s.srv.Serve(l, s.implicitTLS) }
func (s imapService) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
