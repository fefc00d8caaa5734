package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// Schema version 8: sharing (storage.Sharing, storage.Groups).
//
//   - accounts.kind: "" for an account, "public" for the pseudo-account that
//     owns a domain's public folders (address "@domain").
//   - acl_own marks the mailboxes with an ACL of their own (the root, mailbox
//     0, always has one and is never marked); acl_entries holds the entries
//     of own ACLs, keyed by owner and mailbox, with an index on the
//     identifier for SharedMailboxes.
//   - mailgroups and group_members: groups ("groups" is an SQL keyword).
//   - subscriptions: per viewer, by the name the viewer uses. The old
//     mailboxes.subscribed column and the lost_subscriptions table (names
//     whose mailbox was deleted, schema 5) are copied here; the column is
//     no longer used, the table is dropped.
//   - seen: the \Seen of viewers other than a mailbox's owner.
//   - send_as: extra sender addresses per account.
//
// Triggers keep the tables consistent with deletions and bump the
// acl_version counter on every change that can change rights, so that no
// code path (nor another process) can forget to.
const schemaV4 = `
ALTER TABLE accounts ADD COLUMN kind TEXT NOT NULL DEFAULT '';

CREATE TABLE acl_own (
	account INTEGER NOT NULL,
	mailbox INTEGER NOT NULL,
	PRIMARY KEY (account, mailbox)
) WITHOUT ROWID;

CREATE TABLE acl_entries (
	account  INTEGER NOT NULL,
	mailbox  INTEGER NOT NULL, -- 0: the account root
	ident    TEXT NOT NULL,    -- canonical acl.Identifier
	negative INTEGER NOT NULL DEFAULT 0,
	rights   TEXT NOT NULL,    -- RFC 4314 letters
	PRIMARY KEY (account, mailbox, ident, negative)
) WITHOUT ROWID;
CREATE INDEX acl_entries_ident ON acl_entries(ident, account);

CREATE TABLE mailgroups (
	address TEXT PRIMARY KEY,
	domain  TEXT NOT NULL REFERENCES domains(name),
	source  TEXT NOT NULL DEFAULT 'db',
	created INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE group_members (
	grp    TEXT NOT NULL,
	member TEXT NOT NULL,
	PRIMARY KEY (grp, member)
) WITHOUT ROWID;
CREATE INDEX group_members_member ON group_members(member);

CREATE TABLE subscriptions (
	account INTEGER NOT NULL,
	name    TEXT NOT NULL,
	PRIMARY KEY (account, name)
) WITHOUT ROWID;
INSERT INTO subscriptions(account, name) SELECT account, name FROM mailboxes WHERE subscribed != 0;
INSERT INTO subscriptions(account, name) SELECT account, name FROM lost_subscriptions WHERE true
	ON CONFLICT DO NOTHING;
DROP TABLE lost_subscriptions;
UPDATE mailboxes SET subscribed = 0;

CREATE TABLE seen (
	mailbox INTEGER NOT NULL,
	uid     INTEGER NOT NULL,
	account INTEGER NOT NULL, -- the viewer
	PRIMARY KEY (mailbox, uid, account)
) WITHOUT ROWID;
CREATE INDEX seen_account ON seen(account, mailbox);

CREATE TABLE send_as (
	account INTEGER NOT NULL,
	address TEXT NOT NULL,
	PRIMARY KEY (account, address)
) WITHOUT ROWID;

INSERT INTO counters(name, value) VALUES ('acl_version', 1) ON CONFLICT(name) DO NOTHING;

CREATE TRIGGER acl_entries_ins AFTER INSERT ON acl_entries BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER acl_entries_upd AFTER UPDATE ON acl_entries BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER acl_entries_del AFTER DELETE ON acl_entries BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER acl_own_ins AFTER INSERT ON acl_own BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER acl_own_del AFTER DELETE ON acl_own BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER group_members_ins AFTER INSERT ON group_members BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER group_members_del AFTER DELETE ON group_members BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER mailgroups_del AFTER DELETE ON mailgroups BEGIN
	DELETE FROM group_members WHERE grp = old.address;
	DELETE FROM acl_entries WHERE ident = old.address;
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER sharing_mailbox_renamed AFTER UPDATE OF name ON mailboxes BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER sharing_mailbox_deleted AFTER DELETE ON mailboxes BEGIN
	DELETE FROM acl_own WHERE account = old.account AND mailbox = old.id;
	DELETE FROM acl_entries WHERE account = old.account AND mailbox = old.id;
	DELETE FROM seen WHERE mailbox = old.id;
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
CREATE TRIGGER sharing_account_deleted AFTER DELETE ON accounts BEGIN
	DELETE FROM acl_own WHERE account = old.id;
	DELETE FROM acl_entries WHERE account = old.id;
	DELETE FROM acl_entries WHERE ident = old.address;
	DELETE FROM group_members WHERE member = old.address;
	DELETE FROM subscriptions WHERE account = old.id;
	DELETE FROM seen WHERE account = old.id;
	DELETE FROM send_as WHERE account = old.id;
	UPDATE counters SET value = value + 1 WHERE name = 'acl_version';
END;
`

