package imap

import (
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/floemail/floe/storage"
)

// This file implements QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT and
// SETQUOTA. Each account has one quota root, named "" by its own sessions,
// with the resources STORAGE (in units of 1024 octets, RFC 9208 5.1) and
// MESSAGE (RFC 9208 5.2), from the account's limits and its usage counters.
// Both resources are always reported, so that clients show the usage; a
// resource without a limit has the largest number64 as its limit, because
// the quota-list grammar (RFC 9208 7) needs at least one resource and every
// resource a limit.
//
// SETQUOTA is for administrators only ([auth] admins in the config): they
// set their own account's limits with root "" and any other account's with
// the account's address as root. Resources left out become unlimited (RFC
// 9208 4.1.3). Accounts declared in the config file keep the config's
// limits: SETQUOTA on them is refused.

func init() {
	register("GETQUOTA", command{fn: cmdGetQuota, states: authStates, expungeOK: true})
	register("GETQUOTAROOT", command{fn: cmdGetQuotaRoot, states: authStates, expungeOK: true})
	register("SETQUOTA", command{fn: cmdSetQuota, states: authStates, expungeOK: true})
}

// isAdmin reports whether the logged-in account is an administrator.
func (s *session) isAdmin() bool {
	return s.user != nil && slices.ContainsFunc(s.srv.config().Auth.Admins, func(a string) bool {
		return strings.EqualFold(a, s.user.Address)
	})
}

// quotaAccount returns the account of a quota root: "" is the session's own
// account; administrators may name any account by its address.
func (s *session) quotaAccount(root string) (storage.Account, error) {
	if root == "" {
		a, err := s.store.AccountByID(s.ctx, s.user.Account)
		if err != nil {
			return a, s.storageError(err)
		}
		return a, nil
	}
	if !s.isAdmin() {
		return storage.Account{}, errNo("NONEXISTENT", "no such quota root")
	}
	a, err := s.store.Account(s.ctx, strings.ToLower(root))
	if errors.Is(err, storage.ErrNoAccount) || errors.Is(err, storage.ErrNotFound) {
		return a, errNo("NONEXISTENT", "no such quota root")
	}
	if err != nil {
		return a, s.storageError(err)
	}
	return a, nil
}

// unlimitedQuota is the limit reported for a resource without one: the
// largest number64 (RFC 9208 7: a resource always has a limit on the wire),
// so that clients show the usage and never a warning.
const unlimitedQuota = math.MaxInt64

// writeQuota writes "* QUOTA root (STORAGE used limit MESSAGE used limit)"
// (RFC 9208 5.1, 7.1). Every account has the root with both resources, so
// clients can show its usage; an unlimited resource has unlimitedQuota.
func (s *session) writeQuota(root string, a *storage.Account, u storage.Usage) {
	storageLimit, msgLimit := uint64(unlimitedQuota), uint64(unlimitedQuota)
	if a.QuotaBytes > 0 {
		storageLimit = uint64(a.QuotaBytes / 1024)
	}
	if a.QuotaMessages > 0 {
		msgLimit = uint64(a.QuotaMessages)
	}
	s.e.Untagged().Atom("QUOTA ").String(root).Atom(" (")
	// Usage rounded up so that a non-empty account never shows 0.
	s.e.Atom("STORAGE ").Number64(uint64((max(u.Bytes, 0) + 1023) / 1024)).SP().Number64(storageLimit)
	s.e.Atom(" MESSAGE ").Number64(uint64(max(u.Messages, 0))).SP().Number64(msgLimit)
	s.e.Byte(')').CRLF()
}

// cmdGetQuota: GETQUOTA quota-root (RFC 9208 4.2).
func cmdGetQuota(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	root, err := d.AString()
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	a, err := s.quotaAccount(root)
	if err != nil {
		return err
	}
	u, err := s.store.Usage(s.ctx, a.ID)
	if err != nil {
		return s.storageError(err)
	}
	s.writeQuota(root, &a, u)
	return nil
}

// cmdGetQuotaRoot: GETQUOTAROOT mailbox (RFC 9208 4.3): "* QUOTAROOT
// mailbox root" and the root's QUOTA.
func cmdGetQuotaRoot(s *session, tag string, d *decoder) error {
	name, err := d.mailboxArg()
	if err != nil {
		return err
	}
	mb, err := s.mailbox(name)
	if err != nil {
		return s.storageError(err)
	}
	// A folder counts against its owner's quota (the view says whose): the
	// user's own root is "", another account's is named by its address
	// (GETQUOTA on it is for administrators).
	a, u, err := s.v.Quota(s.ctx, mb.ID())
	if err != nil {
		return s.storageError(err)
	}
	root := ""
	if !mb.Own {
		root = a.Address
	}
	s.e.Untagged().Atom("QUOTAROOT ").Mailbox(mb.Name).SP().String(root).CRLF()
	s.writeQuota(root, &a, u)
	return nil
}

// cmdSetQuota: SETQUOTA quota-root "(" [resource SP limit *(SP resource
// SP limit)] ")" (RFC 9208 4.1).
func cmdSetQuota(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	root, err := d.AString()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	var bytes, msgs int64
	var unknown, zeroMsgs bool
	err = d.List(func() error {
		res, err := d.Atom()
		if err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		n, err := d.Number64()
		if err != nil {
			return err
		}
		switch strings.ToUpper(res) {
		case "STORAGE":
			// Storage keeps 0 for "unlimited": a limit of 0 KiB is stored
			// as one byte, which no message fits and which reads back as 0.
			bytes = max(int64(min(n, math.MaxInt64/1024))*1024, 1)
		case "MESSAGE":
			if n == 0 {
				zeroMsgs = true
			}
			msgs = int64(min(n, math.MaxInt64))
		default:
			unknown = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if !s.isAdmin() {
		return errNo("NOPERM", "only administrators may set quotas")
	}
	if unknown {
		// RFC 9208 4.1.3: a resource the server does not support.
		return errNo("", "unsupported quota resource; Floe has STORAGE and MESSAGE")
	}
	if zeroMsgs {
		return errNo("CANNOT", "a MESSAGE limit of 0 is not supported")
	}
	a, err := s.quotaAccount(root)
	if err != nil {
		return err
	}
	if a.Source == storage.SourceConfig {
		return errNo("CANNOT", "this account's quota is set in the configuration file; change it there")
	}
	a.QuotaBytes, a.QuotaMessages = bytes, msgs
	if err := s.store.UpdateAccount(s.ctx, a); err != nil {
		if errors.Is(err, storage.ErrConfigOwned) {
			return errNo("CANNOT", "this account's quota is set in the configuration file; change it there")
		}
		return s.storageError(err)
	}
	u, err := s.store.Usage(s.ctx, a.ID)
	if err != nil {
		return s.storageError(err)
	}
	s.writeQuota(root, &a, u)
	return nil
}
