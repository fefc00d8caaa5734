package files

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// fixture is a Handler over a fresh store with accounts alice and bob.
type fixture struct {
	st     storage.Store
	h      *Handler
	alice  storage.Account
	bob    storage.Account
	rights map[string]acl.Rights // grants to bob on alice's folders (test Access)
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, rights: map[string]acl.Rights{}}
	f.alice, _ = st.CreateAccount(ctx, storage.Account{Address: "alice@example.test", PasswordHash: "x"})
	f.bob, _ = st.CreateAccount(ctx, storage.Account{Address: "bob@example.test", PasswordHash: "x"})
	f.h = New(Options{Store: st, MaxXMLBody: 64 << 10, Access: func(r *http.Request) (Access, bool) {
		switch r.Header.Get("X-User") {
		case "alice":
			return NewOwnerAccess(st, f.alice.ID, f.alice.Address), true
		case "bob":
			return &grantAccess{OwnerAccess: NewOwnerAccess(st, f.bob.ID, f.bob.Address), f: f}, true
		}
		return nil, false
	}})
	return f
}

// grantAccess is OwnerAccess plus the fixture's grants to bob on alice's
// folders: what storage/view will answer once sharing lands.
type grantAccess struct {
	*OwnerAccess
	f *fixture
}

func (g *grantAccess) Folder(ctx context.Context, owner, path string) (storage.Mailbox, acl.Rights, error) {
	if owner != "alice@example.test" {
		return g.OwnerAccess.Folder(ctx, owner, path)
	}
	r := g.f.rights[path]
	if !r.Has(acl.Of(acl.Lookup)) {
		return storage.Mailbox{}, 0, storage.ErrNoMailbox
	}
	mb, err := g.f.st.Mailbox(ctx, g.f.alice.ID, path)
	return mb, r, err
}

func (g *grantAccess) Folders(ctx context.Context, owner string) ([]Folder, error) {
	if owner != "alice@example.test" {
		return g.OwnerAccess.Folders(ctx, owner)
	}
	mbs, err := g.f.st.Mailboxes(ctx, g.f.alice.ID)
	if err != nil {
		return nil, err
	}
	var out []Folder
	for _, mb := range mbs {
		if r := g.f.rights[mb.Name]; r.Has(acl.Of(acl.Lookup)) {
			out = append(out, Folder{Mailbox: mb, Rights: r})
		}
	}
	return out, nil
}

func (f *fixture) do(t testing.TB, user, method, path string, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("X-User", user)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func want(t *testing.T, w *httptest.ResponseRecorder, code int, what string) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("%s: status %d, want %d\n%s", what, w.Code, code, w.Body.String())
	}
}

const aliceFiles = "/webdav/alice@example.test/Files/"

func TestBasics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	want(t, f.do(t, "alice", "PUT", aliceFiles+"a.txt", "hello"), 201, "PUT new")
	w := f.do(t, "alice", "GET", aliceFiles+"a.txt", "", "Range", "bytes=1-3")
	want(t, w, 206, "GET range")
	if w.Body.String() != "ell" || w.Header().Get("ETag") == "" || w.Header().Get("Last-Modified") == "" {
		t.Fatalf("range body %q, headers %v", w.Body.String(), w.Header())
	}
	etag := w.Header().Get("ETag")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"a.txt", "changed", "If-Match", `"nope"`), 412, "If-Match mismatch")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"a.txt", "changed", "If-Match", etag), 204, "If-Match")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"a.txt", "again", "If-None-Match", "*"), 412, "If-None-Match *")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"nodir/a.txt", "x"), 409, "PUT without parent")
	want(t, f.do(t, "alice", "MKCOL", aliceFiles+"sub", ""), 201, "MKCOL")
	want(t, f.do(t, "alice", "PROPFIND", aliceFiles, "", "Depth", "infinity"), 403, "Depth infinity")
	w = f.do(t, "alice", "PROPFIND", aliceFiles, "")
	want(t, w, 207, "PROPFIND (no Depth = 1)")
	if !strings.Contains(w.Body.String(), "a.txt") || !strings.Contains(w.Body.String(), "sub/") {
		t.Fatalf("PROPFIND body:\n%s", w.Body.String())
	}
	want(t, f.do(t, "alice", "DELETE", "/webdav/alice@example.test/Files", ""), 403, "DELETE Files")
}

