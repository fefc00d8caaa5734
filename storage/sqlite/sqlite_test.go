package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/storagetest"
)

// testStore adds storagetest.BlobDamager to Store.
type testStore struct{ *Store }

func (s testStore) DamageBlob(id storage.BlobID, remove bool) error {
	if remove {
		return os.Remove(s.blobs.Path(id))
	}
	return os.WriteFile(s.blobs.Path(id), []byte("garbage"), 0o640)
}

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return testStore{openTest(t, Options{})}
	})
}

// TestConformanceFTS4 runs the suite on the FTS4 fallback.
func TestConformanceFTS4(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := openTest(t, Options{DisableFTS5: true})
		if s.FTS5() {
			t.Fatal("FTS5 used although disabled")
		}
		return testStore{s}
	})
}

func TestFTS5WithTag(t *testing.T) {
	s := openTest(t, Options{})
	have, err := compiledWith(context.Background(), s.wdb, "ENABLE_FTS5")
	if err != nil {
		t.Fatal(err)
	}
	if s.FTS5() != have {
		t.Fatalf("FTS5() = %v, compiled with FTS5: %v", s.FTS5(), have)
	}
	if !have {
		t.Log("built without -tags sqlite_fts5: only the FTS4 fallback is tested")
	}
}

func setup(t testing.TB, s *Store) storage.Account {
	t.Helper()
	ctx := context.Background()
	if err := s.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, storage.Account{Address: "alice@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func deliverOne(t testing.TB, s *Store, acct storage.AccountID, subject string) storage.Delivered {
	t.Helper()
	raw, p := storagetest.NewMessage(subject, "a@remote.test", "alice@example.test", "hello")
	ref, err := s.PutBlob(context.Background(), bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.Deliver(context.Background(), ref, p, []storage.Target{{Account: acct}})
	if err != nil || ds[0].Err != nil {
		t.Fatal(err, ds)
	}
	return ds[0]
}

// TestReopen checks that data and the schema version survive a reopen and
// that migrations are not applied twice.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := setup(t, s)
	d := deliverOne(t, s, a.ID, "persist")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.rdb.QueryRow("SELECT count(*) FROM migrations").Scan(&n); err != nil || n != len(migrations) {
		t.Fatalf("migrations rows %d (%v)", n, err)
	}
	msgs, err := s.Messages(ctx, d.Mailbox, storage.Query{Fields: storage.FieldEnvelope})
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "persist" {
		t.Fatalf("after reopen: %+v %v", msgs, err)
	}
	// An FTS5 database cannot be used without FTS5.
	if s.FTS5() {
		s.Close()
		if _, err := Open(ctx, dir, Options{DisableFTS5: true}); err == nil || !strings.Contains(err.Error(), "sqlite_fts5") {
			t.Fatalf("open of an FTS5 database without FTS5: %v", err)
		}
	}
}

// TestTwoProcesses opens the same directory twice (as the CLI does while
// the server runs): both can write, and each sees the other's commits.
func TestTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s1, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	a := setup(t, s1)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			st := s1
			if i%2 == 1 {
				st = s2
			}
			if _, err := st.CreateMailbox(ctx, a.ID, fmt.Sprint("box", i), ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, st := range []*Store{s1, s2} {
		mbs, err := st.Mailboxes(ctx, a.ID)
		if err != nil || len(mbs) != 20+len(storage.DefaultMailboxes) {
			t.Fatalf("%d mailboxes, %v", len(mbs), err)
		}
	}
}

// TestCancelledCaller checks that a caller giving up does not disturb the
// other requests of its batch, and that its request either ran completely
// or not at all.
func TestCancelledCaller(t *testing.T) {
	s := openTest(t, Options{})
	a := setup(t, s)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := range 40 {
		wg.Go(func() {
			raw, p := storagetest.NewMessage(fmt.Sprint("c", i), "a@remote.test", "alice@example.test", "x")
			ref, err := s.PutBlob(context.Background(), bytes.NewReader(raw))
			if err != nil {
				t.Error(err)
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			if i%2 == 0 {
				cancel() // cancelled before or while queued
			}
			ds, err := s.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID}})
			cancel()
			switch {
			case err == nil && ds[0].Err == nil:
				ok.Add(1)
			case errors.Is(err, context.Canceled) && i%2 == 0:
			default:
				t.Errorf("delivery %d: %v %+v", i, err, ds)
			}
		})
	}
	wg.Wait()
	u, err := s.Usage(context.Background(), a.ID)
	if err != nil || u.Messages != ok.Load() || ok.Load() < 20 {
		t.Fatalf("usage %+v, %d successful deliveries, %v", u, ok.Load(), err)
	}
	if probs, err := s.Check(context.Background()); err != nil || len(probs) > 0 {
		t.Fatal(probs, err)
	}
}

