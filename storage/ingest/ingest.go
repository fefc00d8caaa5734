// Package ingest is Floe's one write path for a new message. SMTP delivery
// (server/delivery), IMAP APPEND, and later DAV PUT and rule actions all
// store a message through it, so every message gets the same treatment:
//
//  1. Spool: the message is streamed into a blob (storage.Store.PutBlob),
//     never held whole in memory. The blob is not yet durable.
//  2. Deliver: the blob is opened once and parsed once (storage/mimeparse);
//     everything later protocols need (envelope, structure with offsets,
//     text for the index, and in typed folders the groupware item index)
//     is computed here, before the commit, from that one read.
//  3. One storage.Store.Deliver call stores every copy in one transaction,
//     shared with concurrent deliveries (group commit): the blob and its
//     directory entry are fsynced before the commit, the commit is
//     durable when Deliver returns, and the changes are published to the
//     accounts' subscribers after the commit, in commit order.
//
// Durability contract: a nil error from Deliver, Append or Put means every
// copy whose Delivered.Err is nil is durably committed (blob and metadata)
// and published; the caller may acknowledge it (SMTP "250", IMAP "OK").
// When no copy was stored (the call failed, or every target failed), the
// blob is discarded unless something else references it (another message
// with the same content, an outbound queue entry), so a refused message
// leaves nothing behind. A caller that needs the blob after a failed
// delivery (to queue it for remote recipients, say) must reference it
// first: enqueue, then deliver, as SMTP does.
//
// The package holds no state: every function takes the storage.Store to
// work on, so callers keep their own (or, with sharing, a principal's view
// of one).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/storage/mimeparse"
)

// ErrSizeMismatch is returned by Spool when the backend stored a different
// number of bytes than it read: a backend fault, never a client's.
var ErrSizeMismatch = errors.New("ingest: stored size differs from the bytes read")

// discardTimeout bounds the clean-up of a blob nothing references. It runs
// on a context detached from the caller's, so that a delivery cancelled
// at shutdown still removes what it spooled when the store allows.
const discardTimeout = 10 * time.Second

// Spool streams r into a new blob of st and returns its reference. It
// counts the bytes it reads from r and checks them against the size the
// backend reports (ErrSizeMismatch). The blob is not durable yet: Deliver
// makes it durable in the commit that references it. Errors are the
// backend's (storage.ErrInvalid for a message above the size limit,
// storage.ErrStorageFull) or r's read error, wrapped; a blob Spool
// returns nothing for is not left behind by the backend.
func Spool(ctx context.Context, st storage.Store, r io.Reader) (storage.BlobRef, error) {
	cr := &countingReader{r: r}
	ref, err := st.PutBlob(ctx, cr)
	if err != nil {
		return storage.BlobRef{}, fmt.Errorf("spool: %w", err)
	}
	if ref.Size != cr.n {
		discard(ctx, st, ref.ID)
		return storage.BlobRef{}, fmt.Errorf("%w: read %d, stored %d", ErrSizeMismatch, cr.n, ref.Size)
	}
	return ref, nil
}

// Deliver stores the spooled blob ref as one new message in every target,
// in one storage.Store.Deliver call (one group-commit transaction): it opens
// the blob once, parses it once, and commits. It returns after the commit
// is durable; the changes are published by then. The result has one entry
// per target, in order, with the per-target outcome in Delivered.Err
// (storage.ErrOverQuota, storage.ErrNoMailbox, ...). The error is for the
// whole call: nothing was stored. When nothing was stored (error, or every
// target failed), the blob is discarded unless something else references it
// (see the package comment). With no targets, Deliver discards the blob and
// returns nil, nil.
//
// Deliver does not deduplicate targets: two targets naming one mailbox get
// two copies.
func Deliver(ctx context.Context, st storage.Store, ref storage.BlobRef, targets []storage.Target) ([]storage.Delivered, error) {
	if len(targets) == 0 {
		discard(ctx, st, ref.ID)
		return nil, nil
	}
	return deliver(ctx, st, ref, nil, targets)
}

// deliver is Deliver, with the parse when the caller has it (nil: read and
// parse here).
func deliver(ctx context.Context, st storage.Store, ref storage.BlobRef, parsed *storage.Parsed, targets []storage.Target) ([]storage.Delivered, error) {
	d, _, err := deliverRef(ctx, st, ref, parsed, targets)
	return d, err
}

