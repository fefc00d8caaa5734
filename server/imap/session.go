package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/imap/deflate"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// state is a session state, RFC 9051 3.
type state int

const (
	stateNotAuth state = iota
	stateAuth
	stateSelected
	stateLogout
)

var (
	allStates  = []state{stateNotAuth, stateAuth, stateSelected}
	authStates = []state{stateAuth, stateSelected}
	selStates  = []state{stateSelected}
	notAuthSt  = []state{stateNotAuth}
)

// command is one entry of the command table. Each command family registers
// its commands from an init function; the table is never changed afterwards.
type command struct {
	// fn parses the arguments (ending with d.CRLF()) before acting, writes
	// its untagged responses, and returns nil (the loop then answers
	// "<tag> OK <CMD> completed" unless fn called s.tagged) or an error
	// (*respError for NO/BAD; others are logged and become NO [SERVERBUG]).
	fn     func(s *session, tag string, d *decoder) error
	states []state
	// uid marks a command registered for its "UID <cmd>" form.
	uid bool
	// expungeOK allows pending EXPUNGE/VANISHED responses after the command
	// (false for FETCH, STORE and SEARCH, RFC 9051 7.5.1).
	expungeOK bool
}

var commands = map[string]command{}

// register adds a command under its upper-case name ("FETCH", "UID FETCH").
func register(name string, c command) {
	if _, dup := commands[name]; dup {
		panic("imap: command registered twice: " + name)
	}
	commands[name] = c
}

// session is one client connection. All its fields are used by the
// connection's goroutine only (IDLE's short-lived reader touches only the
// reader and reports through a channel).
type session struct {
	srv    *Server
	id     uint64
	conn   net.Conn // the current connection (TLS after STARTTLS)
	raw    net.Conn // the accepted connection; never changes (wake, force close)
	remote net.Addr
	log    *slog.Logger
	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc
	store  storage.Store
	user   *auth.Principal // nil before login
	// v is the user's view of the store (storage/view), from login on:
	// every folder the user names is found, and every right checked,
	// there (ARCHITECTURE decision 5).
	v     *view.View
	state state

	r *bufio.Reader
	d *decoder
	e *encoder

	tlsActive bool
	enabled   struct{ utf8, condstore, qresync, rev2 bool }
	sel       *selected
	searchRes []storage.UID // SEARCHRES saved result ($, RFC 5182)
	// watch streams the changes of the selected mailbox, whoever makes
	// them (the owner, others sharing it); nil when nothing is selected.
	watch *view.Watch

	// COMPRESS=DEFLATE (compress.go): the compressing writer, nil until
	// the command succeeded.
	zw *deflate.Writer
	// NOTIFY (notify.go): nil until the command is used; holdFetches keeps
	// flag updates of the selected mailbox pending while notifications
	// that do not include FlagChange are sent.
	notify      *notifyState
	holdFetches bool

	badCount int
	lineEnd  atomic.Int64 // deadline of the command line being read (unix ns; 0: none), see deadlines.go
	// The tagged response a handler chose with s.tagged.
	tagSet                    bool
	tagKind, tagCode, tagText string
}

// connIO sets a deadline before every read and write. A read also fails
// once the server is shutting down (after the deadline is set, so that
// Shutdown's wake cannot be lost).
type connIO struct{ s *session }

var errShuttingDown = errors.New("server shutting down")

func (c connIO) Read(p []byte) (int, error) {
	c.s.conn.SetReadDeadline(c.s.readDeadline())
	if c.s.srv.shuttingDown() {
		return 0, errShuttingDown
	}
	return c.s.conn.Read(p)
}

func (c connIO) Write(p []byte) (int, error) {
	c.s.conn.SetWriteDeadline(time.Now().Add(c.s.writeTimeout()))
	return c.s.conn.Write(p)
}

