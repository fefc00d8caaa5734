package files

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// Access is the one place where the file handler asks who may do what:
// it resolves an owner's folder for the request's principal and returns
// the principal's rights on it. Every request goes through it before any
// storage call (ARCHITECTURE decision 5). The no-leak rule: a folder the
// principal may not list ("l") does not exist for it (storage.ErrNoMailbox,
// answered 404 exactly like a folder that does not exist); a missing
// right beyond that is a 403.
//
// ViewAccess answers through the principal's storage/view, the one
// authorization path (shared folders included); the server uses it.
// OwnerAccess, owner-only, remains for tests.
type Access interface {
	// Folder returns owner's folder at path ("Files/sub") and the
	// principal's rights on it (storage.ErrNoMailbox when it does not
	// exist or may not be listed; storage.ErrNoAccount for an unknown
	// owner, answered the same way).
	Folder(ctx context.Context, owner, path string) (storage.Mailbox, acl.Rights, error)
	// Folders lists owner's folders the principal may list, with rights.
	Folders(ctx context.Context, owner string) ([]Folder, error)
	// Principal is the requesting account's address (lock ownership).
	Principal() string
}

// Folder is a folder with the principal's rights on it.
type Folder struct {
	storage.Mailbox
	Rights acl.Rights
}

// OwnerAccess grants an account every right on its own folders and
// nothing on anyone else's: the rule before sharing.
type OwnerAccess struct {
	Store     storage.Store
	Account   storage.AccountID
	Address   string
	ownerByID map[string]storage.Account
}

// NewOwnerAccess returns the Access of account acct (address addr).
func NewOwnerAccess(st storage.Store, acct storage.AccountID, addr string) *OwnerAccess {
	return &OwnerAccess{Store: st, Account: acct, Address: strings.ToLower(addr), ownerByID: map[string]storage.Account{}}
}

func (a *OwnerAccess) Principal() string { return a.Address }

func (a *OwnerAccess) owner(ctx context.Context, owner string) (storage.Account, acl.Rights, error) {
	owner = strings.ToLower(owner)
	acct, ok := a.ownerByID[owner]
	if !ok {
		var err error
		acct, err = a.Store.Account(ctx, owner)
		if err != nil {
			if errors.Is(err, storage.ErrNoAccount) || errors.Is(err, storage.ErrNotFound) {
				return acct, 0, fmt.Errorf("owner %q: %w", owner, storage.ErrNoMailbox)
			}
			return acct, 0, err
		}
		a.ownerByID[owner] = acct
	}
	var rights acl.Rights
	if acct.ID == a.Account {
		rights = acl.All
	}
	if !rights.Has(acl.Of(acl.Lookup)) {
		return acct, 0, fmt.Errorf("owner %q: %w", owner, storage.ErrNoMailbox)
	}
	return acct, rights, nil
}

func (a *OwnerAccess) Folder(ctx context.Context, owner, path string) (storage.Mailbox, acl.Rights, error) {
	acct, rights, err := a.owner(ctx, owner)
	if err != nil {
		return storage.Mailbox{}, 0, err
	}
	mb, err := a.Store.Mailbox(ctx, acct.ID, path)
	return mb, rights, err
}

func (a *OwnerAccess) Folders(ctx context.Context, owner string) ([]Folder, error) {
	acct, rights, err := a.owner(ctx, owner)
	if err != nil {
		return nil, err
	}
	mbs, err := a.Store.Mailboxes(ctx, acct.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Folder, len(mbs))
	for i, mb := range mbs {
		out[i] = Folder{Mailbox: mb, Rights: rights}
	}
	return out, nil
}

// ViewAccess is the Access of a principal's view (storage/view): folders
// of other accounts and the domain's public folders ("@domain") with the
// rights their ACLs give, the no-leak rule included.
type ViewAccess struct{ V *view.View }

// NewViewAccess returns the Access of v.
func NewViewAccess(v *view.View) *ViewAccess { return &ViewAccess{V: v} }

func (a *ViewAccess) Principal() string { return a.V.Account().Address }

func (a *ViewAccess) Folder(ctx context.Context, owner, path string) (storage.Mailbox, acl.Rights, error) {
	f, err := a.V.LookupPath(ctx, owner, path)
	readable := acl.Of(acl.Lookup, acl.Read)
	if err == nil && f.Rights.Has(readable) {
		return f.Mailbox, f.Rights, nil
	}
	if err != nil && !errors.Is(err, storage.ErrNoMailbox) {
		return storage.Mailbox{}, 0, err
	}
	// The attachment folder of an item folder (storage.AttachmentsOfEntry,
	// SmartAttach for items): who may read the items may read their
	// attachments (RFC 8607 3.7), through the view's rights on the item
	// folder.
	if mb, ok, aerr := a.attachmentsReadable(ctx, owner, path); aerr != nil {
		return storage.Mailbox{}, 0, aerr
	} else if ok {
		return mb, f.Rights | readable, nil
	}
	if err != nil {
		return storage.Mailbox{}, 0, err
	}
	return f.Mailbox, f.Rights, nil
}

// attachmentsReadable reports whether owner's folder path holds the
// attachments of an item folder the principal may read ("l" and "r" on
// it, through the view).
func (a *ViewAccess) attachmentsReadable(ctx context.Context, owner, path string) (storage.Mailbox, bool, error) {
	owner = strings.ToLower(owner)
	if owner == "" || strings.HasPrefix(owner, "@") || owner == a.Principal() {
		return storage.Mailbox{}, false, nil
	}
	st := a.V.Store()
	acct, err := st.Account(ctx, owner)
	if err != nil {
		return storage.Mailbox{}, false, nil // unknown owner: nothing
	}
	mb, err := st.Mailbox(ctx, acct.ID, path)
	if err != nil {
		return storage.Mailbox{}, false, nil
	}
	es, err := st.GetMetadata(ctx, acct.ID, mb.ID, []string{storage.AttachmentsOfEntry}, 0)
	if err != nil || len(es) != 1 {
		return storage.Mailbox{}, false, err
	}
	id, err := strconv.ParseInt(string(es[0].Value), 10, 64)
	if err != nil {
		return storage.Mailbox{}, false, nil
	}
	items, err := a.V.Folder(ctx, storage.MailboxID(id))
	if err != nil {
		if errors.Is(err, storage.ErrNoMailbox) {
			return storage.Mailbox{}, false, nil
		}
		return storage.Mailbox{}, false, err
	}
	if items.Mailbox.Account != acct.ID || !items.Rights.Has(acl.Of(acl.Lookup, acl.Read)) {
		return storage.Mailbox{}, false, nil
	}
	return mb, true, nil
}

func (a *ViewAccess) Folders(ctx context.Context, owner string) ([]Folder, error) {
	owner = strings.ToLower(owner)
	if owner == "" {
		owner = a.Principal()
	}
	fs, err := a.V.ListWith(ctx, view.ListOptions{NoSubscriptions: true})
	if err != nil {
		return nil, err
	}
	var out []Folder
	for _, f := range fs {
		if f.Owner == owner {
			out = append(out, Folder{Mailbox: f.Mailbox, Rights: f.Rights})
		}
	}
	if len(out) == 0 && owner != a.Principal() {
		return nil, fmt.Errorf("owner %q: %w", owner, storage.ErrNoMailbox)
	}
	return out, nil
}
