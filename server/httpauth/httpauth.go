// Package httpauth authenticates HTTP requests with Basic credentials
// through the shared authenticator (server/auth), so that HTTP logins are
// rate-limited together with SMTP, IMAP and POP3, and writes the 401.
//
// It is the small common part of the HTTP handlers that need the user
// (client services, SmartDiscover with require_auth, the settings API);
// server/httpd mounts those handlers.
package httpauth

import (
	"context"
	"net"
	"net/http"
	"net/netip"

	"github.com/floemail/floe/server/auth"
)

// Authenticator checks a user name and password (server/auth.Authenticator).
type Authenticator interface {
	Login(ctx context.Context, remote netip.Addr, protocol, username, password string) (*auth.Principal, error)
}

// RemoteAddr returns the client's IP address of r (the zero Addr when
// RemoteAddr is not an address).
func RemoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// Basic returns the principal of r's Basic credentials, checked by a with
// protocol as the log/rate-limit label. Without valid credentials it
// answers 401 with a Basic challenge (and Retry-After when rate-limited)
// and returns nil; the caller then returns.
func Basic(a Authenticator, protocol string, w http.ResponseWriter, r *http.Request) *auth.Principal {
	user, pass, ok := r.BasicAuth()
	if ok && a != nil {
		p, err := a.Login(r.Context(), RemoteAddr(r), protocol, user, pass)
		if err == nil {
			return p
		}
		if err == auth.ErrRateLimited {
			w.Header().Set("Retry-After", "60")
		}
	}
	Challenge(w)
	return nil
}

// Challenge answers 401 with a Basic challenge.
func Challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="floe", charset="UTF-8"`)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(`{"error":"authentication required: log in with your address and password"}` + "\n"))
}
