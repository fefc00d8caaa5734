package sqlite

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/storagetest"
)

// TestItemSpanBackfill: schema 12's backfill gives the items of an older
// database (whose item_names rows have the default span) the spans of
// their current messages, so time-range queries answer as before.
func TestItemSpanBackfill(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, storage.Account{Address: "jane@example.test", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnsureGroupwareMailboxes(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	cal, err := s.Mailbox(ctx, a.ID, "Calendar")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, it := range []storage.ItemIndex{
		{Kind: storage.ItemEvent, UID: "march", DefaultName: "march.ics", Start: day, End: day.Add(time.Hour)},
		{Kind: storage.ItemEvent, UID: "june", DefaultName: "june.ics", Start: day.AddDate(0, 3, 0), End: day.AddDate(0, 3, 0).Add(time.Hour)},
		{Kind: storage.ItemTodo, UID: "undated", DefaultName: "undated.ics"},
	} {
		raw, p := storagetest.NewMessage(it.UID, "a@example.test", "a@example.test", it.UID)
		p.Item = &it
		ref, err := s.PutBlob(ctx, bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if ds, err := s.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID, Mailbox: cal.ID}}); err != nil || ds[0].Err != nil {
			t.Fatal(err, ds)
		}
	}
	march := func() []string {
		items, err := s.Items(ctx, cal.ID, storage.ItemQuery{Start: day.Add(-time.Hour), End: day.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, it := range items {
			names = append(names, it.Name)
		}
		return names
	}
	want := []string{"march.ics", "undated.ics"}
	if got := march(); !slices.Equal(got, want) {
		t.Fatalf("before: %q", got)
	}
	// As a database indexed before schema 12 has them.
	if _, err := s.wdb.Exec("UPDATE item_names SET lo = ?, hi = ?", spanMin, spanMax); err != nil {
		t.Fatal(err)
	}
	if got := march(); len(got) != 3 {
		t.Fatalf("the reset did not take: %q", got)
	}
	if _, err := s.wdb.Exec(itemSpanBackfill); err != nil {
		t.Fatal(err)
	}
	if got := march(); !slices.Equal(got, want) {
		t.Fatalf("after the backfill: %q, want %q", got, want)
	}
}
