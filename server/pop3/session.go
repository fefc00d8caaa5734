package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/connsrv"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// Session states, RFC 1939 section 3. The UPDATE state is the body of QUIT.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
)

// Errors that end the command loop.
var (
	errLineTooLong = errors.New("line too long")
	errShutdown    = errors.New("server shutting down")
	errQuit        = errors.New("quit")
	// errHangup closes the connection without another response (a failed
	// TLS handshake, a broken stream in the middle of a multi-line answer).
	errHangup = errors.New("hang up")
)

// msg is one message of the login snapshot.
type msg struct {
	uid       storage.UID
	size      int64
	seen      bool // had \Seen at login
	deleted   bool // DELE
	retrieved bool // RETR
}

// session is one POP3 connection. Only its own goroutine touches its fields,
// except raw (deadlines and Close are safe for concurrent use) and cancel.
type session struct {
	srv         *Server
	raw         net.Conn // the accepted connection
	conn        net.Conn // raw, or the TLS connection over it
	br          *bufio.Reader
	bw          *bufio.Writer
	implicitTLS bool
	tlsActive   bool
	log         *slog.Logger
	ctx         context.Context
	cancel      context.CancelFunc
	lim         limits
	lineStarted bool // readLine cut the deadline to the line's
	line        []byte

	state     state
	user      string // name given by USER, waiting for PASS
	principal *auth.Principal
	locked    bool // holds the maildrop lock of principal.Account
	// v is the user's view of the store (storage/view): POP3 reads and
	// changes only the user's own INBOX, through it.
	v       *view.View
	inbox   storage.Mailbox
	msgs    []msg
	errors  int
	tooMany bool
}

func (s *Server) newSession(c net.Conn, implicitTLS bool) *session {
	ctx, cancel := context.WithCancel(s.conns.Context())
	id := s.nextID.Add(1)
	sess := &session{
		srv:         s,
		raw:         c,
		conn:        c,
		implicitTLS: implicitTLS,
		tlsActive:   implicitTLS,
		log:         s.log.With("conn", id, "remote", c.RemoteAddr().String()),
		ctx:         ctx,
		cancel:      cancel,
		lim:         s.limits(),
	}
	sess.br = bufio.NewReaderSize(connReader{sess}, 4096)
	sess.bw = bufio.NewWriterSize(connWriter{sess}, 32<<10)
	return sess
}

// connReader and connWriter go through the session's current conn (which
// STLS replaces). connWriter sets a write deadline before every write, so
// a long RETR to a slow but live client is not cut off while a stalled one
// is.
type connReader struct{ s *session }

func (r connReader) Read(p []byte) (int, error) { return r.s.conn.Read(p) }

type connWriter struct{ s *session }

func (w connWriter) Write(p []byte) (int, error) {
	w.s.conn.SetWriteDeadline(time.Now().Add(w.s.lim.write))
	return w.s.conn.Write(p)
}

// wake makes a session waiting for a command notice a shutdown. Called by
// Shutdown after setting shuttingDown; readLine checks the flag after
// setting its own deadline, so the wake-up is never lost.
func (sess *session) wake() { sess.raw.SetReadDeadline(time.Now()) }

// abort closes the connection at once (shutdown deadline passed).
func (sess *session) abort() {
	sess.cancel()
	sess.raw.Close()
}

func (sess *session) timeout() time.Duration {
	if sess.state == stateAuthorization {
		return sess.lim.preAuth
	}
	return sess.lim.command
}

