package smtp

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/mailauth"
	"github.com/floemail/floe/server/mailauth/mailauthtest"
	"github.com/floemail/floe/storage"
)

// checksEnv is a server with arrival checks against a DNS server on
// loopback: evil.test fails SPF (DMARC p=reject), good.test passes (the
// client connects from 127.0.0.1).
func checksEnv(t *testing.T, action string) *env {
	dnsSrv := mailauthtest.Start(t, mailauthtest.Zone{TXT: map[string][]string{
		"evil.test":        {"v=spf1 -all"},
		"_dmarc.evil.test": {"v=DMARC1; p=reject"},
		"good.test":        {"v=spf1 ip4:127.0.0.1 -all"},
		"_dmarc.good.test": {"v=DMARC1; p=reject"},
	}})
	return newEnv(t, envOptions{
		config: func(c *config.Config) {
			c.Checks.Enabled = true
			c.Checks.DNS = dnsSrv.Addr
			c.Checks.DMARCRejectAction = action
		},
		server: func(s *Server) {
			s.opts.Checker = mailauth.New(mailauth.Options{Config: s.opts.Config})
		},
	})
}

// mailbox returns the contents of an account's mailbox.
func (e *env) mailbox(address, name string) []string {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.store.Mailbox(ctx, e.ids[address], name)
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.store.Messages(ctx, mb.ID, storage.Query{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := e.store.OpenBlob(ctx, m.Blob)
		if err != nil {
			e.t.Fatal(err)
		}
		data, _ := io.ReadAll(b)
		b.Close()
		out = append(out, string(data))
	}
	return out
}

func fromMsg(from string) string {
	return "From: " + from + "\r\nTo: alice@example.test\r\nSubject: checks\r\n\r\nHello.\r\n"
}

func TestArrivalChecks(t *testing.T) {
	for _, action := range []string{"reject", "junk", "mark"} {
		t.Run(action, func(t *testing.T) {
			e := checksEnv(t, action)
			c := e.dial(MX)
			err := send(c, "x@evil.test", []string{"alice@example.test"}, fromMsg("x@evil.test"))
			inbox, junk := e.mailbox("alice@example.test", "INBOX"), e.mailbox("alice@example.test", "Junk")
			switch action {
			case "reject":
				wantCode(t, err, 550, gosmtp.EnhancedCode{5, 7, 1})
				if len(inbox)+len(junk) != 0 {
					t.Fatalf("rejected message stored: inbox %d junk %d", len(inbox), len(junk))
				}
			case "junk":
				if err != nil || len(junk) != 1 || len(inbox) != 0 {
					t.Fatalf("err %v, inbox %d, junk %d; want the message in Junk", err, len(inbox), len(junk))
				}
			case "mark":
				if err != nil || len(inbox) != 1 || len(junk) != 0 {
					t.Fatalf("err %v, inbox %d, junk %d; want the message in INBOX", err, len(inbox), len(junk))
				}
			}
			if action != "reject" {
				got := append(inbox, junk...)[0]
				if !strings.HasPrefix(got, "Authentication-Results: mx.example.test;") {
					t.Errorf("message does not start with our Authentication-Results:\n%s", got)
				}
				unfolded := strings.ReplaceAll(got, "\r\n\t", " ")
				for _, want := range []string{"spf=fail", "smtp.mailfrom=x@evil.test", "dkim=none", "dmarc=fail", "header.from=evil.test"} {
					if !strings.Contains(unfolded, want) {
						t.Errorf("header lacks %q:\n%s", want, got)
					}
				}
				if i, j := strings.Index(got, "Authentication-Results:"), strings.Index(got, "Received:"); i < 0 || j < i {
					t.Errorf("Authentication-Results must precede Received:\n%s", got)
				}
			}

			// A passing sender goes to INBOX with spf=pass, dmarc=pass, in
			// every mode, on the same connection.
			if err := c.Reset(); err != nil {
				t.Fatal(err)
			}
			if err := send(c, "y@good.test", []string{"alice@example.test"}, fromMsg("y@good.test")); err != nil {
				t.Fatal(err)
			}
			inbox = e.mailbox("alice@example.test", "INBOX")
			last := strings.ReplaceAll(inbox[len(inbox)-1], "\r\n\t", " ")
			if !strings.Contains(last, "spf=pass") || !strings.Contains(last, "dmarc=pass") {
				t.Errorf("passing message:\n%s", last)
			}
		})
	}
}

// TestSubmissionSkipsChecks: an authenticated client is not checked, even
// with a sender domain whose policy would reject.
func TestSubmissionSkipsChecks(t *testing.T) {
	e := checksEnv(t, "reject")
	for _, m := range []Mode{Submission, MX} {
		c := e.dial(m)
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
			t.Fatal(err)
		}
		if err := send(c, "alice@example.test", []string{"bob@example.test"}, fromMsg("x@evil.test")); err != nil {
			t.Fatalf("%v: %v", m, err)
		}
	}
	for _, got := range e.mailbox("bob@example.test", "INBOX") {
		if strings.Contains(got, "Authentication-Results") {
			t.Errorf("authenticated submission was checked:\n%s", got)
		}
	}
	if n := len(e.mailbox("bob@example.test", "INBOX")); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

// A sender cannot forge this server's verdicts: an Authentication-Results
// field with our authserv-id in the incoming message is removed, ours is the
// only one left; a third party's field stays. The spooled first copy is
// discarded (no orphan blob).
func TestForgedAuthResultsRemoved(t *testing.T) {
	e := checksEnv(t, "mark")
	c := e.dial(MX)
	msg := "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=x@evil.test;\r\n\tdmarc=pass header.from=evil.test\r\n" +
		"Authentication-Results: relay.example.org; spf=none\r\n" + fromMsg("x@evil.test")
	if err := send(c, "x@evil.test", []string{"alice@example.test"}, msg); err != nil {
		t.Fatal(err)
	}
	got := e.mailbox("alice@example.test", "INBOX")
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	if n := strings.Count(got[0], "Authentication-Results: mx.example.test"); n != 1 {
		t.Fatalf("%d fields with our authserv-id, want 1 (ours):\n%s", n, got[0])
	}
	if unfolded := strings.ReplaceAll(got[0], "\r\n\t", " "); strings.Contains(unfolded, "spf=pass") || !strings.Contains(unfolded, "spf=fail") {
		t.Fatalf("forged verdict survived:\n%s", got[0])
	}
	if !strings.Contains(got[0], "Authentication-Results: relay.example.org; spf=none") {
		t.Fatalf("third-party field removed:\n%s", got[0])
	}
	orphans, err := e.store.Orphans(context.Background(), 0)
	if err != nil || len(orphans) != 0 {
		t.Fatalf("orphan blobs after delivery: %v %v", orphans, err)
	}
}
