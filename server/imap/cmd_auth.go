package imap

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/storage/view"
)

func init() {
	register("CAPABILITY", command{fn: cmdCapability, states: allStates, expungeOK: true})
	register("NOOP", command{fn: cmdNoop, states: allStates, expungeOK: true})
	register("LOGOUT", command{fn: cmdLogout, states: allStates, expungeOK: true})
	register("STARTTLS", command{fn: cmdStartTLS, states: notAuthSt})
	register("AUTHENTICATE", command{fn: cmdAuthenticate, states: notAuthSt})
	register("LOGIN", command{fn: cmdLogin, states: notAuthSt})
	register("ENABLE", command{fn: cmdEnable, states: authStates, expungeOK: true})
	register("ID", command{fn: cmdID, states: allStates, expungeOK: true})
}

// RFC 9051 6.1.1.
func cmdCapability(s *session, tag string, d *decoder) error {
	if err := d.CRLF(); err != nil {
		return err
	}
	s.e.Untagged().Atom("CAPABILITY ").Atom(strings.Join(s.capabilities(), " ")).CRLF()
	return nil
}

// RFC 9051 6.1.2: NOOP does nothing; the loop sends pending updates.
func cmdNoop(s *session, tag string, d *decoder) error { return d.CRLF() }

// RFC 9051 6.1.3.
func cmdLogout(s *session, tag string, d *decoder) error {
	if err := d.CRLF(); err != nil {
		return err
	}
	s.e.Untagged().Atom("BYE Floe logging out").CRLF()
	s.state = stateLogout
	s.sel = nil
	return nil
}

// RFC 9051 6.2.1. The tagged OK is written and flushed here because the
// handshake must follow it; pipelined plaintext after the command is
// discarded (RFC 9051 11.1, the STARTTLS command injection problem).
func cmdStartTLS(s *session, tag string, d *decoder) error {
	if err := d.CRLF(); err != nil {
		return err
	}
	if s.tlsActive || s.srv.opts.TLS == nil {
		return errBad("STARTTLS not available")
	}
	s.writeTagged(tag, "OK", "", "begin TLS negotiation now")
	if err := s.e.Flush(); err != nil {
		return err
	}
	if n := s.r.Buffered(); n > 0 {
		s.r.Discard(n)
	}
	tc := tls.Server(s.conn, s.srv.opts.TLS)
	s.conn.SetDeadline(time.Now().Add(s.readTimeout()))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.log.Debug("STARTTLS handshake failed", slog.Any("error", err))
		s.d.ioErr = err
		return err
	}
	s.conn = tc
	s.tlsActive = true
	s.r.Reset(connIO{s})
	// The tagged response was written; tell the loop not to write another.
	s.d.lineDone = true
	return errStartTLSDone
}

// errStartTLSDone makes the loop skip the tagged response STARTTLS wrote.
var errStartTLSDone = &respError{kind: "", text: ""}

// loggedIn moves the session to the authenticated state.
func (s *session) loggedIn(p *auth.Principal) {
	s.user = p
	s.state = stateAuth
	s.log = s.log.With("user", p.Address)
	s.log.Info("logged in")
}

// openView makes the logged-in user's view of the store (storage/view);
// every folder access goes through it. It fails when the account cannot be
// read (a storage error, or the account removed meanwhile).
func (s *session) openView(p *auth.Principal) error {
	v, err := view.New(s.ctx, s.store, p.Account, view.Options{Logger: s.srv.log, Hostname: s.srv.config().Server.Hostname})
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Error("cannot open the account's view", slog.Any("error", err))
		}
		return errNo("UNAVAILABLE", "account temporarily unavailable")
	}
	s.v = v
	return nil
}

func (s *session) authFailure(err error) error {
	if errors.Is(err, auth.ErrRateLimited) {
		return errNo("UNAVAILABLE", "too many failed attempts, try again later")
	}
	if errors.Is(err, auth.ErrBusy) {
		return errNo("UNAVAILABLE", "server busy, try again shortly")
	}
	if errors.Is(err, auth.ErrFailed) {
		return errNo("AUTHENTICATIONFAILED", "authentication failed")
	}
	if s.ctx.Err() == nil {
		s.log.Error("authentication error", slog.Any("error", err))
	}
	return errNo("UNAVAILABLE", "authentication temporarily unavailable")
}

// okCapabilities sets the tagged OK of a successful login, with the new
// capabilities as response code (RFC 9051 6.2.2).
func (s *session) okCapabilities(tag, text string) {
	s.tagged(tag, "OK", "CAPABILITY "+strings.Join(s.capabilities(), " "), text)
}

// RFC 9051 6.2.3.
func cmdLogin(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	user, err := d.AString()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	pass, err := d.AString()
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if !s.plaintextAuthAllowed() {
		return errNo("PRIVACYREQUIRED", "use STARTTLS first")
	}
	p, err := s.srv.opts.Auth.Login(s.ctx, auth.AddrOf(s.remote), "imap", user, pass)
	if err != nil {
		return s.authFailure(err)
	}
	if err := s.openView(p); err != nil {
		return err
	}
	if err := s.admitLogin(p); err != nil {
		return err
	}
	s.loggedIn(p)
	s.okCapabilities(tag, "LOGIN completed")
	return nil
}

