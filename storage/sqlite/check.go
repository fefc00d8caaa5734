package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/blob"
)

// Check verifies integrity and returns the problems found, in human-readable
// form (empty: healthy):
//   - SQLite's own quick_check and foreign key check;
//   - every referenced blob exists, has the recorded size and hashes to its
//     name (this reads every blob);
//   - blob reference counts agree with the message rows, and every blob row
//     has its full-text entry;
//   - account usage counters agree with the messages;
//   - every mailbox's UIDNEXT is above its highest UID (also expunged ones)
//     and its HIGHESTMODSEQ is at least every message's modseq.
//
// Orphaned blob files (on disk, unreferenced) are normal after a crash and
// are not problems: Check logs their number; Orphans lists them and
// RemoveOrphans deletes them.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// SQLite's own check runs on a fresh connection: FTS5's integrity check
	// can report a false checksum mismatch on a long-lived connection whose
	// cached index structure predates another connection's writes.
	qc, err := s.quickCheck(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range qc {
		add("database: %s", r)
	}

	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("check", err)
	}
	defer tx.Rollback()

	// Collects single-column string results.
	strs := func(query string, args ...any) ([]string, error) {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, dbErr("check", err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return nil, dbErr("check", err)
			}
			out = append(out, v)
		}
		return out, dbErr("check", rows.Err())
	}

	res, err := strs("SELECT \"table\" || ' row ' || rowid || ' refers to a missing ' || parent FROM pragma_foreign_key_check")
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		add("database: %s", r)
	}

	// Blob rows against files.
	type blobRow struct {
		id         int64
		hash       string
		size, refs int64
		count      int64
		indexed    bool
	}
	rows, err := tx.QueryContext(ctx, `SELECT b.id, b.hash, b.size, b.refs,
			(SELECT count(*) FROM messages m WHERE m.blob = b.id),
			EXISTS (SELECT 1 FROM fts WHERE fts.rowid = b.id)
		FROM blobs b ORDER BY b.id`)
	if err != nil {
		return nil, dbErr("check", err)
	}
	var blobs []blobRow
	for rows.Next() {
		var b blobRow
		if err := rows.Scan(&b.id, &b.hash, &b.size, &b.refs, &b.count, &b.indexed); err != nil {
			rows.Close()
			return nil, dbErr("check", err)
		}
		blobs = append(blobs, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("check", err)
	}
	// Content blobs of files, each verified once.
	verified := map[storage.BlobID]int64{}
	verifyContent := func(id storage.BlobID) (int64, bool) {
		if n, ok := verified[id]; ok {
			return n, n >= 0
		}
		verified[id] = -1
		if !blob.ValidID(id) {
			add("file content: malformed id %q", id)
			return 0, false
		}
		n, err := s.blobs.Verify(id)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			add("file content %s: file missing", id)
		case errors.Is(err, blob.ErrCorrupt):
			add("file content %s: content does not match its hash (corrupt)", id)
		case err != nil:
			add("file content %s: %v", id, err)
		default:
			verified[id] = n
			return n, true
		}
		return 0, false
	}
	type fileCheck struct {
		mailbox       int64
		name, content string
		size          int64
	}
	var fcs []fileCheck
	frows, err := tx.QueryContext(ctx, "SELECT mailbox, name, content, size FROM files ORDER BY message")
	if err != nil {
		return nil, dbErr("check", err)
	}
	for frows.Next() {
		var fc fileCheck
		if err := frows.Scan(&fc.mailbox, &fc.name, &fc.content, &fc.size); err != nil {
			frows.Close()
			return nil, dbErr("check", err)
		}
		fcs = append(fcs, fc)
	}
	frows.Close()
	if err := frows.Err(); err != nil {
		return nil, dbErr("check", err)
	}
	for _, fc := range fcs {
		if n, ok := verifyContent(storage.BlobID(fc.content)); ok && n != fc.size {
			add("file %q of mailbox %d: content has %d bytes, database says %d", fc.name, fc.mailbox, n, fc.size)
		}
	}

	for _, b := range blobs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if b.refs != b.count {
			add("blob %s: reference count %d, but %d messages refer to it", b.hash, b.refs, b.count)
		}
		if !b.indexed {
			add("blob %s: missing from the full-text index", b.hash)
		}
		if !blob.ValidID(storage.BlobID(b.hash)) {
			add("blob row %d: malformed id %q", b.id, b.hash)
			continue
		}
		var content string
		var head, tail []byte
		switch err := tx.QueryRowContext(ctx, "SELECT content, head, tail FROM composites WHERE hash = ?", b.hash).Scan(&content, &head, &tail); {
		case err == nil:
			// A file's message: head, content in base64, tail.
			m := &storage.FileMessage{Head: head, Tail: tail}
			if got := storage.CompositeID(m, storage.BlobID(content)); string(got) != b.hash {
				add("composite %s: its parts hash to %s", b.hash, got)
			}
			if n, ok := verifyContent(storage.BlobID(content)); ok && m.Size(n) != b.size {
				add("composite %s: composes %d bytes, database says %d", b.hash, m.Size(n), b.size)
			}
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return nil, dbErr("check", err)
		}
		n, err := s.blobs.Verify(storage.BlobID(b.hash))
		switch {
		case errors.Is(err, storage.ErrNotFound):
			if s.stillReferenced(ctx, b.hash) {
				add("blob %s: file missing (%d messages refer to it)", b.hash, b.count)
			}
		case errors.Is(err, blob.ErrCorrupt):
			add("blob %s: content does not match its hash (corrupt)", b.hash)
		case err != nil:
			add("blob %s: %v", b.hash, err)
		case n != b.size:
			add("blob %s: file has %d bytes, database says %d", b.hash, n, b.size)
		}
	}

	// Usage counters.
	rows, err = tx.QueryContext(ctx, `SELECT a.address, a.used_bytes, a.used_messages,
			coalesce((SELECT sum(coalesce(m.charge, m.size)) FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox WHERE mb.account = a.id), 0),
			(SELECT count(*) FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox WHERE mb.account = a.id)
		FROM accounts a ORDER BY a.address`)
	if err != nil {
		return nil, dbErr("check", err)
	}
	for rows.Next() {
		var addr string
		var ub, um, sb, sm int64
		if err := rows.Scan(&addr, &ub, &um, &sb, &sm); err != nil {
			rows.Close()
			return nil, dbErr("check", err)
		}
		if ub != sb || um != sm {
			add("account %s: usage counters say %d bytes in %d messages, messages add up to %d bytes in %d", addr, ub, um, sb, sm)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("check", err)
	}

	// Mailbox counters.
	rows, err = tx.QueryContext(ctx, `SELECT a.address, mb.name, mb.uidnext, mb.highest_modseq,
			coalesce((SELECT max(uid) FROM messages WHERE mailbox = mb.id), 0),
			coalesce((SELECT max(modseq) FROM messages WHERE mailbox = mb.id), 0),
			coalesce((SELECT max(uid) FROM expunged WHERE mailbox = mb.id), 0),
			coalesce((SELECT max(modseq) FROM expunged WHERE mailbox = mb.id), 0)
		FROM mailboxes mb JOIN accounts a ON a.id = mb.account ORDER BY a.address, mb.name`)
	if err != nil {
		return nil, dbErr("check", err)
	}
	for rows.Next() {
		var addr, name string
		var uidnext, hms, maxUID, maxMS, maxXUID, maxXMS int64
		if err := rows.Scan(&addr, &name, &uidnext, &hms, &maxUID, &maxMS, &maxXUID, &maxXMS); err != nil {
			rows.Close()
			return nil, dbErr("check", err)
		}
		if uidnext <= max(maxUID, maxXUID) {
			add("mailbox %s of %s: UIDNEXT %d is not above UID %d", name, addr, uidnext, max(maxUID, maxXUID))
		}
		if hms < max(maxMS, maxXMS) {
			add("mailbox %s of %s: HIGHESTMODSEQ %d is below a modseq %d", name, addr, hms, max(maxMS, maxXMS))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("check", err)
	}
	// Private \Seen of messages that are gone (expunge removes them).
	var strays int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM seen s
		WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.mailbox = s.mailbox AND m.uid = s.uid)`).Scan(&strays); err != nil {
		return nil, dbErr("check", err)
	}
	if strays > 0 {
		add("%d private \\Seen rows name messages that do not exist", strays)
	}
	if err := tx.Rollback(); err != nil {
		return nil, dbErr("check", err)
	}

	if err := s.checkQueue(ctx, add); err != nil {
		return nil, err
	}

	orphans, err := s.Orphans(ctx, 0)
	if err != nil {
		return problems, err
	}
	if len(orphans) > 0 {
		s.log.Info("unreferenced blob files (harmless after a crash; RemoveOrphans deletes them)", "count", len(orphans))
	}
	return problems, nil
}

// quickCheck runs PRAGMA quick_check on a new connection and returns its
// complaints.
func (s *Store) quickCheck(ctx context.Context) ([]string, error) {
	db, err := sql.Open("sqlite3", s.readDSN)
	if err != nil {
		return nil, dbErr("check", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return nil, dbErr("check", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, dbErr("check", err)
		}
		if r != "ok" {
			out = append(out, r)
		}
	}
	return out, dbErr("check", rows.Err())
}

// stillReferenced reports whether a blob row still exists now (a concurrent
// expunge may have removed both row and file since Check's snapshot).
func (s *Store) stillReferenced(ctx context.Context, hash string) bool {
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM blobs WHERE hash = ?", hash).Scan(&n); err != nil {
		return true
	}
	return n > 0
}

// blobUsers counts the references to a blob hash: its blobs row (messages),
// outbound queue entries, quarantine entries, and as a file's content,
// composites and files rows.
const blobUsers = "SELECT (SELECT count(*) FROM blobs WHERE hash = ?1) + (SELECT count(*) FROM queue WHERE blob = ?1)" +
	" + (SELECT count(*) FROM quarantine WHERE blob = ?1)" +
	" + (SELECT count(*) FROM composites WHERE content = ?1) + (SELECT count(*) FROM files WHERE content = ?1)"

// Orphans lists blob files that no message or queue entry references and whose last
// modification is older than minAge. A young unreferenced file may belong to
// a delivery in progress (stored, not yet committed); use a minAge of an
// hour or more when removing.
func (s *Store) Orphans(ctx context.Context, minAge time.Duration) ([]storage.BlobInfo, error) {
	cutoff := time.Now().Add(-minAge)
	var out []storage.BlobInfo
	err := s.blobs.Walk(func(i blob.Info) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i.ModTime.After(cutoff) {
			return nil
		}
		var n int
		if err := s.rdb.QueryRowContext(ctx, blobUsers, string(i.ID)).Scan(&n); err != nil {
			return dbErr("orphans", err)
		}
		if n == 0 {
			out = append(out, storage.BlobInfo{ID: i.ID, Size: i.Size, ModTime: i.ModTime})
		}
		return nil
	})
	return out, err
}

// RemoveOrphans deletes the blob files Orphans(minAge) reports, re-checking
// each inside the writer (serialised with deliveries) and returns how many
// it removed.
func (s *Store) RemoveOrphans(ctx context.Context, minAge time.Duration) (int, error) {
	cands, err := s.Orphans(ctx, minAge)
	if err != nil || len(cands) == 0 {
		return 0, err
	}
	removed := 0
	err = s.write(ctx, "remove orphans", func(w *wtx) error {
		removed = 0
		cutoff := time.Now().Add(-minAge)
		for _, c := range cands {
			var n int
			if err := w.queryRow(blobUsers, string(c.ID)).Scan(&n); err != nil {
				return dbErr("remove orphans", err)
			}
			if n > 0 {
				continue
			}
			f, err := s.blobs.Open(c.ID)
			if err != nil {
				continue
			}
			st, err := f.Stat()
			f.Close()
			if err != nil || st.ModTime().After(cutoff) {
				continue
			}
			if err := s.blobs.Delete(c.ID); err != nil {
				return err
			}
			removed++
		}
		return nil
	})
	return removed, err
}
