package dav

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/webdav/davxml"
)

// CalDAV managed attachments (RFC 8607). An attachment is a file of the
// calendar owner's Files (storage/ingest.PutAttachment: the attachment
// folder of the calendar), the item carries
// ATTACH;MANAGED-ID=...;FMTTYPE=...;SIZE=...;FILENAME=...;VALUE=URI:<url>,
// and the file is read over WebDAV at that URL with the calendar's read
// right (webdav/files). Requests:
//
//	POST <item>?action=attachment-add[&rid=...]        201, Cal-Managed-ID, Location
//	POST <item>?action=attachment-update&managed-id=X[&rid=...]  200 or 204, Cal-Managed-ID, Location
//	POST <item>?action=attachment-remove&managed-id=X[&rid=...]  200 or 204
//
// rid names instances; one without a component of its own gets an
// override derived from the master first (item.AddOverrides).
//
// with the attachment as the body (Content-Type, Content-Disposition
// filename). With Prefer: return=representation the answer carries the
// changed calendar object; the ETag header is the object's new ETag, and
// Location the attachment's URL (as Apple's server, the reference
// implementation, answers). A failed precondition of RFC 8607 3.8 is a
// 403 with the DAV:error naming it (RFC 4918 16: 403 or 409; Apple's
// server and CalDAVTester use 403).

// RFC 8607 names.
const (
	// davManagedAttachments is the DAV header compliance class (RFC 8607
	// 3.1).
	davManagedAttachments = "calendar-managed-attachments"
	// headerManagedID carries the MANAGED-ID of an added or updated
	// attachment (RFC 8607 5.1).
	headerManagedID = "Cal-Managed-ID"
)

// Preconditions (RFC 8607 3.4-3.9), in the CALDAV: namespace.
const (
	preMaxAttachmentSize = "max-attachment-size"
	preMaxAttachments    = "max-attachments-per-resource"
	preValidManagedID    = "valid-managed-id-parameter"
	preValidRID          = "valid-rid-parameter"
)

var (
	pManagedServerURL = dn(davxml.NSCalDAV, "managed-attachments-server-URL")
	pMaxAttachSize    = dn(davxml.NSCalDAV, "max-attachment-size")
	pMaxAttachments   = dn(davxml.NSCalDAV, "max-attachments-per-resource")
)

// managed reports whether managed attachments are on (the server gave a
// WebDAV URL).
func (h *Handler) managed() bool { return h.c.WebDAVURL != nil && h.c.WebDAVURL() != "" }

// attachmentProps adds the RFC 8607 properties of calendar homes and
// calendars (RFC 8607 6.1-6.3).
func (h *Handler) attachmentProps(p props) {
	if !h.managed() {
		return
	}
	// The server the attachments are read from: the WebDAV URL's origin.
	if u, err := url.Parse(h.c.WebDAVURL()); err == nil && u.Host != "" {
		p.set(pManagedServerURL, hrefXML(u.Scheme+"://"+u.Host+"/"))
	} else {
		p.set(pManagedServerURL, "")
	}
	p.set(pMaxAttachSize, strconv.FormatInt(h.c.MaxAttachmentSize, 10))
	p.set(pMaxAttachments, strconv.Itoa(h.c.MaxAttachments))
}

// limitReader fails with errTooLarge once more than n bytes were read.
type limitReader struct {
	r io.Reader
	n int64
}

var errTooLarge = errors.New("attachment too large")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

