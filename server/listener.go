package server

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floemail/floe/server/auth"
)

// Refusal lines written to a client that is over its per-IP connection limit.
const (
	// RFC 5321 4.3.2: 421 on connection opening; RFC 3463 4.7.0 (other
	// security or policy status).
	smtpRefusal = "421 4.7.0 Too many connections from your address\r\n"
	// RFC 2449 8 / RFC 3206 SYS/TEMP: a temporary system problem.
	pop3Refusal = "-ERR [SYS/TEMP] too many connections from your address\r\n"
	// RFC 9051 7.1.5: BYE as the greeting rejects the connection.
	imapRefusal = "* BYE too many connections from your address\r\n"
)

// refusalTimeout bounds the write of a refusal line to a client we reject.
const refusalTimeout = 5 * time.Second

// registry tracks every open connection of a Server: counts per listener and
// per remote IP (for the per-IP limits) and the set of connections, so that a
// shutdown whose deadline passed can close them all. It is safe for concurrent
// use; no lock is held while writing to a socket.
type registry struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	// perIP counts open connections per listener name and remote IP.
	perIP map[string]map[netip.Addr]int
	total atomic.Int64
}

func newRegistry() *registry {
	return &registry{
		conns: make(map[*trackedConn]struct{}),
		perIP: make(map[string]map[netip.Addr]int),
	}
}

// admit registers c for listener name unless ip already has max open
// connections on that listener (max <= 0 means unlimited).
func (r *registry) admit(name string, ip netip.Addr, max int, c *trackedConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.perIP[name]
	if m == nil {
		m = make(map[netip.Addr]int)
		r.perIP[name] = m
	}
	if max > 0 && m[ip] >= max {
		return false
	}
	m[ip]++
	r.conns[c] = struct{}{}
	r.total.Add(1)
	return true
}

func (r *registry) release(c *trackedConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; !ok {
		return
	}
	delete(r.conns, c)
	r.total.Add(-1)
	if m := r.perIP[c.name]; m != nil {
		if m[c.ip]--; m[c.ip] <= 0 {
			delete(m, c.ip)
		}
	}
}

// counts returns the number of open connections per listener name.
func (r *registry) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int)
	for c := range r.conns {
		out[c.name]++
	}
	return out
}

// closeAll closes every registered connection (the last resort of a shutdown
// whose deadline passed). The connections are closed outside the lock.
func (r *registry) closeAll() int {
	r.mu.Lock()
	list := make([]*trackedConn, 0, len(r.conns))
	for c := range r.conns {
		list = append(list, c)
	}
	r.mu.Unlock()
	for _, c := range list {
		c.Close()
	}
	return len(list)
}

// limitListener wraps a TCP listener: it registers every accepted connection
// and refuses, with a protocol-specific line (or silently for implicit-TLS
// listeners, where a plaintext line would be garbage to the client), a client
// that already has the maximum number of open connections. The maximum is
// read per accept, so a reload applies to new connections at once.
//
// For implicit-TLS ports, wrap the raw TCP listener with limitListener and put
// tls.NewListener on top, so the limit applies before the handshake.
type limitListener struct {
	net.Listener
	name    string
	max     func() int
	refusal []byte
	reg     *registry
	log     *slog.Logger

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

func newLimitListener(l net.Listener, name string, max func() int, refusal string, reg *registry, log *slog.Logger) *limitListener {
	ll := &limitListener{Listener: l, name: name, max: max, reg: reg, log: log}
	if refusal != "" {
		ll.refusal = []byte(refusal)
	}
	return ll
}

// Accept returns the next admitted connection. Refused connections are
// answered and closed in their own goroutine, so a slow client cannot stall
// the accept loop.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if l.closed.Load() {
				return nil, net.ErrClosed
			}
			return nil, err
		}
		ip := auth.AddrOf(c.RemoteAddr())
		tc := &trackedConn{Conn: c, name: l.name, ip: ip, reg: l.reg}
		if l.reg.admit(l.name, ip, l.max(), tc) {
			return tc, nil
		}
		l.log.Warn("connection refused: too many connections from address",
			slog.String("remote", ip.String()), slog.Int("limit", l.max()))
		go l.refuse(c)
	}
}

func (l *limitListener) refuse(c net.Conn) {
	defer func() {
		if v := recover(); v != nil {
			l.log.Error("panic while refusing a connection", slog.Any("panic", v))
		}
	}()
	defer c.Close()
	if l.refusal == nil {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(refusalTimeout))
	_, _ = c.Write(l.refusal)
}

// Close stops accepting; it is idempotent (the Server closes listeners before
// the protocol servers do in their own Shutdown).
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.closeErr = l.Listener.Close()
	})
	return l.closeErr
}

// onceCloseListener makes Close idempotent for a listener stacked on top of a
// limitListener (tls.NewListener), so that closing it twice reports no error.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// trackedConn is an admitted connection; Close releases its registry slot.
type trackedConn struct {
	net.Conn
	name string
	ip   netip.Addr
	reg  *registry
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.reg.release(c) })
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// CloseWrite half-closes the TCP connection, so a protocol can send its last
// reply and a FIN before discarding what the client still pipelines.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