func (s *Server) newSession(c net.Conn, implicitTLS bool) *session {
	id := s.nextID.Add(1)
	sess := &session{
		srv:       s,
		id:        id,
		conn:      c,
		raw:       c,
		remote:    c.RemoteAddr(),
		store:     s.opts.Store,
		tlsActive: implicitTLS,
	}
	sess.log = s.log.With("conn", id, "remote", c.RemoteAddr().String())
	sess.ctx, sess.cancel = context.WithCancel(s.conns.Context())
	sess.r = bufio.NewReaderSize(connIO{sess}, 4096)
	sess.e = &encoder{w: connIO{sess}, pool: s.wpool}
	sess.d = &decoder{
		r:         sess.r,
		cont:      sess.continuation,
		utf8:      func() bool { return sess.enabled.utf8 },
		onLineEnd: sess.lineComplete,
		onLiteral: sess.literalComing,
	}
	return sess
}

// wake makes a session blocked in a read notice the shutdown.
func (s *session) wake() { s.raw.SetReadDeadline(time.Now()) }

// readTimeout is the inactivity limit: short before login, the IDLE/autologout
// timer after (RFC 9051 5.4).
func (s *session) readTimeout() time.Duration {
	cfg := s.srv.config()
	if s.state == stateNotAuth {
		if d := cfg.IMAP.PreAuthTimeout.D(); d > 0 {
			return d
		}
		return defaultPreAuthTimeout
	}
	if d := cfg.IMAP.IdleTimeout.D(); d > 0 {
		return d
	}
	return defaultIdleTimeout
}

func (s *session) continuation(text string) error {
	s.e.Atom("+ ").Atom(text).CRLF()
	return s.e.Flush()
}

// serve runs the session until logout, an I/O error, a timeout or shutdown.
func (s *session) serve() {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in IMAP session", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
		}
		s.cancel()
		if s.watch != nil {
			s.watch.Close()
		}
		s.endNotify()
		s.e.Flush()
		if s.zw != nil {
			s.zw.Release()
		}
		s.conn.Close()
		s.log.Debug("connection closed")
	}()
	s.log.Debug("connection opened")
	if tc, ok := s.conn.(*tls.Conn); ok {
		s.conn.SetDeadline(time.Now().Add(s.readTimeout()))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			s.log.Debug("TLS handshake failed", slog.Any("error", err))
			return
		}
	}
	// RFC 9051 7.1.1: greeting with the capabilities as response code.
	s.e.Untagged().Atom("OK [CAPABILITY ").Atom(strings.Join(s.capabilities(), " ")).Atom("] Floe ready").CRLF()
	if s.e.Flush() != nil {
		return
	}
	for {
		if s.r.Buffered() == 0 {
			// Pipelined commands are answered in one write (RFC 9051 5.5).
			if s.e.Flush() != nil {
				return
			}
			// NOTIFY: notifications come also between commands.
			if s.notifying() && !s.awaitNotifying() {
				return
			}
		}
		if !s.command() {
			return
		}
	}
}

// bye sends an untagged BYE (RFC 9051 7.1.5).
func (s *session) bye(text string) {
	s.e.Untagged().Atom("BYE ").Atom(text).CRLF()
	s.e.Flush()
}

// ended handles an I/O error of the loop; it writes BYE where useful.
func (s *session) ended(err error) {
	switch {
	case s.srv.shuttingDown():
		s.bye("server shutting down")
	case errors.Is(err, os.ErrDeadlineExceeded) && s.lineOverdue():
		s.log.Info("closing session: command line not completed in time")
		s.bye("command line not completed in time")
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.bye("autologout; idle for too long")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, errSelectedDeleted):
	default:
		s.log.Debug("connection error", slog.Any("error", err))
	}
}

