package imap

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestStoreTranscript(t *testing.T) {
	env := newTestServer(t)
	for i := 0; i < 3; i++ {
		env.deliver(t, testUser, testMessage("m"+itoa(i)))
	}
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	lines := c.cmd("a", `STORE 1 +FLAGS (\Flagged $Work)`, "OK")
	// The new keyword is announced (as the client spelled it) before the
	// FETCH that carries it; the message is \Recent in this rev1 session.
	want := []string{
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)] flags`,
		`* 1 FETCH (FLAGS (\Recent $Work \Flagged) UID 1)`,
		"a OK STORE completed",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("got %q, want %q", lines, want)
	}
	lines = c.cmd("b", `STORE 1:2 -FLAGS.SILENT (\Flagged)`, "OK")
	if len(lines) != 1 {
		t.Fatalf("silent: %q", lines)
	}
	lines = c.cmd("c", `UID STORE 2:3 FLAGS \Seen \Answered`, "OK")
	if !hasLine(lines, `* 2 FETCH (FLAGS (\Recent \Answered \Seen) UID 2)`) || !hasLine(lines, `* 3 FETCH (FLAGS (\Recent \Answered \Seen) UID 3)`) {
		t.Fatalf("got %q", lines)
	}
	c.cmd("d", `STORE 1 +FLAGS (\Recent)`, "BAD")
	c.cmd("e", `STORE 9 +FLAGS (\Seen)`, "BAD")
	lines = c.cmd("f", "NOOP", "OK")
	if len(lines) != 1 {
		t.Fatalf("own changes echoed: %q", lines)
	}

	// CONDSTORE: MODSEQ in every STORE response, also with .SILENT; a
	// failed UNCHANGEDSINCE is reported with MODIFIED.
	// The first CONDSTORE-enabling command reports HIGHESTMODSEQ (RFC 7162
	// 3.1.2.1).
	lines = c.cmd("g", "FETCH 1 (MODSEQ)", "OK")
	if !strings.HasPrefix(lines[0], "* OK [HIGHESTMODSEQ ") {
		t.Fatalf("got %q", lines)
	}
	ms := strings.TrimSuffix(strings.TrimPrefix(lines[1], "* 1 FETCH (MODSEQ ("), "))")
	lines = c.cmd("h", `STORE 1 (UNCHANGEDSINCE `+ms+`) +FLAGS.SILENT (\Deleted)`, "OK")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "* 1 FETCH (UID 1 MODSEQ (") {
		t.Fatalf("got %q", lines)
	}
	lines = c.cmd("i0", "FETCH 3 (MODSEQ)", "OK")
	ms3 := strings.TrimSuffix(strings.TrimPrefix(lines[0], "* 3 FETCH (MODSEQ ("), "))")
	// Message 1 changed after ms3 (h), 2 and 3 did not.
	lines = c.cmd("i", `STORE 1:3 (UNCHANGEDSINCE `+ms3+`) -FLAGS (\Answered)`, "OK [MODIFIED 1]")
	if !hasLine(lines, `* 2 FETCH (FLAGS (\Recent \Seen) UID 2 MODSEQ (`) || !hasLine(lines, `* 3 FETCH (FLAGS (\Recent \Seen) UID 3 MODSEQ (`) || hasLine(lines, "* 1 FETCH") {
		t.Fatalf("got %q", lines)
	}
	c.cmd("j", `UID STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (x)`, "OK [MODIFIED 1:3]")

	// Read-only mailbox.
	c.cmd("k", "EXAMINE INBOX", "OK")
	c.cmd("l", `STORE 1 +FLAGS (\Seen)`, "NO")
}

func TestStoreOtherSessionSees(t *testing.T) {
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("one"))
	a := env.dial(t)
	selectInbox(t, a)
	b := env.rawLogin(t)
	b.cmd("s", "SELECT INBOX", "OK")
	if err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	lines := b.cmd("n", "NOOP", "OK")
	if !hasLine(lines, `* 1 FETCH (UID 1 FLAGS (\Flagged))`) {
		t.Fatalf("got %q", lines)
	}
	msgs, err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.FlagSeen, "$Label1"}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || len(msgs[0].Flags) != 3 { // \Recent: a selected first
		t.Fatalf("store result: %+v", msgs)
	}
}

func TestStoreReportsUnchanged(t *testing.T) {
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("a"))
	env.deliver(t, testUser, testMessage("b"))
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	c.cmd("a", `STORE 2 +FLAGS.SILENT (\Flagged)`, "OK")
	lines := c.cmd("b", `STORE 1:2 +FLAGS (\Flagged)`, "OK")
	if len(lines) != 3 || lines[0] != `* 1 FETCH (FLAGS (\Recent \Flagged) UID 1)` || lines[1] != `* 2 FETCH (FLAGS (\Recent \Flagged) UID 2)` {
		t.Fatalf("got %q", lines)
	}
}