// TestBadInput: traversal, NUL, backslashes, bad names, oversized XML.
func TestBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, p := range []string{
		aliceFiles + "../../bob@example.test/Files/x",
		aliceFiles + "%2e%2e/%2E%2E/bob@example.test/Files/x",
		aliceFiles + "a%5cb",
		aliceFiles + "a%00b",
		aliceFiles + "./x",
	} {
		r := httptest.NewRequest("PUT", "/", strings.NewReader("x"))
		r.URL.Path, r.URL.RawPath = "", ""
		if err := setPath(r, p); err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-User", "alice")
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		want(t, w, 400, p)
	}
	long := strings.Repeat("x", storage.MaxFileName+1)
	want(t, f.do(t, "alice", "PUT", aliceFiles+long, "x"), 400, "name too long")
	big := "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop>" + strings.Repeat("<D:getetag/>", 10000) + "</D:prop></D:propfind>"
	want(t, f.do(t, "alice", "PROPFIND", aliceFiles, big, "Depth", "0"), 413, "XML body too large")
	want(t, f.do(t, "alice", "PROPFIND", aliceFiles, `<D:propfind xmlns:D="DAV:" xmlns:e=""><D:allprop/></D:propfind>`, "Depth", "0"), 400, "empty prefix")
}

func setPath(r *http.Request, p string) error {
	u, err := url.Parse(p) // not URL.Parse: that would remove the dot segments
	if err != nil {
		return err
	}
	r.URL = u
	return nil
}

// TestRights: the no-leak rule and the rights of each method.
func TestRights(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	want(t, f.do(t, "alice", "PUT", aliceFiles+"doc.txt", "secret"), 201, "PUT")
	want(t, f.do(t, "alice", "MKCOL", aliceFiles+"shared", ""), 201, "MKCOL")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"shared/s.txt", "shared text"), 201, "PUT")
	// Without any grant: 404 for the existing file and folder and a missing one alike.
	for _, p := range []string{aliceFiles + "doc.txt", aliceFiles, aliceFiles + "nothing.txt", "/webdav/nobody@example.test/Files/"} {
		want(t, f.do(t, "bob", "GET", p, ""), 404, "no l: "+p)
		want(t, f.do(t, "bob", "PROPFIND", p, "", "Depth", "0"), 404, "no l: PROPFIND "+p)
	}
	// "l" and "r" on Files/shared: read, but not write, delete or MKCOL.
	f.rights["Files/shared"] = acl.Of(acl.Lookup, acl.Read)
	w := f.do(t, "bob", "GET", aliceFiles+"shared/s.txt", "")
	want(t, w, 200, "read shared")
	if w.Body.String() != "shared text" {
		t.Fatalf("shared body %q", w.Body.String())
	}
	want(t, f.do(t, "bob", "PUT", aliceFiles+"shared/s.txt", "x"), 403, "no w")
	want(t, f.do(t, "bob", "PUT", aliceFiles+"shared/new.txt", "x"), 403, "no i")
	want(t, f.do(t, "bob", "DELETE", aliceFiles+"shared/s.txt", ""), 403, "no t")
	want(t, f.do(t, "bob", "MKCOL", aliceFiles+"shared/d", ""), 403, "no k")
	want(t, f.do(t, "bob", "PROPPATCH", aliceFiles+"shared/s.txt", proppatch), 403, "no w for PROPPATCH")
	// "l" alone: listed, not readable.
	f.rights["Files/shared"] = acl.Of(acl.Lookup)
	want(t, f.do(t, "bob", "GET", aliceFiles+"shared/s.txt", ""), 403, "no r")
	// "i" creates, "w" overwrites, "t" deletes, "k" makes collections.
	f.rights["Files/shared"] = acl.Of(acl.Lookup, acl.Read, acl.Insert, acl.Write, acl.DeleteMessages, acl.CreateMailbox)
	want(t, f.do(t, "bob", "PUT", aliceFiles+"shared/new.txt", "x"), 201, "i")
	want(t, f.do(t, "bob", "PUT", aliceFiles+"shared/s.txt", "y"), 204, "w")
	want(t, f.do(t, "bob", "DELETE", aliceFiles+"shared/new.txt", ""), 204, "t")
	want(t, f.do(t, "bob", "MKCOL", aliceFiles+"shared/d", ""), 201, "k")
	// Files itself is still invisible to bob.
	want(t, f.do(t, "bob", "GET", aliceFiles+"doc.txt", ""), 404, "sibling still hidden")
}

