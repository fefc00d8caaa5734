package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/floemail/floe/rules"
)

// Rules in the config file (see docs/rules.md):
//
//   - [[rules]] at the top level: server rules, or with scope = "domain" /
//     scope = "user@domain" rules of that domain or account (for domains
//     and accounts that live in the database);
//   - [[domain.rules]] inside a [[domain]] table: that domain's rules;
//   - [[account.rules]], [account.forwarder], [account.responder] inside
//     an [[account]] table: that account's.
//
// Per-account rules stored in the database (floe rules ...) come after the
// account's rules from the file.

// Filtering is the [filtering] table: settings of the rule engine, the
// forwarder and the responder.
type Filtering struct {
	// TrustedNetworks are the networks of the trusted_ip condition
	// ("192.0.2.0/24", "2001:db8::/32", or single addresses).
	TrustedNetworks []string `toml:"trusted_networks"`
	// Timezone (IANA name) of local_time conditions, %%Date%%, %%Time%%
	// and the responder's dates; empty: the server's local time.
	Timezone string `toml:"timezone"`
	// SRSSecrets are the keys of the Sender Rewriting Scheme used when
	// forwarding (at least 16 characters each; the first signs, all
	// verify). Empty: a key is generated once into DATA_DIR/srs.key.
	SRSSecrets []string `toml:"srs_secrets"`
	// SRSMaxAge is how long a bounce to a rewritten address is accepted.
	SRSMaxAge Duration `toml:"srs_max_age"`
}

// Spam is the [spam] table: scoring of mail arriving on port 25 by
// rspamd (server/spam). Without rspamd_url nothing is scored and the
// spam conditions of rules are false.
type Spam struct {
	// RspamdURL is the base URL of rspamd's normal worker
	// ("http://127.0.0.1:11333"); empty disables scoring.
	RspamdURL string `toml:"rspamd_url"`
	// Password, when rspamd requires one, is read from this file.
	PasswordFile string `toml:"password_file"`
	// Timeout bounds one scan; a scan that fails or times out leaves the
	// message unscored (accepted, logged).
	Timeout Duration `toml:"timeout"`
	// JunkScore: at or above it the message is filed into Junk (0: when
	// rspamd's action is "add header", "rewrite subject" or "reject").
	JunkScore float64 `toml:"junk_score"`
	// RejectScore: at or above it the message is refused with 550 (0:
	// never; rules can still reject).
	RejectScore float64 `toml:"reject_score"`
	// MaxSize: larger messages are not scanned (unscored).
	MaxSize Size `toml:"max_size"`
}

func defaultFiltering() Filtering {
	return Filtering{TrustedNetworks: []string{}, SRSSecrets: []string{}, SRSMaxAge: Duration(21 * 24 * time.Hour)}
}

func defaultSpam() Spam {
	return Spam{Timeout: Duration(15 * time.Second), MaxSize: 20 * MiB}
}

var (
	ruleListType  = reflect.TypeFor[[]rules.Rule]()
	forwarderType = reflect.TypeFor[*rules.Forwarder]()
	responderType = reflect.TypeFor[*rules.Responder]()
)

// decodeRules decodes the rule types of the config (rules.Decode does the
// work, so the file's keys are the rule documents' keys). It reports
// whether v was one of them.
func (d *decoder) decodeRules(path string, raw any, v reflect.Value) bool {
	prefix := ""
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		prefix = path[:i+1]
	}
	src := rules.Source{File: d.file, Line: d.pos.line, Prefix: prefix}
	switch v.Type() {
	case ruleListType:
		list, ok := raw.([]any)
		if !ok {
			d.fail(path, "expected an array of tables ([[%s]]), got %s", path, describe(raw))
			return true
		}
		rs, err := rules.DecodeRules(list, src)
		d.ruleErrors(err)
		if err == nil {
			v.Set(reflect.ValueOf(rs))
		}
	case forwarderType, responderType:
		key := path[len(prefix):]
		s, err := rules.Decode(map[string]any{key: raw}, src)
		d.ruleErrors(err)
		if err == nil {
			if v.Type() == forwarderType {
				v.Set(reflect.ValueOf(s.Forwarder))
			} else {
				v.Set(reflect.ValueOf(s.Responder))
			}
		}
	default:
		return false
	}
	return true
}

func (d *decoder) ruleErrors(err error) {
	if es, ok := err.(*rules.Errors); ok {
		for _, e := range es.List {
			d.errs.List = append(d.errs.List, &Error{File: e.File, Line: e.Line, Key: e.Key, Reason: e.Reason})
		}
	}
}

