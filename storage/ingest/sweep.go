package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
)

// Attachment files follow their items (docs/files.md, "When attachment
// files are deleted"). A file of an attachment folder (AttachmentFolder:
// a file folder under AttachmentsFolder carrying storage.AttachmentsOfEntry)
// belongs to the items that name it: it is deleted once no current item of
// any calendar folder (event, task, journal, note) of the folder owner's
// account has an ATTACH whose URL names it, whichever way the items went
// (CalDAV DELETE or PUT, IMAP EXPUNGE, MOVE out of the calendars, the
// calendar folder deleted, attachment-remove). A copy of the item in
// another calendar of the same account keeps the file. Items are compared
// by the path of the URL (the account address, folder and file name), not
// its host, so a changed public host name keeps files alive.
//
// Two ways run the rule: the DAV layer's requests that drop attachments
// call ReleaseAttachments at once, and the server's maintenance loop runs
// SweepAttachments for every account (IMAP and folder deletions, which the
// protocol layers do not see as item changes).

// AttachmentGrace is how old a file of an attachment folder must be before
// a sweep may delete it: a managed attachment is stored as a file before
// the item naming it is written, and a sweep between the two must not take
// the file.
const AttachmentGrace = 10 * time.Minute

// attachmentKey is how items and files are matched: the folder path and
// file name, NFC, joined by "/".
func attachmentKey(folder, name string) string {
	return norm.NFC.String(folder) + "/" + norm.NFC.String(name)
}

// urlKey returns the attachmentKey a URL of an ATTACH names in owner's
// WebDAV tree ("<WebDAV URL><owner>/<folder path>/<name>", any host and
// WebDAV path), "" for any other URL.
func urlKey(owner, u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	p := pu.Path
	seg := "/" + strings.ToLower(owner) + "/"
	i := strings.Index(strings.ToLower(p), seg)
	if i < 0 || len(strings.ToLower(p)) != len(p) {
		return ""
	}
	rest := p[i+len(seg):]
	j := strings.LastIndexByte(rest, '/')
	if j <= 0 || j == len(rest)-1 {
		return ""
	}
	return attachmentKey(rest[:j], rest[j+1:])
}

// ItemAttachmentRefs returns the attachmentKeys of the attachment URLs
// that the current items of acct's calendar folders name (every ATTACH
// with a URL into acct's WebDAV tree, managed or not).
func ItemAttachmentRefs(ctx context.Context, st storage.Store, acct storage.AccountID) (map[string]bool, error) {
	owner, err := st.AccountByID(ctx, acct)
	if err != nil {
		return nil, err
	}
	types, err := st.FolderTypes(ctx, acct)
	if err != nil {
		return nil, err
	}
	refs := map[string]bool{}
	for mbox, typ := range types {
		if !item.IsCalendarType(typ) {
			continue
		}
		// Small payloads come with the index; others are read from
		// their messages.
		items, err := st.Items(ctx, mbox, storage.ItemQuery{Data: true})
		if errors.Is(err, storage.ErrNoMailbox) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			data := it.Index.Data
			if data == nil {
				if it.Structure == nil {
					continue
				}
				b, err := st.OpenBlob(ctx, it.Blob)
				if err != nil {
					// A missing body names nothing we can read; keep
					// everything rather than guess.
					return nil, fmt.Errorf("item %d/%d: %w", mbox, it.UID, err)
				}
				data, _, err = item.PayloadOf(it.Structure, it.Header, b)
				b.Close()
				if err != nil {
					continue
				}
			}
			_, atts := item.Attachments(data)
			for _, a := range atts {
				if a.Binary() {
					continue
				}
				if k := urlKey(owner.Address, a.Value); k != "" {
					refs[k] = true
				}
			}
		}
	}
	return refs, nil
}

// attachmentFolder is an attachment folder and the item folder it
// belongs to (storage.AttachmentsOfEntry).
type attachmentFolder struct {
	storage.Mailbox
	of storage.MailboxID
}

// attachmentFolders returns acct's attachment folders (under
// AttachmentsFolder, carrying storage.AttachmentsOfEntry) among mbs.
func attachmentFolders(ctx context.Context, st storage.Store, acct storage.AccountID, mbs []storage.Mailbox) ([]attachmentFolder, error) {
	var out []attachmentFolder
	for _, mb := range mbs {
		if !strings.HasPrefix(mb.Name, AttachmentsFolder+"/") {
			continue
		}
		es, err := st.GetMetadata(ctx, acct, mb.ID, []string{storage.AttachmentsOfEntry}, 0)
		if errors.Is(err, storage.ErrNoMailbox) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(es) == 1 {
			of, _ := strconv.ParseInt(string(es[0].Value), 10, 64)
			out = append(out, attachmentFolder{Mailbox: mb, of: storage.MailboxID(of)})
		}
	}
	return out, nil
}

