package imap

import (
	"slices"
	"strings"
	"testing"
)

// TestRecentOneSession checks RFC 3501 2.3.2: a message is \Recent in the
// first session that selects its mailbox read-write (or is told of it by
// EXISTS), and in no other; EXAMINE sees unclaimed messages as recent
// without claiming them; STATUS counts the unclaimed ones; SEARCH RECENT,
// NEW and OLD follow the session's \Recent.
func TestRecentOneSession(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("one"))
	env.deliver(t, testUser, testMessage("two"))
	c1 := env.rawLogin(t)
	c2 := env.rawLogin(t)

	lines := c1.cmd("e", "EXAMINE INBOX", "OK [READ-ONLY]")
	if !hasLine(lines, "* 2 RECENT") {
		t.Fatalf("EXAMINE: %q", lines)
	}
	c1.cmd("c", "CLOSE", "OK")
	c2.cmd("st", "STATUS INBOX (MESSAGES RECENT)", "OK")
	lines = c2.cmd("st", "STATUS INBOX (RECENT)", "OK")
	if !hasLine(lines, `* STATUS "INBOX" (RECENT 2)`) {
		t.Fatalf("STATUS before SELECT: %q", lines)
	}

	lines = c1.cmd("s", "SELECT INBOX", "OK [READ-WRITE]")
	if !hasLine(lines, "* 2 RECENT") {
		t.Fatalf("first SELECT: %q", lines)
	}
	lines = c2.cmd("s", "SELECT INBOX", "OK [READ-WRITE]")
	if !hasLine(lines, "* 0 RECENT") {
		t.Fatalf("second SELECT: %q", lines)
	}
	lines = c2.cmd("st", "STATUS INBOX (RECENT)", "OK")
	if !hasLine(lines, `* STATUS "INBOX" (RECENT 0)`) {
		t.Fatalf("STATUS after SELECT: %q", lines)
	}
	lines = c1.cmd("f", "FETCH 1:2 FLAGS", "OK")
	if !hasLine(lines, `* 1 FETCH (FLAGS (\Recent))`) || !hasLine(lines, `* 2 FETCH (FLAGS (\Recent))`) {
		t.Fatalf("c1 FETCH: %q", lines)
	}
	lines = c2.cmd("f", "FETCH 1 FLAGS", "OK")
	if !hasLine(lines, `* 1 FETCH (FLAGS ())`) {
		t.Fatalf("c2 FETCH: %q", lines)
	}

	// A new message: the session that hears of it first owns it.
	env.deliver(t, testUser, testMessage("three"))
	lines = c2.cmd("n", "NOOP", "OK")
	if !hasLine(lines, "* 3 EXISTS") || !hasLine(lines, "* 1 RECENT") {
		t.Fatalf("c2 NOOP: %q", lines)
	}
	lines = c1.cmd("n", "NOOP", "OK")
	if !hasLine(lines, "* 3 EXISTS") || !hasLine(lines, "* 2 RECENT") {
		t.Fatalf("c1 NOOP: %q", lines)
	}
	c1.cmd("st", `STORE 1 +FLAGS.SILENT (\Seen)`, "OK")
	for _, tc := range []struct {
		c          *rawConn
		crit, want string
	}{
		{c1, "RECENT", "* SEARCH 1 2"},
		{c1, "NEW", "* SEARCH 2"},
		{c1, "OLD", "* SEARCH 3"},
		{c2, "RECENT", "* SEARCH 3"},
		{c2, "OLD", "* SEARCH 1 2"},
	} {
		lines := tc.c.cmd("q", "SEARCH "+tc.crit, "OK")
		if !slices.Contains(lines, tc.want) {
			t.Errorf("SEARCH %s: %q, want %q", tc.crit, lines, tc.want)
		}
	}

	// IMAP4rev2 has no \Recent (RFC 9051 appendix E).
	c3 := env.rawLogin(t)
	c3.cmd("en", "ENABLE IMAP4rev2", "OK")
	env.deliver(t, testUser, testMessage("four"))
	lines = c3.cmd("s", "SELECT INBOX", "OK")
	for _, l := range lines {
		if strings.Contains(l, "RECENT") {
			t.Fatalf("rev2 SELECT: %q", lines)
		}
	}
	lines = c3.cmd("f", "FETCH 4 FLAGS", "OK")
	if !hasLine(lines, `* 4 FETCH (FLAGS ())`) {
		t.Fatalf("rev2 FETCH: %q", lines)
	}
}

// TestKeywordsAnnouncedFirst checks that a keyword reaches FLAGS and
// PERMANENTFLAGS, spelled as the client stored it, before any FETCH shows
// it: after this session's STORE, and when another session's FETCH reads a
// keyword it was not told of yet (RFC 9051 7.3.5).
func TestKeywordsAnnouncedFirst(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("one"))
	c1 := env.rawLogin(t)
	c2 := env.rawLogin(t)
	c1.cmd("s", "SELECT INBOX", "OK")
	c2.cmd("s", "SELECT INBOX", "OK")

	lines := c1.cmd("a", `STORE 1 +FLAGS ($Important)`, "OK")
	want := []string{
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Important)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Important \*)] flags`,
		`* 1 FETCH (FLAGS (\Recent $Important) UID 1)`,
		"a OK STORE completed",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("STORE: %q, want %q", lines, want)
	}
	// c2 has not been told (no NOOP): its FETCH announces the keyword first.
	lines = c2.cmd("f", "FETCH 1 (FLAGS)", "OK")
	iFlags, iFetch := -1, -1
	for i, l := range lines {
		if strings.HasPrefix(l, "* FLAGS (") && strings.Contains(l, "$Important") {
			iFlags = i
		}
		if strings.HasPrefix(l, "* 1 FETCH (FLAGS ($Important)") {
			iFetch = i
		}
	}
	if iFlags < 0 || iFetch < 0 || iFlags > iFetch {
		t.Fatalf("c2 FETCH: %q", lines)
	}
	// SELECT lists the keyword as stored.
	lines = c2.cmd("s", "EXAMINE INBOX", "OK")
	if !hasLine(lines, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Important)`) {
		t.Fatalf("EXAMINE: %q", lines)
	}
}

// TestRecentRecreatedMailbox: a mailbox deleted and created again under the
// same name (its ID may be reused) starts with its messages recent again,
// as imaptest's "select" group does between tests.
func TestRecentRecreatedMailbox(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	c := env.rawLogin(t)
	msg := testMessage("x")
	appendBox := func(tag string) {
		t.Helper()
		c.send(tag + " APPEND Box {" + itoa(len(msg)) + "+}")
		c.sendRaw(msg + "\r\n")
		c.readUntilTagged(tag)
	}
	for round := range 3 {
		c.cmd("c", "CREATE Box", "OK")
		appendBox("a1")
		appendBox("a2")
		lines := c.cmd("e", "EXAMINE Box", "OK")
		if !hasLine(lines, "* 2 RECENT") {
			t.Fatalf("round %d EXAMINE: %q", round, lines)
		}
		lines = c.cmd("s", "SELECT Box", "OK")
		if !hasLine(lines, "* 2 RECENT") {
			t.Fatalf("round %d SELECT: %q", round, lines)
		}
		c.cmd("u", "UNSELECT", "OK")
		lines = c.cmd("st", "STATUS Box (RECENT)", "OK")
		if !hasLine(lines, `* STATUS "Box" (RECENT 0)`) {
			t.Fatalf("round %d STATUS: %q", round, lines)
		}
		c.cmd("d", "DELETE Box", "OK")
	}
}
