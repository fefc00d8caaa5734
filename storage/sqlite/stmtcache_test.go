package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/floemail/floe/storage"
)

// TestStmtCache: queries the writer runs again are prepared once, between
// batches, and then used by later batches; the cache stays bounded.
func TestStmtCache(t *testing.T) {
	s := openTest(t, Options{})
	a := setup(t, s)
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.CreateMailbox(ctx, a.ID, fmt.Sprintf("box %d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	// The writer goroutine owns the cache: look at it from inside a write.
	var n int
	if err := s.write(ctx, "inspect", func(w *wtx) error { n = len(w.s.stmts.stmts); return nil }); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no statement prepared after five identical writes")
	}
	mbs, err := s.Mailboxes(ctx, a.ID)
	if err != nil || len(mbs) != len(storage.DefaultMailboxes)+5 {
		t.Fatalf("%d mailboxes, %v", len(mbs), err)
	}
	c := newStmtCache(s.wdb)
	for i := range 3 * maxCachedStmts {
		q := fmt.Sprintf("SELECT %d", i)
		c.get(q)
		c.get(q)
		if i%50 == 0 {
			c.prepareWanted()
		}
	}
	c.prepareWanted()
	if len(c.stmts) > maxCachedStmts {
		t.Fatalf("%d statements cached, at most %d", len(c.stmts), maxCachedStmts)
	}
}
