package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// openCfg opens the store of a config file written by writeConfig.
func openCfg(t *testing.T, file string) storage.Store {
	t.Helper()
	cfg, err := config.Load(file, config.Production())
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestGroupCommands(t *testing.T) {
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("[[account]]\naddress = \"alice@example.com\"\npassword_hash = '%s'\n\n[[group]]\naddress = \"staff@example.com\"\nmembers = [\"alice@example.com\"]\n", h)
	cfgFile, _ := writeConfig(t, nil, extra)
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }
	floe(t, "long-password\n", c("account", "add", "bob@example.com")...).expect(t, 0, "added account")

	floe(t, "", c("group", "add", "Team@example.com")...).expect(t, 0, "added group team@example.com")
	floe(t, "", c("group", "add", "team@example.com")...).expectErr(t, 1, "already exists")
	floe(t, "", c("group", "add", "bob@example.com")...).expectErr(t, 1, "already an account or an alias")
	floe(t, "", c("group", "add", "g@nowhere.org")...).expectErr(t, 1, "floe domain add")
	floe(t, "", c("group", "member", "add", "team@example.com", "bob@example.com")...).expect(t, 0, "added bob@example.com to group team@example.com")
	floe(t, "", c("group", "member", "add", "team@example.com", "alice@example.com")...).expect(t, 0, "added alice@example.com")
	floe(t, "", c("group", "member", "add", "team@example.com", "bob@example.com")...).expectErr(t, 1, "already a member")
	floe(t, "", c("group", "member", "add", "team@example.com", "nobody@example.com")...).expectErr(t, 1, "no account nobody@example.com")
	floe(t, "", c("group", "member", "add", "none@example.com", "bob@example.com")...).expectErr(t, 1, "no group none@example.com")
	r := floe(t, "", c("group", "member", "list", "team@example.com")...)
	r.expect(t, 0, "alice@example.com\nbob@example.com\n")
	floe(t, "", c("group", "member", "list", "none@example.com")...).expectErr(t, 1, "no group none@example.com")
	r = floe(t, "", c("group", "list")...)
	if !regexp.MustCompile(`staff@example\.com\s+alice@example\.com\s+config`).MatchString(r.stdout) ||
		!regexp.MustCompile(`team@example\.com\s+alice@example\.com,bob@example\.com\s+db`).MatchString(r.stdout) {
		t.Fatalf("group list:\n%s", r.stdout)
	}
	// Groups of the file belong to the file.
	floe(t, "", c("group", "member", "del", "staff@example.com", "alice@example.com")...).expectErr(t, 1, "declared in")
	floe(t, "", c("group", "del", "staff@example.com")...).expectErr(t, 1, "declared in")
	floe(t, "", c("group", "member", "del", "team@example.com", "alice@example.com")...).expect(t, 0, "removed alice@example.com")
	floe(t, "", c("group", "member", "del", "team@example.com", "alice@example.com")...).expectErr(t, 1, "not a member")
	floe(t, "", c("group", "del", "team@example.com")...).expect(t, 0, "removed group team@example.com (1 members)")
	floe(t, "", c("group")...).expectErr(t, 2, "floe group member add")
	floe(t, "", c("group", "member")...).expectErr(t, 2, "floe group member list")
	floe(t, "", c("group", "member", "frob")...).expectErr(t, 2, "unknown command \"group member frob\"")
}

