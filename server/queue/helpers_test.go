package queue

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/sqlite"
)

// --- DNS server on loopback (github.com/miekg/dns) ---

type dnsServer struct {
	addr string
	mu   sync.Mutex
	mx   map[string][]*net.MX // name (fqdn) -> MX records
	a    map[string]string    // name (fqdn) -> IPv4
}

// startDNS serves MX and A records; every name in mx has "mx.<name>" as
// its mail host resolving to 127.0.0.1 unless set otherwise.
func startDNS(t testing.TB) *dnsServer {
	t.Helper()
	d := &dnsServer{mx: map[string][]*net.MX{}, a: map[string]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: d}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return d
}

// addDomain gives domain one MX, mx.<domain>, at 127.0.0.1.
func (d *dnsServer) addDomain(domain string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mx[dns.Fqdn(domain)] = []*net.MX{{Host: "mx." + dns.Fqdn(domain), Pref: 10}}
	d.a["mx."+dns.Fqdn(domain)] = "127.0.0.1"
}

func (d *dnsServer) setMX(domain string, mxs ...*net.MX) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mx[dns.Fqdn(domain)] = mxs
}

func (d *dnsServer) setA(name, ip string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.a[dns.Fqdn(name)] = ip
}

func (d *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		mxs, hasMX := d.mx[name]
		ip, hasA := d.a[name]
		if !hasMX && !hasA {
			m.Rcode = dns.RcodeNameError
			continue
		}
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
		switch q.Qtype {
		case dns.TypeMX:
			for _, mx := range mxs {
				hdr.Rrtype = dns.TypeMX
				m.Answer = append(m.Answer, &dns.MX{Hdr: hdr, Preference: mx.Pref, Mx: mx.Host})
			}
		case dns.TypeA:
			if hasA {
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.ParseIP(ip).To4()})
			}
		}
	}
	_ = w.WriteMsg(m)
}

// --- remote SMTP server (go-smtp) ---

type received struct {
	From  string
	Rcpts []string
	Data  []byte
	Opts  []*gosmtp.RcptOptions
	TLS   bool // the message came over a TLS connection
}

type remote struct {
	addr  string
	port  int
	conns atomic.Int64
	mu    sync.Mutex
	msgs  []received
	// rcpt decides per recipient (nil: accept).
	rcpt func(to string) error
	// auth, when set, requires AUTH PLAIN with these credentials.
	user, pass string
	// dataDelay slows DATA down (crash test).
	dataDelay time.Duration
	authed    atomic.Int64
	// tls, when set, makes the server offer STARTTLS with it.
	tls *tls.Config
}

func startRemote(t testing.TB, configure func(r *remote)) *remote {
	t.Helper()
	r := &remote{}
	if configure != nil {
		configure(r)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := gosmtp.NewServer(r)
	s.Domain = "remote.example"
	s.AllowInsecureAuth = true
	s.EnableDSN = true
	s.EnableSMTPUTF8 = true
	s.MaxRecipients = 100
	s.ErrorLog = log.New(io.Discard, "", 0)
	s.ReadTimeout = time.Minute
	s.WriteTimeout = time.Minute
	s.TLSConfig = r.tls
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	r.addr = l.Addr().String()
	r.port = l.Addr().(*net.TCPAddr).Port
	return r
}

func (r *remote) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	r.conns.Add(1)
	return &remoteSession{r: r, c: c}, nil
}

func (r *remote) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

type remoteSession struct {
	r      *remote
	c      *gosmtp.Conn
	authed bool
	cur    received
}

func (s *remoteSession) AuthMechanisms() []string {
	if s.r.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *remoteSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.r.user || password != s.r.pass {
			return errors.New("bad credentials")
		}
		s.authed = true
		s.r.authed.Add(1)
		return nil
	}), nil
}

func (s *remoteSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.r.user != "" && !s.authed {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.cur = received{From: from}
	return nil
}

func (s *remoteSession) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if s.r.rcpt != nil {
		if err := s.r.rcpt(to); err != nil {
			return err
		}
	}
	s.cur.Rcpts = append(s.cur.Rcpts, to)
	s.cur.Opts = append(s.cur.Opts, opts)
	return nil
}

func (s *remoteSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.r.dataDelay > 0 {
		time.Sleep(s.r.dataDelay)
	}
	s.cur.Data = b
	_, s.cur.TLS = s.c.TLSConnectionState()
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, s.cur)
	s.r.mu.Unlock()
	return nil
}

func (s *remoteSession) Reset()        { s.cur = received{} }
func (s *remoteSession) Logout() error { return nil }

