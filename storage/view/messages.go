package view

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// Every method here takes the folder's mailbox ID (Folder.ID), checks the
// rights it needs on it (RFC 4314 4), and makes the storage call as the
// viewer (its own \Seen, storage.Query.Viewer).

// Status counts a folder as the viewer sees it (needs "r").
func (v *View) Status(ctx context.Context, id storage.MailboxID) (storage.MailboxStatus, error) {
	if _, err := v.need(ctx, id, acl.Of(acl.Read)); err != nil {
		return storage.MailboxStatus{}, err
	}
	return v.st.Status(ctx, id, v.acct.ID)
}

// Messages returns messages of a folder with the viewer's \Seen (needs
// "r"). q.Viewer is set by the view.
func (v *View) Messages(ctx context.Context, id storage.MailboxID, q storage.Query) ([]storage.Message, error) {
	if _, err := v.need(ctx, id, acl.Of(acl.Read)); err != nil {
		return nil, err
	}
	q.Viewer = v.acct.ID
	return v.st.Messages(ctx, id, q)
}

// Vanished returns UIDs expunged since a modseq (needs "r").
func (v *View) Vanished(ctx context.Context, id storage.MailboxID, since storage.ModSeq, uids storage.UIDSet) ([]storage.UID, error) {
	if _, err := v.need(ctx, id, acl.Of(acl.Read)); err != nil {
		return nil, err
	}
	return v.st.Vanished(ctx, id, since, uids)
}

// SearchText searches the full-text index of a folder (needs "r").
func (v *View) SearchText(ctx context.Context, id storage.MailboxID, field, query string) ([]storage.UID, error) {
	if _, err := v.need(ctx, id, acl.Of(acl.Read)); err != nil {
		return nil, err
	}
	return v.st.SearchText(ctx, id, field, query)
}

// OpenBlob opens the content of a message of folder id (needs "r"). blob
// must come from a Messages result of that folder: blobs are content
// addressed, and the view answers for the folder, not for the hash.
func (v *View) OpenBlob(ctx context.Context, id storage.MailboxID, blob storage.BlobID) (storage.Blob, error) {
	if _, err := v.need(ctx, id, acl.Of(acl.Read)); err != nil {
		return nil, err
	}
	return v.st.OpenBlob(ctx, blob)
}

// flagRights returns the rights changing each class of flags in flags
// needs: "s" for \Seen, "t" for \Deleted, "w" for the others.
func flagRights(flags []string) acl.Rights {
	var r acl.Rights
	for _, f := range flags {
		switch {
		case strings.EqualFold(f, storage.FlagSeen):
			r |= acl.Of(acl.Seen)
		case strings.EqualFold(f, storage.FlagDeleted):
			r |= acl.Of(acl.DeleteMessages)
		case strings.EqualFold(f, `\Recent`):
		default:
			r |= acl.Of(acl.Write)
		}
	}
	return r
}

// keepFor returns the flag classes a viewer with rights r may not change.
func keepFor(r acl.Rights) storage.FlagKeep {
	var k storage.FlagKeep
	if !r.Has(acl.Of(acl.Seen)) {
		k |= storage.KeepSeen
	}
	if !r.Has(acl.Of(acl.DeleteMessages)) {
		k |= storage.KeepDeleted
	}
	if !r.Has(acl.Of(acl.Write)) {
		k |= storage.KeepOther
	}
	return k
}

// allowedFlags drops the flags rights r may not set.
func allowedFlags(flags []string, r acl.Rights) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if r.Has(flagRights([]string{f})) {
			out = append(out, f)
		}
	}
	return out
}

