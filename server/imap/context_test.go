package imap

import (
	"context"
	"net"
	"testing"
)

// TestSessionContextFromBase: a session's context (the one of its storage
// calls) derives from Options.BaseContext, so the server's shutdown
// cancels storage work in flight.
func TestSessionContextFromBase(t *testing.T) {
	base, cancel := context.WithCancel(context.Background())
	srv := New(Options{BaseContext: base})
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	sess := srv.newSession(c1, false)
	if sess.ctx.Err() != nil {
		t.Fatal("session context done at start")
	}
	cancel()
	if sess.ctx.Err() == nil {
		t.Fatal("session context not derived from the base context")
	}
}
