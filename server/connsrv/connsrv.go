// Package connsrv is the connection plumbing shared by Floe's own protocol
// servers (IMAP, POP3): the accept loop, the registry of live sessions and
// the two-phase graceful shutdown. The protocol packages keep everything
// that speaks their protocol; this package only starts, counts and stops
// sessions.
package connsrv

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Session is the session of one connection.
type Session interface {
	// Serve runs the session until it ends. It must return promptly after
	// Wake when it is waiting for the client.
	Serve()
	// Wake asks the session to end at its next wait for input, saying its
	// protocol's goodbye (IMAP BYE, POP3 -ERR); a command in progress
	// finishes first. Safe to call from another goroutine.
	Wake()
	// Abort closes the connection at once (the shutdown deadline passed).
	Abort()
}

// Server accepts connections on any number of listeners and tracks their
// sessions. The zero value is not usable; call New.
type Server struct {
	log          *slog.Logger
	shuttingDown atomic.Bool
	ctx          context.Context // sessions' base; see Context
	cancel       context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[Session]struct{}
}

// New returns a Server that logs accept errors to log, with
// context.Background() as its sessions' base context.
func New(log *slog.Logger) *Server { return NewContext(context.Background(), log) }

// NewContext returns a Server whose Context derives from base (the
// server-wide context, which the whole server cancels when it stops).
func NewContext(base context.Context, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	return &Server{log: log, ctx: ctx, cancel: cancel,
		listeners: map[net.Listener]struct{}{}, sessions: map[Session]struct{}{}}
}

// Context is the base of every session's context: sessions derive the
// context of their storage calls from it. It is cancelled when the base
// given to NewContext is, and by Shutdown when its deadline passes (so
// storage work still in flight stops) or once every session has ended.
func (s *Server) Context() context.Context { return s.ctx }

// ShuttingDown reports whether Shutdown has been called. Sessions check it
// after a wait for input was cut short, to tell Wake from a timeout.
func (s *Server) ShuttingDown() bool { return s.shuttingDown.Load() }

// Serve accepts connections on l until Shutdown, building each connection's
// session with newSession and running it in its own goroutine. It returns
// nil after Shutdown, or the listener's error. Accept errors other than a
// closed listener (out of file descriptors, a wrapper's transient refusal)
// are retried with backoff, as net/http does.
func (s *Server) Serve(l net.Listener, newSession func(net.Conn) Session) error {
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
		sess := newSession(c)
		if !s.track(sess) {
			c.Close()
			continue
		}
		go func() {
			defer s.untrack(sess)
			defer func() {
				// The protocol's own recover is the first line; this one
				// keeps a panic outside it from ending the process.
				if v := recover(); v != nil {
					s.log.Error("panic in session", "panic", v, "stack", string(debug.Stack()))
					sess.Abort()
				}
			}()
			sess.Serve()
		}()
	}
}

// Shutdown closes the listeners, wakes every session and waits until all
// have ended. When ctx ends first, the remaining sessions are aborted, the
// sessions' base context (Context) is cancelled, and ctx's error is
// returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shuttingDown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for sess := range s.sessions {
		sess.Wake()
	}
	s.mu.Unlock()

	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		if s.Len() == 0 {
			s.cancel()
			return nil
		}
		select {
		case <-ctx.Done():
			s.cancel() // storage calls in flight give up
			s.mu.Lock()
			for sess := range s.sessions {
				sess.Abort()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-t.C:
			wait = min(2*wait, 100*time.Millisecond)
			t.Reset(wait)
		}
	}
}

// Len returns the number of live sessions.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// track registers a new session; false when the server is shutting down.
func (s *Server) track(sess Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown.Load() {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

func (s *Server) untrack(sess Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
}

// LoggedIn tells the connection registry under c (the server's tracked
// connection, possibly beneath TLS) that its client logged in as account.
// It returns false when account already has the maximum of logged-in
// connections from the client's address: the protocol must then refuse the
// login. Connections without a registry (tests, tools) always get true.
func LoggedIn(c net.Conn, account string) bool {
	for c != nil {
		if l, ok := c.(interface{ LoggedIn(string) bool }); ok {
			return l.LoggedIn(account)
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	return true
}
