package interop

import (
	"context"
	"net"
	"net/smtp"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/dkim"
	"github.com/floemail/floe/server/mailauth/mailauthtest"
	"github.com/floemail/floe/storage/sqlite"
)

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestForwardWithSRS: two Floe instances over a loopback DNS. Instance B
// hosts customer.test (anna) and remote.test (bob); instance A hosts
// example.test (alice), whose forwarder sends her mail on to bob. anna's
// domain allows no server in SPF, so only SRS lets the forward pass: B
// checks SPF on arrival and finds spf=pass for A's SRS0 address (and a
// DKIM signature of the forwarding domain). Then a forward to a missing
// address at B bounces: A's queue gets B's 550, its DSN goes to the SRS
// address, which A reverses, and the DSN reaches anna on B.
func TestForwardWithSRS(t *testing.T) {
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
		MX: map[string][]string{"remote.test": {"mx.test"}, "customer.test": {"mx.test"}, "example.test": {"mx.test"}},
		A:  map[string][]string{"mx.test": {"127.0.0.1"}},
		TXT: map[string][]string{
			"example.test":                   {"v=spf1 ip4:127.0.0.1 -all"},
			"customer.test":                  {"v=spf1 ip4:192.0.2.99 -all"},
			strings.TrimSuffix(keyName, "."): {keyValue},
		},
	})
	aPort, bPort := freeLoopbackPort(t), freeLoopbackPort(t)
	hash := func(l string) string {
		h, err := auth.HashPassword(password(l))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	b := startServerWith(t, func(c *config.Config) {
		c.Server.Hostname = "mx.remote.test"
		c.Listeners.SMTP = "127.0.0.1:" + strconv.Itoa(bPort)
		c.Domains = []config.Domain{{Name: "remote.test"}, {Name: "customer.test"}}
		c.Accounts = []config.Account{{Address: "bob@remote.test", PasswordHash: hash("bob")}, {Address: "anna@customer.test", PasswordHash: hash("anna")}}
		c.Checks.Enabled = true
		c.Checks.DNS = dns.Addr
		c.Outbound.DNS = dns.Addr
		c.Outbound.Port = aPort
	})
	a := startServerWith(t, func(c *config.Config) {
		c.Server.DataDir = aDir
		c.Listeners.SMTP = "127.0.0.1:" + strconv.Itoa(aPort)
		c.Outbound.DNS = dns.Addr
		c.Outbound.Port = bPort
		c.Outbound.RetryInitial = config.Duration(time.Second)
		c.Accounts[0].Forwarder = &rules.Forwarder{To: []string{"bob@remote.test"}}
		c.Accounts[0].Rules = []rules.Rule{{
			Title:      "bounce test",
			Conditions: []rules.Condition{{If: rules.IfSubject, Contains: "to-nobody"}},
			Actions:    []rules.Action{{Do: rules.DoForward, To: "nobody@remote.test"}, {Do: rules.DoStop}},
		}}
	}, "alice")

	// anna (on B) writes to alice (on A); A forwards to bob (on B).
	tok := token("srs")
	msg := "From: Anna <anna@customer.test>\r\nTo: alice@example.test\r\nSubject: " + tok +
		"\r\nMessage-ID: <" + tok + "@customer.test>\r\nDate: " + time.Now().Format(time.RFC1123Z) +
		"\r\n\r\nHello Alice, wherever you are.\r\n"
	submit(t, b.addr(t, "submission"), "anna@customer.test", password("anna"), "alice@example.test", msg)

	var got []storedMsg
	wait := func(what string, cond func(ctx context.Context, st *sqlite.Store) bool, dir string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			done := false
			withStoreDir(t, dir, func(ctx context.Context, st *sqlite.Store) { done = cond(ctx, st) })
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not happen\nA's log:\n%s\nB's log:\n%s", what, tail(a.logs.String(), 6<<10), tail(b.logs.String(), 6<<10))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("forward to bob", func(ctx context.Context, st *sqlite.Store) bool {
		got = withToken(readMailbox(ctx, t, st, "bob@remote.test", "INBOX"), tok)
		return len(got) > 0
	}, b.dir)
	m := expectOne(t, got, tok, "Hello Alice, wherever you are.\n")
	raw := strings.ReplaceAll(string(m.Raw), "\r\n\t", " ")
	for _, want := range []string{"spf=pass", `smtp.mailfrom="SRS0=`, "@example.test", "dkim=pass", "header.d=example.test", rules.HopHeader + ": 1"} {
		if !strings.Contains(raw, want) {
			t.Errorf("forwarded message at B lacks %q:\n%s", want, m.Raw)
		}
	}
	withStoreDir(t, a.dir, func(ctx context.Context, st *sqlite.Store) {
		if n := len(withToken(readMailbox(ctx, t, st, "alice@example.test", "INBOX"), tok)); n != 0 {
			t.Errorf("alice kept %d copies without keep_copy", n)
		}
	})

	// The bounce comes back to anna through the SRS address.
	tok2 := token("bounce")
	msg2 := strings.ReplaceAll(msg, tok, tok2+" to-nobody")
	submit(t, b.addr(t, "submission"), "anna@customer.test", password("anna"), "alice@example.test", msg2)
	wait("bounce to anna", func(ctx context.Context, st *sqlite.Store) bool {
		got = withToken(readMailbox(ctx, t, st, "anna@customer.test", "INBOX"), tok2)
		return len(got) > 0
	}, b.dir)
	dsn := string(got[0].Raw)
	if !strings.Contains(dsn, "nobody@remote.test") || !strings.Contains(dsn, "multipart/report") {
		t.Errorf("bounce:\n%s", dsn)
	}
}

