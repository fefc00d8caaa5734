package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/floemail/floe/storage"
)

// Download links (storage.Links). A link names its file by folder and
// name and remembers the content it had; it holds no blob reference (the
// file does), so blobUsers does not count it. Rows go with their account
// or folder (ON DELETE CASCADE).
const schemaLinks = `
CREATE TABLE IF NOT EXISTS links (
	id         INTEGER PRIMARY KEY,
	token_hash TEXT NOT NULL UNIQUE, -- storage.HashLinkToken
	account    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	mailbox    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	content    TEXT NOT NULL,        -- storage.BlobID
	size       INTEGER NOT NULL,
	created    INTEGER NOT NULL,     -- unix milliseconds
	expires    INTEGER NOT NULL,
	revoked    INTEGER NOT NULL DEFAULT 0, -- 0: not revoked
	note       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS links_account ON links(account);
CREATE INDEX IF NOT EXISTS links_mailbox ON links(mailbox);
`

func migrateLinks(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaLinks)
	return err
}

// CreateLink implements storage.Links.
func (s *Store) CreateLink(ctx context.Context, l storage.Link) (storage.LinkID, error) {
	if l.Created.IsZero() {
		l.Created = time.Now()
	}
	if len(l.TokenHash) != 64 || l.Name == "" || l.Content == "" || !l.Expires.After(l.Created) || len(l.Note) > storage.MaxLinkNote {
		return 0, fmt.Errorf("create link: %w", storage.ErrInvalid)
	}
	var id storage.LinkID
	err := s.write(ctx, "create link", func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM accounts WHERE id = ?", int64(l.Account)).Scan(&n); err != nil {
			return dbErr("create link", err)
		}
		if n == 0 {
			return fmt.Errorf("create link: account %d: %w", l.Account, storage.ErrNoAccount)
		}
		var owner int64
		err := w.queryRow("SELECT account FROM mailboxes WHERE id = ?", int64(l.Mailbox)).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("create link: mailbox %d: %w", l.Mailbox, storage.ErrNoMailbox)
		}
		if err != nil {
			return dbErr("create link", err)
		}
		if owner != int64(l.Account) {
			return fmt.Errorf("create link: mailbox %d is not account %d's: %w", l.Mailbox, l.Account, storage.ErrInvalid)
		}
		var revoked int64
		if !l.Revoked.IsZero() {
			revoked = ms(l.Revoked)
		}
		err = w.queryRow(`INSERT INTO links(token_hash, account, mailbox, name, content, size, created, expires, revoked, note)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			l.TokenHash, int64(l.Account), int64(l.Mailbox), l.Name, string(l.Content), l.Size,
			ms(l.Created), ms(l.Expires), revoked, l.Note).Scan(&id)
		return dbErr("create link", err)
	})
	return id, err
}

const linkCols = "id, token_hash, account, mailbox, name, content, size, created, expires, revoked, note"

func scanLink(r scanner) (storage.Link, error) {
	var l storage.Link
	var content string
	var created, expires, revoked int64
	if err := r.Scan(&l.ID, &l.TokenHash, &l.Account, &l.Mailbox, &l.Name, &content, &l.Size, &created, &expires, &revoked, &l.Note); err != nil {
		return l, err
	}
	l.Content, l.Created, l.Expires = storage.BlobID(content), fromMS(created), fromMS(expires)
	if revoked != 0 {
		l.Revoked = fromMS(revoked)
	}
	return l, nil
}

// LinkByToken implements storage.Links.
func (s *Store) LinkByToken(ctx context.Context, tokenHash string) (storage.Link, error) {
	l, err := scanLink(s.rdb.QueryRowContext(ctx, "SELECT "+linkCols+" FROM links WHERE token_hash = ?", tokenHash))
	if err != nil {
		return l, dbErr("link", err)
	}
	return l, nil
}

// Link implements storage.Links.
func (s *Store) Link(ctx context.Context, id storage.LinkID) (storage.Link, error) {
	l, err := scanLink(s.rdb.QueryRowContext(ctx, "SELECT "+linkCols+" FROM links WHERE id = ?", int64(id)))
	if err != nil {
		return l, dbErr(fmt.Sprintf("link %d", id), err)
	}
	return l, nil
}

// Links implements storage.Links.
func (s *Store) Links(ctx context.Context, acct storage.AccountID) ([]storage.Link, error) {
	q, args := "SELECT "+linkCols+" FROM links ORDER BY id", []any{}
	if acct != 0 {
		q, args = "SELECT "+linkCols+" FROM links WHERE account = ? ORDER BY id", []any{int64(acct)}
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	return scanAll("links", rows, err, scanLink)
}

// RevokeLink implements storage.Links.
func (s *Store) RevokeLink(ctx context.Context, id storage.LinkID, at time.Time) error {
	return s.write(ctx, "revoke link", func(w *wtx) error {
		var revoked int64
		if err := w.queryRow("SELECT revoked FROM links WHERE id = ?", int64(id)).Scan(&revoked); err != nil {
			return dbErr(fmt.Sprintf("revoke link %d", id), err)
		}
		if revoked != 0 {
			return nil
		}
		_, err := w.exec("UPDATE links SET revoked = ? WHERE id = ?", max(ms(at), 1), int64(id))
		return dbErr("revoke link", err)
	})
}

// DeleteLinks implements storage.Links.
func (s *Store) DeleteLinks(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, "delete links", func(w *wtx) error {
		res, err := w.exec("DELETE FROM links WHERE expires < ? OR (revoked != 0 AND revoked < ?)", ms(before), ms(before))
		if err != nil {
			return dbErr("delete links", err)
		}
		n, err = res.RowsAffected()
		return dbErr("delete links", err)
	})
	return int(n), err
}