// serve runs the session until QUIT, an error, a timeout or shutdown. It
// always releases the maildrop lock and never applies deletions except in
// QUIT.
func (sess *session) serve() {
	defer func() {
		if r := recover(); r != nil {
			sess.log.Error("panic in POP3 session", "panic", r, "stack", string(debug.Stack()))
		}
		sess.conn.Close()
		sess.raw.Close()
		sess.cancel()
		if sess.locked {
			sess.srv.unlock(sess.principal.Account)
			sess.locked = false
		}
		sess.log.Debug("connection closed")
	}()
	sess.log.Debug("connection opened", "tls", sess.implicitTLS)

	if sess.implicitTLS {
		// Handshake now, under the pre-auth timeout, so that a client that
		// never completes it is dropped. A listener wrapper that hides the
		// *tls.Conn leaves the handshake to the first read.
		if tc, ok := sess.raw.(handshaker); ok {
			if err := sess.handshake(tc); err != nil {
				return
			}
		}
	}

	sess.reply("+OK Floe POP3 server ready")
	for {
		sess.lim = sess.srv.limits()
		if sess.needFlush() {
			if err := sess.bw.Flush(); err != nil {
				return
			}
		}
		line, err := sess.readLine(maxCommandLine)
		if err == nil {
			if cmd, perr := parseCommand(line); perr != nil {
				sess.fail("invalid command")
			} else {
				err = sess.dispatch(cmd)
			}
		}
		if err != nil && !sess.endOnError(err) {
			err = nil
		}
		if sess.tooMany {
			sess.bw.Flush()
			return
		}
		if err != nil {
			return
		}
	}
}

// endOnError answers a loop error and reports whether the session ends.
func (sess *session) endOnError(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, errLineTooLong):
		sess.fail("line too long")
		return false
	case errors.Is(err, errShutdown):
		sess.log.Info("closing session: server shutting down")
		sess.finalWord("-ERR [SYS/TEMP] server shutting down")
	case errors.Is(err, errQuit):
		sess.bw.Flush()
	case errors.Is(err, errHangup):
	case errors.As(err, &ne) && ne.Timeout() && sess.lineStarted:
		sess.log.Info("closing session: command line not completed in time")
		sess.finalWord("-ERR [SYS/TEMP] command line not completed in time, closing connection")
	case errors.As(err, &ne) && ne.Timeout():
		// RFC 1939 section 3: the autologout timer expired; the session
		// does not enter the UPDATE state.
		sess.log.Info("closing session: idle timeout")
		sess.finalWord("-ERR [SYS/TEMP] idle timeout, closing connection")
	default:
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			sess.log.Debug("connection error", "err", err)
		}
	}
	return true
}

// finalWord sends one last line with a short deadline, best effort.
func (sess *session) finalWord(line string) {
	sess.lim.preAuth, sess.lim.command, sess.lim.write = 5*time.Second, 5*time.Second, 5*time.Second
	sess.reply(line)
	sess.bw.Flush()
}

// needFlush reports whether no complete command is waiting in the input
// buffer (RFC 2449 section 6.6 PIPELINING: answers are sent when the client
// may be waiting for them).
func (sess *session) needFlush() bool {
	n := sess.br.Buffered()
	if n == 0 {
		return true
	}
	b, _ := sess.br.Peek(n)
	return bytes.IndexByte(b, '\n') < 0
}

// readLine reads one line of at most max octets including its terminator
// (CRLF, or a bare LF) and returns it without the terminator. A longer line
// is read and discarded up to its end, never buffered whole, and reported
// as errLineTooLong. The idle timeout runs until the line's first byte;
// from then on the whole line must come within lim.line (a client
// trickling a byte at a time is cut off), or by the idle deadline if that
// is earlier.
func (sess *session) readLine(max int) ([]byte, error) {
	idle := time.Now().Add(sess.timeout())
	sess.conn.SetReadDeadline(idle)
	if sess.srv.shuttingDown() {
		return nil, errShutdown
	}
	sess.lineStarted = false
	if _, err := sess.br.Peek(1); err == nil {
		if line := time.Now().Add(sess.lim.line); line.Before(idle) {
			sess.conn.SetReadDeadline(line)
			sess.lineStarted = true // a timeout now is the line's
		}
	}
	sess.line = sess.line[:0]
	tooLong := false
	for {
		chunk, err := sess.br.ReadSlice('\n')
		if !tooLong {
			if len(sess.line)+len(chunk) > max {
				tooLong = true
				sess.line = sess.line[:0]
			} else {
				sess.line = append(sess.line, chunk...)
			}
		}
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if sess.srv.shuttingDown() {
			return nil, errShutdown
		}
		return nil, err
	}
	if tooLong {
		return nil, errLineTooLong
	}
	l := bytes.TrimSuffix(sess.line, []byte("\n"))
	return bytes.TrimSuffix(l, []byte("\r")), nil
}

