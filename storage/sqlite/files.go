package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/blob"
)

// Files (storage.Files). A file is a files row beside its message row
// (files.message): the row holds the name, the content blob's hash and the
// dead properties; the message is a composite blob (composites: head,
// content, tail) when the file was stored with PutFile, or the delivered
// message (Target.File) otherwise. Deleting the message deletes the file
// (removeMessages); the content blob is referenced by files and composites
// rows and counted in blobUsers.

const schemaFiles = `
CREATE TABLE IF NOT EXISTS composites (
	hash    TEXT PRIMARY KEY, -- blobs.hash of the message (storage.CompositeID)
	content TEXT NOT NULL,    -- the content blob's hash
	head    BLOB NOT NULL,
	tail    BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS composites_content ON composites(content);

CREATE TABLE IF NOT EXISTS files (
	message      INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
	mailbox      INTEGER NOT NULL REFERENCES mailboxes(id),
	name         TEXT NOT NULL,
	content      TEXT NOT NULL,
	size         INTEGER NOT NULL,
	content_type TEXT NOT NULL DEFAULT '',
	created      INTEGER NOT NULL, -- unix seconds
	modified     INTEGER NOT NULL,
	props        TEXT NOT NULL DEFAULT '', -- JSON []storage.DeadProp
	UNIQUE (mailbox, name)
);
CREATE INDEX IF NOT EXISTS files_content ON files(content);

CREATE TABLE IF NOT EXISTS folder_props (
	mailbox INTEGER PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
	props   TEXT NOT NULL
);
`

func migrateFiles(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaFiles)
	return err
}

const fileCols = "f.mailbox, m.uid, f.name, f.content, f.size, f.content_type, f.created, f.modified, f.props"

func scanFile(sc interface{ Scan(...any) error }) (storage.File, error) {
	var f storage.File
	var created, modified int64
	var props string
	if err := sc.Scan(&f.Mailbox, &f.UID, &f.Name, &f.Content, &f.Size, &f.ContentType, &created, &modified, &props); err != nil {
		return f, err
	}
	f.Created, f.Modified = time.Unix(created, 0).UTC(), time.Unix(modified, 0).UTC()
	f.ETag = storage.FileETag(f.Content)
	if props != "" {
		if err := json.Unmarshal([]byte(props), &f.Props); err != nil {
			return f, fmt.Errorf("file %q: props: %w", f.Name, err)
		}
	}
	return f, nil
}

// Files lists the files of mbox by name.
func (s *Store) Files(ctx context.Context, mbox storage.MailboxID) ([]storage.File, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("files", err)
	}
	defer tx.Rollback()
	if err := mailboxExists(tx, mbox); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+fileCols+" FROM files f JOIN messages m ON m.id = f.message WHERE f.mailbox = ? ORDER BY f.name", mbox)
	if err != nil {
		return nil, dbErr("files", err)
	}
	defer rows.Close()
	var out []storage.File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, dbErr("files", err)
		}
		out = append(out, f)
	}
	return out, dbErr("files", rows.Err())
}

// File returns one file.
func (s *Store) File(ctx context.Context, mbox storage.MailboxID, name string) (storage.File, error) {
	n, err := storage.NormalizeFileName(name)
	if err != nil {
		return storage.File{}, fmt.Errorf("file %q: %w", name, storage.ErrNotFound)
	}
	f, err := scanFile(s.rdb.QueryRowContext(ctx, "SELECT "+fileCols+" FROM files f JOIN messages m ON m.id = f.message WHERE f.mailbox = ? AND f.name = ?", mbox, n))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.MailboxByID(ctx, mbox); err != nil {
			return f, err
		}
		return f, fmt.Errorf("file %q: %w", n, storage.ErrNotFound)
	}
	return f, dbErr("file", err)
}

// fileRow is a files row with its message, as the write paths need it.
type fileRow struct {
	storage.File
	msg   msgRow
	props string
}

