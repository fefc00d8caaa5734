// Package httpd is Floe's HTTP service: the http, https and clientsvc
// listeners. It owns what every HTTP endpoint shares: net/http servers with
// timeouts and header limits from [http], HTTP/2 over TLS, graceful
// shutdown, one access-log line per request, a request-body limit, /healthz,
// and HTTP Basic authentication through the same server/auth Authenticator
// (rate limiting, log lines) as IMAP, POP3 and SMTP.
//
// It serves no application itself. Other packages provide http.Handlers
// (webdav/, server/discover, ...) and the wiring in package server mounts
// them on a Mux with Handle (public) or HandleAuth (HTTP Basic; the handler
// reads the account with PrincipalFrom). Packages below server never import
// this one.
package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/floemail/floe/server/config"
)

// Options configures a Server.
type Options struct {
	// Name is the listener's name ("http", "https", "clientsvc") for logs.
	Name string
	// Handler serves the requests, usually a *Mux.
	Handler http.Handler
	// Config returns the current configuration ([http] limits, [listeners]
	// for the HTTPS redirect).
	Config func() *config.Config
	Logger *slog.Logger
	// TLS, when set, is the TLS configuration of the listener the Server
	// is given (the caller wraps it with tls.NewListener). It must list
	// "h2" in NextProtos for HTTP/2; Server does not change it.
	TLS *tls.Config
	// RedirectToHTTPS makes a plain-HTTP listener redirect requests from
	// other machines to the https listener, except /.well-known/ paths
	// (ACME challenges, autoconfig). Loopback clients are served, as is
	// everyone when no https listener is configured.
	RedirectToHTTPS bool
	// BaseContext, when set, is the parent of every request's context; the
	// server cancels it at shutdown, so storage work in flight stops.
	BaseContext func() context.Context
}

// Server serves HTTP on one listener. Create it with New, call Serve once
// and Shutdown once.
type Server struct {
	name string
	log  *slog.Logger
	srv  *http.Server

	mu       sync.Mutex
	shutdown bool
}

// New returns a Server. Timeouts and the header limit are read from
// [http] now: a reload does not change them.
func New(o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("listener", o.Name)
	cfg := o.Config().HTTP
	h := o.Handler
	if o.RedirectToHTTPS {
		h = redirectHTTPS(h, o.Config)
	}
	h = accessLog(recoverPanics(h, log), log)
	s := &Server{name: o.Name, log: log}
	s.srv = &http.Server{
		Handler:           h,
		TLSConfig:         o.TLS,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.ReadTimeout.D(),
		WriteTimeout:      cfg.WriteTimeout.D(),
		IdleTimeout:       cfg.IdleTimeout.D(),
		MaxHeaderBytes:    int(cfg.MaxHeaderSize),
		ErrorLog:          errorLog(log),
	}
	if o.BaseContext != nil {
		s.srv.BaseContext = func(net.Listener) context.Context { return o.BaseContext() }
	}
	return s
}

// Serve accepts connections on l until Shutdown and returns nil then, or
// the listener's error. With Options.TLS, l must be a TLS listener; HTTP/2
// is negotiated by ALPN.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes idle connections and waits for requests
// in flight to finish. When ctx ends first, it closes every connection
// (the handlers' request contexts are cancelled) and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.log.Warn("shutdown deadline passed; closing HTTP connections")
		_ = s.srv.Close()
	}
	return err
}

// redirectHTTPS sends requests from other machines to the https listener
// (301 for GET and HEAD, 308 otherwise, so a method and body are kept),
// except /.well-known/ paths. Loopback clients are served as they are.
func redirectHTTPS(next http.Handler, cfg func() *config.Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cfg()
		if c.Listeners.HTTPS == "" || strings.HasPrefix(r.URL.Path, "/.well-known/") || isLoopback(r.RemoteAddr) {
			next.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			host = c.Server.Hostname
		}
		if strings.Contains(host, ":") { // an IPv6 literal
			host = "[" + strings.Trim(host, "[]") + "]"
		}
		if _, port, err := net.SplitHostPort(c.Listeners.HTTPS); err == nil && port != "443" {
			host += ":" + port
		}
		u := "https://" + host + r.URL.RequestURI()
		code := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		http.Redirect(w, r, u, code)
	})
}

// recoverPanics answers 500 when a handler panics and logs the panic with
// its stack; net/http would only close the connection.
func recoverPanics(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel value, as net/http compares it
				panic(v)
			}
			log.Error("panic in HTTP handler", "path", r.URL.Path, "panic", v, "stack", stack())
			if rec, ok := w.(*recorder); !ok || rec.status == 0 {
				http.Error(w, "internal server error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// errorLog routes net/http's own messages (TLS handshake errors, bad
// requests) to the logger at debug level: they describe clients.
func errorLog(l *slog.Logger) *log.Logger {
	return log.New(logWriter{l}, "", 0)
}

type logWriter struct{ l *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Debug("http: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// remoteIP returns the IP of an http.Request's RemoteAddr.
func remoteIP(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func isLoopback(remoteAddr string) bool {
	ip := remoteIP(remoteAddr)
	return ip.IsValid() && ip.IsLoopback()
}

// plainText is a short text/plain response.
func plainText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprint(w, msg)
}
