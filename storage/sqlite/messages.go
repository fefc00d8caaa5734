package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/blob"
)

// PutBlob stores r in the blob store. The blob becomes durable (content and
// directory entry fsynced) in the group commit of the Deliver that
// references it, before that commit. It fails with storage.ErrInvalid
// (and blob.ErrTooLarge) above Options.MaxBlobSize and with
// storage.ErrStorageFull when the disk is full.
func (s *Store) PutBlob(ctx context.Context, r io.Reader) (storage.BlobRef, error) {
	if err := ctx.Err(); err != nil {
		return storage.BlobRef{}, err
	}
	return s.blobs.Put(r)
}

// OpenBlob opens a blob for reading (storage.ErrNotFound).
func (s *Store) OpenBlob(ctx context.Context, id storage.BlobID) (storage.Blob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := s.blobs.Open(id)
	if errors.Is(err, storage.ErrNotFound) {
		return s.openComposite(ctx, id, err)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// openComposite opens the composite blob id (a file's message): its head,
// its content in base64, its tail. notFound is returned when id is no
// composite.
func (s *Store) openComposite(ctx context.Context, id storage.BlobID, notFound error) (storage.Blob, error) {
	var content string
	var head, tail []byte
	err := s.rdb.QueryRowContext(ctx, "SELECT content, head, tail FROM composites WHERE hash = ?", string(id)).Scan(&content, &head, &tail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, dbErr("open composite", err)
	}
	f, err := s.blobs.Open(storage.BlobID(content))
	if err != nil {
		return nil, fmt.Errorf("composite %s: content: %w", id, err)
	}
	return storage.NewCompositeBlob(head, tail, f), nil
}

// DiscardBlob removes the file of an unreferenced blob. It runs in the
// writer, so it is serialised with Deliver's and Enqueue's references: a
// blob a committed message or queue entry references is never removed.
func (s *Store) DiscardBlob(ctx context.Context, id storage.BlobID) error {
	if !blob.ValidID(id) {
		return fmt.Errorf("discard blob: bad id: %w", storage.ErrInvalid)
	}
	s.blobs.Unpin(id)
	return s.write(ctx, "discard blob", func(w *wtx) error {
		var n int
		if err := w.queryRow(blobUsers, string(id)).Scan(&n); err != nil {
			return dbErr("discard blob", err)
		}
		if n == 0 {
			w.o.deleted = append(w.o.deleted, id)
		}
		return nil
	})
}

// mayBeLarge reports whether set can select more than a thousand
// messages: it is empty (all), open-ended (n:*) or spans that many UIDs.
func mayBeLarge(set storage.UIDSet) bool {
	if len(set) == 0 {
		return true
	}
	var span uint64
	for _, r := range set {
		if r.Stop == 0 {
			return true
		}
		if r.Stop >= r.Start {
			span += uint64(r.Stop-r.Start) + 1
		}
	}
	return span > 1000
}

// msgRow is a messages row as the write paths need it.
type msgRow struct {
	id     int64
	uid    storage.UID
	modseq storage.ModSeq
	flags  flagSet
	date   int64
	tz     int64
	size   int64
	// charge is what the message counts toward its account's quota
	// (messages.charge, NULL: size): a file's message composed by PutFile
	// or CopyFile counts its file's size, not its base64 form.
	charge  int64
	blob    int64
	flagsKw string
}

// uidFilter returns an SQL condition on column uid for set, and whether the
// rows must still be filtered with set.Contains (for very large sets, the
// condition is only the bounding range).
func uidFilter(set storage.UIDSet) (string, []any, bool) {
	if len(set) == 0 {
		return "", nil, false
	}
	if len(set) > 64 {
		lo, hi := set[0].Start, set[0].Stop
		for _, r := range set {
			lo = min(lo, r.Start)
			if hi != 0 && (r.Stop == 0 || r.Stop > hi) {
				hi = r.Stop
			}
		}
		if hi == 0 {
			return " AND uid >= ?", []any{lo}, true
		}
		return " AND uid BETWEEN ? AND ?", []any{lo, hi}, true
	}
	var b strings.Builder
	var args []any
	b.WriteString(" AND (")
	for i, r := range set {
		if i > 0 {
			b.WriteString(" OR ")
		}
		if r.Stop == 0 {
			b.WriteString("uid >= ?")
			args = append(args, r.Start)
		} else {
			b.WriteString("uid BETWEEN ? AND ?")
			args = append(args, r.Start, r.Stop)
		}
	}
	b.WriteString(")")
	return b.String(), args, false
}

// selectMessages reads the messages of mbox in set (nil: all), in UID order.
func (w *wtx) selectMessages(mbox storage.MailboxID, set storage.UIDSet) ([]msgRow, error) {
	cond, args, post := uidFilter(set)
	rows, err := w.tx.Query("SELECT id, uid, modseq, sysflags, keywords, internal_date, internal_tz, size, coalesce(charge, size), blob FROM messages WHERE mailbox = ?"+cond+" ORDER BY uid",
		append([]any{mbox}, args...)...)
	if err != nil {
		return nil, dbErr("select messages", err)
	}
	defer rows.Close()
	var out []msgRow
	for rows.Next() {
		var m msgRow
		var bits int64
		if err := rows.Scan(&m.id, &m.uid, &m.modseq, &bits, &m.flagsKw, &m.date, &m.tz, &m.size, &m.charge, &m.blob); err != nil {
			return nil, dbErr("select messages", err)
		}
		if post && !set.Contains(m.uid) {
			continue
		}
		if m.flags, err = decodeFlags(bits, m.flagsKw); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, dbErr("select messages", rows.Err())
}

// removeMessages deletes message rows of mailbox m, releases their blobs and
// decrements the account's usage. It records and publishes nothing else.
func (w *wtx) removeMessages(m storage.Mailbox, msgs []msgRow) error {
	if len(msgs) == 0 {
		return nil
	}
	var bytes int64
	contents, err := w.fileContentsOf(msgs)
	if err != nil {
		return err
	}
	for _, msg := range msgs {
		if _, err := w.exec("DELETE FROM messages WHERE id = ?", msg.id); err != nil {
			return dbErr("remove message", err)
		}
		if err := w.releaseBlob(msg.blob); err != nil {
			return err
		}
		bytes += msg.charge
	}
	for _, c := range contents {
		if err := w.releaseContent(c); err != nil {
			return err
		}
	}
	_, err = w.exec("UPDATE accounts SET used_bytes = used_bytes - ?, used_messages = used_messages - ? WHERE id = ?",
		bytes, len(msgs), m.Account)
	return dbErr("remove message", err)
}

// releaseBlob drops one reference to a blob row; the last one deletes the
// row and its full-text entry, and schedules the file for deletion after
// the commit.
func (w *wtx) releaseBlob(id int64) error {
	var refs int64
	var hash string
	if err := w.queryRow("UPDATE blobs SET refs = refs - 1 WHERE id = ? RETURNING refs, hash", id).Scan(&refs, &hash); err != nil {
		return dbErr("release blob", err)
	}
	if refs > 0 {
		return nil
	}
	if _, err := w.exec("DELETE FROM blobs WHERE id = ?", id); err != nil {
		return dbErr("release blob", err)
	}
	if _, err := w.exec("DELETE FROM fts WHERE rowid = ?", id); err != nil {
		return dbErr("release blob", err)
	}
	var content string
	err := w.queryRow("DELETE FROM composites WHERE hash = ? RETURNING content", hash).Scan(&content)
	switch {
	case err == nil:
		return w.releaseContent(content) // a file's message: no file of its own
	case !errors.Is(err, sql.ErrNoRows):
		return dbErr("release blob", err)
	}
	if queued, err := w.queuedBlob(hash); err != nil || queued {
		return err // the outbound queue still needs the file (queue.go)
	}
	w.o.deleted = append(w.o.deleted, storage.BlobID(hash))
	return nil
}

// parsedRow is what Deliver stores once per content.
type parsedRow struct {
	envelope, structure, refs, attachments string
	p                                      *storage.Parsed
}

func encodeParsed(p *storage.Parsed) (parsedRow, error) {
	pr := parsedRow{p: p}
	b, err := json.Marshal(&p.Envelope)
	if err != nil {
		return pr, fmt.Errorf("encode envelope: %w", err)
	}
	pr.envelope = string(b)
	if b, err = json.Marshal(&p.Structure); err != nil {
		return pr, fmt.Errorf("encode structure: %w", err)
	}
	pr.structure = string(b)
	if len(p.References) > 0 {
		b, _ = json.Marshal(p.References)
		pr.refs = string(b)
	}
	if len(p.AttachmentNames) > 0 {
		b, _ = json.Marshal(p.AttachmentNames)
		pr.attachments = string(b)
	}
	return pr, nil
}

func firstMailbox(as []storage.Address) string {
	for _, a := range as {
		if a.Host == "" && a.Mailbox != "" || a.Host == "" && a.Mailbox == "" {
			continue // group markers
		}
		return strings.ToLower(a.Mailbox)
	}
	return ""
}

func firstDisplay(as []storage.Address) string {
	for _, a := range as {
		if a.Host == "" {
			continue
		}
		if a.Name != "" {
			return strings.ToLower(a.Name)
		}
		return strings.ToLower(a.Mailbox + "@" + a.Host)
	}
	return ""
}

func addrText(as []storage.Address) string {
	var b strings.Builder
	for _, a := range as {
		if a.Host == "" {
			if a.Mailbox != "" {
				b.WriteString(a.Mailbox) // group name
				b.WriteString(" ")
			}
			continue
		}
		if a.Name != "" {
			b.WriteString(a.Name)
			b.WriteString(" ")
		}
		b.WriteString(a.Mailbox)
		b.WriteString("@")
		b.WriteString(a.Host)
		b.WriteString(" ")
	}
	return b.String()
}

// ensureBlob returns the row id of the blob row for ref, creating it (with
// the parsed data and the full-text entry) or taking a reference.
func (w *wtx) ensureBlob(ref storage.BlobRef, pr *parsedRow) (int64, error) {
	var id int64
	err := w.queryRow("UPDATE blobs SET refs = refs + 1 WHERE hash = ? RETURNING id", string(ref.ID)).Scan(&id)
	if err == nil {
		if pr.p.Item != nil {
			// The content may have been stored before without its index.
			return id, w.insertItem(id, pr.p.Item)
		}
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, dbErr("blob ref", err)
	}
	// New content. Blob files are deleted only by the writer, after commit,
	// so the file checked here cannot vanish before this transaction commits.
	size, err := w.s.blobs.Stat(ref.ID)
	if errors.Is(err, storage.ErrNotFound) {
		size, err = w.compositeSize(ref.ID, err)
	}
	if err != nil {
		return 0, fmt.Errorf("blob %s is not stored (PutBlob it again): %w", ref.ID, err)
	}
	if size != ref.Size {
		return 0, fmt.Errorf("blob %s has %d bytes, not %d: %w", ref.ID, size, ref.Size, storage.ErrInvalid)
	}
	p := pr.p
	env := &p.Envelope
	var sent, sentTZ int64
	if !env.Date.IsZero() {
		sent, sentTZ = env.Date.Unix(), zoneOffset(env.Date)
	}
	err = w.queryRow(`INSERT INTO blobs(hash, size, refs, envelope, structure, header, header_truncated, refs_ids, base_subject,
			sent_date, sent_tz, subject, from_mailbox, from_display, to_mailbox, to_display, cc_mailbox,
			message_id, in_reply_to, has_attachment, attachment_names)
		VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		string(ref.ID), ref.Size, pr.envelope, pr.structure, p.Header, boolInt(p.HeaderTruncated), pr.refs, p.BaseSubject,
		sent, sentTZ, env.Subject, firstMailbox(env.From), firstDisplay(env.From), firstMailbox(env.To), firstDisplay(env.To), firstMailbox(env.Cc),
		env.MessageID, env.InReplyTo, boolInt(p.HasAttachment), pr.attachments).Scan(&id)
	if err != nil {
		return 0, dbErr("insert blob", err)
	}
	text := p.Text
	if len(text) > storage.MaxIndexedText {
		text = text[:storage.MaxIndexedText]
	}
	if _, err := w.exec("INSERT INTO fts(rowid, subject, addr_from, addr_to, addr_cc, addr_bcc, header, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		id, env.Subject, addrText(append(append([]storage.Address(nil), env.From...), env.Sender...)), addrText(env.To), addrText(env.Cc), addrText(env.Bcc),
		string(p.Header), text); err != nil {
		return 0, dbErr("index text", err)
	}
	if p.Item != nil {
		if err := w.insertItem(id, p.Item); err != nil {
			return 0, err
		}
	}
	w.o.created = append(w.o.created, ref.ID)
	return id, nil
}

// quotaCheck returns ErrOverQuota when adding n messages of total size
// bytes to acct would exceed its quotas.
func (w *wtx) quotaCheck(acct storage.AccountID, bytes, n int64) error {
	var qb, qm, ub, um int64
	err := w.queryRow("SELECT quota_bytes, quota_messages, used_bytes, used_messages FROM accounts WHERE id = ?", acct).Scan(&qb, &qm, &ub, &um)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
	}
	if err != nil {
		return dbErr("quota", err)
	}
	if qb > 0 && ub+bytes > qb {
		return fmt.Errorf("account %d: %d+%d bytes > %d: %w", acct, ub, bytes, qb, storage.ErrOverQuota)
	}
	if qm > 0 && um+n > qm {
		return fmt.Errorf("account %d: %d+%d messages > %d: %w", acct, um, n, qm, storage.ErrOverQuota)
	}
	return nil
}

// insertMessage appends a message to mailbox m (the caller has read m in
// this transaction) and returns the new UID and modseq; it updates the
// mailbox counters and the account usage, which grows by charge (see
// msgRow.charge; size for any message but a composed file's).
func (w *wtx) insertMessage(m *storage.Mailbox, fs flagSet, date, tz, size, charge, blobID int64) (storage.UID, storage.ModSeq, error) {
	uid := m.UIDNext
	if uid == 0 || uid == 0xFFFFFFFF {
		return 0, 0, fmt.Errorf("mailbox %d: UIDs exhausted: %w", m.ID, storage.ErrStorageFull)
	}
	modseq := m.HighestModSeq + 1
	var chargeCol any // NULL: size
	if charge != size {
		chargeCol = charge
	}
	if _, err := w.exec(`INSERT INTO messages(mailbox, uid, modseq, sysflags, keywords, internal_date, internal_tz, size, charge, blob)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, uid, modseq, fs.bits, fs.keywordsColumn(), date, tz, size, chargeCol, blobID); err != nil {
		return 0, 0, dbErr("insert message", err)
	}
	m.UIDNext = uid + 1
	m.HighestModSeq = modseq
	if _, err := w.exec("UPDATE mailboxes SET uidnext = ?, highest_modseq = ? WHERE id = ?", m.UIDNext, modseq, m.ID); err != nil {
		return 0, 0, dbErr("insert message", err)
	}
	if _, err := w.exec("UPDATE accounts SET used_bytes = used_bytes + ?, used_messages = used_messages + 1 WHERE id = ?", charge, m.Account); err != nil {
		return 0, 0, dbErr("insert message", err)
	}
	return uid, modseq, nil
}

// resolveTarget finds the mailbox of a delivery target (ErrNoMailbox).
func (w *wtx) resolveTarget(t storage.Target) (storage.Mailbox, error) {
	if t.Mailbox != 0 {
		m, err := w.getMailbox(t.Mailbox)
		if err != nil {
			return m, err
		}
		if m.Account != t.Account {
			return m, fmt.Errorf("mailbox %d is not account %d's: %w", t.Mailbox, t.Account, storage.ErrNoMailbox)
		}
		return m, nil
	}
	name := t.MailboxName
	if name == "" {
		name = "INBOX"
	}
	n, err := normMailboxName(name)
	if err != nil {
		return storage.Mailbox{}, fmt.Errorf("%w: %w", storage.ErrNoMailbox, err)
	}
	m, err := scanMailbox(w.queryRow("SELECT "+mailboxCols+" FROM mailboxes WHERE account = ? AND name = ?", t.Account, n))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("mailbox %q of account %d: %w", n, t.Account, storage.ErrNoMailbox)
	}
	return m, dbErr("resolve mailbox", err)
}

// delivery is a storage.Delivery checked and encoded outside the writer.
type delivery struct {
	ref     storage.BlobRef
	pr      parsedRow
	targets []storage.Target
	flags   []flagSet
	flagErr []error // per target: flags that cannot be stored
}

// blobIDs are the blobs the delivery references: the message's and the
// file contents of its targets (storage.Target.File).
func (d *delivery) blobIDs() []storage.BlobID {
	ids := []storage.BlobID{d.ref.ID}
	for _, t := range d.targets {
		if t.File != nil {
			ids = append(ids, t.File.Content.ID)
		}
	}
	return ids
}

// prepareDelivery checks and encodes d before it goes to the writer.
func prepareDelivery(what string, d storage.Delivery) (*delivery, error) {
	if !blob.ValidID(d.Ref.ID) || d.Ref.Size < 0 {
		return nil, fmt.Errorf("%s: bad blob reference: %w", what, storage.ErrInvalid)
	}
	if d.Parsed == nil {
		return nil, fmt.Errorf("%s: no parsed message: %w", what, storage.ErrInvalid)
	}
	pr, err := encodeParsed(d.Parsed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", what, storage.ErrInvalid, err)
	}
	out := &delivery{ref: d.Ref, pr: pr, targets: d.Targets,
		flags: make([]flagSet, len(d.Targets)), flagErr: make([]error, len(d.Targets))}
	for i, t := range d.Targets {
		if out.flags[i], err = parseFlags(t.Flags); err != nil {
			out.flagErr[i] = err
		}
		out.flags[i].sortKeywords()
	}
	return out, nil
}

// deliver stores d in every target, in the writer's transaction, and
// returns the per-target outcomes. A target that cannot take the message
// (bad flags, no such mailbox, over quota) gets its error in Delivered.Err;
// with strict, the first such error ends the call instead, as a
// *storage.DeliveryError (index di), and the caller's savepoint rolls
// everything back. Other errors concern the whole call.
func (w *wtx) deliver(d *delivery, di int, now time.Time, strict bool) ([]storage.Delivered, error) {
	var blobID int64
	res := make([]storage.Delivered, len(d.targets))
	refuse := func(i int, err error) error {
		if strict {
			return &storage.DeliveryError{Delivery: di, Target: i, Err: err}
		}
		res[i].Err = err
		return nil
	}
	for i, t := range d.targets {
		if d.flagErr[i] != nil {
			if err := refuse(i, d.flagErr[i]); err != nil {
				return nil, err
			}
			continue
		}
		m, err := w.resolveTarget(t)
		if err != nil {
			if !errors.Is(err, storage.ErrNoMailbox) {
				return nil, err
			}
			if err := refuse(i, err); err != nil {
				return nil, err
			}
			continue
		}
		res[i].Mailbox = m.ID
		// A DAV write of an item (items.go): check the replaced message
		// and the UID and name before changing anything.
		p := d.pr.p
		var replaced []msgRow
		davWrite := p.Item != nil && (t.ItemName != "" || t.Replace != 0)
		if davWrite {
			if replaced, err = w.checkItemTarget(m, t, p.Item); err != nil {
				if !errors.Is(err, storage.ErrNoMessage) && !errors.Is(err, storage.ErrExists) {
					return nil, err
				}
				if err := refuse(i, err); err != nil {
					return nil, err
				}
				continue
			}
		}
		if !t.IgnoreQuota {
			if err := w.quotaCheck(m.Account, d.ref.Size, 1); err != nil {
				if !errors.Is(err, storage.ErrOverQuota) {
					return nil, err
				}
				if err := refuse(i, err); err != nil {
					return nil, err
				}
				continue
			}
		}
		if blobID == 0 {
			if blobID, err = w.ensureBlob(d.ref, &d.pr); err != nil {
				return nil, err
			}
		} else if _, err := w.exec("UPDATE blobs SET refs = refs + 1 WHERE id = ?", blobID); err != nil {
			return nil, dbErr("blob ref", err)
		}
		if len(replaced) > 0 {
			if err := w.expungeRows(m, replaced); err != nil {
				return nil, err
			}
			if m, err = w.getMailbox(m.ID); err != nil {
				return nil, err
			}
		}
		date := t.InternalDate
		if date.IsZero() {
			date = now
		}
		// A viewer's \Seen in a mailbox it does not own is its own (sharing).
		fs, seen := d.flags[i], false
		if privateSeen(m.Account, t.Viewer) {
			seen = fs.bits&bitSeen != 0
			fs.bits &^= bitSeen
		}
		uid, modseq, err := w.insertMessage(&m, fs, date.Unix(), zoneOffset(date), d.ref.Size, d.ref.Size, blobID)
		if err != nil {
			return nil, err
		}
		if davWrite && t.ItemName != "" {
			if err := w.setItemName(m.ID, p.Item.UID, t.ItemName); err != nil {
				return nil, err
			}
		}
		if seen {
			if err := w.setSeen(m.ID, uid, t.Viewer, true); err != nil {
				return nil, err
			}
		}
		res[i].UID, res[i].ModSeq = uid, modseq
		if t.File != nil {
			if err := w.insertDeliveredFile(m, uid, t.File, date); err != nil {
				return nil, err
			}
		}
		w.publish(storage.Change{Kind: storage.ChangeMessageAdded, Account: m.Account, Mailbox: m.ID, UID: uid, ModSeq: modseq, Flags: fs.list()})
	}
	return res, nil
}

// Deliver adds the message to every target in one transaction shared with
// concurrent deliveries (group commit) and returns after the commit is
// durable. Per-target failures (ErrOverQuota, ErrNoMailbox, ErrInvalid
// flags) are in Delivered.Err; the returned error concerns the whole call
// (e.g. the blob is not stored, storage full, closed). It publishes
// ChangeMessageAdded for each stored copy, after the commit.
func (s *Store) Deliver(ctx context.Context, ref storage.BlobRef, p *storage.Parsed, targets []storage.Target) ([]storage.Delivered, error) {
	d, err := prepareDelivery("deliver", storage.Delivery{Ref: ref, Parsed: p, Targets: targets})
	if err != nil {
		return nil, err
	}
	var out []storage.Delivered
	now := time.Now()
	err = s.writeBlobs(ctx, "deliver", d.blobIDs(), func(w *wtx) error {
		res, err := w.deliver(d, 0, now, false)
		out = res
		return err
	})
	if err != nil {
		return nil, err
	}
	// The blob is referenced now: its Put's pin (blob.Store.Pinned) ends.
	// When nothing was delivered the caller discards it (DiscardBlob
	// unpins).
	for _, d := range out {
		if d.Err == nil {
			s.blobs.Unpin(ref.ID)
			break
		}
	}
	for i, t := range targets {
		if t.File != nil && out[i].Err == nil {
			s.blobs.Unpin(t.File.Content.ID)
		}
	}
	return out, nil
}

// DeliverAll stores every delivery in one savepoint of the group commit:
// the first target that refuses its message (bad flags, no such mailbox,
// over quota, counted cumulatively within the call) rolls all of it back
// and is returned as a *storage.DeliveryError. Changes are published only
// after a successful commit.
func (s *Store) DeliverAll(ctx context.Context, ds []storage.Delivery) ([][]storage.Delivered, error) {
	prepared := make([]*delivery, len(ds))
	ids := make([]storage.BlobID, 0, len(ds))
	for i, d := range ds {
		p, err := prepareDelivery("deliver all", d)
		if err != nil {
			return nil, err
		}
		prepared[i] = p
		ids = append(ids, p.blobIDs()...)
	}
	if len(ds) == 0 {
		return nil, nil
	}
	out := make([][]storage.Delivered, len(ds))
	now := time.Now()
	err := s.writeBlobs(ctx, "deliver all", ids, func(w *wtx) error {
		for i, d := range prepared {
			res, err := w.deliver(d, i, now, true)
			if err != nil {
				return err
			}
			out[i] = res
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, d := range prepared {
		if len(d.targets) > 0 {
			s.blobs.Unpin(d.ref.ID)
		}
		for _, t := range d.targets {
			if t.File != nil {
				s.blobs.Unpin(t.File.Content.ID)
			}
		}
	}
	return out, nil
}

// Messages returns the messages of mbox matching q, in UID order
// (ErrNoMailbox), with \Seen as q.Viewer sees it. JSON columns are decoded
// only for the requested Fields.
func (s *Store) Messages(ctx context.Context, mbox storage.MailboxID, q storage.Query) ([]storage.Message, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("messages", err)
	}
	defer tx.Rollback()
	owner, err := mailboxOwner(tx, mbox)
	if err != nil {
		return nil, err
	}
	flagsCol := "m.sysflags"
	var colArgs []any
	if privateSeen(owner, q.Viewer) {
		flagsCol = "((m.sysflags & ~1) | EXISTS (SELECT 1 FROM seen s WHERE s.mailbox = m.mailbox AND s.uid = m.uid AND s.account = ?))"
		colArgs = append(colArgs, q.Viewer)
	}
	cols := "m.uid, m.modseq, " + flagsCol + ", m.keywords, m.internal_date, m.internal_tz, m.size, b.hash"
	if q.Fields&storage.FieldEnvelope != 0 {
		cols += ", b.envelope"
	}
	if q.Fields&storage.FieldStructure != 0 {
		cols += ", b.structure"
	}
	if q.Fields&storage.FieldHeader != 0 {
		cols += ", b.header"
	}
	if q.Fields&storage.FieldThreading != 0 {
		cols += ", b.refs_ids, b.base_subject"
	}
	cond, args, post := uidFilter(q.UIDs)
	cond = strings.ReplaceAll(cond, "uid", "m.uid")
	if q.ChangedSince != 0 {
		cond += " AND m.modseq > ?"
		args = append(args, q.ChangedSince)
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+cols+" FROM messages m JOIN blobs b ON b.id = m.blob WHERE m.mailbox = ?"+cond+" ORDER BY m.uid",
		append(append(colArgs, mbox), args...)...)
	if err != nil {
		return nil, dbErr("messages", err)
	}
	defer rows.Close()
	// Size the result once: regrowing a slice of 100,000 Messages costs
	// more than counting them (an index range scan).
	// Only reads that can be large pay for the count; a few messages
	// regrow cheaply.
	var n int
	if mayBeLarge(q.UIDs) {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM messages m WHERE m.mailbox = ?"+cond,
			append([]any{mbox}, args...)...).Scan(&n); err != nil {
			return nil, dbErr("messages", err)
		}
	}
	out := make([]storage.Message, 0, n)
	for rows.Next() {
		var (
			msg            storage.Message
			bits, date, tz int64
			kw, hash       string
			env, st, refs  string
			hdr            []byte
		)
		dest := []any{&msg.UID, &msg.ModSeq, &bits, &kw, &date, &tz, &msg.Size, &hash}
		if q.Fields&storage.FieldEnvelope != 0 {
			dest = append(dest, &env)
		}
		if q.Fields&storage.FieldStructure != 0 {
			dest = append(dest, &st)
		}
		if q.Fields&storage.FieldHeader != 0 {
			dest = append(dest, &hdr)
		}
		if q.Fields&storage.FieldThreading != 0 {
			dest = append(dest, &refs, &msg.BaseSubject)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, dbErr("messages", err)
		}
		if post && !q.UIDs.Contains(msg.UID) {
			continue
		}
		fs, err := decodeFlags(bits, kw)
		if err != nil {
			return nil, err
		}
		msg.Mailbox = mbox
		msg.Flags = fs.list()
		msg.InternalDate = unixTime(date, tz)
		msg.Blob = storage.BlobID(hash)
		if q.Fields&storage.FieldEnvelope != 0 {
			msg.Envelope = new(storage.Envelope)
			if err := json.Unmarshal([]byte(env), msg.Envelope); err != nil {
				return nil, fmt.Errorf("sqlite: corrupt envelope of uid %d: %w", msg.UID, err)
			}
		}
		if q.Fields&storage.FieldStructure != 0 {
			msg.Structure = new(storage.Part)
			if err := json.Unmarshal([]byte(st), msg.Structure); err != nil {
				return nil, fmt.Errorf("sqlite: corrupt structure of uid %d: %w", msg.UID, err)
			}
		}
		if q.Fields&storage.FieldHeader != 0 {
			msg.Header = hdr
		}
		if q.Fields&storage.FieldThreading != 0 && refs != "" {
			if err := json.Unmarshal([]byte(refs), &msg.References); err != nil {
				return nil, fmt.Errorf("sqlite: corrupt references of uid %d: %w", msg.UID, err)
			}
		}
		out = append(out, msg)
	}
	return out, dbErr("messages", rows.Err())
}

func mailboxExists(tx *sql.Tx, mbox storage.MailboxID) error {
	_, err := mailboxOwner(tx, mbox)
	return err
}

// mailboxOwner returns the account of mbox (ErrNoMailbox).
func mailboxOwner(tx *sql.Tx, mbox storage.MailboxID) (storage.AccountID, error) {
	var owner storage.AccountID
	err := tx.QueryRow("SELECT account FROM mailboxes WHERE id = ?", mbox).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("mailbox %d: %w", mbox, storage.ErrNoMailbox)
	}
	return owner, dbErr("mailbox", err)
}

// privateSeen reports whether viewer's \Seen in a mailbox of owner is kept
// apart from the message row (storage.Query.Viewer).
func privateSeen(owner, viewer storage.AccountID) bool { return viewer != 0 && viewer != owner }

// viewerSeen returns which of msgs viewer has seen (its private \Seen).
func (w *wtx) viewerSeen(mbox storage.MailboxID, viewer storage.AccountID, msgs []msgRow) (map[storage.UID]bool, error) {
	out := make(map[storage.UID]bool)
	if len(msgs) == 0 {
		return out, nil
	}
	rows, err := w.tx.Query("SELECT uid FROM seen WHERE mailbox = ? AND account = ? AND uid BETWEEN ? AND ?",
		mbox, viewer, msgs[0].uid, msgs[len(msgs)-1].uid)
	if err != nil {
		return nil, dbErr("seen", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u storage.UID
		if err := rows.Scan(&u); err != nil {
			return nil, dbErr("seen", err)
		}
		out[u] = true
	}
	return out, dbErr("seen", rows.Err())
}

// setSeen sets or clears viewer's private \Seen of one message.
func (w *wtx) setSeen(mbox storage.MailboxID, uid storage.UID, viewer storage.AccountID, on bool) error {
	var err error
	if on {
		_, err = w.exec("INSERT INTO seen(mailbox, uid, account) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", mbox, uid, viewer)
	} else {
		_, err = w.exec("DELETE FROM seen WHERE mailbox = ? AND uid = ? AND account = ?", mbox, uid, viewer)
	}
	return dbErr("seen", err)
}

// StoreFlags changes the flags of the messages in u.UIDs as u.Viewer sees
// them; all changed messages get the same new modseq (one higher than the
// mailbox's highest). Messages whose flags would not change for the viewer
// are left alone (no modseq bump); messages failing UnchangedSince are
// reported in Modified. It publishes ChangeFlags per changed message: with
// Viewer 0 and the owner's flags when shared flags changed, with Viewer set
// and its flags when a viewer's private \Seen changed (both when both did).
func (s *Store) StoreFlags(ctx context.Context, mbox storage.MailboxID, u storage.FlagUpdate) (storage.FlagResult, error) {
	upd, err := parseFlags(u.Flags)
	if err != nil {
		return storage.FlagResult{}, err
	}
	switch u.Op {
	case storage.FlagsAdd, storage.FlagsRemove, storage.FlagsReplace:
	default:
		return storage.FlagResult{}, fmt.Errorf("flag operation %d: %w", u.Op, storage.ErrInvalid)
	}
	var res storage.FlagResult
	err = s.write(ctx, "store flags", func(w *wtx) error {
		res = storage.FlagResult{}
		m, err := w.getMailbox(mbox)
		if err != nil {
			return err
		}
		msgs, err := w.selectMessages(mbox, u.UIDs)
		if err != nil {
			return err
		}
		private := privateSeen(m.Account, u.Viewer)
		var seen map[storage.UID]bool
		if private {
			if seen, err = w.viewerSeen(mbox, u.Viewer, msgs); err != nil {
				return err
			}
		}
		modseq := m.HighestModSeq + 1
		for _, msg := range msgs {
			if u.UnchangedSince != 0 && msg.modseq > u.UnchangedSince {
				res.Modified = append(res.Modified, msg.uid)
				continue
			}
			row := msg.flags
			row.sortKeywords()
			view := row
			if private {
				view.bits &^= bitSeen
				if seen[msg.uid] {
					view.bits |= bitSeen
				}
			}
			nview := view.apply(u.Op, upd).keep(view, u.Keep)
			if nview.equal(view) {
				continue
			}
			nrow, seenChanged := nview, false
			if private {
				nrow.bits = nview.bits&^bitSeen | row.bits&bitSeen
				if now := nview.bits&bitSeen != 0; now != seen[msg.uid] {
					seenChanged = true
					if err := w.setSeen(mbox, msg.uid, u.Viewer, now); err != nil {
						return err
					}
				}
			}
			// The modseq moves even when only a private \Seen changed, so
			// that CONDSTORE reports the change to that viewer.
			if _, err := w.exec("UPDATE messages SET sysflags = ?, keywords = ?, modseq = ? WHERE id = ?", nrow.bits, nrow.keywordsColumn(), modseq, msg.id); err != nil {
				return dbErr("store flags", err)
			}
			list := nview.list()
			res.Updated = append(res.Updated, storage.Message{Mailbox: mbox, UID: msg.uid, ModSeq: modseq, Flags: list,
				InternalDate: unixTime(msg.date, msg.tz), Size: msg.size})
			if !nrow.equal(row) {
				w.publish(storage.Change{Kind: storage.ChangeFlags, Account: m.Account, Mailbox: mbox, UID: msg.uid, ModSeq: modseq, Flags: nrow.list()})
			}
			if seenChanged {
				w.publish(storage.Change{Kind: storage.ChangeFlags, Account: m.Account, Mailbox: mbox, UID: msg.uid, ModSeq: modseq, Flags: list, Viewer: u.Viewer})
			}
		}
		if len(res.Updated) > 0 {
			if _, err := w.exec("UPDATE mailboxes SET highest_modseq = ? WHERE id = ?", modseq, mbox); err != nil {
				return dbErr("store flags", err)
			}
		}
		return nil
	})
	return res, err
}

// expungeRows removes msgs from m, records them as expunged with one new
// modseq and publishes ChangeExpunged for each.
func (w *wtx) expungeRows(m storage.Mailbox, msgs []msgRow) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := w.removeMessages(m, msgs); err != nil {
		return err
	}
	modseq := m.HighestModSeq + 1
	for _, msg := range msgs {
		if _, err := w.exec("INSERT INTO expunged(mailbox, uid, modseq) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET modseq = excluded.modseq",
			m.ID, msg.uid, modseq); err != nil {
			return dbErr("expunge", err)
		}
		if _, err := w.exec("DELETE FROM seen WHERE mailbox = ? AND uid = ?", m.ID, msg.uid); err != nil {
			return dbErr("expunge", err)
		}
		w.publish(storage.Change{Kind: storage.ChangeExpunged, Account: m.Account, Mailbox: m.ID, UID: msg.uid, ModSeq: modseq, Flags: msg.flags.list()})
	}
	_, err := w.exec("UPDATE mailboxes SET highest_modseq = ? WHERE id = ?", modseq, m.ID)
	return dbErr("expunge", err)
}

// Expunge removes the given messages and returns the UIDs actually removed,
// in order. An empty uids removes nothing. It publishes ChangeExpunged for
// each; blob files whose last reference went are deleted after the commit.
func (s *Store) Expunge(ctx context.Context, mbox storage.MailboxID, uids []storage.UID) ([]storage.UID, error) {
	if len(uids) == 0 {
		if _, err := s.MailboxByID(ctx, mbox); err != nil {
			return nil, err
		}
		return nil, nil
	}
	sorted := append([]storage.UID(nil), uids...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var set storage.UIDSet
	for _, u := range sorted {
		if u == 0 {
			continue
		}
		if n := len(set); n > 0 && (set[n-1].Stop == u || set[n-1].Stop+1 == u) {
			set[n-1].Stop = u
			continue
		}
		set = append(set, storage.UIDRange{Start: u, Stop: u})
	}
	var out []storage.UID
	err := s.write(ctx, "expunge", func(w *wtx) error {
		out = nil
		m, err := w.getMailbox(mbox)
		if err != nil {
			return err
		}
		if len(set) == 0 {
			return nil
		}
		msgs, err := w.selectMessages(mbox, set)
		if err != nil {
			return err
		}
		if err := w.expungeRows(m, msgs); err != nil {
			return err
		}
		for _, msg := range msgs {
			out = append(out, msg.uid)
		}
		return nil
	})
	return out, err
}

// Copy copies messages to dst, preserving flags (as viewer sees them in
// src; viewer's \Seen is its own in dst) and internal date; new UIDs are
// allocated in dst in source UID order. It checks dst's account quota for
// the whole copy (ErrOverQuota) and publishes ChangeMessageAdded for each
// copy.
func (s *Store) Copy(ctx context.Context, src storage.MailboxID, uids storage.UIDSet, dst storage.MailboxID, viewer storage.AccountID) (storage.CopyResult, error) {
	return s.copyMove(ctx, src, uids, dst, viewer, false)
}

// Move moves messages to dst (RFC 6851): as Copy, then the source messages
// are expunged (ChangeExpunged) in the same transaction.
func (s *Store) Move(ctx context.Context, src storage.MailboxID, uids storage.UIDSet, dst storage.MailboxID, viewer storage.AccountID) (storage.CopyResult, error) {
	return s.copyMove(ctx, src, uids, dst, viewer, true)
}

func (s *Store) copyMove(ctx context.Context, src storage.MailboxID, uids storage.UIDSet, dst storage.MailboxID, viewer storage.AccountID, move bool) (storage.CopyResult, error) {
	name := "copy"
	if move {
		name = "move"
	}
	var res storage.CopyResult
	err := s.write(ctx, name, func(w *wtx) error {
		res = storage.CopyResult{}
		sm, err := w.getMailbox(src)
		if err != nil {
			return err
		}
		dm, err := w.getMailbox(dst)
		if err != nil {
			return err
		}
		res.UIDValidity = dm.UIDValidity
		msgs, err := w.selectMessages(src, uids)
		if err != nil || len(msgs) == 0 {
			return err
		}
		if privateSeen(sm.Account, viewer) {
			seen, err := w.viewerSeen(src, viewer, msgs)
			if err != nil {
				return err
			}
			for i := range msgs {
				msgs[i].flags.bits &^= bitSeen
				if seen[msgs[i].uid] {
					msgs[i].flags.bits |= bitSeen
				}
			}
		}
		dstPrivate := privateSeen(dm.Account, viewer)
		if !move || sm.Account != dm.Account {
			var total int64
			for _, msg := range msgs {
				total += msg.charge
			}
			if err := w.quotaCheck(dm.Account, total, int64(len(msgs))); err != nil {
				return err
			}
		}
		for _, msg := range msgs {
			if _, err := w.exec("UPDATE blobs SET refs = refs + 1 WHERE id = ?", msg.blob); err != nil {
				return dbErr(name, err)
			}
			fs, seen := msg.flags, false
			if dstPrivate {
				seen = fs.bits&bitSeen != 0
				fs.bits &^= bitSeen
			}
			uid, modseq, err := w.insertMessage(&dm, fs, msg.date, msg.tz, msg.size, msg.charge, msg.blob)
			if err != nil {
				return err
			}
			if seen {
				if err := w.setSeen(dst, uid, viewer, true); err != nil {
					return err
				}
			}
			if err := w.copyFileRow(msg.id, dm, uid); err != nil {
				return err
			}
			res.Source = append(res.Source, msg.uid)
			res.Dest = append(res.Dest, uid)
			w.publish(storage.Change{Kind: storage.ChangeMessageAdded, Account: dm.Account, Mailbox: dst, UID: uid, ModSeq: modseq, Flags: fs.list()})
		}
		if move {
			// Re-read: when src == dst, insertMessage changed its counters.
			if sm, err = w.getMailbox(src); err != nil {
				return err
			}
			return w.expungeRows(sm, msgs)
		}
		return nil
	})
	return res, err
}

// Vanished returns, in order, the UIDs in uids (empty: all) expunged from
// mbox with a modseq greater than since (RFC 7162 3.2.10).
func (s *Store) Vanished(ctx context.Context, mbox storage.MailboxID, since storage.ModSeq, uids storage.UIDSet) ([]storage.UID, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("vanished", err)
	}
	defer tx.Rollback()
	if err := mailboxExists(tx, mbox); err != nil {
		return nil, err
	}
	cond, args, post := uidFilter(uids)
	rows, err := tx.QueryContext(ctx, "SELECT uid FROM expunged WHERE mailbox = ? AND modseq > ?"+cond+" ORDER BY uid",
		append([]any{mbox, since}, args...)...)
	if err != nil {
		return nil, dbErr("vanished", err)
	}
	defer rows.Close()
	var out []storage.UID
	for rows.Next() {
		var u storage.UID
		if err := rows.Scan(&u); err != nil {
			return nil, dbErr("vanished", err)
		}
		if post && !uids.Contains(u) {
			continue
		}
		out = append(out, u)
	}
	return out, dbErr("vanished", rows.Err())
}
