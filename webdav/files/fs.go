package files

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// kind is what a path names.
type kind int

const (
	kNone kind = iota // a free name in an existing folder
	kRoot             // the owner's root: its file folders
	kDir              // a file folder
	kFile             // a file
)

// node is a resolved path of one owner's tree.
type node struct {
	kind   kind
	path   string          // cleaned, NFC, "/Files/sub/a.txt"
	mb     storage.Mailbox // kDir: the folder; kFile, kNone: the parent folder
	rights acl.Rights      // on mb (kRoot: lookup)
	name   string          // kFile, kNone: the file name
	file   storage.File    // kFile
}

// cleanPath cleans a request path relative to the owner's root and
// normalizes its elements (NFC). It fails for elements that are not valid
// names (see storage.NormalizeFileName).
func cleanPath(name string) (string, []string, error) {
	p := path.Clean("/" + name)
	if p == "/" {
		return p, nil, nil
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		n, err := storage.NormalizeFileName(s)
		if err != nil {
			return "", nil, fmt.Errorf("path element %q: %w", s, storage.ErrInvalid)
		}
		segs[i] = n
	}
	return "/" + strings.Join(segs, "/"), segs, nil
}

// fsys is the webdav.FileSystem of one request: one owner's file folders
// as the request's principal sees them through Access. It caches what it
// resolved for the length of the request.
type fsys struct {
	h      *Handler
	access Access
	owner  string // lowercase address

	mu      sync.Mutex
	nodes   map[string]*node
	lastErr error // the last storage error, for the status fixer

	quotaCache *quotaInfo // the folder owner's quota (one owner per request)
}

var _ webdav.FileSystem = (*fsys)(nil)

func (f *fsys) st() storage.Store { return f.h.o.Store }

// fail records a storage error and returns it translated to an os error
// for x/net/webdav (which only knows fs.ErrNotExist, fs.ErrExist and
// fs.ErrPermission).
func (f *fsys) fail(err error) error {
	if err == nil {
		return nil
	}
	f.mu.Lock()
	f.lastErr = err
	f.mu.Unlock()
	switch {
	case errors.Is(err, storage.ErrNoMailbox), errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrNoAccount):
		return fs.ErrNotExist
	case errors.Is(err, storage.ErrExists):
		return fs.ErrExist
	case errors.Is(err, storage.ErrPermission):
		return fs.ErrPermission
	}
	return err
}

func (f *fsys) forget(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.nodes {
		if k == p || isAncestor(p, k) {
			delete(f.nodes, k)
		}
	}
}

// folder resolves a file folder by its path elements (ErrNoMailbox when
// it is no file folder or may not be listed).
func (f *fsys) folder(ctx context.Context, segs []string) (storage.Mailbox, acl.Rights, error) {
	mb, rights, err := f.access.Folder(ctx, f.owner, strings.Join(segs, "/"))
	if errors.Is(err, storage.ErrNoMailbox) && len(segs) == 1 && segs[0] == storage.DefaultFilesFolder && f.owner == f.access.Principal() {
		if err = f.h.ensureFiles(ctx, f.owner); err == nil {
			mb, rights, err = f.access.Folder(ctx, f.owner, segs[0])
		}
	}
	if err != nil {
		return mb, 0, err
	}
	ok, err := storage.IsFileFolder(ctx, f.st(), mb)
	if err != nil {
		return mb, 0, err
	}
	if !ok {
		return mb, 0, fmt.Errorf("%q is no file folder: %w", mb.Name, storage.ErrNoMailbox)
	}
	return mb, rights, nil
}

