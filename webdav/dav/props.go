package dav

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/webdav/davxml"
)

func dn(ns, local string) xml.Name { return xml.Name{Space: ns, Local: local} }

var (
	pResourceType     = dn(davxml.NSDAV, "resourcetype")
	pDisplayName      = dn(davxml.NSDAV, "displayname")
	pCurrentPrincipal = dn(davxml.NSDAV, "current-user-principal")
	pPrincipalURL     = dn(davxml.NSDAV, "principal-URL")
	pPrincipalColl    = dn(davxml.NSDAV, "principal-collection-set")
	pOwner            = dn(davxml.NSDAV, "owner")
	pPrivileges       = dn(davxml.NSDAV, "current-user-privilege-set")
	pReports          = dn(davxml.NSDAV, "supported-report-set")
	pSyncToken        = dn(davxml.NSDAV, "sync-token")
	pETag             = dn(davxml.NSDAV, "getetag")
	pContentType      = dn(davxml.NSDAV, "getcontenttype")
	pCTag             = dn(davxml.NSCS, "getctag")
	pCalHome          = dn(davxml.NSCalDAV, "calendar-home-set")
	pCalUserAddr      = dn(davxml.NSCalDAV, "calendar-user-address-set")
	pCardHome         = dn(davxml.NSCardDAV, "addressbook-home-set")
	pCompSet          = dn(davxml.NSCalDAV, "supported-calendar-component-set")
	pCalData          = dn(davxml.NSCalDAV, "calendar-data")
	pSupportedCalData = dn(davxml.NSCalDAV, "supported-calendar-data")
	pCalMaxSize       = dn(davxml.NSCalDAV, "max-resource-size")
	pCalDescription   = dn(davxml.NSCalDAV, "calendar-description")
	pCalColor         = dn(davxml.NSApple, "calendar-color")
	pCalOrder         = dn(davxml.NSApple, "calendar-order")
	pCalTimezone      = dn(davxml.NSCalDAV, "calendar-timezone")
	pAddrData         = dn(davxml.NSCardDAV, "address-data")
	pSupportedAddr    = dn(davxml.NSCardDAV, "supported-address-data")
	pCardMaxSize      = dn(davxml.NSCardDAV, "max-resource-size")
	pCardDescription  = dn(davxml.NSCardDAV, "addressbook-description")
)

// Collection properties stored as folder metadata (RFC 5464), so IMAP
// clients see them too.
var metaEntries = map[xml.Name]string{
	pDisplayName:     "/shared/vendor/floe/displayname",
	pCalDescription:  "/shared/comment",
	pCardDescription: "/shared/comment",
	pCalColor:        "/shared/vendor/kolab/color",
	pCalOrder:        "/shared/vendor/floe/calendar-order",
	pCalTimezone:     metaCalTimezone,
}

// metaCalTimezone holds a calendar's CALDAV:calendar-timezone (RFC 4791
// 5.2.2): an iCalendar object with one VTIMEZONE, the zone floating times
// of the calendar are read in.
const metaCalTimezone = "/shared/vendor/floe/calendar-timezone"

// props is the set of properties a resource has, rendered.
type props map[xml.Name]string

func (p props) set(n xml.Name, inner string) { p[n] = davxml.Element(n, inner) }

func hrefXML(h string) string { return "<D:href>" + davxml.Escape(h) + "</D:href>" }

// privilegeXML maps RFC 4314 rights to WebDAV ACL privileges (RFC 3744),
// with SPEC §7's reading of the letters: Read = lrs, Write = i (create
// items: bind), Modify = w (change items: write-content), Delete = te
// (unbind), Administer = a.
func privilegeXML(rights string) string {
	var b strings.Builder
	priv := func(p string) { b.WriteString("<D:privilege><D:" + p + "/></D:privilege>") }
	if has(rights, "r") {
		priv("read")
		b.WriteString("<D:privilege><C:read-free-busy/></D:privilege>")
	}
	if has(rights, "i") {
		priv("bind")
	}
	if has(rights, "t") && has(rights, "e") {
		priv("unbind")
	}
	if has(rights, "w") {
		priv("write-content")
	}
	if has(rights, "w") || has(rights, "a") {
		priv("write-properties")
	}
	if has(rights, "w") && has(rights, "i") && has(rights, "t") && has(rights, "e") {
		priv("write")
	}
	if strings.Count(rights, "") > len(allRights) {
		priv("all")
	}
	return b.String()
}

