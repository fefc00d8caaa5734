package ingest

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// counting wraps a store and counts the calls the write path makes, so a
// test can assert that a delivery reads and commits exactly once.
type counting struct {
	storage.Store
	opens, delivers, discards atomic.Int64
	putSize                   int64 // when > 0, PutBlob reports this size
}

func (c *counting) OpenBlob(ctx context.Context, id storage.BlobID) (storage.Blob, error) {
	c.opens.Add(1)
	return c.Store.OpenBlob(ctx, id)
}

func (c *counting) Deliver(ctx context.Context, ref storage.BlobRef, p *storage.Parsed, t []storage.Target) ([]storage.Delivered, error) {
	c.delivers.Add(1)
	return c.Store.Deliver(ctx, ref, p, t)
}

func (c *counting) DeliverAll(ctx context.Context, ds []storage.Delivery) ([][]storage.Delivered, error) {
	c.delivers.Add(1)
	return c.Store.DeliverAll(ctx, ds)
}

func (c *counting) DiscardBlob(ctx context.Context, id storage.BlobID) error {
	c.discards.Add(1)
	return c.Store.DiscardBlob(ctx, id)
}

func (c *counting) PutBlob(ctx context.Context, r io.Reader) (storage.BlobRef, error) {
	ref, err := c.Store.PutBlob(ctx, r)
	if err == nil && c.putSize > 0 {
		ref.Size = c.putSize
	}
	return ref, err
}

