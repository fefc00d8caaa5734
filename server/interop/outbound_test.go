package interop

import (
	"context"
	"crypto/tls"
	"net/smtp"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/dkim"
	"github.com/floemail/floe/server/mailauth/mailauthtest"
	"github.com/floemail/floe/storage/sqlite"
)

// TestOutboundToSecondFloe: two Floe instances, a real DNS server on
// loopback. alice@example.test submits to bob@remote.test on instance A;
// A's queue finds remote.test's MX through DNS, signs with DKIM and
// delivers over SMTP to instance B, which checks SPF, DKIM and DMARC on
// arrival against the same DNS and files the message in bob's INBOX with
// spf=pass, dkim=pass and dmarc=pass.
func TestOutboundToSecondFloe(t *testing.T) {
	aDir := t.TempDir()
	keys, err := dkim.Open(filepath.Join(aDir, "dkim"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Generate("example.test", "s1", "rsa"); err != nil {
		t.Fatal(err)
	}
	keyName, keyValue, err := keys.TXTRecord("example.test", "s1")
	if err != nil {
		t.Fatal(err)
	}
	dns := mailauthtest.Start(t, mailauthtest.Zone{
		MX: map[string][]string{"remote.test": {"mx.remote.test"}},
		A:  map[string][]string{"mx.remote.test": {"127.0.0.1"}},
		TXT: map[string][]string{
			"example.test":                   {"v=spf1 ip4:127.0.0.1 -all"},
			strings.TrimSuffix(keyName, "."): {keyValue},
			"_dmarc.example.test":            {"v=DMARC1; p=reject"},
		},
	})

	bobHash, err := auth.HashPassword(password("bob"))
	if err != nil {
		t.Fatal(err)
	}
	b := startServerWith(t, func(c *config.Config) {
		c.Server.Hostname = "mx.remote.test"
		c.Domains = []config.Domain{{Name: "remote.test"}}
		c.Accounts = []config.Account{{Address: "bob@remote.test", PasswordHash: bobHash}}
		c.Checks.Enabled = true
		c.Checks.DNS = dns.Addr
	})
	bPort := b.port(t, "smtp")
	a := startServerWith(t, func(c *config.Config) {
		c.Server.DataDir = aDir
		c.Outbound.DNS = dns.Addr
		port, err := strconv.Atoi(bPort)
		if err != nil {
			t.Fatal(err)
		}
		c.Outbound.Port = port
	}, "alice")

	// Submission on loopback: AUTH PLAIN without TLS is allowed there.
	tok := token("outbound")
	msg := "From: Alice <alice@example.test>\r\nTo: bob@remote.test\r\nSubject: " + tok +
		"\r\nMessage-ID: <" + tok + "@example.test>\r\nDate: " + time.Now().Format(time.RFC1123Z) +
		"\r\n\r\nHello Bob, across two servers.\r\n"
	submit(t, a.addr(t, "submission"), "alice@example.test", password("alice"), "bob@remote.test", msg)

	var got []storedMsg
	deadline := time.Now().Add(60 * time.Second)
	for len(got) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("message not delivered to the second instance\nA's log:\n%s", tail(a.logs.String(), 8<<10))
		}
		time.Sleep(50 * time.Millisecond)
		withStoreDir(t, b.dir, func(ctx context.Context, st *sqlite.Store) {
			got = withToken(readMailbox(ctx, t, st, "bob@remote.test", "INBOX"), tok)
		})
	}
	m := expectOne(t, got, tok, "Hello Bob, across two servers.\n")
	raw := strings.ReplaceAll(string(m.Raw), "\r\n\t", " ")
	for _, want := range []string{
		"Authentication-Results: mx.remote.test;", "spf=pass", "dkim=pass", "dmarc=pass",
		"DKIM-Signature:", "d=example.test", "s=s1",
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, m.Raw)
		}
	}
	// A's queue is empty once B accepted the message.
	withStoreDir(t, a.dir, func(ctx context.Context, st *sqlite.Store) {
		if es, err := st.QueueEntries(ctx); err != nil || len(es) != 0 {
			t.Errorf("A's queue after delivery: %d entries, %v", len(es), err)
		}
	})
}

// submit sends msg over STARTTLS (the test trusts the self-signed
// certificate) with AUTH PLAIN, as a mail client does on port 587.
func submit(t *testing.T, addr, user, pass, rcpt, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	steps := []func() error{
		func() error { return c.StartTLS(&tls.Config{InsecureSkipVerify: true}) },
		func() error { return c.Auth(smtp.PlainAuth("", user, pass, "127.0.0.1")) },
		func() error { return c.Mail(user) },
		func() error { return c.Rcpt(rcpt) },
		func() error {
			w, err := c.Data()
			if err != nil {
				return err
			}
			if _, err := w.Write([]byte(msg)); err != nil {
				return err
			}
			return w.Close()
		},
		c.Quit,
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("submission step %d: %v", i, err)
		}
	}
}