// StoreFlags changes flags (RFC 4314 4: "s" for \Seen, "t" for \Deleted,
// "w" for the others). Flags the viewer may not change are left as they
// are; when it may change none of those named (or, for a replace, none at
// all), the error is storage.ErrPermission. The viewer's \Seen is its own.
func (v *View) StoreFlags(ctx context.Context, id storage.MailboxID, u storage.FlagUpdate) (storage.FlagResult, error) {
	c, err := v.need(ctx, id, 0)
	if err != nil {
		return storage.FlagResult{}, err
	}
	want := flagRights(u.Flags)
	if u.Op == storage.FlagsReplace {
		want = acl.Of(acl.Seen, acl.DeleteMessages, acl.Write)
	}
	if want != 0 && !c.rights.Any(want) {
		return storage.FlagResult{}, fmt.Errorf("store flags needs %q: %w", want, storage.ErrPermission)
	}
	u.Viewer = v.acct.ID
	u.Keep |= keepFor(c.rights)
	return v.st.StoreFlags(ctx, id, u)
}

// Expunge removes messages (needs "e").
func (v *View) Expunge(ctx context.Context, id storage.MailboxID, uids []storage.UID) ([]storage.UID, error) {
	if _, err := v.need(ctx, id, acl.Of(acl.Expunge)); err != nil {
		return nil, err
	}
	return v.st.Expunge(ctx, id, uids)
}

// Copy copies messages from src (needs "r") into dst (needs "i"); the
// copies count against dst's owner's quota.
func (v *View) Copy(ctx context.Context, src storage.MailboxID, uids storage.UIDSet, dst storage.MailboxID) (storage.CopyResult, error) {
	if _, err := v.need(ctx, src, acl.Of(acl.Read)); err != nil {
		return storage.CopyResult{}, err
	}
	if _, err := v.need(ctx, dst, acl.Of(acl.Insert)); err != nil {
		return storage.CopyResult{}, err
	}
	return v.st.Copy(ctx, src, uids, dst, v.acct.ID)
}

// Move moves messages from src (needs "r", "t" and "e": RFC 6851 3.3, a
// move is a copy, a \Deleted and an expunge) into dst (needs "i").
func (v *View) Move(ctx context.Context, src storage.MailboxID, uids storage.UIDSet, dst storage.MailboxID) (storage.CopyResult, error) {
	if _, err := v.need(ctx, src, acl.Of(acl.Read, acl.DeleteMessages, acl.Expunge)); err != nil {
		return storage.CopyResult{}, err
	}
	if _, err := v.need(ctx, dst, acl.Of(acl.Insert)); err != nil {
		return storage.CopyResult{}, err
	}
	return v.st.Move(ctx, src, uids, dst, v.acct.ID)
}

// Append stores a spooled message (ingest.Spool) in a folder through the
// write path (storage/ingest), as the viewer: it needs "i"; flags the
// viewer may not set ("s", "t", "w") are dropped (RFC 4314 4). The message
// counts against the folder's owner's quota. The result's error is the
// target's (storage.ErrOverQuota, ...). As with ingest.Append, a blob
// nothing stores is discarded.
func (v *View) Append(ctx context.Context, id storage.MailboxID, ref storage.BlobRef, flags []string, date time.Time) (storage.Delivered, error) {
	c, err := v.need(ctx, id, acl.Of(acl.Insert))
	if err != nil {
		ingest.Discard(ctx, v.st, ref.ID)
		return storage.Delivered{}, err
	}
	return ingest.Append(ctx, v.st, ref, storage.Target{
		Account: c.owner, Mailbox: id, Flags: allowedFlags(flags, c.rights), InternalDate: date, Viewer: v.acct.ID,
	})
}

// AppendMessage is one message of AppendAll: a spooled blob
// (ingest.Spool), its flags and internal date (zero: now).
type AppendMessage struct {
	Ref   storage.BlobRef
	Flags []string
	Date  time.Time
}

