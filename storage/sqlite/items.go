package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
)

// Schema version 10: groupware items (storage.Items).
//
//   - items: the index of an item's content, one row per blob (content),
//     like the parsed columns of blobs: written by Deliver when
//     Parsed.Item is set, removed with the blob row (trigger). Copies of a
//     message (IMAP COPY/MOVE) share it.
//   - item_names: one row per item UID of a folder: its resource name (the
//     name a DAV client chose, or the default) and cur, the IMAP UID of
//     its current (newest) message, 0 when none is left. Triggers on
//     every new and removed message row maintain it, so messages stored
//     by any path (APPEND, COPY, MOVE, EXPUNGE) keep it right and queries
//     read one row per item. A new item UID whose default name is taken
//     gets "m<imap uid>-<name>"; should that be taken too, the row is not
//     written (OR IGNORE) and the item stays mail rather than the
//     delivery failing.
//   - item_gone: for every removed message that carried an item, the item
//     UID (trigger), joined with expunged (its modseq) by ItemChangesSince.
//
// The statements are idempotent (IF NOT EXISTS). The triggers keep the
// index consistent with every path that inserts or removes messages,
// without those paths knowing about items.
const schemaV10 = `
CREATE TABLE IF NOT EXISTS items (
	blob        INTEGER PRIMARY KEY, -- blobs.id
	kind        TEXT NOT NULL,
	uid         TEXT NOT NULL,
	defname     TEXT NOT NULL,
	summary     TEXT NOT NULL DEFAULT '',
	start_ts    INTEGER,             -- unix seconds UTC, NULL: no time
	end_ts      INTEGER,
	all_day     INTEGER NOT NULL DEFAULT 0,
	recurring   INTEGER NOT NULL DEFAULT 0,
	transparent INTEGER NOT NULL DEFAULT 0,
	status      TEXT NOT NULL DEFAULT '',
	recurrence  BLOB,
	names       TEXT NOT NULL DEFAULT '', -- JSON []string
	emails      TEXT NOT NULL DEFAULT '',
	phones      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS items_uid ON items(uid);

CREATE TABLE IF NOT EXISTS item_names (
	mailbox  INTEGER NOT NULL,
	item_uid TEXT NOT NULL,
	name     TEXT NOT NULL,
	cur      INTEGER NOT NULL DEFAULT 0, -- IMAP UID of the current message
	PRIMARY KEY (mailbox, item_uid),
	UNIQUE (mailbox, name)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS item_gone (
	mailbox  INTEGER NOT NULL,
	uid      INTEGER NOT NULL,
	item_uid TEXT NOT NULL,
	PRIMARY KEY (mailbox, uid)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS items_blob_deleted AFTER DELETE ON blobs BEGIN
	DELETE FROM items WHERE blob = old.id;
END;
CREATE TRIGGER IF NOT EXISTS items_message_added AFTER INSERT ON messages BEGIN
	INSERT OR IGNORE INTO item_names(mailbox, item_uid, name, cur)
		SELECT new.mailbox, i.uid,
			CASE WHEN EXISTS (SELECT 1 FROM item_names x WHERE x.mailbox = new.mailbox AND x.name = i.defname AND x.item_uid != i.uid)
				THEN 'm' || new.uid || '-' || i.defname ELSE i.defname END,
			new.uid
		FROM items i WHERE i.blob = new.blob
		ON CONFLICT(mailbox, item_uid) DO UPDATE SET cur = max(cur, excluded.cur);
END;
CREATE TRIGGER IF NOT EXISTS items_message_removed AFTER DELETE ON messages BEGIN
	INSERT OR REPLACE INTO item_gone(mailbox, uid, item_uid)
		SELECT old.mailbox, old.uid, uid FROM items WHERE blob = old.blob;
	UPDATE item_names SET cur = coalesce((SELECT max(m.uid) FROM items i JOIN messages m ON m.blob = i.blob
			WHERE i.uid = item_names.item_uid AND m.mailbox = old.mailbox), 0)
		WHERE mailbox = old.mailbox AND cur = old.uid;
END;
CREATE TRIGGER IF NOT EXISTS items_mailbox_deleted AFTER DELETE ON mailboxes BEGIN
	DELETE FROM item_names WHERE mailbox = old.id;
	DELETE FROM item_gone WHERE mailbox = old.id;
END;
`

