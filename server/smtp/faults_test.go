package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/storage"
)

// faultyStore injects storage failures.
type faultyStore struct {
	storage.Store
	putBlobErr error
	deliverErr error
	// failAccount's copies fail with failWith; the others are stored.
	failAccount storage.AccountID
	failWith    error
}

func (f *faultyStore) PutBlob(ctx context.Context, r io.Reader) (storage.BlobRef, error) {
	if f.putBlobErr != nil {
		io.Copy(io.Discard, r)
		return storage.BlobRef{}, f.putBlobErr
	}
	return f.Store.PutBlob(ctx, r)
}

func (f *faultyStore) Deliver(ctx context.Context, ref storage.BlobRef, p *storage.Parsed, targets []storage.Target) ([]storage.Delivered, error) {
	if f.deliverErr != nil {
		return nil, f.deliverErr
	}
	var keep []storage.Target
	for _, t := range targets {
		if t.Account != f.failAccount {
			keep = append(keep, t)
		}
	}
	var got []storage.Delivered
	if len(keep) > 0 {
		var err error
		if got, err = f.Store.Deliver(ctx, ref, p, keep); err != nil {
			return nil, err
		}
	}
	out := make([]storage.Delivered, len(targets))
	for i, t := range targets {
		if t.Account == f.failAccount {
			out[i] = storage.Delivered{Err: f.failWith}
			continue
		}
		out[i], got = got[0], got[1:]
	}
	return out, nil
}

func TestStorageFailures(t *testing.T) {
	secret := "sqlite: disk I/O error at /secret/path"
	tests := []struct {
		name  string
		fault faultyStore
		code  int
		enh   gosmtp.EnhancedCode
	}{
		{"blob storage full", faultyStore{putBlobErr: fmt.Errorf("%s: %w", secret, storage.ErrStorageFull)}, 452, gosmtp.EnhancedCode{4, 3, 1}},
		{"blob internal", faultyStore{putBlobErr: errors.New(secret)}, 451, gosmtp.EnhancedCode{4, 3, 0}},
		{"deliver storage full", faultyStore{deliverErr: fmt.Errorf("%s: %w", secret, storage.ErrStorageFull)}, 452, gosmtp.EnhancedCode{4, 3, 1}},
		{"deliver internal", faultyStore{deliverErr: errors.New(secret)}, 451, gosmtp.EnhancedCode{4, 3, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{store: func(s storage.Store) storage.Store {
				f := tt.fault
				f.Store = s
				return &f
			}})
			c := e.dial(MX)
			err := send(c, "sender@remote.test", []string{"alice@example.test"}, message("x", "y"))
			wantCode(t, err, tt.code, tt.enh)
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "sqlite") {
				t.Fatalf("internal error text sent to the client: %v", err)
			}
			// The session goes on.
			if err := c.Noop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// When some copies are stored and others fail at DATA, the reply is 250
// (the stored copies must not be duplicated by a retry); when none is
// stored the failure is answered, temporarily for a quota.
func TestPartialDelivery(t *testing.T) {
	var f *faultyStore
	e := newEnv(t, envOptions{store: func(s storage.Store) storage.Store {
		f = &faultyStore{Store: s, failWith: fmt.Errorf("race: %w", storage.ErrOverQuota)}
		return f
	}})
	f.failAccount = e.ids["bob@example.test"]
	c := e.dial(MX)
	if err := send(c, "sender@remote.test", []string{"alice@example.test", "bob@example.test"}, message("partial", "x")); err != nil {
		t.Fatalf("partial delivery: %v", err)
	}
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 1 {
		t.Fatalf("alice has %d messages", len(msgs))
	}
	if msgs, _ := e.inbox("bob@example.test"); len(msgs) != 0 {
		t.Fatalf("bob has %d messages", len(msgs))
	}
	err := send(c, "sender@remote.test", []string{"bob@example.test"}, message("none", "x"))
	wantCode(t, err, 452, gosmtp.EnhancedCode{4, 2, 2})
}
