package dav

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/webdav/caldav"
	"github.com/floemail/floe/webdav/carddav"
	"github.com/floemail/floe/webdav/davxml"
)

// payloads reads the payloads of items: from the index when it kept them
// (ItemQuery.Data), otherwise from the messages (one Messages call for
// the structures the items lack, then each blob).
func (h *Handler) payloads(ctx context.Context, mbox storage.MailboxID, items []storage.Item) (map[storage.UID][]byte, error) {
	out := make(map[storage.UID][]byte, len(items))
	if len(items) == 0 {
		return out, nil
	}
	want := make(map[storage.UID]bool, len(items))
	uids := make([]storage.UID, 0, len(items))
	var msgs []storage.Message
	for _, it := range items {
		if it.Index.Data != nil {
			out[it.UID] = it.Index.Data
			continue
		}
		if it.Structure != nil {
			msgs = append(msgs, storage.Message{UID: it.UID, Blob: it.Blob, Structure: it.Structure, Header: it.Header})
		} else {
			uids = append(uids, it.UID)
		}
		want[it.UID] = true
	}
	slices.Sort(uids)
	// Other structures in chunks of exact UIDs (a bounding range would
	// decode the structure of every message between them).
	for len(uids) > 0 {
		n := min(len(uids), 64)
		var set storage.UIDSet
		for _, u := range uids[:n] {
			set = append(set, storage.UIDRange{Start: u, Stop: u})
		}
		part, err := h.c.Store.Messages(ctx, mbox, storage.Query{UIDs: set, Fields: storage.FieldStructure | storage.FieldHeader})
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, part...)
		uids = uids[n:]
	}
	for _, m := range msgs {
		if !want[m.UID] {
			continue
		}
		b, err := h.c.Store.OpenBlob(ctx, m.Blob)
		if err != nil {
			h.c.Log.Warn("item message body missing", "mailbox", mbox, "uid", m.UID, "err", err)
			continue
		}
		data, _, err := item.PayloadOf(m.Structure, m.Header, b)
		b.Close()
		if err != nil {
			continue
		}
		out[m.UID] = data
	}
	return out, nil
}

// dataRequest is a calendar-data or address-data element of a request.
type dataRequest struct {
	name   xml.Name
	expand *caldav.Range
	limit  *caldav.Range
	// comp is the calendar-data selection (RFC 4791 9.6.1), nil for the
	// whole object; props the address-data one (RFC 6352 10.4), nil for
	// every property.
	comp  *caldav.Selection
	props []carddav.PropSelection
}

// setFloating sets the zone floating times are read in for expand and
// limit-recurrence-set.
func (dr *dataRequest) setFloating(z *item.Zone) {
	if dr.expand != nil {
		dr.expand.Floating = z
	}
	if dr.limit != nil {
		dr.limit.Floating = z
	}
}

func findDataRequest(req *davxml.PropList) (*dataRequest, error) {
	if req == nil {
		return nil, nil
	}
	for _, p := range req.Props {
		if p.XMLName != pCalData && p.XMLName != pAddrData {
			continue
		}
		dr := &dataRequest{name: p.XMLName}
		var err error
		if p.XMLName == pCalData {
			if dr.comp, err = caldav.ParseSelection(p.Children); err != nil {
				return nil, errStatus(http.StatusBadRequest)
			}
		} else if dr.props, err = carddav.ParseSelection(p.Children); err != nil {
			return nil, errStatus(http.StatusBadRequest)
		}
		for _, c := range p.Children {
			if c.XMLName.Space != davxml.NSCalDAV || (c.XMLName.Local != "expand" && c.XMLName.Local != "limit-recurrence-set") {
				continue
			}
			var tr davxml.TimeRange
			for _, a := range c.Attrs {
				switch a.Name.Local {
				case "start":
					tr.Start = a.Value
				case "end":
					tr.End = a.Value
				}
			}
			r, err := caldav.ParseRange(&tr)
			if err != nil {
				return nil, errPre(http.StatusBadRequest, davxml.NSCalDAV, "valid-filter", err.Error())
			}
			if c.XMLName.Local == "expand" {
				dr.expand = &r
			} else {
				dr.limit = &r
			}
		}
		return dr, nil
	}
	return nil, nil
}

