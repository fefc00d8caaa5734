package smtp

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	netsmtp "net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/config"
)

func TestDeliverManyRecipients(t *testing.T) {
	e := newEnv(t, envOptions{})
	// net/smtp as a plain MX client (no STARTTLS). It uses SMTPUTF8 when
	// offered, hence "with UTF8SMTP" (RFC 6531 3.7.3).
	c, err := netsmtp.Dial(e.addr[MX])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@remote.test"); err != nil {
		t.Fatal(err)
	}
	// postmaster is an alias of alice, alice+tag is alice: one copy only.
	for _, r := range []string{"alice@example.test", "postmaster@example.test", "Alice+tag@Example.TEST", "bob@example.test", "dan@second.test"} {
		if err := c.Rcpt(r); err != nil {
			t.Fatalf("RCPT %s: %v", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	msg := message("many", "Hello all.")
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	for _, acct := range []string{"alice@example.test", "bob@example.test", "dan@second.test"} {
		msgs, bodies := e.inbox(acct)
		if len(msgs) != 1 {
			t.Fatalf("%s has %d messages, want 1", acct, len(msgs))
		}
		if len(msgs[0].Flags) != 0 {
			t.Errorf("%s: flags %v, want none", acct, msgs[0].Flags)
		}
		body := bodies[0]
		if !strings.HasPrefix(body, "Received: from client.example.test ([127.0.0.1])\r\n\tby mx.example.test (Floe) with UTF8SMTP id ") ||
			!strings.HasSuffix(body, "\r\n"+msg) {
			t.Errorf("%s: stored message:\n%s", acct, body)
		}
		if strings.Contains(body, "for <") {
			t.Errorf("Received names a recipient of a multi-recipient message:\n%s", body)
		}
	}
	if msgs, _ := e.inbox("carol@example.test"); len(msgs) != 0 {
		t.Errorf("carol got %d messages", len(msgs))
	}
}

func TestDeliverOneRecipientSTARTTLS(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial(MX)
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("%s not advertised", ext)
		}
	}
	if ok, _ := c.Extension("DSN"); ok {
		t.Error("DSN advertised but not implemented")
	}
	if size, ok := c.MaxMessageSize(); !ok || size != int(config.DefaultMaxMessageSize) {
		t.Errorf("SIZE = %d, %v", size, ok)
	}
	c = e.dialStartTLS(MX)
	if err := send(c, "", []string{"bob@example.test"}, message("tls", "secret")); err != nil {
		t.Fatal(err)
	}
	_, bodies := e.inbox("bob@example.test")
	if len(bodies) != 1 {
		t.Fatalf("%d messages", len(bodies))
	}
	for _, want := range []string{" with ESMTPS id ", "\r\n\tfor <bob@example.test>;", "(TLS 1.3 "} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("Received lacks %q:\n%s", want, bodies[0])
		}
	}
}

