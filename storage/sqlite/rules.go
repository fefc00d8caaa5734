package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
)

// Rule documents, responder state and the quarantine (storage.Rules,
// storage.Quarantine). A quarantine entry references its blob by hash, like
// an outbound queue entry: blobUsers counts both.
const schemaRules = `
CREATE TABLE IF NOT EXISTS account_rules (
	account INTEGER PRIMARY KEY REFERENCES accounts(id),
	doc     BLOB NOT NULL,
	updated INTEGER NOT NULL   -- unix milliseconds
);

CREATE TABLE IF NOT EXISTS responder_state (
	account INTEGER NOT NULL,
	sender  TEXT NOT NULL,     -- lowercase
	last    INTEGER NOT NULL,  -- unix milliseconds of the last answer
	PRIMARY KEY (account, sender)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS quarantine (
	id        INTEGER PRIMARY KEY,
	blob      TEXT NOT NULL,   -- storage.BlobID
	size      INTEGER NOT NULL,
	mail_from TEXT NOT NULL,
	recipient TEXT NOT NULL,
	account   INTEGER NOT NULL DEFAULT 0, -- no foreign key: held beyond the account
	reason    TEXT NOT NULL DEFAULT '',
	created   INTEGER NOT NULL -- unix milliseconds
);
CREATE INDEX IF NOT EXISTS quarantine_blob ON quarantine(blob);
`

func migrateRules(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaRules)
	return err
}

// Schema version 15: the rules_version counter (RulesVersion), bumped by
// trigger in the transaction of every change of account_rules (set,
// replaced, removed, also with the account).
const schemaRulesVersion = `
INSERT INTO counters(name, value) VALUES ('rules_version', 1) ON CONFLICT(name) DO NOTHING;
CREATE TRIGGER rules_version_added AFTER INSERT ON account_rules BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'rules_version';
END;
CREATE TRIGGER rules_version_changed AFTER UPDATE ON account_rules BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'rules_version';
END;
CREATE TRIGGER rules_version_removed AFTER DELETE ON account_rules BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'rules_version';
END;
`

func migrateRulesVersion(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaRulesVersion)
	return err
}

// RulesVersion implements storage.Rules.
func (s *Store) RulesVersion(ctx context.Context) (uint64, error) {
	return s.counter(ctx, "rules_version")
}

// AccountRules implements storage.Rules.
func (s *Store) AccountRules(ctx context.Context, acct storage.AccountID) ([]byte, error) {
	var doc []byte
	err := s.rdb.QueryRowContext(ctx, "SELECT doc FROM account_rules WHERE account = ?", int64(acct)).Scan(&doc)
	if err != nil {
		return nil, dbErr(fmt.Sprintf("rules of account %d", acct), err)
	}
	return doc, nil
}

// SetAccountRules implements storage.Rules.
func (s *Store) SetAccountRules(ctx context.Context, acct storage.AccountID, doc []byte) error {
	return s.write(ctx, "set account rules", func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM accounts WHERE id = ?", int64(acct)).Scan(&n); err != nil {
			return dbErr("set account rules", err)
		}
		if n == 0 {
			return fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
		}
		if len(doc) == 0 {
			_, err := w.exec("DELETE FROM account_rules WHERE account = ?", int64(acct))
			return dbErr("set account rules", err)
		}
		_, err := w.exec(`INSERT INTO account_rules(account, doc, updated) VALUES (?, ?, ?)
			ON CONFLICT(account) DO UPDATE SET doc = excluded.doc, updated = excluded.updated`,
			int64(acct), doc, ms(time.Now()))
		return dbErr("set account rules", err)
	})
}

// ResponderMark implements storage.Rules.
func (s *Store) ResponderMark(ctx context.Context, acct storage.AccountID, sender string, now, since time.Time) (bool, error) {
	sender = strings.ToLower(sender)
	answer := false
	err := s.write(ctx, "responder mark", func(w *wtx) error {
		answer = false
		var last int64
		err := w.queryRow("SELECT last FROM responder_state WHERE account = ? AND sender = ?", int64(acct), sender).Scan(&last)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return dbErr("responder mark", err)
		case since.IsZero() || last > ms(since):
			return nil
		}
		if _, err := w.exec(`INSERT INTO responder_state(account, sender, last) VALUES (?, ?, ?)
			ON CONFLICT(account, sender) DO UPDATE SET last = excluded.last`, int64(acct), sender, ms(now)); err != nil {
			return dbErr("responder mark", err)
		}
		answer = true
		return nil
	})
	return answer, err
}

