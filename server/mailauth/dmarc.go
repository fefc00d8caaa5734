package mailauth

import (
	"context"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
)

// DMARCResult is a DMARC verdict (RFC 7489, RFC 8601 2.7.1).
type DMARCResult string

// DMARC results.
const (
	DMARCNone      DMARCResult = "none"
	DMARCPass      DMARCResult = "pass"
	DMARCFail      DMARCResult = "fail"
	DMARCTempError DMARCResult = "temperror"
	DMARCPermError DMARCResult = "permerror"
)

// twoLevelSuffixes are second-level labels under which registrations sit
// one level deeper ("example.co.uk"). This is Floe's small stand-in for the
// Public Suffix List (RFC 7489 3.2): the organisational domain is the last
// two labels of a name, or the last three when the second-to-last label is
// one of these and the top-level label is a two-letter country code.
// Wrong answers only make relaxed alignment stricter or looser for such
// registries; exact names always align.
var twoLevelSuffixes = map[string]bool{
	"co": true, "com": true, "net": true, "org": true, "ac": true, "gov": true,
	"edu": true, "ne": true, "or": true, "go": true, "gv": true, "ltd": true,
	"plc": true, "me": true, "nic": true, "mil": true, "sch": true,
}

// OrgDomain returns the organisational domain of a name (see
// twoLevelSuffixes for the heuristic).
func OrgDomain(domain string) string {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	labels := strings.Split(domain, ".")
	n := len(labels)
	if n <= 2 {
		return domain
	}
	if len(labels[n-1]) == 2 && twoLevelSuffixes[labels[n-2]] {
		return strings.Join(labels[n-3:], ".")
	}
	return strings.Join(labels[n-2:], ".")
}

// aligned reports identifier alignment (RFC 7489 3.1): strict needs equal
// names, relaxed the same organisational domain.
func aligned(a, b string, strict bool) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if a == "" || b == "" {
		return false
	}
	if strict {
		return a == b
	}
	return OrgDomain(a) == OrgDomain(b)
}

// lookupDMARC finds the policy for fromDomain: _dmarc.<fromDomain>, then
// _dmarc.<organisational domain> (RFC 7489 6.6.3). sub reports that the
// record came from the organisational domain (so sp= applies). A record
// that does not parse counts as absent.
func lookupDMARC(ctx context.Context, r Resolver, fromDomain string) (rec *dmarc.Record, sub bool, temp bool) {
	try := func(d string) (*dmarc.Record, bool) {
		txts, err := r.LookupTXT(ctx, "_dmarc."+d)
		if err != nil {
			return nil, !isNotFound(err)
		}
		for _, t := range txts {
			if !strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
				continue
			}
			if rec, err := dmarc.Parse(t); err == nil {
				return rec, false
			}
		}
		return nil, false
	}
	rec, temp = try(fromDomain)
	if rec != nil || temp {
		return rec, false, temp
	}
	org := OrgDomain(fromDomain)
	if org == fromDomain {
		return nil, false, false
	}
	rec, temp = try(org)
	return rec, rec != nil, temp
}