// reply writes one response line. Errors are sticky in the bufio.Writer and
// surface at the next Flush.
func (sess *session) reply(line string) {
	sess.bw.WriteString(line)
	sess.bw.WriteString("\r\n")
}

func (sess *session) replyf(format string, args ...any) {
	fmt.Fprintf(sess.bw, format, args...)
	sess.bw.WriteString("\r\n")
}

// fail answers a failed command with "-ERR text" and counts it; after
// MaxErrors failures it answers "-ERR too many errors" instead and the
// session ends.
func (sess *session) fail(text string) {
	sess.errors++
	if sess.errors >= sess.lim.maxErrors {
		sess.tooMany = true
		sess.log.Info("closing session: too many errors")
		sess.reply("-ERR too many errors, closing connection")
		return
	}
	sess.reply("-ERR " + text)
}

// dispatch runs one command. It returns nil to continue, or an error that
// ends the loop (errQuit, errHangup, read errors of AUTH).
func (sess *session) dispatch(cmd command) error {
	defer func(start time.Time) {
		sess.srv.opts.Metrics.Command(cmd.verb, time.Since(start))
	}(time.Now())
	switch cmd.verb {
	case "CAPA":
		return sess.cmdCapa(cmd)
	case "QUIT":
		return sess.cmdQuit(cmd)
	}
	if sess.state == stateAuthorization {
		switch cmd.verb {
		case "USER":
			return sess.cmdUser(cmd)
		case "PASS":
			return sess.cmdPass(cmd)
		case "AUTH":
			return sess.cmdAuth(cmd)
		case "STLS":
			return sess.cmdStls(cmd)
		case "APOP":
			sess.fail("APOP not supported, use USER/PASS or AUTH")
			return nil
		case "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL":
			sess.fail("command not valid before login")
			return nil
		}
	} else {
		switch cmd.verb {
		case "STAT":
			return sess.cmdStat(cmd)
		case "LIST", "UIDL":
			return sess.cmdList(cmd)
		case "RETR":
			return sess.cmdRetr(cmd)
		case "TOP":
			return sess.cmdTop(cmd)
		case "DELE":
			return sess.cmdDele(cmd)
		case "NOOP":
			if len(cmd.args) != 0 {
				sess.fail("syntax error: NOOP takes no arguments")
				return nil
			}
			sess.reply("+OK")
			return nil
		case "RSET":
			return sess.cmdRset(cmd)
		case "USER", "PASS", "AUTH", "STLS", "APOP":
			sess.fail("command not valid after login")
			return nil
		}
	}
	sess.fail("unknown command")
	return nil
}

// plaintextAllowed applies the SPEC §1 rule: passwords only over TLS, from
// loopback, or when the config allows it.
func (sess *session) plaintextAllowed() bool {
	return auth.PlaintextAllowed(sess.tlsActive, sess.raw.RemoteAddr(), sess.lim.allowPlaintext)
}

// cmdCapa answers CAPA (RFC 2449 section 5). STLS is listed only while it
// can be used; USER and SASL only while a password may be sent.
func (sess *session) cmdCapa(cmd command) error {
	if len(cmd.args) != 0 {
		sess.fail("syntax error: CAPA takes no arguments")
		return nil
	}
	sess.reply("+OK capability list follows")
	sess.reply("TOP")
	sess.reply("UIDL")
	if sess.state == stateAuthorization && sess.plaintextAllowed() {
		sess.reply("USER")
		sess.reply("SASL " + strings.Join(auth.Mechanisms, " "))
	}
	sess.reply("RESP-CODES")
	sess.reply("AUTH-RESP-CODE")
	sess.reply("PIPELINING")
	if sess.state == stateAuthorization && !sess.tlsActive && sess.srv.opts.TLS != nil {
		sess.reply("STLS")
	}
	sess.reply("IMPLEMENTATION Floe")
	sess.reply(".")
	return nil
}

