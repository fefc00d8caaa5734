package files

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// Access is the one place where the file handler asks who may do what:
// it resolves an owner's folder for the request's principal and returns
// the principal's rights on it. Every request goes through it before any
// storage call (ARCHITECTURE decision 5). The no-leak rule: a folder the
// principal may not list ("l") does not exist for it (storage.ErrNoMailbox,
// answered 404 exactly like a folder that does not exist); a missing
// right beyond that is a 403.
//
// OwnerAccess is the implementation until storage/view (the sharing
// branch) lands; then a view's LookupPath answers these questions, and
// this interface is the one place to switch.
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
// nothing on anyone else's (acl.Effective): the rule before sharing.
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
	rights := acl.Effective(int64(acct.ID), int64(a.Account))
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
