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

// normAddress lowercases an address and checks it has the form local@domain.
func normAddress(a string) (addr, domain string, err error) {
	addr = strings.ToLower(strings.TrimSpace(a))
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", fmt.Errorf("address %q: %w", a, storage.ErrInvalid)
	}
	return addr, addr[i+1:], nil
}

func normDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSpace(d))
	if d == "" || strings.ContainsAny(d, "@ /\\") {
		return "", fmt.Errorf("domain %q: %w", d, storage.ErrInvalid)
	}
	return d, nil
}

func normSource(s storage.Source) (storage.Source, error) {
	switch s {
	case "":
		return storage.SourceDB, nil
	case storage.SourceDB, storage.SourceConfig:
		return s, nil
	}
	return "", fmt.Errorf("source %q: %w", s, storage.ErrInvalid)
}

// --- domains ---

// Domains returns every domain, ordered by name.
func (s *Store) Domains(ctx context.Context) ([]storage.Domain, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT name, catch_all, source, created FROM domains ORDER BY name")
	if err != nil {
		return nil, dbErr("domains", err)
	}
	defer rows.Close()
	var out []storage.Domain
	for rows.Next() {
		var d storage.Domain
		var created int64
		if err := rows.Scan(&d.Name, &d.CatchAll, &d.Source, &created); err != nil {
			return nil, dbErr("domains", err)
		}
		d.Created = time.Unix(created, 0).UTC()
		out = append(out, d)
	}
	return out, dbErr("domains", rows.Err())
}

// Domain returns one domain (ErrNoDomain).
func (s *Store) Domain(ctx context.Context, name string) (storage.Domain, error) {
	name, err := normDomain(name)
	if err != nil {
		return storage.Domain{}, err
	}
	var d storage.Domain
	var created int64
	err = s.rdb.QueryRowContext(ctx, "SELECT name, catch_all, source, created FROM domains WHERE name = ?", name).
		Scan(&d.Name, &d.CatchAll, &d.Source, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("domain %s: %w", name, storage.ErrNoDomain)
	}
	if err != nil {
		return d, dbErr("domain", err)
	}
	d.Created = time.Unix(created, 0).UTC()
	return d, nil
}

// PutDomain inserts or updates a domain (catch-all and source; Created is
// kept on update).
func (s *Store) PutDomain(ctx context.Context, d storage.Domain) error {
	name, err := normDomain(d.Name)
	if err != nil {
		return err
	}
	src, err := normSource(d.Source)
	if err != nil {
		return err
	}
	catchAll := ""
	if d.CatchAll != "" {
		if catchAll, _, err = normAddress(d.CatchAll); err != nil {
			return err
		}
	}
	created := d.Created
	if created.IsZero() {
		created = time.Now()
	}
	return s.write(ctx, "put domain", func(w *wtx) error {
		_, err := w.exec(`INSERT INTO domains(name, catch_all, source, created) VALUES (?, ?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET catch_all = excluded.catch_all, source = excluded.source`,
			name, catchAll, string(src), created.Unix())
		return dbErr("put domain", err)
	})
}

// DeleteDomain deletes a domain without accounts (ErrNotEmpty otherwise).
// Aliases and groups in the domain are deleted with it, and so is its
// public-folder owner when it has no folders (ErrNotEmpty otherwise).
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	name, err := normDomain(name)
	if err != nil {
		return err
	}
	return s.write(ctx, "delete domain", func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM accounts WHERE domain = ? AND kind = ''", name).Scan(&n); err != nil {
			return dbErr("delete domain", err)
		}
		if n > 0 {
			return fmt.Errorf("domain %s has %d accounts: %w", name, n, storage.ErrNotEmpty)
		}
		if err := w.queryRow("SELECT count(*) FROM mailboxes m JOIN accounts a ON a.id = m.account WHERE a.domain = ?", name).Scan(&n); err != nil {
			return dbErr("delete domain", err)
		}
		if n > 0 {
			return fmt.Errorf("domain %s has %d public folders: %w", name, n, storage.ErrNotEmpty)
		}
		if _, err := w.exec("DELETE FROM accounts WHERE domain = ? AND kind = ?", name, accountKindPublic); err != nil {
			return dbErr("delete domain", err)
		}
		if _, err := w.exec("DELETE FROM mailgroups WHERE domain = ?", name); err != nil {
			return dbErr("delete domain", err)
		}
		res, err := w.exec("DELETE FROM domains WHERE name = ?", name)
		if err != nil {
			return dbErr("delete domain", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("domain %s: %w", name, storage.ErrNoDomain)
		}
		_, err = w.exec("DELETE FROM aliases WHERE address LIKE ? ESCAPE '\\'", "%@"+escapeLike(name))
		return dbErr("delete domain aliases", err)
	})
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// --- accounts ---

