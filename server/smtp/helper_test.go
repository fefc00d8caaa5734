package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/certgen"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/delivery"
	"github.com/floemail/floe/server/queue"
	"github.com/floemail/floe/server/smartattach"
	"github.com/floemail/floe/server/srs"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

const password = "correct horse battery staple"

var (
	hashOnce sync.Once
	pwHash   string
)

// passwordHash hashes the test password once per test binary (argon2id is
// deliberately slow).
func passwordHash(t testing.TB) string {
	hashOnce.Do(func() {
		h, err := auth.HashPassword(password)
		if err != nil {
			panic(err)
		}
		pwHash = h
	})
	return pwHash
}

// testCert returns a self-signed certificate for mx.example.test.
var testCert = sync.OnceValue(func() tls.Certificate {
	srv, _ := certgen.Pair("mx.example.test")
	return srv.Certificates[0]
})

// env is a complete SMTP server on loopback: a real SQLite store in a
// temporary directory, the real authenticator and deliverer, and one
// listener per mode.
type env struct {
	t      testing.TB
	cfg    *config.Config
	store  *sqlite.Store
	del    *delivery.Deliverer
	srv    *Server
	addr   map[Mode]string
	client *tls.Config
	ids    map[string]storage.AccountID

	shutdownOnce sync.Once
}

type envOptions struct {
	config func(*config.Config) // adjust the config
	server func(*Server)        // adjust the server before Serve (test hooks)
	// store wraps the store the server and deliverer use (fault injection).
	store func(storage.Store) storage.Store
	// outbound gives the server an outbound queue (not started: entries
	// stay in the store for the test to inspect).
	outbound bool
	// srs rewrites the sender of forwarded mail.
	srs *srs.SRS
	// smartAttach gives the server SmartAttach (server/smartattach),
	// which the config still has to turn on.
	smartAttach bool
}

// queueLink is delivery's OutboundSubmitter (the queue, when the env has
// one), as the server wires it.
type queueLink struct{ q *queue.Queue }

func (l *queueLink) SubmitOutbound(ctx context.Context, from string, to []string, blob storage.BlobRef, acct storage.AccountID) error {
	if l.q == nil {
		return errors.New("no outbound queue")
	}
	return l.q.SubmitOutbound(ctx, from, to, blob, acct)
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, addr: map[Mode]string{}, ids: map[string]storage.AccountID{}}
	t.Cleanup(func() { st.Close() })

	cfg := config.Development()
	cfg.Server.Hostname = "mx.example.test"
	cfg.Auth.FailureDelay = 0
	cfg.Auth.MaxFailuresPerIP = 1000
	cfg.Auth.MaxFailuresPerAccount = 1000
	cfg.SMTP.CommandTimeout = config.Duration(time.Minute)
	cfg.SMTP.DataTimeout = config.Duration(time.Minute)
	if o.config != nil {
		o.config(cfg)
	}
	e.cfg = cfg

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.PutDomain(ctx, storage.Domain{Name: "example.test"}))
	must(st.PutDomain(ctx, storage.Domain{Name: "second.test"}))
	for _, a := range []storage.Account{
		{Address: "alice@example.test"},
		{Address: "bob@example.test"},
		{Address: "carol@example.test", QuotaMessages: 1, QuotaBytes: 4000},
		{Address: "dan@second.test"},
		{Address: "jörg@example.test"},
	} {
		a.PasswordHash = passwordHash(t)
		got, err := st.CreateAccount(ctx, a)
		must(err)
		e.ids[a.Address] = got.ID
	}
	must(st.PutAlias(ctx, storage.Alias{Address: "postmaster@example.test", Target: "alice@example.test"}))

	log := testLogger(t)
	getCfg := func() *config.Config { return cfg }
	a := auth.New(st, cfg.Auth, log)
	var used storage.Store = st
	if o.store != nil {
		used = o.store(st)
	}
	link := &queueLink{}
	e.del = delivery.New(delivery.Options{Store: used, Config: getCfg, Logger: log, Outbound: link, SRS: o.srs})
	serverTLS := &tls.Config{Certificates: []tls.Certificate{testCert()}, MinVersion: tls.VersionTLS12}
	e.client = &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.test"}
	var outq *queue.Queue
	if o.outbound {
		outq = queue.New(queue.Options{Store: used, Config: getCfg, Logger: log, Local: e.del})
		link.q = outq
	}
	var sa SmartAttacher
	if o.smartAttach {
		sa = smartattach.New(smartattach.Options{Store: used, Config: getCfg, Logger: log})
	}
	e.srv = New(Options{Config: getCfg, Store: used, Auth: a, Delivery: e.del, Queue: outq, TLS: serverTLS, Logger: log, SmartAttach: sa})
	if o.server != nil {
		o.server(e.srv)
	}
	var wg sync.WaitGroup
	for _, m := range []Mode{MX, Submission, Submissions} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		must(err)
		if m == Submissions {
			l = tls.NewListener(l, serverTLS)
		}
		e.addr[m] = l.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// ErrServerClosed: a short test shut the server down before
			// this goroutine got to Serve.
			if err := e.srv.Serve(l, m); err != nil && !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve(%v): %v", m, err)
			}
		}()
	}
	t.Cleanup(func() {
		e.shutdown()
		wg.Wait()
	})
	return e
}