func (h *Handler) principalProps(acct storage.Account) props {
	p := props{}
	p.set(pResourceType, "<D:principal/>")
	p.set(pDisplayName, davxml.Escape(acct.Address))
	p.set(pPrincipalURL, hrefXML(principalHref(acct.Address)))
	p.set(pCurrentPrincipal, hrefXML(principalHref(acct.Address)))
	p.set(pCalHome, hrefXML(homeHref(acct.Address, false)))
	p.set(pCardHome, hrefXML(homeHref(acct.Address, true)))
	p.set(pCalUserAddr, hrefXML("mailto:"+acct.Address))
	p.set(pPrincipalColl, hrefXML(Prefix+"principals/"))
	return p
}

func (h *Handler) rootProps(acct storage.Account) props {
	p := props{}
	p.set(pResourceType, "<D:collection/>")
	p.set(pCurrentPrincipal, hrefXML(principalHref(acct.Address)))
	p.set(pPrincipalColl, hrefXML(Prefix+"principals/"))
	p.set(pCalHome, hrefXML(homeHref(acct.Address, false)))
	p.set(pCardHome, hrefXML(homeHref(acct.Address, true)))
	return p
}

func (h *Handler) homeProps(acct storage.Account, card bool) props {
	p := props{}
	p.set(pResourceType, "<D:collection/>")
	p.set(pDisplayName, davxml.Escape(acct.Address))
	p.set(pCurrentPrincipal, hrefXML(principalHref(acct.Address)))
	p.set(pOwner, hrefXML(principalHref(acct.Address)))
	p.set(pPrivileges, privilegeXML("lr"))
	if !card {
		h.attachmentProps(p)
	}
	return p
}

func compSetXML(typ string) string {
	var b strings.Builder
	for _, k := range item.KindsOf(typ) {
		fmt.Fprintf(&b, `<C:comp name="%s"/>`, map[storage.ItemKind]string{storage.ItemEvent: "VEVENT", storage.ItemTodo: "VTODO", storage.ItemJournal: "VJOURNAL"}[k])
	}
	return b.String()
}

func (h *Handler) collectionProps(ctx context.Context, acct storage.Account, f *folder) (props, error) {
	p := props{}
	leaf := f.mb.Name
	if i := strings.LastIndexByte(leaf, '/'); i >= 0 {
		leaf = leaf[i+1:]
	}
	names := []string{"/shared/vendor/floe/displayname", "/shared/comment", "/shared/vendor/kolab/color", "/shared/vendor/floe/calendar-order", metaCalTimezone}
	md, err := h.c.Store.GetMetadata(ctx, f.owner.ID, f.mb.ID, names, 0)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{}
	for _, e := range md {
		meta[e.Name] = string(e.Value)
	}
	display := leaf
	if f.owner.ID != acct.ID {
		display = leaf + " (" + f.owner.Address + ")"
	}
	if v := meta["/shared/vendor/floe/displayname"]; v != "" {
		display = v
	}
	p.set(pDisplayName, davxml.Escape(display))
	p.set(pOwner, hrefXML(principalHref(f.owner.Address)))
	p.set(pCurrentPrincipal, hrefXML(principalHref(acct.Address)))
	p.set(pPrivileges, privilegeXML(f.rights))
	p.set(pCTag, davxml.Escape(ctag(f.mb)))
	p.set(pSyncToken, davxml.Escape(syncToken(f.mb, f.mb.HighestModSeq)))
	if f.card() {
		p.set(pResourceType, "<D:collection/><CR:addressbook/>")
		p.set(pSupportedAddr, `<CR:address-data-type content-type="text/vcard" version="3.0"/><CR:address-data-type content-type="text/vcard" version="4.0"/>`)
		p.set(pCardMaxSize, fmt.Sprint(h.c.MaxResourceSize))
		if v := meta["/shared/comment"]; v != "" {
			p.set(pCardDescription, davxml.Escape(v))
		}
		p.set(pReports, reportSet("CR:addressbook-query", "CR:addressbook-multiget", "D:sync-collection"))
		return p, nil
	}
	p.set(pResourceType, "<D:collection/><C:calendar/>")
	p.set(pCompSet, compSetXML(f.typ))
	p.set(pSupportedCalData, `<C:calendar-data content-type="text/calendar" version="2.0"/>`)
	p.set(pCalMaxSize, fmt.Sprint(h.c.MaxResourceSize))
	if v := meta["/shared/comment"]; v != "" {
		p.set(pCalDescription, davxml.Escape(v))
	}
	if v := meta["/shared/vendor/kolab/color"]; v != "" {
		p.set(pCalColor, davxml.Escape(v))
	}
	if v := meta["/shared/vendor/floe/calendar-order"]; v != "" {
		p.set(pCalOrder, davxml.Escape(v))
	}
	if v := meta[metaCalTimezone]; v != "" {
		p.set(pCalTimezone, string(davxml.AppendCharData(nil, []byte(v))))
	}
	p.set(pReports, reportSet("C:calendar-query", "C:calendar-multiget", "D:sync-collection", "C:free-busy-query"))
	h.attachmentProps(p)
	return p, nil
}

