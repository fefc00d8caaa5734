// Package delivery is Floe's local delivery: it resolves recipient addresses
// to accounts and stores one copy of a message per account.
//
// Delivery is a sequence of explicit steps so that later features (rules,
// forwarder, responder) can be inserted between them:
//
//  1. Resolve each recipient address to an account (Resolve), at RCPT time.
//  2. Check the account's quota (CheckQuota), at RCPT time.
//  3. Deliver: deduplicate the recipients by account, then store every copy
//     through storage/ingest (the one write path: the blob is read and
//     parsed once, one storage.Deliver call, one transaction, durable when
//     it returns) and map the per-target outcome back to the recipients.
//
// Resolution reads the directory on every call, so an account added by the
// CLI while the server runs receives mail at once.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"github.com/floemail/floe/server/metrics"
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/srs"
	"github.com/floemail/floe/storage"
)

// Errors returned by Resolve (and CheckQuota). The SMTP layer maps them to
// reply codes.
var (
	// ErrNotLocal: the domain is not one of ours (relaying for SMTP).
	ErrNotLocal = errors.New("domain is not local")
	// ErrUnknownUser: the domain is local but no account, alias or
	// catch-all takes the address.
	ErrUnknownUser = errors.New("no such user")
	// ErrInvalidAddress: the address is syntactically unusable. Local parts
	// containing '@', '%' or '!' (relay tricks) are invalid too.
	ErrInvalidAddress = errors.New("invalid address")
	// ErrDisabled: the account exists but is disabled; it receives no mail
	// (RFC 3463 X.2.1 "mailbox disabled").
	ErrDisabled = errors.New("mailbox disabled")
	// ErrTooBigForQuota is returned by CheckQuota when the message alone is
	// larger than the account's byte quota: retrying cannot help. It wraps
	// storage.ErrOverQuota.
	ErrTooBigForQuota = fmt.Errorf("message larger than the mailbox quota: %w", storage.ErrOverQuota)
)

// Limits on addresses (RFC 5321 4.5.3.1).
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxAddress   = 254
)

// OutboundSubmitter is what delivery needs from the outbound queue: the
// forwarder and the responder send messages to remote recipients through
// it. It is declared here, at the consumer, so that delivery does not
// import server/queue (which delivers DSNs locally through delivery);
// *queue.Queue implements it and the server wires it.
type OutboundSubmitter interface {
	// SubmitOutbound queues the spooled blob from the envelope sender from
	// ("" for the null sender, as RFC 3834 responses use) to the remote
	// addresses to, on behalf of account acct (0 for the system). It
	// returns after the queue entry is durably committed; the entry then
	// references the blob.
	SubmitOutbound(ctx context.Context, from string, to []string, blob storage.BlobRef, acct storage.AccountID) error
}

// Options configures a Deliverer.
type Options struct {
	Store  storage.Store
	Config func() *config.Config
	Logger *slog.Logger
	// Outbound takes messages for remote recipients (forwarder,
	// responder); nil when the server has no outbound queue.
	Outbound OutboundSubmitter
	// Metrics, when set, counts delivered messages.
	Metrics *metrics.Metrics
	// SRS rewrites the envelope sender of forwarded mail; nil forwards
	// with the original sender (SPF may then fail at the destination).
	SRS *srs.SRS
	// Groups answers "member of group" conditions; nil: the store's groups
	// when it has them (a MemberOf method, the storage groups API), else
	// none.
	Groups GroupChecker
	// LookupPTR resolves rDNS names for rdns conditions (net.Resolver's
	// LookupAddr); nil: rDNS is unknown ("").
	LookupPTR func(ctx context.Context, addr string) ([]string, error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Deliverer resolves recipients and delivers messages locally. It is safe
// for concurrent use. Between calls it keeps only caches that never change
// an outcome: compiled rules (rulesource.go) and the folders rules filed
// into (folders.go).
type Deliverer struct {
	store     storage.Store
	cfg       func() *config.Config
	log       *slog.Logger
	outbound  OutboundSubmitter
	srs       *srs.SRS
	groups    GroupChecker
	lookupPTR func(ctx context.Context, addr string) ([]string, error)
	now       func() time.Time
	rules     ruleSource
	known     folderCache // folders rules filed into (folders.go)
	metrics   *metrics.Metrics
}

// New returns a Deliverer.
func New(o Options) *Deliverer {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	groups := o.Groups
	if mo, ok := o.Store.(memberOfer); ok && groups == nil {
		groups = storeGroups{mo}
	}
	return &Deliverer{store: o.Store, cfg: o.Config, log: log, outbound: o.Outbound,
		srs: o.SRS, groups: groups, lookupPTR: o.LookupPTR, now: now, metrics: o.Metrics}
}

// Recipient is a resolved local recipient.
type Recipient struct {
	// Address is the address as given (domain lowercased).
	Address string
	// Account is the account that receives the copy, AccountAddress its
	// primary address.
	Account        storage.AccountID
	AccountAddress string
	// Mailbox is the destination mailbox name ("INBOX").
	Mailbox string
	// Group is the group address the recipient was reached through (""
	// when addressed directly; groups.go).
	Group string
}

// Message is one message to deliver: the blob, already stored durably
// (Received header included), and its envelope.
type Message struct {
	Blob       storage.BlobRef
	From       string // envelope sender, "" for the null sender
	Recipients []Recipient
	RemoteIP   netip.Addr
	Helo       string
	AuthUser   string // authenticated submitter, "" for none
	// RDNS is the client's PTR name when known; Spam the scanner's verdict
	// (nil: no scanner); AuthResults our Authentication-Results value; Junk
	// that the arrival checks file the message as junk.
	RDNS        string
	Spam        *rules.Spam
	AuthResults string
	Junk        bool
}

// Result is the outcome for one recipient of Deliver, in the order of
// Message.Recipients. Err is nil when the copy is durably stored.
type Result struct {
	Recipient Recipient
	Err       error
}

// SplitAddress splits local@domain at the last '@' and lowercases the
// domain. It checks lengths and the characters allowed in a mailbox Floe can
// deliver to; UTF-8 local parts (SMTPUTF8) are allowed. Local parts with
// '@', '%' or '!' are refused: they only serve to route mail elsewhere
// (RFC 5321 3.6.1, 3.6.2; relay tricks).
func SplitAddress(address string) (local, domain string, err error) {
	i := strings.LastIndexByte(address, '@')
	if i <= 0 || i == len(address)-1 || len(address) > maxAddress {
		return "", "", ErrInvalidAddress
	}
	local, domain = address[:i], strings.ToLower(address[i+1:])
	if len(local) > maxLocalPart || len(domain) > maxDomain || !utf8.ValidString(local) {
		return "", "", ErrInvalidAddress
	}
	for _, r := range local {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`@%!"\()<>[];,`, r) {
			return "", "", ErrInvalidAddress
		}
	}
	if domain[0] == '[' { // address literal: never one of our domains
		return local, domain, nil
	}
	for _, r := range domain {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
		case r >= 0x80: // U-label; never matches our A-label domains
		default:
			return "", "", ErrInvalidAddress
		}
	}
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", "", ErrInvalidAddress
	}
	return local, domain, nil
}

