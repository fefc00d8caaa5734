package imap

import (
	"strings"
	"testing"

	"github.com/floemail/floe/server/config"
)

const catSource = "From: Carol <carol@example.org>\r\n" +
	"To: alice@example.test\r\n" +
	"Subject: source\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"first part\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAw==\r\n" +
	"--b1--\r\n"

// catBody fetches BODY.PEEK[] of message seq of the selected mailbox.
func catBody(c *rawConn, seq int) string {
	c.t.Helper()
	lines := c.cmd("fb", "FETCH "+itoa(seq)+" BODY.PEEK[]", "OK")
	line := lines[0]
	i := strings.Index(line, "}\r\n")
	if i < 0 || !strings.HasSuffix(line, ")") {
		c.t.Fatalf("FETCH BODY[]: %q", lines)
	}
	return line[i+3 : len(line)-1]
}

// TestCatenate: messages built from TEXT literals and URLs naming whole
// messages, HEADER, TEXT, a part, a part's MIME header, filtered header
// fields and partial ranges (RFC 4469 3, RFC 5092), with synchronising and
// non-synchronising literals, as FETCH BODY[section] would send them.
func TestCatenate(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	uid := env.deliver(t, testUser, catSource)
	mb := inbox(t, env)
	uv := itoa(int(mb.UIDValidity))
	c := env.rawLogin(t)
	base := "/INBOX/;UID=" + itoa(int(uid))

	hdrEnd := strings.Index(catSource, "\r\n\r\n") + 4
	header, text := catSource[:hdrEnd], catSource[hdrEnd:]
	tests := []struct {
		parts string // after "CATENATE (" up to ")"
		want  string
	}{
		{"TEXT " + lit("Subject: only text\r\n\r\nhi\r\n"), "Subject: only text\r\n\r\nhi\r\n"},
		{`URL "` + base + `"`, catSource},
		{`URL "/INBOX;UIDVALIDITY=` + uv + `/;UID=` + itoa(int(uid)) + `/;SECTION=HEADER" TEXT ` + lit("new body\r\n"), header + "new body\r\n"},
		{`TEXT ` + lit("Subject: wrapped\r\n\r\n") + ` URL "` + base + `/;section=TEXT"`, "Subject: wrapped\r\n\r\n" + text},
		{`URL "` + base + `/;SECTION=1.MIME" URL "` + base + `/;SECTION=1"`, "Content-Type: text/plain\r\n\r\nfirst part"},
		{`URL "` + base + `/;SECTION=HEADER.FIELDS%20(Subject%20To)" TEXT ` + lit("x\r\n"),
			"To: alice@example.test\r\nSubject: source\r\n\r\nx\r\n"},
		{`URL "` + base + `/;PARTIAL=6.5" TEXT ` + lit(": x\r\n\r\ny\r\n"), "Carol: x\r\n\r\ny\r\n"},
		{`TEXT ` + lit("A: b\r\n\r\n") + ` URL "` + base + `/;PARTIAL=100000.1"`, "A: b\r\n\r\n"}, // beyond the end: nothing
		{`URL "imap://` + testUser + `@localhost/INBOX/;UID=` + itoa(int(uid)) + `/;SECTION=2"`, "AAECAw=="},
	}
	for i, tc := range tests {
		tag := "c" + itoa(i)
		lines := c.cmd(tag, "APPEND Archive CATENATE ("+tc.parts+")", "OK")
		if !strings.Contains(lines[len(lines)-1], "[APPENDUID "+"") {
			t.Fatalf("%s: %q", tag, lines)
		}
	}
	c.cmd("s", "EXAMINE Archive", "OK")
	for i, tc := range tests {
		if got := catBody(c, i+1); got != tc.want {
			t.Errorf("message %d (%s):\n got %q\nwant %q", i+1, tc.parts, got, tc.want)
		}
	}
	// A URL part is copied without setting \Seen on its source.
	lines := c.cmd("f", "STATUS INBOX (UNSEEN)", "OK")
	if !strings.Contains(lines[0], "UNSEEN 1") {
		t.Fatalf("source seen after CATENATE: %q", lines)
	}

	// Synchronising literals: each TEXT gets its continuation when its
	// turn comes.
	c.send(`s1 APPEND Archive (\Seen) CATENATE (TEXT {12}`)
	c.expect("+ ")
	c.sendRaw("Subject: s\r\n" + ` URL "` + base + `/;SECTION=1" TEXT {2}` + "\r\n")
	c.expect("+ ")
	c.sendRaw("\r\n)\r\n")
	lines = c.readUntilTagged("s1")
	if !strings.HasPrefix(lines[len(lines)-1], "s1 OK [APPENDUID ") || !hasLine(lines, "* "+itoa(len(tests)+1)+" EXISTS") {
		t.Fatalf("synchronising CATENATE: %q", lines)
	}
	if got := catBody(c, len(tests)+1); got != "Subject: s\r\nfirst part\r\n" {
		t.Fatalf("synchronising CATENATE stored %q", got)
	}
}