func migrateSharing(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaV4)
	return err
}

const accountKindPublic = "public"

// --- ACLs ---

// ownerOf checks that mbox (RootMailbox: none) belongs to acct and returns
// its name ("" for the root).
func ownerOf(q querier, acct storage.AccountID, mbox storage.MailboxID) (string, error) {
	if mbox == storage.RootMailbox {
		var n int
		if err := q.QueryRow("SELECT count(*) FROM accounts WHERE id = ?", acct).Scan(&n); err != nil {
			return "", dbErr("acl", err)
		}
		if n == 0 {
			return "", fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
		}
		return "", nil
	}
	var owner storage.AccountID
	var name string
	err := q.QueryRow("SELECT account, name FROM mailboxes WHERE id = ?", mbox).Scan(&owner, &name)
	if errors.Is(err, sql.ErrNoRows) || err == nil && owner != acct {
		return "", fmt.Errorf("mailbox %d of account %d: %w", mbox, acct, storage.ErrNoMailbox)
	}
	return name, dbErr("acl", err)
}

// querier is what the read transaction and the write transaction share.
type querier interface {
	QueryRow(string, ...any) *sql.Row
	Query(string, ...any) (*sql.Rows, error)
}

func (w *wtx) Query(q string, args ...any) (*sql.Rows, error) { return w.tx.Query(q, args...) }
func (w *wtx) QueryRow(q string, args ...any) *sql.Row        { return w.tx.QueryRow(q, args...) }

// entriesOf reads the entries stored for (acct, mbox).
func entriesOf(q querier, acct storage.AccountID, mbox storage.MailboxID) ([]acl.Entry, error) {
	rows, err := q.Query("SELECT ident, negative, rights FROM acl_entries WHERE account = ? AND mailbox = ?", acct, mbox)
	if err != nil {
		return nil, dbErr("acl", err)
	}
	defer rows.Close()
	var out []acl.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("acl", err)
	}
	acl.SortEntries(out)
	return out, nil
}

func scanEntry(sc interface{ Scan(...any) error }) (acl.Entry, error) {
	var e acl.Entry
	var ident, letters string
	var neg int
	if err := sc.Scan(&ident, &neg, &letters); err != nil {
		return e, dbErr("acl", err)
	}
	r, err := acl.Parse(letters)
	if err != nil {
		return e, fmt.Errorf("sqlite: corrupt ACL rights %q: %w", letters, err)
	}
	return acl.Entry{Identifier: acl.Identifier(ident), Negative: neg != 0, Rights: r}, nil
}

// effectiveACL resolves the ACL of (acct, mbox) with inheritance (see
// storage.ACL).
func effectiveACL(q querier, acct storage.AccountID, mbox storage.MailboxID) (storage.ACL, error) {
	name, err := ownerOf(q, acct, mbox)
	if err != nil {
		return storage.ACL{}, err
	}
	a := storage.ACL{Account: acct, Mailbox: mbox, From: storage.RootMailbox}
	if mbox == storage.RootMailbox {
		a.Own = true
	} else {
		// The mailbox itself and its ancestors that exist, deepest first,
		// with whether they have their own ACL.
		names := append(ancestorNames(name), name)
		args := []any{acct}
		marks := make([]string, len(names))
		for i, n := range names {
			marks[i] = "?"
			args = append(args, n)
		}
		rows, err := q.Query(`SELECT m.id, m.name FROM mailboxes m JOIN acl_own o ON o.account = m.account AND o.mailbox = m.id
			WHERE m.account = ? AND m.name IN (`+strings.Join(marks, ",")+`)`, args...)
		if err != nil {
			return a, dbErr("acl", err)
		}
		best := -1
		for rows.Next() {
			var id storage.MailboxID
			var n string
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return a, dbErr("acl", err)
			}
			if len(n) > best {
				best, a.From = len(n), id
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return a, dbErr("acl", err)
		}
		a.Own = a.From == mbox
	}
	if a.Entries, err = entriesOf(q, acct, a.From); err != nil {
		return a, err
	}
	return a, nil
}