func migrateItems(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaV10)
	return err
}

// Schema version 13: the payload of small items in the index, and each
// current item's time span beside its name.
//
//   - items.floating: storage.ItemIndex.Floating (rows indexed before
//     it have 0: their floating times are taken as UTC, as before).
//   - items.data: the payload (storage.ItemIndex.Data), so that
//     calendar-data and address-data answers read one query instead of one
//     blob per item. Rows indexed before it have NULL: readers fall back
//     to the message.
//   - item_names.lo and hi: the span of the item's current message
//     (items.start_ts and end_ts; an item with no time spans everything),
//     kept by triggers whenever cur changes, and the covering index
//     item_names_span, so that a time-range query reads the rows of the
//     items in the range only, not every item of the folder.
const schemaItemData = `
ALTER TABLE items ADD COLUMN data BLOB;
ALTER TABLE items ADD COLUMN floating INTEGER NOT NULL DEFAULT 0;
ALTER TABLE item_names ADD COLUMN lo INTEGER NOT NULL DEFAULT -4611686018427387904;
ALTER TABLE item_names ADD COLUMN hi INTEGER NOT NULL DEFAULT 4611686018427387904;
CREATE INDEX item_names_span ON item_names(mailbox, hi, lo, cur, name);
CREATE TRIGGER item_names_span_added AFTER INSERT ON item_names WHEN new.cur != 0 BEGIN
	UPDATE item_names SET
		lo = coalesce((SELECT i.start_ts FROM messages m JOIN items i ON i.blob = m.blob
			WHERE m.mailbox = new.mailbox AND m.uid = new.cur), -4611686018427387904),
		hi = coalesce((SELECT CASE WHEN i.start_ts IS NULL THEN 4611686018427387904 ELSE coalesce(i.end_ts, -4611686018427387904) END
			FROM messages m JOIN items i ON i.blob = m.blob WHERE m.mailbox = new.mailbox AND m.uid = new.cur), 4611686018427387904)
		WHERE mailbox = new.mailbox AND item_uid = new.item_uid;
END;
CREATE TRIGGER item_names_span_changed AFTER UPDATE OF cur ON item_names WHEN new.cur != old.cur BEGIN
	UPDATE item_names SET
		lo = coalesce((SELECT i.start_ts FROM messages m JOIN items i ON i.blob = m.blob
			WHERE m.mailbox = new.mailbox AND m.uid = new.cur), -4611686018427387904),
		hi = coalesce((SELECT CASE WHEN i.start_ts IS NULL THEN 4611686018427387904 ELSE coalesce(i.end_ts, -4611686018427387904) END
			FROM messages m JOIN items i ON i.blob = m.blob WHERE m.mailbox = new.mailbox AND m.uid = new.cur), 4611686018427387904)
		WHERE mailbox = new.mailbox AND item_uid = new.item_uid;
END;
`

// itemSpanBackfill sets the span of every item of a database indexed
// before schema 12.
const itemSpanBackfill = `
UPDATE item_names SET
	lo = coalesce((SELECT i.start_ts FROM messages m JOIN items i ON i.blob = m.blob
		WHERE m.mailbox = item_names.mailbox AND m.uid = item_names.cur), -4611686018427387904),
	hi = coalesce((SELECT CASE WHEN i.start_ts IS NULL THEN 4611686018427387904 ELSE coalesce(i.end_ts, -4611686018427387904) END
		FROM messages m JOIN items i ON i.blob = m.blob WHERE m.mailbox = item_names.mailbox AND m.uid = item_names.cur), 4611686018427387904)
	WHERE cur != 0`

func migrateItemData(tx *sql.Tx, _ bool) error {
	if _, err := tx.Exec(schemaItemData); err != nil {
		return err
	}
	_, err := tx.Exec(itemSpanBackfill)
	return err
}

// Bounds of item_names.lo and hi: an item with no time spans them.
const (
	spanMin int64 = -1 << 62
	spanMax int64 = 1 << 62
)

func unixOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

