package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func spfDNS() *fakeDNS {
	f := &fakeDNS{
		txt: map[string][]string{
			"all-pass.test":      {"v=spf1 +all"},
			"all-fail.test":      {"v=spf1 -all"},
			"soft.test":          {"v=spf1 ~all"},
			"neutral.test":       {"v=spf1 ?all"},
			"nothing.test":       {"v=spf1"},
			"other-txt.test":     {"google-site-verification=x"},
			"two.test":           {"v=spf1 -all", "v=spf1 +all"},
			"ip4.test":           {"v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.7 -all"},
			"ip6.test":           {"v=spf1 ip6:2001:db8::/32 -all"},
			"a.test":             {"v=spf1 a -all"},
			"a-other.test":       {"v=spf1 a:host.a.test/28 -all"},
			"a-dual.test":        {"v=spf1 a:host.a.test/32//48 -all"},
			"mx.test":            {"v=spf1 mx -all"},
			"mx-other.test":      {"v=spf1 mx:mx.test -all"},
			"ptr.test":           {"v=spf1 ptr -all"},
			"exists.test":        {"v=spf1 exists:%{i}.allow.exists.test -all"},
			"include.test":       {"v=spf1 include:ip4.test -all"},
			"include-soft.test":  {"v=spf1 include:all-fail.test ~all"},
			"include-none.test":  {"v=spf1 include:nowhere.test -all"},
			"include-temp.test":  {"v=spf1 include:broken.test -all"},
			"redirect.test":      {"v=spf1 redirect=ip4.test"},
			"redirect-all.test":  {"v=spf1 ?all redirect=ip4.test"},
			"redirect-none.test": {"v=spf1 redirect=nowhere.test"},
			"loop.test":          {"v=spf1 include:loop.test -all"},
			"many.test":          {"v=spf1 a:1.test a:2.test a:3.test a:4.test a:5.test a:6.test a:7.test a:8.test a:9.test a:10.test a:11.test +all"},
			"ten.test":           {"v=spf1 a:1.test a:2.test a:3.test a:4.test a:5.test a:6.test a:7.test a:8.test a:9.test a:10.test +all"},
			"voids.test":         {"v=spf1 a:v1.test a:v2.test a:v3.test +all"},
			"twovoids.test":      {"v=spf1 a:v1.test a:v2.test +all"},
			"syntax.test":        {"v=spf1 foo:bar -all"},
			"badmacro.test":      {"v=spf1 exists:%{z}.x -all"},
			"macro-l.test":       {"v=spf1 exists:%{l}.%{o}.users.test -all"},
			"macro-ir.test":      {"v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all"},
			"macro-h.test":       {"v=spf1 exists:%{h}.helo.test -all"},
			"unknown-mod.test":   {"v=spf1 foo=bar ip4:192.0.2.1 -all"},
			"upper.test":         {"V=SPF1 IP4:192.0.2.1 -ALL"},
			"mx-many.test":       {"v=spf1 mx -all"},
		},
		ip: map[string][]string{
			"a.test":                               {"192.0.2.10", "2001:db8::10"},
			"host.a.test":                          {"203.0.113.1"},
			"mx1.mx.test":                          {"203.0.113.50"},
			"mx2.mx.test":                          {"203.0.113.51"},
			"mail.ptr.test":                        {"192.0.2.99"},
			"192.0.2.5.allow.exists.test":          {"127.0.0.2"},
			"bob.sender.test.users.test":           {"127.0.0.2"},
			"5.2.0.192.in-addr._spf.macro-ir.test": {"127.0.0.2"},
			"mail.helo.test.helo.test":             {"127.0.0.2"},
		},
		mx: map[string][]string{
			"mx.test":      {"mx1.mx.test", "mx2.mx.test"},
			"mx-many.test": {"m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11"},
		},
		ptr: map[string][]string{
			"192.0.2.99": {"mail.ptr.test."},
		},
		fail: map[string]bool{"broken.test": true, "temp.test": true},
	}
	for i := 1; i <= 11; i++ {
		f.ip[fmt.Sprintf("%d.test", i)] = []string{"203.0.113.200"}
	}
	return f
}