func reportSet(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString("<D:supported-report><D:report><" + n + "/></D:report></D:supported-report>")
	}
	return b.String()
}

// objectProps are the properties of an item without its data.
func objectProps(f *folder, it *storage.Item) props {
	p := make(props, 3)
	p[pResourceType] = resourceTypeEmpty
	p.set(pETag, davxml.Escape(etag(it)))
	if f.card() {
		p[pContentType] = contentTypeVCard
	} else {
		p[pContentType] = contentTypeCalendar[it.Index.Kind]
	}
	return p
}

// Rendered object properties that do not depend on the object.
var (
	resourceTypeEmpty   = davxml.Element(pResourceType, "")
	contentTypeVCard    = davxml.Element(pContentType, "text/vcard; charset=utf-8")
	contentTypeCalendar = map[storage.ItemKind]string{
		storage.ItemEvent:   davxml.Element(pContentType, "text/calendar; charset=utf-8; component=vevent"),
		storage.ItemTodo:    davxml.Element(pContentType, "text/calendar; charset=utf-8; component=vtodo"),
		storage.ItemJournal: davxml.Element(pContentType, "text/calendar; charset=utf-8; component=vjournal"),
		"":                  davxml.Element(pContentType, "text/calendar; charset=utf-8; component="),
	}
)

// allProps are the properties DAV:allprop returns (not calendar-data or
// address-data, RFC 4791 9.6).
func allProps(p props) []xml.Name {
	var out []xml.Name
	for n := range p {
		out = append(out, n)
	}
	return out
}

// respond renders the requested properties of one resource: found ones
// with 200, unknown ones with 404.
func respond(ms *davxml.Multistatus, href string, p props, req *davxml.PropList, all, names bool, extra map[xml.Name]string) {
	ok, missing := collect(p, req, all, names, extra, xml.Name{})
	ms.Response(href, davxml.Propstat{Status: "HTTP/1.1 200 OK", Props: ok}, davxml.Propstat{Status: "HTTP/1.1 404 Not Found", Props: missing})
}

// collect renders the requested properties of one resource: found ones in
// ok, unknown ones in missing. A property named skip is left out of both
// (the caller writes it itself).
func collect(p props, req *davxml.PropList, all, names bool, extra map[xml.Name]string, skip xml.Name) (ok, missing []string) {
	switch {
	case names:
		for n := range p {
			ok = append(ok, davxml.EmptyElement(n))
		}
	case all || req == nil:
		for _, n := range allProps(p) {
			ok = append(ok, p[n])
		}
	default:
		for _, a := range req.Props {
			if a.XMLName == skip && skip.Local != "" {
				continue
			}
			if v, found := extra[a.XMLName]; found {
				ok = append(ok, v)
			} else if v, found := p[a.XMLName]; found {
				ok = append(ok, v)
			} else {
				missing = append(missing, davxml.EmptyElement(a.XMLName))
			}
		}
	}
	return ok, missing
}

