package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// SPFResult is an SPF verdict (RFC 7208 2.6).
type SPFResult string

// SPF results.
const (
	SPFNone      SPFResult = "none"
	SPFNeutral   SPFResult = "neutral"
	SPFPass      SPFResult = "pass"
	SPFFail      SPFResult = "fail"
	SPFSoftFail  SPFResult = "softfail"
	SPFTempError SPFResult = "temperror"
	SPFPermError SPFResult = "permerror"
)

// Limits of RFC 7208 4.6.4.
const (
	maxDNSMechanisms = 10 // include, a, mx, ptr, exists, redirect
	maxVoidLookups   = 2
	maxMXNames       = 10 // per mx mechanism
	maxPTRNames      = 10
)

// SPFRecord is a parsed "v=spf1" record (RFC 7208 4.5, 5, 6).
type SPFRecord struct {
	Terms    []SPFTerm
	Redirect string // macro-string, "" when absent
	Exp      string // parsed, never used (RFC 7208 6.2 explanations are optional)
}

// SPFTerm is one mechanism.
type SPFTerm struct {
	Qualifier byte   // '+', '-', '~', '?'
	Mechanism string // all, include, a, mx, ptr, ip4, ip6, exists
	Domain    string // macro-string for include, a, mx, ptr, exists; "" = current domain
	Prefix    netip.Prefix
	CIDR4     int // a and mx: prefix length for IPv4 (32 when absent)
	CIDR6     int // and for IPv6 (128)
}

var errSyntax = errors.New("spf: syntax error")

// IsSPF reports whether a TXT string is an SPF record (RFC 7208 4.5).
func IsSPF(txt string) bool {
	if len(txt) < 6 || !strings.EqualFold(txt[:6], "v=spf1") {
		return false
	}
	return len(txt) == 6 || txt[6] == ' '
}

// ParseSPF parses an SPF record. Unknown modifiers are ignored; unknown
// mechanisms and bad syntax are errors (permerror).
func ParseSPF(txt string) (*SPFRecord, error) {
	if !IsSPF(txt) {
		return nil, fmt.Errorf("%w: not a v=spf1 record", errSyntax)
	}
	rec := &SPFRecord{}
	seenRedirect, seenExp := false, false
	for _, t := range strings.Split(txt[6:], " ") {
		if t == "" {
			continue
		}
		// Modifier: name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
		if i := strings.IndexByte(t, '='); i > 0 && isModifierName(t[:i]) {
			name, val := strings.ToLower(t[:i]), t[i+1:]
			if err := checkMacroString(val); err != nil {
				return nil, err
			}
			switch name {
			case "redirect":
				if seenRedirect || val == "" {
					return nil, fmt.Errorf("%w: bad or repeated redirect", errSyntax)
				}
				seenRedirect, rec.Redirect = true, val
			case "exp":
				if seenExp || val == "" {
					return nil, fmt.Errorf("%w: bad or repeated exp", errSyntax)
				}
				seenExp, rec.Exp = true, val
			}
			continue
		}
		term, err := parseTerm(t)
		if err != nil {
			return nil, err
		}
		rec.Terms = append(rec.Terms, term)
	}
	return rec, nil
}