const proppatch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>` +
	`<Z:Win32CreationTime>Mon, 01 Jan 2024 00:00:00 GMT</Z:Win32CreationTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>` +
	`</D:prop></D:set></D:propertyupdate>`

// TestQuota: 507 past the account's quota, for PUT and COPY; a file
// counts its own size (not its message's, about 4/3 of it).
func TestQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.alice
	a.QuotaBytes = 6000
	if err := f.st.UpdateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	want(t, f.do(t, "alice", "PUT", aliceFiles+"small", strings.Repeat("s", 2000)), 201, "PUT within quota")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"big", strings.Repeat("b", 5000)), 507, "PUT past quota")
	want(t, f.do(t, "alice", "COPY", aliceFiles+"small", "", "Destination", aliceFiles+"copy"), 201, "COPY within quota")
	want(t, f.do(t, "alice", "COPY", aliceFiles+"small", "", "Destination", aliceFiles+"copy2"), 201, "COPY that fills the quota")
	want(t, f.do(t, "alice", "COPY", aliceFiles+"small", "", "Destination", aliceFiles+"copy3"), 507, "COPY past quota")
	if u, err := f.st.Usage(t.Context(), a.ID); err != nil || u.Bytes != 6000 {
		t.Fatalf("usage %+v %v, want the files' 6000 bytes", u, err)
	}
}

// TestWindowsMiniRedir replays what Windows Explorer's WebDAV
// Mini-Redirector sends: OPTIONS, PROPFIND Depth 1 with its property
// list, LOCK of a new file, PUT with the lock token and Translate: f,
// PROPPATCH of its Win32 properties, UNLOCK, GET with Translate: f.
func TestWindowsMiniRedir(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ua := "Microsoft-WebDAV-MiniRedir/10.0.19045"
	w := httptest.NewRecorder()
	Options200(w, httptest.NewRequest("OPTIONS", "/", nil)) // mounted on / by the server, without login
	want(t, w, 200, "OPTIONS /")
	want(t, f.do(t, "", "OPTIONS", aliceFiles, ""), 200, "OPTIONS before login")
	if !strings.Contains(w.Header().Get("DAV"), "2") || w.Header().Get("MS-Author-Via") != "DAV" {
		t.Fatalf("OPTIONS headers %v", w.Header())
	}
	pf := `<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop><D:name/><D:parentname/><D:href/><D:ishidden/>` +
		`<D:isroot/><D:isreadonly/><D:getcontenttype/><D:contentclass/><D:getcontentlanguage/><D:creationdate/><D:lastaccessed/>` +
		`<D:getlastmodified/><D:getcontentlength/><D:iscollection/><D:resourcetype/><D:displayname/></D:prop></D:propfind>`
	want(t, f.do(t, "alice", "PROPFIND", aliceFiles, pf, "Depth", "1", "User-Agent", ua, "Translate", "f"), 207, "PROPFIND")
	lk := `<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>` +
		`<D:locktype><D:write/></D:locktype><D:owner><D:href>WIN\alice</D:href></D:owner></D:lockinfo>`
	w = f.do(t, "alice", "LOCK", aliceFiles+"New%20Text%20Document.txt", lk, "Timeout", "Second-3600", "User-Agent", ua)
	want(t, w, 201, "LOCK unmapped")
	tok := w.Header().Get("Lock-Token")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"New%20Text%20Document.txt", "from windows", "User-Agent", ua), 423, "PUT without token")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"New%20Text%20Document.txt", "from windows", "If", "("+tok+")", "Translate", "f", "User-Agent", ua), 204, "PUT with token")
	w = f.do(t, "alice", "PROPPATCH", aliceFiles+"New%20Text%20Document.txt", proppatch, "If", "("+tok+")", "User-Agent", ua)
	want(t, w, 207, "PROPPATCH Win32 props")
	want(t, f.do(t, "alice", "UNLOCK", aliceFiles+"New%20Text%20Document.txt", "", "Lock-Token", tok), 204, "UNLOCK")
	w = f.do(t, "alice", "GET", aliceFiles+"New%20Text%20Document.txt", "", "Translate", "f")
	want(t, w, 200, "GET")
	if w.Body.String() != "from windows" {
		t.Fatalf("GET body %q", w.Body.String())
	}
	w = f.do(t, "alice", "PROPFIND", aliceFiles+"New%20Text%20Document.txt", "", "Depth", "0")
	if !strings.Contains(w.Body.String(), "Win32FileAttributes") {
		t.Fatalf("Win32 properties not kept:\n%s", w.Body.String())
	}
}

// TestMacFinder: AppleDouble "._" files and .DS_Store are ordinary files
// (Finder writes them beside every file it copies).
func TestMacFinder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, n := range []string{"._report.pdf", ".DS_Store", "report.pdf"} {
		want(t, f.do(t, "alice", "PUT", aliceFiles+n, "data of "+n), 201, n)
	}
	w := f.do(t, "alice", "PROPFIND", aliceFiles, "", "Depth", "1")
	for _, n := range []string{"._report.pdf", ".DS_Store"} {
		if !strings.Contains(w.Body.String(), n) {
			t.Fatalf("%s not listed", n)
		}
	}
	want(t, f.do(t, "alice", "MOVE", aliceFiles+"._report.pdf", "", "Destination", aliceFiles+"._renamed.pdf"), 201, "MOVE AppleDouble")
}

// TestSharedLocks: two shared locks coexist, an exclusive one conflicts,
// a holder writes with its token, timeouts are clamped, refresh works.
func TestSharedLocks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	want(t, f.do(t, "alice", "PUT", aliceFiles+"l.txt", "x"), 201, "PUT")
	shared := `<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	excl := strings.Replace(shared, "shared", "exclusive", 1)
	w1 := f.do(t, "alice", "LOCK", aliceFiles+"l.txt", shared, "Timeout", "Second-99999999")
	want(t, w1, 200, "shared 1")
	if !strings.Contains(w1.Body.String(), "Second-86400") {
		t.Fatalf("timeout not clamped:\n%s", w1.Body.String())
	}
	w2 := f.do(t, "alice", "LOCK", aliceFiles+"l.txt", shared)
	want(t, w2, 200, "shared 2")
	want(t, f.do(t, "alice", "LOCK", aliceFiles+"l.txt", excl), 423, "exclusive over shared")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"l.txt", "y"), 423, "PUT without token")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"l.txt", "y", "If", "("+w2.Header().Get("Lock-Token")+")"), 204, "PUT with one shared token")
	want(t, f.do(t, "alice", "LOCK", aliceFiles+"l.txt", "", "If", "("+w1.Header().Get("Lock-Token")+")", "Timeout", "Second-60"), 200, "refresh")
	w := f.do(t, "alice", "PROPFIND", aliceFiles+"l.txt", `<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>`, "Depth", "0")
	if strings.Count(w.Body.String(), "activelock") < 4 {
		t.Fatalf("lockdiscovery:\n%s", w.Body.String())
	}
}