// Schema version 12: accounts.name, the display name (storage.Account.Name),
// and the directory_version counter (DirectoryVersion), bumped by trigger
// in the transaction of every change an address book shows.
const schemaAccountNames = `
ALTER TABLE accounts ADD COLUMN name TEXT NOT NULL DEFAULT '';
INSERT INTO counters(name, value) VALUES ('directory_version', 1) ON CONFLICT(name) DO NOTHING;
CREATE TRIGGER directory_domain_added AFTER INSERT ON domains BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'directory_version';
END;
CREATE TRIGGER directory_domain_removed AFTER DELETE ON domains BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'directory_version';
END;
CREATE TRIGGER directory_account_added AFTER INSERT ON accounts BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'directory_version';
END;
CREATE TRIGGER directory_account_removed AFTER DELETE ON accounts BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'directory_version';
END;
CREATE TRIGGER directory_account_changed AFTER UPDATE OF address, name, disabled ON accounts
	WHEN old.address != new.address OR old.name != new.name OR old.disabled != new.disabled BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'directory_version';
END;
CREATE TRIGGER directory_group_added AFTER INSERT ON mailgroups BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'directory_version';
END;
CREATE TRIGGER directory_group_removed AFTER DELETE ON mailgroups BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'directory_version';
END;
CREATE TRIGGER directory_member_added AFTER INSERT ON group_members BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'directory_version';
END;
CREATE TRIGGER directory_member_removed AFTER DELETE ON group_members BEGIN
	UPDATE counters SET value = value + 1 WHERE name = 'directory_version';
END;
`

func migrateAccountNames(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaAccountNames)
	return err
}

// DirectoryVersion returns the directory_version counter
// (storage.Directory).
func (s *Store) DirectoryVersion(ctx context.Context) (uint64, error) {
	return s.counter(ctx, "directory_version")
}

const accountCols = "id, address, name, password_hash, quota_bytes, quota_messages, disabled, source, created"

func scanAccount(sc scanner) (storage.Account, error) {
	var a storage.Account
	var disabled int
	var created int64
	err := sc.Scan(&a.ID, &a.Address, &a.Name, &a.PasswordHash, &a.QuotaBytes, &a.QuotaMessages, &disabled, &a.Source, &created)
	a.Disabled = disabled != 0
	a.Created = time.Unix(created, 0).UTC()
	return a, err
}

// Accounts returns every account, ordered by address (not the public-folder
// owners).
func (s *Store) Accounts(ctx context.Context) ([]storage.Account, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE kind = '' ORDER BY address")
	return scanAll("accounts", rows, err, scanAccount)
}

// Account returns the account with this address, compared case-insensitively
// (ErrNoAccount).
func (s *Store) Account(ctx context.Context, address string) (storage.Account, error) {
	addr, _, err := normAddress(address)
	if err != nil {
		return storage.Account{}, fmt.Errorf("account %q: %w", address, storage.ErrNoAccount)
	}
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE address = ? AND kind = ''", addr))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("account %s: %w", addr, storage.ErrNoAccount)
	}
	return a, dbErr("account", err)
}

// AccountByID returns the account with this ID (ErrNoAccount).
func (s *Store) AccountByID(ctx context.Context, id storage.AccountID) (storage.Account, error) {
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("account %d: %w", id, storage.ErrNoAccount)
	}
	return a, dbErr("account", err)
}

