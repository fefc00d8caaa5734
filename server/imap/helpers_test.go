package imap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/certgen"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
	"github.com/floemail/floe/storage/sqlite"
)

// Test accounts (shared by every test file of the package).
const (
	testUser     = "alice@example.test"
	testPassword = "password"
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

// testEnv is one running IMAP server on loopback with a real SQLite store.
type testEnv struct {
	t      testing.TB
	store  *sqlite.Store
	auth   *auth.Authenticator
	srv    *Server
	cfg    atomic.Pointer[config.Config]
	accts  map[string]storage.Account // by address
	addr   string                     // plain (STARTTLS) listener
	tlsAdr string                     // implicit TLS listener
	cliTLS *tls.Config
	logs   *syncBuffer
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
	c := config.Development()
	c.Auth.FailureDelay = 0
	c.Auth.MaxFailuresPerIP = 1000
	c.Auth.MaxFailuresPerAccount = 1000
	return c
}

// newTestServer starts the IMAP server on 127.0.0.1:0 (plain with STARTTLS,
// and implicit TLS) with a real SQLite store in t.TempDir() and the accounts
// alice@example.test and bob@example.test, both with password "password".
func newTestServer(t testing.TB) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test", Source: storage.SourceDB}); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, store: st, accts: map[string]storage.Account{}, logs: &syncBuffer{}}
	for _, addr := range []string{testUser, otherUser} {
		a, err := st.CreateAccount(ctx, storage.Account{Address: addr, PasswordHash: hash, Source: storage.SourceDB})
		if err != nil {
			t.Fatal(err)
		}
		env.accts[addr] = a
	}
	env.cfg.Store(testConfig())
	srvTLS, cliTLS := testCerts()
	env.cliTLS = cliTLS
	log := slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.auth = auth.New(st, env.cfg.Load().Auth, log)
	env.srv = New(Options{Config: env.cfg.Load, Store: st, Auth: env.auth, TLS: srvTLS, Logger: log})

	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.addr, env.tlsAdr = plain.Addr().String(), tcp2.Addr().String()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); env.srv.Serve(plain, false) }()
	go func() { defer wg.Done(); env.srv.Serve(tls.NewListener(tcp2, srvTLS), true) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		if err := env.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		wg.Wait()
		st.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", env.logs.String())
		}
	})
	return env
}

// setConfig changes the configuration the server sees.
func (env *testEnv) setConfig(f func(c *config.Config)) {
	c := env.cfg.Load().Clone()
	f(c)
	env.cfg.Store(c)
}

// deliver stores raw in the INBOX of account (an address) and returns its UID.
func (env *testEnv) deliver(t testing.TB, account, raw string) storage.UID {
	t.Helper()
	return env.deliverTo(t, account, "INBOX", raw)
}

// deliverTo stores raw in the named mailbox of account and returns its UID.
func (env *testEnv) deliverTo(t testing.TB, account, mailbox, raw string) storage.UID {
	t.Helper()
	ctx := context.Background()
	a, ok := env.accts[account]
	if !ok {
		t.Fatalf("unknown test account %q", account)
	}
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	ref, err := env.store.PutBlob(ctx, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p, err := mimeparse.Parse(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := env.store.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID, MailboxName: mailbox}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0].UID
}

// testMessage returns a small RFC 5322 message with the given subject.
func testMessage(subject string) string {
	return "From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@example.org>\r\n\r\nHello " + subject + "\r\n"
}

// dial returns an imapclient logged in as alice.
func (env *testEnv) dial(t testing.TB) *imapclient.Client {
	t.Helper()
	return env.dialAs(t, testUser, nil)
}

// dialAs returns an imapclient logged in as user, with optional options
// (for example a UnilateralDataHandler).
func (env *testEnv) dialAs(t testing.TB, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	conn, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, opts)
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, testPassword).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// rawConn is a line-oriented client for transcript tests.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// raw connects to the plain listener and reads the greeting.
func (env *testEnv) raw(t testing.TB) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("* OK ")
	return c
}

// rawLogin connects and logs in as alice.
func (env *testEnv) rawLogin(t testing.TB) *rawConn {
	t.Helper()
	c := env.raw(t)
	c.send("L0 LOGIN " + testUser + " " + testPassword)
	c.readUntilTagged("L0")
	return c
}

// send writes line + CRLF.
func (c *rawConn) send(line string) {
	c.t.Helper()
	c.sendRaw(line + "\r\n")
}

// sendRaw writes s as it is.
func (c *rawConn) sendRaw(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(safety))
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readLine reads one response line without CRLF (literals are read as
// part of the line they follow, with their bytes inline).
func (c *rawConn) readLine() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(safety))
	var sb strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (got %q)", err, sb.String()+line)
		}
		line = strings.TrimSuffix(line, "\r\n")
		sb.WriteString(line)
		// A literal {n} at the end of the line: read n bytes and go on.
		if n, ok := literalSize(line); ok {
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				c.t.Fatalf("read literal: %v", err)
			}
			sb.WriteString("\r\n")
			sb.Write(buf)
			continue
		}
		return sb.String()
	}
}

// expect reads one line and fails unless it starts with prefix.
func (c *rawConn) expect(prefix string) string {
	c.t.Helper()
	line := c.readLine()
	if !strings.HasPrefix(line, prefix) {
		c.t.Fatalf("got %q, want prefix %q", line, prefix)
	}
	return line
}

// readUntilTagged reads lines up to and including the tagged response of
// tag and returns them all.
func (c *rawConn) readUntilTagged(tag string) []string {
	c.t.Helper()
	var lines []string
	for {
		line := c.readLine()
		lines = append(lines, line)
		if strings.HasPrefix(line, tag+" ") {
			return lines
		}
	}
}

// cmd sends a tagged command and returns its responses; it fails unless
// the tagged response starts with "<tag> <want>" (e.g. "OK", "NO", "BAD").
func (c *rawConn) cmd(tag, command, want string) []string {
	c.t.Helper()
	c.send(tag + " " + command)
	lines := c.readUntilTagged(tag)
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, tag+" "+want) {
		c.t.Fatalf("%s %s: got %q, want %s", tag, command, lines, want)
	}
	return lines
}

// hasLine reports whether some line starts with prefix.
func hasLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// literalSize parses a "{n}" or "~{n}" at the end of a response line.
func literalSize(line string) (int, bool) {
	if strings.HasPrefix(line, "+") || !strings.HasSuffix(line, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	var n int
	if _, err := fmt.Sscanf(line[i+1:len(line)-1], "%d", &n); err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