func isModifierName(s string) bool {
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func parseTerm(t string) (SPFTerm, error) {
	term := SPFTerm{Qualifier: '+', CIDR4: 32, CIDR6: 128}
	switch t[0] {
	case '+', '-', '~', '?':
		term.Qualifier, t = t[0], t[1:]
	}
	name, arg, hasArg := t, "", false
	if i := strings.IndexAny(t, ":/"); i >= 0 {
		name, arg, hasArg = t[:i], t[i:], true
	}
	term.Mechanism = strings.ToLower(name)
	bad := func() (SPFTerm, error) { return SPFTerm{}, fmt.Errorf("%w: %q", errSyntax, t) }
	switch term.Mechanism {
	case "all":
		if hasArg {
			return bad()
		}
	case "include", "exists":
		if !strings.HasPrefix(arg, ":") || len(arg) < 2 {
			return bad()
		}
		term.Domain = arg[1:]
	case "a", "mx", "ptr":
		if strings.HasPrefix(arg, ":") {
			arg = arg[1:]
			// The domain ends where a dual-cidr-length begins.
			j := strings.IndexByte(arg, '/')
			if j < 0 {
				j = len(arg)
			}
			term.Domain, arg = arg[:j], arg[j:]
			if term.Domain == "" {
				return bad()
			}
		}
		if arg != "" {
			if term.Mechanism == "ptr" {
				return bad()
			}
			c4, c6, ok := parseDualCIDR(arg)
			if !ok {
				return bad()
			}
			term.CIDR4, term.CIDR6 = c4, c6
		}
	case "ip4", "ip6":
		if !strings.HasPrefix(arg, ":") {
			return bad()
		}
		s := arg[1:]
		addr, bits := s, -1
		if j := strings.IndexByte(s, '/'); j >= 0 {
			n, err := strconv.Atoi(s[j+1:])
			if err != nil || s[j+1:] == "" || s[j+1] == '+' || s[j+1] == '-' || (len(s[j+1:]) > 1 && s[j+1] == '0') {
				return bad()
			}
			addr, bits = s[:j], n
		}
		ip, err := netip.ParseAddr(addr)
		if err != nil || ip.Zone() != "" {
			return bad()
		}
		if term.Mechanism == "ip4" && !ip.Is4() || term.Mechanism == "ip6" && !ip.Is6() {
			return bad()
		}
		if bits < 0 {
			bits = ip.BitLen()
		}
		p, err := ip.Prefix(bits)
		if err != nil || bits > ip.BitLen() {
			return bad()
		}
		term.Prefix = p
	default:
		return bad()
	}
	if term.Domain != "" {
		if err := checkMacroString(term.Domain); err != nil {
			return SPFTerm{}, err
		}
	}
	return term, nil
}

// parseDualCIDR parses "/n", "//m" or "/n//m" (RFC 7208 5.6).
func parseDualCIDR(s string) (c4, c6 int, ok bool) {
	c4, c6 = 32, 128
	num := func(s string, max int) (int, bool) {
		if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
			return 0, false
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > max || s[0] == '+' || s[0] == '-' {
			return 0, false
		}
		return n, true
	}
	if rest, found := strings.CutPrefix(s, "//"); found {
		c6, ok = num(rest, 128)
		return c4, c6, ok
	}
	if !strings.HasPrefix(s, "/") {
		return 0, 0, false
	}
	s = s[1:]
	v4, v6, dual := strings.Cut(s, "//")
	if c4, ok = num(v4, 32); !ok {
		return 0, 0, false
	}
	if dual {
		if c6, ok = num(v6, 128); !ok {
			return 0, 0, false
		}
	}
	return c4, c6, true
}

// checkMacroString validates macro syntax (RFC 7208 7.1).
func checkMacroString(s string) error {
	_, err := expandMacros(s, &macroEnv{}, true)
	return err
}

// macroEnv holds the values macros expand to.
type macroEnv struct {
	sender string // <sender>, "postmaster@helo" for the null sender
	domain string // <domain> of the current check_host
	ip     netip.Addr
	helo   string
}

// expandMacros expands a macro-string (RFC 7208 7). With validate, only the
// syntax is checked. Supported: s l o d i p v h (c r t only in exp, which
// Floe does not evaluate, so they are syntax errors here as RFC 7208 7.2
// says for domain-specs), transformers (digits, 'r') and delimiters.
func expandMacros(s string, env *macroEnv, validate bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if c < 0x21 || c > 0x7e {
				return "", fmt.Errorf("%w: bad character in %q", errSyntax, s)
			}
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			return "", fmt.Errorf("%w: lone %% in %q", errSyntax, s)
		}
		switch s[i] {
		case '%':
			b.WriteByte('%')
			continue
		case '_':
			b.WriteByte(' ')
			continue
		case '-':
			b.WriteString("%20")
			continue
		case '{':
		default:
			return "", fmt.Errorf("%w: bad macro in %q", errSyntax, s)
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("%w: unterminated macro in %q", errSyntax, s)
		}
		body := s[i+1 : i+end]
		i += end
		if body == "" {
			return "", fmt.Errorf("%w: empty macro in %q", errSyntax, s)
		}
		letter := body[0]
		upper := letter >= 'A' && letter <= 'Z'
		lower := letter | 0x20
		rest := body[1:]
		// transformers: *DIGIT [ "r" ]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		keep := 0
		if j > 0 {
			n, err := strconv.Atoi(rest[:j])
			if err != nil || n == 0 || n > 128 {
				return "", fmt.Errorf("%w: bad transformer in %q", errSyntax, s)
			}
			keep = n
		}
		reverse := false
		if j < len(rest) && (rest[j] == 'r' || rest[j] == 'R') {
			reverse = true
			j++
		}
		delims := rest[j:]
		for k := 0; k < len(delims); k++ {
			if !strings.ContainsRune(".-+,/_=", rune(delims[k])) {
				return "", fmt.Errorf("%w: bad delimiter in %q", errSyntax, s)
			}
		}
		var val string
		switch lower {
		case 's':
			val = env.sender
		case 'l':
			val, _, _ = cutLast(env.sender)
		case 'o':
			_, val, _ = cutLast(env.sender)
		case 'd':
			val = env.domain
		case 'i':
			val = dottedIP(env.ip)
		case 'p':
			val = "unknown" // RFC 7208 7.3: "unknown" is allowed; ptr validation is discouraged
		case 'v':
			val = "in-addr"
			if env.ip.Is6() && !env.ip.Is4In6() {
				val = "ip6"
			}
		case 'h':
			val = env.helo
		default:
			return "", fmt.Errorf("%w: unknown macro letter %q in %q", errSyntax, letter, s)
		}
		if validate {
			continue
		}
		if delims == "" {
			delims = "."
		}
		parts := strings.FieldsFunc(val, func(r rune) bool { return strings.ContainsRune(delims, r) })
		if reverse {
			for a, z := 0, len(parts)-1; a < z; a, z = a+1, z-1 {
				parts[a], parts[z] = parts[z], parts[a]
			}
		}
		if keep > 0 && keep < len(parts) {
			parts = parts[len(parts)-keep:]
		}
		val = strings.Join(parts, ".")
		if upper {
			val = url.QueryEscape(val) // RFC 7208 7.3: URL-escape for uppercase macros
			val = strings.ReplaceAll(val, "+", "%20")
		}
		b.WriteString(val)
	}
	return b.String(), nil
}