// command reads and runs one command; false ends the session.
func (s *session) command() bool {
	d := s.d
	if s.state == stateNotAuth {
		d.reset(preAuthMaxLine, preAuthMaxLiteral)
	} else {
		d.reset(authMaxLine, authMaxLiteral)
	}
	s.tagSet = false

	s.awaitCommand() // the idle timeout until the first byte, then the line's
	tag, err := d.tag()
	if err != nil {
		if d.ioErr != nil {
			s.ended(d.ioErr)
			return false
		}
		return s.answer("*", "", command{}, err)
	}
	name, err := s.commandName()
	if err != nil {
		if d.ioErr != nil {
			s.ended(d.ioErr)
			return false
		}
		return s.answer(tag, "", command{}, err)
	}
	c, ok := commands[name]
	if !ok {
		return s.answer(tag, name, c, errBad("unknown command "+sanitizeName(name)))
	}
	allowed := false
	for _, st := range c.states {
		allowed = allowed || st == s.state
	}
	if !allowed {
		return s.answer(tag, name, c, errBad(name+" not allowed now"))
	}
	if s.v != nil && !s.rightsStillHeld() {
		return false
	}
	start := time.Now()
	err = c.fn(s, tag, d)
	if name != "IDLE" { // IDLE lasts as long as the client wants
		s.srv.opts.Metrics.Command(name, time.Since(start))
	}
	if d.ioErr != nil {
		s.ended(d.ioErr)
		return false
	}
	return s.answer(tag, name, c, err)
}

func sanitizeName(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return s
}

// commandName reads SP command-name, with the UID prefix (RFC 9051 6.4.9).
func (s *session) commandName() (string, error) {
	if err := s.d.SP(); err != nil {
		return "", err
	}
	name, err := s.d.Atom()
	if err != nil {
		return "", err
	}
	name = strings.ToUpper(name)
	if name == "UID" {
		if err := s.d.SP(); err != nil {
			return "", err
		}
		sub, err := s.d.Atom()
		if err != nil {
			return "", err
		}
		name = "UID " + strings.ToUpper(sub)
	}
	return name, nil
}

// answer writes the tagged response of a command (after pending unilateral
// updates) and reports whether the session goes on.
func (s *session) answer(tag, name string, c command, err error) bool {
	if err == errStartTLSDone {
		return true
	}
	var re *respError
	if err != nil && !errors.As(err, &re) {
		switch {
		case clientIOError(err): // deadlines.go: the client's doing, not a fault
			s.log.Info("client connection failed during command", slog.String("command", name), slog.Any("error", err))
		case s.ctx.Err() == nil:
			s.log.Error("command failed", slog.String("command", name), slog.Any("error", err))
		}
		re = errInternal
	}
	d := s.d
	if re != nil && !re.close {
		if err := d.skipLine(); err != nil {
			if d.ioErr != nil {
				s.ended(d.ioErr)
				return false
			}
			errors.As(err, &re)
		}
	} else if re == nil && !d.lineDone {
		// A handler that did not read its arguments: do not let them run
		// as commands.
		if err := d.skipLine(); err != nil {
			s.ended(err)
			return false
		}
	}
	if d.ioErr != nil {
		s.ended(d.ioErr)
		return false
	}
	if re == nil || re.kind != "BAD" {
		if err := s.flushUpdates(c.expungeOK); err != nil {
			return false
		}
	}
	switch {
	case re != nil:
		s.writeTagged(tag, re.kind, re.code, re.text)
	case s.tagSet:
		s.writeTagged(tag, s.tagKind, s.tagCode, s.tagText)
	default:
		s.writeTagged(tag, "OK", "", name+" completed")
	}
	if re != nil && re.close {
		s.bye("closing connection")
		return false
	}
	if re != nil && re.kind == "BAD" && s.state == stateNotAuth {
		s.badCount++
		if s.badCount >= maxBadPreAuth {
			s.bye("too many invalid commands")
			return false
		}
	}
	if s.state == stateLogout {
		s.e.Flush()
		return false
	}
	return s.e.Err() == nil
}

// tagged sets the tagged response of the current command:
// "<tag> <kind> [<code>] <text>" (code optional). It is written by the
// command loop after the pending unilateral updates.
func (s *session) tagged(tag, kind, code, text string) {
	s.tagSet, s.tagKind, s.tagCode, s.tagText = true, kind, code, text
}