// cmdStls upgrades the connection (RFC 2595 section 4).
func (sess *session) cmdStls(cmd command) error {
	if len(cmd.args) != 0 {
		sess.fail("syntax error: STLS takes no arguments")
		return nil
	}
	if sess.tlsActive {
		sess.fail("TLS already active")
		return nil
	}
	if sess.srv.opts.TLS == nil {
		sess.fail("STLS not available")
		return nil
	}
	sess.reply("+OK begin TLS negotiation")
	if err := sess.bw.Flush(); err != nil {
		return errHangup
	}
	if sess.br.Buffered() > 0 {
		// Plaintext sent after STLS before the handshake must not be
		// taken as commands of the secured session (CVE-2011-0411 class).
		sess.log.Warn("discarding plaintext pipelined after STLS", "octets", sess.br.Buffered())
	}
	tc := tls.Server(sess.raw, sess.srv.opts.TLS)
	if err := sess.handshake(tc); err != nil {
		return errHangup
	}
	sess.conn = tc
	sess.br.Reset(connReader{sess})
	sess.tlsActive = true
	sess.user = "" // RFC 2595 section 4: forget everything learned before
	return nil
}

// handshaker is a TLS connection (*tls.Conn, or a wrapper exposing it).
type handshaker interface {
	net.Conn
	HandshakeContext(context.Context) error
	ConnectionState() tls.ConnectionState
}

