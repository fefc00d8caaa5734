package server

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
)

// Refusal lines written to a client that is over a connection limit.
const (
	// RFC 5321 4.3.2: 421 on connection opening; RFC 3463 4.7.0 (other
	// security or policy status).
	smtpRefusal = "421 4.7.0 Too many connections from your address\r\n"
	// RFC 2449 8 / RFC 3206 SYS/TEMP: a temporary system problem.
	pop3Refusal = "-ERR [SYS/TEMP] too many connections from your address\r\n"
	// RFC 9051 7.1.5: BYE as the greeting rejects the connection.
	imapRefusal = "* BYE too many connections from your address\r\n"

	smtpBusy = "421 4.3.2 Server busy: too many connections, try again later\r\n"
	pop3Busy = "-ERR [SYS/TEMP] server busy: too many connections, try again later\r\n"
	imapBusy = "* BYE [UNAVAILABLE] server busy: too many connections, try again later\r\n"
)

// refusalTimeout bounds the write of a refusal line to a client we reject.
const refusalTimeout = 5 * time.Second

// connLimits are the connection limits in force for one listener, read
// from the config at each accept and login (a reload applies at once).
type connLimits struct {
	perAddr     int // connections per source, not logged in (SMTP: all)
	perUserAddr int // logged-in connections per account and source (0: none)
	total       int // all client connections of the server
	unauth      int // connections not logged in, server-wide (total less the login reserve)
}

// refusal says why a connection was not admitted.
type refusal int

const (
	admitted refusal = iota
	refusedAddr
	refusedTotal
	refusedUnauth
)

// registry tracks every open connection of a Server: counts per listener,
// per protocol family and source (for the per-address limits), per account
// and source after login, and in total; and the set of connections, so that
// a shutdown whose deadline passed can close them all. A source is an IPv4
// address or an IPv6 /64 (one host usually owns a whole /64). A connection
// counts only while it is open: its slot is freed when the server closes
// it or half-closes it after its last reply, not when the client gets
// round to closing its end. Safe for concurrent use; no lock is held while
// writing to a socket.
type registry struct {
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	perSrc map[string]int // family NUL source -> connections not logged in
	perUsr map[string]int // family NUL account NUL source -> logged-in connections
	unauth int            // connections not logged in
	total  atomic.Int64
	// limits returns the limits of a listener; nil means unlimited
	// except for the per-address limit given to admit.
	limits func(listener string) connLimits
}

func newRegistry() *registry {
	return &registry{
		conns:  make(map[*trackedConn]struct{}),
		perSrc: make(map[string]int),
		perUsr: make(map[string]int),
	}
}

// family groups the listeners of one protocol: the per-address limits of
// the config are per protocol, not per port.
func family(listener string) string {
	switch listener {
	case "smtp", "submission", "submissions":
		return "smtp"
	case "pop3", "pop3s":
		return "pop3"
	case "imap", "imaps":
		return "imap"
	}
	return listener
}

// sourceKey is the source of a remote address: the address itself for
// IPv4, its /64 for IPv6.
func sourceKey(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// admit registers c for listener name unless a limit is reached: the
// server's total, the share of connections not logged in, or max open
// connections from c's source (max <= 0 means unlimited).
func (r *registry) admit(name string, ip netip.Addr, max int, c *trackedConn) refusal {
	var lim connLimits
	if r.limits != nil {
		lim = r.limits(name)
	}
	c.src = family(name) + "\x00" + sourceKey(ip)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case lim.total > 0 && int(r.total.Load()) >= lim.total:
		return refusedTotal
	case lim.unauth > 0 && r.unauth >= lim.unauth:
		return refusedUnauth
	case max > 0 && r.perSrc[c.src] >= max:
		return refusedAddr
	}
	r.perSrc[c.src]++
	r.unauth++
	r.conns[c] = struct{}{}
	r.total.Add(1)
	return admitted
}

