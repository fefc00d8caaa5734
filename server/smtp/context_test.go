package smtp

import (
	"context"
	"testing"
)

// TestContextFromBase: the context of every SMTP session (s.srv.ctx)
// derives from Options.BaseContext, so the server's shutdown cancels
// storage work in flight.
func TestContextFromBase(t *testing.T) {
	base, cancel := context.WithCancel(context.Background())
	srv := New(Options{BaseContext: base})
	if srv.ctx.Err() != nil {
		t.Fatal("context done at start")
	}
	cancel()
	if srv.ctx.Err() == nil {
		t.Fatal("sessions' context not derived from the base context")
	}
}
