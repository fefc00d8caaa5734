package storage

import (
	"context"
	"time"

	"github.com/floemail/floe/acl"
)

// This file is the storage side of sharing (SPEC §7, ARCHITECTURE decision
// 5): access control lists on mailboxes and account roots, groups, the
// domain-owned public folders, subscriptions and send-as grants. Storage
// keeps the data and answers the one expensive question (SharedMailboxes);
// it never decides who may do what: storage/view does, for every protocol.

// RootMailbox names an account's root in ACL calls. The root's ACL governs
// every mailbox of the account that has no ACL of its own and no ancestor
// with one: sharing the root shares the whole account.
const RootMailbox MailboxID = 0

// ACL is the effective access control list of a mailbox or an account
// root (RFC 4314 2).
//
// Inheritance: a mailbox either has its own ACL (Own; possibly empty, which
// grants nothing and cancels inheritance) or takes the ACL of its nearest
// ancestor by name ("a/b/c" looks at "a/b", then "a") that has its own,
// and failing that the account root's. Ancestors need not exist as
// mailboxes. A new mailbox has no ACL of its own, so it follows its parent
// at once; a renamed one keeps its own ACL and takes its new parent's
// otherwise. The owner of the account is never an entry: it always has
// every right (storage/view gives it).
type ACL struct {
	Account AccountID // the owner
	Mailbox MailboxID // RootMailbox for the account root
	// Own is true when the mailbox has its own ACL. The root always has.
	Own bool
	// From is where Entries come from: Mailbox itself when Own, else the
	// nearest ancestor with its own ACL, or RootMailbox.
	From MailboxID
	// Entries are sorted with acl.SortEntries.
	Entries []acl.Entry
}

// SharedMailbox is one mailbox of another account that a principal may
// have rights on (SharedMailboxes).
type SharedMailbox struct {
	Mailbox
	// Owner is the address of the mailbox's account ("@domain" for a
	// public-folder owner).
	Owner string
	// Entries are the entries of the mailbox's effective ACL whose
	// identifier is one of those asked for (the principal's), positive and
	// negative: acl.Evaluate on them gives the principal's rights.
	Entries []acl.Entry
}

// Group is a distribution list: one address standing for several accounts
// (SPEC §2). Mail to it reaches every member; an ACL entry naming it
// applies to every member.
type Group struct {
	Address string // lowercase local@domain, in a local domain
	// Members are account addresses, lowercase and sorted.
	Members []string
	Source  Source
	Created time.Time
}

// Groups manages groups. Group addresses share one name space with
// accounts and aliases: an address is at most one of them (ErrExists).
// Every change is visible to ACLVersion.
type Groups interface {
	// Groups returns every group with its members, ordered by address.
	Groups(ctx context.Context) ([]Group, error)
	// Group returns one group with its members (ErrNotFound).
	Group(ctx context.Context, address string) (Group, error)
	// PutGroup creates the group or updates it (source and the whole
	// member list; Created is kept). Its domain must be local
	// (ErrNoDomain), members must be accounts (ErrNoAccount), and the
	// address must not be an account or an alias (ErrExists).
	PutGroup(ctx context.Context, g Group) error
	// DeleteGroup removes the group and every ACL entry naming it
	// (ErrNotFound).
	DeleteGroup(ctx context.Context, address string) error
	// AddGroupMember adds an account to a group (ErrNotFound for the
	// group, ErrNoAccount, ErrExists when it is a member already).
	AddGroupMember(ctx context.Context, group, member string) error
	// RemoveGroupMember removes a member (ErrNotFound when the group does
	// not exist or the address is not a member).
	RemoveGroupMember(ctx context.Context, group, member string) error
	// MemberOf returns the addresses of the groups address is a member
	// of, sorted.
	MemberOf(ctx context.Context, address string) ([]string, error)
}