// renderItems adds a response per item with the requested properties,
// reading the payloads only when calendar-data or address-data is asked
// for.
func (h *Handler) renderItems(ctx context.Context, ms *davxml.Multistatus, acct storage.Account, f *folder, items []storage.Item,
	req *davxml.PropList, all, names bool, pre map[storage.UID][]byte) error {
	dr, err := findDataRequest(req)
	if err != nil {
		return err
	}
	if dr != nil && !f.card() && (dr.expand != nil && dr.expand.Floating == nil || dr.limit != nil && dr.limit.Floating == nil) {
		// The calendar's zone for floating times (a calendar-query set
		// the request's already).
		z, err := h.floatingZone(ctx, f, "")
		if err != nil {
			return err
		}
		dr.setFloating(z)
	}
	data := pre
	if dr != nil && data == nil {
		if data, err = h.payloads(ctx, f.mb.ID, items); err != nil {
			return err
		}
	}
	for i := range items {
		it := &items[i]
		if dr == nil || all || names {
			respond(ms, f.objectHref(it.Name), objectProps(f, it), req, all, names, nil)
			continue
		}
		d, ok := data[it.UID]
		if !ok {
			ms.Status(f.objectHref(it.Name), "HTTP/1.1 404 Not Found")
			continue
		}
		d = h.shape(dr, it, d)
		ok2, missing := collect(objectProps(f, it), req, false, false, nil, dr.name)
		ms.ResponseData(f.objectHref(it.Name), ok2, dr.name, d, missing)
	}
	return nil
}

// shape applies the calendar-data or address-data request to one object's
// data: expand or limit-recurrence-set (RFC 4791 9.6.5, 9.6.6), then the
// component and property selection (RFC 4791 9.6.1, RFC 6352 10.4). Data
// that does not decode is returned as it is.
func (h *Handler) shape(dr *dataRequest, it *storage.Item, d []byte) []byte {
	if dr.props != nil {
		card, err := item.DecodeContact(d)
		if err != nil {
			return d
		}
		if out, err := carddav.Select(card, dr.props); err == nil {
			return out
		}
		return d
	}
	if dr.expand == nil && dr.limit == nil && dr.comp == nil {
		return d
	}
	cal, err := item.DecodeCalendar(d)
	if err != nil {
		return d
	}
	if dr.expand != nil || dr.limit != nil {
		var out []byte
		if dr.expand != nil {
			out, err = caldav.Expand(cal, &it.Index, *dr.expand)
		} else {
			out, err = caldav.LimitRecurrenceSet(cal, *dr.limit)
		}
		if err != nil || out == nil {
			return d
		}
		d = out
		if dr.comp == nil {
			return d
		}
		if cal, err = item.DecodeCalendar(d); err != nil {
			return d
		}
	}
	if out, err := caldav.Select(cal, dr.comp); err == nil && out != nil {
		return out
	}
	return d
}

// current returns the item at a resource name (nil when none).
func (h *Handler) current(ctx context.Context, f *folder, name string) (*storage.Item, error) {
	return h.currentWith(ctx, f, name, false)
}

// currentWith is current, with the payload (ItemQuery.Data) when data is
// set.
func (h *Handler) currentWith(ctx context.Context, f *folder, name string, data bool) (*storage.Item, error) {
	items, err := h.c.Store.Items(ctx, f.mb.ID, storage.ItemQuery{Names: []string{name}, Data: data})
	if err != nil || len(items) == 0 {
		return nil, err
	}
	return &items[0], nil
}

// existing returns the folder and the item of the object t that a
// request changes (DELETE, RFC 8607 POST): 404 when there is no such
// item, 412 when If-Match does not name its ETag (RFC 9110 13.1.1).
func (h *Handler) existing(ctx context.Context, r *http.Request, acct storage.Account, t target) (folder, *storage.Item, error) {
	f, err := h.lookupFolder(ctx, acct, t)
	if err != nil {
		return f, nil, err
	}
	cur, err := h.current(ctx, &f, t.name)
	if err != nil {
		return f, nil, err
	}
	if cur == nil {
		return f, nil, errStatus(http.StatusNotFound)
	}
	if im := r.Header.Get("If-Match"); im != "" && !matchETag(im, etag(cur)) {
		return f, nil, errStatus(http.StatusPreconditionFailed)
	}
	return f, cur, nil
}

