package imap

import (
	"strings"
	"testing"
)

// rawLoginAs connects and logs in as user.
func (env *testEnv) rawLoginAs(t *testing.T, user string) *rawConn {
	t.Helper()
	c := env.raw(t)
	c.cmd("L0", "LOGIN "+user+" "+testPassword, "OK")
	return c
}

// TestExtensionsSharedFolder: the extensions work on folders shared with
// the user, through its rights (RFC 4314): NOTIFY on a shared folder
// ("r"), CATENATE from it ("r", else BADURL), MULTIAPPEND into it ("i",
// else NOPERM for all).
func TestExtensionsSharedFolder(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	bob := env.rawLoginAs(t, otherUser)
	bob.cmd("c", "CREATE Shared", "OK")
	bob.cmd("a", "SETACL Shared "+testUser+" lrsi", "OK")
	uid := env.deliverTo(t, otherUser, "Shared", testMessage("shared one"))
	const name = `"~bob@example.test/Shared"`

	alice := env.rawLogin(t)
	alice.cmd("n", "NOTIFY SET STATUS (mailboxes "+name+" (MessageNew MessageExpunge))", "OK")
	env.deliverTo(t, otherUser, "Shared", testMessage("shared two"))
	alice.next(`* STATUS "~bob@example.test/Shared" (MESSAGES 2 UIDNEXT 3 UNSEEN 2)`)
	alice.cmd("nn", "NOTIFY NONE", "OK")

	url := `"/~bob@example.test/Shared/;UID=` + itoa(int(uid)) + `/;SECTION=HEADER.FIELDS%20(Subject)"`
	lines := alice.cmd("cat", `APPEND Archive CATENATE (URL `+url+` TEXT `+lit("\r\nbody\r\n")+`)`, "OK")
	if !strings.Contains(lines[len(lines)-1], "APPENDUID") {
		t.Fatalf("CATENATE from a shared folder: %q", lines)
	}
	lines = alice.cmd("ma", "APPEND "+name+" "+lit(testMessage("from alice 1"))+" "+lit(testMessage("from alice 2")), "OK")
	if !strings.HasSuffix(lines[len(lines)-1], " 3:4] APPEND completed") {
		t.Fatalf("MULTIAPPEND into a shared folder: %q", lines)
	}
	bob.cmd("a2", "SETACL Shared "+testUser+" lr", "OK")
	alice.cmd("ma2", "APPEND "+name+" "+lit(testMessage("x"))+" "+lit(testMessage("y")), "NO [NOPERM]")
	bob.cmd("a3", "SETACL Shared "+testUser+" l", "OK")
	alice.cmd("cat2", `APPEND Archive CATENATE (URL `+url+`)`, "NO [BADURL")
	lines = bob.cmd("st", "STATUS Shared (MESSAGES)", "OK")
	if !strings.Contains(lines[0], "MESSAGES 4") {
		t.Fatalf("bob's folder: %q", lines)
	}
}
