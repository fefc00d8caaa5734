package imap

import (
	"strings"
	"testing"
)

// TestAppendBinaryLiteral: a message APPENDed with a binary literal whose
// part holds NULs is stored with that part base64-encoded (RFC 3516 4.3),
// so BODY[1] is sendable (no NUL in a literal, RFC 9051 4.3) and BINARY[1]
// gives the original bytes (imaptest "append-binary"; Dovecot does the
// same).
func TestAppendBinaryLiteral(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	c := env.rawLogin(t)
	msg := "From: user@domain.org\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\nMime-Version: 1.0\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\r\n\r\n"
	c.send("a APPEND INBOX ~{" + itoa(len(msg)) + "+}")
	c.sendRaw(msg + "\r\n")
	if l := c.readUntilTagged("a"); !strings.HasPrefix(l[len(l)-1], "a OK") {
		t.Fatalf("APPEND: %q", l)
	}
	c.cmd("s", "SELECT INBOX", "OK")
	lines := c.cmd("f", "FETCH 1 (BODY.PEEK[1] BODYSTRUCTURE)", "OK")
	want := "* 1 FETCH (BODY[1] {12}\r\nAC3kDQoNCg== BODYSTRUCTURE (\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 12 NIL NIL NIL NIL))"
	if lines[0] != want {
		t.Fatalf("got %q\nwant %q", lines[0], want)
	}
	lines = c.cmd("b", "FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])", "OK")
	if want := "* 1 FETCH (BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n\x00-\xe4\r\n\r\n)"; lines[0] != want {
		t.Fatalf("got %q\nwant %q", lines[0], want)
	}
	lines = c.cmd("r", "FETCH 1 (BODY.PEEK[])", "OK")
	if strings.ContainsRune(lines[0], 0) {
		t.Fatalf("NUL in BODY[]: %q", lines[0])
	}
}