// ancestorNames returns the superior names of a mailbox name, outermost
// first ("a/b/c" -> "a", "a/b").
func ancestorNames(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			out = append(out, name[:i])
		}
	}
	return out
}

// GetACL returns the effective ACL of a mailbox or an account root.
func (s *Store) GetACL(ctx context.Context, acct storage.AccountID, mbox storage.MailboxID) (storage.ACL, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storage.ACL{}, dbErr("acl", err)
	}
	defer tx.Rollback()
	return effectiveACL(tx, acct, mbox)
}

// writeOwnACL makes entries the own ACL of (acct, mbox).
func (w *wtx) writeOwnACL(acct storage.AccountID, mbox storage.MailboxID, entries []acl.Entry) error {
	for _, e := range entries {
		if e.Identifier.Kind() == acl.KindInvalid || e.Rights&^acl.All != 0 {
			return fmt.Errorf("ACL entry %q: %w", e.String(), storage.ErrInvalid)
		}
	}
	if _, err := w.exec("DELETE FROM acl_entries WHERE account = ? AND mailbox = ?", acct, mbox); err != nil {
		return dbErr("set acl", err)
	}
	if mbox != storage.RootMailbox {
		if _, err := w.exec("INSERT INTO acl_own(account, mailbox) VALUES (?, ?) ON CONFLICT DO NOTHING", acct, mbox); err != nil {
			return dbErr("set acl", err)
		}
	}
	for _, e := range entries {
		if e.Rights == 0 {
			continue
		}
		if _, err := w.exec(`INSERT INTO acl_entries(account, mailbox, ident, negative, rights) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET rights = excluded.rights`,
			acct, mbox, string(e.Identifier), boolInt(e.Negative), e.Rights.String()); err != nil {
			return dbErr("set acl", err)
		}
	}
	return nil
}

// editACL runs edit on the effective entries of (acct, mbox) inside the
// writer and stores the result as the own ACL (nil result: remove the own
// ACL).
func (s *Store) editACL(ctx context.Context, op string, acct storage.AccountID, mbox storage.MailboxID,
	edit func(cur storage.ACL) (entries []acl.Entry, own bool, err error)) (before, after storage.ACL, err error) {
	err = s.write(ctx, op, func(w *wtx) error {
		var err error
		if before, err = effectiveACL(w, acct, mbox); err != nil {
			return err
		}
		entries, own, err := edit(before)
		if err != nil {
			return err
		}
		if own || mbox == storage.RootMailbox {
			err = w.writeOwnACL(acct, mbox, entries)
		} else {
			if _, err = w.exec("DELETE FROM acl_own WHERE account = ? AND mailbox = ?", acct, mbox); err == nil {
				_, err = w.exec("DELETE FROM acl_entries WHERE account = ? AND mailbox = ?", acct, mbox)
			}
			err = dbErr(op, err)
		}
		if err != nil {
			return err
		}
		after, err = effectiveACL(w, acct, mbox)
		return err
	})
	return before, after, err
}

// ChangeACL applies changes to the ACL of mbox, copying an inherited ACL
// first (storage.Sharing).
func (s *Store) ChangeACL(ctx context.Context, acct storage.AccountID, mbox storage.MailboxID, changes []acl.Change) (storage.ACL, storage.ACL, error) {
	return s.editACL(ctx, "change acl", acct, mbox, func(cur storage.ACL) ([]acl.Entry, bool, error) {
		es := cur.Entries
		for _, c := range changes {
			if c.Identifier.Kind() == acl.KindInvalid || c.Rights&^acl.All != 0 || c.Op > acl.OpDelete {
				return nil, false, fmt.Errorf("ACL change of %q: %w", c.Identifier, storage.ErrInvalid)
			}
			es = acl.Apply(es, c)
		}
		return es, true, nil
	})
}

