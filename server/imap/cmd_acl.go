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

// aclArgs are the arguments of an ACL command.
type aclArgs struct {
	mailbox string
	ident   string // SETACL, DELETEACL, LISTRIGHTS
	op      acl.Op // SETACL
	rights  acl.Rights
}

// parseACLArgs reads SP mailbox, then SP identifier when ident is set,
// then SP mod-rights when rights is set, then CRLF (RFC 4314 3 and 4:
// identifier and mod-rights are astrings; mod-rights = ["+" / "-"]
// rights). Unknown rights letters are BAD.
func parseACLArgs(d *decoder, ident, rights bool) (aclArgs, error) {
	var a aclArgs
	var err error
	if err = d.SP(); err != nil {
		return a, err
	}
	if a.mailbox, err = d.Mailbox(); err != nil {
		return a, err
	}
	if ident {
		if err = d.SP(); err != nil {
			return a, err
		}
		if a.ident, err = d.AString(); err != nil {
			return a, err
		}
	}
	if rights {
		if err = d.SP(); err != nil {
			return a, err
		}
		mod, err := d.AString()
		if err != nil {
			return a, err
		}
		if a.op, a.rights, err = acl.ParseModifiedRights(mod); err != nil {
			return a, errBad("invalid rights")
		}
	}
	return a, d.CRLF()
}

// aclCommand reads the arguments of an ACL command (as parseACLArgs) and
// resolves its mailbox; an error is the command's answer.
func (s *session) aclCommand(d *decoder, ident, rights bool) (aclArgs, aclTarget, error) {
	a, err := parseACLArgs(d, ident, rights)
	if err != nil {
		return a, aclTarget{}, err
	}
	t, err := s.aclTarget(a.mailbox)
	if err != nil {
		return a, t, s.storageError(err)
	}
	return a, t, nil
}

// changeACL applies op with rights to the entry of t named by the
// identifier argument ident (SETACL, DELETEACL).
func (s *session) changeACL(t aclTarget, ident string, op acl.Op, rights acl.Rights) error {
	id, neg, err := t.entryName(ident)
	if err != nil {
		return err
	}
	_, err = s.v.ChangeACL(s.ctx, t.owner, t.mbox, []acl.Change{{Identifier: id, Negative: neg, Op: op, Rights: rights}})
	return s.aclError(err)
}

// entryName parses an identifier argument; a local part alone is an
// address of the owner's domain.
func (t aclTarget) entryName(ident string) (acl.Identifier, bool, error) {
	id, neg, err := acl.ParseEntryName(ident, domainOf(t.ownerAddr))
	if err != nil {
		return id, neg, errBad("invalid identifier")
	}
	return id, neg, nil
}

// cmdSetACL: SETACL mailbox SP identifier SP mod-rights (RFC 4314 3.1). A
// leading "+" adds the rights, "-" removes them, none replaces them; an
// empty rights string removes the entry. An identifier with a leading "-"
// is a negative entry.
func cmdSetACL(s *session, tag string, d *decoder) error {
	a, t, err := s.aclCommand(d, true, true)
	if err != nil {
		return err
	}
	return s.changeACL(t, a.ident, a.op, a.rights)
}

// cmdDeleteACL: DELETEACL mailbox SP identifier (RFC 4314 3.2).
func cmdDeleteACL(s *session, tag string, d *decoder) error {
	a, t, err := s.aclCommand(d, true, false)
	if err != nil {
		return err
	}
	return s.changeACL(t, a.ident, acl.OpDelete, 0)
}

// cmdGetACL: GETACL mailbox (RFC 4314 3.3): "* ACL mailbox identifier
// rights ...", the owner first.
func cmdGetACL(s *session, tag string, d *decoder) error {
	_, t, err := s.aclCommand(d, false, false)
	if err != nil {
		return err
	}
	x, err := s.v.GetACL(s.ctx, t.owner, t.mbox)
	if err != nil {
		return s.storageError(err)
	}
	e := s.e.Untagged().Atom("ACL ").Mailbox(t.name)
	if !strings.HasPrefix(t.ownerAddr, "@") {
		e.SP().String(t.ownerAddr).SP().Atom(acl.All.String())
	}
	for _, en := range x.Entries {
		e.SP().String(en.Name()).SP().String(en.Rights.String())
	}
	e.CRLF()
	return nil
}

// cmdListRights: LISTRIGHTS mailbox SP identifier (RFC 4314 3.4). Floe's
// rights are independent of each other (RIGHTS=texk), so each is its own
// optional group; the owner's are all required.
func cmdListRights(s *session, tag string, d *decoder) error {
	a, t, err := s.aclCommand(d, true, false)
	if err != nil {
		return err
	}
	if !t.rights.Has(acl.Of(acl.Administer)) {
		return s.storageError(storage.ErrPermission)
	}
	id, neg, err := t.entryName(a.ident)
	if err != nil {
		return err
	}
	e := s.e.Untagged().Atom("LISTRIGHTS ").Mailbox(t.name).SP().String(a.ident).SP()
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
	_, t, err := s.aclCommand(d, false, false)
	if err != nil {
		return err
	}
	s.e.Untagged().Atom("MYRIGHTS ").Mailbox(t.name).SP().String(t.rights.String()).CRLF()
	return nil
}