type fixture struct {
	st         *counting
	alice, bob storage.Account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: &counting{Store: st}}
	if f.alice, err = st.CreateAccount(ctx, storage.Account{Address: "alice@example.test", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	if f.bob, err = st.CreateAccount(ctx, storage.Account{Address: "bob@example.test", PasswordHash: "x", QuotaMessages: 1}); err != nil {
		t.Fatal(err)
	}
	return f
}

func message(subject string) string {
	return "From: Carol <carol@remote.test>\r\nTo: alice@example.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@remote.test>\r\n\r\nHello.\r\n"
}

func (f *fixture) messages(t *testing.T, acct storage.AccountID, mbox string) []storage.Message {
	t.Helper()
	mb, err := f.st.Mailbox(t.Context(), acct, mbox)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := f.st.Messages(t.Context(), mb.ID, storage.Query{Fields: storage.FieldEnvelope})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func blobExists(t *testing.T, st storage.Store, id storage.BlobID) bool {
	t.Helper()
	b, err := st.OpenBlob(context.Background(), id)
	if err != nil {
		return false
	}
	b.Close()
	return true
}

// TestPut: one message to one mailbox is stored with its parse, published
// to the account's subscribers, and costs one blob read and one commit.
func TestPut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sub := f.st.Subscribe(f.alice.ID)
	defer sub.Close()
	raw := message("put one")
	ref, d, err := Put(t.Context(), f.st, strings.NewReader(raw), storage.Target{
		Account: f.alice.ID, MailboxName: "Drafts", Flags: []string{storage.FlagDraft}})
	if err != nil {
		t.Fatal(err)
	}
	if ref.Size != int64(len(raw)) || d.UID != 1 || d.Mailbox == 0 {
		t.Fatalf("Put = %+v, %+v", ref, d)
	}
	msgs := f.messages(t, f.alice.ID, "Drafts")
	if len(msgs) != 1 || msgs[0].Blob != ref.ID || msgs[0].Envelope == nil || msgs[0].Envelope.Subject != "put one" ||
		len(msgs[0].Flags) != 1 || msgs[0].Flags[0] != storage.FlagDraft {
		t.Fatalf("stored %+v", msgs)
	}
	// Published by the time Put returned.
	select {
	case <-sub.Ready():
	default:
		t.Fatal("no change published when Put returned")
	}
	if ch := sub.Next(); len(ch) != 1 || ch[0].Kind != storage.ChangeMessageAdded || ch[0].UID != 1 {
		t.Fatalf("changes %+v", ch)
	}
	if o, c := f.st.opens.Load(), f.st.delivers.Load(); o != 1 || c != 1 {
		t.Fatalf("%d blob opens and %d commits, want 1 and 1", o, c)
	}
}

// TestDeliverManyTargets: several targets share one read, one parse and
// one commit; per-target failures are reported in order and do not
// discard the blob the other copies reference.
func TestDeliverManyTargets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	// bob can take one message: fill his quota.
	if _, _, err := Put(ctx, f.st, strings.NewReader(message("fill")), storage.Target{Account: f.bob.ID}); err != nil {
		t.Fatal(err)
	}
	f.st.opens.Store(0)
	f.st.delivers.Store(0)
	ref, err := Spool(ctx, f.st, strings.NewReader(message("many")))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Deliver(ctx, f.st, ref, []storage.Target{
		{Account: f.alice.ID},
		{Account: f.bob.ID},
		{Account: f.alice.ID, MailboxName: "No such"},
		{Account: f.alice.ID, MailboxName: "Archive"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || res[0].Err != nil || !errors.Is(res[1].Err, storage.ErrOverQuota) ||
		!errors.Is(res[2].Err, storage.ErrNoMailbox) || res[3].Err != nil || res[3].UID != 1 {
		t.Fatalf("results %+v", res)
	}
	if o, c := f.st.opens.Load(), f.st.delivers.Load(); o != 1 || c != 1 {
		t.Fatalf("%d blob opens and %d commits for four targets, want 1 and 1", o, c)
	}
	if !blobExists(t, f.st, ref.ID) {
		t.Fatal("blob of stored copies was discarded")
	}
	if n := len(f.messages(t, f.alice.ID, "INBOX")); n != 1 {
		t.Fatalf("alice INBOX has %d messages", n)
	}
}

// TestNothingStoredDiscards: when no copy is stored (every target failed,
// the call failed, or no targets), the spooled blob is removed; a blob that
// something else references stays.
func TestNothingStoredDiscards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()

	ref, err := Spool(ctx, f.st, strings.NewReader(message("refused")))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Append(ctx, f.st, ref, storage.Target{Account: f.alice.ID, MailboxName: "Missing"})
	if !errors.Is(err, storage.ErrNoMailbox) || !errors.Is(d.Err, storage.ErrNoMailbox) {
		t.Fatalf("Append to a missing mailbox: %+v, %v", d, err)
	}
	if blobExists(t, f.st, ref.ID) {
		t.Fatal("blob of a refused message left behind")
	}

	// The whole call fails (the caller's context is done): nothing stored,
	// the blob is still removed (detached clean-up context).
	ref, err = Spool(ctx, f.st, strings.NewReader(message("cancelled")))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Deliver(cctx, f.st, ref, []storage.Target{{Account: f.alice.ID}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver with a done context: %v", err)
	}
	if blobExists(t, f.st, ref.ID) {
		t.Fatal("blob of a cancelled delivery left behind")
	}

	// No targets.
	ref, err = Spool(ctx, f.st, strings.NewReader(message("nobody")))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := Deliver(ctx, f.st, ref, nil); res != nil || err != nil {
		t.Fatalf("Deliver without targets = %v, %v", res, err)
	}
	if blobExists(t, f.st, ref.ID) {
		t.Fatal("blob delivered to nobody left behind")
	}

	// Same content already stored for alice: a failed copy for another
	// target must not remove the blob alice's message uses.
	raw := message("shared content")
	kept, _, err := Put(ctx, f.st, strings.NewReader(raw), storage.Target{Account: f.alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Spool(ctx, f.st, strings.NewReader(raw))
	if err != nil || again != kept {
		t.Fatalf("respool %+v %v, want %+v", again, err, kept)
	}
	if _, err := Append(ctx, f.st, again, storage.Target{Account: f.alice.ID, MailboxName: "Missing"}); !errors.Is(err, storage.ErrNoMailbox) {
		t.Fatalf("Append to a missing mailbox: %v", err)
	}
	if !blobExists(t, f.st, kept.ID) {
		t.Fatal("discarding a failed copy removed a blob another message references")
	}
}

// TestMissingBlob: a reference to a blob that does not exist fails the
// whole call with the backend's error, and nothing is committed.
func TestMissingBlob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ref := storage.BlobRef{ID: storage.BlobID(strings.Repeat("ab", 32)), Size: 10}
	if _, err := Deliver(t.Context(), f.st, ref, []storage.Target{{Account: f.alice.ID}}); err == nil {
		t.Fatal("Deliver of a missing blob succeeded")
	}
	if f.st.delivers.Load() != 0 {
		t.Fatal("Deliver committed a message whose blob cannot be read")
	}
}

// TestSpoolSizeMismatch: a backend that reports another size than it read
// is caught.
func TestSpoolSizeMismatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.st.putSize = 3
	_, err := Spool(t.Context(), f.st, strings.NewReader(message("short")))
	if !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("Spool with a wrong stored size: %v", err)
	}
	if f.st.discards.Load() != 1 {
		t.Fatal("the mis-stored blob was not discarded")
	}
}

// TestSpoolReadError: the reader's error is returned, wrapped.
func TestSpoolReadError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	boom := errors.New("connection reset")
	_, err := Spool(t.Context(), f.st, io.MultiReader(strings.NewReader("Subject: x\r\n"), errReader{boom}))
	if !errors.Is(err, boom) {
		t.Fatalf("Spool with a failing reader: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestDeliverAll: several messages in one commit, each read and parsed
// once; a refusal of any stores none and removes every spooled blob.
func TestDeliverAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	spool := func(subject string) storage.BlobRef {
		t.Helper()
		ref, err := Spool(ctx, f.st, strings.NewReader(message(subject)))
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	a, b := spool("all one"), spool("all two")
	out, err := DeliverAll(ctx, f.st, []Item{
		{Ref: a, Targets: []storage.Target{{Account: f.alice.ID}}},
		{Ref: b, Targets: []storage.Target{{Account: f.alice.ID}, {Account: f.alice.ID, MailboxName: "Archive"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0][0].UID != 1 || out[1][0].UID != 2 || out[1][1].UID != 1 {
		t.Fatalf("DeliverAll = %+v", out)
	}
	if o, c := f.st.opens.Load(), f.st.delivers.Load(); o != 2 || c != 1 {
		t.Fatalf("%d blob opens and %d commits for two messages, want 2 and 1", o, c)
	}
	msgs := f.messages(t, f.alice.ID, "INBOX")
	if len(msgs) != 2 || msgs[0].Envelope.Subject != "all one" || msgs[1].Envelope.Subject != "all two" {
		t.Fatalf("INBOX %+v", msgs)
	}

	// bob takes one message: two in one call are refused together.
	c, d := spool("bob one"), spool("bob two")
	_, err = DeliverAll(ctx, f.st, []Item{
		{Ref: c, Targets: []storage.Target{{Account: f.bob.ID}}},
		{Ref: d, Targets: []storage.Target{{Account: f.bob.ID}}},
	})
	var de *storage.DeliveryError
	if !errors.Is(err, storage.ErrOverQuota) || !errors.As(err, &de) || de.Delivery != 1 {
		t.Fatalf("DeliverAll over quota: %v", err)
	}
	if n := len(f.messages(t, f.bob.ID, "INBOX")); n != 0 {
		t.Fatalf("bob has %d messages after a refused DeliverAll", n)
	}
	if blobExists(t, f.st, c.ID) || blobExists(t, f.st, d.ID) {
		t.Fatal("blobs of a refused DeliverAll left behind")
	}
}
