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

// normMailboxName validates a mailbox name and spells INBOX (and the INBOX/
// prefix) in upper case; other names are case-sensitive.
func normMailboxName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("mailbox name %q: %s: %w", name, why, storage.ErrInvalid)
	}
	if name == "" {
		return bad("empty")
	}
	if len(name) > 1000 {
		return bad("too long")
	}
	if !utf8.ValidString(name) {
		return bad("not UTF-8")
	}
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return bad("empty hierarchy level")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return bad("forbidden character")
		}
	}
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", nil
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX/" + name[6:], nil
	}
	return name, nil
}

// normNewMailboxName is normMailboxName for a name being created or
// renamed to: a reserved name (storage.ReservedMailboxName) is invalid.
func normNewMailboxName(name string) (string, error) {
	n, err := normMailboxName(name)
	if err == nil && storage.ReservedMailboxName(n) {
		return "", fmt.Errorf("mailbox name %q: ~ and # start other accounts' and public folders: %w", name, storage.ErrInvalid)
	}
	return n, err
}

var specialUses = []string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`}

// normSpecialUse validates a SPECIAL-USE attribute (RFC 6154).
func normSpecialUse(su string) (string, error) {
	if su == "" {
		return "", nil
	}
	for _, x := range specialUses {
		if strings.EqualFold(x, su) {
			return x, nil
		}
	}
	return "", fmt.Errorf("special-use %q: %w", su, storage.ErrInvalid)
}

// mailboxCols are the columns scanMailbox reads, from "FROM mailboxes"
// (no alias): Subscribed is the owner's subscription to the name.
const mailboxCols = "id, account, name, special_use, uidvalidity, uidnext, highest_modseq, " +
	"EXISTS (SELECT 1 FROM subscriptions s WHERE s.account = mailboxes.account AND s.name = mailboxes.name)"

func scanMailbox(sc scanner) (storage.Mailbox, error) {
	var m storage.Mailbox
	var sub int
	err := sc.Scan(&m.ID, &m.Account, &m.Name, &m.SpecialUse, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &sub)
	m.Subscribed = sub != 0
	return m, err
}

// Mailboxes returns the mailboxes of an account, ordered by name
// (ErrNoAccount).
func (s *Store) Mailboxes(ctx context.Context, acct storage.AccountID) ([]storage.Mailbox, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("mailboxes", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM accounts WHERE id = ?", acct).Scan(&n); err != nil {
		return nil, dbErr("mailboxes", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
	}
	rows, err := tx.Query("SELECT "+mailboxCols+" FROM mailboxes WHERE account = ? ORDER BY name", acct)
	return scanAll("mailboxes", rows, err, scanMailbox)
}

// Mailbox returns the account's mailbox by name (ErrNoMailbox).
func (s *Store) Mailbox(ctx context.Context, acct storage.AccountID, name string) (storage.Mailbox, error) {
	n, err := normMailboxName(name)
	if err != nil {
		return storage.Mailbox{}, fmt.Errorf("%w: %w", storage.ErrNoMailbox, err)
	}
	m, err := scanMailbox(s.rdb.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account = ? AND name = ?", acct, n))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("mailbox %q: %w", n, storage.ErrNoMailbox)
	}
	return m, dbErr("mailbox", err)
}

// MailboxByID returns a mailbox (ErrNoMailbox).
func (s *Store) MailboxByID(ctx context.Context, id storage.MailboxID) (storage.Mailbox, error) {
	m, err := scanMailbox(s.rdb.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("mailbox %d: %w", id, storage.ErrNoMailbox)
	}
	return m, dbErr("mailbox", err)
}

// Status returns the mailbox with its counts as viewer sees them (0: the
// owner; ErrNoMailbox).
func (s *Store) Status(ctx context.Context, id storage.MailboxID, viewer storage.AccountID) (storage.MailboxStatus, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storage.MailboxStatus{}, dbErr("status", err)
	}
	defer tx.Rollback()
	m, err := scanMailbox(tx.QueryRow("SELECT "+mailboxCols+" FROM mailboxes WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.MailboxStatus{}, fmt.Errorf("mailbox %d: %w", id, storage.ErrNoMailbox)
	}
	if err != nil {
		return storage.MailboxStatus{}, dbErr("status", err)
	}
	st := storage.MailboxStatus{Mailbox: m}
	err = tx.QueryRow(`SELECT count(*), coalesce(sum(sysflags & ? = 0), 0), coalesce(sum(sysflags & ? != 0), 0), coalesce(sum(size), 0)
		FROM messages WHERE mailbox = ?`, bitSeen, bitDeleted, id).Scan(&st.Messages, &st.Unseen, &st.Deleted, &st.Size)
	if err != nil || !privateSeen(m.Account, viewer) {
		return st, dbErr("status", err)
	}
	// Seen rows are removed with their messages, so counting them counts
	// the viewer's seen messages.
	var seen uint32
	err = tx.QueryRow("SELECT count(*) FROM seen WHERE mailbox = ? AND account = ?", id, viewer).Scan(&seen)
	st.Unseen = st.Messages - min(seen, st.Messages)
	return st, dbErr("status", err)
}

// CreateMailbox creates a mailbox (ErrExists, ErrNoAccount, ErrInvalid).
// It publishes ChangeMailboxCreated.
func (s *Store) CreateMailbox(ctx context.Context, acct storage.AccountID, name, specialUse string) (storage.Mailbox, error) {
	n, err := normNewMailboxName(name)
	if err != nil {
		return storage.Mailbox{}, err
	}
	su, err := normSpecialUse(specialUse)
	if err != nil {
		return storage.Mailbox{}, err
	}
	var m storage.Mailbox
	err = s.write(ctx, "create mailbox", func(w *wtx) error {
		var k int
		if err := w.queryRow("SELECT count(*) FROM accounts WHERE id = ?", acct).Scan(&k); err != nil {
			return dbErr("create mailbox", err)
		}
		if k == 0 {
			return fmt.Errorf("account %d: %w", acct, storage.ErrNoAccount)
		}
		var err error
		m, err = w.createMailbox(acct, n, su, false)
		return err
	})
	return m, err
}

// nextUIDValidity returns a UIDVALIDITY never used before in this database:
// the current time in seconds, or one more than the last one handed out.
func (w *wtx) nextUIDValidity() (uint32, error) {
	var last int64
	err := w.queryRow("SELECT value FROM counters WHERE name = 'uidvalidity'").Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, dbErr("uidvalidity", err)
	}
	v := max(time.Now().Unix(), last+1)
	if v > 0xFFFFFFFF || v <= 0 {
		v = 1 // wrapped after 2106: restart, still monotonic per name incarnation in practice
	}
	if _, err := w.exec("INSERT INTO counters(name, value) VALUES ('uidvalidity', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value", v); err != nil {
		return 0, dbErr("uidvalidity", err)
	}
	return uint32(v), nil
}

func (w *wtx) createMailbox(acct storage.AccountID, name, specialUse string, subscribed bool) (storage.Mailbox, error) {
	var k int
	if err := w.queryRow("SELECT count(*) FROM mailboxes WHERE account = ? AND name = ?", acct, name).Scan(&k); err != nil {
		return storage.Mailbox{}, dbErr("create mailbox", err)
	}
	if k > 0 {
		return storage.Mailbox{}, fmt.Errorf("mailbox %q: %w", name, storage.ErrExists)
	}
	uv, err := w.nextUIDValidity()
	if err != nil {
		return storage.Mailbox{}, err
	}
	m := storage.Mailbox{Account: acct, Name: name, SpecialUse: specialUse, UIDValidity: uv, UIDNext: 1, HighestModSeq: 1}
	res, err := w.exec(`INSERT INTO mailboxes(account, name, special_use, uidvalidity, uidnext, highest_modseq)
		VALUES (?, ?, ?, ?, 1, 1)`, acct, name, specialUse, uv)
	if err != nil {
		return m, dbErr("create mailbox", err)
	}
	if subscribed {
		if _, err := w.exec("INSERT INTO subscriptions(account, name) VALUES (?, ?) ON CONFLICT DO NOTHING", acct, name); err != nil {
			return m, dbErr("create mailbox", err)
		}
	}
	var sub int
	if err := w.queryRow("SELECT count(*) FROM subscriptions WHERE account = ? AND name = ?", acct, name).Scan(&sub); err != nil {
		return m, dbErr("create mailbox", err)
	}
	m.Subscribed = sub > 0
	id, err := res.LastInsertId()
	if err != nil {
		return m, dbErr("create mailbox", err)
	}
	m.ID = storage.MailboxID(id)
	w.publish(storage.Change{Kind: storage.ChangeMailboxCreated, Account: acct, Mailbox: m.ID, Name: name})
	return m, nil
}

// getMailbox reads a mailbox inside the write transaction (ErrNoMailbox).
func (w *wtx) getMailbox(id storage.MailboxID) (storage.Mailbox, error) {
	m, err := scanMailbox(w.queryRow("SELECT "+mailboxCols+" FROM mailboxes WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("mailbox %d: %w", id, storage.ErrNoMailbox)
	}
	return m, dbErr("mailbox", err)
}

// DeleteMailbox removes the mailbox and its messages, decrementing usage;
// INBOX cannot be deleted (ErrInvalid). Children are not affected, nor are
// subscriptions (RFC 9051 6.3.7: a subscription outlives its mailbox); its
// ACL and the viewers' \Seen go with it. It publishes ChangeMailboxDeleted.
func (s *Store) DeleteMailbox(ctx context.Context, id storage.MailboxID) error {
	return s.write(ctx, "delete mailbox", func(w *wtx) error {
		m, err := w.getMailbox(id)
		if err != nil {
			return err
		}
		if m.Name == "INBOX" {
			return fmt.Errorf("cannot delete INBOX: %w", storage.ErrInvalid)
		}
		return w.deleteMailbox(id)
	})
}

func (w *wtx) deleteMailbox(id storage.MailboxID) error {
	m, err := w.getMailbox(id)
	if err != nil {
		return err
	}
	msgs, err := w.selectMessages(id, nil)
	if err != nil {
		return err
	}
	if err := w.removeMessages(m, msgs); err != nil {
		return err
	}
	if _, err := w.exec("DELETE FROM expunged WHERE mailbox = ?", id); err != nil {
		return dbErr("delete mailbox", err)
	}
	if _, err := w.exec("DELETE FROM mailboxes WHERE id = ?", id); err != nil {
		return dbErr("delete mailbox", err)
	}
	// RFC 9051 6.3.7: DELETE does not unsubscribe the name (subscriptions
	// are their own table).
	w.publish(storage.Change{Kind: storage.ChangeMailboxDeleted, Account: m.Account, Mailbox: id, Name: m.Name})
	return nil
}

// RenameMailbox renames a mailbox and its children ("a/b" when renaming
// "a"). Renaming INBOX creates a new mailbox with the new name, moves all
// INBOX messages to it (keeping their UIDs under the new UIDVALIDITY) and
// leaves INBOX empty; INBOX's children are not renamed (RFC 9051 6.3.6).
// It publishes ChangeMailboxRenamed for each renamed mailbox; for INBOX,
// ChangeMailboxCreated and ChangeExpunged for each message that left it.
// The owner's subscriptions to the old names move to the new ones; own
// ACLs stay with their mailboxes.
func (s *Store) RenameMailbox(ctx context.Context, id storage.MailboxID, newName string) error {
	nn, err := normNewMailboxName(newName)
	if err != nil {
		return err
	}
	return s.write(ctx, "rename mailbox", func(w *wtx) error {
		m, err := w.getMailbox(id)
		if err != nil {
			return err
		}
		var k int
		if err := w.queryRow("SELECT count(*) FROM mailboxes WHERE account = ? AND name = ?", m.Account, nn).Scan(&k); err != nil {
			return dbErr("rename mailbox", err)
		}
		if k > 0 {
			return fmt.Errorf("mailbox %q: %w", nn, storage.ErrExists)
		}
		if m.Name == "INBOX" {
			return w.renameInbox(m, nn)
		}
		if strings.HasPrefix(nn, m.Name+"/") {
			return fmt.Errorf("cannot rename %q into itself: %w", m.Name, storage.ErrInvalid)
		}
		type ren struct {
			id       storage.MailboxID
			old, new string
		}
		list := []ren{{id, m.Name, nn}}
		prefix := m.Name + "/"
		// substr and length count characters, so the prefix length is taken
		// by SQLite too (len() would count bytes of a non-ASCII name).
		rows, err := w.tx.Query("SELECT id, name FROM mailboxes WHERE account = ? AND substr(name, 1, length(?)) = ? ORDER BY name",
			m.Account, prefix, prefix)
		if err != nil {
			return dbErr("rename mailbox", err)
		}
		for rows.Next() {
			var r ren
			if err := rows.Scan(&r.id, &r.old); err != nil {
				rows.Close()
				return dbErr("rename mailbox", err)
			}
			r.new = nn + "/" + r.old[len(prefix):]
			list = append(list, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbErr("rename mailbox", err)
		}
		// Move every name to a temporary one first so that renames within
		// the same hierarchy cannot collide with each other mid-way.
		for _, r := range list {
			if _, err := w.exec("UPDATE mailboxes SET name = ? WHERE id = ?", fmt.Sprintf("\x00rename\x00%d", r.id), r.id); err != nil {
				return dbErr("rename mailbox", err)
			}
		}
		for _, r := range list {
			if _, err := w.exec("UPDATE mailboxes SET name = ? WHERE id = ?", r.new, r.id); err != nil {
				return dbErr("rename mailbox", err)
			}
			w.publish(storage.Change{Kind: storage.ChangeMailboxRenamed, Account: m.Account, Mailbox: r.id, Name: r.new, OldName: r.old})
		}
		for _, r := range list {
			res, err := w.exec("DELETE FROM subscriptions WHERE account = ? AND name = ?", m.Account, r.old)
			if err != nil {
				return dbErr("rename mailbox", err)
			}
			if k, _ := res.RowsAffected(); k > 0 {
				if _, err := w.exec("INSERT INTO subscriptions(account, name) VALUES (?, ?) ON CONFLICT DO NOTHING", m.Account, r.new); err != nil {
					return dbErr("rename mailbox", err)
				}
			}
		}
		return nil
	})
}

func (w *wtx) renameInbox(inbox storage.Mailbox, newName string) error {
	nm, err := w.createMailbox(inbox.Account, newName, "", inbox.Subscribed)
	if err != nil {
		return err
	}
	msgs, err := w.selectMessages(inbox.ID, nil)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	modseq := inbox.HighestModSeq + 1
	for _, msg := range msgs {
		if _, err := w.exec("INSERT INTO expunged(mailbox, uid, modseq) VALUES (?, ?, ?)", inbox.ID, msg.uid, modseq); err != nil {
			return dbErr("rename inbox", err)
		}
		w.publish(storage.Change{Kind: storage.ChangeExpunged, Account: inbox.Account, Mailbox: inbox.ID, UID: msg.uid, ModSeq: modseq})
	}
	if _, err := w.exec("UPDATE messages SET mailbox = ? WHERE mailbox = ?", nm.ID, inbox.ID); err != nil {
		return dbErr("rename inbox", err)
	}
	if _, err := w.exec("UPDATE seen SET mailbox = ? WHERE mailbox = ?", nm.ID, inbox.ID); err != nil {
		return dbErr("rename inbox", err)
	}
	if _, err := w.exec("UPDATE files SET mailbox = ? WHERE mailbox = ?", nm.ID, inbox.ID); err != nil {
		return dbErr("rename inbox", err)
	}
	if _, err := w.exec("UPDATE mailboxes SET uidnext = ?, highest_modseq = ? WHERE id = ?", inbox.UIDNext, inbox.HighestModSeq, nm.ID); err != nil {
		return dbErr("rename inbox", err)
	}
	if _, err := w.exec("UPDATE mailboxes SET highest_modseq = ? WHERE id = ?", modseq, inbox.ID); err != nil {
		return dbErr("rename inbox", err)
	}
	return nil
}

// SetSubscribed subscribes the mailbox's owner to its name (or
// unsubscribes it) and publishes ChangeMailboxSubscribed when that changed
// something.
func (s *Store) SetSubscribed(ctx context.Context, id storage.MailboxID, subscribed bool) error {
	return s.write(ctx, "subscribe", func(w *wtx) error {
		m, err := w.getMailbox(id)
		if err != nil {
			return err
		}
		return w.setSubscription(m.Account, m.Name, subscribed)
	})
}
