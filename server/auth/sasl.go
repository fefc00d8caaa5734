package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Mechanisms lists the SASL mechanisms Floe offers, in preference order.
var Mechanisms = []string{"PLAIN", "LOGIN"}

// ErrUnsupportedMechanism is returned by NewSASL for an unknown mechanism.
var ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")

// errMalformed is a SASL exchange that does not follow the mechanism: a
// failed authentication (ErrFailed), the client's doing.
var errMalformed = fmt.Errorf("%w: malformed SASL response", ErrFailed)

// SASL is one server-side SASL exchange (RFC 4422). Its Next method
// satisfies go-sasl's sasl.Server interface, so go-smtp can drive it, and
// POP3 and IMAP drive it the same way.
type SASL struct {
	a         *Authenticator
	ctx       context.Context
	remote    netip.Addr
	protocol  string
	mech      string
	step      int
	user      string
	principal *Principal
}

// NewSASL starts an exchange for mechanism mech (case-insensitive).
func (a *Authenticator) NewSASL(ctx context.Context, mech string, remote netip.Addr, protocol string) (*SASL, error) {
	mech = strings.ToUpper(mech)
	if mech != "PLAIN" && mech != "LOGIN" {
		return nil, ErrUnsupportedMechanism
	}
	return &SASL{a: a, ctx: ctx, remote: remote, protocol: protocol, mech: mech}, nil
}

// Principal returns the authenticated account after a successful exchange.
func (s *SASL) Principal() *Principal { return s.principal }

// Next takes the client's response (nil for "no initial response") and
// returns the next challenge, or done. Errors are ErrFailed, ErrRateLimited
// or a malformed-exchange error; all mean "authentication failed".
func (s *SASL) Next(response []byte) (challenge []byte, done bool, err error) {
	defer func() { s.step++ }()
	switch s.mech {
	case "PLAIN": // RFC 4616: [authzid] NUL authcid NUL passwd
		if s.step == 0 && response == nil {
			return []byte{}, false, nil
		}
		parts := bytes.Split(response, []byte{0})
		if len(parts) != 3 {
			return nil, false, errMalformed
		}
		authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
		// No impersonation: an authorization identity must be the user.
		if authz != "" && !strings.EqualFold(authz, user) {
			return nil, false, ErrFailed
		}
		return nil, true, s.login(user, pass)
	case "LOGIN": // draft-murchison-sasl-login: Username:, Password:
		switch {
		case s.user == "" && len(response) == 0:
			if s.step > 1 {
				return nil, false, errMalformed
			}
			return []byte("Username:"), false, nil
		case s.user == "":
			s.user = string(response)
			return []byte("Password:"), false, nil
		default:
			return nil, true, s.login(s.user, string(response))
		}
	}
	return nil, false, ErrUnsupportedMechanism
}

func (s *SASL) login(user, pass string) error {
	p, err := s.a.Login(s.ctx, s.remote, s.protocol, user, pass)
	if err != nil {
		return err
	}
	s.principal = p
	return nil
}
