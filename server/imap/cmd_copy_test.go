package imap

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestCopyMove(t *testing.T) {
	env := newTestServer(t)
	for i := 0; i < 4; i++ {
		env.deliver(t, testUser, testMessage("m"+itoa(i)))
	}
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	other := env.rawLogin(t)
	other.cmd("s", "SELECT INBOX", "OK")

	lines := c.cmd("a", "COPY 1:2 Archive", "OK [COPYUID ")
	if !strings.Contains(lines[len(lines)-1], " 1:2 1:2]") {
		t.Fatalf("got %q", lines)
	}
	c.cmd("b", "COPY 1 Nowhere", "NO [TRYCREATE]")
	c.cmd("b2", "MOVE 1 Nowhere", "NO [TRYCREATE]")

	lines = c.cmd("c", "MOVE 2:3 Trash", "OK")
	if !strings.HasPrefix(lines[0], "* OK [COPYUID ") || !strings.HasSuffix(lines[0], " 2:3 1:2] moved") {
		t.Fatalf("got %q", lines)
	}
	if lines[1] != "* 3 EXPUNGE" || lines[2] != "* 2 EXPUNGE" {
		t.Fatalf("got %q", lines)
	}
	lines = c.cmd("d", "UID MOVE 4 Trash", "OK")
	if !strings.HasSuffix(lines[0], " 4 3] moved") || lines[1] != "* 2 EXPUNGE" {
		t.Fatalf("got %q", lines)
	}
	// The other session sees the expunges at its next NOOP.
	lines = other.cmd("n", "NOOP", "OK")
	if strings.Count(strings.Join(lines, "\n"), "EXPUNGE") != 3 {
		t.Fatalf("other session: %q", lines)
	}
	lines = c.cmd("e", "STATUS Trash (MESSAGES)", "OK")
	if !hasLine(lines, "* STATUS Trash (MESSAGES 3)") && !hasLine(lines, `* STATUS "Trash" (MESSAGES 3)`) {
		t.Fatalf("got %q", lines)
	}
	// COPY into the selected mailbox: the new message appears as EXISTS.
	lines = c.cmd("f", "UID COPY 1 INBOX", "OK [COPYUID")
	if !hasLine(lines, "* 2 EXISTS") {
		t.Fatalf("got %q", lines)
	}
}

func TestMoveQResyncClient(t *testing.T) {
	env := newTestServer(t)
	for i := 0; i < 3; i++ {
		env.deliver(t, testUser, testMessage("m"+itoa(i)))
	}
	c := env.rawLogin(t)
	c.cmd("e", "ENABLE QRESYNC", "OK")
	c.cmd("s", "SELECT INBOX", "OK")
	lines := c.cmd("a", "UID MOVE 1:2 Junk", "OK")
	if !hasLine(lines, "* VANISHED 1:2") {
		t.Fatalf("got %q", lines)
	}

	cl := env.dial(t)
	selectInbox(t, cl)
	data, err := cl.Move(imap.UIDSetNum(3), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.UIDValidity == 0 || data.SourceUIDs.String() != "3" || data.DestUIDs.String() != "1" {
		t.Fatalf("move data %+v", data)
	}
}
