package sqlite

import (
	"context"
	"database/sql"

	"github.com/floemail/floe/storage"
)

// Subscriptions live in the mailboxes' subscribed column while the mailbox
// exists; a subscribed mailbox that is deleted leaves its name in
// lost_subscriptions (RFC 9051 6.3.7: the server must not remove a name from
// the subscription list because its mailbox is gone), until UNSUBSCRIBE or a
// new mailbox of that name takes it back.
const schemaLostSubscriptions = `
CREATE TABLE lost_subscriptions (
	account INTEGER NOT NULL REFERENCES accounts(id),
	name    TEXT NOT NULL,
	PRIMARY KEY (account, name)
) WITHOUT ROWID;
`

func migrateLostSubscriptions(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaLostSubscriptions)
	return err
}

// LostSubscriptions returns the subscribed names of acct without mailbox,
// sorted (storage.Mailboxes).
func (s *Store) LostSubscriptions(ctx context.Context, acct storage.AccountID) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT name FROM lost_subscriptions WHERE account = ? ORDER BY name", acct)
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

// ForgetSubscription removes the lost subscription name of acct, if any
// (storage.Mailboxes). It publishes ChangeMailboxSubscribed when one went.
func (s *Store) ForgetSubscription(ctx context.Context, acct storage.AccountID, name string) error {
	n, err := normMailboxName(name)
	if err != nil {
		return nil // no such name can have been subscribed
	}
	return s.write(ctx, "unsubscribe", func(w *wtx) error {
		res, err := w.exec("DELETE FROM lost_subscriptions WHERE account = ? AND name = ?", acct, n)
		if err != nil {
			return dbErr("unsubscribe", err)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			w.publish(storage.Change{Kind: storage.ChangeMailboxSubscribed, Account: acct, Name: n})
		}
		return nil
	})
}