// login moves c from the not-logged-in count of its source to the count of
// account at its source; false when that count is at the listener's
// per-user limit (nothing changes then). Logging in twice on one connection
// (not possible in IMAP or POP3) keeps the first account.
func (r *registry) login(c *trackedConn, account string) bool {
	var lim connLimits
	if r.limits != nil {
		lim = r.limits(c.name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; !ok || c.user != "" {
		return true
	}
	key := family(c.name) + "\x00" + account + "\x00" + c.src[strings.IndexByte(c.src, 0)+1:]
	if lim.perUserAddr > 0 && r.perUsr[key] >= lim.perUserAddr {
		return false
	}
	r.perUsr[key]++
	r.dec(r.perSrc, c.src)
	r.unauth--
	c.user = key
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
	if c.user != "" {
		r.dec(r.perUsr, c.user)
	} else {
		r.dec(r.perSrc, c.src)
		r.unauth--
	}
}

func (r *registry) dec(m map[string]int, key string) {
	if m[key]--; m[key] <= 0 {
		delete(m, key)
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
	refusal []byte // the line for a client over its per-address limit
	busy    []byte // the line for a client refused by a server-wide limit
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
		switch refusal {
		case smtpRefusal:
			ll.busy = []byte(smtpBusy)
		case pop3Refusal:
			ll.busy = []byte(pop3Busy)
		case imapRefusal:
			ll.busy = []byte(imapBusy)
		}
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
		max := l.max()
		var lim connLimits
		if l.reg.limits != nil {
			lim = l.reg.limits(l.name)
		}
		switch l.reg.admit(l.name, ip, max, tc) {
		case admitted:
			return tc, nil
		case refusedAddr:
			l.log.Warn("connection refused: too many connections from address",
				slog.String("remote", ip.String()), slog.String("source", sourceKey(ip)), slog.Int("limit", max))
			go l.refuse(c, l.refusal)
		case refusedTotal:
			l.log.Warn("connection refused: server connection limit reached",
				slog.String("remote", ip.String()), slog.Int("limit", lim.total))
			go l.refuse(c, l.busy)
		case refusedUnauth:
			l.log.Warn("connection refused: connection limit for clients not logged in reached",
				slog.String("remote", ip.String()), slog.Int("limit", lim.unauth))
			go l.refuse(c, l.busy)
		}
	}
}

func (l *limitListener) refuse(c net.Conn, line []byte) {
	defer func() {
		if v := recover(); v != nil {
			l.log.Error("panic while refusing a connection", slog.Any("panic", v))
		}
	}()
	defer c.Close()
	if line == nil {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(refusalTimeout))
	_, _ = c.Write(line)
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

// trackedConn is an admitted connection; Close (or CloseWrite, the end of
// the conversation) releases its registry slot.
type trackedConn struct {
	net.Conn
	name string
	ip   netip.Addr
	reg  *registry
	src  string // family NUL source, set by admit
	user string // family NUL account NUL source after login; guarded by reg.mu
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
// reply and a FIN before discarding what the client still pipelines. The
// conversation is over: the slot is released now, not when the lingering
// close ends.
func (c *trackedConn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.ErrUnsupported
	}
	err := cw.CloseWrite()
	c.once.Do(func() { c.reg.release(c) })
	return err
}

// LoggedIn records that the connection's client logged in as account (the
// protocols call it through connsrv.LoggedIn). It returns false, and
// the client stays not logged in, when account already has the listener's
// maximum of logged-in connections from this source.
func (c *trackedConn) LoggedIn(account string) bool {
	return c.reg.login(c, strings.ToLower(account))
}

// limitsFor returns the connection limits of listener name under the
// current config; maxFDConns is the server-wide cap derived from the
// file-descriptor limit when [limits] max_connections is 0.
func limitsFor(cfg *config.Config, name string, maxFDConns int) connLimits {
	var l connLimits
	switch family(name) {
	case "smtp":
		l.perAddr = cfg.SMTP.MaxConnectionsPerIP
	case "pop3":
		l.perAddr, l.perUserAddr = cfg.POP3.MaxConnectionsPerIP, cfg.POP3.MaxConnectionsPerUserIP
	case "imap":
		l.perAddr, l.perUserAddr = cfg.IMAP.MaxConnectionsPerIP, cfg.IMAP.MaxConnectionsPerUserIP
	}
	l.total = cfg.Limits.MaxConnections
	if l.total <= 0 {
		l.total = maxFDConns
	}
	if l.total > 0 {
		l.unauth = l.total - l.total*cfg.Limits.LoginReservePercent/100
	}
	return l
}

// fdConnLimit derives the server-wide connection cap from the process's
// file-descriptor limit (RLIMIT_NOFILE, which the Go runtime raises to the
// hard limit at start), keeping max(64, limit/8) descriptors for the
// database, blobs, listeners and outbound connections. 0 when unknown.
func fdConnLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 0
	}
	n := rl.Cur
	if n > 1<<24 {
		n = 1 << 24
	}
	return int(n) - max(64, int(n)/8)
}