func (h *Handler) propfind(ctx context.Context, w http.ResponseWriter, r *http.Request, acct storage.Account, t target) error {
	body, err := h.readXML(r)
	if err != nil {
		return err
	}
	var pf davxml.Propfind
	if body != nil {
		if err := davxml.Unmarshal(body, &pf); err != nil {
			return errStatus(http.StatusBadRequest)
		}
	}
	all := body == nil || pf.AllProp != nil
	names := pf.PropName != nil
	depth1 := r.Header.Get("Depth") != "0"
	ms := davxml.NewMultistatus()
	switch t.kind {
	case "root":
		respond(ms, Prefix, h.rootProps(acct), pf.Prop, all, names, nil)
		if depth1 {
			respond(ms, principalHref(acct.Address), h.principalProps(acct), pf.Prop, all, names, nil)
		}
	case "principals":
		p := props{}
		p.set(pResourceType, "<D:collection/>")
		p.set(pCurrentPrincipal, hrefXML(principalHref(acct.Address)))
		respond(ms, Prefix+"principals/", p, pf.Prop, all, names, nil)
		if depth1 {
			respond(ms, principalHref(acct.Address), h.principalProps(acct), pf.Prop, all, names, nil)
		}
	case "principal":
		respond(ms, principalHref(acct.Address), h.principalProps(acct), pf.Prop, all, names, nil)
	case "calhome", "cardhome":
		respond(ms, homeHref(acct.Address, t.card), h.homeProps(acct, t.card), pf.Prop, all, names, nil)
		if depth1 {
			fs, err := h.folders(ctx, acct, t.card)
			if err != nil {
				return err
			}
			for i := range fs {
				p, err := h.collectionProps(ctx, acct, &fs[i])
				if err != nil {
					return err
				}
				respond(ms, fs[i].href(), p, pf.Prop, all, names, nil)
			}
		}
	case "calendar", "addressbook":
		f, err := h.lookupFolder(ctx, acct, t)
		if err != nil {
			return err
		}
		p, err := h.collectionProps(ctx, acct, &f)
		if err != nil {
			return err
		}
		respond(ms, f.href(), p, pf.Prop, all, names, nil)
		if depth1 {
			items, err := h.c.Store.Items(ctx, f.mb.ID, storage.ItemQuery{})
			if err != nil {
				return err
			}
			if err := h.renderItems(ctx, ms, acct, &f, items, pf.Prop, all, names, nil); err != nil {
				return err
			}
		}
	case "object":
		f, err := h.lookupFolder(ctx, acct, t)
		if err != nil {
			return err
		}
		items, err := h.c.Store.Items(ctx, f.mb.ID, storage.ItemQuery{Names: []string{t.name}})
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return errStatus(http.StatusNotFound)
		}
		if err := h.renderItems(ctx, ms, acct, &f, items, pf.Prop, all, names, nil); err != nil {
			return err
		}
	}
	writeMultistatus(w, ms)
	return nil
}

