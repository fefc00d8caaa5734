package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/url"
	"strconv"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
)

// SmartAttach for items (docs/files.md): the attachments of calendar
// items (events, tasks, journal entries, notes) live as files of the item
// folder owner's Files, in a file folder per item folder
// (AttachmentsFolder/<item folder>), and the items carry
//
//	ATTACH;MANAGED-ID=...;FMTTYPE=...;SIZE=...;FILENAME=...;VALUE=URI:https://<host>/webdav/<owner>/Files/Calendar%20Attachments/<folder>/<file>
//
// (RFC 8607 managed attachments). The write path moves an inline
// attachment (ATTACH;ENCODING=BASE64;VALUE=BINARY) of an item it stores
// into such a file, so IMAP APPEND and DAV PUT both get it; the DAV layer
// adds, updates and removes managed attachments with the functions
// below. The attachment folder is linked to its item folder by the
// metadata entry storage.AttachmentsOfEntry, and webdav/files lets whoever
// may read the item folder read it.

// AttachmentsFolder is the file folder, in the item folder owner's
// account, under which each item folder has its attachment folder.
const AttachmentsFolder = storage.DefaultFilesFolder + "/Calendar Attachments"

// ItemAttachments is what moving attachments of items into files needs:
// the public URL of the WebDAV file folders, which the items' ATTACH
// properties point into.
type ItemAttachments struct {
	// WebDAVURL returns the URL of /webdav/, ending in "/"
	// ("https://mail.example.org/webdav/"); read at every write.
	WebDAVURL func() string
}

type itemAttachmentsKey struct{}

// WithItemAttachments returns ctx carrying a: every write through this
// package under ctx moves the inline attachments of the calendar items it
// stores into files. The server puts it into the base context of every
// session and request, so every protocol's writes get it without passing
// it along; without it (the CLI, tests) inline attachments stay in the
// items.
func WithItemAttachments(ctx context.Context, a ItemAttachments) context.Context {
	return context.WithValue(ctx, itemAttachmentsKey{}, a)
}

// WebDAVURL returns the WebDAV URL of ctx's ItemAttachments, "" without.
func WebDAVURL(ctx context.Context) string {
	a, ok := ctx.Value(itemAttachmentsKey{}).(ItemAttachments)
	if !ok || a.WebDAVURL == nil {
		return ""
	}
	return a.WebDAVURL()
}

// maxFolderTries bounds the " (2)", ... suffixes of attachment folders.
const maxFolderTries = 20

// AttachmentFolder returns the file folder holding the attachments of the
// items of folder items, creating it (typed file, linked by
// storage.AttachmentsOfEntry) on first use:
// AttachmentsFolder/<items.Name>, or with " (2)", ... when a folder of
// that name belongs to another item folder (one deleted since, say).
func AttachmentFolder(ctx context.Context, st storage.Store, items storage.Mailbox) (storage.Mailbox, error) {
	link := []byte(strconv.FormatInt(int64(items.ID), 10))
	base := AttachmentsFolder + "/" + items.Name
	for i := 1; i <= maxFolderTries; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s (%d)", base, i)
		}
		mb, err := st.Mailbox(ctx, items.Account, name)
		if errors.Is(err, storage.ErrNoMailbox) {
			if mb, err = storage.EnsureFileFolder(ctx, st, items.Account, name); err != nil {
				return storage.Mailbox{}, err
			}
			err = st.SetMetadata(ctx, items.Account, mb.ID, []storage.MetadataEntry{{Name: storage.AttachmentsOfEntry, Value: link}})
			return mb, err
		}
		if err != nil {
			return storage.Mailbox{}, err
		}
		es, err := st.GetMetadata(ctx, items.Account, mb.ID, []string{storage.AttachmentsOfEntry}, 0)
		if err != nil {
			return storage.Mailbox{}, err
		}
		if len(es) == 1 && bytes.Equal(es[0].Value, link) {
			if ok, err := storage.IsFileFolder(ctx, st, mb); err != nil || ok {
				return mb, err
			}
		}
	}
	return storage.Mailbox{}, fmt.Errorf("no free attachment folder for %q: %w", items.Name, storage.ErrExists)
}

// AttachmentURL is the URL of file name in folder of owner under the
// WebDAV URL base: base + owner + "/" + folder path + "/" + name, each
// segment escaped.
func AttachmentURL(base, owner string, folder storage.Mailbox, name string) string {
	var b strings.Builder
	b.WriteString(base)
	if !strings.HasSuffix(base, "/") {
		b.WriteByte('/')
	}
	b.WriteString(url.PathEscape(owner))
	for seg := range strings.SplitSeq(folder.Name, "/") {
		b.WriteString("/" + url.PathEscape(seg))
	}
	b.WriteString("/" + url.PathEscape(name))
	return b.String()
}