func (w *wtx) getFile(mbox storage.MailboxID, name string) (*fileRow, error) {
	var fr fileRow
	var created, modified, bits int64
	err := w.queryRow(`SELECT f.name, f.content, f.size, f.content_type, f.created, f.modified, f.props,
			m.id, m.uid, m.modseq, m.sysflags, m.keywords, m.internal_date, m.internal_tz, m.size, coalesce(m.charge, m.size), m.blob
		FROM files f JOIN messages m ON m.id = f.message WHERE f.mailbox = ? AND f.name = ?`, mbox, name).Scan(
		&fr.Name, &fr.Content, &fr.Size, &fr.ContentType, &created, &modified, &fr.props,
		&fr.msg.id, &fr.msg.uid, &fr.msg.modseq, &bits, &fr.msg.flagsKw, &fr.msg.date, &fr.msg.tz, &fr.msg.size, &fr.msg.charge, &fr.msg.blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("file", err)
	}
	fr.Mailbox, fr.UID = mbox, fr.msg.uid
	fr.Created, fr.Modified = time.Unix(created, 0).UTC(), time.Unix(modified, 0).UTC()
	if fr.msg.flags, err = decodeFlags(bits, fr.msg.flagsKw); err != nil {
		return nil, err
	}
	return &fr, nil
}

// storeComposite records the composite message of content (if new) and
// returns its blob reference.
func (w *wtx) storeComposite(msg *storage.FileMessage, content storage.BlobRef) (storage.BlobRef, error) {
	id := storage.CompositeID(msg, content.ID)
	if _, err := w.exec("INSERT INTO composites(hash, content, head, tail) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
		string(id), string(content.ID), msg.Head, msg.Tail); err != nil {
		return storage.BlobRef{}, dbErr("composite", err)
	}
	w.o.created = append(w.o.created, content.ID)
	return storage.BlobRef{ID: id, Size: msg.Size(content.Size)}, nil
}