// resolve finds what name is. It fails with ErrNoMailbox when neither it
// nor its parent is a folder the principal may list, and ErrInvalid for a
// bad name.
func (f *fsys) resolve(ctx context.Context, name string) (*node, error) {
	p, segs, err := cleanPath(name)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	n, ok := f.nodes[p]
	f.mu.Unlock()
	if ok {
		return n, nil
	}
	n = &node{path: p}
	switch {
	case len(segs) == 0:
		if _, err := f.access.Folders(ctx, f.owner); err != nil {
			return nil, err
		}
		n.kind, n.rights = kRoot, acl.Of(acl.Lookup, acl.CreateMailbox)
	default:
		mb, rights, err := f.folder(ctx, segs)
		switch {
		case err == nil:
			n.kind, n.mb, n.rights = kDir, mb, rights
		case !errors.Is(err, storage.ErrNoMailbox):
			return nil, err
		case len(segs) == 1:
			// A free name at the root: only MKCOL may use it.
			n.kind, n.name = kNone, segs[0]
		default:
			pm, prights, err := f.folder(ctx, segs[:len(segs)-1])
			if err != nil {
				return nil, err
			}
			n.mb, n.rights, n.name = pm, prights, segs[len(segs)-1]
			file, err := f.st().File(ctx, pm.ID, n.name)
			switch {
			case err == nil:
				n.kind, n.file = kFile, file
			case errors.Is(err, storage.ErrNotFound):
				n.kind = kNone
			default:
				return nil, err
			}
		}
	}
	f.mu.Lock()
	if f.nodes == nil {
		f.nodes = map[string]*node{}
	}
	f.nodes[p] = n
	f.mu.Unlock()
	return n, nil
}

// ancestorVisible reports whether the nearest folder above name's parent
// that exists for the principal is one it may list: the owner's root
// when the principal sees any of the owner's folders (its own root
// always), else a file folder with "l". It decides 409 (a missing
// intermediate folder, RFC 4918 9.3.1) against 404 without telling a
// folder the principal may not list from one that does not exist.
func (f *fsys) ancestorVisible(ctx context.Context, name string) bool {
	_, segs, err := cleanPath(name)
	if err != nil || len(segs) == 0 {
		return false
	}
	for k := len(segs) - 2; k >= 1; k-- {
		if _, _, err := f.folder(ctx, segs[:k]); err == nil {
			return true
		}
	}
	if f.owner == f.access.Principal() {
		return true
	}
	fs, err := f.access.Folders(ctx, f.owner)
	return err == nil && len(fs) > 0
}

// atRoot reports whether a kNone node is a name directly under the owner's
// root (no parent folder: only MKCOL may create it).
func (n *node) atRoot() bool { return n.kind == kNone && n.mb.ID == 0 }

// --- webdav.FileSystem ---

func (f *fsys) Mkdir(ctx context.Context, name string, _ os.FileMode) error {
	n, err := f.resolve(ctx, name)
	if err != nil {
		return f.fail(err)
	}
	if n.kind != kNone {
		return fs.ErrExist
	}
	parent := ""
	if !n.atRoot() {
		if !n.rights.Has(acl.Of(acl.CreateMailbox)) {
			return f.fail(storage.ErrPermission)
		}
		parent = n.mb.Name + "/"
	}
	if err := f.h.createFolder(ctx, f.access, f.owner, parent+n.name); err != nil {
		return f.fail(err)
	}
	f.forget(n.path)
	return nil
}

func (f *fsys) OpenFile(ctx context.Context, name string, flag int, _ os.FileMode) (webdav.File, error) {
	n, err := f.resolve(ctx, name)
	if err != nil {
		return nil, f.fail(err)
	}
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		if n.kind == kDir || n.kind == kRoot || n.atRoot() {
			return nil, fs.ErrPermission
		}
		need := acl.Of(acl.Insert)
		if n.kind == kFile {
			need = acl.Of(acl.Write)
		}
		if !n.rights.Has(need) {
			return nil, f.fail(storage.ErrPermission)
		}
		f.forget(n.path)
		return &writeHandle{fs: f, ctx: ctx, n: n}, nil
	}
	switch n.kind {
	case kRoot, kDir:
		return &dirHandle{fs: f, ctx: ctx, n: n}, nil
	case kFile:
		return &fileHandle{fs: f, ctx: ctx, n: n}, nil
	}
	return nil, fs.ErrNotExist
}