// TestOrphans checks orphan reporting and removal, and that Check does not
// count orphans as problems.
func TestOrphans(t *testing.T) {
	s := openTest(t, Options{})
	a := setup(t, s)
	ctx := context.Background()
	d := deliverOne(t, s, a.ID, "kept")
	orphan, err := s.PutBlob(ctx, strings.NewReader("never delivered"))
	if err != nil {
		t.Fatal(err)
	}
	if probs, err := s.Check(ctx); err != nil || len(probs) > 0 {
		t.Fatal(probs, err)
	}
	// Young orphans are spared (a delivery may be in progress).
	if n, err := s.RemoveOrphans(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("removed %d young orphans (%v)", n, err)
	}
	orph, err := s.Orphans(ctx, 0)
	if err != nil || len(orph) != 1 || orph[0].ID != orphan.ID {
		t.Fatalf("orphans %+v %v", orph, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := chtimes(s.blobs.Path(orphan.ID), old); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RemoveOrphans(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("removed %d orphans (%v)", n, err)
	}
	if _, err := s.OpenBlob(ctx, orphan.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("orphan still there: %v", err)
	}
	msgs, _ := s.Messages(ctx, d.Mailbox, storage.Query{})
	if _, err := s.OpenBlob(ctx, msgs[0].Blob); err != nil {
		t.Fatalf("referenced blob removed: %v", err)
	}
}

func chtimes(path string, t time.Time) error { return os.Chtimes(path, t, t) }

// TestCheckCounters checks that Check reports counters that disagree.
func TestCheckCounters(t *testing.T) {
	s := openTest(t, Options{})
	a := setup(t, s)
	d := deliverOne(t, s, a.ID, "x")
	for _, q := range []string{
		"UPDATE accounts SET used_bytes = used_bytes + 1",
		"UPDATE blobs SET refs = refs + 1",
		fmt.Sprintf("UPDATE mailboxes SET uidnext = 1 WHERE id = %d", d.Mailbox),
	} {
		if _, err := s.wdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	probs, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(probs, "\n")
	for _, want := range []string{"usage counters", "reference count", "UIDNEXT"} {
		if !strings.Contains(all, want) {
			t.Errorf("Check did not report %q:\n%s", want, all)
		}
	}
}

func TestMaxBlobSize(t *testing.T) {
	s := openTest(t, Options{MaxBlobSize: 10})
	if _, err := s.PutBlob(context.Background(), strings.NewReader("0123456789")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBlob(context.Background(), strings.NewReader("0123456789a")); !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("oversized blob: %v", err)
	}
}

func TestDBErr(t *testing.T) {
	s := openTest(t, Options{})
	setup(t, s)
	_, err := s.wdb.Exec("INSERT INTO domains(name, created) VALUES ('example.test', 0)")
	if !errors.Is(dbErr("x", err), storage.ErrExists) {
		t.Fatalf("unique violation: %v", dbErr("x", err))
	}
}

func TestFTSPhrase(t *testing.T) {
	cases := []struct{ q, want string }{
		{"hello", `"hello"`},
		{`say "hi" OR *`, `"say ""hi"" OR *"`},
		{`NEAR(a b)`, `"NEAR(a b)"`},
	}
	for _, c := range cases {
		if got := ftsPhrase(c.q); got != c.want {
			t.Errorf("ftsPhrase(%q) = %q; want %q", c.q, got, c.want)
		}
	}
	s := openTest(t, Options{})
	a := setup(t, s)
	d := deliverOne(t, s, a.ID, "x")
	if _, err := s.SearchText(context.Background(), d.Mailbox, "", strings.Repeat("w", maxSearchText+1)); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("long query: %v", err)
	}
}

// TestMigrateFTSTrigram runs migration 4 on a database whose index still
// has the word tokenizer (schema 3): it rebuilds it with trigrams and keeps
// the indexed text, so substring search finds old messages after a reopen.
func TestMigrateFTSTrigram(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.FTS5() {
		s.Close()
		t.Skip("built without -tags sqlite_fts5: no trigram index")
	}
	a := setup(t, s)
	d := deliverOne(t, s, a.ID, "Quarterly")
	// Back to schema 3: the unicode61 index with the same rows.
	cols := strings.Join(ftsColumns, ", ")
	for _, q := range []string{
		"CREATE VIRTUAL TABLE fts_old USING fts5(" + cols + ", tokenize = 'unicode61 remove_diacritics 2')",
		"INSERT INTO fts_old(rowid, " + cols + ") SELECT rowid, " + cols + " FROM fts",
		"DROP TABLE fts",
		"ALTER TABLE fts_old RENAME TO fts",
	} {
		if _, err := s.wdb.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	// Migration 4 on that database (later migrations stay applied).
	tx, err := s.wdb.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateFTSTrigram(tx, true); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.trigram {
		t.Fatal("index not rebuilt with trigrams")
	}
	got, err := s.SearchText(ctx, d.Mailbox, "subject", "arterl")
	if err != nil || len(got) != 1 || got[0] != d.UID {
		t.Fatalf("substring after migration: %v, %v", got, err)
	}
}

func FuzzSearchText(f *testing.F) {
	for _, s := range []string{"hello", `"x" OR y*`, "NEAR(a b)", "{subject}: x", "a AND", "café ÄÖ", "\x00\"'"} {
		f.Add(s)
	}
	s := openTest(f, Options{})
	a := setup(f, s)
	d := deliverOne(f, s, a.ID, "fuzz target")
	f.Fuzz(func(t *testing.T, q string) {
		for _, field := range []string{"", "subject"} {
			if _, err := s.SearchText(context.Background(), d.Mailbox, field, q); err != nil && !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("SearchText(%q): %v", q, err)
			}
		}
	})
}

func TestMailboxNames(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"INBOX", "INBOX", true},
		{"inbox", "INBOX", true},
		{"Inbox/Sub", "INBOX/Sub", true},
		{"Inboxes", "Inboxes", true},
		{"a/b", "a/b", true},
		{"Ünïcødé", "Ünïcødé", true},
		{"", "", false},
		{"/a", "", false},
		{"a//b", "", false},
		{"a\x01", "", false},
		{"\xff", "", false},
	}
	for _, c := range cases {
		got, err := normMailboxName(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("normMailboxName(%q) = %q, %v", c.in, got, err)
		}
	}
}

