package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sum(b []byte) storage.BlobID {
	h := sha256.Sum256(b)
	return storage.BlobID(hex.EncodeToString(h[:]))
}

func TestPutOpen(t *testing.T) {
	s := open(t)
	data := []byte("Subject: hi\r\n\r\nhello\r\n")
	ref, err := s.Put(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if ref.ID != sum(data) || ref.Size != int64(len(data)) {
		t.Fatalf("ref %+v", ref)
	}
	want := filepath.Join(s.Dir(), string(ref.ID[:2]), string(ref.ID[2:4]), string(ref.ID))
	if s.Path(ref.ID) != want {
		t.Fatalf("path %s, want %s", s.Path(ref.ID), want)
	}
	f, err := s.Open(ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != int64(len(data)) {
		t.Fatalf("size %d", f.Size())
	}
	got, _ := io.ReadAll(f)
	if !bytes.Equal(got, data) {
		t.Fatalf("content %q", got)
	}
	part := make([]byte, 5)
	if _, err := f.ReadAt(part, 9); err != nil || string(part) != "hi\r\n\r" {
		t.Fatalf("ReadAt %q %v", part, err)
	}
	if n, err := s.Stat(ref.ID); err != nil || n != int64(len(data)) {
		t.Fatalf("Stat %d %v", n, err)
	}
	if n, err := s.Verify(ref.ID); err != nil || n != int64(len(data)) {
		t.Fatalf("Verify %d %v", n, err)
	}
	// No temporary files are left behind.
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}
}

func TestEmptyBlob(t *testing.T) {
	s := open(t)
	ref, err := s.Put(strings.NewReader(""))
	if err != nil || ref.Size != 0 || ref.ID != sum(nil) {
		t.Fatalf("%+v %v", ref, err)
	}
}

func TestDedup(t *testing.T) {
	s := open(t)
	data := []byte("same content")
	var wg sync.WaitGroup
	refs := make([]storage.BlobRef, 10)
	for i := range refs {
		wg.Go(func() {
			r, err := s.Put(bytes.NewReader(data))
			if err != nil {
				t.Error(err)
			}
			refs[i] = r
		})
	}
	wg.Wait()
	for _, r := range refs {
		if r != refs[0] {
			t.Fatalf("refs differ: %+v %+v", r, refs[0])
		}
	}
	ids, err := s.List()
	if err != nil || len(ids) != 1 || ids[0] != refs[0].ID {
		t.Fatalf("List %v %v", ids, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}
}

func TestMaxSize(t *testing.T) {
	s := open(t)
	s.SetMaxSize(4)
	if _, err := s.Put(strings.NewReader("1234")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Put(strings.NewReader("12345"))
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("oversized: %v", err)
	}
	if ids, _ := s.List(); len(ids) != 1 {
		t.Fatalf("oversized blob kept: %v", ids)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}
}

func TestDeleteVerifyCorrupt(t *testing.T) {
	s := open(t)
	a, _ := s.Put(strings.NewReader("aaa"))
	b, _ := s.Put(strings.NewReader("bbb"))
	if err := os.WriteFile(s.Path(a.ID), []byte("tampered"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(a.ID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify of corrupt blob: %v", err)
	}
	if err := s.Delete(b.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(b.ID); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Verify(b.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Verify of deleted blob: %v", err)
	}
	if _, err := s.Open(b.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open of deleted blob: %v", err)
	}
	if _, err := s.Stat(b.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat of deleted blob: %v", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	s := open(t)
	for _, id := range []storage.BlobID{"", "../../etc/passwd", "ABCDEF", storage.BlobID(strings.Repeat("A", 64)), storage.BlobID(strings.Repeat("0", 63) + "/")} {
		if _, err := s.Open(id); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("Open(%q): %v", id, err)
		}
		if err := s.Delete(id); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("Delete(%q): %v", id, err)
		}
		if _, err := s.Verify(id); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("Verify(%q): %v", id, err)
		}
	}
	if !ValidID(sum([]byte("x"))) {
		t.Fatal("valid id rejected")
	}
}

func TestWalk(t *testing.T) {
	s := open(t)
	var want []string
	for i := range 20 {
		r, err := s.Put(strings.NewReader(fmt.Sprint("blob ", i)))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(r.ID))
	}
	// Foreign files are ignored.
	os.WriteFile(filepath.Join(s.Dir(), want[0][:2], want[0][2:4], "README"), []byte("x"), 0o640)
	os.WriteFile(filepath.Join(s.Dir(), "stray"), []byte("x"), 0o640)
	var got []string
	if err := s.Walk(func(i Info) error {
		if i.Size == 0 || i.ModTime.IsZero() {
			t.Errorf("info %+v", i)
		}
		got = append(got, string(i.ID))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Walk found %v, want %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Walk(func(Info) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("Walk did not stop: %v after %d", err, n)
	}
}

func TestReopenCleansTemp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Put(strings.NewReader("kept"))
	old := filepath.Join(dir, "tmp", "put-crash")
	young := filepath.Join(dir, "tmp", "put-inflight")
	os.WriteFile(old, []byte("partial"), 0o640)
	os.WriteFile(young, []byte("another process is writing"), 0o640)
	past := time.Now().Add(-2 * tmpMaxAge)
	os.Chtimes(old, past, past)
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old temp file survives reopen: %v", err)
	}
	// A second opener (the CLI while the server runs) must not remove the
	// temporary file of a Put in progress.
	if _, err := os.Stat(young); err != nil {
		t.Fatalf("young temp file removed: %v", err)
	}
	if _, err := s.Verify(r.ID); err != nil {
		t.Fatal(err)
	}
}

func TestSync(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "b"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []storage.BlobID
	for i := 0; i < 50; i++ {
		r, err := s.Put(strings.NewReader(fmt.Sprintf("blob %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if len(s.pending) != 50 || len(s.pendingDirs) == 0 {
		t.Fatalf("pending %d blobs, %d dirs; want 50 and some", len(s.pending), len(s.pendingDirs))
	}
	if err := s.Sync(ids[:10]); err != nil {
		t.Fatal(err)
	}
	if len(s.pending) != 40 || len(s.pendingDirs) != 0 {
		t.Fatalf("after Sync: pending %d blobs, %d dirs; want 40 and 0", len(s.pending), len(s.pendingDirs))
	}
	for _, id := range ids[:10] {
		if _, ok := s.pending[id]; ok {
			t.Fatalf("synced blob %s still pending", id)
		}
	}
	if err := s.Sync(ids); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ids); err != nil || len(s.pending) != 0 { // idempotent
		t.Fatalf("second Sync: %v, %d pending", err, len(s.pending))
	}
	// A blob of a missing file cannot be made durable.
	r, _ := s.Put(strings.NewReader("vanishing"))
	os.Remove(s.Path(r.ID))
	if err := s.Sync([]storage.BlobID{r.ID}); err == nil {
		t.Fatal("Sync of a removed blob succeeded")
	}
}

// A file left under a blob's name by a machine crash (renamed, never
// synced: truncated content) must not be trusted by a later Put of the same
// content.
func TestPutReplacesCrashLeftover(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Put(strings.NewReader("the whole message"))
	if err := s.Sync([]storage.BlobID{r.ID}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.Path(r.ID), nil, 0o640) // what a crash may leave
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Put(strings.NewReader("the whole message"))
	if err != nil || r2 != r {
		t.Fatalf("Put = %v, %v", r2, err)
	}
	if n, err := s.Verify(r.ID); err != nil || n != r.Size {
		t.Fatalf("leftover not replaced: %d, %v", n, err)
	}
	if _, ok := s.pending[r.ID]; !ok {
		t.Fatal("replacement not pending Sync")
	}
}

func TestReadErrorAndFull(t *testing.T) {
	s := open(t)
	_, err := s.Put(failReader{io.ErrUnexpectedEOF})
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, storage.ErrStorageFull) {
		t.Fatalf("read error: %v", err)
	}
	// ENOSPC and EDQUOT map to ErrStorageFull, wherever they arise.
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT} {
		err := mapErr(fmt.Errorf("write: %w", &os.PathError{Op: "write", Path: "x", Err: e}))
		if !errors.Is(err, storage.ErrStorageFull) || !errors.Is(err, e) {
			t.Fatalf("mapErr(%v) = %v", e, err)
		}
	}
	if errors.Is(mapErr(syscall.EIO), storage.ErrStorageFull) {
		t.Fatal("EIO mapped to ErrStorageFull")
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}
}

// TestFullDisk writes to a tiny tmpfs-like limit when /dev/full is usable:
// writing to a file on a full device must yield ErrStorageFull.
func TestFullDisk(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("/dev/full not available")
	}
	defer f.Close()
	_, err = f.Write([]byte("x"))
	if err == nil {
		t.Skip("/dev/full accepted a write")
	}
	if !errors.Is(mapErr(err), storage.ErrStorageFull) {
		t.Fatalf("write to /dev/full: %v not mapped", err)
	}
}

func BenchmarkPutParallel(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	b.SetParallelism(10)
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 5000)
		for pb.Next() {
			mu.Lock()
			n++
			k := n
			mu.Unlock()
			copy(buf, fmt.Sprint(k))
			if _, err := s.Put(bytes.NewReader(buf)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// failReader fails every read with err.
type failReader struct{ err error }

func (r failReader) Read([]byte) (int, error) { return 0, r.err }

// TestParallelRecovers: a panic in one of parallel's helpers becomes its
// error (with the stack) instead of ending the process.
func TestParallelRecovers(t *testing.T) {
	err := parallel([]string{"a", "b", "c"}, func(s string) error {
		if s == "b" {
			panic("boom")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "blob_test.go") {
		t.Fatalf("err = %v", err)
	}
}
