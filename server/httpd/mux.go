package httpd

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
)

// MuxOptions configures a Mux.
type MuxOptions struct {
	// Config returns the current configuration: [http] max_body_size and
	// [tls] allow_plaintext_auth are read per request.
	Config func() *config.Config
	// Auth checks HTTP Basic credentials for HandleAuth routes; the same
	// Authenticator as the mail protocols (one rate limiter, one log).
	Auth   *auth.Authenticator
	Logger *slog.Logger
	// Realm is the Basic authentication realm (RFC 7617); default "Floe".
	Realm string
}

// Mux routes the requests of one or more listeners. It serves GET
// /healthz itself; other routes are mounted by the server's wiring with
// Handle and HandleAuth, with net/http.ServeMux patterns ("GET /x/{id}",
// "/dav/"). It is safe for concurrent use; mount routes before serving.
type Mux struct {
	mux   *http.ServeMux
	cfg   func() *config.Config
	auth  *auth.Authenticator
	log   *slog.Logger
	realm string
}

// NewMux returns a Mux serving /healthz.
func NewMux(o MuxOptions) *Mux {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mux{mux: http.NewServeMux(), cfg: o.Config, auth: o.Auth, log: log, realm: o.Realm}
	if m.realm == "" {
		m.realm = "Floe"
	}
	m.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		plainText(w, http.StatusOK, "ok")
	})
	return m
}

// Option changes how a route is mounted.
type Option func(*route)

type route struct {
	maxBody func() int64
	logPath func(path string) string
}

// MaxBody sets the route's request-body limit (in bytes) instead of [http]
// max_body_size: for endpoints that take more (file uploads) or should
// take far less (small JSON requests).
func MaxBody(n int64) Option {
	return func(r *route) { r.maxBody = func() int64 { return n } }
}

// MaxBodyFunc is MaxBody with a limit read per request (a config value
// that a reload may change).
func MaxBodyFunc(n func() int64) Option {
	return func(r *route) { r.maxBody = n }
}

// LogPath makes the access log write logPath(path) instead of the
// request's path: for routes whose path carries a secret (the token of a
// download link).
func LogPath(logPath func(path string) string) Option {
	return func(r *route) { r.logPath = logPath }
}

// Handle mounts h for pattern without authentication. The request body is
// limited to [http] max_body_size (LimitBody). A handler that needs the
// account uses HandleAuth instead.
func (m *Mux) Handle(pattern string, h http.Handler, opts ...Option) {
	m.mux.Handle(pattern, m.limited(h, opts))
}

// HandleAuth mounts h for pattern behind HTTP Basic authentication
// (RFC 7617) with the server's Authenticator: h runs only for a valid
// account, which PrincipalFrom(r.Context()) returns. Without credentials,
// or with wrong ones, the client gets 401 with a WWW-Authenticate
// challenge; after too many failures from its address (or for the
// account) 429 with Retry-After. Passwords are accepted only over TLS or
// from loopback unless [tls] allow_plaintext_auth is set; otherwise the
// answer is 403 and no challenge (so a browser does not offer to send a
// password in clear text).
func (m *Mux) HandleAuth(pattern string, h http.Handler, opts ...Option) {
	m.mux.Handle(pattern, m.requireAuth(m.limited(h, opts)))
}

// ServeHTTP implements http.Handler.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }

func (m *Mux) limited(h http.Handler, opts []Option) http.Handler {
	rt := route{maxBody: func() int64 { return int64(m.cfg().HTTP.MaxBodySize) }}
	for _, o := range opts {
		o(&rt)
	}
	h = LimitBody(h, rt.maxBody)
	if rt.logPath != nil {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if info := infoFrom(r.Context()); info != nil {
				info.path = rt.logPath(r.URL.Path)
			}
			inner.ServeHTTP(w, r)
		})
	}
	return h
}

// LimitBody limits the request body h may read to max() bytes: a request
// declaring a larger Content-Length gets 413 before h runs, and a body
// that turns out larger makes h's read fail (http.MaxBytesError), after
// which net/http closes the connection. Handle and HandleAuth apply it.
func LimitBody(h http.Handler, max func() int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := max()
		if r.ContentLength > n {
			w.Header().Set("Connection", "close")
			plainText(w, http.StatusRequestEntityTooLarge, "request body too large\n")
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		h.ServeHTTP(w, r)
	})
}

type principalKey struct{}

// PrincipalFrom returns the account a HandleAuth route authenticated, from
// the request's context; false outside such a route.
func PrincipalFrom(ctx context.Context) (*auth.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*auth.Principal)
	return p, ok && p != nil
}

// WithPrincipal returns ctx carrying p, as HandleAuth does: for tests of
// handlers mounted with HandleAuth.
func WithPrincipal(ctx context.Context, p *auth.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// requireAuth is the HTTP Basic middleware of HandleAuth.
func (m *Mux) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RFC 7617 / SPEC: a password crosses the network only over TLS
		// (or from this machine), unless the operator allows it.
		if !auth.PlaintextAllowed(r.TLS != nil, tcpAddr(r.RemoteAddr), m.cfg().TLS.AllowPlaintextAuth) {
			plainText(w, http.StatusForbidden, "authentication requires TLS; use https\n")
			return
		}
		user, pass, ok := r.BasicAuth()
		if !ok || m.auth == nil {
			m.challenge(w)
			return
		}
		p, err := m.auth.Login(r.Context(), remoteIP(r.RemoteAddr), "http", user, pass)
		switch {
		case errors.Is(err, auth.ErrRateLimited):
			// RFC 6585 4.
			w.Header().Set("Retry-After", "60")
			plainText(w, http.StatusTooManyRequests, "too many failed logins; try again later\n")
			return
		case errors.Is(err, auth.ErrBusy):
			// Password hashing is saturated: temporary (RFC 9110 15.6.4).
			w.Header().Set("Retry-After", "5")
			plainText(w, http.StatusServiceUnavailable, "server busy; try again shortly\n")
			return
		case err != nil:
			m.challenge(w)
			return
		}
		if info := infoFrom(r.Context()); info != nil {
			info.user = p.Address
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// challenge answers 401 with a Basic challenge (RFC 7235 4.1, RFC 7617 2).
func (m *Mux) challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+m.realm+`", charset="UTF-8"`)
	plainText(w, http.StatusUnauthorized, "authentication required\n")
}
