package imap

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/floemail/floe/server/config"
)

func TestAppendClient(t *testing.T) {
	env := newTestServer(t)
	c := env.dial(t)
	msg := testMessage("appended")
	date := time.Date(2020, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	cmd := c.Append("Drafts", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft, "$Todo"}, Time: date})
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.UID != 1 || data.UIDValidity == 0 {
		t.Fatalf("append data %+v", data)
	}
	if _, err := c.Select("Drafts", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, InternalDate: true, Envelope: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	// The two stored flags plus \Recent (first session to see it, RFC 3501 2.3.2).
	if !m.InternalDate.Equal(date) || len(m.Flags) != 3 || m.Envelope.Subject != "appended" ||
		string(m.FindBodySection(&imap.FetchItemBodySection{})) != msg {
		t.Fatalf("appended message: %+v", m)
	}
}

func TestAppendTranscript(t *testing.T) {
	env := newTestServer(t)
	env.setConfig(func(c *config.Config) { c.SMTP.MaxMessageSize = 1000 })
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	msg := "Subject: x\r\n\r\nbody\r\n"

	// Synchronising literal: continuation, then APPENDUID; the selected
	// mailbox reports the new message.
	c.send("a APPEND INBOX (\\Seen) {" + itoa(len(msg)) + "}")
	c.expect("+ ")
	c.sendRaw(msg + "\r\n")
	lines := c.readUntilTagged("a")
	if !hasLine(lines, "* 1 EXISTS") || !strings.HasPrefix(lines[len(lines)-1], "a OK [APPENDUID ") || !strings.HasSuffix(lines[len(lines)-1], " 1] APPEND completed") {
		t.Fatalf("got %q", lines)
	}
	// LITERAL+ with a date.
	c.sendRaw("b APPEND INBOX \" 4-Jul-2021 10:00:00 +0200\" {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	lines = c.readUntilTagged("b")
	if !strings.HasPrefix(lines[len(lines)-1], "b OK [APPENDUID ") {
		t.Fatalf("got %q", lines)
	}
	lines = c.cmd("b2", "FETCH 2 INTERNALDATE", "OK")
	if lines[0] != `* 2 FETCH (INTERNALDATE " 4-Jul-2021 10:00:00 +0200")` {
		t.Fatalf("got %q", lines)
	}
	// Binary literal.
	c.sendRaw("c APPEND INBOX ~{" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.readUntilTagged("c")
	// Too big: refused before the data is sent.
	c.send("d APPEND INBOX {5000}")
	c.expect("d NO [TOOBIG]")
	// Missing mailbox: refused before the data is sent; a
	// non-synchronising literal is read and discarded.
	c.send("e APPEND Nowhere {" + itoa(len(msg)) + "}")
	c.expect("e NO [TRYCREATE]")
	c.sendRaw("e2 APPEND Nowhere {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.expect("e2 NO [TRYCREATE]")
	// UTF8 form needs UTF8=ACCEPT.
	c.cmd("f", "APPEND INBOX UTF8 (~{3+}\r\nabc)", "BAD")
	c.cmd("g", "ENABLE UTF8=ACCEPT", "OK")
	c.sendRaw("h APPEND INBOX UTF8 (~{" + itoa(len(msg)) + "+}\r\n" + msg + ")\r\n")
	lines = c.readUntilTagged("h")
	if !strings.HasPrefix(lines[len(lines)-1], "h OK [APPENDUID ") {
		t.Fatalf("got %q", lines)
	}
	c.cmd("i", `APPEND INBOX (\Recent) {1+}`+"\r\nx", "BAD")
	// Oversized non-synchronising literal: NO and the connection closes.
	c.sendRaw("j APPEND INBOX {5000+}\r\n")
	c.expect("j NO [TOOBIG]")
}

// TestAppendRefusedLeavesNoBlob: an APPEND refused after its literal was
// spooled (over quota, or the literal is not followed by CRLF) leaves no
// blob behind (the write path, storage/ingest, discards it).
func TestAppendRefusedLeavesNoBlob(t *testing.T) {
	env := newTestServer(t)
	a := env.accts[testUser]
	a.QuotaMessages = 1
	if err := env.store.UpdateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	c := env.rawLogin(t)
	one, two := "Subject: one\r\n\r\nbody\r\n", "Subject: two\r\n\r\nbody\r\n"
	c.sendRaw("a APPEND INBOX {" + itoa(len(one)) + "+}\r\n" + one + "\r\n")
	c.expect("a OK [APPENDUID ")
	c.sendRaw("b APPEND INBOX {" + itoa(len(two)) + "+}\r\n" + two + "\r\n")
	c.expect("b NO [OVERQUOTA]")
	c.sendRaw("c APPEND Drafts {" + itoa(len(two)) + "+}\r\n" + two + "garbage\r\n")
	c.expect("c BAD")
	c.cmd("d", "NOOP", "OK")
	ids, err := env.store.Blobs().List()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 {
		t.Fatalf("%d blobs on disk after one stored and two refused APPENDs, want 1", len(ids))
	}
}
