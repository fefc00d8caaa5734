package imap

import (
	"strings"
	"testing"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// blobCount is the number of blob files on disk.
func blobCount(t *testing.T, env *testEnv) int {
	t.Helper()
	ids, err := env.store.Blobs().List()
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

// lit is a non-synchronising literal of s.
func lit(s string) string { return "{" + itoa(len(s)) + "+}\r\n" + s }

// TestMultiAppendTranscript: several messages in one APPEND (RFC 3502),
// with synchronising literals (one continuation each), their own flags and
// dates, stored in order with consecutive UIDs reported as a uid-set in
// APPENDUID; a session that has the mailbox selected sees them all.
func TestMultiAppendTranscript(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	watcher := env.rawLogin(t)
	watcher.cmd("w1", "SELECT INBOX", "OK")

	c := env.rawLogin(t)
	m1, m2, m3 := testMessage("multi one"), testMessage("multi two"), testMessage("multi three")
	c.send(`a APPEND INBOX (\Seen) {` + itoa(len(m1)) + "}")
	c.expect("+ ")
	c.sendRaw(m1 + ` (\Flagged $Work) "05-Jan-2021 10:00:00 +0100" {` + itoa(len(m2)) + "}\r\n")
	c.expect("+ ")
	c.sendRaw(m2 + " {" + itoa(len(m3)) + "}\r\n")
	c.expect("+ ")
	c.sendRaw(m3 + "\r\n")
	lines := c.readUntilTagged("a")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "a OK [APPENDUID ") || !strings.HasSuffix(last, " 1:3] APPEND completed") {
		t.Fatalf("MULTIAPPEND answer %q", lines)
	}
	c.cmd("s", "SELECT INBOX", "OK")
	lines = c.cmd("f", "FETCH 1:3 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (Subject)])", "OK")
	want := []struct {
		flags   []string
		date    string
		subject string
	}{
		{[]string{`\Seen`}, "", "multi one"},
		{[]string{`\Flagged`, "$Work"}, `INTERNALDATE " 5-Jan-2021 10:00:00 +0100"`, "multi two"},
		{nil, "", "multi three"},
	}
	for i, w := range want {
		line := lines[i]
		if !strings.HasPrefix(line, "* "+itoa(i+1)+" FETCH (FLAGS (") || !strings.Contains(line, w.date) ||
			!strings.Contains(line, "Subject: "+w.subject+"\r\n") {
			t.Fatalf("message %d: %q", i+1, line)
		}
		for _, f := range w.flags {
			if !strings.Contains(line[:strings.Index(line, ")")], f) {
				t.Fatalf("message %d: %q, want flag %s", i+1, line, f)
			}
		}
		if w.flags == nil && strings.Contains(line[:strings.Index(line, ")")], `\Seen`) {
			t.Fatalf("message %d: %q has flags it was not given", i+1, line)
		}
	}
	lines = watcher.cmd("w2", "NOOP", "OK")
	if !hasLine(lines, "* 3 EXISTS") {
		t.Fatalf("watcher saw %q", lines)
	}
}

// TestMultiAppendAllOrNothing: when any message of a MULTIAPPEND cannot be
// stored, none is (RFC 3502 6.3.11), and no spooled blob stays on disk:
// over quota at the commit, a message refused before its continuation
// (too big), a syntax error after some messages, the destination deleted.
func TestMultiAppendAllOrNothing(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.setConfig(func(c *config.Config) { c.SMTP.MaxMessageSize = 2000 })
	a := env.accts[testUser]
	a.QuotaMessages = 2
	if err := env.store.UpdateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	c := env.rawLogin(t)
	m := func(i int) string { return testMessage("atomic " + itoa(i)) }

	// Three messages, room for two: nothing stored.
	c.sendRaw("a APPEND INBOX " + lit(m(1)) + " " + lit(m(2)) + " " + lit(m(3)) + "\r\n")
	c.expect("a NO [OVERQUOTA]")
	// The second message is too big: refused before its continuation.
	c.sendRaw("b APPEND INBOX " + lit(m(4)) + " {5000}\r\n")
	c.expect("b NO [TOOBIG]")
	// A syntax error after a message.
	c.sendRaw("c APPEND INBOX " + lit(m(5)) + " (\\Bogus) " + lit(m(6)) + "\r\n")
	c.expect("c BAD")
	c.cmd("n", "NOOP", "OK")
	if n := blobCount(t, env); n != 0 {
		t.Fatalf("%d blobs left by refused MULTIAPPENDs", n)
	}
	lines := c.cmd("st", "STATUS INBOX (MESSAGES UIDNEXT)", "OK")
	if lines[0] != `* STATUS "INBOX" (MESSAGES 0 UIDNEXT 1)` {
		t.Fatalf("after refused MULTIAPPENDs: %q", lines)
	}
	// Two fit.
	lines = c.cmd("d", "APPEND INBOX "+lit(m(7))+" "+lit(m(8)), "OK")
	if !strings.HasSuffix(lines[len(lines)-1], " 1:2] APPEND completed") {
		t.Fatalf("got %q", lines)
	}
}

// TestMultiAppendTryCreate: a missing destination is TRYCREATE before any
// message is read; the rest of the command is skipped (a synchronising
// literal never gets its continuation).
func TestMultiAppendTryCreate(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	c := env.rawLogin(t)
	msg := testMessage("nowhere")
	c.send("a APPEND Nowhere {" + itoa(len(msg)) + "}")
	c.expect("a NO [TRYCREATE]")
	c.sendRaw("b APPEND Nowhere " + lit(msg) + " " + lit(msg) + "\r\n")
	c.expect("b NO [TRYCREATE]")
	c.cmd("n", "NOOP", "OK")
	if n := blobCount(t, env); n != 0 {
		t.Fatalf("%d blobs left", n)
	}
}

// TestMultiAppendLimit: more than maxAppendMessages messages in one
// command are refused with NO [LIMIT] and nothing is stored.
func TestMultiAppendLimit(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	c := env.rawLogin(t)
	msg := "Subject: x\r\n\r\nx\r\n"
	var b strings.Builder
	b.WriteString("a APPEND Archive")
	for range maxAppendMessages + 1 {
		b.WriteString(" " + lit(msg))
	}
	b.WriteString("\r\n")
	c.sendRaw(b.String())
	c.expect("a NO [LIMIT]")
	c.cmd("n", "NOOP", "OK")
	mb, err := env.store.Mailbox(t.Context(), env.accts[testUser].ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := env.store.Messages(t.Context(), mb.ID, storage.Query{}); err != nil || len(msgs) != 0 {
		t.Fatalf("%d messages stored by a refused APPEND (%v)", len(msgs), err)
	}
	if n := blobCount(t, env); n != 0 {
		t.Fatalf("%d blobs left", n)
	}
}