// ResponderReset implements storage.Rules.
func (s *Store) ResponderReset(ctx context.Context, acct storage.AccountID) error {
	return s.write(ctx, "responder reset", func(w *wtx) error {
		_, err := w.exec("DELETE FROM responder_state WHERE account = ?", int64(acct))
		return dbErr("responder reset", err)
	})
}

// deleteAccountRules removes an account's rules and responder state (in
// DeleteAccount's transaction).
func (w *wtx) deleteAccountRules(acct storage.AccountID) error {
	if _, err := w.exec("DELETE FROM account_rules WHERE account = ?", int64(acct)); err != nil {
		return dbErr("delete account rules", err)
	}
	_, err := w.exec("DELETE FROM responder_state WHERE account = ?", int64(acct))
	return dbErr("delete account rules", err)
}

// Quarantine implements storage.Quarantine.
func (s *Store) Quarantine(ctx context.Context, e storage.QuarantineEntry) (storage.QuarantineID, error) {
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	var id storage.QuarantineID
	err := s.writeBlobs(ctx, "quarantine", []storage.BlobID{e.Blob}, func(w *wtx) error {
		size, err := w.s.blobs.Stat(e.Blob)
		if err != nil {
			return fmt.Errorf("quarantine: blob %s is not stored: %w", e.Blob, err)
		}
		if e.Size == 0 {
			e.Size = size
		}
		if size != e.Size {
			return fmt.Errorf("quarantine: blob %s has %d bytes, not %d: %w", e.Blob, size, e.Size, storage.ErrInvalid)
		}
		err = w.queryRow(`INSERT INTO quarantine(blob, size, mail_from, recipient, account, reason, created)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			string(e.Blob), e.Size, e.From, e.Recipient, int64(e.Account), e.Reason, ms(e.Created)).Scan(&id)
		if err != nil {
			return dbErr("quarantine", err)
		}
		w.o.created = append(w.o.created, e.Blob)
		return nil
	})
	return id, err
}

const quarantineCols = "id, blob, size, mail_from, recipient, account, reason, created"

func scanQuarantine(r scanner) (storage.QuarantineEntry, error) {
	var e storage.QuarantineEntry
	var blob string
	var acct, created int64
	if err := r.Scan(&e.ID, &blob, &e.Size, &e.From, &e.Recipient, &acct, &e.Reason, &created); err != nil {
		return e, err
	}
	e.Blob, e.Account, e.Created = storage.BlobID(blob), storage.AccountID(acct), fromMS(created)
	return e, nil
}

// QuarantineEntries implements storage.Quarantine.
func (s *Store) QuarantineEntries(ctx context.Context) ([]storage.QuarantineEntry, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+quarantineCols+" FROM quarantine ORDER BY id")
	return scanAll("quarantine entries", rows, err, scanQuarantine)
}

// QuarantineEntry implements storage.Quarantine.
func (s *Store) QuarantineEntry(ctx context.Context, id storage.QuarantineID) (storage.QuarantineEntry, error) {
	e, err := scanQuarantine(s.rdb.QueryRowContext(ctx, "SELECT "+quarantineCols+" FROM quarantine WHERE id = ?", int64(id)))
	if err != nil {
		return e, dbErr(fmt.Sprintf("quarantine entry %d", id), err)
	}
	return e, nil
}

// DeleteQuarantineEntry implements storage.Quarantine.
func (s *Store) DeleteQuarantineEntry(ctx context.Context, id storage.QuarantineID) error {
	return s.write(ctx, "delete quarantine entry", func(w *wtx) error {
		var blob string
		if err := w.queryRow("DELETE FROM quarantine WHERE id = ? RETURNING blob", int64(id)).Scan(&blob); err != nil {
			return dbErr(fmt.Sprintf("delete quarantine entry %d", id), err)
		}
		var n int
		if err := w.queryRow(blobUsers, blob).Scan(&n); err != nil {
			return dbErr("delete quarantine entry", err)
		}
		if n == 0 {
			w.o.deleted = append(w.o.deleted, storage.BlobID(blob))
		}
		return nil
	})
}
