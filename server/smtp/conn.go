package smtp

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Replies the connection writes on its own when it ends a session.
const (
	replyShutdown = "421 4.3.2 Service shutting down, try again later\r\n"
	replyTooMany  = "421 4.7.0 Too many errors, closing connection\r\n"
	// RFC 5321 4.5.3.2: a timeout ends the session with 421.
	replyLineTimeout = "421 4.4.2 Command line not completed in time, closing connection\r\n"
	goodbyeTimeout   = 10 * time.Second
)

// trackedConn wraps the raw TCP connection (below TLS, when TLS is used). It
// lets the Server end a session cleanly from outside the go-smtp connection
// goroutine, which only ever blocks in Read between commands:
//
//   - Shutdown marks the connection closing and, unless a message is being
//     received (busy), forces the pending Read to return at once.
//   - The next Read, on the connection goroutine, writes the goodbye reply
//     (421) on the top-level connection (the *tls.Conn after STARTTLS) and
//     returns io.EOF, so go-smtp ends the session by itself. Writing from
//     the connection goroutine means a reply is never interleaved with
//     another.
//
// The same mechanism closes a session after too many errors or after a
// fatal reply (endAfterReply). Deadlines set by go-smtp pass through,
// except while an interrupt is in force.
type trackedConn struct {
	net.Conn // raw connection

	closed    chan struct{} // closed by Close
	closeOnce sync.Once
	tlsSeen   atomic.Bool // a TLS record was written on the raw connection

	mu          sync.Mutex
	top         net.Conn // where goodbye replies go; nil while unknown
	closing     bool     // the server is shutting down
	interrupted bool     // read deadline forced into the past; ignore others
	endAfter    bool     // end the session at the next Read
	goodbye     string   // reply written when the session ends ("" none)
	said        bool     // a goodbye was handled
	busy        int      // messages being received (Data in progress)
	finished    bool     // the connection is done: no Data may start
	dataWG      sync.WaitGroup
	errors      int // failed commands
	messages    int // MAIL transactions started

	// Command-line deadline (see Read): go-smtp sets a read deadline
	// once per command line; the first bytes that arrive after it start
	// the line's own deadline, lineTimeout later, so a client trickling a
	// byte at a time cannot stretch one line to the whole command timeout
	// (and beyond, had go-smtp set it per read). This works below TLS
	// too: it needs no sight of the line's bytes.
	lineTimeout time.Duration // 0: off; set before the session starts
	goDeadline  time.Time     // the deadline go-smtp asked for
	lineWait    bool          // a new line is awaited; its first bytes start its deadline
	lineCut     bool          // the read deadline in force is the line's, not go-smtp's
}

func newTrackedConn(c net.Conn) *trackedConn {
	tc := &trackedConn{Conn: c, closed: make(chan struct{})}
	tc.top = tc
	return tc
}

// Read implements net.Conn; see the type comment.
func (c *trackedConn) Read(b []byte) (int, error) {
	if c.shouldEnd() {
		c.sayGoodbye()
		return 0, io.EOF
	}
	n, err := c.Conn.Read(b)
	if n > 0 && c.lineTimeout > 0 {
		c.startLine()
	}
	if err != nil && c.shouldEnd() {
		c.sayGoodbye()
		return n, io.EOF
	}
	if err != nil && c.lineTimedOut(err) {
		// go-smtp's reader hands the partial line on as a command (and
		// would wait for the next one): end the session after its reply.
		c.endAfterReply(replyLineTimeout)
	}
	return n, err
}

// Write implements net.Conn. It notices the start of a TLS handshake
// (STARTTLS): plain-text goodbye replies must not be written into a TLS
// stream, so the top connection is unknown until the next session names it.
func (c *trackedConn) Write(b []byte) (int, error) {
	if len(b) > 0 && b[0] == 0x16 && !c.tlsSeen.Load() { // TLS handshake record
		c.tlsSeen.Store(true)
		c.mu.Lock()
		if c.top == c {
			c.top = nil
		}
		c.mu.Unlock()
	}
	return c.Conn.Write(b)
}

// Close implements net.Conn; it is idempotent. It closes gracefully
// ("lingering close"): it sends FIN, then reads and discards what the client
// still sends for a moment before closing. Closing with unread input would
// make the kernel send RST, and the client could lose the last reply (a 421
// explaining why, after pipelined commands).
func (c *trackedConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		c.linger()
		err = c.Conn.Close()
		close(c.closed)
	})
	return err
}

