// Package view is one principal's authorized window on a storage.Store:
// the one place where Floe decides who may do what (ARCHITECTURE decision
// 5). IMAP, POP3, SMTP submission, DAV, the settings API and delivery into
// folders all ask a View; no protocol adapter decides access on its own.
//
// # Getting a view
//
//	v, err := view.New(ctx, store, accountID, view.Options{})   // a logged-in account
//	v := view.Anonymous(store, view.Options{})                  // nobody ("anyone" grants only)
//
// A View is cheap (one account read; the viewer's groups and the ACL
// version are read when first needed, so a session that only touches its
// own folders never reads them) and safe for concurrent use. A long-lived view (an IMAP session) caches rights: call
// Refresh at the start of every protocol command so that a change made
// meanwhile (by anyone, in any process) applies at once; the next rights
// question then checks storage.Sharing.ACLVersion once. An HTTP handler
// makes a new View per request, or calls Refresh per request.
//
// # Naming folders
//
// Every folder has a name as the viewer sees it (Folder.Name), in three
// namespaces (SPEC §5, RFC 2342):
//
//	Work, INBOX/Lists            the viewer's own folders
//	~jane@example.test/Calendar  a folder of another account (OtherPrefix)
//	#public/Support              a public folder of the viewer's domain (PublicPrefix)
//
// Lookup takes such a name; LookupPath takes an owner and a path in the
// owner's tree ("jane@example.test", "Calendar"; "" for the viewer itself;
// "@example.test" for the domain's public folders), for protocols that do
// not speak in IMAP names (DAV). Folder(id) resolves a mailbox ID.
//
// # Rights
//
// The owner of a folder has every right (acl.All). Anyone else has what the
// folder's effective ACL grants them (storage.ACL: the folder's own ACL, an
// ancestor's, or the account root's), evaluated by acl.Evaluate for the
// viewer's address, groups and domain. Public folders of another domain are
// not visible at all.
//
// A folder on which the viewer lacks "l" does not exist for it: every
// method answers storage.ErrNoMailbox, exactly as for a folder that does
// not exist, so nobody learns of folders they may not see. With "l" but
// without the right a method needs, the answer is storage.ErrPermission.
// The rights each method needs are in its comment (RFC 4314 4).
//
// Errors are storage's sentinel errors only (storage.ErrNoMailbox,
// storage.ErrPermission, storage.ErrExists, ...), wrapped; protocols
// translate them once, at their boundary.
package view

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// Namespace prefixes (SPEC §5).
const (
	// OtherPrefix starts the names of other accounts' folders:
	// "~jane@example.test/Calendar".
	OtherPrefix = "~"
	// PublicPrefix starts the names of the public folders of the viewer's
	// domain: "#public/Support".
	PublicPrefix = "#public/"
	// Delimiter is the hierarchy delimiter of every namespace.
	Delimiter = '/'
)