func jsonList(v []string) string {
	if len(v) == 0 {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// insertItem stores the index of a new blob row.
func (w *wtx) insertItem(blobID int64, it *storage.ItemIndex) error {
	if it.UID == "" || it.Kind == "" {
		return fmt.Errorf("item index without UID or kind: %w", storage.ErrInvalid)
	}
	defname := it.DefaultName
	if defname == "" {
		defname = it.UID
	}
	var data any
	if it.Data != nil && len(it.Data) <= storage.MaxItemData {
		data = it.Data
	}
	_, err := w.exec(`INSERT OR REPLACE INTO items(blob, kind, uid, defname, summary, start_ts, end_ts, all_day, recurring, transparent, status, recurrence, names, emails, phones, data, floating)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		blobID, string(it.Kind), it.UID, defname, it.Summary, unixOrNull(it.Start), unixOrNull(it.End), boolInt(it.AllDay),
		boolInt(it.Recurring), boolInt(it.Transparent), it.Status, it.Recurrence, jsonList(it.Names), jsonList(it.Emails), jsonList(it.Phones), data, boolInt(it.Floating))
	return dbErr("insert item", err)
}

// currentItemMessage returns the IMAP UID of the current message (the
// newest) of item uid in mailbox mbox, 0 when none.
func (w *wtx) currentItemMessage(mbox storage.MailboxID, itemUID string, except storage.UID) (storage.UID, error) {
	var uid sql.NullInt64
	err := w.queryRow(`SELECT max(m.uid) FROM items i JOIN messages m ON m.blob = i.blob
		WHERE i.uid = ? AND m.mailbox = ? AND m.uid != ?`, itemUID, mbox, except).Scan(&uid)
	if err != nil {
		return 0, dbErr("item", err)
	}
	return storage.UID(uid.Int64), nil
}

// checkItemTarget makes the checks of a DAV write (Target.ItemName or
// Target.Replace) before anything is changed: the replaced message must
// be the item's current one, no other resource may hold the UID or the
// name. It returns the message rows to expunge.
func (w *wtx) checkItemTarget(m storage.Mailbox, t storage.Target, it *storage.ItemIndex) ([]msgRow, error) {
	var repl []msgRow
	if t.Replace != 0 {
		msgs, err := w.selectMessages(m.ID, storage.UIDSet{{Start: t.Replace, Stop: t.Replace}})
		if err != nil {
			return nil, err
		}
		if len(msgs) == 0 {
			return nil, fmt.Errorf("message %d to replace: %w", t.Replace, storage.ErrNoMessage)
		}
		var repUID string
		err = w.queryRow("SELECT uid FROM items WHERE blob = ?", msgs[0].blob).Scan(&repUID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, dbErr("item", err)
		}
		if repUID != "" {
			cur, err := w.currentItemMessage(m.ID, repUID, 0)
			if err != nil {
				return nil, err
			}
			if cur != t.Replace {
				return nil, fmt.Errorf("message %d is no longer the item's current one: %w", t.Replace, storage.ErrNoMessage)
			}
		}
		repl = msgs
		if repUID != "" && repUID != it.UID {
			// The resource changes its UID: every message of the old UID goes.
			more, err := w.itemMessages(m.ID, repUID)
			if err != nil {
				return nil, err
			}
			repl = mergeRows(repl, more)
		}
	}
	// Another resource holding this UID?
	cur, err := w.currentItemMessage(m.ID, it.UID, t.Replace)
	if err != nil {
		return nil, err
	}
	var curName string
	err = w.queryRow("SELECT name FROM item_names WHERE mailbox = ? AND item_uid = ?", m.ID, it.UID).Scan(&curName)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, dbErr("item", err)
	}
	if cur != 0 && t.ItemName != "" && curName != "" && curName != t.ItemName {
		return nil, fmt.Errorf("item UID %q is resource %q: %w", it.UID, curName, storage.ErrExists)
	}
	if cur != 0 && t.Replace == 0 {
		return nil, fmt.Errorf("item UID %q exists: %w", it.UID, storage.ErrExists)
	}
	if t.ItemName != "" {
		// The name held by another live item UID?
		var other string
		err := w.queryRow("SELECT item_uid FROM item_names WHERE mailbox = ? AND name = ?", m.ID, t.ItemName).Scan(&other)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, dbErr("item", err)
		}
		if other != "" && other != it.UID {
			live, err := w.currentItemMessage(m.ID, other, 0)
			if err != nil {
				return nil, err
			}
			replaced := len(repl) > 0 && live == repl[0].uid
			if live != 0 && !replaced {
				return nil, fmt.Errorf("resource %q holds item %q: %w", t.ItemName, other, storage.ErrExists)
			}
		}
	}
	return repl, nil
}

func mergeRows(a, b []msgRow) []msgRow {
	seen := map[int64]bool{}
	var out []msgRow
	for _, r := range append(a, b...) {
		if !seen[r.id] {
			seen[r.id] = true
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return out
}

// itemMessages returns every message of item uid in mbox.
func (w *wtx) itemMessages(mbox storage.MailboxID, itemUID string) ([]msgRow, error) {
	rows, err := w.tx.Query(`SELECT m.uid FROM items i JOIN messages m ON m.blob = i.blob WHERE i.uid = ? AND m.mailbox = ? ORDER BY m.uid`, itemUID, mbox)
	if err != nil {
		return nil, dbErr("item messages", err)
	}
	var set storage.UIDSet
	for rows.Next() {
		var u storage.UID
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return nil, dbErr("item messages", err)
		}
		set = append(set, storage.UIDRange{Start: u, Stop: u})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("item messages", err)
	}
	if len(set) == 0 {
		return nil, nil
	}
	return w.selectMessages(mbox, set)
}

// setItemName records the resource name of an item UID in a folder,
// dropping a stale mapping of the same name to a gone UID.
func (w *wtx) setItemName(mbox storage.MailboxID, itemUID, name string) error {
	if _, err := w.exec("DELETE FROM item_names WHERE mailbox = ? AND name = ? AND item_uid != ?", mbox, name, itemUID); err != nil {
		return dbErr("item name", err)
	}
	_, err := w.exec(`INSERT INTO item_names(mailbox, item_uid, name, cur) VALUES (?, ?, ?, 0)
		ON CONFLICT(mailbox, item_uid) DO UPDATE SET name = excluded.name`, mbox, itemUID, name)
	return dbErr("item name", err)
}

const itemCols = `m.uid, m.modseq, m.size, b.hash, n.name, i.kind, i.uid, i.defname, i.summary, i.start_ts, i.end_ts,
	i.all_day, i.recurring, i.transparent, i.status, i.recurrence, i.names, i.emails, i.phones, i.floating`

// itemFrom reads the current item of each item UID of a folder: one
// item_names row each, its current message, that message's index.
const itemFrom = ` FROM item_names n JOIN messages m ON m.mailbox = n.mailbox AND m.uid = n.cur
	JOIN items i ON i.blob = m.blob JOIN blobs b ON b.id = m.blob
	WHERE n.mailbox = ? AND n.cur != 0`

func scanItem(sc interface{ Scan(...any) error }, mbox storage.MailboxID, content bool, st *string, hdr *[]byte, data *[]byte) (storage.Item, error) {
	var (
		it                    storage.Item
		kind, hash            string
		start, end            sql.NullInt64
		allDay, rec, transp   int
		floating              int
		recurrence            []byte
		names, emails, phones string
	)
	dest := []any{&it.UID, &it.ModSeq, &it.Size, &hash, &it.Name, &kind, &it.Index.UID, &it.Index.DefaultName, &it.Index.Summary,
		&start, &end, &allDay, &rec, &transp, &it.Index.Status, &recurrence, &names, &emails, &phones, &floating}
	if content {
		dest = append(dest, st, hdr)
	}
	if data != nil {
		dest = append(dest, data)
	}
	err := sc.Scan(dest...)
	if err != nil {
		return it, err
	}
	it.Mailbox = mbox
	it.Blob = storage.BlobID(hash)
	it.Index.Kind = storage.ItemKind(kind)
	if start.Valid {
		it.Index.Start = time.Unix(start.Int64, 0).UTC()
	}
	if end.Valid {
		it.Index.End = time.Unix(end.Int64, 0).UTC()
	}
	it.Index.AllDay, it.Index.Recurring, it.Index.Transparent, it.Index.Floating = allDay != 0, rec != 0, transp != 0, floating != 0
	if len(recurrence) > 0 {
		it.Index.Recurrence = recurrence
	}
	for _, l := range []struct {
		s   string
		dst *[]string
	}{{names, &it.Index.Names}, {emails, &it.Index.Emails}, {phones, &it.Index.Phones}} {
		if l.s != "" {
			if err := json.Unmarshal([]byte(l.s), l.dst); err != nil {
				return it, fmt.Errorf("sqlite: corrupt item list: %w", err)
			}
		}
	}
	return it, nil
}

// Items returns the current items of mbox matching q, by resource name.
func (s *Store) Items(ctx context.Context, mbox storage.MailboxID, q storage.ItemQuery) ([]storage.Item, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("items", err)
	}
	defer tx.Rollback()
	if err := mailboxExists(tx, mbox); err != nil {
		return nil, err
	}
	cond := ""
	args := []any{mbox}
	inList := func(col string, vals []string) {
		cond += " AND " + col + " IN (" + strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",") + ")"
		for _, v := range vals {
			args = append(args, v)
		}
	}
	if len(q.Names) > 0 {
		inList("n.name", q.Names)
	}
	if len(q.UIDs) > 0 {
		inList("i.uid", q.UIDs)
	}
	ranged := !q.Start.IsZero() || !q.End.IsZero()
	if ranged {
		// The span kept beside the name (schema 12): items with no time
		// span everything, so they always pass.
		cond += " AND n.hi >= ? AND n.lo < ?"
		start, end := spanMin, spanMax
		if !q.Start.IsZero() {
			start = q.Start.Unix()
		}
		if !q.End.IsZero() {
			end = q.End.Unix()
		}
		args = append(args, start, end)
	}
	cols := itemCols
	switch {
	case q.Content:
		cols += ", b.structure, b.header"
	case q.Data:
		// The message's structure only where the index lacks the payload.
		cols += ", CASE WHEN i.data IS NULL THEN b.structure ELSE '' END, CASE WHEN i.data IS NULL THEN b.header END"
	}
	if q.Data {
		cols += ", i.data"
	}
	order := " ORDER BY n.name"
	if ranged {
		// Sorted as an expression: ORDER BY n.name would make SQLite walk
		// the name index (every item of the folder) instead of
		// item_names_span.
		order = " ORDER BY n.name || ''"
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+cols+itemFrom+cond+order, args...)
	if err != nil {
		return nil, dbErr("items", err)
	}
	defer rows.Close()
	var out []storage.Item
	withStructure := q.Content || q.Data
	for rows.Next() {
		var st string
		var hdr, data []byte
		var dp *[]byte
		if q.Data {
			dp = &data
		}
		it, err := scanItem(rows, mbox, withStructure, &st, &hdr, dp)
		if err != nil {
			return nil, dbErr("items", err)
		}
		if data != nil {
			it.Index.Data = data
		}
		if withStructure && st != "" {
			it.Structure = new(storage.Part)
			if err := json.Unmarshal([]byte(st), it.Structure); err != nil {
				return nil, fmt.Errorf("sqlite: corrupt structure of uid %d: %w", it.UID, err)
			}
			it.Header = hdr
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("items", err)
	}
	return out, nil
}

// ItemChangesSince returns the items changed and removed since modseq
// since: current items whose message has a greater modseq, items whose
// older duplicate became current again, and the names of item UIDs whose
// last message was expunged after since (from item_gone and expunged).
func (s *Store) ItemChangesSince(ctx context.Context, mbox storage.MailboxID, since storage.ModSeq) (storage.ItemChanges, error) {
	var res storage.ItemChanges
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return res, dbErr("item changes", err)
	}
	defer tx.Rollback()
	m, err := scanMailbox(tx.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE id = ?", mbox))
	if errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("mailbox %d: %w", mbox, storage.ErrNoMailbox)
	}
	if err != nil {
		return res, dbErr("item changes", err)
	}
	res.ModSeq = m.HighestModSeq
	// Item UIDs that lost a message since the sync point.
	gone := map[string]bool{}
	if since > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT g.item_uid FROM item_gone g JOIN expunged e ON e.mailbox = g.mailbox AND e.uid = g.uid
			WHERE g.mailbox = ? AND e.modseq > ?`, mbox, since)
		if err != nil {
			return res, dbErr("item changes", err)
		}
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return res, dbErr("item changes", err)
			}
			gone[u] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, dbErr("item changes", err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+itemCols+itemFrom+` AND (m.modseq > ? OR n.item_uid IN (SELECT value FROM json_each(?))) ORDER BY n.name`,
		mbox, since, jsonSet(gone))
	if err != nil {
		return res, dbErr("item changes", err)
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scanItem(rows, mbox, false, nil, nil, nil)
		if err != nil {
			return res, dbErr("item changes", err)
		}
		delete(gone, it.Index.UID)
		res.Changed = append(res.Changed, it)
	}
	if err := rows.Err(); err != nil {
		return res, dbErr("item changes", err)
	}
	for u := range gone {
		var name string
		err := tx.QueryRowContext(ctx, "SELECT name FROM item_names WHERE mailbox = ? AND item_uid = ? AND cur = 0", mbox, u).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			continue // back under another message (changed), or renamed away
		}
		if err != nil {
			return res, dbErr("item changes", err)
		}
		res.Removed = append(res.Removed, name)
	}
	sort.Strings(res.Removed)
	return res, nil
}

