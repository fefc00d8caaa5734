package imap

import (
	"slices"
	"strings"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

func TestParseNotify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		bad  bool // BAD
		want func(*notifySpec) bool
	}{
		{in: "NONE", want: func(n *notifySpec) bool { return !n.active() }},
		{in: "SET (selected (MessageNew MessageExpunge))", want: func(n *notifySpec) bool {
			return n.selected == evMessageNew|evMessageExpunge && !n.delayed && len(n.groups) == 0
		}},
		{in: "set status (SELECTED-DELAYED (messagenew messageexpunge flagchange)) (inboxes (MessageNew MessageExpunge))",
			want: func(n *notifySpec) bool {
				return n.status && n.delayed && n.selected == evMessageNew|evMessageExpunge|evFlagChange &&
					len(n.groups) == 1 && n.groups[0].kind == filterPersonal
			}},
		{in: `SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From To Subject)]) MessageExpunge)) (subtree Lists MessageNew MessageExpunge)`,
			bad: true}, // events must be a list
		{in: `SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From To Subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))`,
			want: func(n *notifySpec) bool {
				return len(n.fetch) == 2 && len(n.groups) == 1 && n.groups[0].kind == filterSubtree && n.groups[0].names[0] == "Lists"
			}},
		{in: `SET (mailboxes (INBOX "a b" inbox/x) (MailboxName SubscriptionChange MailboxMetadataChange)) (personal NONE) (subscribed (ServerMetadataChange))`,
			want: func(n *notifySpec) bool {
				return len(n.groups) == 3 && strings.Join(n.groups[0].names, "|") == "INBOX|a b|INBOX/x" &&
					n.groups[1].none && n.groups[2].kind == filterSubscribed && n.groups[2].events == evServerMetadataChange
			}},
		{in: "SET (personal (MessageNew MessageExpunge AnnotationChange))", want: func(n *notifySpec) bool {
			return n.groups[0].events&evAnnotationChange != 0 // refused later with BADEVENT
		}},
		{in: "SET (personal (FutureEvent))", want: func(n *notifySpec) bool { return n.groups[0].events&evUnknown != 0 }},

		// Other mailboxes take any combination (as Dovecot 2.3).
		{in: "SET (personal (MessageExpunge))", want: func(n *notifySpec) bool { return n.groups[0].events == evMessageExpunge }},
		{in: "SET (personal (FlagChange))", want: func(n *notifySpec) bool { return n.groups[0].events == evFlagChange }},

		// RFC 5465 5 and 6.1: BAD.
		{in: "SET (selected (MessageNew))", bad: true},
		{in: "SET (selected (MessageExpunge))", bad: true},
		{in: "SET (selected (FlagChange))", bad: true},
		{in: "SET (selected (MessageNew FlagChange))", bad: true},
		{in: "SET (selected (MailboxName))", bad: true},
		{in: "SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))", bad: true},
		{in: "SET (personal (MessageNew (UID) MessageExpunge))", bad: true}, // fetch-att only for SELECTED
		{in: "SET (selected (MessageNew (BODY[]) MessageExpunge))", bad: true},
		{in: "SET (selected (MessageNew () MessageExpunge))", bad: true},
		{in: "SET (personal ())", bad: true},
		{in: "SET (personal)", bad: true},
		{in: "SET (mailboxes () (MailboxName))", bad: true},
		{in: "SET (nowhere (MailboxName))", bad: true},
		{in: "SET", bad: true},
		{in: "SET STATUS", bad: true},
		{in: "GET (personal (MailboxName))", bad: true},
	}
	for _, tc := range tests {
		d := searchDecoder(tc.in)
		spec, err := parseNotify(d)
		if err == nil {
			err = d.CRLF()
		}
		if tc.bad {
			re, ok := err.(*respError)
			if !ok || re.kind != "BAD" {
				t.Errorf("%q: got %v, want BAD", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !tc.want(spec) {
			t.Errorf("%q: parsed as %+v", tc.in, spec)
		}
	}
}

func FuzzNotify(f *testing.F) {
	for _, s := range []string{
		"NONE",
		"SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From To Subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))",
		"SET (selected-delayed (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange))",
		`SET (mailboxes (INBOX "a b" {3}` + "\r\nx/y) NONE) (subscribed (MailboxName))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d := searchDecoder(in)
		spec, err := parseNotify(d)
		if err != nil {
			if _, ok := err.(*respError); !ok && d.ioErr == nil {
				t.Fatalf("non-protocol error: %v", err)
			}
			return
		}
		if spec.selected&^evMessage != 0 {
			t.Fatalf("non-message events for the selected mailbox: %+v", spec)
		}
	})
}

// next reads the next response line that is not "* n RECENT" (IMAP4rev1
// sessions get one with each EXISTS) and fails unless it starts with
// prefix.
func (c *rawConn) next(prefix string) string {
	c.t.Helper()
	for {
		line := c.readLine()
		if strings.HasPrefix(line, "* ") && strings.HasSuffix(line, " RECENT") {
			continue
		}
		if !strings.HasPrefix(line, prefix) {
			c.t.Fatalf("got %q, want prefix %q", line, prefix)
		}
		return line
	}
}

// notifyConn logs in, sets NOTIFY and returns the connection.
func notifyConn(t *testing.T, env *testEnv, set string) *rawConn {
	t.Helper()
	c := env.rawLogin(t)
	c.cmd("n", "NOTIFY "+set, "OK")
	return c
}

// TestNotifyStatusIndicator: NOTIFY SET STATUS sends the STATUS of each
// watched mailbox (not the selected one) before the tagged OK, with the
// items RFC 5465 3.1 names for the events (RFC 5465 3.1).
func TestNotifyStatusIndicator(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.deliverTo(t, testUser, "Archive", testMessage("archived"))
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	lines := c.cmd("n1", "NOTIFY SET STATUS (mailboxes (Archive INBOX Nowhere) (MessageNew MessageExpunge))", "OK")
	mb, err := env.store.Mailbox(t.Context(), env.accts[testUser].ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	want := `* STATUS "Archive" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ` + itoa(int(mb.UIDValidity)) + ")"
	if len(lines) != 2 || lines[0] != want {
		t.Fatalf("NOTIFY SET STATUS: %q, want %q (and no STATUS for the selected INBOX)", lines, want)
	}
	lines = c.cmd("n2", "NOTIFY SET STATUS (mailboxes Archive (MessageNew MessageExpunge FlagChange))", "OK")
	if !strings.HasPrefix(lines[0], `* STATUS "Archive" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY `) || !strings.Contains(lines[0], " HIGHESTMODSEQ ") {
		t.Fatalf("with FlagChange: %q", lines)
	}
	lines = c.cmd("n3", "NOTIFY SET (mailboxes Archive (MessageNew MessageExpunge))", "OK")
	if len(lines) != 1 {
		t.Fatalf("without STATUS: %q", lines)
	}
	c.cmd("n4", "NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))",
		"NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)]")
	c.cmd("n5", "NOTIFY SET (selected (MessageNew))", "BAD")
	// Other mailboxes take any combination; each event names its items.
	lines = c.cmd("n6", "NOTIFY SET STATUS (mailboxes Archive (MessageExpunge))", "OK")
	if lines[0] != `* STATUS "Archive" (MESSAGES 1)` {
		t.Fatalf("MessageExpunge alone: %q", lines)
	}
}

// TestNotifyBetweenCommands: with NOTIFY SET, events come while no command
// is in progress: the selected mailbox's EXISTS, FETCH and EXPUNGE
// (SELECTED), STATUS for other mailboxes, LIST for mailbox and
// subscription changes, METADATA for metadata changes (RFC 5465 3.1, 5).
func TestNotifyBetweenCommands(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("one"))
	c := env.rawLogin(t)
	c.cmd("e", "ENABLE CONDSTORE", "OK")
	c.cmd("s", "SELECT INBOX", "OK")
	c.cmd("n", "NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) "+
		"(personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange))", "OK")
	other := env.rawLogin(t)
	other.cmd("s", "SELECT INBOX", "OK")

	env.deliver(t, testUser, testMessage("two"))
	c.next("* 2 EXISTS")
	other.cmd("a", "NOOP", "OK")
	other.cmd("b", `STORE 1 +FLAGS (\Flagged)`, "OK")
	if l := c.next("* 1 FETCH ("); !strings.Contains(l, `\Flagged`) || !strings.Contains(l, "MODSEQ") {
		t.Fatalf("flag change: %q", l)
	}
	other.cmd("c", `STORE 2 +FLAGS (\Deleted)`, "OK")
	c.next("* 2 FETCH (")
	other.cmd("d", "EXPUNGE", "OK")
	c.next("* 2 EXPUNGE")

	env.deliverTo(t, testUser, "Archive", testMessage("archived"))
	if l := c.next(`* STATUS "Archive" (`); !strings.Contains(l, "MESSAGES 1 UIDNEXT 2 UNSEEN 1 HIGHESTMODSEQ ") {
		t.Fatalf("new message elsewhere: %q", l)
	}
	other.cmd("cr", "CREATE Projects/Alpha", "OK")
	// Projects/Alpha, its direct parent, and Projects created as a
	// superior; the parent's LIST tells the state when it is written,
	// before or after Projects was created.
	got := []string{c.next("* LIST"), c.next("* LIST"), c.next("* LIST")}
	slices.Sort(got)
	if !slices.Equal(got, []string{`* LIST (\HasChildren) "/" "Projects"`, `* LIST (\HasChildren) "/" "Projects"`,
		`* LIST (\HasNoChildren) "/" "Projects/Alpha"`}) && !slices.Equal(got, []string{`* LIST (\HasChildren) "/" "Projects"`,
		`* LIST (\HasNoChildren) "/" "Projects/Alpha"`, `* LIST (\NonExistent \HasChildren) "/" "Projects"`}) {
		t.Fatalf("CREATE Projects/Alpha: %q", got)
	}
	other.cmd("rn", "RENAME Projects Work", "OK")
	c.next(`* LIST (\HasChildren) "/" "Work" ("OLDNAME" ("Projects"))`)
	other.cmd("sb", "SUBSCRIBE Work", "OK")
	c.next(`* LIST (\HasChildren \Subscribed) "/" "Work"`)
	other.cmd("dl", "DELETE Work/Alpha", "OK")
	c.next(`* LIST (\NonExistent \HasNoChildren) "/" "Work/Alpha"`)
	c.next(`* LIST (\HasNoChildren \Subscribed) "/" "Work"`)
	other.cmd("md", `SETMETADATA Archive (/private/comment "hello")`, "OK")
	c.next(`* METADATA "Archive" "/private/comment"`)
	other.cmd("ms", `SETMETADATA "" (/shared/comment "server")`, "OK")
	c.next(`* METADATA "" "/shared/comment"`)

	// This session's own changes are not echoed (RFC 5465 5).
	lines := c.cmd("own", "CREATE Mine", "OK")
	if len(lines) != 1 {
		t.Fatalf("own CREATE echoed: %q", lines)
	}
	lines = c.cmd("own2", `SETMETADATA Mine (/private/x "1")`, "OK")
	if len(lines) != 1 {
		t.Fatalf("own SETMETADATA echoed: %q", lines)
	}

	// NOTIFY NONE: nothing more between commands; the selected mailbox's
	// updates come with the next command, as without NOTIFY.
	c.cmd("none", "NOTIFY NONE", "OK")
	env.deliver(t, testUser, testMessage("three"))
	env.deliverTo(t, testUser, "Archive", testMessage("archived 2"))
	lines = c.cmd("noop", "NOOP", "OK")
	if !hasLine(lines, "* 2 EXISTS") || hasLine(lines, "* STATUS") {
		t.Fatalf("after NOTIFY NONE: %q", lines)
	}
}

// TestNotifySelectedDelayed: SELECTED-DELAYED sends new messages at once
// but keeps expunges for a command that allows them (RFC 5465 6.1.2);
// without SELECTED the selected mailbox is served as without NOTIFY.
func TestNotifySelectedDelayed(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("one"))
	env.deliver(t, testUser, testMessage("two"))
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	c.cmd("n", "NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) (mailboxes Archive (MessageNew MessageExpunge))", "OK")
	expungeUIDs(t, env, 1)
	env.deliver(t, testUser, testMessage("three"))
	c.next("* 3 EXISTS") // the expunge is held back
	lines := c.cmd("f", "FETCH 1:3 (UID)", "OK")
	if hasLine(lines, "* 1 EXPUNGE") {
		t.Fatalf("EXPUNGE during FETCH: %q", lines)
	}
	lines = c.cmd("noop", "NOOP", "OK")
	if !hasLine(lines, "* 1 EXPUNGE") {
		t.Fatalf("NOOP: %q", lines)
	}

	// Without SELECTED: a new message in the selected mailbox waits for a
	// command; the Archive marker shows the server has seen it.
	c.cmd("n2", "NOTIFY SET (mailboxes Archive (MessageNew MessageExpunge))", "OK")
	env.deliver(t, testUser, testMessage("four"))
	env.deliverTo(t, testUser, "Archive", testMessage("marker"))
	c.next(`* STATUS "Archive" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)`)
	lines = c.cmd("noop2", "NOOP", "OK")
	if !hasLine(lines, "* 3 EXISTS") {
		t.Fatalf("NOOP after the marker: %q", lines)
	}
}