// FuzzPaths feeds request paths to the handler: it must answer without
// panicking and never touch another account's files.
func FuzzPaths(f *testing.F) {
	fx := newFixture(f)
	for _, s := range []string{"Files/a.txt", "Files/../../bob@example.test/Files", "Files/%2e%2e/x", "Files/a%00", "Files/a\\b",
		"Files/" + strings.Repeat("é", 200), "Files/sub/", "Files/r\u0065\u0301sum\u00e9", "%2fFiles"} {
		f.Add(s, "PUT")
		f.Add(s, "PROPFIND")
	}
	f.Fuzz(func(t *testing.T, p, method string) {
		switch method {
		case "PUT", "PROPFIND", "GET", "DELETE", "MKCOL", "MOVE", "COPY", "LOCK":
		default:
			return
		}
		r, err := http.NewRequest(method, "http://x/webdav/alice@example.test/"+p, strings.NewReader("x"))
		if err != nil {
			return
		}
		r.Header.Set("X-User", "alice")
		r.Header.Set("Destination", "/webdav/bob@example.test/Files/"+p)
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, r)
		if files, err := fx.st.Files(context.Background(), bobFiles(fx)); err == nil && len(files) > 0 {
			t.Fatalf("%s %q reached bob's files", method, p)
		}
	})
}