func smtpErr(code int, enh gosmtp.EnhancedCode, msg string) error {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// --- the queue under test ---

type env struct {
	t     *testing.T
	st    *sqlite.Store
	dns   *dnsServer
	cfg   atomic.Pointer[config.Config]
	q     *Queue
	acct  storage.Account
	owner string
	dir   string
}

// newEnv opens a store with a local account sender@example.test, a DNS
// server, and a queue (not started) configured for fast retries.
func newEnv(t *testing.T, port int, mod func(c *config.Config)) *env {
	t.Helper()
	e := &env{t: t, dns: startDNS(t), owner: "sender@example.test"}
	e.dir = t.TempDir()
	st, err := sqlite.Open(t.Context(), e.dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	ctx := t.Context()
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	if e.acct, err = st.CreateAccount(ctx, storage.Account{Address: e.owner, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	c := config.Development()
	c.Server.Hostname = "floe.example.test"
	c.Outbound.DNS = e.dns.addr
	c.Outbound.Port = port
	c.Outbound.RetryInitial = config.Duration(20 * time.Millisecond)
	c.Outbound.RetryMax = config.Duration(50 * time.Millisecond)
	c.Outbound.PollInterval = config.Duration(20 * time.Millisecond)
	c.Outbound.ConnectTimeout = config.Duration(10 * time.Second)
	c.Outbound.CommandTimeout = config.Duration(30 * time.Second)
	if mod != nil {
		mod(c)
	}
	e.cfg.Store(c)
	return e
}

func (e *env) config() *config.Config { return e.cfg.Load() }

// start creates and starts the queue.
func (e *env) start(signer Signer) *Queue {
	e.q = New(Options{Store: e.st, Config: e.config, Signer: signer, Local: e.local()})
	e.q.Start(e.t.Context())
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.q.Shutdown(ctx)
	})
	return e.q
}

// message stores a test message and returns its blob.
func (e *env) message(subject string) storage.BlobRef {
	e.t.Helper()
	raw := fmt.Sprintf("From: Sender <%s>\r\nTo: someone@remote.test\r\nSubject: %s\r\nMessage-ID: <%s@example.test>\r\n\r\nHello %s.\r\n",
		e.owner, subject, strings.ReplaceAll(subject, " ", "-"), subject)
	ref, err := e.st.PutBlob(e.t.Context(), strings.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// submit queues a message through Submit.
func (e *env) submit(q *Queue, from, subject string, opts SubmitOptions, rcpts ...Recipient) int64 {
	e.t.Helper()
	id, err := q.Submit(e.t.Context(), from, rcpts, e.message(subject), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// enqueue stores an entry without a running queue.
func (e *env) enqueue(from, subject string, rcpts ...string) storage.QueueID {
	e.t.Helper()
	ref := e.message(subject)
	entry := storage.QueueEntry{Blob: ref.ID, Size: ref.Size, From: from, NextAttempt: time.Now()}
	for _, r := range rcpts {
		entry.Recipients = append(entry.Recipients, storage.QueueRecipient{Address: r})
	}
	id, err := e.st.Enqueue(e.t.Context(), entry)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// waitFor polls cond until it holds; the deadline only guards against a
// hung test.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// queueEmpty reports whether the queue table is empty.
func (e *env) queueEmpty() bool {
	es, err := e.st.QueueEntries(context.Background())
	return err == nil && len(es) == 0
}

// inbox returns the raw messages in the sender's INBOX.
func (e *env) inbox() [][]byte {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, e.acct.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.st.Messages(ctx, mb.ID, storage.Query{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := e.st.OpenBlob(ctx, m.Blob)
		if err != nil {
			e.t.Fatal(err)
		}
		data, _ := io.ReadAll(b)
		b.Close()
		out = append(out, data)
	}
	return out
}

// fakeSigner records calls and returns a fixed header.
type fakeSigner struct {
	mu      sync.Mutex
	domains []string
	bodies  [][]byte
}

func (f *fakeSigner) Sign(domain string, msg io.Reader) (string, error) {
	b, err := io.ReadAll(msg)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.domains = append(f.domains, domain)
	f.bodies = append(f.bodies, b)
	return "DKIM-Signature: v=1; a=ed25519-sha256; d=" + domain + "; s=test; b=fake\r\n", nil
}

var _ = bytes.Contains

// local is the test's queue.LocalDeliverer: example.test is the local
// domain, its accounts take DSNs in INBOX through the write path. (The
// server wires server/delivery instead; its own tests cover it.)
func (e *env) local() LocalDeliverer { return testLocal{e.st} }

type testLocal struct{ st storage.Store }

func (l testLocal) DeliverLocal(ctx context.Context, from, to string, blob storage.BlobRef) (bool, error) {
	if !strings.HasSuffix(to, "@example.test") {
		return false, nil
	}
	acct, err := l.st.Account(ctx, to)
	if err != nil {
		return true, err
	}
	res, err := ingest.Deliver(ctx, l.st, blob, []storage.Target{{Account: acct.ID}})
	if err != nil {
		return true, err
	}
	return true, res[0].Err
}