func TestUnknownUser(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial(MX)
	if err := c.Mail("sender@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("nobody@example.test", nil), 550, gosmtp.EnhancedCode{5, 1, 1})
	// The session goes on.
	if err := c.Rcpt("alice@example.test", nil); err != nil {
		t.Fatal(err)
	}
}

func TestRelayDenied(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, to := range []string{
		"<user@remote.test>",
		"<ALICE@Remote.Test>",
		"<alice%remote.test@example.test>",
		"<alice@remote.test@example.test>",
		"<\"alice@remote.test\"@example.test>",
		"<\"alice%remote.test\"@example.test>",
		"<remote.test!alice@example.test>",
		"<@example.test:alice@remote.test>",
		"<@a.test,@b.test:user@remote.test>",
		"<alice@[127.0.0.1]>",
		"<alice@[IPv6:::1]>",
		"<alice@sub.example.test>",
	} {
		t.Run(to, func(t *testing.T) {
			r := e.raw(MX)
			r.cmd("EHLO client.example.test", "250 ")
			r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
			got := r.cmd("RCPT TO:"+to, "550 5.7.1 ")
			if !strings.Contains(got, "Relaying denied") {
				t.Errorf("reply %q", got)
			}
			r.cmd("QUIT", "221 ")
		})
	}
	// Nothing was delivered anywhere.
	for acct := range e.ids {
		if msgs, _ := e.inbox(acct); len(msgs) != 0 {
			t.Errorf("%s has %d messages", acct, len(msgs))
		}
	}
}

// A source route to a local mailbox is delivered locally (RFC 5321
// Appendix C: the route is ignored); nothing is relayed.
func TestSourceRouteToLocal(t *testing.T) {
	e := newEnv(t, envOptions{outbound: true})
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
	r.cmd("RCPT TO:<@remote.test,@relay.test:alice@example.test>", "250 ")
	r.cmd("DATA", "354 ")
	r.write("Subject: routed\r\n\r\nvia a source route\r\n.\r\n")
	r.expect("250 ")
	r.cmd("QUIT", "221 ")
	got := e.mailbox("alice@example.test", "INBOX")
	if len(got) != 1 || !strings.Contains(got[0], "via a source route") {
		t.Fatalf("alice's INBOX: %q", got)
	}
	// Delivered for alice@example.test, the route dropped (RFC 5321 C).
	if !strings.Contains(got[0], "for <alice@example.test>") {
		t.Errorf("Received field does not name the local recipient:\n%s", got[0])
	}
	// Nothing went to the outbound queue: no relaying through the route.
	if entries, err := e.store.QueueEntries(context.Background()); err != nil || len(entries) != 0 {
		t.Fatalf("queue entries after a source-routed local delivery: %+v %v", entries, err)
	}
}

func TestAuthPlainAndLoginOverSTARTTLS(t *testing.T) {
	e := newEnv(t, envOptions{})
	mechs := map[string]sasl.Client{
		"PLAIN": sasl.NewPlainClient("", "alice@example.test", password),
		"LOGIN": sasl.NewLoginClient("alice@example.test", password),
	}
	for name, client := range mechs {
		t.Run(name, func(t *testing.T) {
			c := e.dialStartTLS(Submission)
			if !c.SupportsAuth(name) {
				t.Fatalf("%s not offered after STARTTLS", name)
			}
			if err := c.Auth(client); err != nil {
				t.Fatal(err)
			}
			if err := send(c, "alice+"+name+"@example.test", []string{"bob@example.test"}, message(name, "via "+name)); err != nil {
				t.Fatal(err)
			}
		})
	}
	_, bodies := e.inbox("bob@example.test")
	if len(bodies) != 2 {
		t.Fatalf("bob has %d messages, want 2", len(bodies))
	}
	for _, b := range bodies {
		if !strings.Contains(b, " with ESMTPSA id ") {
			t.Errorf("Received does not say ESMTPSA:\n%s", b)
		}
	}
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Auth.MaxFailuresPerIP = 2
		c.Auth.MaxFailuresPerAccount = 1000
	}})
	c := e.dial(Submissions)
	wantCode(t, c.Auth(sasl.NewPlainClient("", "alice@example.test", "wrong")), 535, gosmtp.EnhancedCode{5, 7, 8})
	wantCode(t, c.Auth(sasl.NewLoginClient("nobody@example.test", "wrong")), 535, gosmtp.EnhancedCode{5, 7, 8})
	// Two failures from this IP: the limiter now refuses even the right
	// password, with a temporary error.
	wantCode(t, c.Auth(sasl.NewPlainClient("", "alice@example.test", password)), 454, gosmtp.EnhancedCode{4, 7, 0})
	// Not authenticated: MAIL is refused.
	wantCode(t, c.Mail("alice@example.test", nil), 530, gosmtp.EnhancedCode{5, 7, 0})
}

func TestAuthImpersonationRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial(Submissions)
	wantCode(t, c.Auth(sasl.NewPlainClient("bob@example.test", "alice@example.test", password)), 535, gosmtp.EnhancedCode{5, 7, 8})
}

// Plain-text AUTH from a non-loopback address without TLS is neither
// advertised nor accepted; after STARTTLS it is.
func TestAuthRequiresTLSFromRemote(t *testing.T) {
	fake := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow_plaintext=", allow), func(t *testing.T) {
			e := newEnv(t, envOptions{
				config: func(c *config.Config) { c.TLS.AllowPlaintextAuth = allow },
				server: func(s *Server) { s.remoteAddr = fake },
			})
			for _, m := range []Mode{MX, Submission} {
				r := e.raw(m)
				ehlo := r.cmd("EHLO client.example.test", "250 ")
				if got := strings.Contains(ehlo, "AUTH"); got != allow {
					t.Fatalf("%v: AUTH advertised = %v without TLS:\n%s", m, got, ehlo)
				}
				if !allow {
					r.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwdw==", "538 5.7.11 ")
				}
			}
			if !allow {
				c := e.dial(Submission)
				if c.SupportsAuth("PLAIN") {
					t.Fatal("AUTH offered before STARTTLS")
				}
				c = e.dialStartTLS(Submission)
				if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
					t.Fatalf("after STARTTLS: %v", err)
				}
			}
		})
	}
}