// handshake runs a TLS handshake under the pre-auth timeout.
func (sess *session) handshake(tc handshaker) error {
	tc.SetDeadline(time.Now().Add(sess.lim.preAuth))
	ctx, cancel := context.WithTimeout(sess.ctx, sess.lim.preAuth)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		sess.log.Debug("TLS handshake failed", "err", err)
		return err
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	sess.log.Debug("TLS established", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	return nil
}

const errPlaintext = "[AUTH] plaintext authentication disallowed without TLS, use STLS"

// cmdUser handles USER (RFC 1939 section 7). The answer does not reveal
// whether the name exists.
func (sess *session) cmdUser(cmd command) error {
	if len(cmd.args) != 1 {
		sess.fail("syntax error: USER name")
		return nil
	}
	if !sess.plaintextAllowed() {
		sess.fail(errPlaintext)
		return nil
	}
	sess.user = cmd.args[0]
	sess.reply("+OK send PASS")
	return nil
}

// cmdPass handles PASS. The whole rest of the line is the password: RFC
// 1939 section 7 lets a server take spaces as part of it.
func (sess *session) cmdPass(cmd command) error {
	if sess.user == "" {
		sess.fail("send USER first")
		return nil
	}
	user := sess.user
	sess.user = ""
	if cmd.rest == "" {
		sess.fail("syntax error: PASS password")
		return nil
	}
	if !sess.plaintextAllowed() {
		sess.fail(errPlaintext)
		return nil
	}
	p, err := sess.srv.opts.Auth.Login(sess.ctx, auth.AddrOf(sess.raw.RemoteAddr()), "pop3", user, cmd.rest)
	if err != nil {
		sess.authFailed(err)
		return nil
	}
	sess.login(p, "USER")
	return nil
}

// authFailed answers a failed login (RFC 3206 response codes).
func (sess *session) authFailed(err error) {
	if errors.Is(err, auth.ErrRateLimited) {
		sess.fail("[SYS/TEMP] too many failures, try later")
		return
	}
	if errors.Is(err, auth.ErrBusy) {
		sess.fail("[SYS/TEMP] server busy, try again shortly")
		return
	}
	sess.fail("[AUTH] authentication failed")
}

// cmdAuth runs a SASL exchange (RFC 5034).
func (sess *session) cmdAuth(cmd command) error {
	if len(cmd.args) == 0 {
		// RFC 1734 style mechanism list, which some clients still probe.
		sess.reply("+OK supported mechanisms follow")
		for _, m := range auth.Mechanisms {
			sess.reply(m)
		}
		sess.reply(".")
		return nil
	}
	if len(cmd.args) > 2 {
		sess.fail("syntax error: AUTH mechanism [initial-response]")
		return nil
	}
	mech := strings.ToUpper(cmd.args[0])
	known := false
	for _, m := range auth.Mechanisms {
		known = known || m == mech
	}
	if !known {
		sess.fail("unsupported SASL mechanism")
		return nil
	}
	// PLAIN and LOGIN both send the password in the clear.
	if !sess.plaintextAllowed() {
		sess.fail(errPlaintext)
		return nil
	}
	sasl, err := sess.srv.opts.Auth.NewSASL(sess.ctx, mech, auth.AddrOf(sess.raw.RemoteAddr()), "pop3")
	if err != nil {
		sess.fail("unsupported SASL mechanism")
		return nil
	}
	var resp []byte
	if len(cmd.args) == 2 {
		// RFC 5034 section 4: "=" is an empty initial response.
		if cmd.args[1] == "=" {
			resp = []byte{}
		} else if resp, err = base64.StdEncoding.DecodeString(cmd.args[1]); err != nil {
			sess.fail("invalid base64 in initial response")
			return nil
		}
	}
	for step := 0; ; step++ {
		challenge, done, err := sasl.Next(resp)
		if err != nil {
			sess.authFailed(err)
			return nil
		}
		if done {
			break
		}
		if step >= 4 {
			sess.fail("[AUTH] authentication failed")
			return nil
		}
		sess.reply("+ " + base64.StdEncoding.EncodeToString(challenge))
		if err := sess.bw.Flush(); err != nil {
			return errHangup
		}
		line, err := sess.readLine(maxSASLLine)
		if errors.Is(err, errLineTooLong) {
			sess.fail("[AUTH] authentication failed: line too long")
			return nil
		}
		if err != nil {
			return err
		}
		if string(line) == "*" {
			sess.fail("authentication cancelled")
			return nil
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			sess.fail("invalid base64 in response")
			return nil
		}
	}
	p := sasl.Principal()
	if p == nil {
		sess.fail("[AUTH] authentication failed")
		return nil
	}
	sess.login(p, "AUTH "+mech)
	return nil
}

// login locks the maildrop and takes the snapshot (RFC 1939 section 4:
// the server acquires an exclusive-access lock on the maildrop). On failure
// the session stays in the AUTHORIZATION state.
func (sess *session) login(p *auth.Principal, method string) {
	log := sess.log.With("user", p.Address)
	if !connsrv.LoggedIn(sess.raw, p.Address) {
		log.Warn("login refused: too many connections for this account from this address")
		sess.fail("[SYS/TEMP] too many connections for this account from your address")
		return
	}
	if !sess.srv.lock(p.Account) {
		log.Info("login refused: maildrop in use")
		sess.fail("[IN-USE] maildrop already locked by another session")
		return
	}
	inbox, msgs, err := sess.snapshot(p.Account)
	if err != nil {
		sess.srv.unlock(p.Account)
		log.Error("cannot open maildrop", "err", err)
		sess.reply("-ERR [SYS/TEMP] unable to open the maildrop, try later")
		return
	}
	sess.principal, sess.locked, sess.inbox, sess.msgs = p, true, inbox, msgs
	sess.state = stateTransaction
	sess.log = log
	n, size := sess.stat()
	log.Info("logged in", "method", method, "tls", sess.tlsActive, "messages", n)
	sess.replyf("+OK maildrop has %d messages (%d octets)", n, size)
}

// snapshot opens the user's view and reads its own INBOX (never a shared
// folder: POP3 has one maildrop, the user's).
func (sess *session) snapshot(acct storage.AccountID) (storage.Mailbox, []msg, error) {
	v, err := view.New(sess.ctx, sess.srv.opts.Store, acct, view.Options{})
	if err != nil {
		return storage.Mailbox{}, nil, err
	}
	sess.v = v
	f, err := v.LookupPath(sess.ctx, "", "INBOX")
	if err != nil {
		return storage.Mailbox{}, nil, err
	}
	inbox := f.Mailbox
	list, err := v.Messages(sess.ctx, inbox.ID, storage.Query{})
	if err != nil {
		return storage.Mailbox{}, nil, err
	}
	msgs := make([]msg, len(list))
	for i, m := range list {
		msgs[i] = msg{uid: m.UID, size: m.Size}
		for _, f := range m.Flags {
			if strings.EqualFold(f, storage.FlagSeen) {
				msgs[i].seen = true
			}
		}
	}
	return inbox, msgs, nil
}

// stat counts the messages not marked deleted and their size.
func (sess *session) stat() (n int, size int64) {
	for _, m := range sess.msgs {
		if !m.deleted {
			n++
			size += m.size
		}
	}
	return n, size
}

// cmdStat answers STAT (RFC 1939 section 5).
func (sess *session) cmdStat(cmd command) error {
	if len(cmd.args) != 0 {
		sess.fail("syntax error: STAT takes no arguments")
		return nil
	}
	n, size := sess.stat()
	sess.replyf("+OK %d %d", n, size)
	return nil
}

// uidl is the unique-id of a message (RFC 1939 section 7: 1 to 70
// characters in 0x21-0x7E). UIDVALIDITY and UID together never repeat for
// a different message in the INBOX.
func (sess *session) uidl(m msg) string {
	return fmt.Sprintf("%08x%08x", sess.inbox.UIDValidity, uint32(m.uid))
}

// cmdList answers LIST and UIDL, with or without a message number.
func (sess *session) cmdList(cmd command) error {
	uidl := cmd.verb == "UIDL"
	item := func(m msg) string {
		if uidl {
			return sess.uidl(m)
		}
		return fmt.Sprint(m.size)
	}
	switch len(cmd.args) {
	case 0:
		if uidl {
			sess.reply("+OK unique-id listing follows")
		} else {
			n, size := sess.stat()
			sess.replyf("+OK %d messages (%d octets)", n, size)
		}
		for i, m := range sess.msgs {
			if !m.deleted {
				sess.replyf("%d %s", i+1, item(m))
			}
		}
		sess.reply(".")
	case 1:
		m := sess.message(cmd.args[0])
		if m == nil {
			return nil
		}
		sess.replyf("+OK %s %s", cmd.args[0], item(*m))
	default:
		sess.fail("syntax error: " + cmd.verb + " [msg]")
	}
	return nil
}

// message resolves a message-number argument to a message of the
// snapshot not marked deleted; on failure it has answered -ERR.
func (sess *session) message(arg string) *msg {
	n := parseMsgNum(arg, len(sess.msgs))
	if n == 0 {
		sess.fail("no such message")
		return nil
	}
	m := &sess.msgs[n-1]
	if m.deleted {
		sess.fail("message " + arg + " already deleted")
		return nil
	}
	return m
}

// cmdDele marks a message deleted (RFC 1939 section 5); QUIT removes it.
func (sess *session) cmdDele(cmd command) error {
	if len(cmd.args) != 1 {
		sess.fail("syntax error: DELE msg")
		return nil
	}
	m := sess.message(cmd.args[0])
	if m == nil {
		return nil
	}
	m.deleted = true
	sess.reply("+OK message " + cmd.args[0] + " deleted")
	return nil
}

// cmdRset unmarks deleted messages (RFC 1939 section 5). Retrieved
// messages stay to be marked \Seen at QUIT: they have been read.
func (sess *session) cmdRset(cmd command) error {
	if len(cmd.args) != 0 {
		sess.fail("syntax error: RSET takes no arguments")
		return nil
	}
	for i := range sess.msgs {
		sess.msgs[i].deleted = false
	}
	n, size := sess.stat()
	sess.replyf("+OK maildrop has %d messages (%d octets)", n, size)
	return nil
}

// cmdRetr sends a whole message (RFC 1939 section 5).
func (sess *session) cmdRetr(cmd command) error {
	if len(cmd.args) != 1 {
		sess.fail("syntax error: RETR msg")
		return nil
	}
	m := sess.message(cmd.args[0])
	if m == nil {
		return nil
	}
	blob := sess.open(m)
	if blob == nil {
		return nil
	}
	defer blob.Close()
	sess.replyf("+OK %d octets", m.size)
	dw := newDotWriter(sess.bw)
	if _, err := io.Copy(dw, blob); err != nil {
		return sess.brokenStream(err)
	}
	if err := dw.Close(); err != nil {
		return sess.brokenStream(err)
	}
	m.retrieved = true
	return nil
}

// cmdTop sends the header and the first lines of the body (RFC 1939
// section 7).
func (sess *session) cmdTop(cmd command) error {
	if len(cmd.args) != 2 {
		sess.fail("syntax error: TOP msg n")
		return nil
	}
	lines, ok := parseUint(cmd.args[1])
	if !ok {
		sess.fail("syntax error: TOP msg n")
		return nil
	}
	m := sess.message(cmd.args[0])
	if m == nil {
		return nil
	}
	blob := sess.open(m)
	if blob == nil {
		return nil
	}
	defer blob.Close()
	sess.reply("+OK top of message follows")
	dw := newDotWriter(sess.bw)
	if err := copyTop(dw, blob, lines); err != nil {
		return sess.brokenStream(err)
	}
	if err := dw.Close(); err != nil {
		return sess.brokenStream(err)
	}
	return nil
}

// open checks that a message of the snapshot still exists (another session
// may have expunged it) and opens its blob; on failure it has answered.
func (sess *session) open(m *msg) storage.Blob {
	cur, err := sess.v.Messages(sess.ctx, sess.inbox.ID, storage.Query{UIDs: storage.UIDSet{{Start: m.uid, Stop: m.uid}}})
	if err != nil {
		sess.log.Error("reading message", "uid", m.uid, "err", err)
		sess.reply("-ERR [SYS/TEMP] cannot read the message, try later")
		return nil
	}
	if len(cur) == 0 || cur[0].UID != m.uid {
		sess.reply("-ERR message was removed by another session")
		return nil
	}
	blob, err := sess.v.OpenBlob(sess.ctx, sess.inbox.ID, cur[0].Blob)
	if err != nil {
		sess.log.Error("opening message blob", "uid", m.uid, "blob", cur[0].Blob, "err", err)
		if errors.Is(err, storage.ErrNotFound) {
			sess.reply("-ERR [SYS/PERM] message content is missing")
		} else {
			sess.reply("-ERR [SYS/TEMP] cannot read the message, try later")
		}
		return nil
	}
	return blob
}

// brokenStream handles a failure after the +OK of a multi-line answer: the
// answer cannot be completed correctly, so the connection is closed.
func (sess *session) brokenStream(err error) error {
	var ne net.Error
	if !errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
		sess.log.Error("sending message failed", "err", err)
	}
	return errHangup
}

