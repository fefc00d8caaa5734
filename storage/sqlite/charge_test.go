package sqlite

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

// TestMigrateCharge: a database made before migration 14 counted a file
// at its message's size; the migration counts it at the file's size, and
// the usage counters agree with the rows (Check).
func TestMigrateCharge(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{MaintenanceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	a := setup(t, s)
	mb, err := s.CreateMailbox(ctx, a.ID, "Files", "")
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("file bytes "), 1000)
	ref, err := s.PutBlob(ctx, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	msg := storage.ComposeFileMessage("a.bin", "", ref, time.Now())
	if _, _, err := s.PutFile(ctx, storage.FileWrite{Mailbox: mb.ID, Name: "a.bin", Content: ref, Message: msg}); err != nil {
		t.Fatal(err)
	}
	d := deliverOne(t, s, a.ID, "mail")
	msgs, err := s.Messages(ctx, mb.ID, storage.Query{})
	if err != nil || len(msgs) != 1 {
		t.Fatal(msgs, err)
	}
	mail, _ := s.Messages(ctx, d.Mailbox, storage.Query{})
	// Back to the schema and counters before migration 14.
	for _, q := range []string{
		"ALTER TABLE messages DROP COLUMN charge",
		"UPDATE accounts SET used_bytes = (SELECT sum(size) FROM messages)",
		"DELETE FROM migrations WHERE version = 14",
	} {
		if _, err := s.wdb.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	s.Close()
	if s, err = Open(ctx, dir, Options{MaintenanceInterval: -1}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.Usage(ctx, a.ID)
	if want := int64(len(content)) + mail[0].Size; err != nil || u.Bytes != want || msgs[0].Size <= int64(len(content)) {
		t.Fatalf("usage after migration %+v %v, want %d bytes", u, err, want)
	}
	if probs, err := s.Check(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("check: %v %v", probs, err)
	}
}
