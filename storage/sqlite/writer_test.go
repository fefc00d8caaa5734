package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/storagetest"
)

// TestBlobSyncFailure: when the blobs of a batch cannot be made durable
// (here the file is gone before its fsync), the deliveries that need them
// fail and commit nothing, and the other writes of the same batches
// commit as if nothing happened.
func TestBlobSyncFailure(t *testing.T) {
	s := openTest(t, Options{})
	a := setup(t, s)
	ctx := context.Background()
	for round := range 5 {
		raw, p := storagetest.NewMessage(fmt.Sprint("doomed ", round), "a@remote.test", "alice@example.test", "body")
		ref, err := s.PutBlob(ctx, bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(s.blobs.Path(ref.ID)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 9)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.CreateMailbox(ctx, a.ID, fmt.Sprintf("r%d-%d", round, i), "")
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[8] = s.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID}})
		}()
		wg.Wait()
		for i, err := range errs[:8] {
			if err != nil {
				t.Fatalf("round %d: mailbox %d: %v", round, i, err)
			}
		}
		if errs[8] == nil {
			t.Fatalf("round %d: a delivery whose blob cannot be made durable succeeded", round)
		}
		if errors.Is(errs[8], storage.ErrInvalid) {
			t.Fatalf("round %d: %v", round, errs[8])
		}
	}
	inbox, err := s.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := s.Messages(ctx, inbox.ID, storage.Query{}); err != nil || len(msgs) != 0 {
		t.Fatalf("INBOX holds %d messages (%v), want none", len(msgs), err)
	}
	mbs, err := s.Mailboxes(ctx, a.ID)
	if err != nil || len(mbs) != len(storage.DefaultMailboxes)+40 {
		t.Fatalf("%d mailboxes (%v), want %d", len(mbs), err, len(storage.DefaultMailboxes)+40)
	}
}
