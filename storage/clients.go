package storage

import (
	"context"
	"errors"
	"time"
)

// ErrLimit is returned when an administrator-set limit would be exceeded
// (client seats of a domain).
var ErrLimit = errors.New("limit reached")

// Activation is one client installation licensed for an account (client
// services, port 5229). A domain's activations are limited by its seats.
type Activation struct {
	ID      int64
	Account AccountID
	// Address and Domain are the account's, filled by reads.
	Address string
	Domain  string
	// MachineID identifies the installation (chosen by the client, at most
	// MaxMachineID bytes).
	MachineID string
	Created   time.Time
	// Renewed is when the activation was last (re)issued; Expires when the
	// license document issued then stops being valid.
	Renewed time.Time
	Expires time.Time
}

// MaxMachineID bounds Activation.MachineID.
const MaxMachineID = 200

// AppPassword is an extra password of an account for one client (IMAP,
// SMTP, POP3, DAV), created and revoked by the user. It never opens the
// user's settings.
type AppPassword struct {
	ID      int64
	Account AccountID
	// Label names the client ("phone", "Thunderbird at home"); at most
	// MaxAppPasswordLabel bytes.
	Label string
	// Hash is the stored form of the password (server/auth
	// HashAppPassword); the password itself is shown once, at creation,
	// and never stored.
	Hash     string
	Created  time.Time
	LastUsed time.Time // zero: never used
}

// MaxAppPasswordLabel bounds AppPassword.Label; MaxAppPasswords bounds the
// number per account.
const (
	MaxAppPasswordLabel = 100
	MaxAppPasswords     = 50
)

// Clients stores what the user-facing services keep per account: client
// activation keys and activations, and app passwords. Everything is
// removed with the account.
type Clients interface {
	// ActivationKey returns the account's client activation key, storing
	// newKey() first when it has none (ErrNoAccount).
	ActivationKey(ctx context.Context, acct AccountID, newKey func() string) (string, error)
	// SetActivationKey replaces the account's key (ErrNoAccount); an
	// activation key is unique (ErrExists).
	SetActivationKey(ctx context.Context, acct AccountID, key string) error
	// AccountByActivationKey finds the account of a key (ErrNotFound).
	AccountByActivationKey(ctx context.Context, key string) (AccountID, error)

	// Activate records the activation of a.MachineID for a.Account with
	// a.Expires, in one transaction: when the account already has an
	// activation for that machine it is renewed (Renewed and Expires
	// updated, no new seat); otherwise it is added when fewer than seats
	// activations exist for the account's domain, else ErrLimit. It
	// returns the stored activation.
	Activate(ctx context.Context, a Activation, seats int) (Activation, error)
	// Activations lists the activations of domain ("" for every domain),
	// ordered by ID.
	Activations(ctx context.Context, domain string) ([]Activation, error)
	// RevokeActivation removes an activation, freeing its seat
	// (ErrNotFound).
	RevokeActivation(ctx context.Context, id int64) error

	// AppPasswords lists the account's app passwords, oldest first.
	AppPasswords(ctx context.Context, acct AccountID) ([]AppPassword, error)
	// CreateAppPassword stores p (ID and Created are set); more than
	// MaxAppPasswords per account is ErrLimit, a bad label ErrInvalid.
	CreateAppPassword(ctx context.Context, p AppPassword) (AppPassword, error)
	// DeleteAppPassword removes the account's app password id
	// (ErrNotFound, also when it belongs to another account).
	DeleteAppPassword(ctx context.Context, acct AccountID, id int64) error
	// TouchAppPassword records a use of the app password (best effort).
	TouchAppPassword(ctx context.Context, id int64, at time.Time) error
}
