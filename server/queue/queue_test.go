package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// dsn is a parsed RFC 3464 report.
type dsn struct {
	header   mail.Header
	human    string
	perMsg   textproto.MIMEHeader
	perRcpt  []textproto.MIMEHeader
	origType string
	orig     string
}

// parseDSN parses a multipart/report with the standard library (an
// implementation independent of the code that wrote it).
func parseDSN(t *testing.T, raw []byte) *dsn {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("DSN is not a message: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %q (%v)", m.Header.Get("Content-Type"), err)
	}
	d := &dsn{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			if i != 3 {
				t.Fatalf("DSN has %d parts, want 3", i)
			}
			return d
		}
		if err != nil {
			t.Fatalf("DSN part %d: %v", i, err)
		}
		body, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch i {
		case 0:
			if ct != "text/plain" {
				t.Fatalf("part 1 is %s", ct)
			}
			d.human = string(body)
		case 1:
			if ct != "message/delivery-status" {
				t.Fatalf("part 2 is %s", ct)
			}
			tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(body)))
			if d.perMsg, err = tp.ReadMIMEHeader(); err != nil {
				t.Fatalf("per-message fields: %v", err)
			}
			for {
				h, err := tp.ReadMIMEHeader()
				if len(h) > 0 {
					d.perRcpt = append(d.perRcpt, h)
				}
				if err != nil {
					break
				}
			}
		case 2:
			d.origType, d.orig = ct, string(body)
		}
	}
}

func TestDeliveryReuseAndDKIM(t *testing.T) {
	r := startRemote(t, nil)
	e := newEnv(t, r.port, func(c *config.Config) { c.Outbound.MaxPerDomain = 1 })
	e.dns.addDomain("remote.test")
	// Five messages due at once, one connection allowed: they share it.
	for i := range 5 {
		e.enqueue(e.owner, fmt.Sprintf("reuse %d", i), "bob@remote.test")
	}
	signer := &fakeSigner{}
	q := e.start(signer)
	waitFor(t, "delivery", e.queueEmpty)
	msgs := r.messages()
	if len(msgs) != 5 {
		t.Fatalf("remote received %d messages, want 5", len(msgs))
	}
	if n := r.conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 messages to one domain with max_per_domain 1, want 1", n)
	}
	for _, m := range msgs {
		if m.From != e.owner || !slices.Equal(m.Rcpts, []string{"bob@remote.test"}) {
			t.Errorf("envelope %s -> %v", m.From, m.Rcpts)
		}
		if !bytes.HasPrefix(m.Data, []byte("DKIM-Signature: v=1; a=ed25519-sha256; d=example.test;")) {
			t.Errorf("message not signed:\n%s", m.Data)
		}
		if !bytes.Contains(m.Data, []byte("\r\n\r\nHello reuse ")) {
			t.Errorf("body not sent intact:\n%s", m.Data)
		}
	}
	signer.mu.Lock()
	if len(signer.domains) != 5 || signer.domains[0] != "example.test" || !bytes.HasPrefix(signer.bodies[0], []byte("From: Sender")) {
		t.Errorf("signer calls: %v", signer.domains)
	}
	signer.mu.Unlock()
	if st := q.Stats(); st.Delivered != 5 || st.Bounced != 0 {
		t.Errorf("stats %+v", st)
	}
	if len(e.inbox()) != 0 {
		t.Error("a DSN was sent for a successful delivery")
	}
	if probs, err := e.st.Check(t.Context()); err != nil || len(probs) > 0 {
		t.Fatalf("store check: %v %v", probs, err)
	}
}