func TestShareCommands(t *testing.T) {
	cfgFile, _ := writeConfig(t, nil, "")
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }
	for _, u := range []string{"jane", "john", "bob"} {
		floe(t, "long-password\n", c("account", "add", u+"@example.com")...).expect(t, 0, "added account")
	}
	floe(t, "", c("group", "add", "team@example.com")...).expect(t, 0, "added group")
	floe(t, "", c("group", "member", "add", "team@example.com", "bob@example.com")...).expect(t, 0, "added")

	// A folder, by set name; a bare local part is in the owner's domain.
	floe(t, "", c("share", "add", "jane@example.com/INBOX", "john", "read")...).expect(t, 0, "jane@example.com/INBOX: john@example.com lrs (Read)")
	// The whole account, to a group, in letters; a negative entry.
	floe(t, "", c("share", "add", "jane@example.com", "team@example.com", "lr")...).expect(t, 0, "jane@example.com: team@example.com lr (Custom (lr))")
	floe(t, "", c("share", "add", "jane@example.com", "--", "-bob@example.com", "r")...).expect(t, 0, "-bob@example.com r")
	floe(t, "", c("share", "add", "jane@example.com/Sent", "example.com", "read+write")...).expect(t, 0, "@example.com lrsik (Read, Write)")
	floe(t, "", c("share", "add", "jane@example.com/Sent", "anyone", "full")...).expect(t, 0, "anyone lrswipkxtea (Full)")

	r := floe(t, "", c("share", "list", "jane@example.com")...)
	for _, re := range []string{
		`jane@example\.com \(account\)\s+-bob@example\.com\s+r\s+Custom \(r\)`,
		`jane@example\.com \(account\)\s+team@example\.com\s+lr`,
		`jane@example\.com/INBOX\s+john@example\.com\s+lrs\s+Read`,
		`jane@example\.com/Sent\s+@example\.com\s+lrsik\s+Read, Write`,
		`jane@example\.com/Sent\s+anyone\s+lrswipkxtea\s+Full`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Fatalf("share list lacks %s:\n%s", re, r.stdout)
		}
	}
	// Errors.
	floe(t, "", c("share", "add", "jane@example.com/Nope", "john", "read")...).expectErr(t, 1, "has no folder \"Nope\"")
	floe(t, "", c("share", "add", "ghost@example.com", "john", "read")...).expectErr(t, 1, "no account ghost@example.com")
	floe(t, "", c("share", "add", "jane@example.com", "john", "reading")...).expectErr(t, 2, "neither rights letters")
	floe(t, "", c("share", "add", "jane@example.com", "jane@example.com", "read")...).expectErr(t, 1, "always has every right")
	floe(t, "", c("share", "add", "jane@example.com", "b*d", "read")...).expectErr(t, 2, "invalid ACL identifier")
	floe(t, "", c("share", "del", "jane@example.com/INBOX", "bob@example.com")...).expectErr(t, 1, "has no entry for bob@example.com")
	floe(t, "", c("share", "del", "jane@example.com/INBOX", "john@example.com")...).expect(t, 0, "removed john@example.com")
	floe(t, "", c("share", "inherit", "jane@example.com/Sent")...).expect(t, 0, "now inherits")
	floe(t, "", c("share", "inherit", "jane@example.com")...).expectErr(t, 2, "nothing to inherit")

	// John was informed of the INBOX grant (and not of anything else);
	// bob of the group grant to the account.
	st := openCfg(t, cfgFile)
	ctx := context.Background()
	john, _ := st.Account(ctx, "john@example.com")
	jv, err := view.New(ctx, st, john.ID, view.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := jv.Lookup(ctx, "INBOX")
	msgs, _ := jv.Messages(ctx, inbox.ID(), storage.Query{Fields: storage.FieldEnvelope})
	if len(msgs) != 1 || !strings.Contains(msgs[0].Envelope.Subject, `jane@example.com shared the folder "INBOX"`) {
		t.Fatalf("john's mail: %+v", msgs)
	}
	// Sent inherits the root again (no entry for john) and the INBOX
	// entry is gone: John sees none of Jane's folders.
	list, _ := jv.List(ctx)
	for _, f := range list {
		if !f.Own {
			t.Errorf("john still sees %s", f.Name)
		}
	}
}

