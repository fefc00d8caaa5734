package ingest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
)

// TestSweepAttachments: attachment files follow their items whichever way
// the items go. A file stays while an item of any calendar of the owner
// names it (a copy keeps it after the original is expunged over IMAP),
// goes once none does (IMAP EXPUNGE, MOVE to a mail folder, the calendar
// deleted), not before the grace period, and a file outside the
// attachment folders, or sharing its content with one, keeps its bytes.
func TestSweepAttachments(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := attachCtx(t)
	st := f.st
	cal := f.calendar(t)
	other, err := st.CreateMailbox(ctx, f.alice.ID, "Work", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetMetadata(ctx, f.alice.ID, other.ID, []storage.MetadataEntry{{Name: storage.FolderTypeEntry, Value: []byte("event")}}); err != nil {
		t.Fatal(err)
	}
	one, two := bytes.Repeat([]byte("first "), 200), bytes.Repeat([]byte("second "), 200)
	put := func(uid string, data []byte) storage.Delivered {
		t.Helper()
		payload := eventWith(uid, data)
		idx, _, err := item.Parse("text/calendar", payload, "")
		if err != nil {
			t.Fatal(err)
		}
		_, d, err := Put(ctx, st, bytes.NewReader(item.Compose(idx, payload, item.MessageOptions{FolderType: "event"})),
			storage.Target{Account: f.alice.ID, Mailbox: cal.ID})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1 := put("ev-1", one)
	d2 := put("ev-2", two)
	folder, err := AttachmentFolder(ctx, st, cal)
	if err != nil {
		t.Fatal(err)
	}
	// The same bytes as a file of Files: the sweep must not take them.
	ref, err := Spool(ctx, st, bytes.NewReader(one))
	if err != nil {
		t.Fatal(err)
	}
	filesMb, _ := st.Mailbox(ctx, f.alice.ID, storage.DefaultFilesFolder)
	if _, _, err := PutNewFile(ctx, st, storage.FileWrite{Mailbox: filesMb.ID, Name: "mine.bin"}, ref, false); err != nil {
		t.Fatal(err)
	}
	fileNames := func() string {
		t.Helper()
		fs, err := st.Files(ctx, folder.ID)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(names(fs), ",")
	}
	sweep := func(grace time.Duration) SweepResult {
		t.Helper()
		res, err := SweepAttachments(ctx, st, f.alice.ID, time.Now().Add(time.Second), grace)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	uids := func(d storage.Delivered) storage.UIDSet { return storage.UIDSet{{Start: d.UID, Stop: d.UID}} }

	if got := fileNames(); got != "f0 (2).bin,f0.bin" {
		t.Fatalf("files %s", got)
	}
	if res := sweep(0); res != (SweepResult{}) {
		t.Fatalf("sweep with every file named: %+v", res)
	}
	// ev-1 copied to another calendar, then expunged over IMAP: the copy
	// keeps the file.
	if _, err := st.Copy(ctx, cal.ID, uids(d1), other.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(ctx, cal.ID, []storage.UID{d1.UID}); err != nil {
		t.Fatal(err)
	}
	if res := sweep(0); res.Removed != 0 || fileNames() != "f0 (2).bin,f0.bin" {
		t.Fatalf("a copy's file removed: %+v %s", res, fileNames())
	}
	// ev-2 moved to a mail folder (no item there any more): its file goes,
	// but not within the grace period.
	if _, err := st.Move(ctx, cal.ID, uids(d2), mustMailbox(t, f, "INBOX").ID, 0); err != nil {
		t.Fatal(err)
	}
	if res := sweep(time.Hour); res.Removed != 0 || res.Young != 1 {
		t.Fatalf("young file: %+v", res)
	}
	if res := sweep(0); res.Removed != 1 || fileNames() != "f0.bin" {
		t.Fatalf("after the move: %+v %s", res, fileNames())
	}
	// The other calendar deleted: nothing names f0.bin.
	if err := st.DeleteMailbox(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if res := sweep(0); res.Removed != 1 || fileNames() != "" {
		t.Fatalf("after the calendar was deleted: %+v %s", res, fileNames())
	}
	// The calendar deleted: its empty attachment folder goes too.
	if err := st.DeleteMailbox(ctx, cal.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Mailbox(ctx, f.alice.ID, folder.Name); err != nil {
		t.Fatalf("attachment folder gone before the sweep: %v", err)
	}
	sweep(0)
	if _, err := st.Mailbox(ctx, f.alice.ID, folder.Name); !errors.Is(err, storage.ErrNoMailbox) {
		t.Fatalf("attachment folder of a deleted calendar: %v", err)
	}
	// The file of the same bytes outside the attachment folders is whole.
	mine, err := st.File(ctx, filesMb.ID, "mine.bin")
	if err != nil || !bytes.Equal(readAll(t, st, mine.Content), one) {
		t.Fatalf("Files/mine.bin: %v", err)
	}
}

// TestReleaseAttachments: the files an item dropped go at once when no
// other item names them, and only files of the attachment folders.
func TestReleaseAttachments(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := attachCtx(t)
	st := f.st
	cal := f.calendar(t)
	data := []byte("attachment data")
	payload := eventWith("ev-1", data)
	idx, _, _ := item.Parse("text/calendar", payload, "")
	msg := item.Compose(idx, payload, item.MessageOptions{FolderType: "event"})
	_, d, err := Put(ctx, st, bytes.NewReader(msg), storage.Target{Account: f.alice.ID, Mailbox: cal.ID})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := st.Items(ctx, cal.ID, storage.ItemQuery{})
	got := storedPayload(t, st, items[0].Blob)
	_, atts := item.Attachments(got)
	if len(atts) != 1 {
		t.Fatalf("attachments %+v", atts)
	}
	u := atts[0].Value
	filesMb, _ := st.Mailbox(ctx, f.alice.ID, storage.DefaultFilesFolder)
	ref, _ := Spool(ctx, st, bytes.NewReader(data))
	if _, _, err := PutNewFile(ctx, st, storage.FileWrite{Mailbox: filesMb.ID, Name: "f0.bin"}, ref, false); err != nil {
		t.Fatal(err)
	}
	own := AttachmentURL(webdavBase, "alice@example.test", filesMb, "f0.bin")

	// Still named by the item: kept.
	if n, err := ReleaseAttachments(ctx, st, f.alice.ID, []string{u, own}); err != nil || n != 0 {
		t.Fatalf("release of a named file: %d %v", n, err)
	}
	if _, err := st.Expunge(ctx, cal.ID, []storage.UID{d.UID}); err != nil {
		t.Fatal(err)
	}
	// Another host in the URL names the same file.
	other := strings.Replace(u, "mail.example.test", "old-name.example.test", 1)
	if n, err := ReleaseAttachments(ctx, st, f.alice.ID, []string{other, u, own, "https://elsewhere.test/x"}); err != nil || n != 1 {
		t.Fatalf("release: %d %v", n, err)
	}
	if _, err := st.File(ctx, filesMb.ID, "f0.bin"); err != nil {
		t.Fatalf("a file outside the attachment folders was removed: %v", err)
	}
}

func mustMailbox(t *testing.T, f *fixture, name string) storage.Mailbox {
	t.Helper()
	mb, err := f.st.Mailbox(t.Context(), f.alice.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func TestURLKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ u, want string }{
		{"https://h/webdav/alice@example.test/Files/Calendar%20Attachments/Calendar/a%20b.pdf", "Files/Calendar Attachments/Calendar/a b.pdf"},
		{"https://h/files/Alice@Example.test/Files/x.bin", "Files/x.bin"},
		{"https://h/webdav/alice%40example.test/Files/x.bin", "Files/x.bin"},
		{"https://h/webdav/bob@example.test/Files/x.bin", ""},
		{"https://h/webdav/alice@example.test/x.bin", ""},
		{"https://h/webdav/alice@example.test/Files/", ""},
		{"cid:foo", ""},
		{"%zz", ""},
	} {
		if got := urlKey("alice@example.test", tc.u); got != tc.want {
			t.Errorf("urlKey(%q) = %q, want %q", tc.u, got, tc.want)
		}
	}
}