// TestNotifyFetchNew: MessageNew with fetch attributes sends them after
// the EXISTS of a new message (RFC 5465 5.2).
func TestNotifyFetchNew(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	c.cmd("n", "NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge))", "OK")
	uid := env.deliver(t, testUser, testMessage("fetched at once"))
	c.next("* 1 EXISTS")
	l := c.next("* 1 FETCH (UID " + itoa(int(uid)) + " BODY[HEADER.FIELDS (Subject)] {")
	if !strings.Contains(l, "Subject: fetched at once") {
		t.Fatalf("FETCH of the new message: %q", l)
	}
	lines := c.cmd("f", "FETCH 1 FLAGS", "OK")
	if strings.Contains(lines[0], `\Seen`) {
		t.Fatalf("the notification set \\Seen: %q", lines)
	}
}

// TestNotifyIdle: during IDLE the events are exactly NOTIFY's (RFC 5465 4):
// other mailboxes' STATUS, and for the selected mailbox only what SELECTED
// asks for.
func TestNotifyIdle(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	c.cmd("n", "NOTIFY SET (personal (MessageNew MessageExpunge))", "OK")
	c.send("i IDLE")
	c.next("+ ")
	env.deliver(t, testUser, testMessage("held"))
	env.deliverTo(t, testUser, "Junk", testMessage("junk"))
	c.next(`* STATUS "Junk" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)`)
	c.send("DONE")
	lines := c.readUntilTagged("i")
	if !hasLine(lines, "* 1 EXISTS") {
		t.Fatalf("end of IDLE: %q", lines)
	}
}