// SetACL gives mbox its own ACL with exactly entries (storage.Sharing).
func (s *Store) SetACL(ctx context.Context, acct storage.AccountID, mbox storage.MailboxID, entries []acl.Entry) (storage.ACL, storage.ACL, error) {
	return s.editACL(ctx, "set acl", acct, mbox, func(storage.ACL) ([]acl.Entry, bool, error) {
		return entries, true, nil
	})
}

// InheritACL removes the own ACL of mbox (storage.Sharing).
func (s *Store) InheritACL(ctx context.Context, acct storage.AccountID, mbox storage.MailboxID) (storage.ACL, storage.ACL, error) {
	return s.editACL(ctx, "inherit acl", acct, mbox, func(storage.ACL) ([]acl.Entry, bool, error) {
		return nil, false, nil
	})
}

// ACLs returns the own ACLs of an account, the root's first.
func (s *Store) ACLs(ctx context.Context, acct storage.AccountID) ([]storage.ACL, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("acls", err)
	}
	defer tx.Rollback()
	if _, err := ownerOf(tx, acct, storage.RootMailbox); err != nil {
		return nil, err
	}
	root, err := entriesOf(tx, acct, storage.RootMailbox)
	if err != nil {
		return nil, err
	}
	out := []storage.ACL{{Account: acct, Mailbox: storage.RootMailbox, Own: true, From: storage.RootMailbox, Entries: root}}
	rows, err := tx.Query(`SELECT o.mailbox FROM acl_own o JOIN mailboxes m ON m.id = o.mailbox
		WHERE o.account = ? ORDER BY m.name`, acct)
	if err != nil {
		return nil, dbErr("acls", err)
	}
	var ids []storage.MailboxID
	for rows.Next() {
		var id storage.MailboxID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, dbErr("acls", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("acls", err)
	}
	for _, id := range ids {
		es, err := entriesOf(tx, acct, id)
		if err != nil {
			return nil, err
		}
		out = append(out, storage.ACL{Account: acct, Mailbox: id, Own: true, From: id, Entries: es})
	}
	return out, nil
}