// deliverRef is deliver returning the blob it stored: ref, or the message
// that replaced it when the inline attachments of a calendar item became
// files (moveInlineAttachments, attach.go).
func deliverRef(ctx context.Context, st storage.Store, ref storage.BlobRef, parsed *storage.Parsed, targets []storage.Target) ([]storage.Delivered, storage.BlobRef, error) {
	targets = append([]storage.Target(nil), targets...) // prepare sets Target.File
	var contents []storage.BlobID
	var err error
	var attached []storage.File // files made from inline item attachments
	if parsed == nil {
		parsed, contents, err = prepare(ctx, st, ref, targets)
		if err == nil {
			ref, parsed, attached, err = moveInlineAttachments(ctx, st, ref, parsed, targets)
		}
	} else {
		contents, err = prepareParsed(ctx, st, ref, parsed, targets)
	}
	dropContents := func() {
		for _, c := range contents {
			discard(ctx, st, c)
		}
		removeFiles(ctx, st, attached)
	}
	if err != nil {
		discard(ctx, st, ref.ID)
		dropContents()
		return nil, ref, err
	}
	delivered, err := st.Deliver(ctx, ref, parsed, targets)
	if err != nil {
		discard(ctx, st, ref.ID)
		dropContents()
		return nil, ref, fmt.Errorf("deliver: %w", err)
	}
	defer func() {
		// A file content no stored copy took (its target failed) goes;
		// one that was taken stays (DiscardBlob spares referenced blobs).
		for i, d := range delivered {
			if d.Err != nil && targets[i].File != nil {
				discard(ctx, st, targets[i].File.Content.ID)
			}
		}
	}()
	if len(delivered) != len(targets) {
		// A backend fault: it may have stored some copies, so the blob is
		// kept (an unreferenced one is collected as an orphan later).
		return nil, ref, fmt.Errorf("deliver: storage returned %d outcomes for %d targets", len(delivered), len(targets))
	}
	for _, d := range delivered {
		if d.Err == nil {
			return delivered, ref, nil
		}
	}
	discard(ctx, st, ref.ID)
	removeFiles(ctx, st, attached)
	return delivered, ref, nil
}

// prepare computes, from one read of the blob, everything the commit
// stores beside the message: the parse (storage.Parsed) for every target.
// This is where per-target extraction belongs that needs the content (the
// groupware item index of a typed folder): it runs here, while the blob is
// open, so that no caller reads or parses the message twice.
//
// A target that is a file folder (storage.IsFileFolder) gets Target.File:
// the message's first attachment, decoded into its own content blob (whose
// IDs are returned, for discarding when the delivery fails).
func prepare(ctx context.Context, st storage.Store, ref storage.BlobRef, targets []storage.Target) (*storage.Parsed, []storage.BlobID, error) {
	blob, err := st.OpenBlob(ctx, ref.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("deliver: open blob: %w", err)
	}
	defer blob.Close()
	parsed, err := mimeparse.Parse(blob, blob.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("deliver: parse: %w", err)
	}
	// The groupware item index (storage/item), for an item message (a
	// Kolab X-Kolab-Type message or a bare text/calendar or text/vcard
	// one) wherever it goes: IMAP APPEND and DAV PUT index alike. An
	// invalid payload leaves the message as mail.
	if parsed.Item, err = item.Index(parsed, blob); err != nil {
		return nil, nil, fmt.Errorf("deliver: item index: %w", err)
	}
	contents, err := fileTargets(ctx, st, blob, parsed, targets)
	if err != nil {
		return nil, contents, fmt.Errorf("deliver: %w", err)
	}
	return parsed, contents, nil
}

// Append stores the spooled blob ref as one new message in one mailbox
// (IMAP APPEND, DAV PUT): Deliver with the single target t. It returns the
// target's outcome; err is the target's error (storage.ErrNoMailbox,
// storage.ErrOverQuota, ...) or the whole call's. The durability and
// discard contract is Deliver's.
func Append(ctx context.Context, st storage.Store, ref storage.BlobRef, t storage.Target) (storage.Delivered, error) {
	res, err := Deliver(ctx, st, ref, []storage.Target{t})
	if err != nil {
		return storage.Delivered{}, err
	}
	if len(res) != 1 { // Deliver checks the count; kept for the index below
		return storage.Delivered{}, fmt.Errorf("append: %d outcomes for one target", len(res))
	}
	return res[0], res[0].Err
}

// Item is one message of DeliverAll: a spooled blob and its targets.
type Item struct {
	Ref     storage.BlobRef
	Targets []storage.Target
}

