package imap

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
	"github.com/floemail/floe/server/imap/deflate"
	"github.com/floemail/floe/storage"
)

// Defaults used when the [imap] table leaves a limit at zero.
const (
	defaultPreAuthTimeout = 60 * time.Second
	// RFC 9051 5.4: the autologout timer must be at least 30 minutes.
	defaultIdleTimeout = 30 * time.Minute
	// defaultWriteTimeout bounds each write to a client when the config sets
	// no [limits] write_timeout.
	defaultWriteTimeout = 30 * time.Second
	// Limits before authentication (ARCHITECTURE: limits on every buffer).
	preAuthMaxLine    = 8 << 10
	preAuthMaxLiteral = 64 << 10
	// Limits after authentication; APPEND's message literal is limited by
	// APPENDLIMIT instead.
	authMaxLine    = 1 << 20
	authMaxLiteral = 4 << 20
	// maxBadPreAuth closes a connection after that many BAD responses
	// before login.
	maxBadPreAuth = 10
	// appendLimit is advertised as APPENDLIMIT when the config sets none.
	defaultAppendLimit = config.DefaultMaxMessageSize
)

// Options configure a Server.
type Options struct {
	// Config returns the current configuration; it is called per
	// connection and per command, so a reload applies at once.
	Config func() *config.Config
	Store  storage.Store
	Auth   *auth.Authenticator
	// TLS enables STARTTLS on plain listeners. nil: no STARTTLS.
	TLS    *tls.Config
	Logger *slog.Logger
	// Metrics, when set, times every command (nil: no metrics).
	Metrics *metrics.Protocol
	// BaseContext is the parent of every session's context (and so of its
	// storage calls); the server cancels it when it stops. nil: Background.
	BaseContext context.Context
}

// Server serves IMAP on any number of listeners.
type Server struct {
	opts  Options
	log   *slog.Logger
	wpool *sync.Pool

	conns  *connsrv.Server
	nextID atomic.Uint64
	recent *recentTracker
	// deflate lends compressors to COMPRESS=DEFLATE sessions (compress.go).
	deflate *deflate.Pool
	// notifyLimit bounds the responses one batch of NOTIFY events may need
	// (notify.go, NOTIFICATIONOVERFLOW).
	notifyLimit int
}

// New returns a Server. It does not listen; call Serve.
func New(o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Config == nil {
		c := config.Development()
		o.Config = func() *config.Config { return c }
	}
	return &Server{
		opts:        o,
		log:         log.With("proto", "imap"),
		wpool:       newWriterPool(),
		conns:       connsrv.NewContext(o.BaseContext, log.With("proto", "imap")),
		recent:      newRecentTracker(),
		deflate:     deflate.NewPool(maxCompressors),
		notifyLimit: defaultNotifyLimit,
	}
}

// Serve accepts connections on l until Shutdown and serves each in its own
// goroutine. With implicitTLS, l must be a TLS listener (port 993): the
// session then starts with the TLS handshake and never offers STARTTLS.
// Serve returns nil after Shutdown, or the listener's error.
func (s *Server) Serve(l net.Listener, implicitTLS bool) error {
	return s.conns.Serve(l, func(c net.Conn) connsrv.Session { return s.newSession(c, implicitTLS) })
}

// Shutdown stops the listeners and ends every session: a session waiting
// for a command or in IDLE gets "* BYE" and is closed; a command in progress
// finishes first. Shutdown waits until all sessions have ended; when ctx
// ends first, the remaining connections are closed and ctx's error is
// returned.
func (s *Server) Shutdown(ctx context.Context) error { return s.conns.Shutdown(ctx) }

// shuttingDown reports whether Shutdown has begun.
func (s *Server) shuttingDown() bool { return s.conns.ShuttingDown() }

// Serve, Wake and Abort make a session a connsrv.Session.
func (s *session) Serve() { s.serve() }
func (s *session) Wake()  { s.wake() }
func (s *session) Abort() { s.raw.Close() }

// config returns the current configuration.
func (s *Server) config() *config.Config { return s.opts.Config() }
