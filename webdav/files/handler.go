// Package files serves Floe's file folders over WebDAV (RFC 4918) at
// /webdav/<account address>/<folder path>/<file>: every folder typed
// `file` (storage.FolderTypeEntry) and its subfolders are collections,
// their files are storage.Files (content-addressed blobs, each also a
// message in its folder, so IMAP sees the same files).
//
// golang.org/x/net/webdav serves PROPFIND, PROPPATCH, GET/HEAD, MKCOL,
// COPY, MOVE and DELETE over a webdav.FileSystem backed by storage
// (fsys). The Handler serves itself what x/net/webdav cannot do as Floe
// needs: PUT (streamed into a blob through storage/ingest, 507 past the
// quota), LOCK and UNLOCK (shared and exclusive locks with timeouts:
// x/net/webdav has exclusive ones only), OPTIONS for the Windows
// Mini-Redirector, and before any of it: path checks (traversal, NUL,
// backslashes: 400), XML bodies limited before parsing (413), PROPFIND
// Depth infinity refused (403 propfind-finite-depth, RFC 4918 9.1), and
// the rights of the request (Access; 404 without "l", 403 without the
// right the method needs).
package files

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// Options configures a Handler.
type Options struct {
	Store storage.Store
	// Prefix is the URL path the handler is mounted at ("/webdav/").
	Prefix string
	// Access returns the authorization of the request's principal, false
	// when the request is not authenticated (the handler answers 401).
	Access func(r *http.Request) (Access, bool)
	// Locks is the lock manager (NewLocks); one per server.
	Locks  *Locks
	Logger *slog.Logger
	// MaxXMLBody bounds PROPFIND, PROPPATCH and LOCK bodies (default 1 MiB).
	MaxXMLBody int64
}

// Handler serves the file folders. Create it with New.
type Handler struct {
	o       Options
	locks   *Locks
	log     *slog.Logger
	started time.Time
}