func (h *Handler) get(ctx context.Context, w http.ResponseWriter, r *http.Request, acct storage.Account, t target) error {
	if t.kind != "object" {
		if t.kind == "calendar" || t.kind == "addressbook" {
			// A collection that does not exist (or is not visible) is
			// 404, an existing one has no GET.
			if _, err := h.lookupFolder(ctx, acct, t); err != nil {
				return err
			}
		}
		return errStatus(http.StatusMethodNotAllowed)
	}
	f, err := h.lookupFolder(ctx, acct, t)
	if err != nil {
		return err
	}
	if !has(f.rights, "r") {
		return errStatus(http.StatusForbidden)
	}
	it, err := h.currentWith(ctx, &f, t.name, true)
	if err != nil {
		return err
	}
	if it == nil {
		return errStatus(http.StatusNotFound)
	}
	data, err := h.payloads(ctx, f.mb.ID, []storage.Item{*it})
	if err != nil {
		return err
	}
	d, ok := data[it.UID]
	if !ok {
		return errStatus(http.StatusNotFound)
	}
	ct := "text/calendar; charset=utf-8"
	if f.card() {
		ct = "text/vcard; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("ETag", etag(it))
	w.Header().Set("Content-Length", strconv.Itoa(len(d)))
	if inm := r.Header.Get("If-None-Match"); inm != "" && matchETag(inm, etag(it)) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(d)
	}
	return nil
}

// matchETag reports whether an If-Match/If-None-Match list names tag.
func matchETag(list, tag string) bool {
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		v = strings.TrimPrefix(v, "W/")
		if v == "*" || v == tag {
			return true
		}
	}
	return false
}