// TestForwardLoopBetweenServers: alice (instance A) forwards to bob
// (instance B), who forwards back to alice, both keeping a copy. The loop
// counter stops the ping-pong after rules.MaxHops forwards: six copies in
// all, three each, and a log line on the instance that stopped it.
func TestForwardLoopBetweenServers(t *testing.T) {
	dns := mailauthtest.Start(t, mailauthtest.Zone{
		MX: map[string][]string{"remote.test": {"mx.test"}, "example.test": {"mx.test"}},
		A:  map[string][]string{"mx.test": {"127.0.0.1"}},
	})
	aPort, bPort := freeLoopbackPort(t), freeLoopbackPort(t)
	bobHash, err := auth.HashPassword(password("bob"))
	if err != nil {
		t.Fatal(err)
	}
	b := startServerWith(t, func(c *config.Config) {
		c.Server.Hostname = "mx.remote.test"
		c.Listeners.SMTP = "127.0.0.1:" + strconv.Itoa(bPort)
		c.Domains = []config.Domain{{Name: "remote.test"}}
		c.Accounts = []config.Account{{Address: "bob@remote.test", PasswordHash: bobHash,
			Forwarder: &rules.Forwarder{To: []string{"alice@example.test"}, KeepCopy: true}}}
		c.Outbound.DNS = dns.Addr
		c.Outbound.Port = aPort
	})
	a := startServerWith(t, func(c *config.Config) {
		c.Listeners.SMTP = "127.0.0.1:" + strconv.Itoa(aPort)
		c.Outbound.DNS = dns.Addr
		c.Outbound.Port = bPort
		c.Accounts[0].Forwarder = &rules.Forwarder{To: []string{"bob@remote.test"}, KeepCopy: true}
	}, "alice")

	tok := token("loop")
	msg := "From: x@elsewhere.test\r\nTo: alice@example.test\r\nSubject: " + tok + "\r\n\r\nround and round\r\n"
	c, err := smtp.Dial(a.addr(t, "smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, step := range []func() error{
		func() error { return c.Mail("x@elsewhere.test") },
		func() error { return c.Rcpt("alice@example.test") },
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
	} {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	count := func(e *env, addr string) int {
		n := 0
		withStoreDir(t, e.dir, func(ctx context.Context, st *sqlite.Store) {
			n = len(withToken(readMailbox(ctx, t, st, addr, "INBOX"), tok))
		})
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(b.logs.String(), "mail loop stopped") {
		if time.Now().After(deadline) {
			t.Fatalf("loop not stopped\nA's log:\n%s\nB's log:\n%s", tail(a.logs.String(), 6<<10), tail(b.logs.String(), 6<<10))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // nothing more may arrive
	if na, nb := count(a, "alice@example.test"), count(b, "bob@remote.test"); na != 3 || nb != 3 {
		t.Errorf("copies: alice %d, bob %d; want 3 and 3", na, nb)
	}
}
