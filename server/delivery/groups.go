package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/floemail/floe/storage"
)

// Groups and send-as (issue #8).
//
// A group (distribution list, storage.Groups) is an address standing for
// several accounts: ResolveAll expands it to one Recipient per enabled
// member, and Deliver stores one copy per account as for any recipients
// (a member also named directly gets one copy). Groups are looked up after
// accounts and aliases (an address is only one of them) and before the
// domain's catch-all; "group+tag@domain" reaches the group too.
//
// Known limit: a member whose mailbox is full when the group's RCPT
// arrives is left out of that message (logged at warn level); no bounce
// is sent for it. The message is refused only when no member can take it.

// ErrIsGroup is returned by Resolve for a group's address: it stands for
// several recipients (use ResolveAll).
var ErrIsGroup = errors.New("address is a group")

// group returns the group owning local@domain (with or without a "+tag"),
// or ok false.
func (d *Deliverer) group(ctx context.Context, local, domain string) (storage.Group, bool, error) {
	g, err := d.store.Group(ctx, local+"@"+domain)
	if err == nil {
		return g, true, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return g, false, err
	}
	if i := strings.IndexByte(local, '+'); i > 0 {
		g, err = d.store.Group(ctx, local[:i]+"@"+domain)
		if err == nil {
			return g, true, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return g, false, err
		}
	}
	return g, false, nil
}

// ResolveAll maps an address to its local recipients: Resolve's one, or,
// for a group's address, one per enabled member (Recipient.Group names the
// group; Address is the address as given). A group without an enabled
// member is ErrUnknownUser. Errors are Resolve's.
func (d *Deliverer) ResolveAll(ctx context.Context, address string) ([]Recipient, error) {
	r, err := d.Resolve(ctx, address)
	if !errors.Is(err, ErrIsGroup) {
		if err != nil {
			return nil, err
		}
		return []Recipient{r}, nil
	}
	local, domain, _ := SplitAddress(address)
	g, ok, err := d.group(ctx, strings.ToLower(local), domain)
	if err != nil {
		return nil, fmt.Errorf("resolve group: %w", err)
	}
	if !ok {
		return nil, ErrUnknownUser // removed meanwhile
	}
	var out []Recipient
	for _, m := range g.Members {
		acct, err := d.store.Account(ctx, m)
		if errors.Is(err, storage.ErrNoAccount) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("resolve group member: %w", err)
		}
		if acct.Disabled {
			continue
		}
		out = append(out, Recipient{Address: local + "@" + domain, Account: acct.ID, AccountAddress: acct.Address, Mailbox: "INBOX", Group: g.Address})
	}
	if len(out) == 0 {
		return nil, ErrUnknownUser
	}
	return out, nil
}

// sendAs reports whether acct was granted sending as address (exactly, or
// without its "+tag").
func (d *Deliverer) sendAs(ctx context.Context, acct storage.AccountID, local, domain string) (bool, error) {
	grants, err := d.store.SendAs(ctx, acct)
	if err != nil || len(grants) == 0 {
		return false, err
	}
	local = strings.ToLower(local)
	if slices.Contains(grants, local+"@"+domain) {
		return true, nil
	}
	if i := strings.IndexByte(local, '+'); i > 0 {
		return slices.Contains(grants, local[:i]+"@"+domain), nil
	}
	return false, nil
}
