package view

import (
	"context"
	"fmt"
	"strings"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// ACLs. A folder's ACL (mbox = its mailbox ID) or an account's root ACL
// (mbox = storage.RootMailbox: account sharing) is read and changed with
// the "a" right on it; the owner always has it. The owner is never an
// entry: it always has every right, and an entry naming it is refused
// (storage.ErrInvalid). After a change, everyone (an account, or each
// member of a group) whose rights on it changed and who can now see it
// gets the information mail, and is subscribed to it when it was not
// visible to them before (see notify.go). Grants to anyone, authenticated
// or a whole domain inform nobody.

// adminCheck checks "a" on (owner, mbox): storage.ErrNoMailbox when the
// viewer cannot see it, storage.ErrPermission without "a".
func (v *View) adminCheck(ctx context.Context, owner storage.AccountID, mbox storage.MailboxID) error {
	var r acl.Rights
	if mbox == storage.RootMailbox {
		var err error
		if r, err = v.RootRights(ctx, owner); err != nil {
			return err
		}
	} else {
		c, err := v.need(ctx, mbox, 0)
		if err != nil {
			return err
		}
		if c.owner != owner {
			return fmt.Errorf("mailbox %d is not account %d's: %w", mbox, owner, storage.ErrNoMailbox)
		}
		r = c.rights
	}
	if !r.Has(acl.Of(acl.Lookup)) {
		return fmt.Errorf("ACL of %d/%d: %w", owner, mbox, storage.ErrNoMailbox)
	}
	if !r.Has(acl.Of(acl.Administer)) {
		return fmt.Errorf("ACL of %d/%d needs %q: %w", owner, mbox, "a", storage.ErrPermission)
	}
	return nil
}

// GetACL returns the effective ACL of a folder or, with
// storage.RootMailbox, of owner's root (needs "a").
func (v *View) GetACL(ctx context.Context, owner storage.AccountID, mbox storage.MailboxID) (storage.ACL, error) {
	if err := v.adminCheck(ctx, owner, mbox); err != nil {
		return storage.ACL{}, err
	}
	return v.st.GetACL(ctx, owner, mbox)
}

// ChangeACL applies changes (IMAP SETACL, DELETEACL; the settings API) to
// a folder's ACL or owner's root ACL (needs "a") and returns the new
// effective ACL. A folder that inherited gets its own ACL (storage
// copies the inherited one first).
func (v *View) ChangeACL(ctx context.Context, owner storage.AccountID, mbox storage.MailboxID, changes []acl.Change) (storage.ACL, error) {
	if err := v.adminCheck(ctx, owner, mbox); err != nil {
		return storage.ACL{}, err
	}
	_, after, err := changeACL(ctx, v.st, &v.opts, owner, mbox, func() (storage.ACL, storage.ACL, error) {
		return v.st.ChangeACL(ctx, owner, mbox, changes)
	}, changedIdents(changes))
	v.Refresh()
	return after, err
}

// SetACL gives a folder exactly entries as its own ACL ("cancel
// inheritance"; none: nobody but the owner) or replaces owner's root ACL
// (needs "a").
func (v *View) SetACL(ctx context.Context, owner storage.AccountID, mbox storage.MailboxID, entries []acl.Entry) (storage.ACL, error) {
	if err := v.adminCheck(ctx, owner, mbox); err != nil {
		return storage.ACL{}, err
	}
	_, after, err := changeACL(ctx, v.st, &v.opts, owner, mbox, func() (storage.ACL, storage.ACL, error) {
		return v.st.SetACL(ctx, owner, mbox, entries)
	}, entryIdents(entries))
	v.Refresh()
	return after, err
}

// InheritACL removes a folder's own ACL ("Inherit") or clears owner's
// root ACL (needs "a").
func (v *View) InheritACL(ctx context.Context, owner storage.AccountID, mbox storage.MailboxID) (storage.ACL, error) {
	if err := v.adminCheck(ctx, owner, mbox); err != nil {
		return storage.ACL{}, err
	}
	_, after, err := changeACL(ctx, v.st, &v.opts, owner, mbox, func() (storage.ACL, storage.ACL, error) {
		return v.st.InheritACL(ctx, owner, mbox)
	}, nil)
	v.Refresh()
	return after, err
}

// Admin changes ACLs as the administrator (the floe CLI, the config
// file): no rights are checked, grantees are informed as for a View.
type Admin struct {
	st   storage.Store
	opts Options
}

// NewAdmin returns an Admin working on st.
func NewAdmin(st storage.Store, opts Options) *Admin { return &Admin{st: st, opts: opts} }

// ChangeACL is View.ChangeACL without the rights check; it returns the
// effective ACL before and after.
func (a *Admin) ChangeACL(ctx context.Context, owner storage.AccountID, mbox storage.MailboxID, changes []acl.Change) (before, after storage.ACL, err error) {
	return changeACL(ctx, a.st, &a.opts, owner, mbox, func() (storage.ACL, storage.ACL, error) {
		return a.st.ChangeACL(ctx, owner, mbox, changes)
	}, changedIdents(changes))
}

// SetACL is View.SetACL without the rights check.
func (a *Admin) SetACL(ctx context.Context, owner storage.AccountID, mbox storage.MailboxID, entries []acl.Entry) (before, after storage.ACL, err error) {
	return changeACL(ctx, a.st, &a.opts, owner, mbox, func() (storage.ACL, storage.ACL, error) {
		return a.st.SetACL(ctx, owner, mbox, entries)
	}, entryIdents(entries))
}

// InheritACL is View.InheritACL without the rights check.
func (a *Admin) InheritACL(ctx context.Context, owner storage.AccountID, mbox storage.MailboxID) (before, after storage.ACL, err error) {
	return changeACL(ctx, a.st, &a.opts, owner, mbox, func() (storage.ACL, storage.ACL, error) {
		return a.st.InheritACL(ctx, owner, mbox)
	}, nil)
}

func changedIdents(cs []acl.Change) []acl.Identifier {
	out := make([]acl.Identifier, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Identifier)
	}
	return out
}

