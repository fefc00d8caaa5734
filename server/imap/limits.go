package imap

import (
	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/connsrv"
)

// admitLogin asks the connection registry to count this connection as p's
// from its address; over [imap] max_connections_per_user_ip the login is
// refused with NO [LIMIT] (RFC 5530 3: "the operation ran up against an
// implementation limit ... such as the number of simultaneous
// connections") and the session stays not authenticated.
func (s *session) admitLogin(p *auth.Principal) error {
	if connsrv.LoggedIn(s.raw, p.Address) {
		return nil
	}
	s.log.Warn("login refused: too many connections for this account from this address",
		"user", p.Address, "limit", s.srv.config().IMAP.MaxConnectionsPerUserIP)
	return errNo("LIMIT", "too many connections for this account from your address")
}
