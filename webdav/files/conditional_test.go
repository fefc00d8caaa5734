package files

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/floemail/floe/acl"
)

// TestConditionalWrites: If-Match and If-None-Match decide every method
// that changes a resource (RFC 9110 13.1), not only PUT: a DELETE, MOVE
// or PROPPATCH whose condition fails changes nothing (412).
func TestConditionalWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.do(t, "alice", "PUT", aliceFiles+"c.txt", "one", "If-None-Match", "*")
	want(t, w, 201, "PUT If-None-Match * (new)")
	etag := w.Header().Get("ETag")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"c.txt", "two", "If-None-Match", "*"), 412, "PUT If-None-Match * (exists)")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"c.txt", "two", "If-Match", `"nope"`), 412, "PUT If-Match other")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"absent.txt", "two", "If-Match", "*"), 412, "PUT If-Match * (absent)")
	want(t, f.do(t, "alice", "DELETE", aliceFiles+"c.txt", "", "If-Match", `"nope"`), 412, "DELETE If-Match other")
	want(t, f.do(t, "alice", "MOVE", aliceFiles+"c.txt", "", "If-Match", `"nope"`, "Destination", aliceFiles+"d.txt"), 412, "MOVE If-Match other")
	want(t, f.do(t, "alice", "COPY", aliceFiles+"c.txt", "", "If-None-Match", etag, "Destination", aliceFiles+"d.txt"), 412, "COPY If-None-Match same")
	want(t, f.do(t, "alice", "PROPPATCH", aliceFiles+"c.txt", proppatch, "If-Match", `"nope"`), 412, "PROPPATCH If-Match other")
	want(t, f.do(t, "alice", "MKCOL", aliceFiles+"dir", ""), 201, "MKCOL")
	want(t, f.do(t, "alice", "DELETE", aliceFiles+"dir", "", "If-Match", `"nope"`), 412, "DELETE folder If-Match an ETag")
	want(t, f.do(t, "alice", "DELETE", aliceFiles+"dir", "", "If-None-Match", "*"), 412, "DELETE folder If-None-Match *")
	if w := f.do(t, "alice", "GET", aliceFiles+"c.txt", ""); w.Code != 200 || w.Body.String() != "one" {
		t.Fatalf("after failed conditions: %d %q", w.Code, w.Body.String())
	}
	want(t, f.do(t, "alice", "GET", aliceFiles+"d.txt", ""), 404, "no copy or move happened")
	want(t, f.do(t, "alice", "PROPPATCH", aliceFiles+"c.txt", proppatch, "If-Match", etag), 207, "PROPPATCH If-Match current")
	want(t, f.do(t, "alice", "MOVE", aliceFiles+"c.txt", "", "If-Match", etag, "Destination", aliceFiles+"d.txt"), 201, "MOVE If-Match current")
	want(t, f.do(t, "alice", "DELETE", aliceFiles+"d.txt", "", "If-Match", etag), 204, "DELETE If-Match current")
	want(t, f.do(t, "alice", "DELETE", aliceFiles+"dir", "", "If-Match", "*"), 204, "DELETE folder If-Match *")
}

// TestConditionalPutRace: writers racing with the same condition cannot
// all pass it. The condition is decided inside the write's transaction;
// checked before it, every one of them saw the file as it was and
// replaced it (nine 204s after one 201).
func TestConditionalPutRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	want(t, f.do(t, "alice", "PUT", aliceFiles+"first.txt", "x"), 201, "PUT (makes Files)")
	const n = 12
	// Each round writes contents no earlier round wrote: ETags are content
	// hashes, so a writer storing the very bytes already there would leave
	// the ETag (and the next writer's If-Match) unchanged.
	race := func(round string, hdr ...string) map[int]int {
		codes := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				w := f.do(t, "alice", "PUT", aliceFiles+"race.bin", round+strings.Repeat(string(rune('a'+i)), 100000), hdr...)
				mu.Lock()
				codes[w.Code]++
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		return codes
	}
	if c := race("1", "If-None-Match", "*"); c[201] != 1 || c[412] != n-1 {
		t.Fatalf("If-None-Match * race: %v, want one 201 and %d 412", c, n-1)
	}
	etag := f.do(t, "alice", "HEAD", aliceFiles+"race.bin", "").Header().Get("ETag")
	if c := race("2", "If-Match", etag); c[204] != 1 || c[412] != n-1 {
		t.Fatalf("If-Match race: %v, want one 204 and %d 412", c, n-1)
	}
}