func (f *fsys) RemoveAll(ctx context.Context, name string) error {
	n, err := f.resolve(ctx, name)
	if err != nil {
		return f.fail(err)
	}
	defer f.forget(n.path)
	switch n.kind {
	case kFile:
		if !n.rights.Has(acl.Of(acl.DeleteMessages)) {
			return f.fail(storage.ErrPermission)
		}
		err = f.st().DeleteFile(ctx, n.mb.ID, n.name)
	case kDir:
		err = f.h.deleteFolder(ctx, f.access, f.owner, n.mb)
	case kRoot:
		err = storage.ErrPermission
	default:
		err = storage.ErrNotFound
	}
	if err == nil {
		f.h.locks.removeUnder(lockPath("/"+f.owner, n.path))
	}
	return f.fail(err)
}

func (f *fsys) Rename(ctx context.Context, oldName, newName string) error {
	src, err := f.resolve(ctx, oldName)
	if err != nil {
		return f.fail(err)
	}
	dst, err := f.resolve(ctx, newName)
	if err != nil {
		return f.fail(err)
	}
	defer f.forget(src.path)
	defer f.forget(dst.path)
	switch {
	case src.kind == kFile && dst.kind == kNone && !dst.atRoot():
		if !src.rights.Has(acl.Of(acl.DeleteMessages)) || !dst.rights.Has(acl.Of(acl.Insert)) {
			return f.fail(storage.ErrPermission)
		}
		_, _, err = f.st().CopyFile(ctx, src.mb.ID, src.name, dst.mb.ID, dst.name, ingest.FileMessage(src.file, dst.name), true, true)
	case src.kind == kDir && dst.kind == kNone:
		if isAncestor(src.path, dst.path) {
			return fs.ErrPermission
		}
		err = f.h.renameFolder(ctx, f.access, f.owner, src.mb, dst)
	case src.kind == kRoot || dst.kind == kRoot:
		err = storage.ErrPermission
	default:
		err = storage.ErrExists
	}
	if err == nil {
		f.h.locks.removeUnder(lockPath("/"+f.owner, src.path))
	}
	return f.fail(err)
}

func (f *fsys) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	n, err := f.resolve(ctx, name)
	if err != nil {
		return nil, f.fail(err)
	}
	if n.kind == kNone {
		return nil, fs.ErrNotExist
	}
	return f.info(n), nil
}

// info returns the FileInfo of a folder or file node.
func (f *fsys) info(n *node) *fileInfo {
	switch n.kind {
	case kFile:
		return &fileInfo{name: n.name, size: n.file.Size, mod: n.file.Modified, etag: n.file.ETag, ctype: n.file.ContentType}
	case kRoot:
		return &fileInfo{name: "/", dir: true, mod: f.h.started}
	}
	return &fileInfo{name: path.Base(n.mb.Name), dir: true, mod: f.h.started}
}

