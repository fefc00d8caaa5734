package acl

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Identifier is an ACL identifier in canonical form (RFC 4314 2: "a
// string identifying the entity"). Floe knows four kinds:
//
//	bob@example.test      an account or a group address (lowercase)
//	@example.test         every account of the domain
//	anyone                everybody, including anonymous access
//	authenticated         every logged-in account
//
// Parse identifiers with ParseIdentifier; a canonical Identifier compares
// with ==. Negative entries are not part of the identifier (see Entry).
type Identifier string

// Special identifiers.
const (
	Anyone        Identifier = "anyone"
	Authenticated Identifier = "authenticated"
)

// Kind says what an Identifier names.
type Kind uint8

const (
	KindInvalid Kind = iota
	KindAddress      // an account or a group
	KindDomain       // every account of a domain
	KindAnyone
	KindAuthenticated
)

// MaxIdentifier bounds an identifier's length in bytes (an address is at
// most 254, RFC 5321 4.5.3.1.3).
const MaxIdentifier = 255

// ErrIdentifier is wrapped by the errors of ParseIdentifier.
var ErrIdentifier = errors.New("invalid ACL identifier")

// Kind returns the kind of a canonical identifier.
func (id Identifier) Kind() Kind {
	s := string(id)
	switch {
	case id == Anyone:
		return KindAnyone
	case id == Authenticated:
		return KindAuthenticated
	case strings.HasPrefix(s, "@") && len(s) > 1:
		return KindDomain
	case strings.LastIndexByte(s, '@') > 0:
		return KindAddress
	}
	return KindInvalid
}

// Domain returns the domain of an address or domain identifier ("" for
// anyone and authenticated).
func (id Identifier) Domain() string {
	s := string(id)
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[i+1:]
	}
	return ""
}

// IsPerson reports whether id names one account or one group (not
// everybody, not a whole domain): the identifiers that get an information
// mail when something is shared with them.
func (id Identifier) IsPerson() bool { return id.Kind() == KindAddress }

// ParseIdentifier parses an identifier as a person or an API gives it and
// returns its canonical form. It accepts, case-insensitively:
//
//	"anyone", "authenticated"
//	"local@domain"                 an account or group address
//	"@domain" or "domain"          a whole domain (a name with a dot)
//	"local"                        local@defaultDomain, when defaultDomain
//	                               is not "" (login names without domain)
//
// A leading "-" is not accepted here (see ParseEntryName). Errors wrap
// ErrIdentifier.
func ParseIdentifier(s, defaultDomain string) (Identifier, error) {
	bad := func(why string) (Identifier, error) {
		return "", fmt.Errorf("%w %q: %s", ErrIdentifier, truncate(s), why)
	}
	if len(s) > MaxIdentifier {
		return bad("too long")
	}
	if !utf8.ValidString(s) {
		return bad("not UTF-8")
	}
	t := strings.ToLower(strings.TrimSpace(s))
	switch {
	case t == "":
		return bad("empty")
	case t == string(Anyone):
		return Anyone, nil
	case t == string(Authenticated):
		return Authenticated, nil
	case strings.HasPrefix(t, "-"):
		return bad("a negative entry is not an identifier")
	}
	for _, r := range t {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"\()<>[]:;,/%*`, r) {
			return bad("forbidden character")
		}
	}
	at := strings.LastIndexByte(t, '@')
	switch {
	case at == 0:
		if err := checkDomain(t[1:]); err != nil {
			return bad(err.Error())
		}
		return Identifier(t), nil
	case at > 0:
		if strings.IndexByte(t[:at], '@') >= 0 {
			return bad("more than one @")
		}
		if err := checkDomain(t[at+1:]); err != nil {
			return bad(err.Error())
		}
		return Identifier(t), nil
	case strings.Contains(t, "."):
		if err := checkDomain(t); err != nil {
			return bad(err.Error())
		}
		return Identifier("@" + t), nil
	case defaultDomain != "":
		d := strings.ToLower(defaultDomain)
		if err := checkDomain(d); err != nil {
			return bad(err.Error())
		}
		return Identifier(t + "@" + d), nil
	}
	return bad("not an address, a domain, anyone or authenticated")
}

// ParseEntryName parses the identifier of an ACL entry as RFC 4314 2 writes
// it: a leading "-" makes it a negative entry.
func ParseEntryName(s, defaultDomain string) (id Identifier, negative bool, err error) {
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "-") {
		id, err = ParseIdentifier(t[1:], defaultDomain)
		return id, true, err
	}
	id, err = ParseIdentifier(s, defaultDomain)
	return id, false, err
}

// checkDomain checks a lowercase domain name: dot-separated labels of
// letters, digits and hyphens (U-labels are accepted as UTF-8).
func checkDomain(d string) error {
	if d == "" {
		return errors.New("empty domain")
	}
	if len(d) > 253 {
		return errors.New("domain too long")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return errors.New("empty domain label")
		}
		if len(label) > 63 {
			return errors.New("domain label too long")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("domain label starts or ends with a hyphen")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r >= 0x80) {
				return errors.New("invalid character in domain")
			}
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
