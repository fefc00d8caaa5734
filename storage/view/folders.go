package view

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// Folder is a folder as the viewer sees it.
type Folder struct {
	// Name is the folder's name for the viewer: "Work",
	// "~jane@example.test/Calendar" or "#public/Support".
	Name string
	// Owner is the owner's address: the viewer's own for its folders,
	// "@domain" for public folders.
	Owner string
	// Path is the folder's name in its owner's tree ("Calendar").
	Path string
	// Mailbox is the owner's mailbox (its Account is the owner; its
	// Subscribed is the owner's subscription, not the viewer's).
	Mailbox storage.Mailbox
	// Rights are the viewer's rights (acl.All on its own folders).
	Rights acl.Rights
	// Own is true for the viewer's own folders.
	Own bool
	// Subscribed is the viewer's subscription to Name.
	Subscribed bool
}

// Public reports whether f is a public folder (#public/).
func (f Folder) Public() bool { return strings.HasPrefix(f.Owner, "@") }

// ID is f.Mailbox.ID.
func (f Folder) ID() storage.MailboxID { return f.Mailbox.ID }

// nameKind says which namespace a name is in.
type nameKind int

const (
	nameOwn nameKind = iota
	nameOther
	namePublic
)

// parsedName is a viewer's name taken apart.
type parsedName struct {
	kind  nameKind
	owner string // lowercase address for nameOther
	path  string // "" for the root of an account or of #public
}

// canonicalPath spells INBOX (and the INBOX/ prefix) in upper case, as
// storage stores it; other names are case-sensitive.
func canonicalPath(p string) string {
	if strings.EqualFold(p, "INBOX") {
		return "INBOX"
	}
	if len(p) > 6 && strings.EqualFold(p[:6], "INBOX/") {
		return "INBOX/" + p[6:]
	}
	return p
}

// parseName splits a viewer's name into namespace, owner and path.
func parseName(name string) parsedName {
	switch {
	case strings.HasPrefix(name, OtherPrefix):
		rest := name[len(OtherPrefix):]
		owner, path, _ := strings.Cut(rest, string(Delimiter))
		return parsedName{kind: nameOther, owner: strings.ToLower(owner), path: canonicalPath(path)}
	case len(name) >= len(PublicPrefix) && strings.EqualFold(name[:len(PublicPrefix)], PublicPrefix):
		return parsedName{kind: namePublic, path: canonicalPath(name[len(PublicPrefix):])}
	case strings.EqualFold(name, strings.TrimSuffix(PublicPrefix, "/")):
		return parsedName{kind: namePublic}
	}
	return parsedName{kind: nameOwn, path: canonicalPath(name)}
}

// CanonicalName returns the canonical spelling of a viewer's name without
// looking anything up: INBOX in upper case, the owner of "~owner/..." in
// lower case, "#public/" as written here.
func CanonicalName(name string) string {
	p := parseName(name)
	switch p.kind {
	case nameOther:
		if p.path == "" {
			return OtherPrefix + p.owner
		}
		return OtherPrefix + p.owner + string(Delimiter) + p.path
	case namePublic:
		if p.path == "" {
			return strings.TrimSuffix(PublicPrefix, "/")
		}
		return PublicPrefix + p.path
	}
	return p.path
}

// nameFor returns the viewer's name of path in the tree of owner, and
// false when the viewer cannot name it (another domain's public folders).
func (v *View) nameFor(owner storage.AccountID, ownerAddr, path string) (string, bool) {
	switch {
	case owner == v.acct.ID && v.acct.ID != 0:
		return path, true
	case strings.HasPrefix(ownerAddr, "@"):
		if ownerAddr[1:] != v.p.Domain() {
			return "", false
		}
		return PublicPrefix + path, true
	}
	return OtherPrefix + ownerAddr + string(Delimiter) + path, true
}