func (e *env) shutdown() {
	e.shutdownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			e.t.Errorf("Shutdown: %v", err)
		}
	})
}

// testLogger logs to the test log when FLOE_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("FLOE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// dial returns a go-smtp client after EHLO.
func (e *env) dial(m Mode) *gosmtp.Client {
	e.t.Helper()
	var c *gosmtp.Client
	var err error
	if m == Submissions {
		c, err = gosmtp.DialTLS(e.addr[m], e.client)
	} else {
		c, err = gosmtp.Dial(e.addr[m])
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example.test"); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// inbox returns the INBOX messages of an account with their content.
func (e *env) inbox(address string) ([]storage.Message, []string) {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.store.Mailbox(ctx, e.ids[address], "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.store.Messages(ctx, mb.ID, storage.Query{})
	if err != nil {
		e.t.Fatal(err)
	}
	var bodies []string
	for _, m := range msgs {
		b, err := e.store.OpenBlob(ctx, m.Blob)
		if err != nil {
			e.t.Fatal(err)
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		bodies = append(bodies, string(data))
	}
	return msgs, bodies
}

// raw is a transcript-style client for what client libraries refuse to
// send.
type raw struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (e *env) raw(m Mode) *raw {
	e.t.Helper()
	var c net.Conn
	var err error
	if m == Submissions {
		c, err = tls.Dial("tcp", e.addr[m], e.client)
	} else {
		c, err = net.Dial("tcp", e.addr[m])
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	r := &raw{t: e.t, conn: c, r: bufio.NewReader(c)}
	r.expect("220 ")
	return r
}

// send writes a line (CRLF added).
func (r *raw) send(line string) {
	r.t.Helper()
	r.write(line + "\r\n")
}

func (r *raw) write(s string) {
	r.t.Helper()
	_ = r.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(r.conn, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// reply reads one (possibly multi-line) reply and returns its lines joined
// by "\n"; "" at EOF.
func (r *raw) reply() string {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(time.Minute))
	var lines []string
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			if len(lines) == 0 && line == "" {
				return ""
			}
			r.t.Fatalf("read: %v (after %q)", err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// expect reads a reply and checks its last line starts with prefix.
func (r *raw) expect(prefix string) string {
	r.t.Helper()
	got := r.reply()
	last := got[strings.LastIndexByte(got, '\n')+1:]
	if !strings.HasPrefix(last, prefix) {
		r.t.Fatalf("got %q, want prefix %q", got, prefix)
	}
	return got
}

// cmd sends a command and checks the reply.
func (r *raw) cmd(line, prefix string) string {
	r.t.Helper()
	r.send(line)
	return r.expect(prefix)
}

// expectClosed reads until EOF, failing on anything but the given replies.
func (r *raw) expectClosed() {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(time.Minute))
	rest, err := io.ReadAll(r.r)
	if err != nil && !isConnReset(err) {
		r.t.Fatalf("waiting for close: %v (read %q)", err, rest)
	}
}

func isConnReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// smtpCode returns the code and enhanced code of an error from go-smtp's
// client.
func smtpCode(t testing.TB, err error) (int, gosmtp.EnhancedCode) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	se, ok := err.(*gosmtp.SMTPError)
	if !ok {
		t.Fatalf("error %T %v is not an SMTP reply", err, err)
	}
	return se.Code, se.EnhancedCode
}

func wantCode(t testing.TB, err error, code int, enh gosmtp.EnhancedCode) {
	t.Helper()
	c, e := smtpCode(t, err)
	if c != code || e != enh {
		t.Fatalf("got %d %v (%v), want %d %v", c, e, err, code, enh)
	}
}

func message(subject, body string) string {
	return "From: sender@remote.test\r\nTo: alice@example.test\r\nSubject: " + subject + "\r\n\r\n" + body + "\r\n"
}

// send sends a message with a client whose session is ready for MAIL.
func send(c *gosmtp.Client, from string, to []string, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

// tlsClientConn performs a client TLS handshake on c (after STARTTLS).
func tlsClientConn(c net.Conn, e *env) net.Conn {
	e.t.Helper()
	tc := tls.Client(c, e.client)
	_ = tc.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.Handshake(); err != nil {
		e.t.Fatal(err)
	}
	_ = tc.SetDeadline(time.Time{})
	return tc
}

func newBufReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// dialStartTLS returns a go-smtp client after EHLO and STARTTLS.
func (e *env) dialStartTLS(m Mode) *gosmtp.Client {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.addr[m])
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := gosmtp.NewClientStartTLS(conn, e.client)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// waitBusy waits until some connection is receiving a message (inside Data).
func (e *env) waitBusy() {
	for {
		e.srv.mu.Lock()
		busy := false
		for tc := range e.srv.conns {
			tc.mu.Lock()
			busy = busy || tc.busy > 0
			tc.mu.Unlock()
		}
		e.srv.mu.Unlock()
		if busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