// cutLast splits local@domain at the last '@'.
func cutLast(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "postmaster", addr, false
	}
	return addr[:i], addr[i+1:], true
}

// dottedIP is the %{i} form: dotted quad, or dot-separated nibbles for IPv6.
func dottedIP(ip netip.Addr) string {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return ""
	}
	if ip.Is4() {
		return ip.String()
	}
	b := ip.As16()
	var sb strings.Builder
	const hex = "0123456789abcdef"
	for i, x := range b {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteByte(hex[x>>4])
		sb.WriteByte('.')
		sb.WriteByte(hex[x&15])
	}
	return sb.String()
}

// SPFCheck evaluates check_host (RFC 7208 4) for one message.
type SPFCheck struct {
	Resolver Resolver
	IP       netip.Addr
	Sender   string // MAIL FROM; "" for the null sender (then postmaster@HELO)
	Helo     string

	lookups int // DNS mechanisms and modifiers evaluated
	voids   int // lookups returning no records
}

// errLimit is a processing limit exceeded (permerror).
var errLimit = errors.New("spf: lookup limit exceeded")

// errTemp is a DNS failure (temperror).
type errTemp struct{ err error }

func (e errTemp) Error() string { return "spf: DNS: " + e.err.Error() }

// Evaluate returns the SPF result for the sender (RFC 7208 2.4: the HELO
// identity stands in for the null sender) and the domain checked.
func (c *SPFCheck) Evaluate(ctx context.Context) (SPFResult, string) {
	sender := c.Sender
	if sender == "" {
		sender = "postmaster@" + c.Helo
	}
	_, domain, _ := cutLast(sender)
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if !plausibleDomain(domain) {
		return SPFNone, domain // RFC 7208 4.3
	}
	env := &macroEnv{sender: sender, ip: c.IP.Unmap(), helo: c.Helo}
	res, _ := c.checkHost(ctx, env, domain, 0)
	return res, domain
}