// resolveOwner finds the account a parsed name's tree belongs to
// (storage.ErrNoMailbox when there is none: an unknown owner looks like an
// unknown folder).
func (v *View) resolveOwner(ctx context.Context, p parsedName) (storage.AccountID, string, error) {
	switch p.kind {
	case nameOwn:
		if v.acct.ID == 0 {
			return 0, "", fmt.Errorf("anonymous has no folders: %w", storage.ErrNoMailbox)
		}
		return v.acct.ID, v.acct.Address, nil
	case namePublic:
		if v.acct.ID == 0 {
			return 0, "", fmt.Errorf("anonymous has no domain: %w", storage.ErrNoMailbox)
		}
		v.mu.Lock()
		id := v.public
		v.mu.Unlock()
		if id == 0 {
			a, err := v.st.PublicAccount(ctx, v.p.Domain(), false)
			if errors.Is(err, storage.ErrNoAccount) || errors.Is(err, storage.ErrNoDomain) {
				return 0, "", fmt.Errorf("no public folders: %w", storage.ErrNoMailbox)
			}
			if err != nil {
				return 0, "", err
			}
			id = a.ID
			v.mu.Lock()
			v.public = id
			v.mu.Unlock()
		}
		return id, "@" + v.p.Domain(), nil
	}
	if p.owner == v.acct.Address && v.acct.ID != 0 {
		return v.acct.ID, v.acct.Address, nil
	}
	a, err := v.st.Account(ctx, p.owner)
	if errors.Is(err, storage.ErrNoAccount) || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalid) {
		return 0, "", fmt.Errorf("owner %q: %w", p.owner, storage.ErrNoMailbox)
	}
	if err != nil {
		return 0, "", err
	}
	return a.ID, a.Address, nil
}

// folder builds the Folder of mb for the viewer, checking "l".
func (v *View) folder(ctx context.Context, mb storage.Mailbox) (Folder, error) {
	v.mu.Lock()
	// The viewer's own folders need no version check: ownership does not
	// change with ACLs.
	if mb.Account != v.acct.ID || v.acct.ID == 0 {
		if err := v.fresh(ctx); err != nil {
			v.mu.Unlock()
			return Folder{}, err
		}
	}
	c, err := v.remember(ctx, mb)
	var addr string
	if err == nil {
		addr, err = v.ownerAddress(ctx, mb.Account)
	}
	v.mu.Unlock()
	if err != nil {
		return Folder{}, err
	}
	name, ok := v.nameFor(mb.Account, addr, mb.Name)
	if !ok || !c.rights.Has(acl.Of(acl.Lookup)) {
		return Folder{}, fmt.Errorf("mailbox %d: %w", mb.ID, storage.ErrNoMailbox)
	}
	f := Folder{Name: name, Owner: addr, Path: mb.Name, Mailbox: mb, Rights: c.rights, Own: c.owner == v.acct.ID && v.acct.ID != 0}
	if f.Own {
		f.Subscribed = mb.Subscribed
	} else if v.acct.ID != 0 {
		subs, err := v.st.Subscriptions(ctx, v.acct.ID)
		if err != nil {
			return Folder{}, err
		}
		_, f.Subscribed = slices.BinarySearch(subs, name)
	}
	return f, nil
}

// Lookup returns the folder the viewer calls name (see the package
// comment for names). It needs "l": without it, or when nothing has that
// name, the error is storage.ErrNoMailbox.
func (v *View) Lookup(ctx context.Context, name string) (Folder, error) {
	p := parseName(name)
	if p.path == "" {
		return Folder{}, fmt.Errorf("%q is not a folder: %w", name, storage.ErrNoMailbox)
	}
	owner, _, err := v.resolveOwner(ctx, p)
	if err != nil {
		return Folder{}, err
	}
	mb, err := v.st.Mailbox(ctx, owner, p.path)
	if err != nil {
		return Folder{}, err
	}
	return v.folder(ctx, mb)
}

// LookupPath returns the folder path of owner: owner is an account
// address ("" or the viewer's own address for its own folders) or
// "@domain" for the domain's public folders. It needs "l" like Lookup.
func (v *View) LookupPath(ctx context.Context, owner, path string) (Folder, error) {
	owner = strings.ToLower(strings.TrimSpace(owner))
	var p parsedName
	switch {
	case owner == "" || owner == v.acct.Address:
		p = parsedName{kind: nameOwn, path: canonicalPath(path)}
	case strings.HasPrefix(owner, "@"):
		if owner[1:] != v.p.Domain() {
			return Folder{}, fmt.Errorf("public folders of %s: %w", owner, storage.ErrNoMailbox)
		}
		p = parsedName{kind: namePublic, path: canonicalPath(path)}
	default:
		p = parsedName{kind: nameOther, owner: owner, path: canonicalPath(path)}
	}
	if p.path == "" {
		return Folder{}, fmt.Errorf("empty path: %w", storage.ErrNoMailbox)
	}
	id, _, err := v.resolveOwner(ctx, p)
	if err != nil {
		return Folder{}, err
	}
	mb, err := v.st.Mailbox(ctx, id, p.path)
	if err != nil {
		return Folder{}, err
	}
	return v.folder(ctx, mb)
}

