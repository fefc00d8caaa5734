package mailauth_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/dkim"
	"github.com/floemail/floe/server/mailauth"
	"github.com/floemail/floe/server/mailauth/mailauthtest"
)

// world is a DNS with an SPF, DKIM and DMARC setup for several senders.
func world(t *testing.T) (*mailauthtest.Server, *dkim.Keys) {
	keys, err := dkim.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	zone := mailauthtest.Zone{
		TXT: map[string][]string{
			"good.test":           {"v=spf1 ip4:192.0.2.1 -all"},
			"_dmarc.good.test":    {"v=DMARC1; p=reject"},
			"strict.test":         {"v=spf1 ip4:192.0.2.1 -all"},
			"_dmarc.strict.test":  {"v=DMARC1; p=reject; aspf=s; adkim=s"},
			"bounce.strict.test":  {"v=spf1 ip4:192.0.2.1 -all"},
			"quar.test":           {"v=spf1 ip4:192.0.2.1 -all"},
			"_dmarc.quar.test":    {"v=DMARC1; p=quarantine"},
			"nodmarc.test":        {"v=spf1 ip4:192.0.2.1 -all"},
			"relaxed.test":        {"v=DMARC1; p=reject"},
			"_dmarc.relaxed.test": {"v=DMARC1; p=reject; sp=none"},
			"mail.relaxed.test":   {"v=spf1 ip4:192.0.2.1 -all"},
			"none.test":           {"v=spf1 -all"},
			"_dmarc.none.test":    {"v=DMARC1; p=none"},
			"signer.test":         {"v=spf1 -all"},
			"_dmarc.signer.test":  {"v=DMARC1; p=reject"},
		},
		A:    map[string][]string{"mx.good.test": {"192.0.2.1"}},
		PTR:  map[string][]string{"192.0.2.1": {"mx.good.test"}},
		Fail: map[string]bool{"_dmarc.temp.test": true},
	}
	for _, d := range []string{"signer.test", "good.test"} {
		if _, err := keys.Generate(d, "s1", dkim.Ed25519); err != nil {
			t.Fatal(err)
		}
		name, value, err := keys.TXTRecord(d, "s1")
		if err != nil {
			t.Fatal(err)
		}
		zone.TXT[name] = []string{value}
	}
	return mailauthtest.Start(t, zone), keys
}

func checker(addr string, mod func(*config.Checks)) *mailauth.Checker {
	cfg := config.Production()
	cfg.Server.Hostname = "mx.floe.test"
	cfg.Checks.DNS = addr
	cfg.Checks.DMARCRejectAction = "reject"
	if mod != nil {
		mod(&cfg.Checks)
	}
	return mailauth.New(mailauth.Options{Config: func() *config.Config { return cfg }})
}

func msg(from string) string {
	return "Received: from x by y; Mon, 02 Jun 2025 10:00:00 +0000\r\n" +
		"From: " + from + "\r\nTo: bob@floe.test\r\nSubject: hi\r\nDate: Mon, 02 Jun 2025 10:00:00 +0000\r\n" +
		"Message-ID: <x@y>\r\n\r\nHello.\r\n"
}

