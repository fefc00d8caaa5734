package sqlite

import "database/sql"

// Schema version 5 (before sharing): a subscribed mailbox that was
// deleted left its name in lost_subscriptions (RFC 9051 6.3.7), the live
// subscriptions being a column of mailboxes. Schema version 8 (sharing.go)
// moved both into the subscriptions table, one list of names per viewer,
// and dropped this table.
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