// compileRules checks every rule, forwarder and responder of the file the
// way the server compiles them (regexes, list files, addresses), so that a
// bad rule is a config error with its line.
func (c *Config) validateRules(v *validator) {
	base := ""
	if c.File != "" {
		base = filepath.Dir(c.File)
	}
	opts := rules.Options{BaseDir: base, AllowFiles: true}
	check := func(prefix string, s *rules.Settings) {
		_, err := rules.Compile(s, rules.Source{File: v.file, Line: v.pos.line, Prefix: prefix}, opts)
		if es, ok := err.(*rules.Errors); ok {
			for _, e := range es.List {
				v.errs.List = append(v.errs.List, &Error{File: e.File, Line: e.Line, Key: e.Key, Reason: e.Reason})
			}
		}
	}
	domains := map[string]bool{}
	for _, d := range c.Domains {
		domains[strings.ToLower(d.Name)] = true
	}
	check("", &rules.Settings{Rules: c.Rules})
	for i, r := range c.Rules {
		if r.Scope == "" {
			continue
		}
		sc := strings.ToLower(r.Scope)
		c.Rules[i].Scope = sc
		if strings.Contains(sc, "@") {
			if _, err := checkAddress(sc); err != nil {
				v.fail(fmt.Sprintf("rules[%d].scope", i), "%q: %s", sc, err)
			}
		} else if err := checkHostname(sc); err != nil {
			v.fail(fmt.Sprintf("rules[%d].scope", i), "%q: not a domain or an address: %s", sc, err)
		}
	}
	for i, d := range c.Domains {
		check(fmt.Sprintf("domain[%d].", i), &rules.Settings{Rules: d.Rules})
		for j, r := range d.Rules {
			if r.Scope != "" {
				v.fail(fmt.Sprintf("domain[%d].rules[%d].scope", i, j), "scope belongs to top-level [[rules]] only")
			}
		}
	}
	for i, a := range c.Accounts {
		check(fmt.Sprintf("account[%d].", i), &rules.Settings{Rules: a.Rules, Forwarder: a.Forwarder, Responder: a.Responder})
		for j, r := range a.Rules {
			if r.Scope != "" {
				v.fail(fmt.Sprintf("account[%d].rules[%d].scope", i, j), "scope belongs to top-level [[rules]] only")
			}
		}
	}

	f := &c.Filtering
	for i, n := range f.TrustedNetworks {
		if _, err := ParseNetwork(n); err != nil {
			v.fail("filtering.trusted_networks["+strconv.Itoa(i)+"]", "%q: %s", n, err)
		}
	}
	if f.Timezone != "" {
		if _, err := time.LoadLocation(f.Timezone); err != nil {
			v.fail("filtering.timezone", "unknown time zone %q", f.Timezone)
		}
	}
	for i, k := range f.SRSSecrets {
		if len(k) < 16 {
			v.fail("filtering.srs_secrets["+strconv.Itoa(i)+"]", "a key must have at least 16 characters")
		}
	}
	v.positiveDuration("filtering.srs_max_age", f.SRSMaxAge)

	s := &c.Spam
	if s.RspamdURL != "" {
		if !strings.HasPrefix(s.RspamdURL, "http://") && !strings.HasPrefix(s.RspamdURL, "https://") {
			v.fail("spam.rspamd_url", "%q: must be an http:// or https:// URL", s.RspamdURL)
		}
		v.positiveDuration("spam.timeout", s.Timeout)
	}
	if s.JunkScore < 0 || s.RejectScore < 0 {
		v.fail("spam", "junk_score and reject_score must not be negative")
	}
	if s.RejectScore > 0 && s.JunkScore > s.RejectScore {
		v.fail("spam.junk_score", "is above reject_score")
	}
}

// ParseNetwork parses a network ("192.0.2.0/24") or a single address.
func ParseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("not a network (address/bits)")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or network")
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// Location returns the time zone of [filtering] (time.Local when unset).
func (f *Filtering) Location() *time.Location {
	if f.Timezone != "" {
		if l, err := time.LoadLocation(f.Timezone); err == nil {
			return l
		}
	}
	return time.Local
}

// Networks returns the parsed trusted networks (invalid ones, refused by
// validation, are skipped).
func (f *Filtering) Networks() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range f.TrustedNetworks {
		if p, err := ParseNetwork(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}
