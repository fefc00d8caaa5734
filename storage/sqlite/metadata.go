package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/floemail/floe/storage"
)

// Schema version 2: RFC 5464 METADATA. One row per entry. account is the
// account whose server or mailbox the entry belongs to (for a mailbox entry,
// the mailbox's account), mailbox is 0 for server entries, owner is the
// account of a private entry and 0 for a shared one. Names are stored
// lowercased. Triggers remove the entries of deleted mailboxes and
// accounts, so that the mailbox and account code need not know about them.
const schemaV2 = `
CREATE TABLE metadata (
	account INTEGER NOT NULL,
	mailbox INTEGER NOT NULL DEFAULT 0,
	owner   INTEGER NOT NULL DEFAULT 0,
	name    TEXT NOT NULL,
	value   BLOB NOT NULL,
	PRIMARY KEY (account, mailbox, owner, name)
) WITHOUT ROWID;
CREATE INDEX metadata_mailbox ON metadata(mailbox) WHERE mailbox != 0;
CREATE INDEX metadata_owner ON metadata(owner) WHERE owner != 0;

CREATE TRIGGER metadata_mailbox_deleted AFTER DELETE ON mailboxes BEGIN
	DELETE FROM metadata WHERE mailbox = old.id;
END;
CREATE TRIGGER metadata_account_deleted AFTER DELETE ON accounts BEGIN
	DELETE FROM metadata WHERE account = old.id;
	DELETE FROM metadata WHERE owner = old.id;
END;
`

func migrateMetadata(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaV2)
	return err
}

// normMetadataName validates an entry name (RFC 5464 3.2: "/" separated
// components, no "*" or "%", no empty component, no trailing "/", no
// control characters) that must lie below /private or /shared, and
// lowercases it (entry names are case-insensitive).
func normMetadataName(name string) (string, error) {
	n, err := normMetadataPrefix(name)
	if err != nil {
		return "", err
	}
	if n == "/private" || n == "/shared" {
		return "", fmt.Errorf("metadata entry %q: not below /private or /shared: %w", name, storage.ErrInvalid)
	}
	return n, nil
}

// normMetadataPrefix is normMetadataName that also accepts "/private" and
// "/shared" themselves (GETMETADATA with DEPTH).
func normMetadataPrefix(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("metadata entry %q: %s: %w", name, why, storage.ErrInvalid)
	}
	if len(name) > 1024 {
		return bad("too long")
	}
	if !utf8.ValidString(name) {
		return bad("not UTF-8")
	}
	n := strings.ToLower(name)
	if n != "/private" && n != "/shared" && !strings.HasPrefix(n, "/private/") && !strings.HasPrefix(n, "/shared/") {
		return bad("not below /private or /shared")
	}
	if strings.HasSuffix(n, "/") || strings.Contains(n, "//") {
		return bad("empty component")
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return bad("forbidden character")
		}
	}
	return n, nil
}

// metadataScope returns the account that owns the server or mailbox whose
// entries are addressed (ErrNoMailbox, ErrNoAccount).
func metadataScope(q interface {
	QueryRow(string, ...any) *sql.Row
}, acct storage.AccountID, mbox storage.MailboxID) (storage.AccountID, error) {
	if mbox == 0 {
		var k int
		if err := q.QueryRow("SELECT count(*) FROM accounts WHERE id = ?", acct).Scan(&k); err != nil {
			return 0, dbErr("metadata", err)
		}
		if k == 0 {
			return 0, fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
		}
		return acct, nil
	}
	var owner storage.AccountID
	err := q.QueryRow("SELECT account FROM mailboxes WHERE id = ?", mbox).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("mailbox %d: %w", mbox, storage.ErrNoMailbox)
	}
	return owner, dbErr("metadata", err)
}

