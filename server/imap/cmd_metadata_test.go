package imap

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/floemail/floe/storage"
)

func TestMetadata(t *testing.T) {
	env := newMbxEnv(t)
	c := env.raw(t, "alice@example.test")
	c.ok(`m1 SETMETADATA INBOX (/shared/vendor/kolab/folder-type "mail" /private/comment "my inbox" /shared/comment {5+}` + "\r\nhello)")
	c.want("m2 GETMETADATA INBOX /shared/vendor/kolab/folder-type", "OK",
		`* METADATA "INBOX" ("/shared/vendor/kolab/folder-type" "mail")`)
	c.want("m3 GETMETADATA INBOX (/private/comment /shared/comment /shared/none)", "OK",
		`* METADATA "INBOX" ("/private/comment" "my inbox" "/shared/comment" "hello" "/shared/none" NIL)`)
	c.want("m4 GETMETADATA (DEPTH 1) INBOX /shared", "OK",
		`* METADATA "INBOX" ("/shared/comment" "hello")`)
	c.want("m5 GETMETADATA (DEPTH infinity) INBOX (/shared /private)", "OK",
		`* METADATA "INBOX" ("/private/comment" "my inbox" "/shared/comment" "hello" "/shared/vendor/kolab/folder-type" "mail")`)
	c.want("m6 GETMETADATA (MAXSIZE 4 DEPTH infinity) INBOX /shared", "OK [METADATA LONGENTRIES 5]",
		`* METADATA "INBOX" ("/shared/vendor/kolab/folder-type" "mail")`)
	// Options after the mailbox, as go-imap v2 sends them.
	c.want("m7 GETMETADATA INBOX (DEPTH infinity) /private", "OK",
		`* METADATA "INBOX" ("/private/comment" "my inbox")`)
	// A syntax error in the entries after such options is BAD, not OK.
	c.want("m7b GETMETADATA INBOX (DEPTH 1) (/private/comment", "BAD")
	c.want("m7c GETMETADATA INBOX (DEPTH 1) (/private/comment /shared/comment", "BAD")
	// NIL deletes.
	c.ok("m8 SETMETADATA INBOX (/private/comment NIL)")
	c.want("m9 GETMETADATA (DEPTH infinity) INBOX /private", "OK")
	// Server entries: mailbox "".
	c.ok(`s1 SETMETADATA "" (/private/vendor/x/setting "on")`)
	c.want(`s2 GETMETADATA "" /private/vendor/x/setting`, "OK", `* METADATA "" ("/private/vendor/x/setting" "on")`)
	// Bad names and limits (RFC 5464 3.2, 4.3).
	c.want(`e1 SETMETADATA INBOX (/comment "x")`, "BAD")
	c.want(`e2 SETMETADATA INBOX (/shared/a* "x")`, "BAD")
	c.want(`e3 GETMETADATA INBOX /other`, "BAD")
	c.want(`e4 GETMETADATA (DEPTH 2) INBOX /shared`, "BAD")
	c.want(`e5 SETMETADATA nosuch (/shared/x "x")`, "NO [NONEXISTENT]")
	big := strings.Repeat("v", storage.MaxMetadataValue+1)
	c.want(fmt.Sprintf("e6 SETMETADATA INBOX (/shared/big {%d+}\r\n%s)", len(big), big), fmt.Sprintf("NO [METADATA MAXSIZE %d]", storage.MaxMetadataValue))
	var many strings.Builder
	for i := range storage.MaxMetadataEntries {
		fmt.Fprintf(&many, ` /shared/n%d "x"`, i)
	}
	c.want("e7 SETMETADATA INBOX ("+many.String()[1:]+")", "NO [METADATA TOOMANY]")
	c.want("e8 GETMETADATA INBOX /shared/n0", "OK", `* METADATA "INBOX" ("/shared/n0" NIL)`)

	// Private entries belong to the acting account; bob has his own server.
	b := env.raw(t, "bob@example.test")
	b.want(`x1 GETMETADATA "" /private/vendor/x/setting`, "OK", `* METADATA "" ("/private/vendor/x/setting" NIL)`)
	b.want("x2 GETMETADATA INBOX /shared/comment", "OK", `* METADATA "INBOX" ("/shared/comment" NIL)`)

	// go-imap client.
	cl := env.client(t, "alice@example.test")
	v := []byte("event")
	if err := cl.SetMetadata("Sent", map[string]*[]byte{"/shared/vendor/kolab/folder-type": &v}).Wait(); err != nil {
		t.Fatal(err)
	}
	md, err := cl.GetMetadata("Sent", []string{"/shared"}, &imapclientOptsInfinity).Wait()
	if err != nil || md.Entries["/shared/vendor/kolab/folder-type"] == nil || string(*md.Entries["/shared/vendor/kolab/folder-type"]) != "event" {
		t.Fatalf("GetMetadata %+v %v", md, err)
	}
	// Entries are removed with the mailbox.
	c.ok("d1 CREATE Tmp")
	c.ok(`d2 SETMETADATA Tmp (/shared/comment "gone soon")`)
	c.ok("d3 DELETE Tmp")
	c.ok("d4 CREATE Tmp")
	c.want("d5 GETMETADATA Tmp /shared/comment", "OK", `* METADATA "Tmp" ("/shared/comment" NIL)`)
}

var imapclientOptsInfinity = imapclient.GetMetadataOptions{Depth: imapclient.GetMetadataDepthInfinity}
