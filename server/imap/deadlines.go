package imap

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Deadlines of a session beyond the idle timeout (readTimeout):
//
//   - a whole command line must arrive within [limits] command_line_timeout
//     of its first byte, so a client trickling a byte at a time (before or
//     after login) cannot hold a connection forever: every read of the line
//     gets the earlier of the idle deadline and the line's deadline;
//   - a literal extends the line's deadline by the same timeout plus its
//     size at literalRate, so a large APPEND over a slow link still fits
//     while a trickled one does not last forever;
//   - once the final CRLF is read the line's deadline is off (IDLE waits
//     with the idle timeout only);
//   - each write gets [limits] write_timeout, so a client that stops
//     reading a large FETCH response does not hold the session for long.
const (
	defaultCommandLineTimeout = 60 * time.Second
	// literalRate is the slowest upload a literal is given time for.
	literalRate = 8 << 10 // bytes per second
)

// commandLineTimeout is [limits] command_line_timeout.
func (s *session) commandLineTimeout() time.Duration {
	if d := s.srv.config().Limits.CommandLineTimeout.D(); d > 0 {
		return d
	}
	return defaultCommandLineTimeout
}

// writeTimeout is [limits] write_timeout.
func (s *session) writeTimeout() time.Duration {
	if d := s.srv.config().Limits.WriteTimeout.D(); d > 0 {
		return d
	}
	return defaultWriteTimeout
}

// readDeadline is the deadline of the next read: the idle timeout from now,
// or the line's deadline when that is earlier.
func (s *session) readDeadline() time.Time {
	d := time.Now().Add(s.readTimeout())
	if end := s.lineEnd.Load(); end != 0 && end < d.UnixNano() {
		return time.Unix(0, end)
	}
	return d
}

// awaitCommand waits (with the idle timeout) for the first byte of the next
// command and starts the line's deadline. A read error is left for the
// decoder to find again.
func (s *session) awaitCommand() {
	s.lineEnd.Store(0)
	if _, err := s.r.Peek(1); err == nil {
		s.lineEnd.Store(time.Now().Add(s.commandLineTimeout()).UnixNano())
	}
}

// lineComplete ends the line's deadline (the decoder read the final CRLF).
func (s *session) lineComplete() { s.lineEnd.Store(0) }

// literalComing gives the literal of n bytes, and the rest of the line
// after it, their time.
func (s *session) literalComing(n int64) {
	extra := s.commandLineTimeout() + time.Duration(n/literalRate)*time.Second
	s.lineEnd.Store(time.Now().Add(extra).UnixNano())
}

// lineOverdue reports whether the line's deadline has passed (the read
// that failed was cut by it, not by the idle timeout).
func (s *session) lineOverdue() bool {
	end := s.lineEnd.Load()
	return end != 0 && time.Now().UnixNano() >= end
}

// clientIOError reports whether err is the connection failing under a
// command (the client went away, stopped reading, or reset): logged below
// ERROR, which is kept for server faults.
func clientIOError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