func TestAuthFromLoopbackWithoutTLS(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial(Submission)
	if !c.SupportsAuth("PLAIN") || !c.SupportsAuth("LOGIN") {
		t.Fatal("AUTH not offered to a loopback client")
	}
	if err := c.Auth(sasl.NewLoginClient("alice@example.test", password)); err != nil {
		t.Fatal(err)
	}
}

func TestSubmissionSender(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		from string
		code int
	}{
		{"alice@example.test", 0},
		{"ALICE@example.test", 0},
		{"alice+lists@example.test", 0},
		{"postmaster@example.test", 0},
		{"bob@example.test", 553},
		{"alice@remote.test", 553},
		{"nobody@example.test", 553},
		{"", 553},
	}
	for _, m := range []Mode{MX, Submission, Submissions} {
		c := e.dial(m)
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			err := c.Mail(tt.from, nil)
			if tt.code == 0 {
				if err != nil {
					t.Errorf("%v: MAIL FROM:<%s>: %v", m, tt.from, err)
				}
				if err := c.Reset(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			wantCode(t, err, 553, gosmtp.EnhancedCode{5, 7, 1})
		}
	}
}

func TestSubmissionRequiresAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, m := range []Mode{Submission, Submissions} {
		c := e.dial(m)
		wantCode(t, c.Mail("alice@example.test", nil), 530, gosmtp.EnhancedCode{5, 7, 0})
	}
	// The null sender is fine on MX.
	c := e.dial(MX)
	if err := c.Mail("", nil); err != nil {
		t.Fatal(err)
	}
}

func TestSubmissionRecipients(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial(Submissions)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.test", nil); err != nil {
		t.Fatal(err)
	}
	err := c.Rcpt("someone@remote.test", nil)
	wantCode(t, err, 550, gosmtp.EnhancedCode{5, 7, 1})
	if !strings.Contains(err.Error(), "Outbound delivery is not available yet") {
		t.Errorf("reply %v", err)
	}
	if err := c.Rcpt("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, message("submitted", "local copy"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := e.inbox("bob@example.test"); len(msgs) != 1 {
		t.Fatalf("bob has %d messages", len(msgs))
	}
}

func TestSizeLimit(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.SMTP.MaxMessageSize = 2000 }})
	c := e.dial(MX)
	if size, ok := c.MaxMessageSize(); !ok || size != 2000 {
		t.Fatalf("SIZE = %d, %v", size, ok)
	}
	wantCode(t, c.Mail("sender@remote.test", &gosmtp.MailOptions{Size: 2001}), 552, gosmtp.EnhancedCode{5, 3, 4})

	big := message("big", strings.Repeat("0123456789abcdef\r\n", 200))
	err := send(c, "sender@remote.test", []string{"alice@example.test"}, big)
	wantCode(t, err, 552, gosmtp.EnhancedCode{5, 3, 4})
	// The session continues and a small message gets through.
	if err := send(c, "sender@remote.test", []string{"alice@example.test"}, message("small", "ok")); err != nil {
		t.Fatal(err)
	}

	// BDAT beyond the limit.
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
	r.cmd("RCPT TO:<alice@example.test>", "250 ")
	chunk := strings.Repeat("x", 1500)
	r.write("BDAT 1500\r\n" + chunk)
	r.expect("250 ")
	r.write("BDAT 1500 LAST\r\n" + chunk)
	r.expect("552 5.3.4 ")
	r.cmd("NOOP", "250 ")

	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 1 {
		t.Fatalf("alice has %d messages, want 1", len(msgs))
	}
}

func TestBDAT(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	r.cmd("MAIL FROM:<sender@remote.test> BODY=8BITMIME", "250 ")
	r.cmd("RCPT TO:<alice@example.test>", "250 ")
	msg := message("chunked", "caf\xc3\xa9 in two chunks\r\n.\r\nnot the end")
	r.write(fmt.Sprintf("BDAT %d\r\n%s", 30, msg[:30]))
	r.expect("250 ")
	r.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg)-30, msg[30:]))
	r.expect("250 ")
	_, bodies := e.inbox("alice@example.test")
	if len(bodies) != 1 || !strings.HasSuffix(bodies[0], "\r\n"+msg) {
		t.Fatalf("stored %q", bodies)
	}
}

