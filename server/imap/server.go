package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// Defaults used when the [imap] table leaves a limit at zero.
const (
	defaultPreAuthTimeout = 60 * time.Second
	// RFC 9051 5.4: the autologout timer must be at least 30 minutes.
	defaultIdleTimeout = 30 * time.Minute
	// writeTimeout bounds each write to a client.
	writeTimeout = 5 * time.Minute
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
}

// Server serves IMAP on any number of listeners.
type Server struct {
	opts  Options
	log   *slog.Logger
	wpool *sync.Pool

	shuttingDown atomic.Bool
	done         chan struct{} // closed by Shutdown
	nextID       atomic.Uint64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	closeOnce sync.Once
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
		opts:      o,
		log:       log.With("proto", "imap"),
		wpool:     newWriterPool(),
		done:      make(chan struct{}),
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
	}
}

// Serve accepts connections on l until Shutdown and serves each in its own
// goroutine. With implicitTLS, l must be a TLS listener (port 993): the
// session then starts with the TLS handshake and never offers STARTTLS.
// Serve returns nil after Shutdown, or the listener's error.
func (s *Server) Serve(l net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.shuttingDown.Load() {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.shuttingDown.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed, retrying", "err", err, "in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		sess := s.newSession(c, implicitTLS)
		if !s.track(sess) {
			c.Close()
			continue
		}
		go sess.serve()
	}
}

// Shutdown stops the listeners and ends every session: a session waiting
// for a command or in IDLE gets "* BYE" and is closed; a command in progress
// finishes first. Shutdown waits until all sessions have ended; when ctx
// ends first, the remaining connections are closed and ctx's error is
// returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shuttingDown.Store(true)
	s.closeOnce.Do(func() { close(s.done) })
	for l := range s.listeners {
		l.Close()
	}
	for sess := range s.sessions {
		sess.wake()
	}
	s.mu.Unlock()

	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.sessions)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for sess := range s.sessions {
				sess.raw.Close()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-t.C:
			wait = min(2*wait, 100*time.Millisecond)
			t.Reset(wait)
		}
	}
}

func (s *Server) track(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown.Load() {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

func (s *Server) untrack(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
}

// config returns the current configuration.
func (s *Server) config() *config.Config { return s.opts.Config() }