// TestNotifyOverflow: a batch of changes that needs more responses than
// the server allows is replaced by NOTIFICATIONOVERFLOW and NOTIFY is off
// (RFC 5465 5.8).
func TestNotifyOverflow(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.srv.notifyLimit = 3
	ctx := t.Context()
	acct := env.accts[testUser].ID
	var items []storage.Delivery
	for _, name := range []string{"A", "B", "C", "D", "E"} {
		mb, err := env.store.CreateMailbox(ctx, acct, name, "")
		if err != nil {
			t.Fatal(err)
		}
		raw := testMessage("overflow " + name)
		ref, err := env.store.PutBlob(ctx, strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, storage.Delivery{Ref: ref, Parsed: parseRaw(t, raw), Targets: []storage.Target{{Account: acct, Mailbox: mb.ID}}})
	}
	c := notifyConn(t, env, "SET (personal (MessageNew MessageExpunge))")
	if _, err := env.store.DeliverAll(ctx, items); err != nil { // one batch of five mailboxes
		t.Fatal(err)
	}
	c.next("* OK [NOTIFICATIONOVERFLOW]")
	env.deliverTo(t, testUser, "A", testMessage("after"))
	lines := c.cmd("noop", "NOOP", "OK")
	if hasLine(lines, "* STATUS") {
		t.Fatalf("notifications after the overflow: %q", lines)
	}
}

// parseRaw parses a message as delivery does.
func parseRaw(t *testing.T, raw string) *storage.Parsed {
	t.Helper()
	p, err := mimeparse.Parse(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
