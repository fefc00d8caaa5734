package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
)

const webdavBase = "https://mail.example.test/webdav/"

func attachCtx(t *testing.T) context.Context {
	return WithItemAttachments(t.Context(), ItemAttachments{WebDAVURL: func() string { return webdavBase }})
}

// eventWith is an event whose attachments are inline (ENCODING=BASE64),
// one per data, named n.bin.
func eventWith(uid string, files ...[]byte) []byte {
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:" + uid +
		"\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250301T100000Z\r\nDTEND:20250301T110000Z\r\nSUMMARY:Review\r\n")
	for i, f := range files {
		line := "ATTACH;FMTTYPE=application/octet-stream;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=f" + string(rune('0'+i)) + ".bin:" + base64.StdEncoding.EncodeToString(f)
		for len(line) > 75 {
			b.WriteString(line[:75] + "\r\n ")
			line = line[75:]
		}
		b.WriteString(line + "\r\n")
	}
	b.WriteString("END:VEVENT\r\nEND:VCALENDAR\r\n")
	return []byte(b.String())
}

func (f *fixture) calendar(t *testing.T) storage.Mailbox {
	t.Helper()
	if _, err := f.st.EnsureGroupwareMailboxes(t.Context(), f.alice.ID); err != nil {
		t.Fatal(err)
	}
	mb, err := f.st.Mailbox(t.Context(), f.alice.ID, "Calendar")
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

// storedPayload returns the payload of the item message ref.
func storedPayload(t *testing.T, st storage.Store, id storage.BlobID) []byte {
	t.Helper()
	b, err := st.OpenBlob(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	raw, _ := io.ReadAll(b)
	p, err := Parse(t.Context(), st, storage.BlobRef{ID: id, Size: int64(len(raw))})
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := item.Payload(p, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestInlineAttachmentsBecomeFiles: an event with inline attachments
// stored through the write path (DAV PUT's item message, and a bare
// text/calendar message as an IMAP client appends it, base64 encoded)
// keeps its attachments as files of the calendar's attachment folder and
// managed ATTACH URIs pointing at them.
func TestInlineAttachmentsBecomeFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := attachCtx(t)
	cal := f.calendar(t)
	one, two := bytes.Repeat([]byte("first file "), 100), []byte{0, 1, 2, 255}
	payload := eventWith("ev-1", one, two)
	idx, _, err := item.Parse("text/calendar", payload, "")
	if err != nil {
		t.Fatal(err)
	}
	bare := "From: alice@example.test\r\nSubject: ev-2\r\nContent-Type: text/calendar; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(eventWith("ev-2", two)) + "\r\n"
	for _, tc := range []struct {
		name  string
		msg   []byte
		files [][]byte
	}{
		{"item message", item.Compose(idx, payload, item.MessageOptions{FolderType: "event", From: "alice@example.test"}), [][]byte{one, two}},
		{"bare text/calendar", []byte(bare), [][]byte{two}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, d, err := Put(ctx, f.st, bytes.NewReader(tc.msg), storage.Target{Account: f.alice.ID, Mailbox: cal.ID})
			if err != nil {
				t.Fatal(err)
			}
			if ref.Size >= int64(len(tc.msg)) && len(tc.files[0]) > 100 {
				t.Errorf("stored %d bytes of %d", ref.Size, len(tc.msg))
			}
			msgs, _ := f.st.Messages(ctx, cal.ID, storage.Query{UIDs: storage.UIDSet{{Start: d.UID, Stop: d.UID}}})
			if len(msgs) != 1 || msgs[0].Blob != ref.ID {
				t.Fatalf("stored message %+v, returned ref %s", msgs, ref.ID)
			}
			got := storedPayload(t, f.st, ref.ID)
			if item.HasInlineAttachment(got) {
				t.Fatalf("inline data left:\n%s", got)
			}
			if _, err := item.ParseCalendar(got); err != nil {
				t.Fatalf("stored payload invalid: %v\n%s", err, got)
			}
			_, atts := item.Attachments(got)
			if len(atts) != len(tc.files) {
				t.Fatalf("%d attachments", len(atts))
			}
			for i, a := range atts {
				folder, name, ok := AttachmentFile(ctx, f.st, webdavBase, cal, a.Value)
				if !ok || a.ManagedID() == "" || a.Param("VALUE") != "URI" || a.Param("SIZE") != itoa(len(tc.files[i])) ||
					!strings.HasPrefix(a.Value, webdavBase+"alice@example.test/Files/Calendar%20Attachments/Calendar/") {
					t.Fatalf("attachment %d: %+v (file %v %q)", i, a, ok, name)
				}
				file, err := f.st.File(ctx, folder, name)
				if err != nil || !bytes.Equal(readAll(t, f.st, file.Content), tc.files[i]) || file.ContentType != "application/octet-stream" {
					t.Fatalf("file %q: %+v %v", name, file, err)
				}
			}
			items, _ := f.st.Items(ctx, cal.ID, storage.ItemQuery{})
			found := false
			for _, it := range items {
				found = found || it.UID == d.UID
			}
			if !found {
				t.Fatal("the rewritten message is no item")
			}
		})
	}
	// The attachment folder is linked to the calendar.
	folder, err := AttachmentFolder(ctx, f.st, cal)
	if err != nil || folder.Name != "Files/Calendar Attachments/Calendar" {
		t.Fatalf("folder %+v %v", folder, err)
	}
	files, _ := f.st.Files(ctx, folder.ID)
	if got := strings.Join(names(files), ","); got != "f0 (2).bin,f0.bin,f1.bin" { // a taken name gets " (2)"
		t.Fatalf("files %v", names(files))
	}
}

// TestInlineAttachmentsLeftAlone: without ItemAttachments, in a mail
// folder, for contacts, and with several targets, nothing changes.
func TestInlineAttachmentsLeftAlone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	payload := eventWith("ev-3", []byte("data"))
	idx, _, _ := item.Parse("text/calendar", payload, "")
	msg := item.Compose(idx, payload, item.MessageOptions{FolderType: "event"})
	cal := f.calendar(t)
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		targets []storage.Target
	}{
		{"no configuration", t.Context(), []storage.Target{{Account: f.alice.ID, Mailbox: cal.ID}}},
		{"mail folder", attachCtx(t), []storage.Target{{Account: f.alice.ID, MailboxName: "INBOX"}}},
		{"two targets", attachCtx(t), []storage.Target{{Account: f.alice.ID, Mailbox: cal.ID}, {Account: f.alice.ID, MailboxName: "INBOX"}}},
	} {
		ref, err := Spool(tc.ctx, f.st, bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Deliver(tc.ctx, f.st, ref, tc.targets); err != nil {
			t.Fatal(err)
		}
		if got := storedPayload(t, f.st, ref.ID); !bytes.Equal(got, payload) {
			t.Errorf("%s: payload changed", tc.name)
		}
	}
	if _, err := f.st.Mailbox(t.Context(), f.alice.ID, AttachmentsFolder); !errors.Is(err, storage.ErrNoMailbox) {
		t.Fatalf("attachments folder made: %v", err)
	}
}

// TestInlineAttachmentsOverQuota: a file that does not fit fails the
// write (nothing stored, no file left).
func TestInlineAttachmentsOverQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := attachCtx(t)
	acct := f.alice
	acct.QuotaBytes = 20000
	if err := f.st.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	payload := eventWith("ev-4", bytes.Repeat([]byte("x"), 30000))
	idx, _, _ := item.Parse("text/calendar", payload, "")
	msg := item.Compose(idx, payload, item.MessageOptions{FolderType: "event"})
	_, _, err := Put(ctx, f.st, bytes.NewReader(msg), storage.Target{Account: f.alice.ID, Mailbox: f.calendar(t).ID})
	if !errors.Is(err, storage.ErrOverQuota) {
		t.Fatalf("Put: %v", err)
	}
	if items, _ := f.st.Items(ctx, f.calendar(t).ID, storage.ItemQuery{}); len(items) != 0 {
		t.Fatal("item stored")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func readAll(t *testing.T, st storage.Store, id storage.BlobID) []byte {
	t.Helper()
	b, err := st.OpenBlob(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, _ := io.ReadAll(b)
	return data
}

func names(fs []storage.File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// TestAttachmentFile: only URLs of the calendar's own attachment folder
// name a file of it.
func TestAttachmentFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := attachCtx(t)
	cal := f.calendar(t)
	file, folder, m, err := PutAttachment(ctx, f.st, webdavBase, cal, "a b#1.txt", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if file.Name != "a b#1.txt" || m.URL != webdavBase+"alice@example.test/Files/Calendar%20Attachments/Calendar/a%20b%231.txt" || m.Size != 5 || m.ManagedID == "" {
		t.Fatalf("PutAttachment: %+v %+v", file, m)
	}
	other, err := f.st.CreateMailbox(ctx, f.alice.ID, "Work", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url  string
		mb   storage.Mailbox
		want bool
	}{
		{m.URL, cal, true},
		{strings.Replace(m.URL, "mail.example.test", "MAIL.example.test", 1), cal, true},
		{strings.Replace(m.URL, "mail.example.test", "evil.example", 1), cal, false},
		{strings.Replace(m.URL, "alice@", "bob@", 1), cal, false},
		{m.URL, other, false}, // not that folder's attachments
		{webdavBase + "alice@example.test/Files/a%20b%231.txt", cal, false},
		{webdavBase + "alice@example.test/x", cal, false},
		{"cid:part1", cal, false},
		{"%zz", cal, false},
	} {
		id, name, ok := AttachmentFile(ctx, f.st, webdavBase, tc.mb, tc.url)
		if ok != tc.want || ok && (id != folder.ID || name != "a b#1.txt") {
			t.Errorf("AttachmentFile(%q) = %d %q %v, want %v", tc.url, id, name, ok, tc.want)
		}
	}
}

// TestInlineAttachmentsDeliverAll: IMAP MULTIAPPEND's path (DeliverAll)
// moves inline attachments too, per message.
func TestInlineAttachmentsDeliverAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := attachCtx(t)
	cal := f.calendar(t)
	var items []Item
	for _, uid := range []string{"all-1", "all-2"} {
		msg := "From: alice@example.test\r\nSubject: " + uid + "\r\nContent-Type: text/calendar\r\n\r\n" + string(eventWith(uid, []byte(uid+" data")))
		ref, err := Spool(ctx, f.st, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, Item{Ref: ref, Targets: []storage.Target{{Account: f.alice.ID, Mailbox: cal.ID}}})
	}
	out, err := DeliverAll(ctx, f.st, items)
	if err != nil || len(out) != 2 {
		t.Fatalf("DeliverAll: %v %v", out, err)
	}
	msgs, _ := f.st.Messages(ctx, cal.ID, storage.Query{})
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		p := storedPayload(t, f.st, m.Blob)
		if _, atts := item.Attachments(p); item.HasInlineAttachment(p) || len(atts) != 1 || atts[0].ManagedID() == "" {
			t.Fatalf("stored:\n%s", p)
		}
	}
	folder, _ := AttachmentFolder(ctx, f.st, cal)
	if files, _ := f.st.Files(ctx, folder.ID); len(files) != 2 {
		t.Fatalf("files %v", names(files))
	}
}