// SharedMailboxes returns the mailboxes of other accounts whose effective
// ACL names one of idents (storage.Sharing). It makes two queries
// whatever the number of mailboxes: the entries naming idents, then the
// mailboxes (with their own-ACL marks and owner addresses) of the owners
// those entries belong to; the inheritance is resolved in memory.
func (s *Store) SharedMailboxes(ctx context.Context, exclude storage.AccountID, idents []acl.Identifier) ([]storage.SharedMailbox, error) {
	if len(idents) == 0 {
		return nil, nil
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("shared mailboxes", err)
	}
	defer tx.Rollback()

	type key struct {
		acct storage.AccountID
		mbox storage.MailboxID
	}
	marks := make([]string, len(idents))
	args := make([]any, 0, len(idents)+1)
	for i, id := range idents {
		marks[i] = "?"
		args = append(args, string(id))
	}
	args = append(args, exclude)
	rows, err := tx.QueryContext(ctx, `SELECT account, mailbox, ident, negative, rights FROM acl_entries
		WHERE ident IN (`+strings.Join(marks, ",")+`) AND account != ?`, args...)
	if err != nil {
		return nil, dbErr("shared mailboxes", err)
	}
	grants := map[key][]acl.Entry{}
	isOwner := map[storage.AccountID]bool{}
	var owners []storage.AccountID
	for rows.Next() {
		var k key
		var ident, letters string
		var neg int
		if err := rows.Scan(&k.acct, &k.mbox, &ident, &neg, &letters); err != nil {
			rows.Close()
			return nil, dbErr("shared mailboxes", err)
		}
		r, err := acl.Parse(letters)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: corrupt ACL rights %q: %w", letters, err)
		}
		if !isOwner[k.acct] {
			isOwner[k.acct] = true
			owners = append(owners, k.acct)
		}
		grants[k] = append(grants[k], acl.Entry{Identifier: acl.Identifier(ident), Negative: neg != 0, Rights: r})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("shared mailboxes", err)
	}
	if len(owners) == 0 {
		return nil, nil
	}
	slices.Sort(owners)
	omarks := make([]string, len(owners))
	oargs := make([]any, len(owners))
	for i, o := range owners {
		omarks[i], oargs[i] = "?", o
	}
	in := "(" + strings.Join(omarks, ",") + ")"

	// One query for the owners' mailboxes with their own-ACL marks and
	// the owners' addresses. The owner's own subscriptions do not concern
	// the viewer: no subscription lookup per row (Subscribed stays false).
	own := map[key]bool{}
	ownerAddr := map[storage.AccountID]string{}
	rows, err = tx.QueryContext(ctx, `SELECT m.id, m.account, m.name, m.special_use, m.uidvalidity, m.uidnext, m.highest_modseq,
			o.mailbox IS NOT NULL, a.address
		FROM mailboxes m JOIN accounts a ON a.id = m.account
		LEFT JOIN acl_own o ON o.account = m.account AND o.mailbox = m.id
		WHERE m.account IN `+in+` ORDER BY m.account, m.name`, oargs...)
	if err != nil {
		return nil, dbErr("shared mailboxes", err)
	}
	var all []storage.Mailbox
	for rows.Next() {
		var m storage.Mailbox
		var hasOwn bool
		var addr string
		if err := rows.Scan(&m.ID, &m.Account, &m.Name, &m.SpecialUse, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &hasOwn, &addr); err != nil {
			rows.Close()
			return nil, dbErr("shared mailboxes", err)
		}
		if hasOwn {
			own[key{m.Account, m.ID}] = true
		}
		ownerAddr[m.Account] = addr
		all = append(all, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("shared mailboxes", err)
	}

	// Resolve inheritance per owner: a mailbox takes its own ACL, else its
	// nearest ancestor's that has one, else the root's.
	var out []storage.SharedMailbox
	byName := map[string]storage.MailboxID{}
	for i := 0; i < len(all); {
		acct := all[i].Account
		j := i
		clear(byName)
		for ; j < len(all) && all[j].Account == acct; j++ {
			byName[all[j].Name] = all[j].ID
		}
		for _, m := range all[i:j] {
			from := storage.RootMailbox
			if own[key{acct, m.ID}] {
				from = m.ID
			} else {
				anc := ancestorNames(m.Name)
				for k := len(anc) - 1; k >= 0; k-- {
					if id, ok := byName[anc[k]]; ok && own[key{acct, id}] {
						from = id
						break
					}
				}
			}
			if es := grants[key{acct, from}]; len(es) > 0 {
				es = slices.Clone(es)
				acl.SortEntries(es)
				out = append(out, storage.SharedMailbox{Mailbox: m, Owner: ownerAddr[acct], Entries: es})
			}
		}
		i = j
	}
	return out, nil
}

// ACLVersion returns the acl_version counter (storage.Sharing): every
// change to ACLs, groups, and mailbox renames and deletions bumps it, by
// trigger, in the transaction that makes the change.
func (s *Store) ACLVersion(ctx context.Context) (uint64, error) {
	return s.counter(ctx, "acl_version")
}

// counter reads one of the version counters triggers bump (counters
// table): a reader compares it with the value it last saw to learn, with
// one query, whether what it caches has changed.
func (s *Store) counter(ctx context.Context, name string) (uint64, error) {
	var v uint64
	err := s.rdb.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = ?", name).Scan(&v)
	return v, dbErr(strings.ReplaceAll(name, "_", " "), err)
}

// --- public folders ---

