package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
)

// TestMigrateSubscriptions opens a database made by a Floe before sharing
// (subscriptions in a column of mailboxes, those of deleted mailboxes in
// lost_subscriptions) and checks that the sharing migration carries both
// over.
func TestMigrateSubscriptions(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "floe.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	sharing := slices.IndexFunc(migrations, func(m migration) bool { return m.name[:8] == "sharing:" })
	if sharing < 0 {
		t.Fatal("no sharing migration")
	}
	for _, m := range migrations[:sharing] {
		if err := m.apply(tx, true); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("INSERT INTO migrations VALUES (?, ?, 0)", m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"INSERT INTO domains(name, created) VALUES ('example.test', 0)",
		"INSERT INTO accounts(id, address, domain, created) VALUES (1, 'jane@example.test', 'example.test', 0)",
		"INSERT INTO mailboxes(account, name, uidvalidity, subscribed) VALUES (1, 'INBOX', 1, 1), (1, 'Work', 2, 1), (1, 'Old', 3, 0)",
		"INSERT INTO lost_subscriptions(account, name) VALUES (1, 'Deleted'), (1, 'Work')",
	} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subs, err := s.Subscriptions(ctx, 1)
	if err != nil || !slices.Equal(subs, []string{"Deleted", "INBOX", "Work"}) {
		t.Fatalf("subscriptions after migration: %q %v", subs, err)
	}
	mbs, err := s.Mailboxes(ctx, 1)
	if err != nil || len(mbs) != 3 {
		t.Fatalf("mailboxes: %+v %v", mbs, err)
	}
	for _, m := range mbs {
		if m.Subscribed != (m.Name != "Old") {
			t.Errorf("%s: Subscribed %v", m.Name, m.Subscribed)
		}
	}
	if v, err := s.ACLVersion(ctx); err != nil || v == 0 {
		t.Fatalf("ACLVersion %d %v", v, err)
	}
}