// Resolve maps an address to a local recipient, reading the directory:
//
//  1. the domain must be local (ErrNotLocal);
//  2. an account with exactly this address;
//  3. an alias with exactly this address (its target account);
//  4. when the local part has a "+tag" or ":tag", the same two lookups
//     without the tag (local+tag@domain -> local@domain);
//  5. a group with this address: ErrIsGroup (ResolveAll expands it);
//  6. the domain's catch-all account;
//  7. otherwise ErrUnknownUser.
//
// Local parts are compared case-insensitively. A disabled account yields
// ErrDisabled. Storage errors are returned wrapped.
func (d *Deliverer) Resolve(ctx context.Context, address string) (Recipient, error) {
	local, domain, err := SplitAddress(address)
	if err != nil {
		return Recipient{}, err
	}
	if domain[0] == '[' {
		return Recipient{}, ErrNotLocal
	}
	dom, err := d.store.Domain(ctx, domain)
	if errors.Is(err, storage.ErrNoDomain) || errors.Is(err, storage.ErrNotFound) {
		return Recipient{}, ErrNotLocal
	} else if err != nil {
		return Recipient{}, fmt.Errorf("resolve %s: %w", domain, err)
	}
	r := Recipient{Address: local + "@" + domain, Mailbox: "INBOX"}
	acct, err := d.lookupOwner(ctx, strings.ToLower(local), domain)
	if errors.Is(err, ErrUnknownUser) {
		if _, ok, gerr := d.group(ctx, strings.ToLower(local), domain); gerr != nil {
			return Recipient{}, fmt.Errorf("resolve: %w", gerr)
		} else if ok {
			return Recipient{}, ErrIsGroup
		}
	}
	if errors.Is(err, ErrUnknownUser) && dom.CatchAll != "" {
		acct, err = d.store.Account(ctx, dom.CatchAll)
		if errors.Is(err, storage.ErrNoAccount) {
			d.log.Warn("catch-all names no account", "domain", domain, "catch_all", dom.CatchAll)
			err = ErrUnknownUser
		}
	}
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			return Recipient{}, ErrUnknownUser
		}
		return Recipient{}, fmt.Errorf("resolve: %w", err)
	}
	if acct.Disabled {
		return Recipient{}, ErrDisabled
	}
	r.Account, r.AccountAddress = acct.ID, acct.Address
	return r, nil
}

// lookupOwner finds the account that owns local@domain: exact account,
// exact alias, then the same without a "+tag". No catch-all.
func (d *Deliverer) lookupOwner(ctx context.Context, local, domain string) (storage.Account, error) {
	acct, err := d.exact(ctx, local+"@"+domain)
	if !errors.Is(err, ErrUnknownUser) {
		return acct, err
	}
	// "+tag", or the seed's "user:Folder" (rules file such mail into the
	// folder with %%Extension%%).
	if i := strings.IndexAny(local, "+:"); i > 0 {
		return d.exact(ctx, local[:i]+"@"+domain)
	}
	return storage.Account{}, ErrUnknownUser
}

