package discover

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/httpauth"
)

// Authenticator checks HTTP Basic credentials (server/auth.Authenticator).
type Authenticator = httpauth.Authenticator

// Options configure a Handler.
type Options struct {
	// Config returns the current configuration (read per request, so a
	// reload applies at once).
	Config func() *config.Config
	// Auth checks Basic credentials when [discover] require_auth is set.
	// Nil refuses every request that needs authentication.
	Auth Authenticator
	// Certificate returns the server's TLS certificate; Apple profiles are
	// signed with it unless it is self-signed. Nil: profiles are unsigned.
	Certificate func() *tls.Certificate
	// Ports returns the bound port of each open listener by name (see
	// DescribeBound); nil uses the configured ports.
	Ports func() map[string]int
	// DisplayName returns the display name of the account at address
	// ("" when none or no such account). Answers authenticated as that
	// account show it (Autodiscover's User/DisplayName); nil: never.
	DisplayName func(ctx context.Context, address string) string
	Logger      *slog.Logger
}

// describe is DescribeBound with the handler's ports.
func (h *Handler) describe(cfg *config.Config, email string) Settings {
	var bound map[string]int
	if h.o.Ports != nil {
		bound = h.o.Ports()
	}
	return DescribeBound(cfg, email, bound)
}

// Handler serves the SmartDiscover paths:
//
//	POST /autodiscover/autodiscover.xml             Autodiscover POX (any case)
//	GET  /autodiscover/autodiscover.json?Email=&Protocol=   Autodiscover v2
//	GET  /autodiscover/autodiscover.json/v1.0/ADDR?Protocol=
//	GET  /mail/config-v1.1.xml?emailaddress=ADDR    Mozilla autoconfig
//	GET  /.well-known/autoconfig/mail/config-v1.1.xml
//	GET  /apple/profile.mobileconfig?emailaddress=ADDR   Apple profile
//
// Other paths answer 404; Owns tells a mux which paths are ours.
type Handler struct {
	o   Options
	log *slog.Logger
}

// New returns a Handler.
func New(o Options) *Handler {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{o: o, log: log}
}

// Path names (lowercase; Autodiscover paths match in any case).
const (
	PathAutodiscoverXML  = "/autodiscover/autodiscover.xml"
	PathAutodiscoverJSON = "/autodiscover/autodiscover.json"
	PathAutoconfig       = "/mail/config-v1.1.xml"
	PathAutoconfigWK     = "/.well-known/autoconfig/mail/config-v1.1.xml"
	PathMobileconfig     = "/apple/profile.mobileconfig"
)

// Limits on requests, applied before parsing.
const (
	// MaxRequestBody bounds an Autodiscover POST body; real requests are
	// a few hundred bytes.
	MaxRequestBody = 16 << 10
	// MaxAddress bounds an address given in a query.
	MaxAddress = 320
)

// Owns reports whether path is served by the Handler, so a mux can route
// every case variant of the Autodiscover paths here.
func Owns(path string) bool {
	p := strings.ToLower(path)
	switch {
	case p == PathAutodiscoverXML, p == PathAutodiscoverJSON,
		strings.HasPrefix(p, PathAutodiscoverJSON+"/"),
		p == PathAutoconfig, p == PathAutoconfigWK, p == PathMobileconfig:
		return true
	}
	return false
}

// ServeHTTP dispatches to the answer for the path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("panic in discover handler", "panic", v, "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	p := strings.ToLower(r.URL.Path)
	switch {
	case p == PathAutodiscoverXML:
		h.autodiscoverPOX(w, r)
	case p == PathAutodiscoverJSON || strings.HasPrefix(p, PathAutodiscoverJSON+"/"):
		h.autodiscoverV2(w, r)
	case p == PathAutoconfig || p == PathAutoconfigWK:
		h.autoconfig(w, r)
	case p == PathMobileconfig:
		h.mobileconfig(w, r)
	default:
		http.NotFound(w, r)
	}
}

func remoteAddr(r *http.Request) netip.Addr { return httpauth.RemoteAddr(r) }

// basicAuth checks the request's Basic credentials. It returns the
// principal, or nil after answering 401.
func (h *Handler) basicAuth(w http.ResponseWriter, r *http.Request, protocol string) *auth.Principal {
	return httpauth.Basic(h.o.Auth, protocol, w, r)
}

// validAddress accepts local@domain of bounded length without control
// characters or spaces. It does not look the address up.
func validAddress(a string) bool {
	if a == "" || len(a) > MaxAddress {
		return false
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' {
			return false
		}
	}
	return !strings.Contains(a[at+1:], "@")
}