// abort closes at once (Shutdown past its deadline).
func (c *trackedConn) abort() {
	_ = c.Conn.Close()
}

// Lingering close bounds.
const (
	lingerTimeout = time.Second
	lingerMax     = 1 << 20
)

func (c *trackedConn) linger() {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	if c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, c.Conn, lingerMax)
}

// SetDeadline implements net.Conn.
func (c *trackedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn; it is ignored while interrupted.
// Outside DATA it also marks the start of a new command line (go-smtp sets
// the deadline once per line).
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.interrupted {
		return nil
	}
	c.goDeadline = t
	c.lineWait = c.busy == 0
	c.lineCut = false
	return c.Conn.SetReadDeadline(t)
}

// startLine is called after a read returned bytes: the first bytes of an
// awaited command line bound the rest of the line to lineTimeout.
func (c *trackedConn) startLine() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lineWait || c.busy > 0 || c.interrupted {
		return
	}
	c.lineWait = false
	end := time.Now().Add(c.lineTimeout)
	if c.goDeadline.IsZero() || end.Before(c.goDeadline) {
		_ = c.Conn.SetReadDeadline(end)
		c.lineCut = true
	}
}

// lineTimedOut reports whether err is the line's deadline passing.
func (c *trackedConn) lineTimedOut(err error) bool {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lineCut && !c.interrupted
}

// setTop names the connection goodbye replies are written on.
func (c *trackedConn) setTop(top net.Conn) {
	c.mu.Lock()
	c.top = top
	c.mu.Unlock()
}

func (c *trackedConn) shouldEnd() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endAfter || (c.closing && c.busy == 0)
}

// ending reports whether the session is about to end (session methods then
// refuse new work).
func (c *trackedConn) ending() bool { return c.shouldEnd() }

func (c *trackedConn) sayGoodbye() {
	c.mu.Lock()
	if c.said {
		c.mu.Unlock()
		return
	}
	c.said = true
	top, msg := c.top, c.goodbye
	if !c.endAfter {
		msg = replyShutdown
	}
	c.mu.Unlock()
	if top != nil && msg != "" {
		_ = top.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
		_, _ = top.Write([]byte(msg))
	}
}

// interrupt is called by Shutdown: the session ends at its next Read, which
// is forced to happen now unless a message is being received.
func (c *trackedConn) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	c.interruptLocked()
}

func (c *trackedConn) interruptLocked() {
	if c.busy == 0 && !c.interrupted {
		c.interrupted = true
		_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// endAfterReply ends the session at the next Read, after go-smtp has
// written the reply to the current command; goodbye ("" for none) is
// written then.
func (c *trackedConn) endAfterReply(goodbye string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.endAfter {
		c.endAfter, c.goodbye = true, goodbye
	}
}

// addError counts a failed command and reports whether the limit (0: none)
// is now reached; the session then ends after the reply.
func (c *trackedConn) addError(limit int) bool {
	c.mu.Lock()
	c.errors++
	n := c.errors
	c.mu.Unlock()
	if limit > 0 && n >= limit {
		c.endAfterReply(replyTooMany)
		return true
	}
	return false
}

// addMessage counts a MAIL transaction and returns the new count.
func (c *trackedConn) addMessage() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.messages++
	return c.messages
}

func (c *trackedConn) messageCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.messages
}

// beginData marks a message in flight; false when the session is ending.
func (c *trackedConn) beginData() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.finished || c.endAfter {
		return false
	}
	c.busy++
	c.dataWG.Add(1)
	return true
}

// endData ends what beginData started. When the server is shutting down the
// pending Read is interrupted so that the session ends now.
func (c *trackedConn) endData() {
	c.mu.Lock()
	c.busy--
	if c.closing {
		c.interruptLocked()
	}
	c.mu.Unlock()
	c.dataWG.Done()
}

// finish marks the connection done and waits for a message in flight
// (BDAT runs Data on its own goroutine) to finish.
func (c *trackedConn) finish() {
	c.mu.Lock()
	c.finished = true
	c.mu.Unlock()
	c.dataWG.Wait()
}

// oneConnListener hands one connection to a go-smtp Server, then blocks
// until that connection is closed, so go-smtp's Serve returns when the
// session ends. Each connection gets its own go-smtp Server configured from
// the config current when it was accepted (reloads apply to new
// connections).
type oneConnListener struct {
	conn net.Conn
	tc   *trackedConn
	used atomic.Bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.used.Swap(true) {
		return l.conn, nil
	}
	<-l.tc.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }
