package dav

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/webdav/caldav"
	"github.com/floemail/floe/webdav/carddav"
	"github.com/floemail/floe/webdav/davxml"
)

// report serves REPORT on a calendar or address book collection:
// calendar-query, calendar-multiget, free-busy-query (RFC 4791 7),
// addressbook-query, addressbook-multiget (RFC 6352 8) and
// sync-collection (RFC 6578).
func (h *Handler) report(ctx context.Context, w http.ResponseWriter, r *http.Request, acct storage.Account, t target) error {
	body, err := h.readXML(r)
	if err != nil {
		return err
	}
	if body == nil {
		return errStatus(http.StatusBadRequest)
	}
	var rep davxml.Report
	if err := davxml.Unmarshal(body, &rep); err != nil {
		return errStatus(http.StatusBadRequest)
	}
	if t.kind != "calendar" && t.kind != "addressbook" && t.kind != "object" {
		return errPre(http.StatusForbidden, davxml.NSDAV, "supported-report", "this resource supports no such report")
	}
	f, err := h.lookupFolder(ctx, acct, t)
	if err != nil {
		return err
	}
	if !has(f.rights, "r") {
		return errStatus(http.StatusForbidden)
	}
	root := rep.XMLName
	switch {
	case root.Space == davxml.NSCalDAV && root.Local == "calendar-query" && !f.card():
		return h.calendarQuery(ctx, w, acct, &f, &rep)
	case root.Space == davxml.NSCalDAV && root.Local == "calendar-multiget" && !f.card(),
		root.Space == davxml.NSCardDAV && root.Local == "addressbook-multiget" && f.card():
		return h.multiget(ctx, w, acct, &f, &rep)
	case root.Space == davxml.NSCalDAV && root.Local == "free-busy-query" && !f.card():
		return h.freeBusyQuery(ctx, w, &f, &rep)
	case root.Space == davxml.NSCardDAV && root.Local == "addressbook-query" && f.card():
		return h.addressbookQuery(ctx, w, acct, &f, &rep)
	case root.Space == davxml.NSDAV && root.Local == "sync-collection":
		return h.syncCollection(ctx, w, acct, &f, &rep)
	}
	return errPre(http.StatusForbidden, davxml.NSDAV, "supported-report", "this collection supports no such report")
}

func filterErr(err error) error {
	if errors.Is(err, davxml.ErrCollation) {
		return errPre(http.StatusForbidden, davxml.NSCalDAV, "supported-collation", "unsupported collation")
	}
	if errors.Is(err, caldav.ErrFilter) || errors.Is(err, davxml.ErrSyntax) {
		return errPre(http.StatusForbidden, davxml.NSCalDAV, "valid-filter", err.Error())
	}
	return err
}

// calendarQuery answers a calendar-query. A filter that is only a
// component and a time range is decided on the index (recurring items
// expanded from it); other filters decode the payloads of the items the
// index leaves.
func (h *Handler) calendarQuery(ctx context.Context, w http.ResponseWriter, acct storage.Account, f *folder, rep *davxml.Report) error {
	var cf *davxml.CompFilter
	if rep.Filter != nil {
		cf = rep.Filter.CompFilter
	}
	if cf == nil {
		return errPre(http.StatusForbidden, davxml.NSCalDAV, "valid-filter", "a calendar-query needs a VCALENDAR comp-filter")
	}
	if !strings.EqualFold(cf.Name, "VCALENDAR") {
		return errPre(http.StatusForbidden, davxml.NSCalDAV, "valid-filter", "the top comp-filter must be VCALENDAR")
	}
	dr, err := findDataRequest(rep.Prop)
	if err != nil {
		return err
	}
	zone, err := h.floatingZone(ctx, f, rep.Timezone)
	if err != nil {
		return err
	}
	if dr != nil {
		dr.setFloating(zone)
	}
	comp, _, indexOnly := caldav.IndexOnly(cf)
	// The payloads are read when the filter or the answer needs them.
	q := storage.ItemQuery{Data: dr != nil || !indexOnly}
	var rng *caldav.Range
	if len(cf.CompFilters) == 1 && cf.CompFilters[0].TimeRange != nil {
		r, err := caldav.ParseRange(cf.CompFilters[0].TimeRange)
		if err != nil {
			return filterErr(err)
		}
		r.Floating = zone
		rng = &r
		// Floating items are stored in wall-clock time: a wider search,
		// the exact test below.
		w := r.Widen()
		q.Start, q.End = w.Start, w.End
	}
	items, err := h.c.Store.Items(ctx, f.mb.ID, q)
	if err != nil {
		return err
	}
	var keep []storage.Item
	var data map[storage.UID][]byte
	if indexOnly {
		for _, it := range items {
			if comp != "" && comp != caldav.KindComponent(it.Index.Kind) {
				continue
			}
			if rng != nil {
				ok, err := caldav.MatchIndex(&it.Index, *rng)
				if err != nil || !ok {
					continue
				}
			}
			keep = append(keep, it)
		}
	} else {
		if data, err = h.payloads(ctx, f.mb.ID, items); err != nil {
			return err
		}
		for _, it := range items {
			d, ok := data[it.UID]
			if !ok {
				continue
			}
			cal, err := item.DecodeCalendar(d)
			if err != nil {
				continue
			}
			ok, err = caldav.Match(cf, cal, &it.Index, zone)
			if err != nil {
				return filterErr(err)
			}
			if ok {
				keep = append(keep, it)
			}
		}
	}
	ms := davxml.NewMultistatus()
	if err := h.renderItems(ctx, ms, acct, f, keep, rep.Prop, rep.AllProp != nil, rep.PropName != nil, data); err != nil {
		return err
	}
	writeMultistatus(w, ms)
	return nil
}