// Sharing stores ACLs, public-folder owners, per-viewer subscriptions and
// send-as grants.
type Sharing interface {
	// GetACL returns the effective ACL of mailbox mbox of account acct, or
	// with RootMailbox the root's (ErrNoMailbox when mbox is not acct's,
	// ErrNoAccount).
	GetACL(ctx context.Context, acct AccountID, mbox MailboxID) (ACL, error)
	// ChangeACL applies changes, in order, to the ACL of mbox (RootMailbox:
	// the root) in one transaction. A mailbox without its own ACL first
	// gets a copy of the one it inherits ("cancel inheritance"), so a
	// change never affects its ancestors. It returns the effective ACL
	// before and after.
	ChangeACL(ctx context.Context, acct AccountID, mbox MailboxID, changes []acl.Change) (before, after ACL, err error)
	// SetACL gives mbox its own ACL with exactly entries (none: the
	// mailbox grants nothing and inherits nothing). For the root it
	// replaces the root's entries.
	SetACL(ctx context.Context, acct AccountID, mbox MailboxID, entries []acl.Entry) (before, after ACL, err error)
	// InheritACL removes the own ACL of mbox, which then follows its
	// ancestors again ("Inherit"). For the root it removes every entry.
	InheritACL(ctx context.Context, acct AccountID, mbox MailboxID) (before, after ACL, err error)
	// ACLs returns the own ACLs of acct: the root's first (even when
	// empty), then those of its mailboxes that have one, by mailbox name.
	ACLs(ctx context.Context, acct AccountID) ([]ACL, error)
	// SharedMailboxes returns the mailboxes of accounts other than exclude
	// (including public-folder owners) whose effective ACL has an entry
	// naming one of idents, with those entries (see SharedMailbox), ordered
	// by owner and name. It is the one query behind "what is shared with
	// me" and must stay cheap for thousands of mailboxes: a few queries,
	// never one per mailbox.
	SharedMailboxes(ctx context.Context, exclude AccountID, idents []acl.Identifier) ([]SharedMailbox, error)
	// ACLVersion returns a number that changes whenever something that
	// can change rights changes: an ACL, a group or its members, an
	// account's deletion, a mailbox's rename or deletion. It sees changes
	// made by other processes writing the same store (the CLI), so a view
	// can cache rights and check this once per command.
	ACLVersion(ctx context.Context) (uint64, error)

	// PublicAccount returns the pseudo-account owning the public folders
	// (#public/...) of domain, creating it when create is set (ErrNoDomain;
	// ErrNoAccount when it does not exist and create is false). Its
	// Address is "@" + domain. It cannot log in, Accounts and Account do
	// not return it (AccountByID does), it has no default mailboxes, and
	// its mailboxes count against its own quota (none by default).
	PublicAccount(ctx context.Context, domain string, create bool) (Account, error)

	// Subscriptions returns the names acct is subscribed to (IMAP LSUB,
	// LIST (SUBSCRIBED)), sorted. Names are as acct sees them ("Work",
	// "~jane@example.test/Calendar", "#public/Support") and need not exist:
	// deleting a mailbox does not unsubscribe it (RFC 9051 6.3.7); renaming
	// one moves its owner's subscriptions along.
	Subscriptions(ctx context.Context, acct AccountID) ([]string, error)
	// SetSubscription subscribes acct to name or unsubscribes it
	// (idempotent; ErrNoAccount; ErrInvalid for a bad name). It publishes
	// ChangeMailboxSubscribed to acct when something changed.
	SetSubscription(ctx context.Context, acct AccountID, name string, on bool) error

	// SendAs returns the addresses acct may use as envelope sender and
	// From besides its own and its aliases', sorted (SPEC §3 "send as").
	SendAs(ctx context.Context, acct AccountID) ([]string, error)
	// SetSendAs grants (on) or revokes the right of acct to send as
	// address (lowercased; ErrNoAccount; revoking a grant that does not
	// exist is ErrNotFound).
	SetSendAs(ctx context.Context, acct AccountID, address string, on bool) error
}