// PublicAccount returns (creating it when create is set) the pseudo-account
// owning domain's public folders (storage.Sharing).
func (s *Store) PublicAccount(ctx context.Context, domain string, create bool) (storage.Account, error) {
	d, err := normDomain(domain)
	if err != nil {
		return storage.Account{}, err
	}
	addr := "@" + d
	get := func(q querier) (storage.Account, error) {
		a, err := scanAccount(q.QueryRow("SELECT "+accountCols+" FROM accounts WHERE address = ? AND kind = ?", addr, accountKindPublic))
		if errors.Is(err, sql.ErrNoRows) {
			return a, fmt.Errorf("public folders of %s: %w", d, storage.ErrNoAccount)
		}
		return a, dbErr("public account", err)
	}
	a, err := get(s.rdb)
	if err == nil || !create || !errors.Is(err, storage.ErrNoAccount) {
		return a, err
	}
	err = s.write(ctx, "create public account", func(w *wtx) error {
		var err error
		if a, err = get(w); !errors.Is(err, storage.ErrNoAccount) {
			return err
		}
		var n int
		if err := w.queryRow("SELECT count(*) FROM domains WHERE name = ?", d).Scan(&n); err != nil {
			return dbErr("create public account", err)
		}
		if n == 0 {
			return fmt.Errorf("domain %s: %w", d, storage.ErrNoDomain)
		}
		now := time.Unix(time.Now().Unix(), 0).UTC()
		res, err := w.exec(`INSERT INTO accounts(address, domain, password_hash, disabled, source, created, kind)
			VALUES (?, ?, '', 1, 'db', ?, ?)`, addr, d, now.Unix(), accountKindPublic)
		if err != nil {
			return dbErr("create public account", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return dbErr("create public account", err)
		}
		a = storage.Account{ID: storage.AccountID(id), Address: addr, Disabled: true, Source: storage.SourceDB, Created: now}
		return nil
	})
	return a, err
}

// --- subscriptions ---

// Subscriptions returns the names acct is subscribed to, sorted.
func (s *Store) Subscriptions(ctx context.Context, acct storage.AccountID) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT name FROM subscriptions WHERE account = ? ORDER BY name", acct)
	if err != nil {
		return nil, dbErr("subscriptions", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, dbErr("subscriptions", err)
		}
		out = append(out, n)
	}
	return out, dbErr("subscriptions", rows.Err())
}

// SetSubscription subscribes or unsubscribes acct to a name.
func (s *Store) SetSubscription(ctx context.Context, acct storage.AccountID, name string, on bool) error {
	n, err := normMailboxName(name)
	if err != nil {
		return err
	}
	return s.write(ctx, "subscribe", func(w *wtx) error {
		if _, err := ownerOf(w, acct, storage.RootMailbox); err != nil {
			return err
		}
		return w.setSubscription(acct, n, on)
	})
}

func (w *wtx) setSubscription(acct storage.AccountID, name string, on bool) error {
	var res sql.Result
	var err error
	if on {
		res, err = w.exec("INSERT INTO subscriptions(account, name) VALUES (?, ?) ON CONFLICT DO NOTHING", acct, name)
	} else {
		res, err = w.exec("DELETE FROM subscriptions WHERE account = ? AND name = ?", acct, name)
	}
	if err != nil {
		return dbErr("subscribe", err)
	}
	if k, _ := res.RowsAffected(); k > 0 {
		var id storage.MailboxID
		if err := w.queryRow("SELECT id FROM mailboxes WHERE account = ? AND name = ?", acct, name).Scan(&id); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return dbErr("subscribe", err)
		}
		w.publish(storage.Change{Kind: storage.ChangeMailboxSubscribed, Account: acct, Mailbox: id, Name: name})
	}
	return nil
}

// --- send as ---

// SendAs returns the extra sender addresses of acct.
func (s *Store) SendAs(ctx context.Context, acct storage.AccountID) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT address FROM send_as WHERE account = ? ORDER BY address", acct)
	if err != nil {
		return nil, dbErr("send as", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, dbErr("send as", err)
		}
		out = append(out, a)
	}
	return out, dbErr("send as", rows.Err())
}

// SetSendAs grants or revokes a send-as address.
func (s *Store) SetSendAs(ctx context.Context, acct storage.AccountID, address string, on bool) error {
	addr, _, err := normAddress(address)
	if err != nil {
		return err
	}
	return s.write(ctx, "send as", func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM accounts WHERE id = ? AND kind = ''", acct).Scan(&n); err != nil {
			return dbErr("send as", err)
		}
		if n == 0 {
			return fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
		}
		if on {
			_, err := w.exec("INSERT INTO send_as(account, address) VALUES (?, ?) ON CONFLICT DO NOTHING", acct, addr)
			return dbErr("send as", err)
		}
		res, err := w.exec("DELETE FROM send_as WHERE account = ? AND address = ?", acct, addr)
		if err != nil {
			return dbErr("send as", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("send as %s: %w", addr, storage.ErrNotFound)
		}
		return nil
	})
}
