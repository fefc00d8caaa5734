package storage

import (
	"context"
	"time"
)

// Rules stores what the rule engine (package rules) needs per account:
// the account's rule document (rules, forwarder, responder) and the
// responder's once-per-sender state. The document is opaque to storage
// (the rules package's JSON); storage only keeps it.
type Rules interface {
	// AccountRules returns the account's rule document; ErrNotFound when
	// none is stored.
	AccountRules(ctx context.Context, acct AccountID) ([]byte, error)
	// SetAccountRules replaces the account's rule document (an empty doc
	// deletes it). ErrNoAccount when the account does not exist. Durable
	// when it returns.
	SetAccountRules(ctx context.Context, acct AccountID, doc []byte) error
	// RulesVersion returns a number that changes whenever any account's
	// rule document changes: set, replaced (even by the same document),
	// removed, or removed with its account. It never returns to an earlier
	// value, and it sees changes other processes made to the same store
	// (the CLI), so a reader that caches documents (delivery's compiled
	// rules) reads it before each use and re-reads a document only when it
	// changed.
	RulesVersion(ctx context.Context) (uint64, error)
	// ResponderMark decides, atomically, whether the responder of acct
	// answers sender (compared case-insensitively) at now: it returns true
	// and records now when sender was never answered, or was last answered
	// at or before since (a non-zero since: "again after N days"); it
	// returns false and changes nothing when sender was answered and since
	// is zero ("once") or the last answer is after since. Durable when it
	// returns true. The state of an account is removed with the account.
	ResponderMark(ctx context.Context, acct AccountID, sender string, now, since time.Time) (bool, error)
	// ResponderReset forgets every sender acct's responder answered (the
	// responder was changed).
	ResponderReset(ctx context.Context, acct AccountID) error
}

// QuarantineID identifies a quarantined message.
type QuarantineID int64

// QuarantineEntry is a message held for the administrator by a rule. The
// entry references its blob: the body is kept until the entry is deleted.
type QuarantineEntry struct {
	ID   QuarantineID
	Blob BlobID
	Size int64
	// From is the envelope sender; Recipient the envelope recipient the
	// message was quarantined for, Account its account (0 when none).
	From      string
	Recipient string
	Account   AccountID
	// Reason says why (the rule's title).
	Reason  string
	Created time.Time
}

// Quarantine holds messages for the administrator (`floe quarantine`).
type Quarantine interface {
	// Quarantine stores e (ID and Created set when zero) referencing the
	// blob e.Blob stored with PutBlob; the blob is made durable before the
	// commit, and Quarantine returns after the commit is durable.
	Quarantine(ctx context.Context, e QuarantineEntry) (QuarantineID, error)
	// QuarantineEntries lists every entry, oldest first.
	QuarantineEntries(ctx context.Context) ([]QuarantineEntry, error)
	// QuarantineEntry returns one entry (ErrNotFound).
	QuarantineEntry(ctx context.Context, id QuarantineID) (QuarantineEntry, error)
	// DeleteQuarantineEntry removes the entry and drops its blob reference
	// (ErrNotFound).
	DeleteQuarantineEntry(ctx context.Context, id QuarantineID) error
}