// Folder returns the folder with mailbox ID id (needs "l").
func (v *View) Folder(ctx context.Context, id storage.MailboxID) (Folder, error) {
	mb, err := v.st.MailboxByID(ctx, id)
	if err != nil {
		return Folder{}, err
	}
	return v.folder(ctx, mb)
}

// List returns every folder the viewer may see ("l"): its own, sorted by
// name, then those of other accounts and the public folders of its domain,
// grouped by owner (callers that need them sorted by Name sort them). It
// costs a fixed number of queries, whatever the number of folders
// (storage.Sharing.SharedMailboxes).
func (v *View) List(ctx context.Context) ([]Folder, error) {
	return v.ListWith(ctx, ListOptions{})
}

// ListOptions tunes ListWith.
type ListOptions struct {
	// NoSubscriptions leaves Folder.Subscribed false for other accounts'
	// folders, saving a read of the viewer's subscriptions (IMAP LIST
	// without subscription information).
	NoSubscriptions bool
}

// ListWith is List with options.
func (v *View) ListWith(ctx context.Context, o ListOptions) ([]Folder, error) {
	v.mu.Lock()
	err := v.fresh(ctx)
	p := v.p
	v.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var out []Folder
	if v.acct.ID != 0 {
		own, err := v.st.Mailboxes(ctx, v.acct.ID)
		if err != nil {
			return nil, err
		}
		out = make([]Folder, 0, len(own))
		v.mu.Lock()
		for _, mb := range own {
			v.folders[mb.ID] = cached{owner: v.acct.ID, rights: acl.All}
			out = append(out, Folder{Name: mb.Name, Owner: v.acct.Address, Path: mb.Name, Mailbox: mb, Rights: acl.All, Own: true, Subscribed: mb.Subscribed})
		}
		v.mu.Unlock()
	}
	shared, err := v.st.SharedMailboxes(ctx, v.acct.ID, p.Identifiers())
	if err != nil {
		return nil, err
	}
	if len(shared) == 0 {
		return out, nil
	}
	var subs []string
	if v.acct.ID != 0 && !o.NoSubscriptions {
		if subs, err = v.st.Subscriptions(ctx, v.acct.ID); err != nil {
			return nil, err
		}
	}
	others := make([]Folder, 0, len(shared))
	v.mu.Lock()
	for _, sm := range shared {
		if v.acct.ID != 0 && sm.Account == v.acct.ID {
			continue
		}
		name, ok := v.nameFor(sm.Account, sm.Owner, sm.Name)
		if !ok {
			continue
		}
		r := acl.Evaluate(sm.Entries, p)
		v.folders[sm.ID] = cached{owner: sm.Account, rights: r}
		v.owners[sm.Account] = sm.Owner
		if !r.Has(acl.Of(acl.Lookup)) {
			continue
		}
		f := Folder{Name: name, Owner: sm.Owner, Path: sm.Name, Mailbox: sm.Mailbox, Rights: r}
		_, f.Subscribed = slices.BinarySearch(subs, name)
		others = append(others, f)
	}
	v.mu.Unlock()
	return append(out, others...), nil
}

// rightsAt returns the viewer's rights on the place path would have in
// owner's tree: those of path's nearest existing ancestor, or of the root.
// It is what a folder created there would start with (it inherits).
func (v *View) rightsAt(ctx context.Context, owner storage.AccountID, path string) (acl.Rights, error) {
	if owner == v.acct.ID && v.acct.ID != 0 {
		return acl.All, nil
	}
	anc := ancestors(path)
	for i := len(anc) - 1; i >= 0; i-- {
		mb, err := v.st.Mailbox(ctx, owner, anc[i])
		if errors.Is(err, storage.ErrNoMailbox) {
			continue
		}
		if err != nil {
			return 0, err
		}
		v.mu.Lock()
		if err := v.fresh(ctx); err != nil {
			v.mu.Unlock()
			return 0, err
		}
		c, err := v.remember(ctx, mb)
		v.mu.Unlock()
		return c.rights, err
	}
	return v.RootRights(ctx, owner)
}

