package imap

import (
	"log/slog"
	"runtime/debug"
	"strings"
)

func init() {
	register("IDLE", command{fn: cmdIdle, states: authStates, expungeOK: true})
}

type idleLine struct {
	line string
	err  error
}

// RFC 2177 / RFC 9051 6.3.13 IDLE: updates are pushed as soon as storage
// publishes them until the client sends DONE. A short-lived goroutine reads
// the DONE line (it alone touches the reader meanwhile); the connection's
// goroutine waits for changes and writes. The read deadline is the IDLE
// timeout (autologout, RFC 9051 5.4); Shutdown ends the read at once.
func cmdIdle(s *session, tag string, d *decoder) error {
	if err := d.CRLF(); err != nil {
		return err
	}
	if err := s.flushUpdates(true); err != nil {
		return err
	}
	s.e.Atom("+ idling").CRLF()
	if err := s.e.Flush(); err != nil {
		return err
	}
	done := make(chan idleLine, 1)
	go func() {
		var r idleLine
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic in IDLE reader", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				r.err = errInternal
			}
			done <- r
		}()
		r.line, r.err = s.readLine(64)
	}()
	var ready <-chan struct{}
	if s.watch != nil {
		ready = s.watch.Ready()
	}
	notified := s.notifyReady() // NOTIFY's own streams (notify.go); nil: never
	for {
		select {
		case <-ready:
		case <-notified:
		case r := <-done:
			if r.err != nil {
				if s.d.ioErr == nil {
					if re, ok := r.err.(*respError); ok {
						return re
					}
					s.d.ioErr = r.err
				}
				return r.err
			}
			if !strings.EqualFold(strings.TrimSpace(r.line), "DONE") {
				return errBad("expected DONE")
			}
			s.tagged(tag, "OK", "", "IDLE terminated")
			return nil
		}
		ferr := s.idleUpdates()
		if err := s.e.Flush(); err != nil || ferr != nil {
			if err == nil {
				err = ferr
			}
			s.raw.Close() // unblocks the reader
			r := <-done
			if r.err == nil {
				r.err = err
			}
			s.d.ioErr = r.err
			return r.err
		}
	}
}
