package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/certgen"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
	"github.com/floemail/floe/storage/sqlite"
)

const (
	testUser     = "alice@example.test"
	testPassword = "correct horse"
	otherUser    = "bob@example.test"
)

// safety bounds a test's wait for an answer so a bug fails the test instead
// of hanging it; it is never a performance threshold.
const safety = 30 * time.Second

// testCerts returns a server TLS config with a fresh self-signed
// certificate for localhost and a client config that trusts it.
var testCerts = sync.OnceValues(func() (*tls.Config, *tls.Config) {
	return certgen.Pair("localhost", "127.0.0.1")
})

// env is one running POP3 server on loopback with a real SQLite store.
type env struct {
	t       testing.TB
	store   *sqlite.Store
	auth    *auth.Authenticator
	srv     *Server
	cfg     atomic.Pointer[config.Config]
	acct    storage.Account
	other   storage.Account
	inbox   storage.Mailbox
	plain   string // STLS port
	tls     string // implicit TLS port
	remote  string // plain port whose connections look non-loopback
	served  chan error
	cliTLS  *tls.Config
	logs    *syncBuffer
	stopped bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func testConfig() *config.Config {
	c := &config.Config{}
	c.POP3.PreAuthTimeout = config.Duration(time.Minute)
	c.POP3.CommandTimeout = config.Duration(10 * time.Minute)
	c.POP3.MaxErrors = 10
	return c
}

// newStore opens a real SQLite store in a temporary directory with the
// test accounts.
func newStore(t testing.TB) (*sqlite.Store, storage.Account, storage.Account) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test", Source: storage.SourceDB}); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	var accts []storage.Account
	for _, addr := range []string{testUser, otherUser} {
		a, err := st.CreateAccount(ctx, storage.Account{Address: addr, PasswordHash: hash, Source: storage.SourceDB})
		if err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	return st, accts[0], accts[1]
}

// nonLoopback makes accepted connections report a documentation address as
// their remote, to test the plaintext policy for internet clients.
type nonLoopback struct{ net.Listener }

func (l nonLoopback) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return fakeRemote{c}, nil
}

type fakeRemote struct{ net.Conn }

func (fakeRemote) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
}

func newEnv(t testing.TB, mutate func(*config.Config)) *env {
	t.Helper()
	e := &env{t: t, served: make(chan error, 3), logs: &syncBuffer{}}
	e.store, e.acct, e.other = newStore(t)
	c := testConfig()
	if mutate != nil {
		mutate(c)
	}
	e.cfg.Store(c)
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.auth = auth.New(e.store, c.Auth, log)
	srvTLS, cliTLS := testCerts()
	e.cliTLS = cliTLS
	e.srv = New(Options{Config: e.cfg.Load, Store: e.store, Auth: e.auth, TLS: srvTLS, Logger: log})
	inbox, err := e.store.Mailbox(context.Background(), e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	e.inbox = inbox

	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	pl, tl, rl := listen(), listen(), listen()
	e.plain, e.tls, e.remote = pl.Addr().String(), tl.Addr().String(), rl.Addr().String()
	go func() { e.served <- e.srv.Serve(pl, false) }()
	go func() { e.served <- e.srv.Serve(tls.NewListener(tl, srvTLS), true) }()
	go func() { e.served <- e.srv.Serve(nonLoopback{rl}, false) }()
	t.Cleanup(func() {
		if !e.stopped {
			e.shutdown()
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// shutdown stops the server and checks that every Serve returned nil.
func (e *env) shutdown() {
	e.t.Helper()
	e.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("Shutdown: %v", err)
	}
	for range 3 {
		select {
		case err := <-e.served:
			if err != nil {
				e.t.Errorf("Serve returned %v", err)
			}
		case <-time.After(safety):
			e.t.Fatal("Serve did not return after Shutdown")
		}
	}
}

// deliver puts a message into an account's INBOX the way SMTP delivery does.
func (e *env) deliver(acct storage.Account, raw string) storage.UID {
	e.t.Helper()
	return deliverTo(e.t, e.store, acct, raw)
}

func deliverTo(t testing.TB, st storage.Store, acct storage.Account, raw string) storage.UID {
	t.Helper()
	ctx := context.Background()
	ref, err := st.PutBlob(ctx, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p, err := mimeparse.Parse(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.Deliver(ctx, ref, p, []storage.Target{{Account: acct.ID, MailboxName: "INBOX"}})
	if err != nil {
		t.Fatal(err)
	}
	if d[0].Err != nil {
		t.Fatal(d[0].Err)
	}
	return d[0].UID
}

// messages returns the UIDs and flags in the INBOX as IMAP would see them.
func (e *env) messages() []storage.Message {
	e.t.Helper()
	ms, err := e.store.Messages(context.Background(), e.inbox.ID, storage.Query{})
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

// client is a transcript-style POP3 test client.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (e *env) dial(addr string) *client {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", addr, safety)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	cl := &client{t: e.t, conn: c, r: bufio.NewReader(c)}
	cl.expect("+OK Floe POP3 server ready")
	return cl
}

func (e *env) dialTLS() *client {
	e.t.Helper()
	d := &tls.Dialer{Config: e.cliTLS, NetDialer: &net.Dialer{Timeout: safety}}
	c, err := d.DialContext(context.Background(), "tcp", e.tls)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	cl := &client{t: e.t, conn: c, r: bufio.NewReader(c)}
	cl.expect("+OK Floe POP3 server ready")
	return cl
}

// login dials the plain port and logs in with USER/PASS.
func (e *env) login() *client {
	e.t.Helper()
	c := e.dial(e.plain)
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS "+testPassword, "+OK maildrop has")
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(safety))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one response line (with its CRLF checked and removed).
func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(safety))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading response: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("response line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect reads a line and checks its prefix.
func (c *client) expect(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want prefix %q", l, prefix)
	}
	return l
}

// cmd sends a command and checks the first response line's prefix.
func (c *client) cmd(line, prefix string) string {
	c.t.Helper()
	c.send(line)
	return c.expect(prefix)
}

// multi reads the body of a multi-line response as raw wire text, up to
// and including the terminating ".\r\n".
func (c *client) multiRaw() string {
	c.t.Helper()
	var b strings.Builder
	for {
		c.conn.SetReadDeadline(time.Now().Add(safety))
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading multi-line response: %v", err)
		}
		b.WriteString(l)
		if l == ".\r\n" {
			return b.String()
		}
	}
}

// multi reads a multi-line body and returns its lines, unstuffed.
func (c *client) multi() []string {
	c.t.Helper()
	body, ok := unstuff(c.multiRaw())
	if !ok {
		c.t.Fatal("malformed multi-line response")
	}
	if body == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n")
}

// closed checks that the server closed the connection.
func (c *client) closed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(safety))
	l, err := c.r.ReadString('\n')
	if err == nil || l != "" {
		c.t.Fatalf("expected the connection to be closed, got %q, %v", l, err)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatal("connection still open")
	}
}

func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.cmd("STLS", "+OK")
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(safety))
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