// put stores a calendar or address object: validation with the RFC
// preconditions, If-Match/If-None-Match (412), the item message composed
// and delivered in one transaction (replacing the current message of the
// resource atomically). The ETag is returned only when the stored data is
// the data sent (RFC 4791 5.3.4).
func (h *Handler) put(ctx context.Context, w http.ResponseWriter, r *http.Request, acct storage.Account, t target) error {
	if t.kind != "object" {
		return errStatus(http.StatusMethodNotAllowed)
	}
	f, err := h.lookupFolder(ctx, acct, t)
	if err != nil {
		return err
	}
	ns := davxml.NSCalDAV
	if f.card() {
		ns = davxml.NSCardDAV
	}
	if r.ContentLength > h.c.MaxResourceSize {
		return errPre(http.StatusRequestEntityTooLarge, ns, item.PreMaxResourceSize, "the item is larger than "+strconv.FormatInt(h.c.MaxResourceSize, 10)+" bytes")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.c.MaxResourceSize+1))
	if err != nil {
		return errStatus(http.StatusBadRequest)
	}
	if int64(len(body)) > h.c.MaxResourceSize {
		return errPre(http.StatusRequestEntityTooLarge, ns, item.PreMaxResourceSize, "the item is larger than "+strconv.FormatInt(h.c.MaxResourceSize, 10)+" bytes")
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	want := "text/calendar"
	if f.card() {
		want = "text/vcard"
		if mt == "text/x-vcard" || mt == "text/directory" {
			mt = want
		}
	}
	if mt == "" || mt == "application/octet-stream" || mt == "text/plain" {
		mt = want
	}
	if mt != want {
		pre := "supported-calendar-data"
		if f.card() {
			pre = "supported-address-data"
		}
		return errPre(http.StatusUnsupportedMediaType, ns, pre, "this collection stores "+want)
	}
	fallback := ""
	if f.card() {
		fallback = strings.TrimSuffix(t.name, ".vcf")
	}
	idx, stored, err := item.Parse(mt, body, fallback)
	if err != nil {
		var inv *item.Invalid
		if errors.As(err, &inv) {
			status := http.StatusForbidden
			if inv.Precondition == item.PreMaxResourceSize {
				status = http.StatusRequestEntityTooLarge
			}
			return errPre(status, ns, inv.Precondition, inv.Reason)
		}
		return err
	}
	allowed := false
	for _, k := range item.KindsOf(f.typ) {
		allowed = allowed || k == idx.Kind
	}
	if !allowed {
		pre := item.PreSupportedComponent
		if f.card() {
			pre = item.PreValidAddressData
		}
		return errPre(http.StatusForbidden, ns, pre, "this collection does not store "+string(idx.Kind)+" items")
	}
	cur, err := h.current(ctx, &f, t.name)
	if err != nil {
		return err
	}
	if im := r.Header.Get("If-Match"); im != "" && (cur == nil || !matchETag(im, etag(cur))) {
		return errStatus(http.StatusPreconditionFailed)
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && cur != nil && matchETag(inm, etag(cur)) {
		return errStatus(http.StatusPreconditionFailed)
	}
	if cur != nil && !has(f.rights, "w") || cur == nil && !has(f.rights, "i") {
		return errStatus(http.StatusForbidden)
	}
	msg := item.Compose(idx, stored, item.MessageOptions{FolderType: f.typ, From: f.owner.Address, Date: h.c.Now()})
	tgt := storage.Target{Account: f.owner.ID, Mailbox: f.mb.ID, ItemName: t.name}
	var old []byte // the replaced payload, for its managed attachments
	if cur != nil {
		tgt.Replace = cur.UID
		if h.managed() && !f.card() {
			if data, err := h.payloads(ctx, f.mb.ID, []storage.Item{*cur}); err == nil {
				old = data[cur.UID]
			}
		}
	}
	ref, err := h.store(ctx, msg, tgt)
	if err != nil {
		switch {
		case errors.Is(err, storage.ErrNoMessage):
			return errStatus(http.StatusPreconditionFailed)
		case errors.Is(err, storage.ErrExists):
			return errPre(http.StatusConflict, ns, item.PreNoUIDConflict, "another resource of this collection has the UID "+idx.UID)
		}
		return err
	}
	// A managed attachment the new version no longer names goes (RFC
	// 8607 3.9).
	h.removedAttachments(ctx, f.mb, old, stored)
	// The ETag only when the stored data is what was sent: neither
	// completed here (a vCard's UID) nor rewritten by the write path
	// (inline attachments moved into files).
	if bytes.Equal(stored, body) && storedAs(ref, msg) {
		w.Header().Set("ETag", etag(&storage.Item{Blob: ref.ID}))
	}
	if cur != nil {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	return nil
}

// store writes an item message through the one write path
// (storage/ingest: blob, parse once with the item index, one Deliver).
// It returns the message's blob, whose hash is the new ETag.
func (h *Handler) store(ctx context.Context, msg []byte, tgt storage.Target) (storage.BlobRef, error) {
	ref, _, err := ingest.Put(ctx, h.c.Store, bytes.NewReader(msg), tgt)
	return ref, err
}

// delete removes an object (every message of its UID) or a collection
// (its folder).
func (h *Handler) delete(ctx context.Context, w http.ResponseWriter, r *http.Request, acct storage.Account, t target) error {
	switch t.kind {
	case "calendar", "addressbook":
		f, err := h.lookupFolder(ctx, acct, t)
		if err != nil {
			return err
		}
		if f.owner.ID != acct.ID || !has(f.rights, "x") {
			return errStatus(http.StatusForbidden)
		}
		if err := h.c.Store.DeleteMailbox(ctx, f.mb.ID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "object":
	default:
		return errStatus(http.StatusMethodNotAllowed)
	}
	f, cur, err := h.existing(ctx, r, acct, t)
	if err != nil {
		return err
	}
	if !has(f.rights, "t") || !has(f.rights, "e") {
		return errStatus(http.StatusForbidden)
	}
	var old []byte // the payload, for its managed attachments (RFC 8607 3.9)
	if h.managed() && !f.card() {
		if data, err := h.payloads(ctx, f.mb.ID, []storage.Item{*cur}); err == nil {
			old = data[cur.UID]
		}
	}

	// The item's current message, then any older duplicates of its UID.
	for range 16 {
		if _, err := h.c.Store.Expunge(ctx, f.mb.ID, []storage.UID{cur.UID}); err != nil {
			return err
		}
		items, err := h.c.Store.Items(ctx, f.mb.ID, storage.ItemQuery{UIDs: []string{cur.Index.UID}})
		if err != nil {
			return err
		}
		if len(items) == 0 {
			break
		}
		cur = &items[0]
	}
	h.removedAttachments(ctx, f.mb, old, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