// insertFileMessage adds the message ref (parsed p) to mailbox m with its
// files row, and publishes ChangeMessageAdded.
func (w *wtx) insertFileMessage(m *storage.Mailbox, ref storage.BlobRef, p *storage.Parsed, f *storage.File, props string, flags flagSet, date time.Time) (storage.UID, error) {
	pr, err := encodeParsed(p)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", storage.ErrInvalid, err)
	}
	blobID, err := w.ensureBlob(ref, &pr)
	if err != nil {
		return 0, err
	}
	// The message counts the file's bytes toward quota, not their base64
	// form (storage.Usage).
	uid, modseq, err := w.insertMessage(m, flags, date.Unix(), zoneOffset(date), ref.Size, f.Size, blobID)
	if err != nil {
		return 0, err
	}
	if _, err := w.exec(`INSERT INTO files(message, mailbox, name, content, size, content_type, created, modified, props)
		VALUES ((SELECT id FROM messages WHERE mailbox = ? AND uid = ?), ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, uid, m.ID, f.Name, string(f.Content), f.Size, f.ContentType, f.Created.Unix(), f.Modified.Unix(), props); err != nil {
		return 0, dbErr("insert file", err)
	}
	w.o.created = append(w.o.created, f.Content)
	w.publish(storage.Change{Kind: storage.ChangeMessageAdded, Account: m.Account, Mailbox: m.ID, UID: uid, ModSeq: modseq, Flags: flags.list()})
	return uid, nil
}

func encodeProps(p []storage.DeadProp) (string, error) {
	if len(p) == 0 {
		return "", nil
	}
	b, err := json.Marshal(p)
	return string(b), err
}

func decodeProps(s string) ([]storage.DeadProp, error) {
	if s == "" {
		return nil, nil
	}
	var p []storage.DeadProp
	err := json.Unmarshal([]byte(s), &p)
	return p, err
}

// PutFile stores a file (see storage.Files).
func (s *Store) PutFile(ctx context.Context, fw storage.FileWrite) (storage.File, bool, error) {
	name, err := storage.NormalizeFileName(fw.Name)
	if err != nil {
		return storage.File{}, false, fmt.Errorf("file name %q: %w", fw.Name, err)
	}
	if !blob.ValidID(fw.Content.ID) || fw.Content.Size < 0 || fw.Message == nil || fw.Message.Parsed == nil {
		return storage.File{}, false, fmt.Errorf("put file: bad request: %w", storage.ErrInvalid)
	}
	var props string
	if fw.SetProps {
		p, err := storage.MergeProps(nil, fw.Props)
		if err != nil {
			return storage.File{}, false, err
		}
		if props, err = encodeProps(p); err != nil {
			return storage.File{}, false, fmt.Errorf("put file: %w: %w", storage.ErrInvalid, err)
		}
	}
	mod := fw.Modified
	if mod.IsZero() {
		mod = time.Now()
	}
	var out storage.File
	var created bool
	err = s.writeBlobs(ctx, "put file", []storage.BlobID{fw.Content.ID}, func(w *wtx) error {
		m, err := w.getMailbox(fw.Mailbox)
		if err != nil {
			return err
		}
		old, err := w.getFile(m.ID, name)
		if err != nil {
			return err
		}
		if old != nil && fw.NoReplace {
			return fmt.Errorf("file %q: %w", name, storage.ErrExists)
		}
		etag := ""
		if old != nil {
			etag = storage.FileETag(old.Content)
		}
		if err := fw.CheckConditions(etag); err != nil {
			return fmt.Errorf("file %q: %w", name, err)
		}
		// The content must be stored (as after PutBlob).
		if size, err := w.s.blobs.Stat(fw.Content.ID); err != nil || size != fw.Content.Size {
			return fmt.Errorf("put file: content %s is not stored: %w", fw.Content.ID, storage.ErrInvalid)
		}
		grow := fw.Content.Size
		if old != nil {
			grow -= old.msg.charge
		}
		if grow > 0 {
			if err := w.quotaCheck(m.Account, grow, 0); err != nil {
				return err
			}
		}
		f := storage.File{Mailbox: m.ID, Name: name, Content: fw.Content.ID, Size: fw.Content.Size,
			ContentType: fw.ContentType, Created: mod, Modified: mod}
		var flags flagSet
		p := props
		if old != nil {
			f.Created = old.Created
			flags = old.msg.flags
			if !fw.SetProps {
				p = old.props
			}
			if err := w.expungeRows(m, []msgRow{old.msg}); err != nil {
				return err
			}
			if m, err = w.getMailbox(m.ID); err != nil {
				return err
			}
		}
		// After the expunge: the new message may be the very composite
		// the old one was (same name, date and content).
		ref, err := w.storeComposite(fw.Message, fw.Content)
		if err != nil {
			return err
		}
		uid, err := w.insertFileMessage(&m, ref, fw.Message.Parsed, &f, p, flags, mod)
		if err != nil {
			return err
		}
		f.UID = uid
		f.ETag = storage.FileETag(f.Content)
		f.Created, f.Modified = f.Created.UTC().Truncate(time.Second), f.Modified.UTC().Truncate(time.Second)
		if f.Props, err = decodeProps(p); err != nil {
			return err
		}
		out, created = f, old == nil
		return nil
	})
	if err != nil {
		return storage.File{}, false, err
	}
	s.blobs.Unpin(fw.Content.ID)
	return out, created, nil
}

// DeleteFile expunges the file's message.
func (s *Store) DeleteFile(ctx context.Context, mbox storage.MailboxID, name string) error {
	n, err := storage.NormalizeFileName(name)
	if err != nil {
		return fmt.Errorf("file %q: %w", name, storage.ErrNotFound)
	}
	return s.write(ctx, "delete file", func(w *wtx) error {
		m, err := w.getMailbox(mbox)
		if err != nil {
			return err
		}
		old, err := w.getFile(mbox, n)
		if err != nil {
			return err
		}
		if old == nil {
			return fmt.Errorf("file %q: %w", n, storage.ErrNotFound)
		}
		return w.expungeRows(m, []msgRow{old.msg})
	})
}

// CopyFile copies or moves a file (see storage.Files).
func (s *Store) CopyFile(ctx context.Context, src storage.MailboxID, name string, dst storage.MailboxID, dstName string, msg *storage.FileMessage, move, noReplace bool) (storage.File, bool, error) {
	sn, err := storage.NormalizeFileName(name)
	if err != nil {
		return storage.File{}, false, fmt.Errorf("file %q: %w", name, storage.ErrNotFound)
	}
	dn, err := storage.NormalizeFileName(dstName)
	if err != nil {
		return storage.File{}, false, fmt.Errorf("file name %q: %w", dstName, err)
	}
	if msg == nil || msg.Parsed == nil {
		return storage.File{}, false, fmt.Errorf("copy file: no message: %w", storage.ErrInvalid)
	}
	opName := "copy file"
	if move {
		opName = "move file"
	}
	var out storage.File
	var created bool
	err = s.write(ctx, opName, func(w *wtx) error {
		sm, err := w.getMailbox(src)
		if err != nil {
			return err
		}
		dm, err := w.getMailbox(dst)
		if err != nil {
			return err
		}
		f, err := w.getFile(src, sn)
		if err != nil {
			return err
		}
		if f == nil {
			return fmt.Errorf("file %q: %w", sn, storage.ErrNotFound)
		}
		if src == dst && sn == dn {
			return fmt.Errorf("copy file onto itself: %w", storage.ErrInvalid)
		}
		old, err := w.getFile(dst, dn)
		if err != nil {
			return err
		}
		if old != nil && noReplace {
			return fmt.Errorf("file %q: %w", dn, storage.ErrExists)
		}
		if !move || sm.Account != dm.Account {
			grow := f.Size
			if old != nil && sm.Account == dm.Account {
				grow -= old.msg.charge
			}
			if grow > 0 {
				if err := w.quotaCheck(dm.Account, grow, 0); err != nil {
					return err
				}
			}
		}
		if old != nil {
			if err := w.expungeRows(dm, []msgRow{old.msg}); err != nil {
				return err
			}
		}
		if move {
			if sm, err = w.getMailbox(src); err != nil {
				return err
			}
			if err := w.expungeRows(sm, []msgRow{f.msg}); err != nil {
				return err
			}
		}
		if dm, err = w.getMailbox(dst); err != nil {
			return err
		}
		ref, err := w.storeComposite(msg, storage.BlobRef{ID: f.Content, Size: f.Size})
		if err != nil {
			return err
		}
		nf := storage.File{Mailbox: dst, Name: dn, Content: f.Content, Size: f.Size, ContentType: f.ContentType,
			Created: time.Now(), Modified: f.Modified}
		if move {
			nf.Created = f.Created
		}
		uid, err := w.insertFileMessage(&dm, ref, msg.Parsed, &nf, f.props, f.msg.flags, f.Modified)
		if err != nil {
			return err
		}
		nf.UID = uid
		nf.ETag = storage.FileETag(nf.Content)
		nf.Created = nf.Created.UTC().Truncate(time.Second)
		if nf.Props, err = decodeProps(f.props); err != nil {
			return err
		}
		out, created = nf, old == nil
		return nil
	})
	return out, created, err
}

// SetFileProps changes dead properties of a file or folder.
func (s *Store) SetFileProps(ctx context.Context, mbox storage.MailboxID, name string, changes []storage.DeadProp) error {
	n := ""
	if name != "" {
		var err error
		if n, err = storage.NormalizeFileName(name); err != nil {
			return fmt.Errorf("file %q: %w", name, storage.ErrNotFound)
		}
	}
	return s.write(ctx, "set props", func(w *wtx) error {
		if _, err := w.getMailbox(mbox); err != nil {
			return err
		}
		var cur string
		if n == "" {
			err := w.queryRow("SELECT props FROM folder_props WHERE mailbox = ?", mbox).Scan(&cur)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return dbErr("set props", err)
			}
		} else {
			f, err := w.getFile(mbox, n)
			if err != nil {
				return err
			}
			if f == nil {
				return fmt.Errorf("file %q: %w", n, storage.ErrNotFound)
			}
			cur = f.props
		}
		p, err := decodeProps(cur)
		if err != nil {
			return err
		}
		if p, err = storage.MergeProps(p, changes); err != nil {
			return err
		}
		enc, err := encodeProps(p)
		if err != nil {
			return fmt.Errorf("set props: %w: %w", storage.ErrInvalid, err)
		}
		if n == "" {
			_, err = w.exec("INSERT INTO folder_props(mailbox, props) VALUES (?, ?) ON CONFLICT DO UPDATE SET props = excluded.props", mbox, enc)
		} else {
			_, err = w.exec("UPDATE files SET props = ? WHERE mailbox = ? AND name = ?", enc, mbox, n)
		}
		return dbErr("set props", err)
	})
}

// FolderProps returns a folder's dead properties.
func (s *Store) FolderProps(ctx context.Context, mbox storage.MailboxID) ([]storage.DeadProp, error) {
	var cur string
	err := s.rdb.QueryRowContext(ctx, "SELECT props FROM folder_props WHERE mailbox = ?", mbox).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.MailboxByID(ctx, mbox); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("folder props", err)
	}
	return decodeProps(cur)
}

// releaseContent schedules the file of content blob hash for deletion
// after the commit when nothing references it any more.
func (w *wtx) releaseContent(hash string) error {
	var n int
	if err := w.queryRow(blobUsers, hash).Scan(&n); err != nil {
		return dbErr("release content", err)
	}
	if n == 0 {
		w.o.deleted = append(w.o.deleted, storage.BlobID(hash))
	}
	return nil
}

// fileContentsOf returns the content hashes of the files rows of the
// messages msgs (before they are deleted).
func (w *wtx) fileContentsOf(msgs []msgRow) ([]string, error) {
	var out []string
	for _, m := range msgs {
		var c string
		err := w.queryRow("SELECT content FROM files WHERE message = ?", m.id).Scan(&c)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, dbErr("file content", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// insertDeliveredFile adds the files row of a delivered message (Target.File),
// choosing a free name: "a.txt", "a (2).txt", ...
func (w *wtx) insertDeliveredFile(m storage.Mailbox, uid storage.UID, fs *storage.FileSpec, date time.Time) error {
	name, err := storage.NormalizeFileName(fs.Name)
	if err != nil {
		name = "attachment"
	}
	base := name
	for i := 2; ; i++ {
		var n int
		if err := w.queryRow("SELECT count(*) FROM files WHERE mailbox = ? AND name = ?", m.ID, name).Scan(&n); err != nil {
			return dbErr("delivered file", err)
		}
		if n == 0 {
			break
		}
		if i > 1000 {
			return fmt.Errorf("delivered file %q: %w", fs.Name, storage.ErrExists)
		}
		name = storage.SuffixedFileName(base, i)
	}
	if size, err := w.s.blobs.Stat(fs.Content.ID); err != nil || size != fs.Content.Size {
		return fmt.Errorf("delivered file: content %s is not stored: %w", fs.Content.ID, storage.ErrInvalid)
	}
	if _, err := w.exec(`INSERT INTO files(message, mailbox, name, content, size, content_type, created, modified, props)
		VALUES ((SELECT id FROM messages WHERE mailbox = ? AND uid = ?), ?, ?, ?, ?, ?, ?, ?, '')`,
		m.ID, uid, m.ID, name, string(fs.Content.ID), fs.Content.Size, fs.ContentType, date.Unix(), date.Unix()); err != nil {
		return dbErr("delivered file", err)
	}
	w.o.created = append(w.o.created, fs.Content.ID)
	return nil
}

// copyFileRow copies the files row of message src to the message dst
// (IMAP COPY/MOVE into a folder), with a free name.
func (w *wtx) copyFileRow(srcMsg int64, dm storage.Mailbox, uid storage.UID) error {
	var f storage.FileSpec
	var created, modified int64
	var props string
	err := w.queryRow("SELECT name, content, size, content_type, created, modified, props FROM files WHERE message = ?", srcMsg).Scan(
		&f.Name, &f.Content.ID, &f.Content.Size, &f.ContentType, &created, &modified, &props)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return dbErr("copy file row", err)
	}
	if err := w.insertDeliveredFile(dm, uid, &f, time.Unix(modified, 0)); err != nil {
		return err
	}
	_, err = w.exec("UPDATE files SET props = ?, created = ? WHERE message = (SELECT id FROM messages WHERE mailbox = ? AND uid = ?)", props, created, dm.ID, uid)
	return dbErr("copy file row", err)
}

// compositeSize returns the size of the composite blob id, checking that
// its content is stored; notFound when id is no composite.
func (w *wtx) compositeSize(id storage.BlobID, notFound error) (int64, error) {
	var content string
	var head, tail []byte
	err := w.queryRow("SELECT content, head, tail FROM composites WHERE hash = ?", string(id)).Scan(&content, &head, &tail)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound
	}
	if err != nil {
		return 0, dbErr("composite", err)
	}
	n, err := w.s.blobs.Stat(storage.BlobID(content))
	if err != nil {
		return 0, err
	}
	m := storage.FileMessage{Head: head, Tail: tail}
	return m.Size(n), nil
}

// migrateCharge (migration 14) makes quota count a file's size rather
// than its message's (base64, about 4/3 of it): messages.charge is what a
// message counts toward quota (NULL: its size). The messages composed for
// files (composites) get their content's size, taken from a files row of
// that content (a composite copied to a mail folder whose file is gone
// keeps its size), and the accounts' usage is counted again.
func migrateCharge(tx *sql.Tx, _ bool) error {
	for _, q := range []string{
		`ALTER TABLE messages ADD COLUMN charge INTEGER`,
		`UPDATE messages SET charge = (SELECT f.size FROM blobs b JOIN composites c ON c.hash = b.hash
				JOIN files f ON f.content = c.content WHERE b.id = messages.blob LIMIT 1)
			WHERE blob IN (SELECT b.id FROM blobs b JOIN composites c ON c.hash = b.hash)`,
		`UPDATE accounts SET used_bytes = coalesce((SELECT sum(coalesce(m.charge, m.size)) FROM messages m
			JOIN mailboxes mb ON mb.id = m.mailbox WHERE mb.account = accounts.id), 0)`,
	} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	return nil
}