// exact looks up an account, then an alias, with exactly this address.
func (d *Deliverer) exact(ctx context.Context, addr string) (storage.Account, error) {
	acct, err := d.store.Account(ctx, addr)
	if err == nil || !errors.Is(err, storage.ErrNoAccount) {
		return acct, err
	}
	al, err := d.store.Alias(ctx, addr)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Account{}, ErrUnknownUser
	} else if err != nil {
		return storage.Account{}, err
	}
	acct, err = d.store.Account(ctx, al.Target)
	if errors.Is(err, storage.ErrNoAccount) {
		d.log.Warn("alias names no account", "alias", addr, "target", al.Target)
		return storage.Account{}, ErrUnknownUser
	}
	return acct, err
}

// Owns reports whether account acct may use address as its envelope sender:
// the account's own address, an alias whose target is the account, an
// address the administrator let it send as (floe account send-as; sharing
// an account does not), or any of them with a "+tag" in the local part. A
// domain catch-all grants nothing.
func (d *Deliverer) Owns(ctx context.Context, acct storage.AccountID, address string) (bool, error) {
	local, domain, err := SplitAddress(address)
	if err != nil || domain[0] == '[' {
		return false, nil
	}
	a, err := d.lookupOwner(ctx, strings.ToLower(local), domain)
	if err == nil && a.ID == acct {
		return true, nil
	}
	if err != nil && !errors.Is(err, ErrUnknownUser) {
		return false, err
	}
	return d.sendAs(ctx, acct, local, domain)
}

// CheckQuota reports whether r's account can take one more message of size
// bytes (the declared SIZE, or 0 when unknown): storage.ErrOverQuota when
// its usage plus the message exceeds QuotaBytes or the message count would
// exceed QuotaMessages, ErrTooBigForQuota when the message alone is larger
// than QuotaBytes. A quota of 0 is unlimited.
func (d *Deliverer) CheckQuota(ctx context.Context, r Recipient, size int64) error {
	acct, err := d.store.AccountByID(ctx, r.Account)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	if acct.QuotaBytes <= 0 && acct.QuotaMessages <= 0 {
		return nil
	}
	if acct.QuotaBytes > 0 && size > acct.QuotaBytes {
		return ErrTooBigForQuota
	}
	u, err := d.store.Usage(ctx, r.Account)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	// An account exactly at its quota cannot take even an undeclared size.
	if acct.QuotaBytes > 0 && u.Bytes+max(size, 1) > acct.QuotaBytes {
		return storage.ErrOverQuota
	}
	if acct.QuotaMessages > 0 && u.Messages+1 > acct.QuotaMessages {
		return storage.ErrOverQuota
	}
	return nil
}

// Deliver plans m (Plan: the message is read and parsed once, every
// recipient's rules evaluated) and executes the plan (Execute): copies are
// stored through the one write path, storage/ingest, in one transaction
// for the received message, durable (and published) when Deliver returns.
// A recipient whose rules reject the message gets ErrRejected, and the
// sender a DSN (never a null sender): callers that can still refuse the
// message (SMTP before its reply) call Plan and Execute themselves. The
// results follow m.Recipients. The error is for the whole call (nothing
// was stored).
func (d *Deliverer) Deliver(ctx context.Context, m *Message) ([]Result, error) {
	if len(m.Recipients) == 0 {
		return nil, nil
	}
	p, err := d.Plan(ctx, m)
	if err != nil {
		return nil, err
	}
	return d.Execute(ctx, p, true)
}

// DeliverLocal stores the spooled blob, a message from the envelope sender
// from, in the mailbox of the local account that the address to resolves
// to, or of every member of a group (ResolveAll, then Deliver): durable when
// it returns. local is false, with a nil error and nothing stored, when to
// is not in a local domain. With local true, err is ResolveAll's error
// (ErrUnknownUser, ErrDisabled, ...) or, when no copy was stored, the
// first copy's (storage.ErrOverQuota, ...). It implements
// queue.LocalDeliverer: the outbound queue delivers DSNs to local senders
// with it.
func (d *Deliverer) DeliverLocal(ctx context.Context, from, to string, blob storage.BlobRef) (local bool, err error) {
	rs, err := d.ResolveAll(ctx, to)
	if errors.Is(err, ErrNotLocal) {
		return false, nil
	}
	if err != nil && srs.IsSRS(to) {
		// A bounce to a message our forwarder sent on: it goes to the
		// original sender (srs.go).
		return d.deliverSRS(ctx, from, to, blob)
	}
	if err != nil {
		return true, err
	}
	res, err := d.Deliver(ctx, &Message{Blob: blob, From: from, Recipients: rs})
	if err != nil {
		return true, err
	}
	for _, r := range res {
		if r.Err == nil {
			return true, nil // stored for at least one member of a group
		}
	}
	return true, res[0].Err
}
