package settings

import (
	"strings"
	"testing"
)

func TestSharingAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.h.o.Sharing = e.st
	alice, bob := e.browser(t), e.browser(t)
	alice.login("alice@example.org", oldPW)
	bob.login("bob@example.org", oldPW)

	var s Shares
	if code := alice.do("GET", "/api/v1/shares", nil, &s); code != 200 || len(s.Shared) != 0 || len(s.SharedWithMe) != 0 ||
		!strings.Contains(strings.Join(s.Folders, ","), "INBOX") {
		t.Fatalf("initial: %d %+v", code, s)
	}
	if code := alice.do("PUT", "/api/v1/shares", ShareRequest{Folder: "INBOX", Grantee: "bob", Set: "read"}, &s); code != 200 ||
		len(s.Shared) != 1 || s.Shared[0] != (Share{Folder: "INBOX", Grantee: "bob@example.org", Set: "Read", Rights: "lrs"}) {
		t.Fatalf("share: %d %+v", code, s)
	}
	var bs Shares
	bob.do("GET", "/api/v1/shares", nil, &bs)
	if len(bs.SharedWithMe) != 1 || bs.SharedWithMe[0].Owner != "alice@example.org" || bs.SharedWithMe[0].Folder != "INBOX" ||
		bs.SharedWithMe[0].Set != "Read" {
		t.Fatalf("bob's view: %+v", bs)
	}
	name := bs.SharedWithMe[0].Name
	sub := bs.SharedWithMe[0].Subscribed
	if code := bob.do("PUT", "/api/v1/shared-with-me", SubscribeRequest{Name: name, Subscribed: !sub}, &bs); code != 200 ||
		bs.SharedWithMe[0].Subscribed == sub {
		t.Errorf("subscribe toggle: %d %+v", code, bs)
	}
	var er apiErr
	for _, tc := range []struct {
		req  ShareRequest
		code int
		msg  string
		key  string
	}{
		{ShareRequest{Folder: "INBOX", Grantee: "bob", Set: "everything"}, 400, "set:", "set"},
		{ShareRequest{Folder: "Nope", Grantee: "bob", Set: "read"}, 404, "no folder Nope of yours", "folder"},
		{ShareRequest{Folder: "INBOX", Grantee: "alice@example.org", Set: "read"}, 400, "every right", "grantee"},
	} {
		er = apiErr{}
		if code := alice.do("PUT", "/api/v1/shares", tc.req, &er); code != tc.code || !strings.Contains(er.Error, tc.msg) || er.key() != tc.key {
			t.Errorf("%+v: %d %+v", tc.req, code, er)
		}
	}
	// The seed's sets one by one, a union (Custom from ticked sets) and
	// RFC 4314 letters (Custom letters), as the page sends them.
	for _, tc := range []struct{ set, describe, rights string }{
		{"write", "Write", "ik"}, {"modify", "Modify", "w"}, {"delete", "Delete", "xte"}, {"administer", "Administer", "a"},
		{"all", "All", "lrswipkxte"}, {"full", "Full", "lrswipkxtea"}, {"read+modify", "Read, Modify", "lrsw"},
		{"lrp", "Custom (lrp)", "lrp"},
	} {
		if code := alice.do("PUT", "/api/v1/shares", ShareRequest{Folder: "INBOX", Grantee: "bob", Set: tc.set}, &s); code != 200 ||
			len(s.Shared) != 1 || s.Shared[0].Set != tc.describe || s.Shared[0].Rights != tc.rights {
			t.Errorf("set %q: %d %+v", tc.set, code, s.Shared)
		}
	}
	alice.do("PUT", "/api/v1/shares", ShareRequest{Folder: "INBOX", Grantee: "bob", Set: "read"}, &s)
	// Bob cannot share Alice's folder through his view.
	if code := bob.do("PUT", "/api/v1/shares", ShareRequest{Folder: name, Grantee: "cfg@example.org", Set: "read"}, &er); code != 404 {
		t.Errorf("sharing someone else's folder: %d %+v", code, er)
	}
	// The whole account, then revoke.
	if code := alice.do("PUT", "/api/v1/shares", ShareRequest{Folder: "", Grantee: "cfg@example.org", Set: "full"}, &s); code != 200 {
		t.Errorf("account share: %d", code)
	}
	alice.do("PUT", "/api/v1/shares", ShareRequest{Folder: "INBOX", Grantee: "bob@example.org", Set: "none"}, &s)
	for _, g := range s.Shared {
		if g.Grantee == "bob@example.org" {
			t.Errorf("revoked grant still listed: %+v", s.Shared)
		}
	}
	bs = Shares{}
	bob.do("GET", "/api/v1/shares", nil, &bs)
	if len(bs.SharedWithMe) != 0 {
		t.Errorf("bob still sees: %+v", bs.SharedWithMe)
	}
}
