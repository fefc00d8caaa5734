package dav

import (
	"context"
	"net/http"
	"sync"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// Access is one principal's authorized window on the store for DAV: the
// typed folders it may list ("l"), its own and those shared with it, with
// its rights on each. Every folder the handler serves comes from it, so
// folders without "l" are never listed and answer 404. The server wires
// ViewAccess (storage/view, the one authorization path); OwnerAccess (an
// account sees its own folders, with every right) is the default for
// tests.
type Access interface {
	Folders(ctx context.Context) ([]Folder, error)
}

// Folder is a typed folder as the principal sees it.
type Folder struct {
	Mailbox storage.Mailbox
	// Name is the folder's name for the principal, the collection's path
	// segment: "Calendar", or "~jane@example.test/Calendar" for a folder
	// shared with it.
	Name   string
	Owner  storage.Account
	Type   string // the folder type: "event", "contact", ...
	Rights acl.Rights
}

// ownerAccess is the rule before sharing: an account's own typed folders,
// with every right.
type ownerAccess struct {
	st   storage.Store
	acct storage.Account
}

// OwnerAccess returns the Access of acct on its own folders only.
func OwnerAccess(st storage.Store, acct storage.Account) Access { return &ownerAccess{st, acct} }

func (a *ownerAccess) Folders(ctx context.Context) ([]Folder, error) {
	types, err := a.st.FolderTypes(ctx, a.acct.ID)
	if err != nil {
		return nil, err
	}
	mbs, err := a.st.Mailboxes(ctx, a.acct.ID)
	if err != nil {
		return nil, err
	}
	var out []Folder
	for _, mb := range mbs {
		if typ, ok := types[mb.ID]; ok {
			out = append(out, Folder{Mailbox: mb, Name: mb.Name, Owner: a.acct, Type: typ, Rights: acl.All})
		}
	}
	return out, nil
}

type accessKey struct{}

// withAccess returns ctx carrying the request's Access.
func withAccess(ctx context.Context, a Access) context.Context {
	return context.WithValue(ctx, accessKey{}, a)
}

// accessFor returns the Access of a request's principal.
func (h *Handler) accessFor(r *http.Request, acct storage.Account) Access {
	if h.c.Access != nil {
		if a := h.c.Access(r, acct); a != nil {
			return a
		}
	}
	return OwnerAccess(h.c.Store, acct)
}

// ViewAccess is the Access of a principal's storage/view: its own typed
// folders, those of other accounts shared with it ("~owner/Calendar") and
// its domain's public ones ("#public/Global Address Book"), with the
// rights their ACLs give; folders without "l" are not in the list.
// A ViewAccess serves one request: the first Folders answer is kept.
type ViewAccess struct {
	V      *view.View
	mu     sync.Mutex
	listed []Folder
}

// NewViewAccess returns the Access of v.
func NewViewAccess(v *view.View) *ViewAccess { return &ViewAccess{V: v} }

// Folders lists the principal's typed folders: one List of the view, one
// FolderTypes per owner, once per ViewAccess.
func (a *ViewAccess) Folders(ctx context.Context) ([]Folder, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listed != nil {
		return a.listed, nil
	}
	out, err := a.list(ctx)
	if err == nil {
		a.listed = out
	}
	return out, err
}

func (a *ViewAccess) list(ctx context.Context) ([]Folder, error) {
	fs, err := a.V.ListWith(ctx, view.ListOptions{NoSubscriptions: true})
	if err != nil {
		return nil, err
	}
	st := a.V.Store()
	types := map[storage.AccountID]map[storage.MailboxID]string{}
	owners := map[storage.AccountID]storage.Account{}
	var out []Folder
	for _, f := range fs {
		oid := f.Mailbox.Account
		t, ok := types[oid]
		if !ok {
			if t, err = st.FolderTypes(ctx, oid); err != nil {
				return nil, err
			}
			types[oid] = t
		}
		typ, ok := t[f.Mailbox.ID]
		if !ok {
			continue
		}
		o, ok := owners[oid]
		if !ok {
			if o, err = st.AccountByID(ctx, oid); err != nil {
				return nil, err
			}
			owners[oid] = o
		}
		out = append(out, Folder{Mailbox: f.Mailbox, Name: f.Name, Owner: o, Type: typ, Rights: f.Rights})
	}
	if out == nil {
		out = []Folder{}
	}
	return out, nil
}