// TestOwnerCase: an address in any letter case names the same tree, and
// answers use the request's spelling (clients compare hrefs with it).
func TestOwnerCase(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	upper := "/webdav/Alice@Example.TEST/Files/"
	want(t, f.do(t, "alice", "PUT", upper+"a.txt", "case"), 201, "PUT with capitals")
	if w := f.do(t, "alice", "GET", aliceFiles+"a.txt", ""); w.Code != 200 || w.Body.String() != "case" {
		t.Fatalf("GET lowercase: %d %q", w.Code, w.Body.String())
	}
	w := f.do(t, "alice", "PROPFIND", upper, "", "Depth", "1")
	want(t, w, 207, "PROPFIND with capitals")
	if !strings.Contains(w.Body.String(), "<D:href>"+upper+"a.txt</D:href>") {
		t.Fatalf("hrefs do not follow the request:\n%s", w.Body.String())
	}
	want(t, f.do(t, "alice", "MOVE", upper+"a.txt", "", "Destination", "http://example.com"+aliceFiles+"b.txt"), 201, "MOVE across spellings")
	want(t, f.do(t, "alice", "COPY", aliceFiles+"b.txt", "", "Destination", upper+"c.txt"), 201, "COPY across spellings")
	want(t, f.do(t, "alice", "GET", "/webdav/ALICE@EXAMPLE.TEST/Files/c.txt", ""), 200, "GET copy")
}

// TestMissingParentShared: in a folder shared with the principal, a
// missing intermediate folder is 409 (RFC 4918 9.3.1, 9.7.1; litmus
// put_no_parent, mkcol_no_parent warn about 404), and a folder the
// principal may not list answers exactly like one that does not exist.
func TestMissingParentShared(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	want(t, f.do(t, "alice", "MKCOL", aliceFiles+"shared", ""), 201, "MKCOL")
	want(t, f.do(t, "alice", "MKCOL", aliceFiles+"shared/hidden", ""), 201, "MKCOL")
	want(t, f.do(t, "alice", "MKCOL", aliceFiles+"private", ""), 201, "MKCOL")
	f.rights["Files/shared"] = acl.All
	for _, m := range []string{"PUT", "MKCOL", "LOCK"} {
		body := ""
		if m == "LOCK" {
			body = `<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
		}
		want(t, f.do(t, "bob", m, aliceFiles+"shared/missing/x", body), 409, m+" under a missing folder")
		hidden := f.do(t, "bob", m, aliceFiles+"shared/hidden/x", body)
		missing := f.do(t, "bob", m, aliceFiles+"shared/nope/x", body)
		sameAnswer(t, m+" hidden vs missing (in a shared folder)", hidden, missing)
		hidden = f.do(t, "bob", m, aliceFiles+"private/x/y", body)
		missing = f.do(t, "bob", m, aliceFiles+"nope/x/y", body)
		sameAnswer(t, m+" hidden vs missing (above the shared folder)", hidden, missing)
		// Nothing shared: 404 as before.
		want(t, f.do(t, "alice", m, "/webdav/bob@example.test/Files/nope/x", body), 404, m+" in a tree without grants")
	}
}

func sameAnswer(t *testing.T, what string, a, b *httptest.ResponseRecorder) {
	t.Helper()
	if a.Code != b.Code || a.Body.String() != b.Body.String() || len(a.Header()) != len(b.Header()) {
		t.Fatalf("%s differ: %d %q %v / %d %q %v", what, a.Code, a.Body.String(), a.Header(), b.Code, b.Body.String(), b.Header())
	}
	for k := range a.Header() {
		if a.Header().Get(k) != b.Header().Get(k) {
			t.Fatalf("%s: header %s differs: %q / %q", what, k, a.Header().Get(k), b.Header().Get(k))
		}
	}
}

// TestQuotaEarly: a PUT whose announced length cannot fit the quota is
// refused (507) before its body is read; one that may fit is decided by
// the write as before.
func TestQuotaEarly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.alice
	a.QuotaBytes = 100000
	if err := f.st.UpdateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	want(t, f.do(t, "alice", "PUT", aliceFiles+"small.txt", "x"), 201, "PUT small")
	body := &countingReader{r: strings.NewReader(strings.Repeat("b", 200000))}
	r := httptest.NewRequest("PUT", aliceFiles+"big.bin", body)
	r.ContentLength = 200000
	r.Header.Set("X-User", "alice")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	want(t, w, 507, "PUT past the quota")
	if body.n != 0 {
		t.Fatalf("the body was read (%d bytes) before refusing", body.n)
	}
	// A file counts its own size (not its base64 message's, 4/3 of it).
	want(t, f.do(t, "alice", "PUT", aliceFiles+"mid.bin", strings.Repeat("m", 90000)), 201, "PUT that fits as content (not as message)")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"ok.bin", strings.Repeat("o", 10000)), 507, "PUT one byte past the quota")
	want(t, f.do(t, "alice", "PUT", aliceFiles+"ok.bin", strings.Repeat("o", 9999)), 201, "PUT that fills the quota")
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