// hrefName returns the resource name of an href inside collection f.
func hrefName(href string, f *folder) (string, bool) {
	u, err := url.Parse(href)
	if err != nil {
		return "", false
	}
	ep := u.EscapedPath()
	base := f.href()
	rest, ok := strings.CutPrefix(ep, base)
	if !ok {
		// Clients may escape differently: compare unescaped.
		p, _ := url.PathUnescape(ep)
		b, _ := url.PathUnescape(base)
		if rest, ok = strings.CutPrefix(p, b); !ok || strings.Contains(rest, "/") {
			return "", false
		}
		return rest, item.ValidName(rest)
	}
	name, err := url.PathUnescape(rest)
	return name, err == nil && item.ValidName(name)
}

func (h *Handler) multiget(ctx context.Context, w http.ResponseWriter, acct storage.Account, f *folder, rep *davxml.Report) error {
	var names []string
	hrefOf := map[string]string{}
	var bad []string
	for _, href := range rep.Hrefs {
		name, ok := hrefName(strings.TrimSpace(href), f)
		if !ok {
			bad = append(bad, href)
			continue
		}
		names = append(names, name)
		hrefOf[name] = href
	}
	ms := davxml.NewMultistatus()
	var items []storage.Item
	for len(names) > 0 {
		n := min(len(names), 500)
		part, err := h.c.Store.Items(ctx, f.mb.ID, storage.ItemQuery{Names: names[:n], Data: true})
		if err != nil {
			return err
		}
		items = append(items, part...)
		names = names[n:]
	}
	for _, it := range items {
		delete(hrefOf, it.Name)
	}
	if err := h.renderItems(ctx, ms, acct, f, items, rep.Prop, rep.AllProp != nil, rep.PropName != nil, nil); err != nil {
		return err
	}
	for _, href := range hrefOf {
		ms.Status(href, "HTTP/1.1 404 Not Found")
	}
	for _, href := range bad {
		ms.Status(href, "HTTP/1.1 404 Not Found")
	}
	writeMultistatus(w, ms)
	return nil
}

func (h *Handler) addressbookQuery(ctx context.Context, w http.ResponseWriter, acct storage.Account, f *folder, rep *davxml.Report) error {
	items, err := h.c.Store.Items(ctx, f.mb.ID, storage.ItemQuery{Data: true})
	if err != nil {
		return err
	}
	var filters []davxml.PropFilter
	test := ""
	if rep.Filter != nil {
		filters, test = rep.Filter.PropFilters, rep.Filter.Test
	}
	data, err := h.payloads(ctx, f.mb.ID, items)
	if err != nil {
		return err
	}
	limit := 0
	if rep.Limit != nil && rep.Limit.NResults > 0 {
		limit = rep.Limit.NResults
	}
	var keep []storage.Item
	truncated := false
	for _, it := range items {
		d, ok := data[it.UID]
		if !ok {
			continue
		}
		card, err := item.DecodeContact(d)
		if err != nil {
			continue
		}
		ok, err = carddav.Match(test, filters, card)
		if err != nil {
			if errors.Is(err, davxml.ErrCollation) {
				return errPre(http.StatusForbidden, davxml.NSCardDAV, "supported-collation", "unsupported collation")
			}
			return errPre(http.StatusForbidden, davxml.NSCardDAV, "supported-filter", err.Error())
		}
		if !ok {
			continue
		}
		if limit > 0 && len(keep) == limit {
			truncated = true
			break
		}
		keep = append(keep, it)
	}
	ms := davxml.NewMultistatus()
	if err := h.renderItems(ctx, ms, acct, f, keep, rep.Prop, rep.AllProp != nil, rep.PropName != nil, data); err != nil {
		return err
	}
	if truncated {
		// RFC 6352 8.6.1: the request-URI with 507 says results were cut.
		ms.Status(f.href(), "HTTP/1.1 507 Insufficient Storage")
	}
	writeMultistatus(w, ms)
	return nil
}