func TestSMTPUTF8(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	// Without SMTPUTF8 a non-ASCII address is refused (RFC 6531 3.4).
	r.cmd("MAIL FROM:<jörg@remote.test>", "553 5.6.7 ")
	r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
	r.cmd("RCPT TO:<jörg@example.test>", "553 5.6.7 ")
	r.cmd("RSET", "250 ")
	r.cmd("MAIL FROM:<jörg@remote.test> SMTPUTF8 BODY=8BITMIME", "250 ")
	r.cmd("RCPT TO:<Jörg@example.test>", "250 ")
	r.cmd("DATA", "354 ")
	r.write("From: jörg@remote.test\r\nSubject: grüße\r\n\r\nÜber.\r\n.\r\n")
	r.expect("250 ")
	_, bodies := e.inbox("jörg@example.test")
	if len(bodies) != 1 || !strings.Contains(bodies[0], " with UTF8SMTP id ") || !strings.Contains(bodies[0], "for <Jörg@example.test>") {
		t.Fatalf("stored %q", bodies)
	}
}

func TestTooManyRecipients(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.SMTP.MaxRecipients = 3 }})
	c := e.dial(MX)
	if err := c.Mail("sender@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"alice@example.test", "bob@example.test", "dan@second.test"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, c.Rcpt("carol@example.test", nil), 452, gosmtp.EnhancedCode{4, 5, 3})
}

func TestQuota(t *testing.T) {
	e := newEnv(t, envOptions{})
	// carol: at most 1 message and 4000 bytes.
	c := e.dial(MX)
	if err := c.Mail("sender@remote.test", &gosmtp.MailOptions{Size: 5000}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("carol@example.test", nil), 552, gosmtp.EnhancedCode{5, 2, 2})
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "sender@remote.test", []string{"carol@example.test"}, message("first", "fits")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("carol@example.test", nil), 452, gosmtp.EnhancedCode{4, 2, 2})
	// Other recipients of the same message are unaffected.
	if err := c.Rcpt("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
}

func TestMessagesPerConnection(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.SMTP.MaxMessagesPerConnection = 2 }})
	c := e.dial(MX)
	for i := range 2 {
		if err := send(c, "sender@remote.test", []string{"alice@example.test"}, message(fmt.Sprint(i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, c.Mail("sender@remote.test", nil), 421, gosmtp.EnhancedCode{4, 7, 0})
}

func TestTooManyErrorsCloses(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.SMTP.MaxErrors = 3 }})
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
	r.cmd("RCPT TO:<a@example.test>", "550 5.1.1 ")
	r.cmd("RCPT TO:<b@example.test>", "550 5.1.1 ")
	r.cmd("RCPT TO:<c@example.test>", "550 5.1.1 ")
	r.expect("421 4.7.0 ")
	r.expectClosed()
}

// 10,000 pipelined RCPTs: the limit answers 452 to the extra ones, and
// unknown users close the session after max_errors; the server survives.
func TestManyRecipientsPipelined(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.SMTP.MaxRecipients = 100; c.SMTP.MaxErrors = 10 }})
	const n = 10000

	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	var b strings.Builder
	b.WriteString("MAIL FROM:<sender@remote.test>\r\n")
	for range n {
		b.WriteString("RCPT TO:<alice@example.test>\r\n")
	}
	go r.conn.Write([]byte(b.String()))
	r.expect("250 ")
	var ok, full int
	for range n {
		switch got := r.reply(); {
		case strings.HasPrefix(got, "250 "):
			ok++
		case strings.HasPrefix(got, "452 4.5.3 "):
			full++
		default:
			t.Fatalf("reply %q after %d ok, %d full", got, ok, full)
		}
	}
	if ok != 100 || full != n-100 {
		t.Fatalf("%d accepted, %d refused", ok, full)
	}
	r.cmd("RSET", "250 ")

	r2 := e.raw(MX)
	r2.cmd("EHLO client.example.test", "250 ")
	b.Reset()
	b.WriteString("MAIL FROM:<sender@remote.test>\r\n")
	for i := range n {
		fmt.Fprintf(&b, "RCPT TO:<nobody%d@example.test>\r\n", i)
	}
	go r2.conn.Write([]byte(b.String()))
	r2.expect("250 ")
	for range 10 {
		r2.expect("550 5.1.1 ")
	}
	r2.expect("421 4.7.0 ")
	r2.expectClosed()

	// Still serving.
	c := e.dial(MX)
	if err := send(c, "sender@remote.test", []string{"bob@example.test"}, message("after", "ok")); err != nil {
		t.Fatal(err)
	}
}

