// Package smtp is Floe's SMTP server on github.com/emersion/go-smtp: mail
// from the internet (MX, port 25) and message submission (587 with
// STARTTLS, 465 with implicit TLS; RFC 6409, RFC 8314).
//
// Policy, in one place (session.go):
//
//   - MX, unauthenticated: recipients must resolve to local accounts
//     (550 5.1.1 otherwise); anything that would route elsewhere is refused
//     with 550 5.7.1 "relaying denied": non-local domains, address literals,
//     and local parts with '%', '!' or '@' (user%other@local,
//     user@other@local, "user@other"@local). Source routes
//     (<@a,@b:user@c>) are stripped by go-smtp as RFC 5321 4.1.1.3 and
//     Appendix C ask; the remaining mailbox goes through the same policy.
//     The null sender <> is accepted.
//   - AUTH PLAIN and LOGIN, offered only with TLS, from loopback, or when
//     [tls] allow_plaintext_auth is set (auth.PlaintextAllowed); otherwise
//     AUTH is not advertised and refused with 538 5.7.11.
//   - Submission (after AUTH on any port; AUTH is required on 465/587): the
//     envelope sender must be an address the account owns (553 5.7.1);
//     local recipients are delivered locally; other recipients go to the
//     outbound queue (Options.Queue; refused with 550 5.7.1 without one).
//
// Each connection gets its own go-smtp Server, configured from the config
// current at accept time, so a SIGHUP reload applies to new connections.
package smtp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/floemail/floe/server/metrics"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/delivery"
	"github.com/floemail/floe/server/mailauth"
	"github.com/floemail/floe/server/queue"
	"github.com/floemail/floe/server/spam"
	"github.com/floemail/floe/storage"
)

// Mode is the role of a listener.
type Mode int

const (
	// MX receives mail from the internet (port 25); STARTTLS is offered and
	// AUTH is allowed (local submission).
	MX Mode = iota
	// Submission is port 587: STARTTLS, AUTH required before MAIL.
	Submission
	// Submissions is port 465: implicit TLS, AUTH required before MAIL.
	Submissions
)