func (s *session) writeTagged(tag, kind, code, text string) {
	s.e.Atom(tag).SP().Atom(kind).SP()
	if code != "" {
		s.e.Byte('[').Atom(code).Atom("] ")
	}
	s.e.Atom(text).CRLF()
}

// mailbox resolves a mailbox name as the user names it (its own folders,
// "~owner@domain/Path", "#public/Path") through the user's view, the one
// authorization point (storage/view). A folder the user has no "l" right
// on is storage.ErrNoMailbox, exactly as one that does not exist. Errors
// are storage sentinels; pass them to s.storageError.
func (s *session) mailbox(name string) (view.Folder, error) {
	if s.v == nil {
		return view.Folder{}, storage.ErrPermission
	}
	return s.v.Lookup(s.ctx, canonicalMailbox(name))
}

// rightsStillHeld starts a command of an authenticated session: the view
// is told that rights may have changed since the last command (by anyone,
// in any process), and a selected folder of someone else on which the user
// lost "r" ends the session with an untagged BYE: RFC 4314 has no way to
// take a selected mailbox away, and a client that reconnects sees its
// folder list as it now is (as for a selected mailbox another session
// deletes). It reports whether the session goes on.
func (s *session) rightsStillHeld() bool {
	s.v.Refresh()
	if s.sel == nil || s.sel.own {
		return true
	}
	r, err := s.v.Rights(s.ctx, s.sel.mbox.ID)
	switch {
	case err == nil && r.Has(acl.Of(acl.Read)):
		s.sel.rights = r
		return true
	case err != nil && !errors.Is(err, storage.ErrNoMailbox) && !errors.Is(err, storage.ErrPermission):
		s.log.Warn("checking the rights on the selected mailbox failed", slog.Any("error", err))
		return true
	}
	s.log.Info("access to the selected mailbox was revoked", slog.String("mailbox", s.sel.name))
	s.bye("access to the selected mailbox was revoked, please reconnect")
	return false
}

// appendLimit is the APPENDLIMIT (RFC 7889): the largest message accepted.
func (s *session) appendLimit() int64 {
	if n := int64(s.srv.config().SMTP.MaxMessageSize); n > 0 {
		return n
	}
	return int64(defaultAppendLimit)
}

// plaintextAuthAllowed reports whether LOGIN/AUTHENTICATE may be used now.
func (s *session) plaintextAuthAllowed() bool {
	return auth.PlaintextAllowed(s.tlsActive, s.remote, s.srv.config().TLS.AllowPlaintextAuth)
}

// capabilities returns the CAPABILITY list for the current state; it is the
// single source of the list (greeting, CAPABILITY, LOGIN's response code).
func (s *session) capabilities() []string {
	caps := []string{"IMAP4rev1", "IMAP4rev2"}
	if s.state == stateNotAuth {
		if !s.tlsActive && s.srv.opts.TLS != nil {
			caps = append(caps, "STARTTLS")
		}
		if s.plaintextAuthAllowed() {
			for _, m := range auth.Mechanisms {
				caps = append(caps, "AUTH="+m)
			}
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
	}
	if s.state != stateNotAuth && s.zw == nil {
		caps = append(caps, "COMPRESS=DEFLATE") // RFC 4978: after login, once
	}
	caps = append(caps,
		"LITERAL+", "SASL-IR", "ENABLE", "ID", "IDLE", "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT",
		"MULTIAPPEND", "CATENATE", "NOTIFY",
		"CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE",
		"ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC",
		"APPENDLIMIT="+strconv.FormatInt(s.appendLimit(), 10),
		"BINARY", "UTF8=ACCEPT", "METADATA", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", "QUOTASET",
		"ACL", "RIGHTS=texk",
		"SORT", "SORT=DISPLAY", "ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT")
	return caps
}

func uitoa(n uint64) string { return strconv.FormatUint(n, 10) }