func TestCheck(t *testing.T) {
	dnsSrv, keys := world(t)
	signed := func(domain, m string) string {
		// Sign without the Received header, as the sender would have.
		i := strings.Index(m, "\r\n") + 2
		h, err := keys.Sign(domain, strings.NewReader(m[i:]))
		if err != nil {
			t.Fatal(err)
		}
		return m[:i] + h + m[i:]
	}
	cases := []struct {
		name     string
		ip       string
		mailFrom string
		message  string
		mod      func(*config.Checks)
		spf      mailauth.SPFResult
		dkim     string
		dmarc    mailauth.DMARCResult
		action   mailauth.Action
	}{
		{name: "spf aligned pass", ip: "192.0.2.1", mailFrom: "a@good.test", message: msg("a@good.test"),
			spf: "pass", dkim: "none", dmarc: "pass", action: mailauth.Accept},
		{name: "spf fail p=reject", ip: "198.51.100.9", mailFrom: "a@good.test", message: msg("a@good.test"),
			spf: "fail", dkim: "none", dmarc: "fail", action: mailauth.Reject},
		{name: "spf fail p=reject junk action", ip: "198.51.100.9", mailFrom: "a@good.test", message: msg("a@good.test"),
			mod: func(c *config.Checks) { c.DMARCRejectAction = "junk" },
			spf: "fail", dkim: "none", dmarc: "fail", action: mailauth.Junk},
		{name: "spf fail p=reject mark action", ip: "198.51.100.9", mailFrom: "a@good.test", message: msg("a@good.test"),
			mod: func(c *config.Checks) { c.DMARCRejectAction = "mark" },
			spf: "fail", dkim: "none", dmarc: "fail", action: mailauth.Accept},
		{name: "spf pass unaligned", ip: "192.0.2.1", mailFrom: "a@nodmarc.test", message: msg("a@good.test"),
			spf: "pass", dkim: "none", dmarc: "fail", action: mailauth.Reject},
		{name: "strict spf subdomain unaligned", ip: "192.0.2.1", mailFrom: "b@bounce.strict.test", message: msg("a@strict.test"),
			spf: "pass", dkim: "none", dmarc: "fail", action: mailauth.Reject},
		{name: "relaxed spf subdomain aligned", ip: "192.0.2.1", mailFrom: "b@mail.relaxed.test", message: msg("a@relaxed.test"),
			spf: "pass", dkim: "none", dmarc: "pass", action: mailauth.Accept},
		{name: "subdomain uses sp", ip: "198.51.100.9", mailFrom: "b@mail.relaxed.test", message: msg("a@sub.relaxed.test"),
			spf: "fail", dkim: "none", dmarc: "fail", action: mailauth.Accept},
		{name: "quarantine goes to junk", ip: "198.51.100.9", mailFrom: "a@quar.test", message: msg("a@quar.test"),
			spf: "fail", dkim: "none", dmarc: "fail", action: mailauth.Junk},
		{name: "dkim aligned pass despite spf fail", ip: "198.51.100.9", mailFrom: "a@signer.test",
			message: signed("signer.test", msg("a@signer.test")),
			spf:     "fail", dkim: "pass", dmarc: "pass", action: mailauth.Accept},
		{name: "dkim unaligned", ip: "198.51.100.9", mailFrom: "a@signer.test",
			message: signed("good.test", msg("a@signer.test")),
			spf:     "fail", dkim: "pass", dmarc: "fail", action: mailauth.Reject},
		{name: "dkim broken", ip: "198.51.100.9", mailFrom: "a@signer.test",
			message: strings.Replace(signed("signer.test", msg("a@signer.test")), "Hello.", "Hullo.", 1),
			spf:     "fail", dkim: "fail", dmarc: "fail", action: mailauth.Reject},
		{name: "no dmarc spf fail mark", ip: "198.51.100.9", mailFrom: "a@nodmarc.test", message: msg("a@nodmarc.test"),
			spf: "fail", dkim: "none", dmarc: "none", action: mailauth.Accept},
		{name: "no dmarc spf fail reject", ip: "198.51.100.9", mailFrom: "a@nodmarc.test", message: msg("a@nodmarc.test"),
			mod: func(c *config.Checks) { c.SPFFailAction = "reject" },
			spf: "fail", dkim: "none", dmarc: "none", action: mailauth.Reject},
		{name: "p=none spf fail junk", ip: "198.51.100.9", mailFrom: "a@none.test", message: msg("a@none.test"),
			mod: func(c *config.Checks) { c.SPFFailAction = "junk" },
			spf: "fail", dkim: "none", dmarc: "fail", action: mailauth.Junk},
		{name: "dmarc temperror", ip: "198.51.100.9", mailFrom: "a@temp.test", message: msg("a@temp.test"),
			spf: "none", dkim: "none", dmarc: "temperror", action: mailauth.Accept},
		{name: "two from addresses", ip: "192.0.2.1", mailFrom: "a@good.test", message: msg("a@good.test, b@good.test"),
			spf: "pass", dkim: "none", dmarc: "permerror", action: mailauth.Accept},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := checker(dnsSrv.Addr, c.mod)
			r := ch.Check(context.Background(), mailauth.Info{
				RemoteIP: netip.MustParseAddr(c.ip), Helo: "mx.sender.test", MailFrom: c.mailFrom,
				Message: strings.NewReader(c.message), Size: int64(len(c.message)),
			})
			dk := "none"
			if len(r.DKIM) > 0 {
				dk = r.DKIM[0].Result
			}
			if r.SPF != c.spf || dk != c.dkim || r.DMARC != c.dmarc || r.Action != c.action {
				t.Errorf("got spf=%s dkim=%s dmarc=%s action=%s, want spf=%s dkim=%s dmarc=%s action=%s\n%s",
					r.SPF, dk, r.DMARC, r.Action, c.spf, c.dkim, c.dmarc, c.action, r.Header)
			}
			h := strings.ReplaceAll(r.Header, "\r\n\t", " ")
			for _, want := range []string{
				"Authentication-Results: mx.floe.test;",
				"spf=" + string(c.spf), "dkim=" + c.dkim, "dmarc=" + string(c.dmarc),
				"smtp.mailfrom=" + c.mailFrom,
			} {
				if !strings.Contains(h, want) {
					t.Errorf("header lacks %q: %q", want, r.Header)
				}
			}
			if !strings.HasSuffix(r.Header, "\r\n") || strings.Count(r.Header, "\r\n") != strings.Count(r.Header, "\r\n\t")+1 {
				t.Errorf("header badly folded: %q", r.Header)
			}
		})
	}
}

// TestIPRev: the reverse-DNS check lands in the header as iprev.
func TestIPRev(t *testing.T) {
	dnsSrv, _ := world(t)
	ch := checker(dnsSrv.Addr, nil)
	m := msg("a@good.test")
	r := ch.Check(context.Background(), mailauth.Info{RemoteIP: netip.MustParseAddr("192.0.2.1"), Helo: "mx.good.test",
		MailFrom: "a@good.test", Message: strings.NewReader(m), Size: int64(len(m))})
	if !strings.Contains(r.Header, "iprev=pass") {
		t.Errorf("header %q lacks iprev=pass", r.Header)
	}
	r = ch.Check(context.Background(), mailauth.Info{RemoteIP: netip.MustParseAddr("192.0.2.77"), Helo: "x",
		MailFrom: "a@good.test", Message: strings.NewReader(m), Size: int64(len(m))})
	if !strings.Contains(r.Header, "iprev=fail") {
		t.Errorf("header %q lacks iprev=fail", r.Header)
	}
}

func TestOrgDomain(t *testing.T) {
	for in, want := range map[string]string{
		"example.org":         "example.org",
		"mail.example.org":    "example.org",
		"a.b.example.org.":    "example.org",
		"example.co.uk":       "example.co.uk",
		"mail.example.co.uk":  "example.co.uk",
		"www.example.com.au":  "example.com.au",
		"org":                 "org",
		"mail.example.co.com": "co.com",
	} {
		if got := mailauth.OrgDomain(in); got != want {
			t.Errorf("OrgDomain(%q) = %q, want %q", in, got, want)
		}
	}
}