func entryIdents(es []acl.Entry) []acl.Identifier {
	out := make([]acl.Identifier, 0, len(es))
	for _, e := range es {
		out = append(out, e.Identifier)
	}
	return out
}

// changeACL refuses entries naming the owner, makes the change and informs
// the grantees.
func changeACL(ctx context.Context, st storage.Store, opts *Options, owner storage.AccountID, mbox storage.MailboxID,
	change func() (storage.ACL, storage.ACL, error), idents []acl.Identifier) (storage.ACL, storage.ACL, error) {
	o, err := st.AccountByID(ctx, owner)
	if err != nil {
		return storage.ACL{}, storage.ACL{}, err
	}
	if !strings.HasPrefix(o.Address, "@") {
		for _, id := range idents {
			if string(id) == o.Address {
				return storage.ACL{}, storage.ACL{}, fmt.Errorf("%s owns the folder and always has every right: %w", o.Address, storage.ErrInvalid)
			}
		}
	}
	before, after, err := change()
	if err != nil {
		return before, after, err
	}
	if !opts.NoNotify {
		notify(ctx, st, opts, o, before, after)
	}
	return before, after, nil
}

// Root resolves the name of an account's root: "~owner@domain" (the
// viewer's own address names its own root) or "#public" for its domain's
// public folders. IMAP addresses account sharing (SETACL on the root) with
// it. The viewer must have "l" there (its own root: always), else, as for
// an unknown owner or a name that is not a root, storage.ErrNoMailbox.
func (v *View) Root(ctx context.Context, name string) (owner storage.AccountID, ownerAddr string, err error) {
	p := parseName(name)
	if p.kind == nameOwn || p.path != "" || p.kind == nameOther && p.owner == "" {
		return 0, "", fmt.Errorf("%q is not an account root: %w", name, storage.ErrNoMailbox)
	}
	owner, ownerAddr, err = v.resolveOwner(ctx, p)
	if err != nil {
		return 0, "", err
	}
	r, err := v.RootRights(ctx, owner)
	if err != nil {
		return 0, "", err
	}
	if !r.Has(acl.Of(acl.Lookup)) {
		return 0, "", fmt.Errorf("root of %s: %w", ownerAddr, storage.ErrNoMailbox)
	}
	return owner, ownerAddr, nil
}