// GetMetadata returns the entries of a mailbox (0: the server) visible to
// acct that match prefixes at the given depth (0, 1 or -1 for infinity),
// sorted by name (ErrNoMailbox, ErrInvalid for a malformed name).
func (s *Store) GetMetadata(ctx context.Context, acct storage.AccountID, mbox storage.MailboxID, prefixes []string, depth int) ([]storage.MetadataEntry, error) {
	if depth != 0 && depth != 1 && depth != -1 {
		return nil, fmt.Errorf("metadata depth %d: %w", depth, storage.ErrInvalid)
	}
	norm := make([]string, 0, len(prefixes))
	for _, p := range prefixes {
		n, err := normMetadataPrefix(p)
		if err != nil {
			return nil, err
		}
		norm = append(norm, n)
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("get metadata", err)
	}
	defer tx.Rollback()
	scope, err := metadataScope(tx, acct, mbox)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []storage.MetadataEntry
	for _, p := range norm {
		rows, err := tx.QueryContext(ctx, `SELECT owner, name, value FROM metadata
			WHERE account = ? AND mailbox = ? AND (owner = 0 OR owner = ?) AND (name = ? OR substr(name, 1, length(?)) = ?)
			ORDER BY name`, scope, mbox, acct, p, p+"/", p+"/")
		if err != nil {
			return nil, dbErr("get metadata", err)
		}
		for rows.Next() {
			var e storage.MetadataEntry
			if err := rows.Scan(&e.Owner, &e.Name, &e.Value); err != nil {
				rows.Close()
				return nil, dbErr("get metadata", err)
			}
			if seen[e.Name] {
				continue
			}
			if e.Name != p {
				rest := e.Name[len(p)+1:]
				if depth == 0 || (depth == 1 && strings.Contains(rest, "/")) {
					continue
				}
			}
			if e.Value == nil {
				e.Value = []byte{}
			}
			seen[e.Name] = true
			e.Mailbox = mbox
			out = append(out, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, dbErr("get metadata", err)
		}
	}
	sortEntries(out)
	return out, nil
}

func sortEntries(es []storage.MetadataEntry) {
	slices.SortFunc(es, func(a, b storage.MetadataEntry) int { return strings.Compare(a.Name, b.Name) })
}

// SetMetadata sets or (nil Value) deletes entries in one transaction. Private
// entries are stored for acct. It fails with ErrInvalid for a bad name,
// ErrOverQuota when a value exceeds storage.MaxMetadataValue or the mailbox
// would carry more than storage.MaxMetadataEntries entries (nothing is
// changed then), ErrNoMailbox. It publishes nothing.
func (s *Store) SetMetadata(ctx context.Context, acct storage.AccountID, mbox storage.MailboxID, entries []storage.MetadataEntry) error {
	type row struct {
		owner storage.AccountID
		name  string
		value []byte
	}
	rows := make([]row, 0, len(entries))
	for _, e := range entries {
		n, err := normMetadataName(e.Name)
		if err != nil {
			return err
		}
		if len(e.Value) > storage.MaxMetadataValue {
			return fmt.Errorf("metadata entry %q: value of %d bytes: %w", n, len(e.Value), storage.ErrOverQuota)
		}
		r := row{name: n, value: e.Value}
		if strings.HasPrefix(n, "/private/") {
			r.owner = acct
		}
		rows = append(rows, r)
	}
	return s.write(ctx, "set metadata", func(w *wtx) error {
		scope, err := metadataScope(w.tx, acct, mbox)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.value == nil {
				_, err = w.exec("DELETE FROM metadata WHERE account = ? AND mailbox = ? AND owner = ? AND name = ?", scope, mbox, r.owner, r.name)
			} else {
				v := r.value
				if len(v) == 0 {
					v = []byte{} // empty, not NULL
				}
				_, err = w.exec(`INSERT INTO metadata(account, mailbox, owner, name, value) VALUES (?, ?, ?, ?, ?)
					ON CONFLICT(account, mailbox, owner, name) DO UPDATE SET value = excluded.value`, scope, mbox, r.owner, r.name, v)
			}
			if err != nil {
				return dbErr("set metadata", err)
			}
			w.publish(storage.Change{Kind: storage.ChangeMetadata, Account: scope, Mailbox: mbox, Name: r.name})
		}
		var n int
		if err := w.queryRow("SELECT count(*) FROM metadata WHERE account = ? AND mailbox = ?", scope, mbox).Scan(&n); err != nil {
			return dbErr("set metadata", err)
		}
		if n > storage.MaxMetadataEntries {
			return fmt.Errorf("metadata: %d entries: %w", n, storage.ErrOverQuota)
		}
		return nil
	})
}

// MetadataSize returns the total size (names and values, in bytes) of the
// METADATA entries of account acct: its server entries and those of its
// mailboxes, private and shared. Protocol layers bound it per account.
func (s *Store) MetadataSize(ctx context.Context, acct storage.AccountID) (int64, error) {
	var n sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, "SELECT sum(length(name) + length(value)) FROM metadata WHERE account = ?", acct).Scan(&n)
	if err != nil {
		return 0, dbErr("metadata size", err)
	}
	return n.Int64, nil
}