// AppendAll stores several spooled messages in a folder in one
// transaction, all or none (IMAP MULTIAPPEND, RFC 3502), through the write
// path (ingest.DeliverAll), as Append does each: it needs "i", drops the
// flags the viewer may not set, counts the messages together against the
// folder's owner's quota. It returns one Delivered per message, in order.
// On any error nothing is stored and every blob is discarded; a refusal is
// a *storage.DeliveryError wrapping its reason (storage.ErrOverQuota, ...).
func (v *View) AppendAll(ctx context.Context, id storage.MailboxID, msgs []AppendMessage) ([]storage.Delivered, error) {
	c, err := v.need(ctx, id, acl.Of(acl.Insert))
	if err != nil {
		for _, m := range msgs {
			ingest.Discard(ctx, v.st, m.Ref.ID)
		}
		return nil, err
	}
	items := make([]ingest.Item, len(msgs))
	for i, m := range msgs {
		items[i] = ingest.Item{Ref: m.Ref, Targets: []storage.Target{{
			Account: c.owner, Mailbox: id, Flags: allowedFlags(m.Flags, c.rights), InternalDate: m.Date, Viewer: v.acct.ID,
		}}}
	}
	res, err := ingest.DeliverAll(ctx, v.st, items)
	if err != nil {
		return nil, err
	}
	out := make([]storage.Delivered, len(res))
	for i, r := range res {
		out[i] = r[0]
	}
	return out, nil
}

// CanAppend checks "i" on a folder without storing anything (IMAP checks
// before the client sends the message).
func (v *View) CanAppend(ctx context.Context, id storage.MailboxID) error {
	_, err := v.need(ctx, id, acl.Of(acl.Insert))
	return err
}

// CanPost reports whether the viewer may have mail delivered into a
// folder ("p", or "i"): SMTP delivery to a "+folder" address or a rule
// target in someone else's folder asks this. storage.ErrNoMailbox or
// storage.ErrPermission when not.
func (v *View) CanPost(ctx context.Context, id storage.MailboxID) error {
	c, err := v.need(ctx, id, 0)
	if err != nil {
		return err
	}
	if !c.rights.Any(acl.Of(acl.Post, acl.Insert)) {
		return fmt.Errorf("posting needs %q or %q: %w", "p", "i", storage.ErrPermission)
	}
	return nil
}

// Metadata rights (RFC 5464 3.2, 4): reading entries of a folder needs "l"
// and "r"; writing private entries the same, writing shared entries also
// "w".

// GetMetadata returns entries of folder id visible to the viewer (its
// private ones and the shared ones; needs "lr").
func (v *View) GetMetadata(ctx context.Context, id storage.MailboxID, prefixes []string, depth int) ([]storage.MetadataEntry, error) {
	if _, err := v.need(ctx, id, acl.Of(acl.Read)); err != nil {
		return nil, err
	}
	return v.st.GetMetadata(ctx, v.acct.ID, id, prefixes, depth)
}

// SetMetadata sets entries of folder id (needs "lr", and "w" for
// /shared/ entries).
func (v *View) SetMetadata(ctx context.Context, id storage.MailboxID, entries []storage.MetadataEntry) error {
	need := acl.Of(acl.Read)
	for _, e := range entries {
		if strings.HasPrefix(strings.ToLower(e.Name), "/shared/") {
			need |= acl.Of(acl.Write)
		}
	}
	if _, err := v.need(ctx, id, need); err != nil {
		return err
	}
	if v.acct.ID == 0 {
		return fmt.Errorf("anonymous: %w", storage.ErrPermission)
	}
	return v.st.SetMetadata(ctx, v.acct.ID, id, entries)
}

// Quota returns the account whose quota a folder counts against (its
// owner) and its usage (needs "l").
func (v *View) Quota(ctx context.Context, id storage.MailboxID) (storage.Account, storage.Usage, error) {
	c, err := v.need(ctx, id, 0)
	if err != nil {
		return storage.Account{}, storage.Usage{}, err
	}
	a, err := v.st.AccountByID(ctx, c.owner)
	if err != nil {
		return a, storage.Usage{}, err
	}
	u, err := v.st.Usage(ctx, c.owner)
	return a, u, err
}