// fileInfo is the os.FileInfo of a node, with the webdav.ETager and
// webdav.ContentTyper extensions.
type fileInfo struct {
	name  string
	size  int64
	mod   time.Time
	dir   bool
	etag  string
	ctype string
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) ModTime() time.Time { return i.mod }
func (i *fileInfo) IsDir() bool        { return i.dir }
func (i *fileInfo) Sys() any           { return nil }
func (i *fileInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// ETag implements webdav.ETager (collections have none: x/net/webdav does
// not ask).
func (i *fileInfo) ETag(context.Context) (string, error) {
	if i.etag == "" {
		return "", webdav.ErrNotImplemented
	}
	return i.etag, nil
}

// ContentType implements webdav.ContentTyper: the stored type, else one
// from the name's extension, never by sniffing (which would read the file).
func (i *fileInfo) ContentType(context.Context) (string, error) {
	if i.ctype != "" {
		return i.ctype, nil
	}
	if t := mime.TypeByExtension(path.Ext(i.name)); t != "" {
		return t, nil
	}
	return "application/octet-stream", nil
}

// --- handles ---

// Live properties x/net/webdav does not serve, answered through the
// dead-property map (which it asks first): DAV:creationdate of files
// (RFC 4918 15.1, asked by the Windows Mini-Redirector) and the quota of
// collections (RFC 4331, asked by macOS Finder, Windows and davfs2 for
// the free space they show).
var (
	propLockDiscovery = xml.Name{Space: "DAV:", Local: "lockdiscovery"}
	propCreationDate  = xml.Name{Space: "DAV:", Local: "creationdate"}
	propQuotaUsed     = xml.Name{Space: "DAV:", Local: "quota-used-bytes"}
	propQuotaAvail    = xml.Name{Space: "DAV:", Local: "quota-available-bytes"}
)

// protectedProp reports whether PROPPATCH may not set or remove name:
// the live properties served here that x/net/webdav does not know.
func protectedProp(name xml.Name) bool {
	return name == propQuotaUsed || name == propQuotaAvail
}

// props converts stored dead properties to x/net/webdav's and adds the
// live ones it leaves to the file system: DAV:lockdiscovery (the lock
// system cannot list locks through its interface), DAV:creationdate of
// files, and the quota of the folder owner's account on collections
// (quota-available-bytes only when the account has a quota; to grantees
// only with "i").
func (f *fsys) props(ctx context.Context, stored []storage.DeadProp, n *node) map[xml.Name]webdav.Property {
	m := make(map[xml.Name]webdav.Property, len(stored)+4)
	for _, d := range stored {
		name := xml.Name{Space: d.Space, Local: d.Local}
		if protectedProp(name) {
			continue
		}
		m[name] = webdav.Property{XMLName: name, InnerXML: d.Value}
	}
	m[propLockDiscovery] = webdav.Property{XMLName: propLockDiscovery, InnerXML: []byte(f.h.activeLocksXML(f.owner, n.path))}
	switch n.kind {
	case kFile:
		if !n.file.Created.IsZero() {
			m[propCreationDate] = webdav.Property{XMLName: propCreationDate, InnerXML: []byte(n.file.Created.UTC().Format(time.RFC3339))}
		}
	case kDir, kRoot:
		// The owner's account: shown to the owner, and to a grantee who
		// may add files (which count toward it).
		if f.owner != f.access.Principal() && (n.kind == kRoot || !n.rights.Has(acl.Of(acl.Insert))) {
			break
		}
		if used, avail, limited, ok := f.quota(ctx, n); ok {
			m[propQuotaUsed] = webdav.Property{XMLName: propQuotaUsed, InnerXML: []byte(strconv.FormatInt(used, 10))}
			if limited {
				m[propQuotaAvail] = webdav.Property{XMLName: propQuotaAvail, InnerXML: []byte(strconv.FormatInt(avail, 10))}
			}
		}
	}
	return m
}

// quota returns the usage and the room left (RFC 4331) of the account
// owning the folder n, once per request; ok is false when it cannot be
// read (the properties are then not found).
func (f *fsys) quota(ctx context.Context, n *node) (used, avail int64, limited, ok bool) {
	f.mu.Lock()
	q := f.quotaCache
	f.mu.Unlock()
	if q == nil {
		q = &quotaInfo{}
		var acct storage.Account
		var err error
		if n.kind == kDir {
			acct, err = f.st().AccountByID(ctx, n.mb.Account)
		} else {
			acct, err = f.st().Account(ctx, f.owner)
		}
		if err == nil {
			var u storage.Usage
			if u, err = f.st().Usage(ctx, acct.ID); err == nil {
				q.ok, q.used, q.limited = true, u.Bytes, acct.QuotaBytes > 0
				q.avail = max(acct.QuotaBytes-u.Bytes, 0)
			}
		}
		f.mu.Lock()
		f.quotaCache = q
		f.mu.Unlock()
	}
	return q.used, q.avail, q.limited, q.ok
}

// mayFit reports whether a file of size bytes written at n (a file or a
// free name in a folder) may fit the folder owner's quota (which counts
// a file's size, storage.Usage): false only when it certainly does not
// (the replaced file is taken at more than its size). The write itself
// decides exactly.
func (f *fsys) mayFit(ctx context.Context, n *node, size int64) bool {
	if n.mb.ID == 0 {
		return true
	}
	_, avail, limited, ok := f.quota(ctx, &node{kind: kDir, mb: n.mb})
	if !ok || !limited {
		return true
	}
	freed := int64(0)
	if n.kind == kFile {
		freed = 2*n.file.Size + 64<<10
	}
	return size <= avail+freed
}

// quotaInfo is what quota found.
type quotaInfo struct {
	used, avail int64
	limited, ok bool
}

// patch applies PROPPATCH changes to a file (name != "") or folder in one
// storage call, all or nothing (RFC 4918 9.2).
func (f *fsys) patch(ctx context.Context, mb storage.MailboxID, name string, patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	// Protected properties fail the whole request (RFC 4918 9.2: 403 for
	// them, 424 for the others), as x/net/webdav answers for its own.
	forbidden := webdav.Propstat{Status: http.StatusForbidden, XMLError: `<D:cannot-modify-protected-property xmlns:D="DAV:"/>`}
	failed := webdav.Propstat{Status: webdav.StatusFailedDependency}
	for _, pp := range patches {
		for _, p := range pp.Props {
			if protectedProp(p.XMLName) {
				forbidden.Props = append(forbidden.Props, webdav.Property{XMLName: p.XMLName})
			} else {
				failed.Props = append(failed.Props, webdav.Property{XMLName: p.XMLName})
			}
		}
	}
	if len(forbidden.Props) > 0 {
		if len(failed.Props) == 0 {
			return []webdav.Propstat{forbidden}, nil
		}
		return []webdav.Propstat{forbidden, failed}, nil
	}
	var changes []storage.DeadProp
	ok := webdav.Propstat{Status: 200}
	for _, pp := range patches {
		for _, p := range pp.Props {
			ok.Props = append(ok.Props, webdav.Property{XMLName: p.XMLName})
			if p.XMLName.Space == "DAV:" && p.XMLName.Local == "lockdiscovery" {
				continue // copied along by x/net/webdav's COPY: live, never stored
			}
			c := storage.DeadProp{Space: p.XMLName.Space, Local: p.XMLName.Local}
			if !pp.Remove {
				c.Value = append([]byte{}, p.InnerXML...)
			}
			changes = append(changes, c)
		}
	}
	if len(changes) == 0 {
		return []webdav.Propstat{ok}, nil
	}
	if err := f.st().SetFileProps(ctx, mb, name, changes); err != nil {
		if errors.Is(err, storage.ErrInvalid) {
			ok.Status = 507 // RFC 4918 9.2.1: no room for the properties
			return []webdav.Propstat{ok}, nil
		}
		return nil, f.fail(err)
	}
	return []webdav.Propstat{ok}, nil
}

var errNotFile = errors.New("not a regular file")

type dirHandle struct {
	fs  *fsys
	ctx context.Context
	n   *node
	pos int
	ls  []fs.FileInfo
}

func (d *dirHandle) Close() error                   { return nil }
func (d *dirHandle) Read([]byte) (int, error)       { return 0, errNotFile }
func (d *dirHandle) Write([]byte) (int, error)      { return 0, errNotFile }
func (d *dirHandle) Seek(int64, int) (int64, error) { return 0, nil }
func (d *dirHandle) Stat() (fs.FileInfo, error)     { return d.fs.info(d.n), nil }
func (d *dirHandle) DeadProps() (map[xml.Name]webdav.Property, error) {
	var stored []storage.DeadProp
	if d.n.kind == kDir {
		var err error
		if stored, err = d.fs.st().FolderProps(d.ctx, d.n.mb.ID); err != nil {
			return nil, d.fs.fail(err)
		}
	}
	return d.fs.props(d.ctx, stored, d.n), nil
}

func (d *dirHandle) Patch(p []webdav.Proppatch) ([]webdav.Propstat, error) {
	if d.n.kind != kDir || !d.n.rights.Has(acl.Of(acl.Write)) {
		return nil, d.fs.fail(storage.ErrPermission)
	}
	return d.fs.patch(d.ctx, d.n.mb.ID, "", p)
}

// Readdir lists the subfolders the principal may list and, with "r",
// the files; it fills the request's cache so that PROPFIND Depth 1 reads
// each child once.
func (d *dirHandle) Readdir(count int) ([]fs.FileInfo, error) {
	if d.ls == nil {
		ls, err := d.list()
		if err != nil {
			return nil, d.fs.fail(err)
		}
		d.ls = ls
	}
	if count <= 0 {
		rest := d.ls[d.pos:]
		d.pos = len(d.ls)
		return rest, nil
	}
	if d.pos >= len(d.ls) {
		return nil, io.EOF
	}
	end := min(len(d.ls), d.pos+count)
	out := d.ls[d.pos:end]
	d.pos = end
	return out, nil
}

func (d *dirHandle) list() ([]fs.FileInfo, error) {
	f := d.fs
	folders, err := f.access.Folders(d.ctx, f.owner)
	if err != nil {
		return nil, err
	}
	prefix := ""
	if d.n.kind == kDir {
		prefix = d.n.mb.Name + "/"
	}
	var out []fs.FileInfo
	add := func(n *node) {
		f.mu.Lock()
		if f.nodes == nil {
			f.nodes = map[string]*node{}
		}
		f.nodes[n.path] = n
		f.mu.Unlock()
		out = append(out, f.info(n))
	}
	for _, fo := range folders {
		if !strings.HasPrefix(fo.Name, prefix) || strings.Contains(fo.Name[len(prefix):], "/") || fo.Name == prefix {
			continue
		}
		if d.n.kind == kRoot {
			ok, err := storage.IsFileFolder(d.ctx, f.st(), fo.Mailbox)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		rel := fo.Name[len(prefix):]
		if _, err := storage.NormalizeFileName(rel); err != nil {
			continue // a folder name WebDAV cannot carry
		}
		add(&node{kind: kDir, path: path.Join(d.n.path, rel), mb: fo.Mailbox, rights: fo.Rights})
	}
	if d.n.kind == kDir && d.n.rights.Has(acl.Of(acl.Read)) {
		files, err := f.st().Files(d.ctx, d.n.mb.ID)
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			add(&node{kind: kFile, path: path.Join(d.n.path, file.Name), mb: d.n.mb, rights: d.n.rights, name: file.Name, file: file})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

type fileHandle struct {
	fs   *fsys
	ctx  context.Context
	n    *node
	blob storage.Blob
	off  int64
}

func (h *fileHandle) open() error {
	if h.blob != nil {
		return nil
	}
	if !h.n.rights.Has(acl.Of(acl.Read)) {
		return h.fs.fail(storage.ErrPermission)
	}
	b, err := h.fs.st().OpenBlob(h.ctx, h.n.file.Content)
	if err != nil {
		return h.fs.fail(err)
	}
	h.blob = b
	return nil
}

func (h *fileHandle) Close() error {
	if h.blob != nil {
		return h.blob.Close()
	}
	return nil
}

func (h *fileHandle) Read(p []byte) (int, error) {
	if err := h.open(); err != nil {
		return 0, err
	}
	n, err := h.blob.ReadAt(p, h.off)
	h.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (h *fileHandle) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += h.off
	case io.SeekEnd:
		off += h.n.file.Size
	}
	if off < 0 {
		return 0, errors.New("negative position")
	}
	h.off = off
	return off, nil
}

func (h *fileHandle) Readdir(int) ([]fs.FileInfo, error) { return nil, errNotFile }
func (h *fileHandle) Write([]byte) (int, error)          { return 0, fs.ErrPermission }
func (h *fileHandle) Stat() (fs.FileInfo, error)         { return h.fs.info(h.n), nil }
func (h *fileHandle) DeadProps() (map[xml.Name]webdav.Property, error) {
	return h.fs.props(h.ctx, h.n.file.Props, h.n), nil
}

func (h *fileHandle) Patch(p []webdav.Proppatch) ([]webdav.Propstat, error) {
	if !h.n.rights.Has(acl.Of(acl.Write)) {
		return nil, h.fs.fail(storage.ErrPermission)
	}
	defer h.fs.forget(h.n.path)
	return h.fs.patch(h.ctx, h.n.mb.ID, h.n.name, p)
}

// writeHandle is a file being written by x/net/webdav's COPY (PUT is the
// Handler's own). Copying from one of our files shares its content
// (storage.Files.CopyFile); other data streams into a new content blob
// through a pipe, never held in memory. Close commits.
type writeHandle struct {
	fs    *fsys
	ctx   context.Context
	n     *node
	src   *fileHandle
	props []webdav.Proppatch

	pw   *io.PipeWriter
	done chan error
}

// ReadFrom makes io.Copy from one of our files a server-side copy.
func (w *writeHandle) ReadFrom(r io.Reader) (int64, error) {
	if fh, ok := r.(*fileHandle); ok && w.pw == nil {
		if !fh.n.rights.Has(acl.Of(acl.Read)) {
			return 0, w.fs.fail(storage.ErrPermission)
		}
		w.src = fh
		return fh.n.file.Size, nil
	}
	return io.Copy(struct{ io.Writer }{w}, r)
}

func (w *writeHandle) Write(p []byte) (int, error) {
	if w.pw == nil {
		pr, pw := io.Pipe()
		w.pw, w.done = pw, make(chan error, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					pr.CloseWithError(fmt.Errorf("panic: %v", r))
					w.done <- fmt.Errorf("panic in file write: %v", r)
				}
			}()
			_, _, err := ingest.PutFile(w.ctx, w.fs.st(), storage.FileWrite{Mailbox: w.n.mb.ID, Name: w.n.name,
				ContentType: typeByName(w.n.name, "")}, pr)
			pr.CloseWithError(err)
			w.done <- err
		}()
	}
	return w.pw.Write(p)
}

func (w *writeHandle) Close() error {
	var err error
	switch {
	case w.pw != nil:
		w.pw.Close()
		err = <-w.done
	case w.src != nil:
		_, _, err = w.fs.st().CopyFile(w.ctx, w.src.n.mb.ID, w.src.n.name, w.n.mb.ID, w.n.name,
			ingest.FileMessage(w.src.n.file, w.n.name), false, false)
	default:
		_, _, err = ingest.PutFile(w.ctx, w.fs.st(), storage.FileWrite{Mailbox: w.n.mb.ID, Name: w.n.name,
			ContentType: typeByName(w.n.name, "")}, strings.NewReader(""))
	}
	if err != nil {
		return w.fs.fail(err)
	}
	if len(w.props) > 0 {
		if _, err := w.fs.patch(w.ctx, w.n.mb.ID, w.n.name, w.props); err != nil {
			return err
		}
	}
	return nil
}

func (w *writeHandle) Read([]byte) (int, error)                         { return 0, fs.ErrPermission }
func (w *writeHandle) Seek(int64, int) (int64, error)                   { return 0, nil }
func (w *writeHandle) Readdir(int) ([]fs.FileInfo, error)               { return nil, errNotFile }
func (w *writeHandle) Stat() (fs.FileInfo, error)                       { return &fileInfo{name: w.n.name}, nil }
func (w *writeHandle) DeadProps() (map[xml.Name]webdav.Property, error) { return nil, nil }

// Patch records the properties COPY carries; a server-side copy has them
// already (CopyFile copies them).
func (w *writeHandle) Patch(p []webdav.Proppatch) ([]webdav.Propstat, error) {
	if w.src == nil {
		w.props = append(w.props, p...)
	}
	return []webdav.Propstat{{Status: 200}}, nil
}

// typeByName returns the content type to store for a file: the client's
// when it says more than "application/octet-stream", else one from the
// name's extension, else "".
func typeByName(name, given string) string {
	given = strings.TrimSpace(given)
	if given != "" && !strings.HasPrefix(strings.ToLower(given), "application/octet-stream") {
		if _, _, err := mime.ParseMediaType(given); err == nil && len(given) <= 200 {
			return given
		}
	}
	return mime.TypeByExtension(path.Ext(name))
}