func TestSPF(t *testing.T) {
	cases := []struct {
		domain, ip string
		sender     string // local part@domain unless set
		helo       string
		want       SPFResult
	}{
		{domain: "all-pass.test", ip: "192.0.2.1", want: SPFPass},
		{domain: "all-fail.test", ip: "192.0.2.1", want: SPFFail},
		{domain: "soft.test", ip: "192.0.2.1", want: SPFSoftFail},
		{domain: "neutral.test", ip: "192.0.2.1", want: SPFNeutral},
		{domain: "nothing.test", ip: "192.0.2.1", want: SPFNeutral},
		{domain: "other-txt.test", ip: "192.0.2.1", want: SPFNone},
		{domain: "nxdomain.test", ip: "192.0.2.1", want: SPFNone},
		{domain: "temp.test", ip: "192.0.2.1", want: SPFTempError},
		{domain: "two.test", ip: "192.0.2.1", want: SPFPermError},
		{domain: "ip4.test", ip: "192.0.2.200", want: SPFPass},
		{domain: "ip4.test", ip: "198.51.100.7", want: SPFPass},
		{domain: "ip4.test", ip: "198.51.100.8", want: SPFFail},
		{domain: "ip4.test", ip: "2001:db8::1", want: SPFFail},
		{domain: "ip4.test", ip: "::ffff:192.0.2.3", want: SPFPass},
		{domain: "ip6.test", ip: "2001:db8:1::1", want: SPFPass},
		{domain: "ip6.test", ip: "2001:db9::1", want: SPFFail},
		{domain: "a.test", ip: "192.0.2.10", want: SPFPass},
		{domain: "a.test", ip: "2001:db8::10", want: SPFPass},
		{domain: "a.test", ip: "192.0.2.11", want: SPFFail},
		{domain: "a-other.test", ip: "203.0.113.14", want: SPFPass},
		{domain: "a-other.test", ip: "203.0.113.17", want: SPFFail},
		{domain: "a-dual.test", ip: "203.0.113.1", want: SPFPass},
		{domain: "mx.test", ip: "203.0.113.51", want: SPFPass},
		{domain: "mx.test", ip: "203.0.113.52", want: SPFFail},
		{domain: "mx-other.test", ip: "203.0.113.50", want: SPFPass},
		{domain: "mx-many.test", ip: "203.0.113.50", want: SPFPermError},
		{domain: "ptr.test", ip: "192.0.2.99", want: SPFPass},
		{domain: "ptr.test", ip: "192.0.2.98", want: SPFFail},
		{domain: "exists.test", ip: "192.0.2.5", want: SPFPass},
		{domain: "exists.test", ip: "192.0.2.6", want: SPFFail},
		{domain: "include.test", ip: "192.0.2.1", want: SPFPass},
		{domain: "include.test", ip: "10.0.0.1", want: SPFFail},
		{domain: "include-soft.test", ip: "10.0.0.1", want: SPFSoftFail},
		{domain: "include-none.test", ip: "10.0.0.1", want: SPFPermError},
		{domain: "include-temp.test", ip: "10.0.0.1", want: SPFTempError},
		{domain: "redirect.test", ip: "192.0.2.1", want: SPFPass},
		{domain: "redirect.test", ip: "10.0.0.1", want: SPFFail},
		{domain: "redirect-all.test", ip: "10.0.0.1", want: SPFNeutral},
		{domain: "redirect-none.test", ip: "10.0.0.1", want: SPFPermError},
		{domain: "loop.test", ip: "10.0.0.1", want: SPFPermError},
		{domain: "many.test", ip: "10.0.0.1", want: SPFPermError},
		{domain: "ten.test", ip: "10.0.0.1", want: SPFPass},
		{domain: "voids.test", ip: "10.0.0.1", want: SPFPermError},
		{domain: "twovoids.test", ip: "10.0.0.1", want: SPFPass},
		{domain: "syntax.test", ip: "10.0.0.1", want: SPFPermError},
		{domain: "badmacro.test", ip: "10.0.0.1", want: SPFPermError},
		{domain: "macro-ir.test", ip: "192.0.2.5", want: SPFPass},
		{domain: "macro-h.test", ip: "10.0.0.1", helo: "mail.helo.test", want: SPFPass},
		{domain: "macro-h.test", ip: "10.0.0.1", helo: "other.test", want: SPFFail},
		{domain: "unknown-mod.test", ip: "192.0.2.1", want: SPFPass},
		{domain: "upper.test", ip: "192.0.2.1", want: SPFPass},
		{domain: "nodot", ip: "192.0.2.1", want: SPFNone},
	}
	for _, c := range cases {
		name := c.domain + "/" + c.ip
		t.Run(name, func(t *testing.T) {
			sender := "user@" + c.domain
			if c.sender != "" {
				sender = c.sender
			}
			chk := &SPFCheck{Resolver: spfDNS(), IP: netip.MustParseAddr(c.ip), Sender: sender, Helo: c.helo}
			got, _ := chk.Evaluate(context.Background())
			if got != c.want {
				t.Errorf("SPF(%s from %s) = %s, want %s", sender, c.ip, got, c.want)
			}
		})
	}
}

// TestSPFMacroSender: %{l} and %{o} come from the sender, not the domain
// being evaluated (here the record lives at macro-l.test via redirect).
func TestSPFMacroSender(t *testing.T) {
	f := spfDNS()
	f.txt["sender.test"] = []string{"v=spf1 redirect=macro-l.test"}
	chk := &SPFCheck{Resolver: f, IP: netip.MustParseAddr("10.0.0.1"), Sender: "bob@sender.test"}
	if got, _ := chk.Evaluate(context.Background()); got != SPFPass {
		t.Errorf("got %s, want pass (exists:bob.sender.test.users.test)", got)
	}
}

