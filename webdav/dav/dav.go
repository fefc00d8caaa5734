// Package dav serves the typed IMAP folders of Floe as CalDAV calendars
// (RFC 4791) and CardDAV address books (RFC 6352), with discovery (RFC
// 6764, RFC 5397), sync-collection (RFC 6578), getctag, extended MKCOL
// (RFC 5689), PROPPATCH of the collection properties clients set, and
// free/busy both as a CalDAV REPORT and at the Internet Free/Busy URL
// (/freebusy/?user@domain).
//
// The handlers are Floe's own: go-webdav v0.6.0's handlers have no
// sync-collection, PROPPATCH, privileges, free-busy-query or request
// limits, so they are not used here (its clients test this package). The
// data logic is in webdav/caldav, webdav/carddav and storage/item; this
// package translates HTTP to storage calls, once per request.
//
// URL layout (Prefix is "/dav/"):
//
//	/.well-known/caldav, /.well-known/carddav  -> 301 to /dav/
//	/dav/                                     root: current-user-principal
//	/dav/principals/<user>/                   the principal
//	/dav/calendars/<user>/                    calendar home (event, task,
//	                                          journal and note folders)
//	/dav/calendars/<user>/<folder>/<name>     calendar object (<folder> is
//	                                          the IMAP name, one segment per
//	                                          level: ~jane@example.test/Calendar)
//	/dav/addressbooks/<user>/                 address book home
//	/dav/addressbooks/<user>/<folder>/<name>  address object
//	/freebusy/?user@domain, /freebusy/user@domain   free/busy (FreeBusy)
//
// A path below a home ending with "/" or naming a visible folder is a
// collection; otherwise its last segment is an object (resolve). Every write goes through the item format of storage/item into one
// storage.Deliver, so a DAV PUT is at once an IMAP message.
package dav

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/webdav/davxml"
)

// Config is what a Handler needs.
type Config struct {
	Store storage.Store
	// Authenticate returns the account of an authenticated request (the
	// server's HTTP Basic authentication). ok is false for an anonymous
	// request, which gets 401.
	Authenticate func(r *http.Request) (acct storage.Account, ok bool)
	// Access returns the principal's window on the store (storage/view
	// when sharing is wired); nil, or a nil result: OwnerAccess.
	Access func(r *http.Request, acct storage.Account) Access
	// EnsureFolders, when set, creates the account's missing groupware
	// folders (the server's, shared with its login hook); nil: the
	// Handler does it itself, once per account.
	EnsureFolders func(ctx context.Context, acct storage.Account) error
	// MaxResourceSize is the largest calendar or address object accepted
	// by PUT (413 with max-resource-size beyond it); 0: 10 MiB.
	MaxResourceSize int64
	// XMLLimits bound request bodies; zero: davxml.DefaultLimits.
	XMLLimits davxml.Limits
	// FreeBusy configures the /freebusy URL.
	FreeBusy FreeBusyConfig
	// WebDAVURL returns the public URL of the WebDAV file folders
	// ("https://mail.example.org/webdav/"), where the attachments of
	// calendar items live: with it, CalDAV managed attachments (RFC 8607,
	// attach.go) are on; nil: off.
	WebDAVURL func() string
	// MaxAttachmentSize bounds one managed attachment (413 with
	// max-attachment-size above it); 0: 100 MiB. MaxAttachments bounds the
	// managed attachments of one item's component; 0: 20.
	MaxAttachmentSize int64
	MaxAttachments    int
	Log               *slog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Prefix is where the DAV tree is mounted.
const Prefix = "/dav/"

// Handler serves CalDAV and CardDAV.
type Handler struct {
	c       Config
	ensured sync.Map // storage.AccountID -> true: groupware folders exist
}

// ensure creates the account's missing groupware folders once per
// account and Handler (accounts from before groupware, or added while
// the server runs).
func (h *Handler) ensure(ctx context.Context, acct storage.Account) error {
	if h.c.EnsureFolders != nil {
		return h.c.EnsureFolders(ctx, acct)
	}
	if _, ok := h.ensured.Load(acct.ID); ok {
		return nil
	}
	if _, err := h.c.Store.EnsureGroupwareMailboxes(ctx, acct.ID); err != nil {
		return err
	}
	h.ensured.Store(acct.ID, true)
	return nil
}

// New returns a Handler for c.
func New(c Config) *Handler {
	if c.MaxResourceSize <= 0 {
		c.MaxResourceSize = 10 << 20
	}
	if c.XMLLimits.MaxBytes == 0 {
		c.XMLLimits = davxml.DefaultLimits
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxAttachmentSize <= 0 {
		c.MaxAttachmentSize = 100 << 20
	}
	if c.MaxAttachments <= 0 {
		c.MaxAttachments = 20
	}
	c.FreeBusy.defaults()
	return &Handler{c: c}
}

// httpError is an error with its HTTP answer.
type httpError struct {
	status       int
	ns, pre, why string // precondition element and reason (optional)
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s %s", e.status, e.pre, e.why) }

func errStatus(status int) error { return &httpError{status: status} }

func errPre(status int, ns, pre, why string) error {
	return &httpError{status: status, ns: ns, pre: pre, why: why}
}

// ServeHTTP serves /.well-known/caldav, /.well-known/carddav and /dav/,
// and PROPFIND and OPTIONS on / (as /dav/: clients configured with the
// bare server URL start there).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			h.c.Log.Error("panic in DAV handler", "panic", v, "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	p := r.URL.Path
	if p == "/.well-known/caldav" || p == "/.well-known/carddav" || p == "/.well-known/caldav/" || p == "/.well-known/carddav/" {
		// RFC 6764 5: the context path. Methods other than GET keep
		// their method and body across a 307 (a PROPFIND would turn
		// into a GET after a 301 in some clients).
		code := http.StatusMovedPermanently
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			code = http.StatusTemporaryRedirect
		}
		http.Redirect(w, r, Prefix, code)
		return
	}
	acct, ok := h.c.Authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="Floe", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	if err := h.ensure(r.Context(), acct); err != nil {
		h.writeError(w, r, err)
		return
	}
	r = r.WithContext(withAccess(r.Context(), h.accessFor(r, acct)))
	err := h.serve(w, r, acct)
	if err != nil {
		h.writeError(w, r, err)
	}
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
	case errors.Is(err, storage.ErrNoMailbox), errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrNoAccount):
		he = &httpError{status: http.StatusNotFound}
	case errors.Is(err, storage.ErrPermission):
		he = &httpError{status: http.StatusForbidden}
	case errors.Is(err, storage.ErrOverQuota):
		he = &httpError{status: http.StatusInsufficientStorage, ns: davxml.NSDAV, pre: "quota-not-exceeded", why: "the account is over its quota"}
	case errors.Is(err, storage.ErrExists):
		he = &httpError{status: http.StatusMethodNotAllowed}
	case errors.Is(err, storage.ErrInvalid):
		he = &httpError{status: http.StatusBadRequest}
	case errors.Is(err, davxml.ErrTooLarge):
		he = &httpError{status: http.StatusRequestEntityTooLarge}
	case errors.Is(err, davxml.ErrTooDeep), errors.Is(err, davxml.ErrSyntax):
		he = &httpError{status: http.StatusBadRequest}
	case errors.Is(err, context.Canceled):
		return
	default:
		h.c.Log.Error("DAV request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		he = &httpError{status: http.StatusInternalServerError}
	}
	if he.pre != "" {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(he.status)
		w.Write(davxml.ErrorBody(he.ns, he.pre, he.why))
		return
	}
	http.Error(w, http.StatusText(he.status), he.status)
}