// TestCatenateErrors: a URL that names nothing this user may read is NO
// [BADURL url] and the rest of the command is skipped (no continuation for
// a following synchronising literal); a message above APPENDLIMIT is NO
// [TOOBIG]; a missing destination is TRYCREATE before any URL is looked
// at. Nothing is stored and no blob is left.
func TestCatenateErrors(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	uid := env.deliver(t, testUser, catSource)
	bobUID := env.deliver(t, otherUser, testMessage("bob's"))
	env.setConfig(func(c *config.Config) { c.SMTP.MaxMessageSize = config.Size(len(catSource) + 10) })
	c := env.rawLogin(t)
	u := itoa(int(uid))
	bad := []string{
		"/INBOX;UIDVALIDITY=1/;UID=" + u,                                     // wrong UIDVALIDITY
		"/INBOX/;UID=" + itoa(int(uid)+5),                                    // no such message
		"/Nowhere/;UID=" + u,                                                 // no such mailbox
		"/INBOX/;UID=" + u + "/;SECTION=3",                                   // no such part
		"/INBOX/;UID=" + u + "/;SECTION=1.HEADER",                            // HEADER of a part that is no message
		"imap://" + otherUser + "@localhost/INBOX/;UID=" + itoa(int(bobUID)), // another user
		"imap://elsewhere.example/INBOX/;UID=" + u,                           // another server
		"http://localhost/INBOX/;UID=" + u,                                   // not IMAP
		"/INBOX?ALL",                                                         // a message list
	}
	for i, url := range bad {
		tag := "b" + itoa(i)
		c.send(tag + ` APPEND Archive CATENATE (TEXT {3+}` + "\r\nA: " + ` URL "` + url + `" TEXT {10}`)
		line := c.expect(tag + " NO [BADURL ")
		if !strings.Contains(line, url) {
			t.Errorf("%s: %q does not name the URL %q", tag, line, url)
		}
	}
	// Too big: the URL part would take the message above APPENDLIMIT.
	c.send(`t1 APPEND Archive CATENATE (TEXT {20+}` + "\r\n" + strings.Repeat("x", 20) + ` URL "/INBOX/;UID=` + u + `")`)
	c.expect("t1 NO [TOOBIG]")
	// Too big: a literal that does not fit after the parts before it.
	c.send(`t2 APPEND Archive CATENATE (URL "/INBOX/;UID=` + u + `" TEXT {20}`)
	c.expect("t2 NO [TOOBIG]")
	// Missing destination: TRYCREATE, even with a bad URL.
	c.send(`m APPEND Nowhere CATENATE (URL "/INBOX;UIDVALIDITY=1/;UID=` + u + `" TEXT {5}`)
	c.expect("m NO [TRYCREATE]")
	// Syntax.
	c.cmd("s1", "APPEND Archive CATENATE ()", "BAD")
	c.cmd("s2", "APPEND Archive CATENATE (BOGUS x)", "BAD")
	c.cmd("s3", `APPEND Archive CATENATE (URL "/INBOX/;UID=`+u+`"`, "BAD")
	c.cmd("n", "NOOP", "OK")

	lines := c.cmd("st", "STATUS Archive (MESSAGES)", "OK")
	if !strings.Contains(lines[0], "MESSAGES 0") {
		t.Fatalf("refused CATENATEs stored messages: %q", lines)
	}
	if n := blobCount(t, env); n != 2 {
		t.Fatalf("%d blobs on disk, want the 2 delivered", n)
	}
}

// TestCatenateMultiAppend: CATENATE and plain literals mixed in one
// MULTIAPPEND (RFC 4469 3 with RFC 3502), all or nothing: a bad URL in the
// second message stores neither.
func TestCatenateMultiAppend(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	uid := env.deliver(t, testUser, catSource)
	c := env.rawLogin(t)
	base := "/INBOX/;UID=" + itoa(int(uid))
	lines := c.cmd("a", `APPEND Archive CATENATE (URL "`+base+`/;SECTION=HEADER" TEXT `+lit("one\r\n")+`) (\Flagged) `+
		lit("Subject: two\r\n\r\ntwo\r\n")+` CATENATE (URL "`+base+`")`, "OK")
	if !strings.HasSuffix(lines[len(lines)-1], " 1:3] APPEND completed") {
		t.Fatalf("got %q", lines)
	}
	c.cmd("b", `APPEND Archive CATENATE (URL "`+base+`") CATENATE (URL "`+base+`/;SECTION=9")`, "NO [BADURL")
	c.cmd("s", "EXAMINE Archive", "OK")
	hdrEnd := strings.Index(catSource, "\r\n\r\n") + 4
	for i, want := range []string{catSource[:hdrEnd] + "one\r\n", "Subject: two\r\n\r\ntwo\r\n", catSource} {
		if got := catBody(c, i+1); got != want {
			t.Errorf("message %d: %q, want %q", i+1, got, want)
		}
	}
	lines = c.cmd("st", "STATUS Archive (MESSAGES)", "OK")
	if !strings.Contains(lines[0], "MESSAGES 3") {
		t.Fatalf("after a refused MULTIAPPEND: %q", lines)
	}
}