// AttachmentFile returns the file an attachment URL names when it is a
// file of the attachment folder of items (the one AttachmentURL made): its
// folder and name; ok is false for any other URL.
func AttachmentFile(ctx context.Context, st storage.Store, base string, items storage.Mailbox, u string) (folder storage.MailboxID, name string, ok bool) {
	bu, err1 := url.Parse(base)
	au, err2 := url.Parse(u)
	if err1 != nil || err2 != nil || !strings.EqualFold(bu.Host, au.Host) {
		return 0, "", false
	}
	owner, err := st.AccountByID(ctx, items.Account)
	if err != nil {
		return 0, "", false
	}
	prefix := strings.TrimSuffix(bu.Path, "/") + "/" + owner.Address + "/"
	rest, found := strings.CutPrefix(au.Path, prefix)
	i := strings.LastIndexByte(rest, '/')
	if !found || i <= 0 {
		return 0, "", false
	}
	mb, err := st.Mailbox(ctx, items.Account, rest[:i])
	if err != nil {
		return 0, "", false
	}
	es, err := st.GetMetadata(ctx, items.Account, mb.ID, []string{storage.AttachmentsOfEntry}, 0)
	if err != nil || len(es) != 1 || string(es[0].Value) != strconv.FormatInt(int64(items.ID), 10) {
		return 0, "", false
	}
	return mb.ID, rest[i+1:], true
}

// NewManagedID returns a new MANAGED-ID (RFC 8607 4.1): 96 random bits.
func NewManagedID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PutAttachment stores r as a new file of the attachment folder of items
// (AttachmentFolder), named name (" (2)", ... when taken; "attachment"
// when name is no usable file name), and returns the file, its folder and
// the managed ATTACH property for it under the WebDAV URL base (a new
// MANAGED-ID). The file counts toward the folder owner's quota
// (storage.ErrOverQuota). r's read errors are returned as they are.
func PutAttachment(ctx context.Context, st storage.Store, base string, items storage.Mailbox, name, contentType string, r io.Reader) (storage.File, storage.Mailbox, item.ManagedAttach, error) {
	folder, err := AttachmentFolder(ctx, st, items)
	if err != nil {
		return storage.File{}, storage.Mailbox{}, item.ManagedAttach{}, err
	}
	owner, err := st.AccountByID(ctx, items.Account)
	if err != nil {
		return storage.File{}, storage.Mailbox{}, item.ManagedAttach{}, err
	}
	ref, err := Spool(ctx, st, r)
	if err != nil {
		return storage.File{}, storage.Mailbox{}, item.ManagedAttach{}, err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	f, _, err := PutNewFile(ctx, st, storage.FileWrite{Mailbox: folder.ID, Name: name, ContentType: contentType}, ref, false)
	if err != nil {
		return storage.File{}, storage.Mailbox{}, item.ManagedAttach{}, err
	}
	m := item.ManagedAttach{ManagedID: NewManagedID(), URL: AttachmentURL(base, owner.Address, folder, f.Name),
		ContentType: contentType, Filename: f.Name, Size: f.Size}
	return f, folder, m, nil
}

// attachmentName is the file name of an inline attachment: its own, or
// "attachment-N" with an extension from its FMTTYPE.
func attachmentName(a *item.Attachment, n int) string {
	if name := a.Filename(); name != "" {
		if norm, err := storage.NormalizeFileName(name); err == nil {
			return norm
		}
	}
	ext := ""
	if exts, _ := mime.ExtensionsByType(a.Param("FMTTYPE")); len(exts) > 0 {
		ext = exts[0]
	}
	return "attachment-" + strconv.Itoa(n) + ext
}

// moveInlineAttachments is the write path's part of SmartAttach for items
// (see AttachmentsFolder): when ctx carries ItemAttachments and the
// message ref (parsed) is a calendar item going to one calendar folder,
// every inline attachment of its payload becomes a file of the folder
// owner and a managed ATTACH in a new message, which is spooled, parsed
// and returned instead of ref (ref is discarded). Anything else returns
// ref and parsed unchanged. created lists the files made, for removal
// when the delivery fails.
func moveInlineAttachments(ctx context.Context, st storage.Store, ref storage.BlobRef, parsed *storage.Parsed, targets []storage.Target) (storage.BlobRef, *storage.Parsed, []storage.File, error) {
	base := WebDAVURL(ctx)
	if base == "" || len(targets) != 1 || parsed.Item == nil || parsed.Item.Kind == storage.ItemContact {
		return ref, parsed, nil, nil
	}
	part := item.PayloadPart(parsed)
	if part == nil || part.Type != "text" || part.Subtype != "calendar" {
		return ref, parsed, nil, nil
	}
	blob, err := st.OpenBlob(ctx, ref.ID)
	if err != nil {
		return ref, parsed, nil, fmt.Errorf("item attachments: open blob: %w", err)
	}
	defer blob.Close()
	payload, _, err := item.Payload(parsed, blob)
	if err != nil || !item.HasInlineAttachment(payload) {
		return ref, parsed, nil, nil
	}
	_, atts := item.Attachments(payload)
	var inline []int
	for i := range atts {
		if atts[i].Binary() {
			inline = append(inline, i)
		}
	}
	if len(inline) == 0 {
		return ref, parsed, nil, nil
	}
	mb, isCal, err := calendarFolder(ctx, st, targets[0])
	if err != nil || !isCal {
		return ref, parsed, nil, err
	}

	var created []storage.File
	fail := func(err error) (storage.BlobRef, *storage.Parsed, []storage.File, error) {
		removeFiles(ctx, st, created)
		return ref, parsed, nil, err
	}
	edit := item.AttachmentEdit{Replace: map[int]string{}}
	for n, i := range inline {
		a := &atts[i]
		data, err := a.Decode()
		if err != nil {
			continue // not base64: left as it is
		}
		f, _, m, err := PutAttachment(ctx, st, base, mb, attachmentName(a, n+1), a.Param("FMTTYPE"), bytes.NewReader(data))
		if err != nil {
			return fail(fmt.Errorf("item attachments: %w", err))
		}
		created = append(created, f)
		edit.Replace[i] = m.Line()
	}
	if len(edit.Replace) == 0 {
		return ref, parsed, nil, nil
	}
	newPayload := item.EditAttachments(payload, edit)
	nref, err := Spool(ctx, st, replaceBody(blob, part, newPayload))
	if err != nil {
		return fail(fmt.Errorf("item attachments: %w", err))
	}
	nparsed, contents, err := prepare(ctx, st, nref, targets)
	for _, c := range contents { // a calendar folder is no file folder: none
		discard(ctx, st, c)
	}
	if err != nil || nparsed.Item == nil {
		discard(ctx, st, nref.ID)
		if err == nil {
			err = errors.New("the rewritten item does not index")
		}
		return fail(fmt.Errorf("item attachments: %w", err))
	}
	discard(ctx, st, ref.ID)
	return nref, nparsed, created, nil
}

// calendarFolder resolves a delivery target and reports whether it is a
// calendar folder (event, task, journal or note).
func calendarFolder(ctx context.Context, st storage.Store, t storage.Target) (storage.Mailbox, bool, error) {
	mb, err := targetMailbox(ctx, st, t)
	if err != nil {
		return mb, false, nil // Deliver reports the target's error
	}
	es, err := st.GetMetadata(ctx, mb.Account, mb.ID, []string{storage.FolderTypeEntry}, 0)
	if err != nil {
		return mb, false, err
	}
	return mb, len(es) == 1 && item.IsCalendarType(string(es[0].Value)), nil
}

// removeFiles deletes files made for a write that failed (best effort:
// one left behind is an ordinary file of its owner).
func removeFiles(ctx context.Context, st storage.Store, files []storage.File) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	for _, f := range files {
		_ = st.DeleteFile(ctx, f.Mailbox, f.Name)
	}
}