// ancestors returns the superior names of path, outermost first.
func ancestors(path string) []string {
	var out []string
	for i := 0; i < len(path); i++ {
		if path[i] == Delimiter {
			out = append(out, path[:i])
		}
	}
	return out
}

// checkCreate checks that the viewer may create path in owner's tree:
// "k" where it would go (storage.ErrPermission), and that the place is
// visible at all ("l", storage.ErrNoMailbox otherwise).
func (v *View) checkCreate(ctx context.Context, owner storage.AccountID, path string) error {
	r, err := v.rightsAt(ctx, owner, path)
	if err != nil {
		return err
	}
	if !r.Has(acl.Of(acl.CreateMailbox)) {
		if !r.Has(acl.Of(acl.Lookup)) {
			return fmt.Errorf("%q: %w", path, storage.ErrNoMailbox)
		}
		return fmt.Errorf("creating %q needs %q: %w", path, "k", storage.ErrPermission)
	}
	return nil
}

// Create creates the folder name (needs "k" on its parent, or on the
// nearest existing ancestor, or on the account root; the viewer's own
// tree always) and its missing superiors (RFC 9051 6.3.4). A special-use
// attribute is for the viewer's own folders only (storage.ErrInvalid).
// Errors: storage.ErrExists, storage.ErrInvalid for a bad name,
// storage.ErrNoMailbox for a tree the viewer cannot see,
// storage.ErrPermission.
func (v *View) Create(ctx context.Context, name, specialUse string) (Folder, error) {
	p := parseName(name)
	if p.path == "" {
		return Folder{}, fmt.Errorf("%q: no folder name: %w", name, storage.ErrInvalid)
	}
	owner, _, err := v.resolveOwner(ctx, p)
	if err != nil {
		return Folder{}, err
	}
	own := owner == v.acct.ID
	if !own && specialUse != "" {
		return Folder{}, fmt.Errorf("special-use is for own folders: %w", storage.ErrInvalid)
	}
	if !own {
		// A folder the viewer can see exists; one it cannot see is
		// answered for by the rights where it would go, so that its
		// existence does not show.
		if mb, err := v.st.Mailbox(ctx, owner, p.path); err == nil {
			if _, err := v.folder(ctx, mb); err == nil {
				return Folder{}, fmt.Errorf("%q: %w", name, storage.ErrExists)
			}
		}
		if err := v.checkCreate(ctx, owner, p.path); err != nil {
			return Folder{}, err
		}
	}
	mb, err := v.st.CreateMailbox(ctx, owner, p.path, specialUse)
	if err != nil {
		if !own && errors.Is(err, storage.ErrExists) && v.hiddenFolder(ctx, owner, p.path) {
			return Folder{}, errHiddenExists(p.path)
		}
		return Folder{}, err
	}
	if err := v.createSuperiors(ctx, owner, p.path); err != nil {
		return Folder{}, err
	}
	return v.folder(ctx, mb)
}

// hiddenFolder reports whether owner's folder path exists but the viewer
// may not see it.
func (v *View) hiddenFolder(ctx context.Context, owner storage.AccountID, path string) bool {
	mb, err := v.st.Mailbox(ctx, owner, path)
	if err != nil {
		return false
	}
	_, err = v.folder(ctx, mb)
	return err != nil
}

// errHiddenExists is the answer to a viewer with "k" where path would go
// when path exists but is hidden from it (RFC 4314 6: the commands must
// not reveal what the viewer may not look up): storage.ErrPermission, the
// answer without "k", not storage.ErrExists, as Cyrus answers ("lie about
// the error if privacy demands"). That the name could not be created still
// shows the viewer that something is there, which no server can avoid
// (Dovecot answers "already exists"); it does not say what.
func errHiddenExists(path string) error {
	return fmt.Errorf("creating %q needs %q: %w", path, "k", storage.ErrPermission)
}

