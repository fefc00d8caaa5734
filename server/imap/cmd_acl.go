package imap

import (
	"errors"
	"strings"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// The ACL commands of RFC 4314 3 (capabilities ACL and RIGHTS=texk):
// SETACL, DELETEACL, GETACL, LISTRIGHTS and MYRIGHTS. They act on a mailbox
// of the user's view, or on an account's root, named "~owner@domain" (the
// user's own root too) or "#public", which shares every folder without an
// ACL of its own (account sharing, docs/sharing.md). All but MYRIGHTS need
// the "a" right; a mailbox the user cannot see ("l") answers NONEXISTENT
// as one that does not exist. The owner always has every right: it is
// shown first by GETACL and cannot be an entry.

func init() {
	register("SETACL", command{fn: cmdSetACL, states: authStates, expungeOK: true})
	register("DELETEACL", command{fn: cmdDeleteACL, states: authStates, expungeOK: true})
	register("GETACL", command{fn: cmdGetACL, states: authStates, expungeOK: true})
	register("LISTRIGHTS", command{fn: cmdListRights, states: authStates, expungeOK: true})
	register("MYRIGHTS", command{fn: cmdMyRights, states: authStates, expungeOK: true})
}

// aclTarget is what an ACL command names.
type aclTarget struct {
	owner     storage.AccountID
	ownerAddr string
	mbox      storage.MailboxID // storage.RootMailbox for an account root
	name      string            // as the response names it
	rights    acl.Rights        // the user's
}

// domainOf returns the domain of an address or of "@domain".
func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

// aclTarget resolves the mailbox argument of an ACL command.
func (s *session) aclTarget(name string) (aclTarget, error) {
	name = canonicalMailbox(name)
	if strings.HasPrefix(name, "~") && !strings.Contains(name, "/") || strings.EqualFold(name, "#public") {
		owner, addr, err := s.v.Root(s.ctx, name)
		if err != nil {
			return aclTarget{}, err
		}
		r, err := s.v.RootRights(s.ctx, owner)
		if err != nil {
			return aclTarget{}, err
		}
		n := "~" + addr
		if strings.HasPrefix(addr, "@") {
			n = "#public"
		}
		return aclTarget{owner: owner, ownerAddr: addr, mbox: storage.RootMailbox, name: n, rights: r}, nil
	}
	f, err := s.mailbox(name)
	if err != nil {
		return aclTarget{}, err
	}
	return aclTarget{owner: f.Mailbox.Account, ownerAddr: f.Owner, mbox: f.ID(), name: f.Name, rights: f.Rights}, nil
}

// aclError translates the errors of the ACL commands.
func (s *session) aclError(err error) error {
	if errors.Is(err, storage.ErrInvalid) {
		return errNo("CANNOT", "the owner always has every right")
	}
	return s.storageError(err)
}

// cmdSetACL: SETACL mailbox SP identifier SP mod-rights (RFC 4314 3.1). A
// leading "+" adds the rights, "-" removes them, none replaces them; an
// empty rights string removes the entry. An identifier with a leading "-"
// is a negative entry. A local part alone is an address of the owner's
// domain.
func cmdSetACL(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	name, err := d.Mailbox()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	ident, err := d.AString()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	mod, err := d.AString()
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	op, rights, err := acl.ParseModifiedRights(mod)
	if err != nil {
		return errBad("invalid rights")
	}
	t, err := s.aclTarget(name)
	if err != nil {
		return s.storageError(err)
	}
	id, neg, err := acl.ParseEntryName(ident, domainOf(t.ownerAddr))
	if err != nil {
		return errBad("invalid identifier")
	}
	_, err = s.v.ChangeACL(s.ctx, t.owner, t.mbox, []acl.Change{{Identifier: id, Negative: neg, Op: op, Rights: rights}})
	return s.aclError(err)
}

// cmdDeleteACL: DELETEACL mailbox SP identifier (RFC 4314 3.2).
func cmdDeleteACL(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	name, err := d.Mailbox()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	ident, err := d.AString()
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	t, err := s.aclTarget(name)
	if err != nil {
		return s.storageError(err)
	}
	id, neg, err := acl.ParseEntryName(ident, domainOf(t.ownerAddr))
	if err != nil {
		return errBad("invalid identifier")
	}
	_, err = s.v.ChangeACL(s.ctx, t.owner, t.mbox, []acl.Change{{Identifier: id, Negative: neg, Op: acl.OpDelete}})
	return s.aclError(err)
}

// cmdGetACL: GETACL mailbox (RFC 4314 3.3): "* ACL mailbox identifier
// rights ...", the owner first.
func cmdGetACL(s *session, tag string, d *decoder) error {
	name, err := d.mailboxArg()
	if err != nil {
		return err
	}
	t, err := s.aclTarget(name)
	if err != nil {
		return s.storageError(err)
	}
	a, err := s.v.GetACL(s.ctx, t.owner, t.mbox)
	if err != nil {
		return s.storageError(err)
	}
	e := s.e.Untagged().Atom("ACL ").Mailbox(t.name)
	if !strings.HasPrefix(t.ownerAddr, "@") {
		e.SP().String(t.ownerAddr).SP().Atom(acl.All.String())
	}
	for _, en := range a.Entries {
		e.SP().String(en.Name()).SP().String(en.Rights.String())
	}
	e.CRLF()
	return nil
}

// cmdListRights: LISTRIGHTS mailbox SP identifier (RFC 4314 3.4). Floe's
// rights are independent of each other (RIGHTS=texk), so each is its own
// optional group; the owner's are all required.
func cmdListRights(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	name, err := d.Mailbox()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	ident, err := d.AString()
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	t, err := s.aclTarget(name)
	if err != nil {
		return s.storageError(err)
	}
	if !t.rights.Has(acl.Of(acl.Administer)) {
		return s.storageError(storage.ErrPermission)
	}
	id, neg, err := acl.ParseEntryName(ident, domainOf(t.ownerAddr))
	if err != nil {
		return errBad("invalid identifier")
	}
	e := s.e.Untagged().Atom("LISTRIGHTS ").Mailbox(t.name).SP().String(ident).SP()
	if !neg && string(id) == t.ownerAddr {
		e.String(acl.All.String()).CRLF()
		return nil
	}
	e.String("")
	for _, c := range acl.All.String() {
		e.SP().Byte(byte(c))
	}
	e.CRLF()
	return nil
}

// cmdMyRights: MYRIGHTS mailbox (RFC 4314 3.5): the user's rights.
func cmdMyRights(s *session, tag string, d *decoder) error {
	name, err := d.mailboxArg()
	if err != nil {
		return err
	}
	t, err := s.aclTarget(name)
	if err != nil {
		return s.storageError(err)
	}
	s.e.Untagged().Atom("MYRIGHTS ").Mailbox(t.name).SP().String(t.rights.String()).CRLF()
	return nil
}