// target is a parsed request path.
type target struct {
	kind   string // "root", "principals", "principal", "calhome", "cardhome", "calendar", "addressbook", "object"
	user   string
	folder string   // IMAP name
	name   string   // resource name
	card   bool     // addressbook side
	rest   []string // the segments below the home
	slash  bool     // the path ends with "/": a collection
}

// resolve decides whether a path below a home names a collection or an
// object: a path ending with "/", naming a visible folder, or used to
// create a collection, is a collection; otherwise, when the path without
// its last segment names a visible folder, it is an object of it.
func (h *Handler) resolve(ctx context.Context, acct storage.Account, t *target, method string) error {
	if t.kind != "calendar" && t.kind != "addressbook" {
		return nil
	}
	if t.slash || method == "MKCOL" || method == "MKCALENDAR" || len(t.rest) < 2 {
		return nil
	}
	if _, ok, err := h.findFolder(ctx, acct, t.card, t.folder); err != nil || ok {
		return err
	}
	parent := strings.Join(t.rest[:len(t.rest)-1], "/")
	_, isParent, err := h.findFolder(ctx, acct, t.card, parent)
	if err != nil {
		return err
	}
	if isParent || method == http.MethodPut {
		t.kind, t.folder, t.name = "object", parent, t.rest[len(t.rest)-1]
		if !item.ValidName(t.name) {
			return errStatus(http.StatusBadRequest)
		}
	}
	return nil
}

func splitPath(r *http.Request) ([]string, error) {
	ep := r.URL.EscapedPath()
	if ep == "/" {
		return nil, nil // the server root answers like /dav/ (clients given https://host/)
	}
	if !strings.HasPrefix(ep, Prefix) && ep+"/" != Prefix {
		return nil, errStatus(http.StatusNotFound)
	}
	ep = strings.TrimPrefix(strings.TrimPrefix(ep, Prefix[:len(Prefix)-1]), "/")
	var segs []string
	for _, s := range strings.Split(ep, "/") {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, errStatus(http.StatusBadRequest)
		}
		segs = append(segs, u)
	}
	return segs, nil
}