// cmdQuit ends the session. In the TRANSACTION state it enters the UPDATE
// state (RFC 1939 section 6): one Expunge for the messages marked deleted,
// then \Seen for the retrieved ones that are left. Messages another session
// removed meanwhile are simply gone already.
func (sess *session) cmdQuit(cmd command) error {
	if len(cmd.args) != 0 {
		sess.fail("syntax error: QUIT takes no arguments")
		return nil
	}
	if sess.state == stateAuthorization {
		sess.reply("+OK bye")
		return errQuit
	}
	var del, seen []storage.UID
	for _, m := range sess.msgs {
		switch {
		case m.deleted:
			del = append(del, m.uid)
		case m.retrieved && !m.seen:
			seen = append(seen, m.uid)
		}
	}
	ok := true
	if len(del) > 0 {
		if _, err := sess.v.Expunge(sess.ctx, sess.inbox.ID, del); err != nil {
			sess.log.Error("expunge at QUIT failed", "err", err)
			ok = false
		}
	}
	if len(seen) > 0 {
		u := storage.FlagUpdate{UIDs: uidSet(seen), Op: storage.FlagsAdd, Flags: []string{storage.FlagSeen}}
		if _, err := sess.v.StoreFlags(sess.ctx, sess.inbox.ID, u); err != nil {
			sess.log.Warn("setting \\Seen at QUIT failed", "err", err)
		}
	}
	n, _ := sess.stat()
	// Release the maildrop before the client sees the answer, so that it
	// can log in again at once.
	sess.srv.unlock(sess.principal.Account)
	sess.locked = false
	if !ok {
		sess.reply("-ERR [SYS/TEMP] some deleted messages not removed")
		return errQuit
	}
	sess.log.Info("logged out", "deleted", len(del), "marked_seen", len(seen))
	sess.replyf("+OK Floe POP3 server signing off (%d messages left)", n)
	return errQuit
}

// uidSet turns ascending UIDs into ranges.
func uidSet(uids []storage.UID) storage.UIDSet {
	var set storage.UIDSet
	for _, u := range uids {
		if n := len(set); n > 0 && set[n-1].Stop+1 == u {
			set[n-1].Stop = u
			continue
		}
		set = append(set, storage.UIDRange{Start: u, Stop: u})
	}
	return set
}