// RFC 9051 6.2.2 with SASL-IR (RFC 4959).
func cmdAuthenticate(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	mech, err := d.Atom()
	if err != nil {
		return err
	}
	var initial []byte
	hasInitial := false
	if d.Accept(' ') {
		ir, err := d.readWhile(func(c byte) bool { return isAtomChar(c) || c == '=' }, "initial response")
		if err != nil {
			return err
		}
		hasInitial = true
		if ir != "=" {
			if initial, err = base64.StdEncoding.DecodeString(ir); err != nil {
				return errBad("invalid base64 in initial response")
			}
		} else {
			initial = []byte{}
		}
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if !s.plaintextAuthAllowed() {
		return errNo("PRIVACYREQUIRED", "use STARTTLS first")
	}
	mech = strings.ToUpper(mech)
	sasl, err := s.srv.opts.Auth.NewSASL(s.ctx, mech, auth.AddrOf(s.remote), "imap")
	if err != nil {
		return errNo("CANNOT", "unsupported authentication mechanism")
	}
	resp := initial
	if !hasInitial {
		resp = nil
	}
	for {
		challenge, done, err := sasl.Next(resp)
		if err != nil {
			return s.authFailure(err)
		}
		if done {
			break
		}
		s.e.Atom("+ ").Atom(base64.StdEncoding.EncodeToString(challenge)).CRLF()
		if err := s.e.Flush(); err != nil {
			return err
		}
		line, err := s.readLine(preAuthMaxLine)
		if err != nil {
			return err
		}
		if line == "*" {
			return errBad("authentication cancelled") // RFC 9051 6.2.2
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			return errBad("invalid base64 in response")
		}
	}
	if err := s.openView(sasl.Principal()); err != nil {
		return err
	}
	if err := s.admitLogin(sasl.Principal()); err != nil {
		return err
	}
	s.loggedIn(sasl.Principal())
	s.okCapabilities(tag, "AUTHENTICATE completed")
	return nil
}

// readLine reads one line of at most max bytes (without CRLF) outside the
// command syntax (SASL responses, IDLE's DONE).
func (s *session) readLine(max int) (string, error) {
	s.awaitCommand() // the line must arrive whole in time, like a command
	defer s.lineComplete()
	var sb strings.Builder
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			s.d.ioErr = err
			return "", err
		}
		if b == '\n' {
			return strings.TrimSuffix(sb.String(), "\r"), nil
		}
		if sb.Len() >= max {
			return "", errLineTooLong
		}
		sb.WriteByte(b)
	}
}

// RFC 5161 ENABLE; RFC 7162 3.1 (CONDSTORE, QRESYNC), RFC 6855 3
// (UTF8=ACCEPT), RFC 9051 6.3.1 (IMAP4rev2).
func cmdEnable(s *session, tag string, d *decoder) error {
	var caps []string
	for d.Accept(' ') {
		c, err := d.Atom()
		if err != nil {
			return err
		}
		caps = append(caps, strings.ToUpper(c))
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if len(caps) == 0 {
		return errBad("ENABLE needs a capability")
	}
	var enabled []string
	for _, c := range caps {
		switch c {
		case "CONDSTORE":
			if !s.enabled.condstore {
				s.enabled.condstore = true
				enabled = append(enabled, c)
			}
		case "QRESYNC":
			if !s.enabled.qresync {
				s.enabled.qresync, s.enabled.condstore = true, true
				enabled = append(enabled, c)
			}
		case "UTF8=ACCEPT":
			if !s.enabled.utf8 {
				s.enabled.utf8 = true
				enabled = append(enabled, c)
			}
		case "IMAP4REV2":
			if !s.enabled.rev2 {
				s.enabled.rev2, s.enabled.utf8 = true, true
				enabled = append(enabled, "IMAP4rev2")
			}
		}
	}
	s.e.utf8 = s.enabled.utf8
	s.e.Untagged().Atom("ENABLED")
	for _, c := range enabled {
		s.e.SP().Atom(c)
	}
	s.e.CRLF()
	return nil
}

// RFC 2971 ID.
// idMaxLine bounds an ID command line: 30 pairs of a quoted 30-octet field
// and 1024-octet value (RFC 2971 3.3), with room for escapes.
const idMaxLine = 40 << 10

func cmdID(s *session, tag string, d *decoder) error {
	// RFC 2971 3.3 allows 30 field-value pairs of up to 30 and 1024
	// octets: about 32 KiB, more than the pre-login line limit. ID alone
	// gets room for that (it is parsed as it is read and kept bounded).
	d.maxLine = max(d.maxLine, idMaxLine)
	if err := d.SP(); err != nil {
		return err
	}
	var fields []string
	if d.peekIs('(') {
		n := 0
		err := d.List(func() error {
			v, isNil, err := d.NString()
			if n++; n > 60 {
				return errBad("too many ID fields")
			}
			if isNil {
				v = "NIL"
			}
			if len(v) > 1024 {
				v = v[:1024]
			}
			fields = append(fields, v)
			return err
		})
		if err != nil {
			return err
		}
	} else {
		_, isNil, err := d.NString()
		if err != nil {
			return err
		}
		if !isNil {
			return errBad("ID expects a list or NIL")
		}
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if len(fields) > 0 {
		attrs := make([]any, 0, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			attrs = append(attrs, slog.String(strings.ToLower(fields[i]), fields[i+1]))
		}
		s.log.Debug("client ID", attrs...)
	}
	s.e.Untagged().Atom(`ID ("name" "Floe")`).CRLF()
	return nil
}