func parseTarget(r *http.Request) (target, error) {
	segs, err := splitPath(r)
	if err != nil {
		return target{}, err
	}
	var t target
	switch {
	case len(segs) == 0:
		t.kind = "root"
	case segs[0] == "principals" && len(segs) == 1:
		t.kind = "principals"
	case segs[0] == "principals" && len(segs) == 2:
		t.kind, t.user = "principal", strings.ToLower(segs[1])
	case segs[0] == "calendars" || segs[0] == "addressbooks":
		t.card = segs[0] == "addressbooks"
		switch {
		case len(segs) == 2:
			t.kind, t.user = "calhome", strings.ToLower(segs[1])
			if t.card {
				t.kind = "cardhome"
			}
		default:
			// A folder name may hold "/" (subfolders, "~owner/Calendar"):
			// the path below the home is the folder, or the folder and
			// an object name; resolve decides which (collectionOrObject).
			t.kind, t.user, t.folder = "calendar", strings.ToLower(segs[1]), strings.Join(segs[2:], "/")
			if t.card {
				t.kind = "addressbook"
			}
			t.rest = segs[2:]
			t.slash = strings.HasSuffix(r.URL.Path, "/")
		}
	default:
		return t, errStatus(http.StatusNotFound)
	}
	return t, nil
}

// Hrefs.
func principalHref(user string) string { return Prefix + "principals/" + url.PathEscape(user) + "/" }
func homeHref(user string, card bool) string {
	if card {
		return Prefix + "addressbooks/" + url.PathEscape(user) + "/"
	}
	return Prefix + "calendars/" + url.PathEscape(user) + "/"
}