// plausibleDomain is the RFC 7208 4.3 check: a multi-label name of
// DNS-safe labels.
func plausibleDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// checkHost is check_host(ip, domain, sender), RFC 7208 4.
func (c *SPFCheck) checkHost(ctx context.Context, env *macroEnv, domain string, depth int) (SPFResult, error) {
	if depth > maxDNSMechanisms {
		return SPFPermError, errLimit
	}
	txts, err := c.Resolver.LookupTXT(ctx, domain)
	if err != nil {
		if isNotFound(err) {
			return SPFNone, nil // RFC 7208 4.3
		}
		return SPFTempError, errTemp{err}
	}
	var recs []string
	for _, t := range txts {
		if IsSPF(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return SPFNone, nil
	case 1:
	default:
		return SPFPermError, fmt.Errorf("%w: %d records for %s", errSyntax, len(recs), domain) // RFC 7208 4.5
	}
	rec, err := ParseSPF(recs[0])
	if err != nil {
		return SPFPermError, err
	}
	denv := *env
	denv.domain = domain
	hasAll := false
	for _, t := range rec.Terms {
		if t.Mechanism == "all" {
			hasAll = true
		}
		match, res, err := c.mechanism(ctx, &denv, t, depth)
		if err != nil {
			return res, err
		}
		if match {
			return qualifierResult(t.Qualifier), nil
		}
	}
	// RFC 7208 6.1: redirect applies when no mechanism matched and there is
	// no "all".
	if rec.Redirect != "" && !hasAll {
		if err := c.count(); err != nil {
			return SPFPermError, err
		}
		target, err := c.targetName(&denv, rec.Redirect)
		if err != nil {
			return SPFPermError, err
		}
		res, err := c.checkHost(ctx, env, target, depth+1)
		if res == SPFNone {
			return SPFPermError, fmt.Errorf("spf: redirect to %s without a record", target)
		}
		return res, err
	}
	return SPFNeutral, nil // RFC 7208 4.7
}

func qualifierResult(q byte) SPFResult {
	switch q {
	case '-':
		return SPFFail
	case '~':
		return SPFSoftFail
	case '?':
		return SPFNeutral
	}
	return SPFPass
}

// count counts one DNS-querying term against the limit of 10.
func (c *SPFCheck) count() error {
	c.lookups++
	if c.lookups > maxDNSMechanisms {
		return errLimit
	}
	return nil
}

// void counts a lookup that found nothing (RFC 7208 4.6.4).
func (c *SPFCheck) void() error {
	c.voids++
	if c.voids > maxVoidLookups {
		return errLimit
	}
	return nil
}

// targetName expands a domain-spec and shortens it to 253 characters by
// dropping labels from the left (RFC 7208 7.3).
func (c *SPFCheck) targetName(env *macroEnv, spec string) (string, error) {
	if spec == "" {
		return env.domain, nil
	}
	s, err := expandMacros(spec, env, false)
	if err != nil {
		return "", err
	}
	s = strings.TrimSuffix(s, ".")
	for len(s) > 253 {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	return strings.ToLower(s), nil
}

// mechanism evaluates one term. When err is set, res is the final result.
func (c *SPFCheck) mechanism(ctx context.Context, env *macroEnv, t SPFTerm, depth int) (match bool, res SPFResult, err error) {
	ip := env.ip
	switch t.Mechanism {
	case "all":
		return true, "", nil
	case "ip4", "ip6":
		return t.Prefix.Contains(ip), "", nil
	}
	if err := c.count(); err != nil {
		return false, SPFPermError, err
	}
	target, err := c.targetName(env, t.Domain)
	if err != nil {
		return false, SPFPermError, err
	}
	switch t.Mechanism {
	case "include":
		r, err := c.checkHost(ctx, env, target, depth+1)
		switch r {
		case SPFPass:
			return true, "", nil
		case SPFFail, SPFSoftFail, SPFNeutral:
			return false, "", nil
		case SPFTempError:
			return false, SPFTempError, err
		default: // permerror, none (RFC 7208 5.2)
			if err == nil {
				err = fmt.Errorf("spf: include:%s has no record", target)
			}
			return false, SPFPermError, err
		}
	case "a":
		return c.matchHost(ctx, target, ip, t)
	case "mx":
		mxs, err := c.Resolver.LookupMX(ctx, target)
		if err != nil {
			if isNotFound(err) {
				if err := c.void(); err != nil {
					return false, SPFPermError, err
				}
				return false, "", nil
			}
			return false, SPFTempError, errTemp{err}
		}
		if len(mxs) > maxMXNames {
			return false, SPFPermError, errLimit // RFC 7208 4.6.4
		}
		for _, mx := range mxs {
			host := strings.TrimSuffix(mx.Host, ".")
			if host == "" {
				continue // null MX, RFC 7505
			}
			m, r, err := c.matchHost(ctx, host, ip, t)
			if err != nil || m {
				return m, r, err
			}
		}
		return false, "", nil
	case "ptr":
		// RFC 7208 5.5 (use discouraged): a validated reverse name that is
		// the target or a subdomain of it.
		names, err := c.Resolver.LookupAddr(ctx, ip.String())
		if err != nil {
			return false, "", nil // RFC 7208 5.5: errors mean no match
		}
		if len(names) > maxPTRNames {
			names = names[:maxPTRNames]
		}
		for _, n := range names {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			if n != target && !strings.HasSuffix(n, "."+target) {
				continue
			}
			addrs, err := c.Resolver.LookupIPAddr(ctx, n)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if x, ok := netip.AddrFromSlice(a.IP); ok && x.Unmap() == ip {
					return true, "", nil
				}
			}
		}
		return false, "", nil
	case "exists":
		addrs, err := c.Resolver.LookupIPAddr(ctx, target)
		if err != nil {
			if isNotFound(err) {
				if err := c.void(); err != nil {
					return false, SPFPermError, err
				}
				return false, "", nil
			}
			return false, SPFTempError, errTemp{err}
		}
		for _, a := range addrs {
			if a.IP.To4() != nil { // RFC 7208 5.7: an A lookup
				return true, "", nil
			}
		}
		return false, "", nil
	}
	return false, SPFPermError, fmt.Errorf("%w: mechanism %q", errSyntax, t.Mechanism)
}

// matchHost looks up host's addresses of ip's family and compares with the
// term's CIDR lengths (RFC 7208 5.3).
func (c *SPFCheck) matchHost(ctx context.Context, host string, ip netip.Addr, t SPFTerm) (bool, SPFResult, error) {
	addrs, err := c.Resolver.LookupIPAddr(ctx, host)
	if err != nil {
		if isNotFound(err) {
			if err := c.void(); err != nil {
				return false, SPFPermError, err
			}
			return false, "", nil
		}
		return false, SPFTempError, errTemp{err}
	}
	found := false
	for _, a := range addrs {
		x, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		x = x.Unmap()
		if x.Is4() != ip.Is4() {
			continue
		}
		found = true
		bits := t.CIDR6
		if x.Is4() {
			bits = t.CIDR4
		}
		p, err := x.Prefix(bits)
		if err == nil && p.Contains(ip) {
			return true, "", nil
		}
	}
	if !found {
		if err := c.void(); err != nil {
			return false, SPFPermError, err
		}
	}
	return false, "", nil
}

// ipOf converts a net.IP (used by tests and callers holding net types).
func ipOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