// CreateAccount creates the account with its default mailboxes (subscribed,
// with their SPECIAL-USE). The domain must exist (ErrNoDomain); the address
// must not be an account, an alias or a group already (ErrExists).
func (s *Store) CreateAccount(ctx context.Context, a storage.Account) (storage.Account, error) {
	addr, domain, err := normAddress(a.Address)
	if err != nil {
		return a, err
	}
	if a.Source, err = normSource(a.Source); err != nil {
		return a, err
	}
	if a.QuotaBytes < 0 || a.QuotaMessages < 0 {
		return a, fmt.Errorf("negative quota: %w", storage.ErrInvalid)
	}
	if !storage.ValidDisplayName(a.Name) {
		return a, fmt.Errorf("display name %q: %w", a.Name, storage.ErrInvalid)
	}
	a.Address = addr
	if a.Created.IsZero() {
		a.Created = time.Now()
	}
	a.Created = time.Unix(a.Created.Unix(), 0).UTC()
	err = s.write(ctx, "create account", func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM domains WHERE name = ?", domain).Scan(&n); err != nil {
			return dbErr("create account", err)
		}
		if n == 0 {
			return fmt.Errorf("domain %s: %w", domain, storage.ErrNoDomain)
		}
		if err := w.queryRow("SELECT (SELECT count(*) FROM aliases WHERE address = ?) + (SELECT count(*) FROM mailgroups WHERE address = ?)",
			addr, addr).Scan(&n); err != nil {
			return dbErr("create account", err)
		}
		if n > 0 {
			return fmt.Errorf("%s is an alias or a group: %w", addr, storage.ErrExists)
		}
		res, err := w.exec(`INSERT INTO accounts(address, domain, name, password_hash, quota_bytes, quota_messages, disabled, source, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			addr, domain, a.Name, a.PasswordHash, a.QuotaBytes, a.QuotaMessages, boolInt(a.Disabled), string(a.Source), a.Created.Unix())
		if err != nil {
			return dbErr("create account", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return dbErr("create account", err)
		}
		a.ID = storage.AccountID(id)
		for _, mb := range storage.DefaultMailboxes {
			if _, err := w.createMailbox(a.ID, mb.Name, mb.SpecialUse, true); err != nil {
				return err
			}
		}
		return nil
	})
	return a, err
}

// UpdateAccount changes display name, password hash, quotas, disabled
// flag and source of the account identified by ID, or by Address when ID
// is 0.
func (s *Store) UpdateAccount(ctx context.Context, a storage.Account) error {
	src, err := normSource(a.Source)
	if err != nil {
		return err
	}
	if a.QuotaBytes < 0 || a.QuotaMessages < 0 {
		return fmt.Errorf("negative quota: %w", storage.ErrInvalid)
	}
	if !storage.ValidDisplayName(a.Name) {
		return fmt.Errorf("display name %q: %w", a.Name, storage.ErrInvalid)
	}
	var addr string
	if a.ID == 0 {
		if addr, _, err = normAddress(a.Address); err != nil {
			return fmt.Errorf("account %q: %w", a.Address, storage.ErrNoAccount)
		}
	}
	return s.write(ctx, "update account", func(w *wtx) error {
		res, err := w.exec(`UPDATE accounts SET name = ?, password_hash = ?, quota_bytes = ?, quota_messages = ?, disabled = ?, source = ?
			WHERE (? != 0 AND id = ?) OR (? = 0 AND address = ?)`,
			a.Name, a.PasswordHash, a.QuotaBytes, a.QuotaMessages, boolInt(a.Disabled), string(src), a.ID, a.ID, a.ID, addr)
		if err != nil {
			return dbErr("update account", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("account %d %s: %w", a.ID, addr, storage.ErrNoAccount)
		}
		return nil
	})
}

// DeleteAccount removes the account with its mailboxes, messages and the
// aliases pointing to it; a trigger removes its ACLs, the ACL entries and
// group memberships naming it, its subscriptions, its \Seen in others'
// mailboxes and its send-as grants, so that an account created later with
// the same address inherits nothing. Blob files left unreferenced are
// deleted after the commit. It publishes ChangeMailboxDeleted for each
// mailbox.
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	addr, _, err := normAddress(address)
	if err != nil {
		return fmt.Errorf("account %q: %w", address, storage.ErrNoAccount)
	}
	return s.write(ctx, "delete account", func(w *wtx) error {
		var id storage.AccountID
		err := w.queryRow("SELECT id FROM accounts WHERE address = ? AND kind = ''", addr).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %s: %w", addr, storage.ErrNoAccount)
		}
		if err != nil {
			return dbErr("delete account", err)
		}
		rows, err := w.tx.Query("SELECT id FROM mailboxes WHERE account = ?", id)
		if err != nil {
			return dbErr("delete account", err)
		}
		var mboxes []storage.MailboxID
		for rows.Next() {
			var m storage.MailboxID
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return dbErr("delete account", err)
			}
			mboxes = append(mboxes, m)
		}
		rows.Close()
		for _, m := range mboxes {
			if err := w.deleteMailbox(m); err != nil {
				return err
			}
		}
		if _, err := w.exec("DELETE FROM aliases WHERE target = ?", addr); err != nil {
			return dbErr("delete account", err)
		}
		if err := w.deleteAccountRules(id); err != nil {
			return err
		}
		_, err = w.exec("DELETE FROM accounts WHERE id = ?", id)
		return dbErr("delete account", err)
	})
}

// --- aliases ---

// Aliases returns every alias, ordered by address.
func (s *Store) Aliases(ctx context.Context) ([]storage.Alias, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT address, target, source FROM aliases ORDER BY address")
	if err != nil {
		return nil, dbErr("aliases", err)
	}
	defer rows.Close()
	var out []storage.Alias
	for rows.Next() {
		var a storage.Alias
		if err := rows.Scan(&a.Address, &a.Target, &a.Source); err != nil {
			return nil, dbErr("aliases", err)
		}
		out = append(out, a)
	}
	return out, dbErr("aliases", rows.Err())
}

// Alias returns one alias, compared case-insensitively (ErrNotFound).
func (s *Store) Alias(ctx context.Context, address string) (storage.Alias, error) {
	addr, _, err := normAddress(address)
	if err != nil {
		return storage.Alias{}, fmt.Errorf("alias %q: %w", address, storage.ErrNotFound)
	}
	var a storage.Alias
	err = s.rdb.QueryRowContext(ctx, "SELECT address, target, source FROM aliases WHERE address = ?", addr).
		Scan(&a.Address, &a.Target, &a.Source)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("alias %s: %w", addr, storage.ErrNotFound)
	}
	return a, dbErr("alias", err)
}

// PutAlias inserts or updates an alias. Its domain must exist (ErrNoDomain),
// its target must be an account (ErrNoAccount), and its address must not be
// an account or a group (ErrExists).
func (s *Store) PutAlias(ctx context.Context, a storage.Alias) error {
	addr, domain, err := normAddress(a.Address)
	if err != nil {
		return err
	}
	target, _, err := normAddress(a.Target)
	if err != nil {
		return err
	}
	src, err := normSource(a.Source)
	if err != nil {
		return err
	}
	return s.write(ctx, "put alias", func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM domains WHERE name = ?", domain).Scan(&n); err != nil {
			return dbErr("put alias", err)
		}
		if n == 0 {
			return fmt.Errorf("domain %s: %w", domain, storage.ErrNoDomain)
		}
		if err := w.queryRow("SELECT count(*) FROM accounts WHERE address = ? AND kind = ''", target).Scan(&n); err != nil {
			return dbErr("put alias", err)
		}
		if n == 0 {
			return fmt.Errorf("alias target %s: %w", target, storage.ErrNoAccount)
		}
		if err := w.queryRow("SELECT (SELECT count(*) FROM accounts WHERE address = ?) + (SELECT count(*) FROM mailgroups WHERE address = ?)",
			addr, addr).Scan(&n); err != nil {
			return dbErr("put alias", err)
		}
		if n > 0 {
			return fmt.Errorf("%s is an account or a group: %w", addr, storage.ErrExists)
		}
		_, err := w.exec(`INSERT INTO aliases(address, target, source) VALUES (?, ?, ?)
			ON CONFLICT(address) DO UPDATE SET target = excluded.target, source = excluded.source`,
			addr, target, string(src))
		return dbErr("put alias", err)
	})
}

// DeleteAlias deletes an alias (ErrNotFound).
func (s *Store) DeleteAlias(ctx context.Context, address string) error {
	addr, _, err := normAddress(address)
	if err != nil {
		return fmt.Errorf("alias %q: %w", address, storage.ErrNotFound)
	}
	return s.write(ctx, "delete alias", func(w *wtx) error {
		res, err := w.exec("DELETE FROM aliases WHERE address = ?", addr)
		if err != nil {
			return dbErr("delete alias", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("alias %s: %w", addr, storage.ErrNotFound)
		}
		return nil
	})
}

// Usage returns the account's usage counters (ErrNoAccount).
func (s *Store) Usage(ctx context.Context, acct storage.AccountID) (storage.Usage, error) {
	var u storage.Usage
	err := s.rdb.QueryRowContext(ctx, "SELECT used_bytes, used_messages FROM accounts WHERE id = ?", acct).Scan(&u.Bytes, &u.Messages)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
	}
	return u, dbErr("usage", err)
}