func TestCloseDrains(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := setup(t, s)
	var wg sync.WaitGroup
	var created atomic.Int64
	for i := range 30 {
		wg.Go(func() {
			_, err := s.CreateMailbox(context.Background(), a.ID, fmt.Sprint("m", i), "")
			switch {
			case err == nil:
				created.Add(1)
			case errors.Is(err, storage.ErrClosed):
			default:
				t.Error(err)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s2, err := Open(context.Background(), s.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	mbs, err := s2.Mailboxes(context.Background(), a.ID)
	if err != nil || int64(len(mbs)) != created.Load()+int64(len(storage.DefaultMailboxes)) {
		t.Fatalf("%d mailboxes after close, %d reported created (%v)", len(mbs), created.Load(), err)
	}
}

// BenchmarkDeliverParallel measures durable delivery of 5 KB messages from
// 20 concurrent goroutines: PutBlob (fsync) + Deliver (group commit).
func BenchmarkDeliverParallel(b *testing.B) {
	s := openTest(b, Options{})
	a := setup(b, s)
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 5000/58)
	var seq atomic.Int64
	b.SetParallelism(20 / max(1, runtimeProcs()))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			raw, p := storagetest.NewMessage(fmt.Sprint("bench ", seq.Add(1)), "a@remote.test", "alice@example.test", body)
			ref, err := s.PutBlob(ctx, bytes.NewReader(raw))
			if err != nil {
				b.Error(err)
				return
			}
			ds, err := s.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID}})
			if err != nil || ds[0].Err != nil {
				b.Error(err, ds)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkMessages100k reads the UIDs and flags of a 100,000-message
// mailbox, what IMAP SELECT and FETCH 1:* (FLAGS) need.
func BenchmarkMessages100k(b *testing.B) {
	s := openTest(b, Options{})
	a := setup(b, s)
	ctx := context.Background()
	raw, p := storagetest.NewMessage("big", "a@remote.test", "alice@example.test", "body")
	targets := make([]storage.Target, 1000)
	for i := range targets {
		targets[i] = storage.Target{Account: a.ID}
		if i%2 == 0 {
			targets[i].Flags = []string{storage.FlagSeen, "$Label1"}
		}
	}
	for range 100 {
		ref, err := s.PutBlob(ctx, bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Deliver(ctx, ref, p, targets); err != nil {
			b.Fatal(err)
		}
	}
	inbox, err := s.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		ms, err := s.Messages(ctx, inbox.ID, storage.Query{})
		if err != nil || len(ms) != 100000 {
			b.Fatal(len(ms), err)
		}
	}
}

func TestMayBeLarge(t *testing.T) {
	for _, tc := range []struct {
		set  storage.UIDSet
		want bool
	}{
		{nil, true},
		{storage.UIDSet{{Start: 1, Stop: 0}}, true},
		{storage.UIDSet{{Start: 5, Stop: 5}}, false},
		{storage.UIDSet{{Start: 1, Stop: 1000}}, false},
		{storage.UIDSet{{Start: 1, Stop: 1001}}, true},
		{storage.UIDSet{{Start: 1, Stop: 600}, {Start: 2000, Stop: 2500}}, true},
		{storage.UIDSet{{Start: 9, Stop: 3}}, false},
	} {
		if got := mayBeLarge(tc.set); got != tc.want {
			t.Errorf("mayBeLarge(%v) = %v, want %v", tc.set, got, tc.want)
		}
	}
}

// TestPutWhileLastCopyExpunged: a Put of content an existing message holds
// finds the file in place; when that message is expunged before the new
// Deliver, the file must stay (the pin), or the Deliver fails with
// ErrNotFound (the stress-test APPEND failures of issue 7).
func TestPutWhileLastCopyExpunged(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	a := setup(t, s)
	raw, p := storagetest.NewMessage("same", "a@remote.test", "alice@example.test", "hello")
	ref1, err := s.PutBlob(ctx, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.Deliver(ctx, ref1, p, []storage.Target{{Account: a.ID}})
	if err != nil || ds[0].Err != nil {
		t.Fatal(err, ds)
	}
	ref2, err := s.PutBlob(ctx, bytes.NewReader(raw)) // same content, same file
	if err != nil || ref2.ID != ref1.ID {
		t.Fatal(err, ref2)
	}
	if _, err := s.Expunge(ctx, ds[0].Mailbox, []storage.UID{ds[0].UID}); err != nil {
		t.Fatal(err)
	}
	ds2, err := s.Deliver(ctx, ref2, p, []storage.Target{{Account: a.ID}})
	if err != nil || ds2[0].Err != nil {
		t.Fatalf("deliver after the last copy was expunged: %v %v", err, ds2)
	}
	b, err := s.OpenBlob(ctx, ref2.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	// Delivered: unpinned, so expunging the last copy removes the file.
	if _, err := s.Expunge(ctx, ds2[0].Mailbox, []storage.UID{ds2[0].UID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenBlob(ctx, ref2.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("blob of an expunged message kept: %v", err)
	}
}
