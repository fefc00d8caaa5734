package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Download links (SmartAttach for mail, docs/files.md): a link lets whoever
// holds its token download one file without logging in, until it expires
// or the administrator revokes it.
//
// The token is a random string (LinkTokenBytes of randomness) shown once,
// in the URL; storage keeps only its SHA-256 (HashLinkToken), so a copy of
// the database does not give working links. A token of that much
// randomness needs no slow hash: it cannot be guessed, only stolen.
//
// A link names the file (its folder and name) and the content it had when
// the link was made: a file deleted, renamed or changed since is not
// served through the link. A link is removed with its account or folder.

// LinkID identifies a download link.
type LinkID int64

// LinkTokenBytes is the randomness of a link token (192 bits).
const LinkTokenBytes = 24

// Link is a download link to a file.
type Link struct {
	ID LinkID
	// TokenHash is HashLinkToken of the token; the token is not stored.
	TokenHash string
	// Account owns the file; Mailbox and Name locate it.
	Account AccountID
	Mailbox MailboxID
	Name    string
	// Content and Size are the file's content when the link was made.
	Content BlobID
	Size    int64
	Created time.Time
	Expires time.Time
	// Revoked is when the link was revoked; zero while it is not.
	Revoked time.Time
	// Note says what the link was made for (for `floe smartattach list`),
	// e.g. "mail to bob@example.org: Quarterly report"; at most
	// MaxLinkNote bytes.
	Note string
}

// MaxLinkNote bounds Link.Note.
const MaxLinkNote = 1024

// Live reports whether the link may be used at now: not revoked and not
// expired.
func (l Link) Live(now time.Time) bool {
	return l.Revoked.IsZero() && now.Before(l.Expires)
}

// Links stores download links.
type Links interface {
	// CreateLink stores l (ID and Created are set here when zero) and
	// returns its ID; durable when it returns. l.TokenHash must be a
	// HashLinkToken result and unique (ErrExists), l.Expires after
	// l.Created, l.Note at most MaxLinkNote bytes (ErrInvalid); the
	// account and folder must exist (ErrNoAccount, ErrNoMailbox). The
	// file is not checked: the link is made after the file is stored.
	CreateLink(ctx context.Context, l Link) (LinkID, error)
	// LinkByToken returns the link whose TokenHash is tokenHash, live or
	// not (ErrNotFound).
	LinkByToken(ctx context.Context, tokenHash string) (Link, error)
	// Link returns one link (ErrNotFound).
	Link(ctx context.Context, id LinkID) (Link, error)
	// Links lists the links of acct (every account's when acct is 0),
	// oldest first, live or not.
	Links(ctx context.Context, acct AccountID) ([]Link, error)
	// RevokeLink marks the link revoked at at (ErrNotFound); revoking a
	// revoked link keeps the first time. Durable when it returns.
	RevokeLink(ctx context.Context, id LinkID, at time.Time) error
	// DeleteLinks removes the links that expired, or were revoked, before
	// before, and returns how many.
	DeleteLinks(ctx context.Context, before time.Time) (int, error)
}

// NewLinkToken returns a new random link token (URL-safe base64 of
// LinkTokenBytes random bytes) and its HashLinkToken.
func NewLinkToken() (token, hash string, err error) {
	b := make([]byte, LinkTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashLinkToken(token), nil
}

// HashLinkToken is the stored form of a link token: its SHA-256, in
// lowercase hex.
func HashLinkToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
