package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/floemail/floe/storage"
)

// Client activation keys, activations (client services, port 5229) and app
// passwords. A trigger removes an account's rows with it, so the account
// code need not know about them.
const schemaClients = `
CREATE TABLE activation_keys (
	account INTEGER PRIMARY KEY,
	key     TEXT NOT NULL UNIQUE
);
CREATE TABLE activations (
	id      INTEGER PRIMARY KEY,
	account INTEGER NOT NULL,
	domain  TEXT NOT NULL,  -- the account's domain, for counting seats
	machine TEXT NOT NULL,
	created INTEGER NOT NULL, -- unix seconds
	renewed INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	UNIQUE (account, machine)
);
CREATE INDEX activations_domain ON activations(domain);
CREATE TABLE app_passwords (
	id        INTEGER PRIMARY KEY,
	account   INTEGER NOT NULL,
	label     TEXT NOT NULL,
	hash      TEXT NOT NULL,
	created   INTEGER NOT NULL,
	last_used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_passwords_account ON app_passwords(account);
CREATE TRIGGER clients_account_deleted AFTER DELETE ON accounts BEGIN
	DELETE FROM activation_keys WHERE account = old.id;
	DELETE FROM activations WHERE account = old.id;
	DELETE FROM app_passwords WHERE account = old.id;
END;
`

func migrateClients(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaClients)
	return err
}

// accountExists reports whether acct exists, within w's transaction.
func (w *wtx) accountExists(acct storage.AccountID) (string, error) {
	var addr string
	err := w.queryRow("SELECT address FROM accounts WHERE id = ?", acct).Scan(&addr)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
	}
	return addr, dbErr("account", err)
}

// ActivationKey returns the account's key, storing newKey() first when it
// has none.
func (s *Store) ActivationKey(ctx context.Context, acct storage.AccountID, newKey func() string) (string, error) {
	var key string
	err := s.rdb.QueryRowContext(ctx, "SELECT key FROM activation_keys WHERE account = ?", acct).Scan(&key)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", dbErr("activation key", err)
	}
	err = s.write(ctx, "activation key", func(w *wtx) error {
		if _, err := w.accountExists(acct); err != nil {
			return err
		}
		// Another writer may have stored one meanwhile: keep it.
		err := w.queryRow("SELECT key FROM activation_keys WHERE account = ?", acct).Scan(&key)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return dbErr("activation key", err)
		}
		key = newKey()
		if key == "" {
			return fmt.Errorf("empty activation key: %w", storage.ErrInvalid)
		}
		_, err = w.exec("INSERT INTO activation_keys(account, key) VALUES (?, ?)", acct, key)
		return keyErr(err)
	})
	return key, err
}

func keyErr(err error) error {
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return fmt.Errorf("activation key: %w", storage.ErrExists)
	}
	return dbErr("activation key", err)
}

// SetActivationKey replaces the account's key.
func (s *Store) SetActivationKey(ctx context.Context, acct storage.AccountID, key string) error {
	if key == "" || len(key) > 200 {
		return fmt.Errorf("activation key: %w", storage.ErrInvalid)
	}
	return s.write(ctx, "set activation key", func(w *wtx) error {
		if _, err := w.accountExists(acct); err != nil {
			return err
		}
		_, err := w.exec(`INSERT INTO activation_keys(account, key) VALUES (?, ?)
			ON CONFLICT(account) DO UPDATE SET key = excluded.key`, acct, key)
		return keyErr(err)
	})
}

// AccountByActivationKey finds the account of a key.
func (s *Store) AccountByActivationKey(ctx context.Context, key string) (storage.AccountID, error) {
	var id storage.AccountID
	err := s.rdb.QueryRowContext(ctx, "SELECT account FROM activation_keys WHERE key = ?", key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("activation key: %w", storage.ErrNotFound)
	}
	return id, dbErr("activation key", err)
}

const activationCols = "a.id, a.account, ac.address, a.domain, a.machine, a.created, a.renewed, a.expires"

func scanActivation(sc scanner) (storage.Activation, error) {
	var a storage.Activation
	var created, renewed, expires int64
	err := sc.Scan(&a.ID, &a.Account, &a.Address, &a.Domain, &a.MachineID, &created, &renewed, &expires)
	a.Created = time.Unix(created, 0).UTC()
	a.Renewed = time.Unix(renewed, 0).UTC()
	a.Expires = time.Unix(expires, 0).UTC()
	return a, err
}

