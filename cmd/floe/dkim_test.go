package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floemail/floe/server/dkim"
)

func TestDKIMCommands(t *testing.T) {
	file, dataDir := writeConfig(t, map[string]string{"smtp": "192.0.2.25:25"}, "")
	floe(t, "", "dkim", "list", "--config", file).expect(t, 0, "no DKIM keys")

	r := floe(t, "", "dkim", "gen", "Example.COM", "--selector", "s1", "--config", file)
	r.expect(t, 0, "s1._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p=")
	if !strings.Contains(r.stdout, "active key") {
		t.Errorf("first key not reported active:\n%s", r.stdout)
	}
	fi, err := os.Stat(filepath.Join(dataDir, "dkim", "example.com", "s1.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	r = floe(t, "", "dkim", "gen", "example.com", "--selector", "s2", "--algorithm", "ed25519", "--config", file)
	r.expect(t, 0, "s2._domainkey.example.com. IN TXT \"v=DKIM1; k=ed25519; p=")
	if !strings.Contains(r.stdout, "floe dkim activate example.com s2") {
		t.Errorf("second key should wait for activation:\n%s", r.stdout)
	}
	floe(t, "", "dkim", "gen", "example.com", "--selector", "s2", "--config", file).expectErr(t, 1, "already exists")
	floe(t, "", "dkim", "gen", "example.com", "--algorithm", "dsa", "--config", file).expectErr(t, 2, "unknown algorithm")
	floe(t, "", "dkim", "gen", "bad domain", "--config", file).expectErr(t, 2, "not a valid")

	r = floe(t, "", "dkim", "list", "--config", file)
	r.expect(t, 0, "example.com s1 rsa active")
	if !strings.Contains(r.stdout, "example.com s2 ed25519 created") {
		t.Errorf("list:\n%s", r.stdout)
	}
	floe(t, "", "dkim", "activate", "example.com", "s2", "--config", file).expect(t, 0, "now signs with selector s2")
	floe(t, "", "dkim", "activate", "example.com", "nope", "--config", file).expectErr(t, 1, "no key")
	floe(t, "", "dkim", "list", "--config", file).expect(t, 0, "example.com s2 ed25519 active")

	// The server-side package signs with what the CLI activated.
	keys, err := dkim.Open(filepath.Join(dataDir, "dkim"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := keys.Sign("example.com", strings.NewReader("From: a@example.com\r\n\r\nhi\r\n"))
	if err != nil || !strings.Contains(h, "s=s2") {
		t.Errorf("Sign = %q, %v", h, err)
	}
}

func TestDNSCommand(t *testing.T) {
	file, _ := writeConfig(t, map[string]string{"smtp": "192.0.2.25:25", "submissions": ":465", "submission": ":587",
		"imaps": ":993", "imap": ":143", "pop3s": ":995", "pop3": ":110", "https": ":443"}, "")
	r := floe(t, "", "dns", "example.com", "--config", file)
	r.expect(t, 0, "example.com. IN MX 10 mail.example.com.")
	for _, want := range []string{
		`example.com. IN TXT "v=spf1 mx ip4:192.0.2.25 -all"`,
		`no DKIM key for example.com yet`,
		`_dmarc.example.com. IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.com"`,
		"_submissions._tcp.example.com. IN SRV 0 1 465 mail.example.com.",
		"_submission._tcp.example.com. IN SRV 10 1 587 mail.example.com.",
		"_imaps._tcp.example.com. IN SRV 0 1 993 mail.example.com.",
		"_imap._tcp.example.com. IN SRV 10 1 143 mail.example.com.",
		"_pop3s._tcp.example.com. IN SRV 0 1 995 mail.example.com.",
		"_pop3._tcp.example.com. IN SRV 10 1 110 mail.example.com.",
		"_caldavs._tcp.example.com. IN SRV 0 1 443 mail.example.com.",
		"_carddavs._tcp.example.com. IN SRV 0 1 443 mail.example.com.",
		`_caldavs._tcp.example.com. IN TXT "path=/.well-known/caldav"`,
		`_carddavs._tcp.example.com. IN TXT "path=/.well-known/carddav"`,
		"_autodiscover._tcp.example.com. IN SRV 0 1 443 mail.example.com.",
		"autoconfig.example.com. IN CNAME mail.example.com.",
		"autodiscover.example.com. IN CNAME mail.example.com.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("floe dns lacks %q:\n%s", want, r.stdout)
		}
	}
	floe(t, "", "dkim", "gen", "example.com", "--selector", "a", "--algorithm", "ed25519", "--config", file).expect(t, 0, "")
	floe(t, "", "dkim", "gen", "example.com", "--selector", "b", "--config", file).expect(t, 0, "")
	r = floe(t, "", "dns", "example.com", "--config", file)
	if !strings.Contains(r.stdout, `a._domainkey.example.com. IN TXT "v=DKIM1; k=ed25519; p=`) ||
		!strings.Contains(r.stdout, `b._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=`) {
		t.Errorf("floe dns lacks the DKIM selectors:\n%s", r.stdout)
	}
	// A private listener address is not put into SPF.
	file2, _ := writeConfig(t, map[string]string{"smtp": "10.0.0.1:25"}, "")
	r = floe(t, "", "dns", "example.com", "--config", file2)
	r.expect(t, 0, `"v=spf1 mx -all"`)
	// Disabled listeners are published as "not offered" (RFC 6186 3.4);
	// a non-standard port is published as configured.
	file3, _ := writeConfig(t, map[string]string{"imaps": "127.0.0.1:1993"}, "[discover]\nhostname = \"imap.example.com\"\n")
	r = floe(t, "", "dns", "example.com", "--config", file3)
	for _, want := range []string{
		"_imaps._tcp.example.com. IN SRV 0 1 1993 imap.example.com.",
		"_pop3._tcp.example.com. IN SRV 0 0 0 .",
		"example.com. IN MX 10 mail.example.com.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("floe dns lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "_caldavs") {
		t.Errorf("CalDAV SRV without an https listener:\n%s", r.stdout)
	}
}

// TestDKIMAndDNSWarnForeignDomain: dkim gen and dns warn (and go on) for a
// domain that is not local; a local one (config or database) gets no warning.
func TestDKIMAndDNSWarnForeignDomain(t *testing.T) {
	file, _ := writeConfig(t, nil, "")
	r := floe(t, "", "dkim", "gen", "exampel.com", "--selector", "s1", "--config", file)
	r.expect(t, 0, "Publish this TXT record")
	if !strings.Contains(r.stderr, "warning: exampel.com is not a local domain") {
		t.Fatalf("no warning for a foreign domain:\n%s", r.stderr)
	}
	r = floe(t, "", "dns", "exampel.com", "--config", file)
	r.expect(t, 0, "IN MX")
	if !strings.Contains(r.stderr, "warning: exampel.com is not a local domain") {
		t.Fatalf("dns: no warning for a foreign domain:\n%s", r.stderr)
	}
	floe(t, "", "domain", "add", "second.example", "--config", file).expect(t, 0, "")
	for _, d := range []string{"example.com", "second.example"} {
		if r := floe(t, "", "dns", d, "--config", file); strings.Contains(r.stderr, "warning") {
			t.Fatalf("warning for local domain %s:\n%s", d, r.stderr)
		}
	}
}