// TestSubmitOutbound: delivery's OutboundSubmitter (forwarder, responder)
// queues a message durably and the queue sends it with the given envelope.
func TestSubmitOutbound(t *testing.T) {
	r := startRemote(t, nil)
	e := newEnv(t, r.port, nil)
	e.dns.addDomain("remote.test")
	q := e.start(nil)
	ref := e.message("forwarded")
	if err := q.SubmitOutbound(t.Context(), "srs0=x@example.test", []string{"a@remote.test", "b@remote.test"}, ref, e.acct.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", e.queueEmpty)
	msgs := r.messages()
	if len(msgs) != 1 || msgs[0].From != "srs0=x@example.test" || !slices.Equal(msgs[0].Rcpts, []string{"a@remote.test", "b@remote.test"}) ||
		!bytes.Contains(msgs[0].Data, []byte("Hello forwarded.")) {
		t.Fatalf("remote received %+v", msgs)
	}
	if st := q.Stats(); st.Queued != 1 || st.Delivered != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestContextFromBase: the queue's context (storage calls, connections)
// derives from Options.BaseContext, so the server's shutdown cancels work
// in flight.
func TestContextFromBase(t *testing.T) {
	e := newEnv(t, 25, nil)
	base, cancel := context.WithCancel(context.Background())
	q := New(Options{Store: e.st, Config: e.config, BaseContext: base})
	id := e.enqueue(e.owner, "later", "x@remote.test")
	if err := q.Retry(int64(id)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := q.Retry(int64(id)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Retry after the base context ended: %v", err)
	}
}

func TestBounce5xx(t *testing.T) {
	r := startRemote(t, func(r *remote) {
		r.rcpt = func(to string) error {
			if strings.HasPrefix(to, "nobody@") {
				return smtpErr(550, gosmtp.EnhancedCode{5, 1, 1}, "No such user here")
			}
			return nil
		}
	})
	e := newEnv(t, r.port, nil)
	e.dns.addDomain("remote.test")
	q := e.start(nil)
	e.submit(q, e.owner, "bounce me", SubmitOptions{EnvID: "env-42", Ret: "FULL", Account: e.acct.ID},
		Recipient{Address: "nobody@remote.test", ORcpt: "rfc822;Nobody@remote.test"},
		Recipient{Address: "bob@remote.test"})
	waitFor(t, "the bounce", func() bool { return e.queueEmpty() && len(e.inbox()) == 1 })
	if msgs := r.messages(); len(msgs) != 1 || !slices.Equal(msgs[0].Rcpts, []string{"bob@remote.test"}) {
		t.Fatalf("remote got %+v", msgs)
	}
	d := parseDSN(t, e.inbox()[0])
	if to := d.header.Get("To"); !strings.Contains(to, e.owner) {
		t.Errorf("DSN To %q", to)
	}
	if d.perMsg.Get("Reporting-MTA") != "dns; floe.example.test" || d.perMsg.Get("Original-Envelope-Id") != "env-42" || d.perMsg.Get("Arrival-Date") == "" {
		t.Errorf("per-message fields %v", d.perMsg)
	}
	if len(d.perRcpt) != 1 {
		t.Fatalf("DSN reports %d recipients, want 1: %v", len(d.perRcpt), d.perRcpt)
	}
	f := d.perRcpt[0]
	want := map[string]string{
		"Final-Recipient":    "rfc822; nobody@remote.test",
		"Original-Recipient": "rfc822; Nobody@remote.test",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Remote-MTA":         "dns; mx.remote.test",
		"Diagnostic-Code":    "smtp; 550 5.1.1 No such user here",
	}
	for k, v := range want {
		if got := f.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if d.origType != "message/rfc822" || !strings.Contains(d.orig, "Subject: bounce me") || !strings.Contains(d.orig, "Hello bounce me.") {
		t.Errorf("original part %s:\n%s", d.origType, d.orig)
	}
	if !strings.Contains(d.human, "nobody@remote.test") {
		t.Errorf("human part does not name the recipient:\n%s", d.human)
	}
	if st := q.Stats(); st.Delivered != 1 || st.Bounced != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestGreylisting(t *testing.T) {
	var mu = make(chan struct{}, 1)
	seen := map[string]int{}
	r := startRemote(t, func(r *remote) {
		r.rcpt = func(to string) error {
			mu <- struct{}{}
			defer func() { <-mu }()
			seen[to]++
			if seen[to] == 1 {
				return smtpErr(451, gosmtp.EnhancedCode{4, 7, 1}, "Greylisted, try again later")
			}
			return nil
		}
	})
	e := newEnv(t, r.port, nil)
	e.dns.addDomain("remote.test")
	q := e.start(nil)
	id := e.submit(q, e.owner, "grey", SubmitOptions{}, Recipient{Address: "bob@remote.test"})
	waitFor(t, "delivery after greylisting", e.queueEmpty)
	if msgs := r.messages(); len(msgs) != 1 {
		t.Fatalf("remote got %d messages", len(msgs))
	}
	if st := q.Stats(); st.Deferred < 1 || st.Delivered != 1 || st.Bounced != 0 {
		t.Errorf("stats %+v (queue id %d)", st, id)
	}
	if len(e.inbox()) != 0 {
		t.Error("DSN sent for a greylisted, then delivered message")
	}
}

func TestRemoteDownThenUp(t *testing.T) {
	r := startRemote(t, nil)
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	e := newEnv(t, deadPort, nil)
	e.dns.addDomain("remote.test")
	q := e.start(nil)
	id := e.submit(q, e.owner, "down", SubmitOptions{}, Recipient{Address: "bob@remote.test"})
	waitFor(t, "a failed attempt", func() bool {
		en, err := e.st.QueueEntry(t.Context(), storage.QueueID(id))
		return err == nil && en.Attempts >= 2 && en.LastError != ""
	})
	en, _ := e.st.QueueEntry(t.Context(), storage.QueueID(id))
	if !strings.Contains(en.LastError, "bob@remote.test") || en.Recipients[0].Status != storage.RcptPending {
		t.Errorf("entry after failures: %+v", en)
	}
	// The server comes up.
	c := e.config().Clone()
	c.Outbound.Port = r.port
	e.cfg.Store(c)
	waitFor(t, "delivery once the remote is up", e.queueEmpty)
	if len(r.messages()) != 1 {
		t.Fatalf("remote got %d messages", len(r.messages()))
	}
}

func TestTenDomains(t *testing.T) {
	r := startRemote(t, nil)
	e := newEnv(t, r.port, nil)
	var rcpts []Recipient
	for i := range 10 {
		d := fmt.Sprintf("d%d.test", i)
		e.dns.addDomain(d)
		rcpts = append(rcpts, Recipient{Address: "user@" + d}, Recipient{Address: "other@" + d})
	}
	q := e.start(nil)
	e.submit(q, e.owner, "ten domains", SubmitOptions{}, rcpts...)
	waitFor(t, "delivery to ten domains", e.queueEmpty)
	var got []string
	for _, m := range r.messages() {
		if len(m.Rcpts) != 2 || domainOf(m.Rcpts[0]) != domainOf(m.Rcpts[1]) {
			t.Errorf("one transaction carried %v: recipients of one domain go together", m.Rcpts)
		}
		got = append(got, m.Rcpts...)
	}
	slices.Sort(got)
	var want []string
	for _, r := range rcpts {
		want = append(want, r.Address)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("delivered to %v, want %v", got, want)
	}
	if st := q.Stats(); st.Delivered != 20 {
		t.Errorf("stats %+v", st)
	}
}

func TestSmarthostAuth(t *testing.T) {
	r := startRemote(t, func(r *remote) { r.user, r.pass = "relayuser", "s3cret" })
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 1, func(c *config.Config) {
		c.Outbound.Smarthost = r.addr
		c.Outbound.SmarthostTLS = "none"
		c.Outbound.SmarthostUsername = "relayuser"
		c.Outbound.SmarthostPasswordFile = pwFile
	})
	// No DNS records at all: the smarthost replaces MX lookups.
	q := e.start(nil)
	e.submit(q, e.owner, "via relay", SubmitOptions{}, Recipient{Address: "a@nowhere.test"}, Recipient{Address: "b@elsewhere.test"})
	waitFor(t, "delivery through the smarthost", e.queueEmpty)
	msgs := r.messages()
	if len(msgs) != 1 || len(msgs[0].Rcpts) != 2 {
		t.Fatalf("smarthost got %+v", msgs)
	}
	if r.authed.Load() == 0 {
		t.Error("no AUTH at the smarthost")
	}
	if err := config.Development().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSmarthostWrongPassword(t *testing.T) {
	r := startRemote(t, func(r *remote) { r.user, r.pass = "relayuser", "right" })
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("wrong\n"), 0o600)
	e := newEnv(t, 1, func(c *config.Config) {
		c.Outbound.Smarthost, c.Outbound.SmarthostTLS = r.addr, "none"
		c.Outbound.SmarthostUsername, c.Outbound.SmarthostPasswordFile = "relayuser", pwFile
	})
	q := e.start(nil)
	id := e.submit(q, e.owner, "bad auth", SubmitOptions{}, Recipient{Address: "a@nowhere.test"})
	waitFor(t, "a deferred attempt", func() bool {
		en, err := e.st.QueueEntry(t.Context(), storage.QueueID(id))
		return err == nil && en.Attempts >= 1
	})
	// An AUTH failure is retried (the administrator fixes the password),
	// never bounced.
	if len(r.messages()) != 0 || len(e.inbox()) != 0 {
		t.Fatal("message sent or bounced despite failed AUTH")
	}
}

func TestExpiry(t *testing.T) {
	r := startRemote(t, func(r *remote) {
		r.rcpt = func(string) error { return smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "Try again later") }
	})
	e := newEnv(t, r.port, func(c *config.Config) {
		c.Outbound.MaxQueueTime = config.Duration(1) // expires at the first attempt
		c.Outbound.DelayNotice = 0
	})
	e.dns.addDomain("remote.test")
	q := e.start(nil)
	e.submit(q, e.owner, "expire", SubmitOptions{Ret: "HDRS"}, Recipient{Address: "bob@remote.test"})
	waitFor(t, "the expiry DSN", func() bool { return e.queueEmpty() && len(e.inbox()) == 1 })
	d := parseDSN(t, e.inbox()[0])
	f := d.perRcpt[0]
	if f.Get("Action") != "failed" || f.Get("Status") != "4.4.7" || !strings.Contains(f.Get("Diagnostic-Code"), "451") {
		t.Errorf("expiry fields %v", f)
	}
	if d.origType != "text/rfc822-headers" || !strings.Contains(d.orig, "Subject: expire") || strings.Contains(d.orig, "Hello") {
		t.Errorf("RET=HDRS part %s:\n%s", d.origType, d.orig)
	}
	if st := q.Stats(); st.Bounced != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDelayNotice(t *testing.T) {
	r := startRemote(t, func(r *remote) {
		r.rcpt = func(string) error { return smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "Try again later") }
	})
	e := newEnv(t, r.port, func(c *config.Config) { c.Outbound.DelayNotice = config.Duration(1) })
	e.dns.addDomain("remote.test")
	q := e.start(nil)
	id := e.submit(q, e.owner, "slow", SubmitOptions{}, Recipient{Address: "bob@remote.test"})
	waitFor(t, "several attempts", func() bool {
		en, err := e.st.QueueEntry(t.Context(), storage.QueueID(id))
		return err == nil && en.Attempts >= 3
	})
	in := e.inbox()
	if len(in) != 1 {
		t.Fatalf("%d delay notices, want exactly 1", len(in))
	}
	d := parseDSN(t, in[0])
	if f := d.perRcpt[0]; f.Get("Action") != "delayed" || f.Get("Status") != "4.3.0" || f.Get("Will-Retry-Until") == "" {
		t.Errorf("delay fields %v", f)
	}
}

func TestNotifyNeverAndNullSender(t *testing.T) {
	r := startRemote(t, func(r *remote) {
		r.rcpt = func(string) error { return smtpErr(550, gosmtp.EnhancedCode{5, 1, 1}, "No such user") }
	})
	e := newEnv(t, r.port, nil)
	e.dns.addDomain("remote.test")
	q := e.start(nil)
	e.submit(q, e.owner, "never", SubmitOptions{}, Recipient{Address: "x@remote.test", Notify: "NEVER"})
	e.submit(q, "", "a bounce", SubmitOptions{}, Recipient{Address: "y@remote.test"})
	waitFor(t, "both failures", func() bool { return e.queueEmpty() && q.Stats().Bounced == 2 })
	if len(e.inbox()) != 0 {
		t.Fatal("DSN sent for NOTIFY=NEVER or for the null sender")
	}
	// Nothing was queued for a remote sender either.
	if st := q.Stats(); st.Queued != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestNullMXAndNoDomain(t *testing.T) {
	e := newEnv(t, 1, nil)
	e.dns.setMX("nullmx.test", &net.MX{Host: ".", Pref: 0})
	q := e.start(nil)
	e.submit(q, e.owner, "null mx", SubmitOptions{}, Recipient{Address: "a@nullmx.test"}, Recipient{Address: "b@nxdomain.test"})
	waitFor(t, "the bounce", func() bool { return e.queueEmpty() && len(e.inbox()) == 1 })
	d := parseDSN(t, e.inbox()[0])
	got := map[string]string{}
	for _, f := range d.perRcpt {
		got[f.Get("Final-Recipient")] = f.Get("Status")
	}
	if got["rfc822; a@nullmx.test"] != "5.1.10" || got["rfc822; b@nxdomain.test"] != "5.1.2" {
		t.Errorf("statuses %v", got)
	}
}

func TestImplicitMX(t *testing.T) {
	r := startRemote(t, nil)
	e := newEnv(t, r.port, nil)
	e.dns.setA("amx.test", "127.0.0.1") // no MX record: the A record is the implicit MX
	// Preference order: the lower preference is tried first; the dead
	// host is skipped.
	e.dns.setMX("prefs.test", &net.MX{Host: "good.prefs.test.", Pref: 20}, &net.MX{Host: "dead.prefs.test.", Pref: 10})
	e.dns.setA("good.prefs.test", "127.0.0.1")
	e.dns.setA("dead.prefs.test", "127.0.0.2")
	q := e.start(nil)
	e.submit(q, e.owner, "implicit", SubmitOptions{}, Recipient{Address: "a@amx.test"}, Recipient{Address: "b@prefs.test"})
	waitFor(t, "delivery", e.queueEmpty)
	if n := len(r.messages()); n != 2 {
		t.Fatalf("remote got %d messages", n)
	}
}

func TestDSNParametersRelayed(t *testing.T) {
	r := startRemote(t, nil)
	e := newEnv(t, r.port, nil)
	e.dns.addDomain("remote.test")
	q := e.start(nil)
	e.submit(q, e.owner, "dsn params", SubmitOptions{EnvID: "abc"}, Recipient{Address: "bob@remote.test", Notify: "SUCCESS,FAILURE", ORcpt: "rfc822;bob@remote.test"})
	waitFor(t, "delivery", e.queueEmpty)
	m := r.messages()[0]
	if o := m.Opts[0]; len(o.Notify) != 2 || o.OriginalRecipient != "bob@remote.test" {
		t.Errorf("RCPT options at the remote: %+v", o)
	}
	// The remote supports DSN, so it reports success itself.
	if len(e.inbox()) != 0 {
		t.Error("relayed DSN sent although the remote supports DSN")
	}
}

func TestBackoff(t *testing.T) {
	o := config.Production().Outbound
	want := []string{"5m0s", "10m0s", "20m0s", "40m0s", "1h20m0s", "2h0m0s", "2h0m0s"}
	for i, w := range want {
		if got := backoff(o, i+1).String(); got != w {
			t.Errorf("attempt %d: %s, want %s", i+1, got, w)
		}
	}
}

func TestNotifies(t *testing.T) {
	for _, tc := range []struct {
		notify, event string
		want          bool
	}{
		{"", "FAILURE", true}, {"", "DELAY", true}, {"", "SUCCESS", false},
		{"NEVER", "FAILURE", false}, {"SUCCESS", "SUCCESS", true}, {"SUCCESS,DELAY", "FAILURE", false},
		{"FAILURE,DELAY", "DELAY", true},
	} {
		if got := notifies(tc.notify, tc.event); got != tc.want {
			t.Errorf("notifies(%q, %q) = %v", tc.notify, tc.event, got)
		}
	}
}

// More entries are due than one read takes: each finished job wakes the
// runner, so the rest go out at once, not at the next poll; and no entry is
// attempted twice (an entry finished during a read is not dispatched again).
func TestManyDueEntriesNoPollWait(t *testing.T) {
	r := startRemote(t, nil)
	e := newEnv(t, r.port, func(c *config.Config) { c.Outbound.PollInterval = config.Duration(time.Hour) })
	e.dns.addDomain("remote.test")
	const n = 12
	for i := range n {
		e.enqueue(e.owner, fmt.Sprintf("batch %d", i), "user@remote.test")
	}
	q := New(Options{Store: e.st, Config: e.config, Local: e.local()})
	q.dueBatch = 3
	e.q = q
	q.Start(t.Context())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Shutdown(ctx)
	})
	waitFor(t, "all entries delivered without waiting for the poll", e.queueEmpty)
	if got := len(r.messages()); got != n {
		t.Fatalf("remote received %d messages, want %d (none twice)", got, n)
	}
}