func TestPublicFolderCommand(t *testing.T) {
	cfgFile, _ := writeConfig(t, nil, "")
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }
	floe(t, "long-password\n", c("account", "add", "john@example.com")...).expect(t, 0, "added account")
	floe(t, "", c("folder", "add-public", "example.com", "Global Address Book", "--type", "contact")...).
		expect(t, 0, "created #public/Global Address Book in example.com")
	floe(t, "", c("folder", "add-public", "example.com", "Support/Tickets")...).expect(t, 0, "created #public/Support/Tickets")
	floe(t, "", c("folder", "add-public", "example.com", "Support/Tickets")...).expectErr(t, 1, "already exists")
	floe(t, "", c("folder", "add-public", "nowhere.org", "X")...).expectErr(t, 1, "not a local domain")
	floe(t, "", c("folder", "add-public", "example.com", "X", "--type", "spreadsheet")...).expectErr(t, 2, "--type")
	floe(t, "", c("share", "add", "@example.com/Global Address Book", "example.com", "read")...).expect(t, 0, "@example.com lrs (Read)")
	floe(t, "", c("share", "add", "@other.org/X", "anyone", "read")...).expectErr(t, 1, "has no public folders")
	floe(t, "", c("share", "list")...).expect(t, 0, "@example.com/Global Address Book")

	st := openCfg(t, cfgFile)
	ctx := context.Background()
	john, _ := st.Account(ctx, "john@example.com")
	jv, _ := view.New(ctx, st, john.ID, view.Options{})
	f, err := jv.Lookup(ctx, "#public/Global Address Book")
	if err != nil {
		t.Fatal(err)
	}
	md, err := jv.GetMetadata(ctx, f.ID(), []string{"/shared/vendor/kolab/folder-type"}, 0)
	if err != nil || len(md) != 1 || string(md[0].Value) != "contact" {
		t.Fatalf("folder type: %+v %v", md, err)
	}
	if _, err := jv.Lookup(ctx, "#public/Support"); err == nil {
		t.Fatal("an unshared public folder is visible")
	}
	pub, _ := st.PublicAccount(ctx, "example.com", false)
	mbs, _ := st.Mailboxes(ctx, pub.ID)
	var names []string
	for _, m := range mbs {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"Global Address Book", "Support", "Support/Tickets"}) {
		t.Fatalf("public folders: %q", names)
	}
}

func TestSendAsCommands(t *testing.T) {
	cfgFile, _ := writeConfig(t, nil, "")
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }
	floe(t, "long-password\n", c("account", "add", "jane@example.com")...).expect(t, 0, "added account")
	floe(t, "", c("account", "send-as", "add", "jane@example.com", "Boss@Example.com")...).expect(t, 0, "jane@example.com may send as boss@example.com")
	floe(t, "", c("account", "send-as", "list")...).expect(t, 0, "boss@example.com")
	floe(t, "", c("account", "send-as", "list", "jane@example.com")...).expect(t, 0, "boss@example.com")
	floe(t, "", c("account", "send-as", "del", "jane@example.com", "boss@example.com")...).expect(t, 0, "may no longer send as")
	floe(t, "", c("account", "send-as", "del", "jane@example.com", "boss@example.com")...).expectErr(t, 1, "may not send as boss@example.com anyway")
	floe(t, "", c("account", "send-as", "add", "ghost@example.com", "boss@example.com")...).expectErr(t, 1, "no account ghost@example.com")
	floe(t, "", c("account", "send-as")...).expectErr(t, 2, "floe account send-as add")
}

// TestGroupMemberAddInforms: "floe group member add" gives the new member
// what is shared with the group, informed as for a grant (information
// mail, subscription), as docs/sharing.md says of anyone who gets rights.
func TestGroupMemberAddInforms(t *testing.T) {
	cfgFile, _ := writeConfig(t, nil, "")
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }
	for _, u := range []string{"jane", "john"} {
		floe(t, "long-password\n", c("account", "add", u+"@example.com")...).expect(t, 0, "added account")
	}
	floe(t, "", c("group", "add", "team@example.com")...).expect(t, 0, "added group")
	floe(t, "", c("share", "add", "jane@example.com/Sent", "team@example.com", "read")...).expect(t, 0, "team@example.com lrs (Read)")
	floe(t, "", c("group", "member", "add", "team@example.com", "john@example.com")...).expect(t, 0, "added john@example.com")

	st := openCfg(t, cfgFile)
	ctx := context.Background()
	john, _ := st.Account(ctx, "john@example.com")
	jv, err := view.New(ctx, st, john.ID, view.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := jv.Lookup(ctx, "INBOX")
	msgs, _ := jv.Messages(ctx, inbox.ID(), storage.Query{Fields: storage.FieldEnvelope})
	if len(msgs) != 1 || !strings.Contains(msgs[0].Envelope.Subject, `jane@example.com shared the folder "Sent"`) {
		t.Fatalf("john's mail: %+v", msgs)
	}
	subs, err := st.Subscriptions(ctx, john.ID)
	if err != nil || !slices.Contains(subs, "~jane@example.com/Sent") {
		t.Fatalf("john's subscriptions: %q %v", subs, err)
	}
}
