// Package acl is Floe's rights model (RFC 4314 IMAP ACL): the rights
// letters, identifiers (an address, a group address, a whole domain,
// "anyone", "authenticated"), ACL entries with negative rights, their
// evaluation, and IceWarp's named sets of rights (SPEC §7). It is pure: it
// imports only the standard library, so that storage, storage/view and
// every protocol can use it.
//
// Who may do what is decided in one place, storage/view (ARCHITECTURE
// decision 5); this package only supplies the vocabulary and the
// arithmetic: Evaluate turns an ACL and a Principal into Rights.
package acl

import (
	"fmt"
	"strings"
)

// Right is one RFC 4314 right.
type Right uint16

// Rights of RFC 4314 section 2.1.
const (
	Lookup         Right = 1 << iota // l: mailbox visible to LIST/LSUB, SUBSCRIBE
	Read                             // r: SELECT, EXAMINE, STATUS, FETCH, SEARCH, COPY from
	Seen                             // s: keep \Seen across sessions
	Write                            // w: set/clear flags other than \Seen and \Deleted
	Insert                           // i: APPEND, COPY into
	Post                             // p: send mail to the submission address of the mailbox
	CreateMailbox                    // k: CREATE new sub-mailboxes, RENAME to them
	DeleteMailbox                    // x: DELETE the mailbox, RENAME it away
	DeleteMessages                   // t: set/clear \Deleted
	Expunge                          // e: EXPUNGE
	Administer                       // a: administer (SETACL/DELETEACL/GETACL/LISTRIGHTS)
)

// Rights is a set of rights (a bit mask).
type Rights uint16

// letters lists the rights in RFC 4314 order with their letters.
var letters = [...]struct {
	r Right
	c byte
}{
	{Lookup, 'l'}, {Read, 'r'}, {Seen, 's'}, {Write, 'w'}, {Insert, 'i'}, {Post, 'p'},
	{CreateMailbox, 'k'}, {DeleteMailbox, 'x'}, {DeleteMessages, 't'}, {Expunge, 'e'}, {Administer, 'a'},
}

// All is every right: what an owner always has on its own folders
// ("lrswipkxtea").
const All Rights = Rights(Lookup | Read | Seen | Write | Insert | Post | CreateMailbox | DeleteMailbox | DeleteMessages | Expunge | Administer)

// Of returns the set holding rs.
func Of(rs ...Right) Rights {
	var s Rights
	for _, r := range rs {
		s |= Rights(r)
	}
	return s
}

// Has reports whether every right of need is in s.
func (s Rights) Has(need Rights) bool { return s&need == need }

// Any reports whether s holds at least one right of some.
func (s Rights) Any(some Rights) bool { return s&some != 0 }

// String returns the rights letters in RFC 4314 order ("lrswipkxtea" for All).
func (s Rights) String() string {
	var b strings.Builder
	for _, l := range letters {
		if s&Rights(l.r) != 0 {
			b.WriteByte(l.c)
		}
	}
	return b.String()
}

// Parse parses rights letters (RFC 4314 section 2). Letters may repeat and
// come in any order. The obsolete RFC 2086 letters are accepted as in RFC
// 4314 section 2.1.1: "c" means "k" and "d" means "x", "t" and "e" (a server
// that has the new rights maps the old ones to all of them). Digits are
// accepted and ignored (implementation-defined rights Floe does not have).
// Anything else is an error.
func Parse(s string) (Rights, error) {
	var r Rights
next:
	for i := 0; i < len(s); i++ {
		c := s[i]
		for _, l := range letters {
			if l.c == c {
				r |= Rights(l.r)
				continue next
			}
		}
		switch {
		case c == 'c':
			r |= Rights(CreateMailbox)
		case c == 'd':
			r |= Of(DeleteMailbox, DeleteMessages, Expunge)
		case c >= '0' && c <= '9':
		default:
			return 0, fmt.Errorf("acl: unknown right %q", c)
		}
	}
	return r, nil
}
