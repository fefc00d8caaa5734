// Package pop3 is Floe's POP3 server: RFC 1939 with the CAPA extension
// mechanism and response codes (RFC 2449, RFC 3206), STLS (RFC 2595) and
// SASL AUTH (RFC 5034) with PLAIN and LOGIN.
//
// The maildrop is the account's INBOX. At login the server takes a snapshot
// of it; message numbers, sizes and UIDLs refer to that snapshot. Deletions
// (DELE) and \Seen flags for retrieved messages are applied only when the
// client sends QUIT in the TRANSACTION state (the UPDATE state of RFC 1939
// section 6), with one Expunge call; a dropped connection, a timeout or a
// server shutdown changes nothing. Only one session per account may hold the
// maildrop at a time ([IN-USE], RFC 2449 section 8.1.2).
//
// Decisions:
//   - Sizes (STAT, LIST, the RETR +OK line) are the stored octet counts.
//     Messages that arrived over SMTP or IMAP APPEND use CRLF line endings,
//     so the stored size is exactly what RETR sends before byte-stuffing
//     (RFC 1939 section 11). A message stored with bare LFs (an mbox import
//     that did not normalise) is sent with CRLF line endings all the same;
//     its announced size is then smaller than what is sent by the number of
//     bare LFs. Computing exact sizes for those would mean reading every blob
//     at login, which a large maildrop cannot afford.
//   - RETR marks the message \Seen, as Dovecot does by default
//     (pop3_no_flag_updates = no), so an IMAP client of the same account
//     sees it as read. Like Dovecot, the flag is applied in the UPDATE state
//     together with the deletions, so an aborted session changes nothing.
//     TOP does not mark a message \Seen.
//   - UIDL is the INBOX's UIDVALIDITY and the message UID as 16 hex digits:
//     stable as long as the message stays in the INBOX.
package pop3

import (
	"context"
	"crypto/tls"
	"github.com/floemail/floe/server/metrics"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/connsrv"
	"github.com/floemail/floe/storage"
)

// Defaults used when the [pop3] table leaves a limit at zero.
const (
	defaultPreAuthTimeout = 60 * time.Second
	// RFC 1939 section 3: the autologout timer MUST be at least 10 minutes.
	defaultCommandTimeout = 10 * time.Minute
	defaultLineTimeout    = 60 * time.Second
	defaultWriteTimeout   = 30 * time.Second
	defaultMaxErrors      = 10
)

// Options configure a Server.
type Options struct {
	// Config returns the current configuration; it is called per
	// connection and per command, so a reload applies at once.
	Config func() *config.Config
	Store  storage.Store
	Auth   *auth.Authenticator
	// TLS enables STLS on plain listeners and is required for implicit TLS
	// listeners' certificates (those are wrapped by the caller). nil: no STLS.
	TLS    *tls.Config
	Logger *slog.Logger
	// Metrics, when set, times every command (nil: no metrics).
	Metrics *metrics.Protocol
	// BaseContext is the parent of every session's context (and so of its
	// storage calls); the server cancels it when it stops. nil: Background.
	BaseContext context.Context
}

// Server serves POP3 on any number of listeners.
type Server struct {
	opts Options
	log  *slog.Logger

	conns  *connsrv.Server
	nextID atomic.Uint64

	mu sync.Mutex
	// locked holds the accounts whose maildrop a session holds.
	locked map[storage.AccountID]struct{}
}

// New returns a Server. It does not listen; call Serve.
func New(o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		opts:   o,
		log:    log.With("proto", "pop3"),
		conns:  connsrv.NewContext(o.BaseContext, log.With("proto", "pop3")),
		locked: map[storage.AccountID]struct{}{},
	}
}

// Serve accepts connections on l until Shutdown and serves each in its own
// goroutine. With implicitTLS, l must be a TLS listener (port 995): the
// session then starts with the TLS handshake and never offers STLS. Serve
// returns nil after Shutdown, or the listener's error.
func (s *Server) Serve(l net.Listener, implicitTLS bool) error {
	return s.conns.Serve(l, func(c net.Conn) connsrv.Session { return s.newSession(c, implicitTLS) })
}

// Shutdown stops the listeners, answers every session waiting for a command
// with "-ERR [SYS/TEMP] server shutting down" and closes it without
// applying its deletions, lets commands in progress (a RETR, a QUIT already
// applying its deletions) finish, and waits until all sessions have ended.
// When ctx ends first, the remaining connections are closed (their
// uncommitted work rolls back) and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error { return s.conns.Shutdown(ctx) }

// shuttingDown reports whether Shutdown has begun.
func (s *Server) shuttingDown() bool { return s.conns.ShuttingDown() }

// Serve, Wake and Abort make a session a connsrv.Session.
func (sess *session) Serve() { sess.serve() }
func (sess *session) Wake()  { sess.wake() }
func (sess *session) Abort() { sess.abort() }

// lock takes the maildrop lock of an account; false when another session
// holds it.
func (s *Server) lock(acct storage.AccountID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, held := s.locked[acct]; held {
		return false
	}
	s.locked[acct] = struct{}{}
	return true
}

func (s *Server) unlock(acct storage.AccountID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.locked, acct)
}

// limits are the settings a session reads per command.
type limits struct {
	preAuth, command time.Duration
	// line bounds a whole command line once its first byte came ([limits]
	// command_line_timeout); write each write ([limits] write_timeout).
	line, write    time.Duration
	maxErrors      int
	allowPlaintext bool
}

func (s *Server) limits() limits {
	l := limits{preAuth: defaultPreAuthTimeout, command: defaultCommandTimeout, maxErrors: defaultMaxErrors,
		line: defaultLineTimeout, write: defaultWriteTimeout}
	if s.opts.Config == nil {
		return l
	}
	c := s.opts.Config()
	if c == nil {
		return l
	}
	if d := c.POP3.PreAuthTimeout.D(); d > 0 {
		l.preAuth = d
	}
	if d := c.POP3.CommandTimeout.D(); d > 0 {
		l.command = d
	}
	if c.POP3.MaxErrors > 0 {
		l.maxErrors = c.POP3.MaxErrors
	}
	if d := c.Limits.CommandLineTimeout.D(); d > 0 {
		l.line = d
	}
	if d := c.Limits.WriteTimeout.D(); d > 0 {
		l.write = d
	}
	l.allowPlaintext = c.TLS.AllowPlaintextAuth
	return l
}
