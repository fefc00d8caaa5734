package dav

import (
	"net/http"
	"strings"
	"testing"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// TestViewAccessLookup: ViewAccess.Lookup (one folder, a few queries)
// agrees with ViewAccess.Folders (the list) for every name the list
// holds, and finds nothing the list does not hold: the principal's own
// typed folders, a folder shared with it, not an unshared one, not a mail
// folder, not another spelling.
func TestViewAccessLookup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	for _, a := range []storage.Account{e.jane, e.john} {
		if _, err := e.st.EnsureGroupwareMailboxes(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	cal, _ := e.st.Mailbox(ctx, e.jane.ID, "Calendar")
	read, _ := acl.Parse("lrs")
	if _, _, err := e.st.ChangeACL(ctx, e.jane.ID, cal.ID, []acl.Change{{Identifier: "john@example.test", Op: acl.OpSet, Rights: read}}); err != nil {
		t.Fatal(err)
	}
	newAccess := func() *ViewAccess {
		v, err := view.New(ctx, e.st, e.john.ID, view.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return NewViewAccess(v)
	}
	listed, err := newAccess().Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Folder{}
	for _, f := range listed {
		names[f.Name] = f
	}
	if _, ok := names["~jane@example.test/Calendar"]; !ok {
		t.Fatalf("the shared calendar is not listed: %v", names)
	}
	for name, want := range names {
		got, ok, err := newAccess().Lookup(ctx, name)
		if err != nil || !ok || got.Mailbox.ID != want.Mailbox.ID || got.Type != want.Type || got.Rights != want.Rights || got.Owner.ID != want.Owner.ID || got.Name != want.Name {
			t.Errorf("Lookup(%q) = %+v %v %v, want %+v", name, got, ok, err, want)
		}
	}
	for _, name := range []string{"~jane@example.test/Tasks", "INBOX", "inbox", "~JANE@example.test/Calendar", "Nothing", "~nobody@example.test/Calendar", "calendar"} {
		if _, ok, err := newAccess().Lookup(ctx, name); ok || err != nil {
			t.Errorf("Lookup(%q) found something (%v)", name, err)
		}
	}
	// Over HTTP, with the view as the server wires it.
	e2 := newEnvWith(t, func(e *env, r *http.Request, acct storage.Account) Access {
		v, err := view.New(r.Context(), e.st, acct.ID, view.Options{})
		if err != nil {
			t.Error(err)
			return nil
		}
		return NewViewAccess(v)
	})
	for _, a := range []storage.Account{e2.jane, e2.john} {
		if _, err := e2.st.EnsureGroupwareMailboxes(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	cal2, _ := e2.st.Mailbox(ctx, e2.jane.ID, "Calendar")
	if _, _, err := e2.st.ChangeACL(ctx, e2.jane.ID, cal2.ID, []acl.Change{{Identifier: "john@example.test", Op: acl.OpSet, Rights: read}}); err != nil {
		t.Fatal(err)
	}
	if r, b := e2.do(t, "jane@example.test", "PUT", "/dav/calendars/jane@example.test/Calendar/m.ics", map[string]string{"Content-Type": "text/calendar"},
		event("m1", "Jane's meeting", "20260302T100000Z", "20260302T110000Z", "")); r.StatusCode != 201 {
		t.Fatalf("%d %s", r.StatusCode, b)
	}
	shared := "/dav/calendars/john@example.test/~jane@example.test/Calendar/"
	if r, b := e2.do(t, "john@example.test", "GET", shared+"m.ics", nil, ""); r.StatusCode != 200 || !strings.Contains(b, "Jane's meeting") {
		t.Fatalf("john reads: %d %s", r.StatusCode, b)
	}
	if r, _ := e2.do(t, "john@example.test", "PUT", shared+"x.ics", map[string]string{"Content-Type": "text/calendar"},
		event("x1", "John's", "20260302T100000Z", "20260302T110000Z", "")); r.StatusCode != 403 {
		t.Fatalf("john's PUT: %d", r.StatusCode)
	}
	for _, p := range []string{"/dav/calendars/john@example.test/~jane@example.test/Tasks/x.ics", "/dav/calendars/john@example.test/~jane@example.test/Tasks/"} {
		if r, _ := e2.do(t, "john@example.test", "GET", p, nil, ""); r.StatusCode != 404 {
			t.Fatalf("%s: %d, want 404", p, r.StatusCode)
		}
	}
}