// Options configures a View (and an Admin).
type Options struct {
	// Logger receives problems that do not fail the call (an information
	// mail that could not be delivered). Nil discards.
	Logger *slog.Logger
	// Hostname names the server in the Message-ID of information mails
	// ("localhost" when empty).
	Hostname string
	// NoNotify turns off the information mail and the automatic
	// subscription of grantees (tests, bulk imports).
	NoNotify bool
	// Now is the clock of information mails (time.Now when nil).
	Now func() time.Time
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// View is one principal's window on a store. See the package comment.
type View struct {
	st   storage.Store
	opts Options
	acct storage.Account // zero for the anonymous view
	p    acl.Principal

	mu sync.Mutex
	// version is the ACLVersion the cached rights and groups belong to
	// (loaded: groups read at least once); stale is set by Refresh and at
	// creation: check the version before the next use.
	version uint64
	loaded  bool
	stale   bool
	// folders caches, per mailbox, its owner and (for others' folders)
	// the viewer's rights. Own folders stay valid for the mailbox's life.
	folders map[storage.MailboxID]cached
	// owners caches owner addresses by account.
	owners map[storage.AccountID]string
	// public is the viewer's domain's public-folder owner (0: none
	// looked up yet or none exists).
	public storage.AccountID
}

type cached struct {
	owner  storage.AccountID
	rights acl.Rights
}

// New returns the view of the account acct (storage.ErrNoAccount).
func New(ctx context.Context, st storage.Store, acct storage.AccountID, opts Options) (*View, error) {
	a, err := st.AccountByID(ctx, acct)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(a.Address, "@") {
		return nil, fmt.Errorf("account %d is a public-folder owner: %w", acct, storage.ErrNoAccount)
	}
	v := &View{st: st, opts: opts, acct: a, p: acl.Principal{Address: a.Address}, stale: true}
	v.reset()
	return v, nil
}

// Anonymous returns the view of nobody: it owns no folders and sees what
// "anyone" is granted (free/busy, public address books).
func Anonymous(st storage.Store, opts Options) *View {
	v := &View{st: st, opts: opts, stale: true}
	v.reset()
	return v
}

func (v *View) reset() {
	v.folders = make(map[storage.MailboxID]cached)
	v.owners = make(map[storage.AccountID]string)
}

// loadPrincipal reads the viewer's groups for ACL version ver. v.mu is
// held.
func (v *View) loadPrincipal(ctx context.Context, ver uint64) error {
	if v.acct.ID != 0 {
		groups, err := v.st.MemberOf(ctx, v.acct.Address)
		if err != nil {
			return err
		}
		v.p.Groups = groups
	}
	v.version, v.loaded, v.stale = ver, true, false
	return nil
}

// Account returns the viewer's account (zero for the anonymous view).
func (v *View) Account() storage.Account { return v.acct }

// Principal returns the viewer as acl sees it (address and groups, as
// they are now).
func (v *View) Principal(ctx context.Context) (acl.Principal, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fresh(ctx); err != nil {
		return acl.Principal{}, err
	}
	p := v.p
	p.Groups = append([]string(nil), p.Groups...)
	return p, nil
}

// Store returns the underlying store, for what is not a folder's (the
// directory, the queue). Never use it for a folder: ask the view.
func (v *View) Store() storage.Store { return v.st }

// Domain returns the viewer's domain ("" for the anonymous view).
func (v *View) Domain() string { return v.p.Domain() }

// Refresh marks the cached rights as possibly stale: the next question
// that needs another account's rights first reads ACLVersion (one cheap
// query) and drops the cache if anything changed. Call it at the start of
// every command of a long-lived session.
func (v *View) Refresh() {
	v.mu.Lock()
	v.stale = true
	v.mu.Unlock()
}

// fresh makes the cache current. v.mu is held.
func (v *View) fresh(ctx context.Context) error {
	if !v.stale {
		return nil
	}
	ver, err := v.st.ACLVersion(ctx)
	if err != nil {
		return err
	}
	if v.loaded && ver == v.version {
		v.stale = false
		return nil
	}
	for id, c := range v.folders {
		if c.owner != v.acct.ID || v.acct.ID == 0 {
			delete(v.folders, id)
		}
	}
	v.public = 0
	return v.loadPrincipal(ctx, ver)
}

// ownerAddress returns the address of account id. v.mu is held.
func (v *View) ownerAddress(ctx context.Context, id storage.AccountID) (string, error) {
	if id == v.acct.ID && id != 0 {
		return v.acct.Address, nil
	}
	if a, ok := v.owners[id]; ok {
		return a, nil
	}
	a, err := v.st.AccountByID(ctx, id)
	if err != nil {
		return "", err
	}
	v.owners[id] = a.Address
	return a.Address, nil
}

// rightsFor computes the viewer's rights on mailbox mbox of owner, given
// the owner's address. v.mu is held and the cache fresh.
func (v *View) rightsFor(ctx context.Context, owner storage.AccountID, ownerAddr string, mbox storage.MailboxID) (acl.Rights, error) {
	if owner == v.acct.ID && v.acct.ID != 0 {
		return acl.All, nil
	}
	// A domain's public folders are for that domain only.
	if strings.HasPrefix(ownerAddr, "@") && ownerAddr[1:] != v.p.Domain() {
		return 0, nil
	}
	a, err := v.st.GetACL(ctx, owner, mbox)
	if err != nil {
		return 0, err
	}
	return acl.Evaluate(a.Entries, v.p), nil
}

// rights returns the owner of mbox and the viewer's rights on it, from
// the cache when possible. v.mu is held.
func (v *View) rights(ctx context.Context, mbox storage.MailboxID) (cached, error) {
	if c, ok := v.folders[mbox]; ok && c.owner == v.acct.ID && v.acct.ID != 0 {
		return c, nil // own folders: no version check needed
	}
	if err := v.fresh(ctx); err != nil {
		return cached{}, err
	}
	if c, ok := v.folders[mbox]; ok {
		return c, nil
	}
	mb, err := v.st.MailboxByID(ctx, mbox)
	if err != nil {
		return cached{}, err
	}
	return v.remember(ctx, mb)
}

// remember computes and caches the rights on mb. v.mu is held.
func (v *View) remember(ctx context.Context, mb storage.Mailbox) (cached, error) {
	addr, err := v.ownerAddress(ctx, mb.Account)
	if err != nil {
		if errors.Is(err, storage.ErrNoAccount) {
			return cached{}, fmt.Errorf("mailbox %d: %w", mb.ID, storage.ErrNoMailbox)
		}
		return cached{}, err
	}
	r, err := v.rightsFor(ctx, mb.Account, addr, mb.ID)
	if err != nil {
		return cached{}, err
	}
	c := cached{owner: mb.Account, rights: r}
	v.folders[mb.ID] = c
	return c, nil
}

// need checks that the viewer has every right of need on mbox and returns
// the folder's owner and the viewer's rights: storage.ErrNoMailbox without
// "l" (the folder does not exist for the viewer), storage.ErrPermission
// when a right of need is missing.
func (v *View) need(ctx context.Context, mbox storage.MailboxID, need acl.Rights) (cached, error) {
	v.mu.Lock()
	c, err := v.rights(ctx, mbox)
	v.mu.Unlock()
	if err != nil {
		return c, err
	}
	if !c.rights.Has(acl.Of(acl.Lookup)) {
		return c, fmt.Errorf("mailbox %d: %w", mbox, storage.ErrNoMailbox)
	}
	if !c.rights.Has(need) {
		return c, fmt.Errorf("mailbox %d needs %q, viewer has %q: %w", mbox, need, c.rights, storage.ErrPermission)
	}
	return c, nil
}

// Rights returns the viewer's rights on a folder (IMAP MYRIGHTS);
// storage.ErrNoMailbox when it may not see it.
func (v *View) Rights(ctx context.Context, mbox storage.MailboxID) (acl.Rights, error) {
	c, err := v.need(ctx, mbox, 0)
	return c.rights, err
}

// RootRights returns the viewer's rights on the root of account owner
// (account sharing): acl.All for its own account.
func (v *View) RootRights(ctx context.Context, owner storage.AccountID) (acl.Rights, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fresh(ctx); err != nil {
		return 0, err
	}
	addr, err := v.ownerAddress(ctx, owner)
	if err != nil {
		return 0, err
	}
	return v.rightsFor(ctx, owner, addr, storage.RootMailbox)
}