// replaceBody returns the message raw with the body of part replaced by
// data, in the part's transfer encoding (RFC 2045 6): base64 and
// quoted-printable are encoded again, anything else is data as it is.
func replaceBody(raw storage.Blob, part *storage.Part, data []byte) io.Reader {
	var enc bytes.Buffer
	switch part.Encoding {
	case "base64":
		s := base64.StdEncoding.EncodeToString(data)
		for len(s) > 76 {
			enc.WriteString(s[:76] + "\r\n")
			s = s[76:]
		}
		enc.WriteString(s)
	case "quoted-printable":
		w := quotedprintable.NewWriter(&enc)
		_, _ = w.Write(data)
		_ = w.Close()
	default:
		enc.Write(data)
	}
	if part.Encoding == "base64" || part.Encoding == "quoted-printable" {
		// The body ends as it did: with a line break when it had one
		// (a whole-message payload), without one before a boundary.
		tail := make([]byte, 2)
		n, _ := raw.ReadAt(tail, part.End-2)
		had := part.End-part.BodyStart >= 2 && n == 2 && string(tail) == "\r\n"
		body := bytes.TrimRight(enc.Bytes(), "\r\n")
		enc.Reset()
		enc.Write(body)
		if had {
			enc.WriteString("\r\n")
		}
	}
	return io.MultiReader(
		io.NewSectionReader(raw, 0, part.BodyStart),
		bytes.NewReader(enc.Bytes()),
		io.NewSectionReader(raw, part.End, raw.Size()-part.End))
}

// targetMailbox looks up the mailbox a delivery target names: by ID, or by
// name in its account (INBOX when the name is empty).
func targetMailbox(ctx context.Context, st storage.Store, t storage.Target) (storage.Mailbox, error) {
	if t.Mailbox != 0 {
		return st.MailboxByID(ctx, t.Mailbox)
	}
	name := t.MailboxName
	if name == "" {
		name = "INBOX"
	}
	return st.Mailbox(ctx, t.Account, name)
}
