package view

import (
	"context"
	"slices"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// Watch is the viewer's stream of the changes of one folder (an IMAP
// session's selected folder, a DAV sync): every change, by the owner or
// anybody else, in commit order, with flags as the viewer sees them. It
// is used by one goroutine.
type Watch struct {
	v     *View
	mbox  storage.MailboxID
	owner storage.AccountID
	own   bool
	sub   storage.Subscription
}

// Watch subscribes to the changes of folder id (needs "r"). Subscribe
// before reading the folder, so that nothing committed in between is
// missed (a change may then repeat what the read returned).
func (v *View) Watch(ctx context.Context, id storage.MailboxID) (*Watch, error) {
	c, err := v.need(ctx, id, acl.Of(acl.Read))
	if err != nil {
		return nil, err
	}
	return &Watch{v: v, mbox: id, owner: c.owner, own: c.owner == v.acct.ID && v.acct.ID != 0, sub: v.st.SubscribeMailbox(id)}, nil
}

// Mailbox returns the watched mailbox.
func (w *Watch) Mailbox() storage.MailboxID { return w.mbox }

// Ready is signalled (coalesced) when changes are waiting.
func (w *Watch) Ready() <-chan struct{} { return w.sub.Ready() }

// Close ends the watch. It is idempotent.
func (w *Watch) Close() { w.sub.Close() }

// Next returns the waiting changes as the viewer sees them, in commit
// order: another viewer's own \Seen (Change.Viewer set to someone else)
// is left out, and for a viewer that is not the owner, the \Seen in Flags
// is its own (read back in one query for the batch). It never blocks
// waiting for changes. On error the changes are lost; the caller should
// re-read the folder (an IMAP session ends).
func (w *Watch) Next(ctx context.Context) ([]storage.Change, error) {
	cs := w.sub.Next()
	if len(cs) == 0 {
		return nil, nil
	}
	me := w.v.acct.ID
	out := cs[:0]
	var fix []storage.UID
	for _, c := range cs {
		if c.Viewer != 0 && (c.Viewer != me || me == 0) {
			continue
		}
		if !w.own && c.Viewer == 0 && (c.Kind == storage.ChangeFlags || c.Kind == storage.ChangeMessageAdded) {
			fix = append(fix, c.UID)
		}
		out = append(out, c)
	}
	if len(fix) == 0 {
		return out, nil
	}
	slices.Sort(fix)
	fix = slices.Compact(fix)
	var set storage.UIDSet
	for _, u := range fix {
		if n := len(set); n > 0 && set[n-1].Stop+1 == u {
			set[n-1].Stop = u
			continue
		}
		set = append(set, storage.UIDRange{Start: u, Stop: u})
	}
	msgs, err := w.v.st.Messages(ctx, w.mbox, storage.Query{UIDs: set, Viewer: me})
	if err != nil {
		return nil, err
	}
	seen := make(map[storage.UID]bool, len(msgs))
	for _, m := range msgs {
		seen[m.UID] = slices.Contains(m.Flags, storage.FlagSeen)
	}
	for i := range out {
		c := &out[i]
		if c.Viewer != 0 || (c.Kind != storage.ChangeFlags && c.Kind != storage.ChangeMessageAdded) {
			continue
		}
		flags := slices.DeleteFunc(c.Flags, func(f string) bool { return f == storage.FlagSeen })
		if seen[c.UID] {
			flags = append(flags, storage.FlagSeen)
			slices.Sort(flags)
		}
		c.Flags = flags
	}
	return out, nil
}