// jsonSet encodes the keys of m as a JSON array (for json_each).
func jsonSet(m map[string]bool) string {
	l := make([]string, 0, len(m))
	for k := range m {
		l = append(l, k)
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// EnsureGroupwareMailboxes creates the account's missing groupware
// folders with their type entries (shared type, private ".default").
func (s *Store) EnsureGroupwareMailboxes(ctx context.Context, acct storage.AccountID) ([]string, error) {
	var created []string
	err := s.write(ctx, "groupware mailboxes", func(w *wtx) error {
		created = nil
		var k int
		if err := w.queryRow("SELECT count(*) FROM accounts WHERE id = ?", acct).Scan(&k); err != nil {
			return dbErr("groupware mailboxes", err)
		}
		if k == 0 {
			return fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
		}
		var err error
		created, err = w.createGroupwareMailboxes(acct)
		return err
	})
	return created, err
}

func (w *wtx) createGroupwareMailboxes(acct storage.AccountID) ([]string, error) {
	var created []string
	for _, g := range storage.GroupwareMailboxes {
		var k int
		if err := w.queryRow("SELECT count(*) FROM mailboxes WHERE account = ? AND name = ?", acct, g.Name).Scan(&k); err != nil {
			return nil, dbErr("groupware mailboxes", err)
		}
		if k > 0 {
			continue
		}
		m, err := w.createMailbox(acct, g.Name, "", true)
		if err != nil {
			return nil, err
		}
		if _, err := w.exec("INSERT INTO metadata(account, mailbox, owner, name, value) VALUES (?, ?, 0, ?, ?), (?, ?, ?, ?, ?)",
			acct, m.ID, storage.FolderTypeEntry, []byte(g.Type),
			acct, m.ID, acct, storage.FolderTypePrivateEntry, []byte(g.Type+".default")); err != nil {
			return nil, dbErr("groupware mailboxes", err)
		}
		created = append(created, g.Name)
	}
	return created, nil
}

// FolderTypes returns the folder type of every typed folder of acct.
func (s *Store) FolderTypes(ctx context.Context, acct storage.AccountID) (map[storage.MailboxID]string, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM accounts WHERE id = ?", acct).Scan(&n); err != nil {
		return nil, dbErr("folder types", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT mailbox, value FROM metadata WHERE account = ? AND mailbox != 0 AND owner = 0 AND name = ?`,
		acct, storage.FolderTypeEntry)
	if err != nil {
		return nil, dbErr("folder types", err)
	}
	defer rows.Close()
	out := map[storage.MailboxID]string{}
	for rows.Next() {
		var id storage.MailboxID
		var v []byte
		if err := rows.Scan(&id, &v); err != nil {
			return nil, dbErr("folder types", err)
		}
		t := strings.ToLower(strings.TrimSpace(string(v)))
		if i := strings.IndexByte(t, '.'); i >= 0 {
			t = t[:i]
		}
		if t != "" && t != "mail" {
			out[id] = t
		}
	}
	return out, dbErr("folder types", rows.Err())
}
