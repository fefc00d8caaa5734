package smartattach

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// TestSweepLinks: the file of links that all ended is deleted; one that a
// live link still serves stays (the same attachment sent twice is one
// file with two links); a file the owner changed, or made again under the
// name after the links, stays; content shared with another file keeps its
// bytes there.
func TestSweepLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	ctx := t.Context()
	f.now = time.Now().Truncate(time.Second) // file times come from the store's clock
	life := f.cfg.Files.SmartAttachLinkLifetime.D()
	big, other := content(7, 40*1024), content(8, 40*1024)
	sweep := func(at time.Time) int {
		t.Helper()
		n, err := SweepLinks(ctx, f.st, at)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	file := func(name string) (storage.File, error) {
		folder, err := f.st.Mailbox(ctx, f.acct.ID, Folder)
		if err != nil {
			t.Fatal(err)
		}
		return f.st.File(ctx, folder.ID, name)
	}

	// One file, two links (sent twice); a second file, one link.
	_, r1 := f.rewrite(t, multipart("mixed", textPart, attachment("a.bin", big)))
	f.now = f.now.Add(time.Minute)
	_, r2 := f.rewrite(t, multipart("mixed", textPart, attachment("a.bin", big)))
	_, r3 := f.rewrite(t, multipart("mixed", textPart, attachment("b.bin", other)))
	if len(r1.Links) != 1 || len(r2.Links) != 1 || len(r3.Links) != 1 || r1.Links[0].Name != r2.Links[0].Name {
		t.Fatalf("links %+v %+v %+v", r1.Links, r2.Links, r3.Links)
	}
	// The same bytes as a file of Files: they must survive.
	files, _ := f.st.Mailbox(ctx, f.acct.ID, storage.DefaultFilesFolder)
	ref, err := ingest.Spool(ctx, f.st, bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ingest.PutNewFile(ctx, f.st, storage.FileWrite{Mailbox: files.ID, Name: "copy.bin"}, ref, false); err != nil {
		t.Fatal(err)
	}

	if n := sweep(f.now); n != 0 {
		t.Fatalf("swept %d files while every link lives", n)
	}
	// Revoking the first link of a.bin leaves it: the second serves it.
	if err := f.st.RevokeLink(ctx, r1.Links[0].ID, f.now); err != nil {
		t.Fatal(err)
	}
	if n := sweep(f.now.Add(time.Second)); n != 0 {
		t.Fatalf("swept %d files with a live link", n)
	}
	// Revoking the second: a.bin goes.
	if err := f.st.RevokeLink(ctx, r2.Links[0].ID, f.now); err != nil {
		t.Fatal(err)
	}
	if n := sweep(f.now.Add(time.Second)); n != 1 {
		t.Fatalf("swept %d files, want a.bin", n)
	}
	if _, err := file("a.bin"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a.bin: %v", err)
	}
	if cp, err := f.st.File(ctx, files.ID, "copy.bin"); err != nil || !bytes.Equal(readContent(t, f.st, cp.Content), big) {
		t.Fatalf("Files/copy.bin lost its bytes: %v", err)
	}
	// b.bin changed by its owner: its link expires, the file stays.
	b, err := file("b.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ingest.PutFile(ctx, f.st, storage.FileWrite{Mailbox: b.Mailbox, Name: "b.bin"}, strings.NewReader("the owner's own")); err != nil {
		t.Fatal(err)
	}
	// c.bin's link expires: it goes; a later file of that name stays.
	f.now = f.now.Add(time.Minute)
	_, r4 := f.rewrite(t, multipart("mixed", textPart, attachment("c.bin", content(9, 40*1024))))
	if len(r4.Links) != 1 {
		t.Fatalf("links %+v", r4.Links)
	}
	if n := sweep(f.now.Add(life - time.Second)); n != 0 {
		t.Fatalf("swept %d files before the links expired", n)
	}
	if n := sweep(f.now.Add(life + time.Second)); n != 1 {
		t.Fatalf("swept %d files after the links expired, want c.bin", n)
	}
	if _, err := file("c.bin"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("c.bin: %v", err)
	}
	if got, err := file("b.bin"); err != nil || got.Size != int64(len("the owner's own")) {
		t.Fatalf("b.bin: %+v %v", got, err)
	}
	folder, _ := f.st.Mailbox(ctx, f.acct.ID, Folder)
	ref, _ = ingest.Spool(ctx, f.st, bytes.NewReader(big))
	if _, _, err := ingest.PutFileBlob(ctx, f.st, storage.FileWrite{Mailbox: folder.ID, Name: "a.bin", Modified: f.now.Add(time.Hour)}, ref); err != nil {
		t.Fatal(err)
	}
	if n := sweep(f.now.Add(2 * life)); n != 0 {
		t.Fatalf("swept %d files; a.bin made again after its links must stay", n)
	}
}

func readContent(t *testing.T, st storage.Store, id storage.BlobID) []byte {
	t.Helper()
	b, err := st.OpenBlob(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
