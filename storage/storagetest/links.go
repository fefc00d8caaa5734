package storagetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

// testLinks: download links (storage.Links): stored by token hash, listed
// per account, revoked once, deleted when old, gone with their folder and
// account.
func testLinks(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "links")
	b := newAccount(t, st, "links2")
	mb := must(st.CreateMailbox(ctx, a.ID, "Files", ""))(t)
	other := must(st.CreateMailbox(ctx, a.ID, "Files/other", ""))(t)
	bmb := must(st.CreateMailbox(ctx, b.ID, "Files", ""))(t)

	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	token, hash, err := storage.NewLinkToken()
	noErr(t, err)
	if len(token) < 32 || hash != storage.HashLinkToken(token) || len(hash) != 64 || strings.Contains(hash, token) {
		t.Fatalf("token %q hash %q", token, hash)
	}
	if token2, _, _ := storage.NewLinkToken(); token2 == token {
		t.Fatal("two tokens alike")
	}
	link := storage.Link{TokenHash: hash, Account: a.ID, Mailbox: mb.ID, Name: "report.pdf",
		Content: "ab12", Size: 1234, Created: t0, Expires: t0.Add(48 * time.Hour), Note: "mail to x@y.test"}
	id := must(st.CreateLink(ctx, link))(t)
	if id == 0 {
		t.Fatal("no ID")
	}
	got := must(st.LinkByToken(ctx, hash))(t)
	link.ID = id
	if got != link {
		t.Fatalf("LinkByToken:\n got %+v\nwant %+v", got, link)
	}
	if got := must(st.Link(ctx, id))(t); got != link {
		t.Fatalf("Link: %+v", got)
	}
	if !got.Live(t0.Add(time.Hour)) || got.Live(t0.Add(48*time.Hour)) {
		t.Fatal("Live before/at expiry")
	}
	if _, err := st.LinkByToken(ctx, storage.HashLinkToken("no such token")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := st.Link(ctx, id+1000); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown ID: %v", err)
	}

	// Refused: a duplicate token, a bad hash, no expiry, a long note, a
	// folder of another account, a missing folder or account.
	wantErr(t, must2e(st.CreateLink(ctx, link)), storage.ErrExists)
	bad := link
	bad.TokenHash = "short"
	wantErr(t, must2e(st.CreateLink(ctx, bad)), storage.ErrInvalid)
	_, h2, _ := storage.NewLinkToken()
	bad = link
	bad.TokenHash, bad.Expires = h2, t0
	wantErr(t, must2e(st.CreateLink(ctx, bad)), storage.ErrInvalid)
	bad = link
	bad.TokenHash, bad.Note = h2, strings.Repeat("x", storage.MaxLinkNote+1)
	wantErr(t, must2e(st.CreateLink(ctx, bad)), storage.ErrInvalid)
	bad = link
	bad.TokenHash, bad.Mailbox = h2, bmb.ID
	wantErr(t, must2e(st.CreateLink(ctx, bad)), storage.ErrInvalid)
	bad = link
	bad.TokenHash, bad.Mailbox = h2, 999999
	wantErr(t, must2e(st.CreateLink(ctx, bad)), storage.ErrNoMailbox)
	bad = link
	bad.TokenHash, bad.Account = h2, 999999
	wantErr(t, must2e(st.CreateLink(ctx, bad)), storage.ErrNoAccount)

	// More links: one in another folder, one of account b; Created set
	// when zero.
	_, h3, _ := storage.NewLinkToken()
	id3 := must(st.CreateLink(ctx, storage.Link{TokenHash: h3, Account: a.ID, Mailbox: other.ID, Name: "a.bin",
		Content: "cd34", Size: 1, Expires: time.Now().Add(time.Hour)}))(t)
	if l := must(st.Link(ctx, id3))(t); l.Created.IsZero() || time.Since(l.Created) > time.Hour {
		t.Fatalf("Created %v", l.Created)
	}
	_, h4, _ := storage.NewLinkToken()
	id4 := must(st.CreateLink(ctx, storage.Link{TokenHash: h4, Account: b.ID, Mailbox: bmb.ID, Name: "b.bin",
		Content: "ef56", Size: 2, Created: t0, Expires: t0.Add(time.Hour)}))(t)
	ids := func(ls []storage.Link) []storage.LinkID {
		var out []storage.LinkID
		for _, l := range ls {
			out = append(out, l.ID)
		}
		return out
	}
	if got := ids(must(st.Links(ctx, a.ID))(t)); len(got) != 2 || got[0] != id || got[1] != id3 {
		t.Fatalf("links of a: %v", got)
	}
	if got := ids(must(st.Links(ctx, 0))(t)); len(got) != 3 || got[2] != id4 {
		t.Fatalf("all links: %v", got)
	}

	// Revoke: once, the first time kept.
	noErr(t, st.RevokeLink(ctx, id, t0.Add(time.Hour)))
	noErr(t, st.RevokeLink(ctx, id, t0.Add(2*time.Hour)))
	if l := must(st.LinkByToken(ctx, hash))(t); !l.Revoked.Equal(t0.Add(time.Hour)) || l.Live(t0.Add(2*time.Hour)) {
		t.Fatalf("revoked: %v", l.Revoked)
	}
	wantErr(t, st.RevokeLink(ctx, id+1000, t0), storage.ErrNotFound)

	// DeleteLinks removes what expired or was revoked before the time.
	if n := must(st.DeleteLinks(ctx, t0.Add(30*time.Minute)))(t); n != 0 {
		t.Fatalf("deleted %d links too early", n)
	}
	if n := must(st.DeleteLinks(ctx, t0.Add(90*time.Minute)))(t); n != 2 { // id revoked at +1h, id4 expired at +1h
		t.Fatalf("deleted %d links, want 2", n)
	}
	if got := ids(must(st.Links(ctx, 0))(t)); len(got) != 1 || got[0] != id3 {
		t.Fatalf("after DeleteLinks: %v", got)
	}

	// A link goes with its folder, and with its account.
	_, h5, _ := storage.NewLinkToken()
	must(st.CreateLink(ctx, storage.Link{TokenHash: h5, Account: a.ID, Mailbox: mb.ID, Name: "x", Content: "aa", Size: 1,
		Expires: time.Now().Add(time.Hour)}))(t)
	noErr(t, st.DeleteMailbox(ctx, other.ID))
	if _, err := st.Link(ctx, id3); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("link survived its folder: %v", err)
	}
	noErr(t, st.DeleteAccount(ctx, a.Address))
	if _, err := st.LinkByToken(ctx, h5); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("link survived its account: %v", err)
	}
}

// must2e returns the error of a (value, error) pair.
func must2e[T any](_ T, err error) error { return err }