// post serves RFC 8607's POST actions on a calendar object.
func (h *Handler) post(ctx context.Context, w http.ResponseWriter, r *http.Request, acct storage.Account, t target) error {
	q := r.URL.Query()
	action := q.Get("action")
	if !h.managed() || t.kind != "object" || t.card || action == "" {
		return errStatus(http.StatusMethodNotAllowed)
	}
	switch action {
	case "attachment-add", "attachment-update", "attachment-remove":
	default:
		return errStatus(http.StatusBadRequest)
	}
	f, cur, err := h.existing(ctx, r, acct, t)
	if err != nil {
		return err
	}
	if !has(f.rights, "w") { // the item changes: RFC 8607 3.4 needs write-content
		return errStatus(http.StatusForbidden)
	}
	data, err := h.payloads(ctx, f.mb.ID, []storage.Item{*cur})
	if err != nil {
		return err
	}
	payload, ok := data[cur.UID]
	if !ok {
		return errStatus(http.StatusNotFound)
	}
	var rids []string
	if v := q.Get("rid"); v != "" {
		rids = strings.Split(v, ",")
		// An instance without a component of its own gets one, derived
		// from the master, which the attachment is then added to or
		// removed from (RFC 8607 3.4, 3.6, 3.7).
		np, err := item.AddOverrides(payload, rids)
		if errors.Is(err, item.ErrNoInstance) {
			return errPre(http.StatusForbidden, davxml.NSCalDAV, preValidRID, "no instance of the item has this recurrence ID")
		}
		if err != nil {
			return err
		}
		payload = np
	}
	comps, atts := item.Attachments(payload)
	targets := map[int]bool{}
	for i, c := range comps {
		if item.MatchRID(c, rids) {
			targets[i] = true
		}
	}
	if len(targets) == 0 {
		return errPre(http.StatusForbidden, davxml.NSCalDAV, preValidRID, "no instance of the item has this recurrence ID")
	}
	base := h.c.WebDAVURL()
	managedID := q.Get("managed-id")
	edit := item.AttachmentEdit{Replace: map[int]string{}, Add: map[int][]string{}}
	var oldURLs []string // files to remove once the item is stored
	var added *storage.File
	var newID, newURL string
	if action != "attachment-add" {
		found := false
		for i, a := range atts {
			if a.ManagedID() != managedID || managedID == "" || !targets[a.Comp] {
				continue
			}
			found = true
			if action == "attachment-remove" {
				edit.Replace[i] = ""
			}
			oldURLs = append(oldURLs, a.Value)
		}
		if !found {
			return errPre(http.StatusForbidden, davxml.NSCalDAV, preValidManagedID, "the item has no attachment with this managed-id")
		}
	}
	if action != "attachment-remove" {
		if action == "attachment-add" {
			for c := range targets {
				n := 0
				for _, a := range atts {
					if a.Comp == c && a.ManagedID() != "" {
						n++
					}
				}
				if n >= h.c.MaxAttachments {
					return errPre(http.StatusForbidden, davxml.NSCalDAV, preMaxAttachments, "the item has "+strconv.Itoa(n)+" attachments, the most it may have")
				}
			}
		}
		if r.ContentLength > h.c.MaxAttachmentSize {
			return errPre(http.StatusForbidden, davxml.NSCalDAV, preMaxAttachmentSize, "the attachment is larger than "+strconv.FormatInt(h.c.MaxAttachmentSize, 10)+" bytes")
		}
		name := "attachment"
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
			name = params["filename"]
		}
		ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		file, _, m, err := ingest.PutAttachment(ctx, h.c.Store, base, f.mb, name, ctype, &limitReader{r: r.Body, n: h.c.MaxAttachmentSize})
		if err != nil {
			if errors.Is(err, errTooLarge) {
				return errPre(http.StatusForbidden, davxml.NSCalDAV, preMaxAttachmentSize, "the attachment is larger than "+strconv.FormatInt(h.c.MaxAttachmentSize, 10)+" bytes")
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return errStatus(http.StatusRequestEntityTooLarge)
			}
			return err
		}
		added, newID, newURL = &file, m.ManagedID, m.URL
		line := m.Line()
		if action == "attachment-add" {
			for c := range targets {
				edit.Add[c] = []string{line}
			}
		} else {
			for i, a := range atts {
				if a.ManagedID() == managedID && targets[a.Comp] {
					edit.Replace[i] = line
				}
			}
		}
	}
	undo := func() {
		if added != nil {
			_ = h.c.Store.DeleteFile(context.WithoutCancel(ctx), added.Mailbox, added.Name)
		}
	}
	newPayload := item.EditAttachments(payload, edit)
	idx, stored, err := item.Parse("text/calendar", newPayload, "")
	if err != nil {
		undo()
		return err
	}
	msg := item.Compose(idx, stored, item.MessageOptions{FolderType: f.typ, From: f.owner.Address, Date: h.c.Now()})
	ref, err := h.store(ctx, msg, storage.Target{Account: f.owner.ID, Mailbox: f.mb.ID, ItemName: t.name, Replace: cur.UID})
	if err != nil {
		undo()
		if errors.Is(err, storage.ErrNoMessage) {
			return errStatus(http.StatusPreconditionFailed) // changed meanwhile
		}
		return err
	}
	// The files no item names any more (a copy of the item elsewhere may).
	h.releaseAttachments(ctx, f.mb, oldURLs)

	hd := w.Header()
	if newID != "" {
		hd.Set(headerManagedID, newID)
		hd.Set("Location", newURL)
	}
	hd.Set("ETag", etag(&storage.Item{Blob: ref.ID}))
	status := http.StatusNoContent
	if action == "attachment-add" {
		status = http.StatusCreated
	}
	if returnRepresentation(r) {
		if status == http.StatusNoContent {
			status = http.StatusOK
		}
		hd.Set("Content-Type", "text/calendar; charset=utf-8")
		hd.Set("Content-Location", f.objectHref(t.name))
		hd.Set("Content-Length", strconv.Itoa(len(stored)))
		w.WriteHeader(status)
		_, _ = w.Write(stored)
		return nil
	}
	w.WriteHeader(status)
	return nil
}

// returnRepresentation reports whether the client asked for the changed
// resource in the answer (RFC 7240 4.2, Prefer: return=representation).
func returnRepresentation(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "return=representation") {
				return true
			}
		}
	}
	return false
}

// releaseAttachments deletes the files of the attachment URLs urls, which
// an item of items no longer names, when they are files of the owner's
// attachment folders and no current item of the owner's calendars names
// them (ingest.ReleaseAttachments; best effort: the server's sweep
// retries).
func (h *Handler) releaseAttachments(ctx context.Context, items storage.Mailbox, urls []string) {
	if len(urls) == 0 {
		return
	}
	if _, err := ingest.ReleaseAttachments(context.WithoutCancel(ctx), h.c.Store, items.Account, urls); err != nil {
		h.c.Log.Warn("managed attachments not removed", "folder", items.ID, "err", err)
	}
}

// removedAttachments deletes the files of the attachments that old names
// and new does not (a PUT that dropped them, a DELETE: new nil) when no
// other item names them, RFC 8607 3.9.
func (h *Handler) removedAttachments(ctx context.Context, items storage.Mailbox, old, new []byte) {
	if !h.managed() || old == nil {
		return
	}
	_, before := item.Attachments(old)
	_, after := item.Attachments(new)
	var gone []string
	for _, a := range before {
		if a.ManagedID() == "" {
			continue
		}
		kept := false
		for _, b := range after {
			kept = kept || b.Value == a.Value
		}
		if !kept {
			gone = append(gone, a.Value)
		}
	}
	h.releaseAttachments(ctx, items, gone)
}

// storedAs reports whether the blob ref holds exactly msg (the write path
// may rewrite an item: inline attachments become files).
func storedAs(ref storage.BlobRef, msg []byte) bool {
	sum := sha256.Sum256(msg)
	return string(ref.ID) == hex.EncodeToString(sum[:])
}
