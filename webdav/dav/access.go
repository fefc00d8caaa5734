package dav

import (
	"context"
	"errors"
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

// FolderLooker is an Access that can also find one typed folder by the
// principal's name for it without listing them all (a request on one
// collection or object: PUT, GET, REPORT). ok is false when no typed
// folder the principal may list ("l") has that name.
type FolderLooker interface {
	Lookup(ctx context.Context, name string) (f Folder, ok bool, err error)
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

// Lookup finds one folder in the list (ownerAccess lists few folders).
func (a *ownerAccess) Lookup(ctx context.Context, name string) (Folder, bool, error) {
	fs, err := a.Folders(ctx)
	if err != nil {
		return Folder{}, false, err
	}
	for _, f := range fs {
		if f.Name == name {
			return f, true, nil
		}
	}
	return Folder{}, false, nil
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
	types  map[storage.AccountID]map[storage.MailboxID]string
	owners map[storage.AccountID]storage.Account
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
	var out []Folder
	for _, f := range fs {
		df, ok, err := a.typed(ctx, f)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, df)
		}
	}
	if out == nil {
		out = []Folder{}
	}
	return out, nil
}

// typed returns the DAV folder of a view folder (false when it has no
// type), reading each owner's folder types and account once per
// ViewAccess. a.mu is held.
func (a *ViewAccess) typed(ctx context.Context, f view.Folder) (Folder, bool, error) {
	st := a.V.Store()
	if a.types == nil {
		a.types = map[storage.AccountID]map[storage.MailboxID]string{}
		a.owners = map[storage.AccountID]storage.Account{}
	}
	oid := f.Mailbox.Account
	t, ok := a.types[oid]
	if !ok {
		var err error
		if t, err = st.FolderTypes(ctx, oid); err != nil {
			return Folder{}, false, err
		}
		a.types[oid] = t
	}
	typ, ok := t[f.Mailbox.ID]
	if !ok {
		return Folder{}, false, nil
	}
	o, ok := a.owners[oid]
	if !ok {
		if me := a.V.Account(); me.ID == oid {
			o = me
		} else {
			var err error
			if o, err = st.AccountByID(ctx, oid); err != nil {
				return Folder{}, false, err
			}
		}
		a.owners[oid] = o
	}
	return Folder{Mailbox: f.Mailbox, Name: f.Name, Owner: o, Type: typ, Rights: f.Rights}, true, nil
}

// Lookup finds one typed folder by name (view.View.Lookup: a few queries
// instead of the whole list), or in the list when Folders ran already.
func (a *ViewAccess) Lookup(ctx context.Context, name string) (Folder, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listed != nil {
		for _, f := range a.listed {
			if f.Name == name {
				return f, true, nil
			}
		}
		return Folder{}, false, nil
	}
	vf, err := a.V.Lookup(ctx, name)
	if errors.Is(err, storage.ErrNoMailbox) {
		return Folder{}, false, nil
	}
	if err != nil {
		return Folder{}, false, err
	}
	if vf.Name != name { // another spelling of the name ("inbox", "~JANE@...")
		return Folder{}, false, nil
	}
	return a.typed(ctx, vf)
}
