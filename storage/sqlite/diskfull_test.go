package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/storagetest"
)

// tinyFS mounts a tmpfs of size bytes for the test (root only). Without
// the privilege the test is skipped, except under CI=true, where CI runs as
// root and a skip would hide the test.
func tinyFS(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs (CI runs as root): %v", err)
		}
		t.Skipf("cannot mount a tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}

// TestDiskFullDeleteWorks: on a full disk, new mail is refused with
// ErrStorageFull, but expunging messages and deleting a mailbox still
// work, so users can free space; afterwards delivery works again.
func TestDiskFullDeleteWorks(t *testing.T) {
	dir := tinyFS(t, 24<<20)
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := setup(t, s)
	if _, err := s.CreateMailbox(ctx, a.ID, "Fill", ""); err != nil {
		t.Fatal(err)
	}
	inbox, err := s.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	archive, err := s.Mailbox(ctx, a.ID, "Fill")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("fill the disk with text that does not compress away. ", 2000) // ~100 KiB
	full := false
	for i := 0; i < 1000 && !full; i++ {
		raw, p := storagetest.NewMessage(fmt.Sprintf("m%d", i), "a@remote.test", "alice@example.test", body+fmt.Sprint(i))
		ref, err := s.PutBlob(ctx, bytes.NewReader(raw))
		if err != nil {
			if !errors.Is(err, storage.ErrStorageFull) {
				t.Fatalf("PutBlob %d: %v", i, err)
			}
			full = true
			break
		}
		box := inbox.ID
		if i%2 == 1 {
			box = archive.ID
		}
		ds, err := s.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID, Mailbox: box}})
		if err == nil {
			err = ds[0].Err
		}
		if err != nil {
			if !errors.Is(err, storage.ErrStorageFull) {
				t.Fatalf("Deliver %d: %v", i, err)
			}
			full = true
		}
	}
	if !full {
		t.Fatal("the disk never filled")
	}
	// The disk is full: deleting must work.
	msgs, err := s.Messages(ctx, inbox.ID, storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var uids []storage.UID
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	if _, err := s.Expunge(ctx, inbox.ID, uids); err != nil {
		t.Fatalf("EXPUNGE on a full disk: %v", err)
	}
	if err := s.DeleteMailbox(ctx, archive.ID); err != nil {
		t.Fatalf("DELETE on a full disk: %v", err)
	}
	// Space was freed: mail can be delivered again.
	deliverOne(t, s, a.ID, "after")
}

// TestMaintenanceSweep: the background maintenance removes orphan blobs
// older than OrphanAge (never younger ones, nor referenced ones) and
// restores the disk-full reserve.
func TestMaintenanceSweep(t *testing.T) {
	s := openTest(t, Options{MaintenanceInterval: -1})
	a := setup(t, s)
	ctx := context.Background()
	kept := deliverOne(t, s, a.ID, "kept")
	orphan, err := s.PutBlob(ctx, strings.NewReader("Subject: refused\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	young, err := s.PutBlob(ctx, strings.NewReader("Subject: in flight\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.blobs.Unpin(orphan.ID)
	s.blobs.Unpin(young.ID)
	past := time.Now().Add(-2 * OrphanAge)
	msgs, _ := s.Messages(ctx, kept.Mailbox, storage.Query{})
	for _, p := range []string{s.blobs.Path(orphan.ID), s.blobs.Path(msgs[0].Blob)} {
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(s.dir, reserveName))
	s.maintainOnce(OrphanAge)
	if _, err := os.Stat(s.blobs.Path(orphan.ID)); !os.IsNotExist(err) {
		t.Fatalf("old orphan not removed: %v", err)
	}
	for _, id := range []storage.BlobID{young.ID, msgs[0].Blob} {
		if _, err := os.Stat(s.blobs.Path(id)); err != nil {
			t.Fatalf("blob %s removed: %v", id, err)
		}
	}
	if st, err := os.Stat(filepath.Join(s.dir, reserveName)); err != nil || st.Size() != reserveSize {
		t.Fatalf("reserve not restored: %v", err)
	}
}