// syncCollection answers RFC 6578 with the folder's modseq as the token:
// members changed since the token with their properties, removed ones
// with 404.
func (h *Handler) syncCollection(ctx context.Context, w http.ResponseWriter, acct storage.Account, f *folder, rep *davxml.Report) error {
	if lvl := strings.TrimSpace(rep.SyncLevel); lvl != "" && lvl != "1" {
		return errPre(http.StatusForbidden, davxml.NSDAV, "sync-traversal-supported", "only sync-level 1 is supported")
	}
	since, ok := parseSyncToken(strings.TrimSpace(rep.SyncToken), f.mb)
	if !ok {
		return errPre(http.StatusForbidden, davxml.NSDAV, "valid-sync-token", "the sync token is not valid for this collection")
	}
	ch, err := h.c.Store.ItemChangesSince(ctx, f.mb.ID, since)
	if err != nil {
		return err
	}
	ms := davxml.NewMultistatus()
	if err := h.renderItems(ctx, ms, acct, f, ch.Changed, rep.Prop, rep.AllProp != nil, rep.PropName != nil, nil); err != nil {
		return err
	}
	if since > 0 {
		for _, name := range ch.Removed {
			ms.Status(f.objectHref(name), "HTTP/1.1 404 Not Found")
		}
	}
	ms.Raw("<D:sync-token>" + davxml.Escape(syncToken(f.mb, ch.ModSeq)) + "</D:sync-token>")
	writeMultistatus(w, ms)
	return nil
}

// freeBusyQuery answers RFC 4791 7.10 for one calendar collection.
func (h *Handler) freeBusyQuery(ctx context.Context, w http.ResponseWriter, f *folder, rep *davxml.Report) error {
	if rep.TimeRange == nil {
		return errPre(http.StatusBadRequest, davxml.NSCalDAV, "valid-filter", "free-busy-query needs a time-range")
	}
	r, err := caldav.ParseRange(rep.TimeRange)
	if err != nil || r.Start.IsZero() || r.End.IsZero() {
		return errPre(http.StatusBadRequest, davxml.NSCalDAV, "valid-filter", "free-busy-query needs a time-range with start and end")
	}
	busy, err := h.busy(ctx, []folder{*f}, r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(caldav.FreeBusyCalendar(busy, r, "", h.c.Now()))
	return nil
}

// busy computes the busy periods of the event folders in r from the
// index alone, each folder's floating times read in its
// calendar-timezone.
func (h *Handler) busy(ctx context.Context, fs []folder, r caldav.Range) ([]caldav.Busy, error) {
	var all []item.Instance
	for _, f := range fs {
		if item.BaseType(f.typ) != storage.FolderTypeEvent {
			continue
		}
		fr := r
		zone, err := h.floatingZone(ctx, &f, "")
		if err != nil {
			return nil, err
		}
		fr.Floating = zone
		w := fr.Widen()
		items, err := h.c.Store.Items(ctx, f.mb.ID, storage.ItemQuery{Start: w.Start, End: w.End})
		if err != nil {
			return nil, err
		}
		for i := range items {
			if items[i].Index.Kind != storage.ItemEvent {
				continue
			}
			ins, _, err := caldav.Instances(&items[i].Index, fr)
			if err != nil {
				continue
			}
			all = append(all, ins...)
		}
	}
	return caldav.FreeBusy(all, r), nil
}

// floatingZone returns the zone floating times of calendar f are read in
// (RFC 4791 9.9): the request's CALDAV:timezone (RFC 4791 9.8) when it has
// one, else the calendar's CALDAV:calendar-timezone; nil (UTC) when
// neither is set. A request's time zone that is no single VTIMEZONE is
// refused with valid-calendar-data; a stored one that no longer parses is
// ignored.
func (h *Handler) floatingZone(ctx context.Context, f *folder, requested string) (*item.Zone, error) {
	if strings.TrimSpace(requested) != "" {
		z, _, err := item.ParseTimezone([]byte(requested))
		if err != nil {
			return nil, errPre(http.StatusForbidden, davxml.NSCalDAV, "valid-calendar-data", "the timezone of the request: "+err.Error())
		}
		return &z, nil
	}
	md, err := h.c.Store.GetMetadata(ctx, f.owner.ID, f.mb.ID, []string{metaCalTimezone}, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range md {
		if e.Name == metaCalTimezone && len(e.Value) > 0 {
			if z, _, err := item.ParseTimezone(e.Value); err == nil {
				return &z, nil
			}
		}
	}
	return nil, nil
}