// createSuperiors creates the missing superior names of path in owner's
// tree; one that appears meanwhile is fine.
func (v *View) createSuperiors(ctx context.Context, owner storage.AccountID, path string) error {
	for _, a := range ancestors(path) {
		_, err := v.st.Mailbox(ctx, owner, a)
		if err == nil {
			continue
		}
		if !errors.Is(err, storage.ErrNoMailbox) {
			return err
		}
		if _, err := v.st.CreateMailbox(ctx, owner, a, ""); err != nil && !errors.Is(err, storage.ErrExists) {
			return err
		}
	}
	return nil
}

// Delete deletes a folder (needs "x"; INBOX cannot be deleted:
// storage.ErrInvalid). Its subfolders stay.
func (v *View) Delete(ctx context.Context, id storage.MailboxID) error {
	if _, err := v.need(ctx, id, acl.Of(acl.DeleteMailbox)); err != nil {
		return err
	}
	return v.st.DeleteMailbox(ctx, id)
}

// Rename renames folder id (and its subfolders) to newName, in the same
// owner's tree (storage.ErrInvalid otherwise). It needs "x" on the folder
// and "k" where the new name goes, and creates the new name's missing
// superiors.
func (v *View) Rename(ctx context.Context, id storage.MailboxID, newName string) (Folder, error) {
	c, err := v.need(ctx, id, acl.Of(acl.DeleteMailbox))
	if err != nil {
		return Folder{}, err
	}
	p := parseName(newName)
	if p.path == "" {
		return Folder{}, fmt.Errorf("%q: no folder name: %w", newName, storage.ErrInvalid)
	}
	owner, _, err := v.resolveOwner(ctx, p)
	if errors.Is(err, storage.ErrNoMailbox) || err == nil && owner != c.owner {
		return Folder{}, fmt.Errorf("rename to another tree: %w", storage.ErrInvalid)
	}
	if err != nil {
		return Folder{}, err
	}
	if owner != v.acct.ID {
		if err := v.checkCreate(ctx, owner, p.path); err != nil {
			return Folder{}, err
		}
	}
	if err := v.st.RenameMailbox(ctx, id, p.path); err != nil {
		if owner != v.acct.ID && errors.Is(err, storage.ErrExists) && v.hiddenFolder(ctx, owner, p.path) {
			return Folder{}, errHiddenExists(p.path)
		}
		return Folder{}, err
	}
	if err := v.createSuperiors(ctx, owner, p.path); err != nil {
		return Folder{}, err
	}
	v.Refresh() // inherited rights may have changed with the new place
	mb, err := v.st.Mailbox(ctx, owner, p.path)
	if err != nil {
		return Folder{}, err
	}
	return v.folder(ctx, mb)
}

// Subscriptions returns the names the viewer is subscribed to, sorted;
// they need not exist (any more), and a folder the viewer may no longer
// see stays in the list until it unsubscribes (IMAP then shows it as
// \NonExistent, which reveals nothing the viewer did not know).
func (v *View) Subscriptions(ctx context.Context) ([]string, error) {
	if v.acct.ID == 0 {
		return nil, nil
	}
	return v.st.Subscriptions(ctx, v.acct.ID)
}

// Subscribe subscribes the viewer to the folder it calls name (needs "l",
// like Lookup) and returns it.
func (v *View) Subscribe(ctx context.Context, name string) (Folder, error) {
	f, err := v.Lookup(ctx, name)
	if err != nil {
		return f, err
	}
	if err := v.st.SetSubscription(ctx, v.acct.ID, f.Name, true); err != nil {
		return f, err
	}
	f.Subscribed = true
	return f, nil
}

// Unsubscribe removes name from the viewer's subscriptions. It needs no
// right and succeeds for a name that is not subscribed (declining a shared
// folder, cleaning up a deleted one).
func (v *View) Unsubscribe(ctx context.Context, name string) error {
	if v.acct.ID == 0 {
		return nil
	}
	n := CanonicalName(name)
	if n == "" {
		return nil
	}
	err := v.st.SetSubscription(ctx, v.acct.ID, n, false)
	if errors.Is(err, storage.ErrInvalid) {
		return nil // nothing can be subscribed under an invalid name
	}
	return err
}
