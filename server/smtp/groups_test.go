package smtp

import (
	"context"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// TestGroupRecipient: mail to a group reaches every member, one copy each,
// also when a member is named too; a member over quota is left out while
// the others get the message.
func TestGroupRecipient(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if err := e.store.PutGroup(ctx, storage.Group{Address: "team@example.test",
		Members: []string{"alice@example.test", "bob@example.test", "carol@example.test"}}); err != nil {
		t.Fatal(err)
	}
	// Fill carol's one-message quota.
	c := e.dial(MX)
	if err := send(c, "x@remote.test", []string{"carol@example.test"}, message("fill", "x")); err != nil {
		t.Fatal(err)
	}
	c = e.dial(MX)
	if err := send(c, "x@remote.test", []string{"team@example.test", "bob@example.test"}, message("to the team", "hello")); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]int{"alice@example.test": 1, "bob@example.test": 1, "carol@example.test": 1} {
		msgs, _ := e.inbox(addr)
		if len(msgs) != want {
			t.Errorf("%s has %d messages, want %d", addr, len(msgs), want)
		}
	}
	// A group whose every member is full is refused like a full mailbox.
	if err := e.store.PutGroup(ctx, storage.Group{Address: "full@example.test", Members: []string{"carol@example.test"}}); err != nil {
		t.Fatal(err)
	}
	c = e.dial(MX)
	if err := c.Mail("x@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("full@example.test", nil), 452, gosmtp.EnhancedCode{4, 2, 2})
}

// TestSubmissionSendAs: an address granted with floe account send-as is
// accepted as envelope sender; account sharing alone grants nothing.
func TestSubmissionSendAs(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	bob := e.ids["bob@example.test"]
	if _, _, err := e.store.ChangeACL(ctx, e.ids["alice@example.test"], storage.RootMailbox,
		[]acl.Change{{Identifier: "bob@example.test", Op: acl.OpSet, Rights: acl.All}}); err != nil {
		t.Fatal(err)
	}
	c := e.dial(Submission)
	if err := c.Auth(sasl.NewPlainClient("", "bob@example.test", password)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Mail("alice@example.test", nil), 553, gosmtp.EnhancedCode{5, 7, 1})
	if err := e.store.SetSendAs(ctx, bob, "alice@example.test", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.test", nil); err != nil {
		t.Fatalf("send-as refused: %v", err)
	}
	if err := c.Rcpt("carol@example.test", nil); err != nil {
		t.Fatal(err)
	}
}
