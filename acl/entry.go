package acl

import (
	"slices"
	"strings"
)

// Entry is one entry of an access control list (RFC 4314 2): an identifier
// and its rights. A negative entry ("-bob@example.test") takes its rights
// away from whoever the identifier matches, whatever positive entries grant.
type Entry struct {
	Identifier Identifier
	Negative   bool
	Rights     Rights
}

// Name is the entry's identifier as RFC 4314 writes it: with a leading "-"
// for a negative entry.
func (e Entry) Name() string {
	if e.Negative {
		return "-" + string(e.Identifier)
	}
	return string(e.Identifier)
}

// String is "name rights", e.g. "-bob@example.test w".
func (e Entry) String() string { return e.Name() + " " + e.Rights.String() }

// SortEntries orders entries by identifier, a positive entry before the
// negative one of the same identifier: the order storage returns and
// GETACL shows.
func SortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := strings.Compare(string(a.Identifier), string(b.Identifier)); c != 0 {
			return c
		}
		switch {
		case a.Negative == b.Negative:
			return 0
		case b.Negative:
			return -1
		}
		return 1
	})
}

// Principal is who asks: an authenticated account with the groups it is a
// member of. The zero Principal is anonymous (only "anyone" matches it).
type Principal struct {
	// Address is the account's lowercase address; "" for anonymous.
	Address string
	// Groups are the lowercase addresses of the groups the account is a
	// member of.
	Groups []string
}

// Anonymous reports whether p is the anonymous principal.
func (p Principal) Anonymous() bool { return p.Address == "" }

// Domain returns the domain of p's address.
func (p Principal) Domain() string {
	if i := strings.LastIndexByte(p.Address, '@'); i >= 0 {
		return p.Address[i+1:]
	}
	return ""
}

// Matches reports whether the identifier id applies to p.
func (p Principal) Matches(id Identifier) bool {
	switch id.Kind() {
	case KindAnyone:
		return true
	case KindAuthenticated:
		return !p.Anonymous()
	case KindDomain:
		return !p.Anonymous() && string(id[1:]) == p.Domain()
	case KindAddress:
		if p.Anonymous() {
			return false
		}
		if string(id) == p.Address {
			return true
		}
		return slices.Contains(p.Groups, string(id))
	}
	return false
}

// Identifiers lists every identifier that can match p: its address, its
// groups, its domain, "authenticated" and "anyone". Storage uses it to find
// everything shared with p in one query.
func (p Principal) Identifiers() []Identifier {
	if p.Anonymous() {
		return []Identifier{Anyone}
	}
	out := make([]Identifier, 0, len(p.Groups)+4)
	out = append(out, Identifier(p.Address))
	for _, g := range p.Groups {
		out = append(out, Identifier(g))
	}
	if d := p.Domain(); d != "" {
		out = append(out, Identifier("@"+d))
	}
	return append(out, Authenticated, Anyone)
}

// Evaluate returns the rights the entries grant p (RFC 4314 2): the union
// of the rights of every positive entry matching p, minus the union of the
// rights of every negative entry matching p. Ownership is not an entry: the
// caller gives an owner All (storage/view does).
func Evaluate(entries []Entry, p Principal) Rights {
	var pos, neg Rights
	for _, e := range entries {
		if !p.Matches(e.Identifier) {
			continue
		}
		if e.Negative {
			neg |= e.Rights
		} else {
			pos |= e.Rights
		}
	}
	return pos &^ neg
}

// Op is how Apply changes an entry (RFC 4314 3.1: SETACL with a "+" or "-"
// modifier, or without).
type Op uint8

const (
	OpSet    Op = iota // replace the entry's rights (remove it when empty)
	OpAdd              // add rights ("+lr")
	OpRemove           // remove rights ("-w"); an entry left empty is removed
	OpDelete           // remove the entry (DELETEACL)
)

// Change is one modification of an ACL.
type Change struct {
	Identifier Identifier
	Negative   bool
	Op         Op
	Rights     Rights
}

// Apply returns entries with c applied, sorted (SortEntries); entries
// itself is not modified. An entry whose rights become empty is removed
// (RFC 4314 3.1: SETACL with an empty rights string removes the entry).
func Apply(entries []Entry, c Change) []Entry {
	out := make([]Entry, 0, len(entries)+1)
	var cur Rights
	for _, e := range entries {
		if e.Identifier == c.Identifier && e.Negative == c.Negative {
			cur = e.Rights
			continue
		}
		out = append(out, e)
	}
	switch c.Op {
	case OpSet:
		cur = c.Rights
	case OpAdd:
		cur |= c.Rights
	case OpRemove:
		cur &^= c.Rights
	case OpDelete:
		cur = 0
	}
	if cur != 0 {
		out = append(out, Entry{Identifier: c.Identifier, Negative: c.Negative, Rights: cur})
	}
	SortEntries(out)
	return out
}

// ParseModifiedRights parses the rights argument of SETACL (RFC 4314 3.1):
// a leading "+" adds, a leading "-" removes, none replaces.
func ParseModifiedRights(s string) (Op, Rights, error) {
	op := OpSet
	switch {
	case strings.HasPrefix(s, "+"):
		op, s = OpAdd, s[1:]
	case strings.HasPrefix(s, "-"):
		op, s = OpRemove, s[1:]
	}
	r, err := Parse(s)
	return op, r, err
}