// TestSPFNullSender: the HELO identity is checked for MAIL FROM:<>.
func TestSPFNullSender(t *testing.T) {
	chk := &SPFCheck{Resolver: spfDNS(), IP: netip.MustParseAddr("192.0.2.1"), Helo: "ip4.test"}
	got, dom := chk.Evaluate(context.Background())
	if got != SPFPass || dom != "ip4.test" {
		t.Errorf("null sender = %s %s", got, dom)
	}
}

func TestMacroExpansion(t *testing.T) {
	env := &macroEnv{sender: "strong-bad@email.example.com", domain: "email.example.com",
		ip: netip.MustParseAddr("192.0.2.3"), helo: "mx.example.org"}
	env6 := *env
	env6.ip = netip.MustParseAddr("2001:db8::cb01")
	// Examples from RFC 7208 7.4.
	cases := []struct {
		in, want string
		env      *macroEnv
	}{
		{"%{s}", "strong-bad@email.example.com", env},
		{"%{o}", "email.example.com", env},
		{"%{d}", "email.example.com", env},
		{"%{d4}", "email.example.com", env},
		{"%{d3}", "email.example.com", env},
		{"%{d2}", "example.com", env},
		{"%{d1}", "com", env},
		{"%{dr}", "com.example.email", env},
		{"%{d2r}", "example.email", env},
		{"%{l}", "strong-bad", env},
		{"%{l-}", "strong.bad", env},
		{"%{lr}", "strong-bad", env},
		{"%{lr-}", "bad.strong", env},
		{"%{l1r-}", "strong", env},
		{"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", env},
		{"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", env},
		{"%{ir}.%{v}._spf.%{d2}", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com", &env6},
		{"%{h}", "mx.example.org", env},
		{"%%%_%-", "% %20", env},
		{"%{S}", "strong-bad%40email.example.com", env},
	}
	for _, c := range cases {
		got, err := expandMacros(c.in, c.env, false)
		if err != nil || got != c.want {
			t.Errorf("expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"%", "%{", "%{}", "%{x}", "%{d0}", "%{d2x}", "%a", "a b"} {
		if _, err := expandMacros(bad, env, false); err == nil {
			t.Errorf("expand(%q) succeeded", bad)
		}
	}
}

func TestParseSPF(t *testing.T) {
	good := []string{
		"v=spf1",
		"v=spf1 -all",
		"v=spf1 mx a:mail.example.org/24//64 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.net ~all",
		"v=spf1 a/24 mx//64 ptr:example.org exists:%{i}._spf.example.org ?all",
		"v=spf1 redirect=_spf.example.org",
		"v=spf1 exp=explain.%{d} -all",
		"v=spf1 x-custom=whatever -all",
	}
	for _, s := range good {
		if _, err := ParseSPF(s); err != nil {
			t.Errorf("ParseSPF(%q): %v", s, err)
		}
	}
	bad := []string{
		"v=spf2",
		"v=spf1x",
		"v=spf1 all:foo",
		"v=spf1 include",
		"v=spf1 include:",
		"v=spf1 ip4:300.0.0.1",
		"v=spf1 ip4:192.0.2.0/33",
		"v=spf1 ip4:2001:db8::1",
		"v=spf1 ip6:192.0.2.1",
		"v=spf1 a/33",
		"v=spf1 a:/24",
		"v=spf1 ptr/24",
		"v=spf1 redirect=a redirect=b",
		"v=spf1 frobnicate",
		"v=spf1 exists:%{q}",
	}
	for _, s := range bad {
		if _, err := ParseSPF(s); err == nil || !errors.Is(err, errSyntax) {
			t.Errorf("ParseSPF(%q) = %v, want a syntax error", s, err)
		}
	}
	r, err := ParseSPF("v=spf1 a:mail.example.org/24//64 -ip4:192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Terms[0].Domain != "mail.example.org" || r.Terms[0].CIDR4 != 24 || r.Terms[0].CIDR6 != 64 ||
		r.Terms[1].Qualifier != '-' || r.Terms[1].Prefix.String() != "192.0.2.1/32" {
		t.Errorf("parsed %+v", r.Terms)
	}
}

func FuzzParseSPF(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all",
		"v=spf1 include:_spf.google.com ~all",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx ptr -all",
		"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} redirect=_spf.example.com",
		"v=spf1 a:%{d2}/24//64 exp=%{S}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseSPF(s)
		if err != nil {
			return
		}
		// Every parsed domain-spec expands without a syntax error.
		env := &macroEnv{sender: "a@b.example", domain: "b.example", ip: netip.MustParseAddr("192.0.2.1"), helo: "h.example"}
		for _, term := range r.Terms {
			if _, err := expandMacros(term.Domain, env, false); err != nil {
				t.Fatalf("parsed term %q does not expand: %v", term.Domain, err)
			}
		}
		if strings.Contains(s, "\x00") && len(r.Terms) > 0 {
			for _, term := range r.Terms {
				if strings.Contains(term.Domain, "\x00") {
					t.Fatalf("NUL in domain %q", term.Domain)
				}
			}
		}
	})
}