func TestGarbage(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.SMTP.MaxLineLength = 1000 }})
	t.Run("binary", func(t *testing.T) {
		r := e.raw(MX)
		junk := make([]byte, 64<<10)
		rand.Read(junk)
		go r.conn.Write(junk)
		// Error replies, then the connection is closed (too many errors or
		// a too long line); the exact sequence depends on the bytes.
		r.expectClosed()
	})
	t.Run("long line", func(t *testing.T) {
		r := e.raw(MX)
		r.send("EHLO " + strings.Repeat("a", 5000))
		r.expect("500 5.4.0 ")
		r.expectClosed()
	})
	t.Run("long line in DATA", func(t *testing.T) {
		r := e.raw(MX)
		r.cmd("EHLO client.example.test", "250 ")
		r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
		r.cmd("RCPT TO:<alice@example.test>", "250 ")
		r.cmd("DATA", "354 ")
		go r.write("Subject: x\r\n\r\n" + strings.Repeat("b", 5000) + "\r\n.\r\n")
		r.expect("500 5.5.0 ")
		r.expectClosed()
	})
	t.Run("commands before EHLO", func(t *testing.T) {
		r := e.raw(MX)
		r.cmd("MAIL FROM:<a@b.c>", "502 ")
		r.cmd("DATA", "502 ")
		r.write("BDAT 5 LAST\r\nhello") // the chunk follows even when refused
		r.expect("502 ")
		r.cmd("AUTH PLAIN", "502 ")
		r.cmd("QUIT", "221 ")
	})
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 0 {
		t.Fatalf("alice has %d messages", len(msgs))
	}
	// Still serving.
	c := e.dial(MX)
	if err := send(c, "sender@remote.test", []string{"bob@example.test"}, message("after", "ok")); err != nil {
		t.Fatal(err)
	}
}

func TestDataTimeout(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.SMTP.DataTimeout = config.Duration(100 * time.Millisecond) }})
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
	r.cmd("RCPT TO:<alice@example.test>", "250 ")
	r.cmd("DATA", "354 ")
	r.write("Subject: never finished\r\n\r\npartial")
	r.expect("421 4.4.2 ")
	r.expectClosed()
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 0 {
		t.Fatalf("alice has %d messages", len(msgs))
	}
}

func TestShutdownIdle(t *testing.T) {
	e := newEnv(t, envOptions{})
	r1 := e.raw(MX)
	r1.cmd("EHLO client.example.test", "250 ")
	r2 := e.raw(Submissions) // TLS
	r2.cmd("EHLO client.example.test", "250 ")
	r3 := e.raw(Submission) // before EHLO
	r4 := e.raw(MX)         // after STARTTLS: the 421 travels inside TLS
	r4.cmd("EHLO client.example.test", "250 ")
	r4.cmd("STARTTLS", "220 ")
	tc := tlsClient(r4, e)
	tc.cmd("EHLO client.example.test", "250 ")

	e.shutdown()
	for _, r := range []*raw{r1, r2, r3, tc} {
		r.expect("421 4.3.2 ")
		r.expectClosed()
	}
	if _, err := net.Dial("tcp", e.addr[MX]); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// tlsClient upgrades a raw connection after "220 Ready to start TLS".
func tlsClient(r *raw, e *env) *raw {
	c := tlsClientConn(r.conn, e)
	return &raw{t: r.t, conn: c, r: newBufReader(c)}
}

func TestShutdownWaitsForData(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
	r.cmd("RCPT TO:<alice@example.test>", "250 ")
	r.cmd("DATA", "354 ")
	r.write("Subject: in flight\r\n\r\nfirst half\r\n")
	e.waitBusy() // go-smtp says 354 just before it calls Data

	done := make(chan struct{})
	go func() {
		e.shutdown()
		close(done)
	}()
	// Wait until the server is closed to new connections, then finish.
	for {
		c, err := net.Dial("tcp", e.addr[MX])
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("Shutdown returned while a message was being received")
	default:
	}
	r.write("second half\r\n.\r\n")
	r.expect("250 ")
	r.expect("421 4.3.2 ")
	r.expectClosed()
	<-done
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 1 {
		t.Fatalf("alice has %d messages, want 1", len(msgs))
	}
}

func TestShutdownDeadline(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
	r.cmd("RCPT TO:<alice@example.test>", "250 ")
	r.cmd("DATA", "354 ")
	r.write("Subject: stalled\r\n\r\n")
	e.waitBusy()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.srv.Shutdown(ctx); err != context.Canceled {
		t.Fatalf("Shutdown = %v", err)
	}
	r.expectClosed()
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 0 {
		t.Fatalf("alice has %d messages", len(msgs))
	}
}

func TestRcptBeforeMailAndAuthInTransaction(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250 ")
	r.cmd("RCPT TO:<alice@example.test>", "502 ")
	r.cmd("MAIL FROM:<sender@remote.test>", "250 ")
	r.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwdw==", "503 5.5.1 ")
}