func bobFiles(f *fixture) storage.MailboxID {
	mb, err := f.st.Mailbox(context.Background(), f.bob.ID, "Files")
	if err != nil {
		return -1
	}
	return mb.ID
}

// FuzzXMLBodies feeds PROPFIND, PROPPATCH and LOCK bodies.
func FuzzXMLBodies(f *testing.F) {
	fx := newFixture(f)
	fx.do(f, "alice", "PUT", aliceFiles+"t.txt", "x")
	for _, s := range []string{proppatch, `<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`,
		`<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`,
		`<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>me</D:owner></D:lockinfo>`,
		`<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop><x:y xmlns:x="urn:x"/></D:prop></D:remove></D:propertyupdate>`, "<", ""} {
		for _, m := range []string{"PROPFIND", "PROPPATCH", "LOCK"} {
			f.Add(m, s)
		}
	}
	f.Fuzz(func(t *testing.T, method, body string) {
		if method != "PROPFIND" && method != "PROPPATCH" && method != "LOCK" {
			return
		}
		w := fx.do(t, "alice", method, aliceFiles+"t.txt", body, "Depth", "0")
		if w.Code >= 500 && w.Code != 507 {
			t.Fatalf("%s: %d for %q", method, w.Code, body)
		}
		if method == "LOCK" && w.Code == 200 {
			tok := w.Header().Get("Lock-Token")
			fx.do(t, "alice", "UNLOCK", aliceFiles+"t.txt", "", "Lock-Token", tok)
		}
	})
}

func TestParseIf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		lists int
		ok    bool
	}{
		{"(<opaquelocktoken:a>)", 1, true},
		{`(<opaquelocktoken:a> ["etag"]) (Not <DAV:no-lock>)`, 2, true},
		{`<http://h/webdav/x> (<opaquelocktoken:a>) <http://h/y> ([W/"e"])`, 2, true},
		{"(Not <DAV:no-lock> <x:y>)", 1, true},
		{"(", 0, false},
		{"()", 0, false},
		{"<x>", 0, false},
		{"(<a>) <x> (<b>)", 0, false},
		{"junk", 0, false},
	} {
		l, ok := parseIf(tc.in)
		if ok != tc.ok || len(l) != tc.lists {
			t.Errorf("parseIf(%q) = %d lists, %v", tc.in, len(l), ok)
		}
	}
}

func FuzzParseIf(f *testing.F) {
	for _, s := range []string{"(<opaquelocktoken:a>)", `<http://h/x> (<a> ["e"]) (Not <DAV:no-lock>)`, "(Not [W/\"x\"])"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lists, ok := parseIf(s)
		if ok && len(lists) == 0 {
			t.Fatal("ok without lists")
		}
		for _, l := range lists {
			if len(l.conditions) == 0 {
				t.Fatal("empty list accepted")
			}
		}
	})
}

// TestReservedTopLevelNames: "~" and "#" start other accounts' and public
// folders (IMAP's namespaces): MKCOL or MOVE to such a top-level name is
// refused, so no folder of the account shadows them; deeper levels are
// ordinary names.
func TestReservedTopLevelNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	top := "/webdav/alice@example.test/"
	want(t, f.do(t, "alice", "MKCOL", top+"~bob@example.test", ""), 400, "MKCOL ~owner")
	want(t, f.do(t, "alice", "MKCOL", top+"%23public", ""), 400, "MKCOL #public")
	want(t, f.do(t, "alice", "MKCOL", aliceFiles+"~ok", ""), 201, "MKCOL Files/~ok")
	want(t, f.do(t, "alice", "MKCOL", top+"Docs", ""), 201, "MKCOL Docs")
	want(t, f.do(t, "alice", "MOVE", top+"Docs", "", "Destination", top+"~Docs"), 400, "MOVE to ~Docs")
}
