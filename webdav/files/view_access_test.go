package files

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
	"github.com/floemail/floe/storage/view"
)

// TestViewAccess: with the server's Access (the principal's storage/view),
// a folder shared by ACL is readable with "lr", writable with "i", and a
// folder without "l" answers 404 exactly as one that does not exist.
func TestViewAccess(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]storage.AccountID{}
	for _, u := range []string{"alice", "bob"} {
		a, err := st.CreateAccount(ctx, storage.Account{Address: u + "@example.test", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = a.ID
	}
	h := New(Options{Store: st, MaxXMLBody: 64 << 10, Access: func(r *http.Request) (Access, bool) {
		v, err := view.New(r.Context(), st, ids[r.Header.Get("X-User")], view.Options{NoNotify: true})
		if err != nil {
			return nil, false
		}
		return NewViewAccess(v), true
	}})
	do := func(user, method, path, body string) int {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("X-User", user)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if c := do("alice", "PUT", aliceFiles+"a.txt", "hello"); c != 201 {
		t.Fatalf("alice PUT: %d", c)
	}
	mb, err := st.Mailbox(ctx, ids["alice"], storage.DefaultFilesFolder)
	if err != nil {
		t.Fatal(err)
	}
	nothing := do("bob", "GET", "/webdav/alice@example.test/Nope/a.txt", "")
	if c := do("bob", "GET", aliceFiles+"a.txt", ""); c != 404 || c != nothing {
		t.Fatalf("bob GET without rights: %d (nonexistent: %d)", c, nothing)
	}
	admin := view.NewAdmin(st, view.Options{NoNotify: true})
	if _, _, err := admin.ChangeACL(ctx, ids["alice"], mb.ID, []acl.Change{{Identifier: "bob@example.test", Op: acl.OpSet, Rights: acl.Of(acl.Lookup, acl.Read)}}); err != nil {
		t.Fatal(err)
	}
	if c := do("bob", "GET", aliceFiles+"a.txt", ""); c != 200 {
		t.Fatalf("bob GET with lr: %d", c)
	}
	if c := do("bob", "PUT", aliceFiles+"b.txt", "x"); c != 403 {
		t.Fatalf("bob PUT with lr: %d", c)
	}
	if _, _, err := admin.ChangeACL(ctx, ids["alice"], mb.ID, []acl.Change{{Identifier: "bob@example.test", Op: acl.OpAdd, Rights: acl.Of(acl.Insert)}}); err != nil {
		t.Fatal(err)
	}
	if c := do("bob", "PUT", aliceFiles+"b.txt", "x"); c != 201 {
		t.Fatalf("bob PUT with lri: %d", c)
	}
}