// proppatch sets or removes the collection properties clients edit
// (displayname, calendar-color, calendar-description, calendar-order,
// addressbook-description), stored as folder metadata. Others fail with
// 403; the whole request is atomic (RFC 4918 9.2).
func (h *Handler) proppatch(ctx context.Context, w http.ResponseWriter, r *http.Request, acct storage.Account, t target) error {
	if t.kind != "calendar" && t.kind != "addressbook" {
		return errStatus(http.StatusForbidden)
	}
	f, err := h.lookupFolder(ctx, acct, t)
	if err != nil {
		return err
	}
	if !has(f.rights, "wa") {
		return errStatus(http.StatusForbidden)
	}
	body, err := h.readXML(r)
	if err != nil {
		return err
	}
	var pu davxml.Propertyupdate
	if body == nil || davxml.Unmarshal(body, &pu) != nil {
		return errStatus(http.StatusBadRequest)
	}
	set, remove := davxml.SetProps(pu.Ops)
	entries, bad := metaUpdates(set, remove)
	ms := davxml.NewMultistatus()
	href := f.href()
	var ok []string
	for _, p := range append(set, remove...) {
		ok = append(ok, davxml.EmptyElement(p.XMLName))
	}
	if len(bad) > 0 {
		var dep []string
		for _, p := range ok {
			if !contains(bad, p) {
				dep = append(dep, p)
			}
		}
		ms.Response(href, davxml.Propstat{Status: "HTTP/1.1 403 Forbidden", Props: bad}, davxml.Propstat{Status: "HTTP/1.1 424 Failed Dependency", Props: dep})
		writeMultistatus(w, ms)
		return nil
	}
	if len(entries) > 0 {
		if err := h.c.Store.SetMetadata(ctx, f.owner.ID, f.mb.ID, entries); err != nil {
			return err
		}
	}
	ms.Response(href, davxml.Propstat{Status: "HTTP/1.1 200 OK", Props: ok})
	writeMultistatus(w, ms)
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// maxTimezone bounds a stored CALDAV:calendar-timezone.
const maxTimezone = 32 << 10

// metaUpdates maps set/remove of collection properties to metadata
// entries; bad lists the rendered names of properties that cannot be set.
func metaUpdates(set, remove []davxml.Any) (entries []storage.MetadataEntry, bad []string) {
	for _, p := range set {
		name, ok := metaEntries[p.XMLName]
		v := p.Text()
		limit := 4096
		if p.XMLName == pCalTimezone {
			// RFC 4791 5.2.2: one valid VTIMEZONE (valid-calendar-data).
			limit = maxTimezone
			if ok {
				_, _, err := item.ParseTimezone([]byte(v))
				ok = err == nil
			}
		}
		if !ok || len(v) > limit {
			bad = append(bad, davxml.EmptyElement(p.XMLName))
			continue
		}
		entries = append(entries, storage.MetadataEntry{Name: name, Value: []byte(v)})
	}
	for _, p := range remove {
		name, ok := metaEntries[p.XMLName]
		if !ok {
			bad = append(bad, davxml.EmptyElement(p.XMLName))
			continue
		}
		entries = append(entries, storage.MetadataEntry{Name: name})
	}
	return entries, bad
}

// mkcol creates a calendar (MKCALENDAR, or extended MKCOL with a calendar
// resourcetype) or an address book (extended MKCOL with addressbook): a
// new typed folder with the properties of the body.
func (h *Handler) mkcol(ctx context.Context, w http.ResponseWriter, r *http.Request, acct storage.Account, t target) error {
	if t.kind != "calendar" && t.kind != "addressbook" {
		return errStatus(http.StatusForbidden)
	}
	body, err := h.readXML(r)
	if err != nil {
		return err
	}
	var mk davxml.Mkcol
	if body != nil {
		if err := davxml.Unmarshal(body, &mk); err != nil {
			return errStatus(http.StatusBadRequest)
		}
	}
	set, _ := davxml.SetProps(mk.Sets)
	typ := storage.FolderTypeEvent
	if t.card {
		typ = storage.FolderTypeContact
	}
	isCal, isCard := r.Method == "MKCALENDAR", false
	var rest []davxml.Any
	for _, p := range set {
		switch p.XMLName {
		case pResourceType:
			for _, c := range p.Children {
				isCal = isCal || c.XMLName == dn(davxml.NSCalDAV, "calendar")
				isCard = isCard || c.XMLName == dn(davxml.NSCardDAV, "addressbook")
			}
		case pCompSet:
			kinds := map[string]bool{}
			for _, c := range p.Children {
				for _, a := range attrsOf(c) {
					kinds[strings.ToUpper(a)] = true
				}
			}
			switch {
			case kinds["VEVENT"]:
			case kinds["VTODO"]:
				typ = storage.FolderTypeTask
			case kinds["VJOURNAL"]:
				typ = storage.FolderTypeJournal
			}
		default:
			rest = append(rest, p)
		}
	}
	if (t.card && !isCard) || (!t.card && !isCal) {
		return errPre(http.StatusForbidden, davxml.NSDAV, "valid-resourcetype", "the collection type does not fit this home")
	}
	entries, bad := metaUpdates(rest, nil)
	if len(bad) > 0 {
		return errPre(http.StatusForbidden, davxml.NSDAV, "valid-resourcetype", "a property cannot be set")
	}
	mb, err := h.c.Store.CreateMailbox(ctx, acct.ID, t.folder, "")
	if err != nil {
		if errorsIs(err, storage.ErrExists) {
			return errPre(http.StatusMethodNotAllowed, davxml.NSDAV, "resource-must-be-null", "a folder of that name exists")
		}
		return err
	}
	entries = append(entries, storage.MetadataEntry{Name: storage.FolderTypeEntry, Value: []byte(typ)})
	if err := h.c.Store.SetMetadata(ctx, acct.ID, mb.ID, entries); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// attrsOf returns the name attributes of an element.
func attrsOf(a davxml.Any) []string {
	var out []string
	for _, at := range a.Attrs {
		if at.Name.Local == "name" {
			out = append(out, at.Value)
		}
	}
	return out
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