// collectionHref is the URL of a folder in user's home: each level of the
// folder's name is one path segment ("~jane@example.test/Calendar").
func collectionHref(user string, card bool, folder string) string {
	parts := strings.Split(folder, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return homeHref(user, card) + strings.Join(parts, "/") + "/"
}
func objectHref(user string, card bool, folder, name string) string {
	return collectionHref(user, card, folder) + url.PathEscape(name)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, acct storage.Account) error {
	t, err := parseTarget(r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodOptions {
		dav := "1, 3, calendar-access, addressbook, extended-mkcol"
		if h.managed() {
			dav += ", " + davManagedAttachments // RFC 8607 3.1
		}
		w.Header().Set("DAV", dav)
		w.Header().Set("Allow", "OPTIONS, GET, HEAD, PUT, POST, DELETE, PROPFIND, PROPPATCH, REPORT, MKCOL, MKCALENDAR")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// Until sharing: a principal sees its own homes only; anything else
	// does not exist for it (never 403: existence is not revealed).
	if t.user != "" && t.user != acct.Address {
		return errStatus(http.StatusNotFound)
	}
	ctx := r.Context()
	if err := h.resolve(ctx, acct, &t, r.Method); err != nil {
		return err
	}
	switch r.Method {
	case "PROPFIND":
		return h.propfind(ctx, w, r, acct, t)
	case "PROPPATCH":
		return h.proppatch(ctx, w, r, acct, t)
	case "REPORT":
		return h.report(ctx, w, r, acct, t)
	case "MKCALENDAR", "MKCOL":
		return h.mkcol(ctx, w, r, acct, t)
	case http.MethodGet, http.MethodHead:
		return h.get(ctx, w, r, acct, t)
	case http.MethodPut:
		return h.put(ctx, w, r, acct, t)
	case http.MethodDelete:
		return h.delete(ctx, w, r, acct, t)
	case http.MethodPost:
		return h.post(ctx, w, r, acct, t)
	}
	return errStatus(http.StatusMethodNotAllowed)
}

// folder is a typed folder as DAV sees it.
type folder struct {
	mb     storage.Mailbox
	name   string // the principal's name for it: the collection's segment
	viewer string // the principal's address: its home holds the collection
	typ    string
	owner  storage.Account
	rights string // RFC 4314 letters the principal has
}

func (f *folder) card() bool { return item.IsContactType(f.typ) }

// href is the collection's URL (in the principal's home).
func (f *folder) href() string { return collectionHref(f.viewer, f.card(), f.name) }

// objectHref is the URL of the resource name in the collection.
func (f *folder) objectHref(name string) string { return objectHref(f.viewer, f.card(), f.name, name) }

// folders returns the principal's calendar (card=false) or address book
// folders, as its Access lists them (from the request context; the
// account's own otherwise), ordered by name.
func (h *Handler) folders(ctx context.Context, acct storage.Account, card bool) ([]folder, error) {
	fs, err := h.access(ctx, acct).Folders(ctx)
	if err != nil {
		return nil, err
	}
	var out []folder
	for _, f := range fs {
		if df, ok := davFolder(acct, card, f); ok {
			out = append(out, df)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// access returns the request's Access (the account's own folders when the
// context carries none).
func (h *Handler) access(ctx context.Context, acct storage.Account) Access {
	if a, ok := ctx.Value(accessKey{}).(Access); ok {
		return a
	}
	return OwnerAccess(h.c.Store, acct)
}

// davFolder is the folder f as this side (card: address books, else
// calendars) serves it; false when f is not of this side or not listable.
func davFolder(acct storage.Account, card bool, f Folder) (folder, bool) {
	if (card && !item.IsContactType(f.Type)) || (!card && !item.IsCalendarType(f.Type)) || !f.Rights.Has(acl.Of(acl.Lookup)) {
		return folder{}, false
	}
	return folder{mb: f.Mailbox, name: f.Name, viewer: acct.Address, typ: f.Type, owner: f.Owner, rights: f.Rights.String()}, true
}

// findFolder returns the folder of this side the principal calls name,
// with one lookup when the Access can (FolderLooker), else from the list.
func (h *Handler) findFolder(ctx context.Context, acct storage.Account, card bool, name string) (folder, bool, error) {
	a := h.access(ctx, acct)
	if l, ok := a.(FolderLooker); ok {
		f, ok, err := l.Lookup(ctx, name)
		if err != nil || !ok {
			return folder{}, false, err
		}
		df, ok := davFolder(acct, card, f)
		return df, ok, nil
	}
	fs, err := h.folders(ctx, acct, card)
	if err != nil {
		return folder{}, false, err
	}
	for _, f := range fs {
		if f.name == name {
			return f, true, nil
		}
	}
	return folder{}, false, nil
}

const allRights = "lrswipkxtea"

// lookupFolder returns the folder of a collection or object target
// (404 when it does not exist, is not typed for this side, or is not
// visible).
func (h *Handler) lookupFolder(ctx context.Context, acct storage.Account, t target) (folder, error) {
	f, ok, err := h.findFolder(ctx, acct, t.card, t.folder)
	if err != nil {
		return folder{}, err
	}
	if !ok {
		return folder{}, errStatus(http.StatusNotFound)
	}
	return f, nil
}

func has(rights string, any string) bool { return strings.ContainsAny(rights, any) }

// etag of an item: its message's content hash, which changes with every
// replacement.
func etag(it *storage.Item) string {
	id := string(it.Blob)
	if len(id) > 32 {
		id = id[:32]
	}
	return `"` + id + `"`
}

// syncToken and ctag of a folder: its UIDVALIDITY and highest modseq,
// which persist across restarts and change with every change.
const syncPrefix = "http://floe.invalid/ns/sync/"

func syncToken(mb storage.Mailbox, modseq storage.ModSeq) string {
	return syncPrefix + strconv.FormatUint(uint64(mb.UIDValidity), 10) + "-" + strconv.FormatUint(uint64(modseq), 10)
}

func ctag(mb storage.Mailbox) string {
	return strconv.FormatUint(uint64(mb.UIDValidity), 10) + "-" + strconv.FormatUint(uint64(mb.HighestModSeq), 10)
}

// parseSyncToken returns the modseq of a token of mb (0 for ""), or
// false when it is not one of mb's.
func parseSyncToken(tok string, mb storage.Mailbox) (storage.ModSeq, bool) {
	if tok == "" {
		return 0, true
	}
	rest, ok := strings.CutPrefix(tok, syncPrefix)
	if !ok {
		return 0, false
	}
	v, m, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	uv, err1 := strconv.ParseUint(v, 10, 32)
	ms, err2 := strconv.ParseUint(m, 10, 64)
	if err1 != nil || err2 != nil || uint32(uv) != mb.UIDValidity || storage.ModSeq(ms) > mb.HighestModSeq {
		return 0, false
	}
	return storage.ModSeq(ms), true
}

// readXML reads a request body within the limits (nil for none).
func (h *Handler) readXML(r *http.Request) ([]byte, error) {
	if r.ContentLength > h.c.XMLLimits.MaxBytes {
		return nil, errStatus(http.StatusRequestEntityTooLarge)
	}
	data, err := davxml.Read(r.Body, h.c.XMLLimits)
	if errors.Is(err, davxml.ErrTooLarge) {
		return nil, errStatus(http.StatusRequestEntityTooLarge)
	}
	if err != nil {
		return nil, errStatus(http.StatusBadRequest)
	}
	return data, nil
}

func writeMultistatus(w http.ResponseWriter, ms *davxml.Multistatus) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	w.Write(ms.Bytes())
}
