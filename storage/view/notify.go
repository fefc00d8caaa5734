package view

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// The information mail (SPEC §7, the seed's "Someone is sharing his/her
// folder or account to you"): when a change gives someone (an account, or
// each member of a group) rights they did not have on a folder or an
// account root, and they may see it ("l"), Floe delivers a short mail to
// their INBOX through the write path, saying who shared what, the rights
// in words and how to open it, with a machine-readable header:
//
//	X-Floe-Share: owner=jane@example.test; scope=folder; folder="Calendar"; rights=lrs; name="~jane@example.test/Calendar"
//
// scope is "folder" or "account" (then folder is ""), rights the
// recipient's effective rights as RFC 4314 letters, name the folder's (or
// the account's) name in the recipient's IMAP folder list. When the
// folder was not visible to the recipient before, it is subscribed for
// them at once, with its subfolders (for an account: every folder they can
// now see), so that clients showing subscribed folders show it;
// unsubscribing declines it, subscribing brings it back.
//
// Nobody is informed of grants to anyone, authenticated or a domain, of a
// right taken away, or of a change to their own folders. Failures are
// logged and never undo the change.

// HeaderShare is the machine-readable header of the information mail.
const HeaderShare = "X-Floe-Share"

// notify informs the people whose rights on (owner, before.Mailbox)
// changed between before and after.
func notify(ctx context.Context, st storage.Store, opts *Options, owner storage.Account, before, after storage.ACL) {
	log := opts.logger()
	persons := map[acl.Identifier]bool{}
	same := func(es []acl.Entry, e acl.Entry) bool { return slices.Contains(es, e) }
	for _, e := range after.Entries {
		if e.Identifier.IsPerson() && !same(before.Entries, e) {
			persons[e.Identifier] = true
		}
	}
	for _, e := range before.Entries {
		if e.Identifier.IsPerson() && !same(after.Entries, e) {
			persons[e.Identifier] = true
		}
	}
	if len(persons) == 0 {
		return
	}
	var rcpts []string
	for id := range persons {
		if g, err := st.Group(ctx, string(id)); err == nil {
			rcpts = append(rcpts, g.Members...)
		} else {
			rcpts = append(rcpts, string(id))
		}
	}
	slices.Sort(rcpts)
	rcpts = slices.Compact(rcpts)

	path := ""
	if after.Mailbox != storage.RootMailbox {
		mb, err := st.MailboxByID(ctx, after.Mailbox)
		if err != nil {
			log.Warn("information mail: folder gone", "mailbox", after.Mailbox, "err", err)
			return
		}
		path = mb.Name
	}
	for _, rcpt := range rcpts {
		if rcpt == owner.Address {
			continue
		}
		if err := informOne(ctx, st, opts, owner, path, before, after, rcpt); err != nil {
			log.Warn("information mail not delivered", "to", rcpt, "owner", owner.Address, "folder", path, "err", err)
		}
	}
}

func informOne(ctx context.Context, st storage.Store, opts *Options, owner storage.Account, path string, before, after storage.ACL, rcpt string) error {
	acct, err := st.Account(ctx, rcpt)
	if err != nil {
		return nil // an identifier naming nobody (yet): nobody to inform
	}
	if acct.Disabled {
		return nil
	}
	groups, err := st.MemberOf(ctx, rcpt)
	if err != nil {
		return err
	}
	p := acl.Principal{Address: acct.Address, Groups: groups}
	rb, ra := acl.Evaluate(before.Entries, p), acl.Evaluate(after.Entries, p)
	if ra == rb || !ra.Has(acl.Of(acl.Lookup)) {
		return nil
	}
	public := strings.HasPrefix(owner.Address, "@")
	if public && owner.Address[1:] != p.Domain() {
		return nil // another domain's public folders are not visible
	}
	name := OtherPrefix + owner.Address
	if public {
		name = strings.TrimSuffix(PublicPrefix, "/")
	}
	if path != "" {
		if public {
			name = PublicPrefix + path
		} else {
			name += string(Delimiter) + path
		}
	}
	msg := composeShare(opts, owner, acct, path, name, ra, rb.Has(acl.Of(acl.Lookup)))
	if _, d, err := ingest.Put(ctx, st, bytes.NewReader(msg), storage.Target{Account: acct.ID, MailboxName: "INBOX", IgnoreQuota: true}); err != nil {
		return err
	} else if d.Err != nil {
		return d.Err
	}
	if rb.Has(acl.Of(acl.Lookup)) {
		return nil // was visible: a change of rights does not undo a decline
	}
	// Subscribe what became visible.
	rv, err := New(ctx, st, acct.ID, Options{NoNotify: true})
	if err != nil {
		return err
	}
	folders, err := rv.List(ctx)
	if err != nil {
		return err
	}
	for _, f := range folders {
		if f.Mailbox.Account != owner.ID || f.Subscribed {
			continue
		}
		if path != "" && f.Path != path && !strings.HasPrefix(f.Path, path+string(Delimiter)) {
			continue
		}
		if err := st.SetSubscription(ctx, acct.ID, f.Name, true); err != nil {
			return err
		}
	}
	return nil
}