// New returns a Handler.
func New(o Options) *Handler {
	if o.Prefix == "" {
		o.Prefix = "/webdav/"
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.MaxXMLBody <= 0 {
		o.MaxXMLBody = 1 << 20
	}
	if o.Locks == nil {
		o.Locks = NewLocks()
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{o: o, locks: o.Locks, log: log, started: time.Now().UTC().Truncate(time.Second)}
}

// davHeaders are the OPTIONS answers (RFC 4918 10.1, 18). MS-Author-Via
// makes Windows and Office treat the server as WebDAV.
func davHeaders(w http.ResponseWriter) {
	w.Header().Set("DAV", "1, 2")
	w.Header().Set("MS-Author-Via", "DAV")
	w.Header().Set("Allow", "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK")
}

// Options serves OPTIONS anywhere, without authentication: the Windows
// Mini-Redirector asks "OPTIONS /" before it sends credentials, and
// decides from DAV whether the server speaks WebDAV at all.
func Options200(w http.ResponseWriter, _ *http.Request) {
	davHeaders(w)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// badPath matches what a request path must never contain, before or after
// percent-decoding: dot segments, backslashes, NUL (RFC 3986 6.2.2.3 dot
// segments are removed by clients; one arriving is an attack).
var badPath = regexp.MustCompile(`(?i)(^|/)(\.|%2e){1,2}(/|$)|\\|%5c|%00|\x00`)

// checkPath refuses path traversal in the raw and decoded request path.
func checkPath(r *http.Request) bool {
	return !badPath.MatchString(r.URL.EscapedPath()) && !badPath.MatchString(r.URL.Path) &&
		!strings.ContainsAny(r.URL.Path, "\x00\\")
}

// emptyPrefixDecl matches an empty namespace prefix declaration
// (xmlns:x=""), invalid in XML Namespaces 1.0 (litmus propfind_invalid2).
var emptyPrefixDecl = regexp.MustCompile(`xmlns:[^=\s]+\s*=\s*(""|'')`)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !checkPath(r) {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	rel, ok := strings.CutPrefix(r.URL.Path, h.o.Prefix)
	if !ok {
		if r.URL.Path+"/" == h.o.Prefix {
			rel = ""
		} else {
			http.NotFound(w, r)
			return
		}
	}
	if r.Method == http.MethodOptions {
		Options200(w, r)
		return
	}
	access, ok := h.o.Access(r)
	if !ok {
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	rawOwner, rest, _ := strings.Cut(rel, "/")
	// Addresses are case-insensitive: "Alice@Example.test" is alice's
	// tree. Answers name it as the request did (rawOwner), the way clients
	// compare hrefs with their request URLs.
	owner := strings.ToLower(rawOwner)
	if owner == "" {
		h.serveTop(w, r, access)
		return
	}
	// Bodies of XML methods are read whole, bounded, before parsing.
	switch r.Method {
	case "PROPFIND", "PROPPATCH", "LOCK":
		if r.ContentLength > h.o.MaxXMLBody {
			http.Error(w, "XML body too large", http.StatusRequestEntityTooLarge)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, h.o.MaxXMLBody+1))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if int64(len(body)) > h.o.MaxXMLBody {
			http.Error(w, "XML body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if emptyPrefixDecl.Match(body) {
			http.Error(w, "empty namespace prefix declaration", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	if r.Method == "PROPFIND" {
		switch d := strings.TrimSpace(r.Header.Get("Depth")); d {
		case "0", "1":
		case "":
			r.Header.Set("Depth", "1") // bounded: a missing Depth means infinity (RFC 4918 9.1)
		default:
			if !strings.EqualFold(d, "infinity") {
				http.Error(w, "bad Depth", http.StatusBadRequest)
				return
			}
			writeError(w, http.StatusForbidden, "propfind-finite-depth")
			return
		}
	}
	fsys := &fsys{h: h, access: access, owner: owner}
	ctx := r.Context()
	target, err := fsys.resolve(ctx, "/"+rest)
	if err != nil {
		if errors.Is(err, storage.ErrNoMailbox) {
			switch r.Method {
			case "MKCOL", http.MethodPut, "LOCK":
				// The parent folder is missing (RFC 4918 9.3.1, 9.7.1): 409
				// when the nearest folder above it that exists for the
				// principal is one it may see. A missing folder and one that
				// may not be listed answer alike either way: which of them
				// it is never changes what is visible above it.
				if fsys.ancestorVisible(ctx, "/"+rest) {
					http.Error(w, "no parent folder", http.StatusConflict)
					return
				}
			}
		}
		h.storageError(w, err)
		return
	}
	if status := h.authorize(ctx, r, fsys, target); status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, "PROPFIND", http.MethodPut:
		// GET and HEAD: http.ServeContent evaluates the conditions (304);
		// PUT: inside the write's transaction (put).
	default:
		// If-Match and If-None-Match on the request URI (RFC 9110 13.1):
		// x/net/webdav evaluates only the If header.
		if st := checkConditional(r, target); st != 0 {
			http.Error(w, http.StatusText(st), st)
			return
		}
		if r.Method == "COPY" || r.Method == "MOVE" {
			h.destinationCase(r, rawOwner)
		}
	}
	switch r.Method {
	case http.MethodPut:
		h.put(w, r, fsys, target)
		return
	case "LOCK":
		h.lock(w, r, fsys, target)
		return
	case "UNLOCK":
		h.unlock(w, r, fsys, target)
		return
	case http.MethodPost:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if target.kind == kNone && r.Method != "MKCOL" {
		http.NotFound(w, r)
		return
	}
	if target.kind == kFile && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		contentSecurity(w.Header(), target.file.ContentType)
	}
	dav := &webdav.Handler{
		Prefix:     strings.TrimSuffix(h.o.Prefix, "/") + "/" + rawOwner,
		FileSystem: fsys,
		LockSystem: &lockSystem{ls: h.locks, principal: access.Principal(), base: "/" + owner, etag: func(name string) string {
			n, err := fsys.resolve(ctx, name)
			if err != nil || n.kind != kFile {
				return ""
			}
			return n.file.ETag
		}},
		Logger: func(r *http.Request, err error) {
			if err != nil {
				h.log.Debug("webdav", "method", r.Method, "path", r.URL.Path, "err", err)
			}
		},
	}
	dav.ServeHTTP(&statusFixer{ResponseWriter: w, fs: fsys}, r)
}

// authorize checks the rights the method needs on its target (and, for
// COPY and MOVE, on the destination's folder). It returns 0 or the status
// to answer: 404 when a folder may not be listed (the no-leak rule: it
// is answered by resolve already), 403 when a right is missing.
func (h *Handler) authorize(ctx context.Context, r *http.Request, fs *fsys, n *node) int {
	has := func(rs ...acl.Right) bool { return n.rights.Has(acl.Of(rs...)) }
	ok := true
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		ok = n.kind != kFile || has(acl.Read)
	case "PROPFIND":
		ok = n.kind != kFile || has(acl.Read)
	case "PROPPATCH":
		ok = n.kind == kRoot || has(acl.Write)
	case http.MethodPut, "LOCK":
		switch n.kind {
		case kFile:
			ok = has(acl.Write)
		case kNone:
			ok = n.atRoot() || has(acl.Insert)
		}
	case "UNLOCK":
	case http.MethodDelete:
		switch n.kind {
		case kFile:
			ok = has(acl.DeleteMessages)
		case kDir:
			ok = has(acl.DeleteMailbox)
		}
	case "MKCOL":
		ok = n.kind != kNone || n.atRoot() || has(acl.CreateMailbox)
	case "COPY", "MOVE":
		if r.Method == "COPY" {
			ok = n.kind != kFile || has(acl.Read)
		} else {
			ok = n.kind == kFile && has(acl.DeleteMessages) || n.kind == kDir && has(acl.DeleteMailbox) || n.kind == kNone
		}
		if dst, err := h.destination(r, fs); err == nil && dst != nil {
			switch dst.kind {
			case kFile:
				ok = ok && dst.rights.Has(acl.Of(acl.Write))
			case kNone:
				if n.kind == kDir {
					ok = ok && (dst.atRoot() || dst.rights.Has(acl.Of(acl.CreateMailbox)))
				} else {
					ok = ok && !dst.atRoot() && dst.rights.Has(acl.Of(acl.Insert))
				}
			}
		} else if errors.Is(err, storage.ErrPermission) {
			ok = false
		}
	}
	if !ok {
		return http.StatusForbidden
	}
	return 0
}

// destination resolves the Destination header of COPY and MOVE when it
// names a path of the same owner (x/net/webdav answers the others).
func (h *Handler) destination(r *http.Request, fs *fsys) (*node, error) {
	u, err := url.Parse(r.Header.Get("Destination"))
	if err != nil || u.Path == "" {
		return nil, err
	}
	if badPath.MatchString(u.EscapedPath()) || badPath.MatchString(u.Path) {
		return nil, storage.ErrPermission
	}
	rel, ok := h.ownerRel(u.Path, fs.owner)
	if !ok {
		return nil, nil
	}
	n, err := fs.resolve(r.Context(), rel)
	if errors.Is(err, storage.ErrNoMailbox) {
		return nil, nil // x/net/webdav answers 409 for a missing parent
	}
	return n, err
}

// ownerRel cuts the handler's prefix and owner's address (in any letter
// case) from the path p and returns the rest ("" or "/..."), false when p
// is not in owner's tree.
func (h *Handler) ownerRel(p, owner string) (string, bool) {
	rest, ok := strings.CutPrefix(p, h.o.Prefix)
	if !ok || len(rest) < len(owner) || !strings.EqualFold(rest[:len(owner)], owner) {
		return "", false
	}
	rest = rest[len(owner):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// destinationCase rewrites the Destination header of COPY and MOVE so that
// its owner segment is spelled as in the request URI (rawOwner):
// x/net/webdav compares both with the same prefix, byte for byte.
func (h *Handler) destinationCase(r *http.Request, rawOwner string) {
	u, err := url.Parse(r.Header.Get("Destination"))
	if err != nil || u.Path == "" {
		return
	}
	rel, ok := h.ownerRel(u.Path, strings.ToLower(rawOwner))
	if !ok {
		return
	}
	u.Path, u.RawPath = h.o.Prefix+rawOwner+rel, ""
	r.Header.Set("Destination", u.String())
}

// storageError answers a storage error once, at the boundary; internal
// text never reaches the client.
func (h *Handler) storageError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	if status == http.StatusInternalServerError {
		h.log.Error("webdav storage error", "err", err)
	}
	http.Error(w, http.StatusText(status), status)
}

func statusOf(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, storage.ErrNoMailbox), errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrNoAccount):
		return http.StatusNotFound
	case errors.Is(err, storage.ErrPermission):
		return http.StatusForbidden
	case errors.Is(err, storage.ErrOverQuota), errors.Is(err, storage.ErrStorageFull):
		return http.StatusInsufficientStorage
	case errors.Is(err, storage.ErrExists), errors.Is(err, storage.ErrPrecondition):
		return http.StatusPreconditionFailed
	case errors.Is(err, storage.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// statusFixer corrects the status x/net/webdav chooses for a failed
// storage call (it answers 405 or 500 for every error of PUT-like steps):
// the storage error the file system recorded decides (507 past the quota,
// 403, 404).
type statusFixer struct {
	http.ResponseWriter
	fs       *fsys
	replaced bool
}

func (s *statusFixer) WriteHeader(code int) {
	if code >= 400 && code != http.StatusLocked && code != http.StatusPreconditionFailed && code != http.StatusConflict {
		s.fs.mu.Lock()
		err := s.fs.lastErr
		s.fs.mu.Unlock()
		if err != nil {
			if st := statusOf(err); st != http.StatusInternalServerError && st != code {
				s.replaced = true
				s.ResponseWriter.Header().Set("Content-Type", "text/plain; charset=utf-8")
				s.ResponseWriter.WriteHeader(st)
				io.WriteString(s.ResponseWriter, http.StatusText(st)+"\n")
				return
			}
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusFixer) Write(p []byte) (int, error) {
	if s.replaced {
		return len(p), nil
	}
	return s.ResponseWriter.Write(p)
}

// Flush lets streamed multistatus answers through.
func (s *statusFixer) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// contentSecurity sets the headers that keep a file opened in a browser
// from acting in the server's origin: anyone with "i" on a shared folder
// can store HTML or SVG there, and a script in it would run with the
// reader's cookies and cached credentials for the settings API, CalDAV and
// these folders (stored XSS). The file is never sniffed as another type,
// and, but for PDF (which browsers show in their own viewer, and refuse to
// show in a sandbox), it is rendered in a sandbox: no scripts, an opaque
// origin. WebDAV clients ignore both.
func contentSecurity(h http.Header, contentType string) {
	h.Set("X-Content-Type-Options", "nosniff")
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/pdf" {
		h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox")
	}
}

// writeError answers status with a DAV:error body naming a precondition
// (RFC 4918 16).
func writeError(w http.ResponseWriter, status int, cond string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:%s/></D:error>\n", cond)
}

// serveTop answers /webdav/ itself: a collection whose only member is the
// principal's own root.
func (h *Handler) serveTop(w http.ResponseWriter, r *http.Request, a Access) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		http.Redirect(w, r, h.o.Prefix+url.PathEscape(a.Principal())+"/", http.StatusFound)
	case "PROPFIND":
		if r.Header.Get("Depth") == "infinity" {
			writeError(w, http.StatusForbidden, "propfind-finite-depth")
			return
		}
		hrefs := []string{h.o.Prefix}
		if r.Header.Get("Depth") != "0" {
			hrefs = append(hrefs, h.o.Prefix+url.PathEscape(a.Principal())+"/")
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusMultiStatus)
		io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:multistatus xmlns:D="DAV:">`)
		for _, href := range hrefs {
			fmt.Fprintf(w, `<D:response><D:href>%s</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype><D:displayname>%s</D:displayname></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`,
				html.EscapeString(href), html.EscapeString(strings.Trim(strings.TrimPrefix(href, h.o.Prefix), "/")))
		}
		io.WriteString(w, "</D:multistatus>\n")
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// --- folders ---

func (h *Handler) ownerAccount(ctx context.Context, a Access, owner string) (storage.Account, error) {
	if !strings.EqualFold(a.Principal(), owner) {
		return storage.Account{}, storage.ErrPermission // only owners make top-level folders
	}
	return h.o.Store.Account(ctx, owner)
}

// createFolder creates owner's folder name, typed file (MKCOL).
func (h *Handler) createFolder(ctx context.Context, a Access, owner, name string) error {
	var acct storage.AccountID
	if parent, _, ok := cutLast(name); ok {
		pm, _, err := a.Folder(ctx, owner, parent)
		if err != nil {
			return err
		}
		acct = pm.Account
	} else {
		oa, err := h.ownerAccount(ctx, a, owner)
		if err != nil {
			return err
		}
		acct = oa.ID
	}
	mb, err := h.o.Store.CreateMailbox(ctx, acct, name, "")
	if err != nil {
		return err
	}
	return h.o.Store.SetMetadata(ctx, acct, mb.ID, []storage.MetadataEntry{{Name: storage.FolderTypeEntry, Value: []byte(storage.FolderTypeFile)}})
}

// ensureFiles creates owner's default Files folder, typed file (Kolab:
// "file" shared, "file.default" private), when it is missing: accounts
// made before file folders existed get it on first use. A Files folder
// that exists but is no file folder is left alone (ErrNoMailbox).
func (h *Handler) ensureFiles(ctx context.Context, owner string) error {
	acct, err := h.o.Store.Account(ctx, owner)
	if err != nil {
		return err
	}
	_, err = storage.EnsureFileFolder(ctx, h.o.Store, acct.ID, storage.DefaultFilesFolder)
	return err
}

func cutLast(name string) (string, string, bool) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", name, false
	}
	return name[:i], name[i+1:], true
}

// deleteFolder deletes a folder and its subfolders, deepest first. An
// account's default Files folder stays.
func (h *Handler) deleteFolder(ctx context.Context, a Access, owner string, mb storage.Mailbox) error {
	if strings.EqualFold(mb.Name, storage.DefaultFilesFolder) {
		return storage.ErrPermission
	}
	all, err := a.Folders(ctx, owner)
	if err != nil {
		return err
	}
	var sub []Folder
	for _, f := range all {
		if strings.HasPrefix(f.Name, mb.Name+"/") {
			if !f.Rights.Has(acl.Of(acl.DeleteMailbox)) {
				return storage.ErrPermission
			}
			sub = append(sub, f)
		}
	}
	for i := len(sub) - 1; i >= 0; i-- { // Mailboxes come sorted by name: children after parents
		if err := h.o.Store.DeleteMailbox(ctx, sub[i].ID); err != nil && !errors.Is(err, storage.ErrNoMailbox) {
			return err
		}
	}
	return h.o.Store.DeleteMailbox(ctx, mb.ID)
}

// renameFolder moves a folder (with its subfolders) to the free name dst.
func (h *Handler) renameFolder(ctx context.Context, a Access, owner string, mb storage.Mailbox, dst *node) error {
	if strings.EqualFold(mb.Name, storage.DefaultFilesFolder) {
		return storage.ErrPermission
	}
	newName := dst.name
	if !dst.atRoot() {
		newName = dst.mb.Name + "/" + dst.name
	} else if _, err := h.ownerAccount(ctx, a, owner); err != nil {
		return err
	}
	if err := h.o.Store.RenameMailbox(ctx, mb.ID, newName); err != nil {
		return err
	}
	return h.o.Store.SetMetadata(ctx, mb.Account, mb.ID, []storage.MetadataEntry{{Name: storage.FolderTypeEntry, Value: []byte(storage.FolderTypeFile)}})
}

// --- PUT ---

// put stores the request body as a file (RFC 4918 9.7.1): streamed into a
// blob through storage/ingest, one commit; 201 for a new file, 204 for a
// replaced one, 507 past the quota, 409 without a parent folder.
func (h *Handler) put(w http.ResponseWriter, r *http.Request, fs *fsys, n *node) {
	switch {
	case n.kind == kDir || n.kind == kRoot:
		http.Error(w, "cannot PUT a collection", http.StatusMethodNotAllowed)
		return
	case n.atRoot():
		http.Error(w, "no parent folder", http.StatusConflict)
		return
	}
	if st := h.checkLocks(r, fs, n); st != 0 {
		http.Error(w, http.StatusText(st), st)
		return
	}
	if st := checkConditional(r, n); st != 0 {
		w.WriteHeader(st)
		return
	}
	if r.ContentLength > 0 && !fs.mayFit(r.Context(), n, r.ContentLength) {
		// Certainly past the quota: refused before the body is read (a
		// client sending Expect: 100-continue sends none of it).
		h.storageError(w, storage.ErrOverQuota)
		return
	}
	f, created, err := ingest.PutFile(r.Context(), h.o.Store, storage.FileWrite{Mailbox: n.mb.ID, Name: n.name,
		ContentType: typeByName(n.name, r.Header.Get("Content-Type")),
		IfMatch:     etagList(r.Header.Get("If-Match")), IfNoneMatch: etagList(r.Header.Get("If-None-Match"))}, r.Body)
	if err != nil {
		h.storageError(w, err)
		return
	}
	w.Header().Set("ETag", f.ETag)
	w.Header().Set("Last-Modified", f.Modified.Format(http.TimeFormat))
	if created {
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkConditional evaluates If-Match and If-None-Match (RFC 9110 13.1.1,
// 13.1.2) on n for a method that changes it; it returns 412 or 0. "*"
// matches any existing resource (a folder too); an ETag only a file.
func checkConditional(r *http.Request, n *node) int {
	etag := ""
	switch n.kind {
	case kFile:
		etag = n.file.ETag
	case kDir, kRoot:
		etag = "*" // exists, but has no ETag: only "*" matches
	}
	w := storage.FileWrite{IfMatch: etagList(r.Header.Get("If-Match")), IfNoneMatch: etagList(r.Header.Get("If-None-Match"))}
	if etag == "*" {
		if w.IfMatch != nil && !slices.Contains(w.IfMatch, "*") || slices.Contains(w.IfNoneMatch, "*") {
			return http.StatusPreconditionFailed
		}
		return 0
	}
	if w.CheckConditions(etag) != nil {
		return http.StatusPreconditionFailed
	}
	return 0
}

// etagList splits an If-Match or If-None-Match value into its entity tags
// ("*" included; weak tags compared by their opaque part, as the files'
// own tags are strong), nil for an absent header.
func etagList(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	out := []string{}
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimPrefix(strings.TrimSpace(e), "W/"); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// checkLocks evaluates the If header (RFC 4918 10.4) for a write to n and
// checks that every lock on n is submitted: 0, 412 (no list holds) or
// 423 (locked).
func (h *Handler) checkLocks(r *http.Request, fs *fsys, n *node) int {
	full := lockPath("/"+fs.owner, n.path)
	now := time.Now()
	hdr := r.Header.Get("If")
	etag := func() string {
		if n.kind == kFile {
			return n.file.ETag
		}
		return ""
	}
	if hdr == "" {
		if err := h.locks.confirm(now, fs.access.Principal(), full, "", etag, nil); err != nil {
			return http.StatusLocked
		}
		return 0
	}
	lists, ok := parseIf(hdr)
	if !ok {
		return http.StatusBadRequest
	}
	locked := false
	for _, l := range lists {
		res, resEtag := full, etag
		if l.resource != "" {
			u, err := url.Parse(l.resource)
			if err != nil {
				continue
			}
			rel, ok := h.ownerRel(u.Path, fs.owner)
			if !ok {
				continue
			}
			tn, err := fs.resolve(r.Context(), rel)
			if err != nil {
				continue
			}
			res = lockPath("/"+fs.owner, tn.path)
			resEtag = func() string {
				if tn.kind == kFile {
					return tn.file.ETag
				}
				return ""
			}
		}
		err := h.locks.confirm(now, fs.access.Principal(), res, "", resEtag, l.conditions)
		if err == nil {
			// The list holds; the target itself must be writable too.
			if res != full {
				if err := h.locks.confirm(now, fs.access.Principal(), full, "", etag, l.conditions); err != nil {
					locked = true
					continue
				}
			}
			return 0
		}
		if err == webdav.ErrLocked {
			locked = true
		}
	}
	if locked {
		return http.StatusLocked
	}
	return http.StatusPreconditionFailed
}

// --- LOCK, UNLOCK (RFC 4918 9.10, 9.11) ---

type lockInfo struct {
	XMLName   xml.Name  `xml:"DAV: lockinfo"`
	Exclusive *struct{} `xml:"DAV: lockscope>exclusive"`
	Shared    *struct{} `xml:"DAV: lockscope>shared"`
	Write     *struct{} `xml:"DAV: locktype>write"`
	Owner     struct {
		Inner string `xml:",innerxml"`
	} `xml:"DAV: owner"`
}

// parseTimeout reads the Timeout header (RFC 4918 10.7): the first value
// we understand; 0 for none or Infinite.
func parseTimeout(s string) time.Duration {
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if n, ok := strings.CutPrefix(v, "Second-"); ok {
			if secs, err := strconv.ParseInt(n, 10, 64); err == nil && secs > 0 {
				if secs > int64(MaxLockTimeout/time.Second) {
					return MaxLockTimeout
				}
				return time.Duration(secs) * time.Second
			}
		}
	}
	return 0
}

func (h *Handler) lock(w http.ResponseWriter, r *http.Request, fs *fsys, n *node) {
	body, _ := io.ReadAll(r.Body) // bounded in ServeHTTP
	now := time.Now()
	principal := fs.access.Principal()
	full := lockPath("/"+fs.owner, n.path)
	timeout := parseTimeout(r.Header.Get("Timeout"))
	if len(bytes.TrimSpace(body)) == 0 {
		// Refresh (RFC 4918 9.10.2): the token comes in the If header.
		lists, ok := parseIf(r.Header.Get("If"))
		if !ok {
			http.Error(w, "refresh needs an If header", http.StatusBadRequest)
			return
		}
		for _, l := range lists {
			for _, c := range l.conditions {
				if c.Token == "" || c.Not {
					continue
				}
				if lk, err := h.locks.refresh(now, principal, c.Token, full, timeout); err == nil {
					h.writeLock(w, http.StatusOK, fs.owner, lk, false)
					return
				}
			}
		}
		http.Error(w, "no such lock", http.StatusPreconditionFailed)
		return
	}
	var li lockInfo
	if err := xml.Unmarshal(body, &li); err != nil || li.Write == nil || (li.Exclusive == nil) == (li.Shared == nil) {
		http.Error(w, "bad lockinfo", http.StatusBadRequest)
		return
	}
	zeroDepth := false
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Depth"))) {
	case "", "infinity":
	case "0":
		zeroDepth = true
	default:
		http.Error(w, "bad Depth", http.StatusBadRequest)
		return
	}
	if n.kind == kNone && n.atRoot() {
		http.Error(w, "no parent folder", http.StatusConflict)
		return
	}
	if n.kind == kNone {
		// A lock on an unmapped URL creates an empty resource (RFC 4918 7.3):
		// first make sure nobody holds a lock there.
		if err := h.locks.confirm(now, principal, full, "", func() string { return "" }, nil); err != nil {
			http.Error(w, "locked", http.StatusLocked)
			return
		}
	}
	owner := strings.TrimSpace(li.Owner.Inner)
	if len(owner) > 4096 {
		owner = ""
	}
	lk, err := h.locks.create(now, principal, webdav.LockDetails{Root: full, Duration: timeout, ZeroDepth: zeroDepth, OwnerXML: owner}, li.Shared != nil)
	switch {
	case err == webdav.ErrLocked:
		writeError(w, http.StatusLocked, "no-conflicting-lock")
		return
	case err != nil:
		http.Error(w, "too many locks", http.StatusServiceUnavailable)
		return
	}
	status := http.StatusOK
	if n.kind == kNone {
		if _, _, err := ingest.PutFile(r.Context(), h.o.Store, storage.FileWrite{Mailbox: n.mb.ID, Name: n.name,
			ContentType: typeByName(n.name, "")}, strings.NewReader("")); err != nil {
			_ = h.locks.unlock(now, principal, lk.token, full)
			h.storageError(w, err)
			return
		}
		status = http.StatusCreated
	}
	h.writeLock(w, status, fs.owner, lk, true)
}

// writeLock answers a LOCK with the lock's DAV:lockdiscovery (RFC 4918
// 9.10.1) and, for a new lock, the Lock-Token header.
func (h *Handler) writeLock(w http.ResponseWriter, status int, owner string, lk *lock, isNew bool) {
	if isNew {
		w.Header().Set("Lock-Token", "<"+lk.token+">")
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:prop xmlns:D="DAV:"><D:lockdiscovery>`)
	io.WriteString(w, h.activeLockXML(lk))
	io.WriteString(w, "</D:lockdiscovery></D:prop>\n")
}

// activeLockXML renders one DAV:activelock (RFC 4918 14.1).
func (h *Handler) activeLockXML(l *lock) string {
	scope := "exclusive"
	if l.shared {
		scope = "shared"
	}
	depth := "infinity"
	if l.zeroDepth {
		depth = "0"
	}
	root := strings.TrimSuffix(h.o.Prefix, "/") + l.root
	var b strings.Builder
	fmt.Fprintf(&b, `<D:activelock xmlns:D="DAV:"><D:locktype><D:write/></D:locktype><D:lockscope><D:%s/></D:lockscope><D:depth>%s</D:depth>`, scope, depth)
	if l.ownerXML != "" {
		fmt.Fprintf(&b, "<D:owner>%s</D:owner>", l.ownerXML)
	}
	fmt.Fprintf(&b, "<D:timeout>Second-%d</D:timeout><D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot></D:activelock>",
		int64(l.duration/time.Second), html.EscapeString(l.token), html.EscapeString((&url.URL{Path: root}).EscapedPath()))
	return b.String()
}

// activeLocksXML renders the DAV:lockdiscovery content of owner's path p.
func (h *Handler) activeLocksXML(owner, p string) string {
	var b strings.Builder
	for _, l := range h.locks.active(time.Now(), lockPath("/"+owner, p)) {
		b.WriteString(h.activeLockXML(&l))
	}
	return b.String()
}

func (h *Handler) unlock(w http.ResponseWriter, r *http.Request, fs *fsys, n *node) {
	tok := strings.TrimSpace(r.Header.Get("Lock-Token"))
	tok = strings.TrimSuffix(strings.TrimPrefix(tok, "<"), ">")
	if tok == "" {
		http.Error(w, "Lock-Token required", http.StatusBadRequest)
		return
	}
	if err := h.locks.unlock(time.Now(), fs.access.Principal(), tok, lockPath("/"+fs.owner, n.path)); err != nil {
		writeError(w, http.StatusConflict, "lock-token-matches-request-uri")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