func (m Mode) String() string {
	switch m {
	case MX:
		return "smtp"
	case Submission:
		return "submission"
	case Submissions:
		return "submissions"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults used when a config value is zero.
const (
	DefaultMaxMessageSize = 50 << 20
	DefaultMaxRecipients  = 1000
	DefaultMaxLineLength  = 4096
	DefaultCommandTimeout = 5 * time.Minute
	DefaultDataTimeout    = 5 * time.Minute
	DefaultMaxErrors      = 20
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("smtp: server closed")

// Options configures a Server.
type Options struct {
	Config   func() *config.Config
	Store    storage.Store
	Auth     *auth.Authenticator
	Delivery *delivery.Deliverer
	// Checker runs SPF/DKIM/DMARC on mail arriving on port 25 from
	// unauthenticated clients ([checks] enabled); nil disables the checks.
	Checker *mailauth.Checker
	// Queue takes the remote recipients of authenticated submissions; nil
	// refuses them (550 5.7.1).
	Queue *queue.Queue
	// SmartAttach rewrites submitted messages (large attachments become
	// download links, smartattach.go); nil: never.
	SmartAttach SmartAttacher
	// TLS is used for STARTTLS (MX, Submission) and for implicit TLS
	// (Submissions). Without it STARTTLS is not offered and Submissions
	// cannot be served.
	TLS    *tls.Config
	Logger *slog.Logger
	// Metrics, when set, counts accepted messages and times MAIL, RCPT
	// and DATA (nil: no metrics).
	Metrics *metrics.Metrics
	// BaseContext is the parent of every session's context (and so of its
	// storage calls); the server cancels it when it stops. nil: Background.
	BaseContext context.Context
}

// Server serves SMTP on any number of listeners. It is safe for concurrent
// use.
type Server struct {
	opts   Options
	log    *slog.Logger
	ctx    context.Context // cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*trackedConn]struct{}
	wg        sync.WaitGroup // connection goroutines

	// spam is the [spam] scanner, rebuilt when spamCfg changes.
	spamMu  sync.Mutex
	spam    *spam.Scanner
	spamCfg config.Spam

	// remoteAddr, when set (tests), replaces the peer address used for
	// policy decisions (plain-text AUTH from a non-loopback address).
	remoteAddr net.Addr
}

// New returns a Server. Call Serve for each listener.
func New(o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := o.BaseContext
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	return &Server{
		opts:      o,
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*trackedConn]struct{}{},
	}
}

// Serve accepts connections on l in mode m until Shutdown, then returns nil.
// For Submissions, l may be a TLS listener (tls.NewListener) or a plain one:
// the server performs the handshake itself with Options.TLS, below which it
// keeps the raw connection for clean shutdown. Other accept errors are
// returned after the listener fails permanently.
func (s *Server) Serve(l net.Listener, m Mode) error {
	if m == Submissions && s.opts.TLS == nil {
		return errors.New("smtp: submissions (implicit TLS) needs a TLS config")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Temporary failures (EMFILE, aborted handshakes): back off.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "mode", m.String(), "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		raw := c
		if tc, ok := c.(*tls.Conn); ok && m == Submissions {
			raw = tc.NetConn() // handshake not started yet
		}
		tc := newTrackedConn(raw)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = raw.Close()
			return nil
		}
		s.conns[tc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(tc, m)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// handle runs one connection.
func (s *Server) handle(tc *trackedConn, m Mode) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, tc)
		s.mu.Unlock()
	}()
	defer tc.Close()
	cfg := s.opts.Config()
	id := newConnID()
	remote := s.remoteOf(tc)
	log := s.log.With("conn", id, "remote", remote.String(), "proto", m.String())
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic in SMTP connection", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	log.Debug("connection opened")
	defer log.Debug("connection closed")

	lim := limitsOf(cfg)
	tc.lineTimeout = lim.lineTimeout
	var top net.Conn = tc
	if m == Submissions {
		tlsConn := tls.Server(tc, s.opts.TLS)
		_ = tc.SetDeadline(time.Now().Add(lim.commandTimeout))
		if err := tlsConn.HandshakeContext(s.ctx); err != nil {
			log.Debug("TLS handshake failed", "err", err)
			return
		}
		_ = tc.SetDeadline(time.Time{})
		top = tlsConn
	}
	tc.setTop(top)

	be := &backend{srv: s, tc: tc, mode: m, cfg: cfg, lim: lim, id: id, log: log}
	gs := gosmtp.NewServer(be)
	gs.Domain = hostnameOf(cfg)
	gs.MaxMessageBytes = lim.maxMessageSize
	gs.MaxRecipients = lim.maxRecipients
	gs.MaxLineLength = lim.maxLineLength
	gs.ReadTimeout = lim.commandTimeout
	gs.WriteTimeout = lim.writeTimeout
	// AUTH is decided per session (AuthMechanisms returns nothing and Auth
	// refuses when plain text is not allowed), which lets loopback clients
	// authenticate without TLS.
	gs.AllowInsecureAuth = true
	gs.EnableSMTPUTF8 = true // RFC 6531
	// RFC 3461: NOTIFY/ORCPT/RET/ENVID are carried into the outbound queue.
	gs.EnableDSN = s.opts.Queue != nil
	if m != Submissions {
		gs.TLSConfig = s.opts.TLS // STARTTLS, RFC 3207
	}
	gs.ErrorLog = errorLog{log}
	_ = gs.Serve(&oneConnListener{conn: top, tc: tc})
	tc.finish()
}

func (s *Server) remoteOf(c net.Conn) net.Addr {
	if s.remoteAddr != nil {
		return s.remoteAddr
	}
	return c.RemoteAddr()
}

// Shutdown stops accepting connections, ends idle sessions with
// "421 4.3.2" and lets messages being received finish (their sessions end
// with 421 right after the reply). When ctx expires first, it cancels
// storage calls in flight, closes every connection (nothing unacknowledged
// is lost: the client retries) and returns ctx.Err() once the connection
// goroutines have returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		_ = l.Close()
	}
	conns := make([]*trackedConn, 0, len(s.conns))
	for tc := range s.conns {
		conns = append(conns, tc)
	}
	s.mu.Unlock()
	for _, tc := range conns {
		tc.interrupt()
	}

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for tc := range s.conns {
		tc.abort()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// limits are the [smtp] settings of one connection, defaults applied.
type limits struct {
	maxMessageSize int64
	maxRecipients  int
	maxMessages    int
	maxLineLength  int
	maxErrors      int
	commandTimeout time.Duration
	dataTimeout    time.Duration
	lineTimeout    time.Duration // [limits] command_line_timeout
	writeTimeout   time.Duration // [limits] write_timeout
}

func limitsOf(cfg *config.Config) limits {
	c := cfg.SMTP
	l := limits{
		maxMessageSize: int64(c.MaxMessageSize),
		maxRecipients:  c.MaxRecipients,
		maxMessages:    c.MaxMessagesPerConnection,
		maxLineLength:  c.MaxLineLength,
		maxErrors:      c.MaxErrors,
		commandTimeout: c.CommandTimeout.D(),
		dataTimeout:    c.DataTimeout.D(),
		lineTimeout:    cfg.Limits.CommandLineTimeout.D(),
		writeTimeout:   cfg.Limits.WriteTimeout.D(),
	}
	if l.maxMessageSize <= 0 {
		l.maxMessageSize = DefaultMaxMessageSize
	}
	if l.maxRecipients <= 0 {
		l.maxRecipients = DefaultMaxRecipients
	}
	if l.maxLineLength <= 0 {
		l.maxLineLength = DefaultMaxLineLength
	}
	if l.maxErrors <= 0 {
		l.maxErrors = DefaultMaxErrors
	}
	if l.commandTimeout <= 0 {
		l.commandTimeout = DefaultCommandTimeout
	}
	if l.dataTimeout <= 0 {
		l.dataTimeout = DefaultDataTimeout
	}
	if l.writeTimeout <= 0 {
		l.writeTimeout = l.commandTimeout
	}
	return l
}

func hostnameOf(cfg *config.Config) string {
	if h := strings.TrimSpace(cfg.Server.Hostname); h != "" {
		return h
	}
	return "localhost"
}

// newConnID returns a short random connection id for logs and Received.
func newConnID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// errorLog sends go-smtp's internal error messages to slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) { l.print(fmt.Sprintf(format, v...)) }
func (l errorLog) Println(v ...any)               { l.print(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (l errorLog) print(msg string) {
	if strings.Contains(msg, "panic") {
		l.log.Error("smtp library", "detail", msg)
		return
	}
	l.log.Debug("smtp library", "detail", msg)
}