// DeliverAll stores several spooled messages in one storage.Store.DeliverAll
// call: one transaction, all or nothing (IMAP MULTIAPPEND, RFC 3502). Each
// blob is opened and parsed once, in order, before the commit; the parses
// are held until the commit, so the caller bounds how many messages (and
// bytes) it passes. On success the result has, per item, one Delivered
// per target, all stored, durable and published. On any error nothing was
// stored and every item's blob is discarded (unless something else
// references it); a target's refusal is a *storage.DeliveryError wrapping
// the reason (storage.ErrOverQuota, storage.ErrNoMailbox, ...).
func DeliverAll(ctx context.Context, st storage.Store, items []Item) ([][]storage.Delivered, error) {
	items = append([]Item(nil), items...) // a rewritten item gets its new blob
	var contents []storage.BlobID         // file contents prepare extracted (Target.File)
	var attached []storage.File           // files made from inline item attachments
	discardAll := func() {
		for _, it := range items {
			discard(ctx, st, it.Ref.ID)
		}
		for _, c := range contents {
			discard(ctx, st, c)
		}
		removeFiles(ctx, st, attached)
	}
	ds := make([]storage.Delivery, len(items))
	for i, it := range items {
		targets := append([]storage.Target(nil), it.Targets...) // prepare sets Target.File
		parsed, cs, err := prepare(ctx, st, it.Ref, targets)
		contents = append(contents, cs...)
		if err == nil {
			var files []storage.File
			items[i].Ref, parsed, files, err = moveInlineAttachments(ctx, st, it.Ref, parsed, targets)
			attached = append(attached, files...)
		}
		if err != nil {
			discardAll()
			return nil, err
		}
		ds[i] = storage.Delivery{Ref: items[i].Ref, Parsed: parsed, Targets: targets}
	}
	out, err := st.DeliverAll(ctx, ds)
	if err != nil {
		discardAll()
		return nil, fmt.Errorf("deliver all: %w", err)
	}
	if len(out) != len(items) {
		// A backend fault: something may be stored; keep the blobs (an
		// unreferenced one is collected as an orphan later).
		return nil, fmt.Errorf("deliver all: storage returned %d outcomes for %d messages", len(out), len(items))
	}
	return out, nil
}

// Put spools r and appends it to the mailbox of t: Spool, then Append. For
// callers that have the whole message at hand (DAV PUT, rule actions); a
// protocol that must check the spooled message before storing it (IMAP
// APPEND's literal) calls Spool and Append itself.
//
// The reference returned is the blob stored: another than the one spooled
// from r when the write path rewrote the message (the inline attachments
// of a calendar item moved into files, attach.go).
func Put(ctx context.Context, st storage.Store, r io.Reader, t storage.Target) (storage.BlobRef, storage.Delivered, error) {
	ref, err := Spool(ctx, st, r)
	if err != nil {
		return storage.BlobRef{}, storage.Delivered{}, err
	}
	res, ref, err := deliverRef(ctx, st, ref, nil, []storage.Target{t})
	if err != nil {
		return ref, storage.Delivered{}, err
	}
	if len(res) != 1 {
		return ref, storage.Delivered{}, fmt.Errorf("put: %d outcomes for one target", len(res))
	}
	return ref, res[0], res[0].Err
}

// Discard removes a spooled blob that will not be delivered (a message
// refused after it was spooled) unless something references it. Failures
// are ignored: an unreferenced blob left behind is an orphan, which
// `floe check` reports and orphan removal collects.
func Discard(ctx context.Context, st storage.Store, id storage.BlobID) {
	discard(ctx, st, id)
}

func discard(ctx context.Context, st storage.Store, id storage.BlobID) {
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	_ = st.DiscardBlob(ctx, id)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// DeliverParsed is Deliver for a caller that has already read and parsed
// the blob once (server/delivery parses before delivering, for the rules):
// p must be mimeparse's result for ref. The durability and discard
// contract is Deliver's.
func DeliverParsed(ctx context.Context, st storage.Store, ref storage.BlobRef, p *storage.Parsed, targets []storage.Target) ([]storage.Delivered, error) {
	if len(targets) == 0 {
		discard(ctx, st, ref.ID)
		return nil, nil
	}
	return deliver(ctx, st, ref, p, targets)
}

// prepareParsed is prepare for a message already parsed: only the
// per-target extraction (file folders) reads the blob, and only when the
// message has an attachment.
func prepareParsed(ctx context.Context, st storage.Store, ref storage.BlobRef, parsed *storage.Parsed, targets []storage.Target) ([]storage.BlobID, error) {
	needItem := parsed.Item == nil && item.PayloadPart(parsed) != nil
	if !parsed.HasAttachment && !needItem {
		return nil, nil
	}
	blob, err := st.OpenBlob(ctx, ref.ID)
	if err != nil {
		return nil, fmt.Errorf("deliver: open blob: %w", err)
	}
	defer blob.Close()
	if needItem { // a parse from mimeparse alone: add the item index
		if parsed.Item, err = item.Index(parsed, blob); err != nil {
			return nil, fmt.Errorf("deliver: item index: %w", err)
		}
	}
	if !parsed.HasAttachment {
		return nil, nil
	}
	contents, err := fileTargets(ctx, st, blob, parsed, targets)
	if err != nil {
		return contents, fmt.Errorf("deliver: %w", err)
	}
	return contents, nil
}

// Parse reads and parses the spooled blob ref once (storage/mimeparse), for
// a caller that needs the parse before it decides where to deliver (then
// DeliverParsed).
func Parse(ctx context.Context, st storage.Store, ref storage.BlobRef) (*storage.Parsed, error) {
	parsed, _, err := prepare(ctx, st, ref, nil)
	return parsed, err
}