// Activate renews or adds an activation within the domain's seats.
func (s *Store) Activate(ctx context.Context, a storage.Activation, seats int) (storage.Activation, error) {
	if a.MachineID == "" || len(a.MachineID) > storage.MaxMachineID || !utf8.ValidString(a.MachineID) {
		return a, fmt.Errorf("machine id: %w", storage.ErrInvalid)
	}
	now := time.Now().UTC()
	var out storage.Activation
	err := s.write(ctx, "activate", func(w *wtx) error {
		addr, err := w.accountExists(a.Account)
		if err != nil {
			return err
		}
		domain := addr[strings.LastIndexByte(addr, '@')+1:]
		var id int64
		err = w.queryRow("SELECT id FROM activations WHERE account = ? AND machine = ?", a.Account, a.MachineID).Scan(&id)
		switch {
		case err == nil:
			if _, err := w.exec("UPDATE activations SET renewed = ?, expires = ? WHERE id = ?", now.Unix(), a.Expires.Unix(), id); err != nil {
				return dbErr("activate", err)
			}
		case errors.Is(err, sql.ErrNoRows):
			var n int
			if err := w.queryRow("SELECT count(*) FROM activations WHERE domain = ?", domain).Scan(&n); err != nil {
				return dbErr("activate", err)
			}
			if n >= seats {
				return fmt.Errorf("%d of %d client seats of %s in use: %w", n, seats, domain, storage.ErrLimit)
			}
			res, err := w.exec(`INSERT INTO activations(account, domain, machine, created, renewed, expires) VALUES (?, ?, ?, ?, ?, ?)`,
				a.Account, domain, a.MachineID, now.Unix(), now.Unix(), a.Expires.Unix())
			if err != nil {
				return dbErr("activate", err)
			}
			if id, err = res.LastInsertId(); err != nil {
				return dbErr("activate", err)
			}
		default:
			return dbErr("activate", err)
		}
		out, err = scanActivation(w.queryRow("SELECT "+activationCols+" FROM activations a JOIN accounts ac ON ac.id = a.account WHERE a.id = ?", id))
		return dbErr("activate", err)
	})
	return out, err
}

// Activations lists the activations of a domain, or all.
func (s *Store) Activations(ctx context.Context, domain string) ([]storage.Activation, error) {
	q := "SELECT " + activationCols + " FROM activations a JOIN accounts ac ON ac.id = a.account"
	var args []any
	if domain != "" {
		q += " WHERE a.domain = ?"
		args = append(args, strings.ToLower(domain))
	}
	rows, err := s.rdb.QueryContext(ctx, q+" ORDER BY a.id", args...)
	return scanAll("activations", rows, err, scanActivation)
}

// RevokeActivation removes an activation.
func (s *Store) RevokeActivation(ctx context.Context, id int64) error {
	return s.write(ctx, "revoke activation", func(w *wtx) error {
		res, err := w.exec("DELETE FROM activations WHERE id = ?", id)
		if err != nil {
			return dbErr("revoke activation", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("activation %d: %w", id, storage.ErrNotFound)
		}
		return nil
	})
}

// AppPasswords lists the account's app passwords, oldest first.
func (s *Store) AppPasswords(ctx context.Context, acct storage.AccountID) ([]storage.AppPassword, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT id, account, label, hash, created, last_used FROM app_passwords WHERE account = ? ORDER BY id", acct)
	if err != nil {
		return nil, dbErr("app passwords", err)
	}
	defer rows.Close()
	var out []storage.AppPassword
	for rows.Next() {
		var p storage.AppPassword
		var created, used int64
		if err := rows.Scan(&p.ID, &p.Account, &p.Label, &p.Hash, &created, &used); err != nil {
			return nil, dbErr("app passwords", err)
		}
		p.Created = time.Unix(created, 0).UTC()
		if used != 0 {
			p.LastUsed = time.Unix(used, 0).UTC()
		}
		out = append(out, p)
	}
	return out, dbErr("app passwords", rows.Err())
}

// CreateAppPassword stores a new app password.
func (s *Store) CreateAppPassword(ctx context.Context, p storage.AppPassword) (storage.AppPassword, error) {
	p.Label = strings.TrimSpace(p.Label)
	if p.Label == "" || len(p.Label) > storage.MaxAppPasswordLabel || !utf8.ValidString(p.Label) || p.Hash == "" {
		return p, fmt.Errorf("app password: %w", storage.ErrInvalid)
	}
	for _, r := range p.Label {
		if r < ' ' || r == 0x7f {
			return p, fmt.Errorf("app password label: %w", storage.ErrInvalid)
		}
	}
	p.Created = time.Unix(time.Now().Unix(), 0).UTC()
	err := s.write(ctx, "create app password", func(w *wtx) error {
		if _, err := w.accountExists(p.Account); err != nil {
			return err
		}
		var n int
		if err := w.queryRow("SELECT count(*) FROM app_passwords WHERE account = ?", p.Account).Scan(&n); err != nil {
			return dbErr("create app password", err)
		}
		if n >= storage.MaxAppPasswords {
			return fmt.Errorf("%d app passwords: %w", n, storage.ErrLimit)
		}
		res, err := w.exec("INSERT INTO app_passwords(account, label, hash, created) VALUES (?, ?, ?, ?)",
			p.Account, p.Label, p.Hash, p.Created.Unix())
		if err != nil {
			return dbErr("create app password", err)
		}
		p.ID, err = res.LastInsertId()
		return dbErr("create app password", err)
	})
	return p, err
}

// DeleteAppPassword removes one of the account's app passwords.
func (s *Store) DeleteAppPassword(ctx context.Context, acct storage.AccountID, id int64) error {
	return s.write(ctx, "delete app password", func(w *wtx) error {
		res, err := w.exec("DELETE FROM app_passwords WHERE id = ? AND account = ?", id, acct)
		if err != nil {
			return dbErr("delete app password", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("app password %d: %w", id, storage.ErrNotFound)
		}
		return nil
	})
}

// TouchAppPassword records a use.
func (s *Store) TouchAppPassword(ctx context.Context, id int64, at time.Time) error {
	return s.write(ctx, "touch app password", func(w *wtx) error {
		_, err := w.exec("UPDATE app_passwords SET last_used = ? WHERE id = ?", at.Unix(), id)
		return dbErr("touch app password", err)
	})
}