// HasAttachmentFolders reports whether acct has any attachment folder
// (a cheap test before SweepAttachments).
func HasAttachmentFolders(mbs []storage.Mailbox) bool {
	return slices.ContainsFunc(mbs, func(mb storage.Mailbox) bool { return strings.HasPrefix(mb.Name, AttachmentsFolder+"/") })
}

// SweepResult is what SweepAttachments did.
type SweepResult struct {
	// Removed counts the files deleted.
	Removed int
	// Young counts the unreferenced files left because they are younger
	// than the grace period: a later sweep must look again.
	Young int
}

// SweepAttachments deletes the files of acct's attachment folders that no
// current item of acct's calendar folders names (see above) and that were
// created or last changed before now-grace. A file being deleted
// meanwhile is not an error. Content shared with other files or messages
// (content-addressed blobs) stays as long as they do.
func SweepAttachments(ctx context.Context, st storage.Store, acct storage.AccountID, now time.Time, grace time.Duration) (SweepResult, error) {
	var res SweepResult
	mbs, err := st.Mailboxes(ctx, acct)
	if err != nil || !HasAttachmentFolders(mbs) {
		return res, err
	}
	folders, err := attachmentFolders(ctx, st, acct, mbs)
	if err != nil || len(folders) == 0 {
		return res, err
	}
	refs, err := ItemAttachmentRefs(ctx, st, acct)
	if err != nil {
		return res, err
	}
	for _, mb := range folders {
		files, err := st.Files(ctx, mb.ID)
		if errors.Is(err, storage.ErrNoMailbox) {
			continue
		}
		if err != nil {
			return res, err
		}
		left := len(files)
		for _, f := range files {
			if refs[attachmentKey(mb.Name, f.Name)] {
				continue
			}
			if now.Sub(f.Modified) < grace || now.Sub(f.Created) < grace {
				res.Young++
				continue
			}
			err := st.DeleteFile(ctx, mb.ID, f.Name)
			switch {
			case err == nil:
				res.Removed++
				left--
			case errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNoMailbox):
				left--
			default:
				return res, err
			}
		}
		if left == 0 {
			if err := removeOrphanFolder(ctx, st, mb, mbs); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// removeOrphanFolder deletes the attachment folder mb when the item folder
// it belongs to is gone and it holds nothing (no message, no subfolder):
// the folder of a deleted calendar does not outlive its files.
func removeOrphanFolder(ctx context.Context, st storage.Store, mb attachmentFolder, mbs []storage.Mailbox) error {
	if items, err := st.MailboxByID(ctx, mb.of); err == nil && items.Account == mb.Account {
		return nil
	} else if err != nil && !errors.Is(err, storage.ErrNoMailbox) {
		return err
	}
	for _, o := range mbs {
		if strings.HasPrefix(o.Name, mb.Name+"/") {
			return nil
		}
	}
	status, err := st.Status(ctx, mb.ID, 0)
	if err != nil || status.Messages > 0 {
		return nil
	}
	if err := st.DeleteMailbox(ctx, mb.ID); err != nil && !errors.Is(err, storage.ErrNoMailbox) {
		return err
	}
	return nil
}

// ReleaseAttachments deletes those of the files named by urls (attachment
// URLs of items of acct's calendar folders that were just removed or
// rewritten) that are files of acct's attachment folders and that no
// current item names any more; it returns how many it deleted. URLs into
// other folders, or naming nothing, are left alone.
func ReleaseAttachments(ctx context.Context, st storage.Store, acct storage.AccountID, urls []string) (int, error) {
	if len(urls) == 0 {
		return 0, nil
	}
	owner, err := st.AccountByID(ctx, acct)
	if err != nil {
		return 0, err
	}
	var cands []string
	for _, u := range urls {
		if k := urlKey(owner.Address, u); k != "" && strings.HasPrefix(k, AttachmentsFolder+"/") {
			cands = append(cands, k)
		}
	}
	if len(cands) == 0 {
		return 0, nil
	}
	refs, err := ItemAttachmentRefs(ctx, st, acct)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range cands {
		if refs[k] {
			continue
		}
		i := strings.LastIndexByte(k, '/')
		mb, err := st.Mailbox(ctx, acct, k[:i])
		if err != nil {
			continue
		}
		es, err := st.GetMetadata(ctx, acct, mb.ID, []string{storage.AttachmentsOfEntry}, 0)
		if err != nil || len(es) != 1 {
			continue
		}
		err = st.DeleteFile(ctx, mb.ID, k[i+1:])
		switch {
		case err == nil:
			n++
			refs[k] = true // listed twice: deleted once
		case errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNoMailbox):
		default:
			return n, err
		}
	}
	return n, nil
}
