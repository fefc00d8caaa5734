package imap

import (
	"context"
	"strings"
	"testing"

	"github.com/floemail/floe/server/config"
)

// TestKeywordTooLong: a keyword longer than the store keeps gets a NO that
// says why, for STORE and APPEND.
func TestKeywordTooLong(t *testing.T) {
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("kw"))
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	long := strings.Repeat("k", 255)
	l := c.cmd("a", "STORE 1 +FLAGS ("+long+")", "NO")
	if !strings.Contains(l[len(l)-1], "[LIMIT] keyword too long") {
		t.Fatalf("STORE: %q", l)
	}
	c.send("b APPEND INBOX (" + long + ") {3}")
	l = c.readUntilTagged("b")
	if !strings.Contains(l[len(l)-1], "[LIMIT] keyword too long") {
		t.Fatalf("APPEND: %q", l)
	}
	c.cmd("c", "STORE 1 +FLAGS ("+strings.Repeat("k", 250)+")", "OK")
}

// TestGrowthLimits: keywords per mailbox, mailboxes per account and
// metadata per account are bounded, each with a NO and a response code.
func TestGrowthLimits(t *testing.T) {
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("one"))
	boxes, err := env.store.Mailboxes(context.Background(), env.accts[testUser].ID)
	if err != nil {
		t.Fatal(err)
	}
	env.setConfig(func(c *config.Config) {
		c.Limits.MaxKeywordsPerMailbox = 3
		c.Limits.MaxMailboxesPerAccount = len(boxes) + 1
		c.Limits.MaxMetadataPerAccount = 1000
	})
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	c.cmd("k1", "STORE 1 +FLAGS (one two three)", "OK")
	c.cmd("k2", "STORE 1 +FLAGS (ONE two)", "OK") // known keywords, any case
	if l := c.cmd("k3", "STORE 1 +FLAGS (four)", "NO"); !strings.Contains(l[len(l)-1], "[LIMIT] too many keywords") {
		t.Fatalf("fourth keyword: %q", l)
	}
	c.cmd("k4", "STORE 1 -FLAGS (four five)", "OK") // removing is never refused

	c.cmd("c1", "CREATE Extra", "OK")
	if l := c.cmd("c2", "CREATE Another", "NO"); !strings.Contains(l[len(l)-1], "[LIMIT] too many mailboxes") {
		t.Fatalf("CREATE beyond the limit: %q", l)
	}

	v := strings.Repeat("v", 600)
	c.cmd("m1", `SETMETADATA INBOX (/private/comment "`+v+`")`, "OK")
	if l := c.cmd("m2", `SETMETADATA INBOX (/private/other "`+v+`")`, "NO"); !strings.Contains(l[len(l)-1], "[METADATA TOOMANY]") {
		t.Fatalf("metadata beyond the account limit: %q", l)
	}
	c.cmd("m3", `SETMETADATA INBOX (/private/comment NIL)`, "OK") // deleting is never refused
	c.cmd("m4", `SETMETADATA INBOX (/private/other "`+v+`")`, "OK")
}

// TestAppendQuotaBeforeContinuation: a synchronising APPEND literal that
// cannot fit in the quota is refused before the "+" continuation, so the
// client never uploads it.
func TestAppendQuotaBeforeContinuation(t *testing.T) {
	env := newTestServer(t)
	ctx := context.Background()
	a := env.accts[testUser]
	a.QuotaBytes = 1 << 20
	if err := env.store.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	c := env.rawLogin(t)
	c.send("a APPEND INBOX {50000000}")
	l := c.readLine()
	if !strings.HasPrefix(l, "a NO [OVERQUOTA]") {
		t.Fatalf("got %q, want a NO [OVERQUOTA] before any continuation", l)
	}
	// The session goes on; a message that fits is accepted.
	msg := testMessage("fits")
	c.send("b APPEND INBOX {" + itoa(len(msg)) + "}")
	c.expect("+ ")
	c.sendRaw(msg + "\r\n")
	c.readUntilTagged("b")
}