// composeShare writes the information mail. The owner and the recipient
// are named by their display names when they have one ("Jane Doe
// (jane@example.test) has shared ...", From: "Jane Doe"
// <jane@example.test>).
func composeShare(opts *Options, ownerAcct, rcptAcct storage.Account, path, name string, rights acl.Rights, changed bool) []byte {
	now := opts.now()
	host := opts.Hostname
	if host == "" {
		host = "localhost"
	}
	owner, rcpt := ownerAcct.Address, rcptAcct.Address
	public := strings.HasPrefix(owner, "@")
	from := (&mail.Address{Name: ownerAcct.Name, Address: owner}).String()
	who := owner
	if ownerAcct.Name != "" {
		who = ownerAcct.Name + " (" + owner + ")"
	}
	if public {
		from = "<postmaster" + owner + ">"
		who = "The administrator of " + owner[1:]
	}
	var what, scope string
	switch {
	case path == "":
		scope, what = "account", "the whole account "+owner
	case public:
		scope, what = "folder", fmt.Sprintf("the public folder %q", path)
	default:
		scope, what = "folder", fmt.Sprintf("the folder %q", path)
	}
	subject := fmt.Sprintf("%s shared %s with you", who, what)
	first := fmt.Sprintf("%s has shared %s with you.", who, what)
	if changed {
		subject = fmt.Sprintf("Your access to %s of %s has changed", what, owner)
		first = fmt.Sprintf("%s has changed your access to %s.", who, what)
	}
	if public {
		subject = strings.Replace(subject, " of "+owner, "", 1)
		if !changed {
			subject = fmt.Sprintf("The public folder %q was shared with you", path)
		}
	}

	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from)
	hdr("To", (&mail.Address{Name: rcptAcct.Name, Address: rcpt}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<share."+randomID()+"@"+host+">")
	hdr("Auto-Submitted", "auto-generated")
	hdr(HeaderShare, fmt.Sprintf("owner=%s; scope=%s; folder=%s; rights=%s; name=%s",
		owner, scope, quoteParam(path), rights, quoteParam(name)))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	line := func(s string) { b.WriteString(s + "\r\n") }
	line(first)
	line("")
	line(fmt.Sprintf("Your rights: %s (%s).", acl.Describe(rights), acl.Words(rights)))
	line("")
	if path == "" {
		line(fmt.Sprintf("Its folders are in your folder list under %q.", name+string(Delimiter)))
	} else {
		line(fmt.Sprintf("It is in your folder list as %q.", name))
	}
	if !changed {
		line("It is subscribed for you, so Outlook, Thunderbird and other mail")
		line("programs show it. To decline it, unsubscribe it in your mail program;")
		line("subscribe to it again to bring it back.")
	}
	return b.Bytes()
}

// quoteParam writes s as a header parameter value: a quoted string with
// backslash and double quote escaped.
func quoteParam(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "").Replace(s) + `"`
}

func randomID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("%x", time.Now().UnixNano())
	}
	return hex.EncodeToString(b[:])
}

// MemberAdded informs member, just added to group, of what the group's
// ACL entries now let it see (the information mail, and the subscription
// of what became visible), as if each folder or account shared with the
// group had been shared with member itself: joining a group gives rights
// one did not have (docs/sharing.md). One mail per ACL that names the
// group (a folder's own ACL, or an account root's for a shared account),
// not per folder inheriting it. Failures are logged and returned; the
// membership stays.
func (a *Admin) MemberAdded(ctx context.Context, group, member string) error {
	if a.opts.NoNotify {
		return nil
	}
	acct, err := a.st.Account(ctx, member)
	if err != nil {
		return nil // not an account: nobody to inform
	}
	shared, err := a.st.SharedMailboxes(ctx, acct.ID, []acl.Identifier{acl.Identifier(group)})
	if err != nil {
		return err
	}
	type source struct {
		owner storage.AccountID
		from  storage.MailboxID
	}
	seen := map[source]bool{}
	var firstErr error
	for _, sm := range shared {
		eff, err := a.st.GetACL(ctx, sm.Account, sm.ID)
		if err != nil {
			firstErr = cmpErr(firstErr, err)
			continue
		}
		src := source{sm.Account, eff.From}
		if seen[src] {
			continue
		}
		seen[src] = true
		after, err := a.st.GetACL(ctx, sm.Account, eff.From)
		if err != nil {
			firstErr = cmpErr(firstErr, err)
			continue
		}
		before := after
		before.Entries = slices.DeleteFunc(slices.Clone(after.Entries), func(e acl.Entry) bool {
			return e.Identifier == acl.Identifier(group)
		})
		owner, err := a.st.AccountByID(ctx, sm.Account)
		if err != nil {
			firstErr = cmpErr(firstErr, err)
			continue
		}
		path := ""
		if eff.From != storage.RootMailbox {
			mb, err := a.st.MailboxByID(ctx, eff.From)
			if err != nil {
				firstErr = cmpErr(firstErr, err)
				continue
			}
			path = mb.Name
		}
		if err := informOne(ctx, a.st, &a.opts, owner, path, before, after, acct.Address); err != nil {
			a.opts.logger().Warn("information mail not delivered", "to", acct.Address, "owner", owner.Address, "folder", path, "group", group, "err", err)
			firstErr = cmpErr(firstErr, err)
		}
	}
	return firstErr
}

// cmpErr keeps the first error.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
