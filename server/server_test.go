package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// testLogWriter forwards log lines to t.Log until the test ends.
type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testConfig is the development config on loopback port 0 in a temporary
// data directory, without the listeners that do not exist yet.
func testConfig(t *testing.T) *config.Config {
	cfg := config.Development()
	cfg.Server.DataDir = t.TempDir()
	cfg.Listeners = config.Listeners{
		SMTP:        "127.0.0.1:0",
		Submissions: "127.0.0.1:0",
		Submission:  "127.0.0.1:0",
		POP3:        "127.0.0.1:0",
		POP3S:       "127.0.0.1:0",
		IMAP:        "127.0.0.1:0",
		IMAPS:       "127.0.0.1:0",
	}
	return cfg
}

func startServer(t *testing.T, cfg *config.Config) *Server {
	t.Helper()
	srv, err := New(cfg, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

// clientTLS trusts the server's generated certificate and verifies it for
// serverName.
func clientTLS(t *testing.T, dataDir, serverName string) *tls.Config {
	t.Helper()
	certFile, _ := SelfSignedCertPaths(dataDir)
	pemData, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificate in " + certFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// addAccount creates an account through a second store handle, as the CLI
// does while the server runs.
func addAccount(t *testing.T, cfg *config.Config, addr, password string) {
	t.Helper()
	st, err := OpenStore(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateAccount(context.Background(), storage.Account{
		Address: addr, PasswordHash: mustHash(t, password), Source: storage.SourceDB,
	}); err != nil {
		t.Fatal(err)
	}
}

// pop3Client is a minimal POP3 client over textproto.
type pop3Client struct {
	t *testing.T
	c net.Conn
	r *textproto.Reader
	w *bufio.Writer
}

func newPOP3(t *testing.T, c net.Conn) *pop3Client {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	p := &pop3Client{t: t, c: c, r: textproto.NewReader(bufio.NewReader(c)), w: bufio.NewWriter(c)}
	p.expectOK()
	return p
}

func (p *pop3Client) expectOK() string {
	p.t.Helper()
	line, err := p.r.ReadLine()
	if err != nil {
		p.t.Fatalf("pop3: %v", err)
	}
	if !strings.HasPrefix(line, "+OK") {
		p.t.Fatalf("pop3: got %q, want +OK", line)
	}
	return line
}

func (p *pop3Client) cmd(format string, args ...any) string {
	p.t.Helper()
	fmt.Fprintf(p.w, format+"\r\n", args...)
	if err := p.w.Flush(); err != nil {
		p.t.Fatalf("pop3: %v", err)
	}
	return p.expectOK()
}

func (p *pop3Client) multiline() string {
	p.t.Helper()
	b, err := io.ReadAll(p.r.DotReader())
	if err != nil {
		p.t.Fatalf("pop3: %v", err)
	}
	return string(b)
}

func sendMail(t *testing.T, c *gosmtp.Client, from, to, subject string) {
	t.Helper()
	msg := "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + subject + "@example.test>\r\n\r\nHello " + subject + ".\r\n"
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("sending %s: %v", subject, err)
	}
}

// TestServerEndToEnd starts a full server, submits a message over STARTTLS
// with AUTH, receives one over MX, reads both over POP3S and shuts down.
func TestServerEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	cfg.POP3.MaxConnectionsPerIP = 1
	cfg.IMAP.MaxConnectionsPerIP = 1
	srv := startServer(t, cfg)
	addrs := srv.Addrs()
	for _, name := range []string{"smtp", "submissions", "submission", "pop3", "pop3s", "imap", "imaps"} {
		if addrs[name] == nil {
			t.Fatalf("no %s listener in %v", name, addrs)
		}
	}
	if len(addrs) != 7 {
		t.Fatalf("listeners %v, want exactly 7 (HTTP not yet)", addrs)
	}
	addAccount(t, cfg, "alice@example.test", "s3cret pass")
	tlsCfg := clientTLS(t, cfg.Server.DataDir, "127.0.0.1")

	// Submission: STARTTLS, then AUTH PLAIN, then the message.
	c, err := gosmtp.DialStartTLS(addrs["submission"].String(), tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "s3cret pass")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	sendMail(t, c, "alice@example.test", "alice@example.test", "submitted")
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	// Submissions: implicit TLS with a wrong password fails.
	c, err = gosmtp.DialTLS(addrs["submissions"].String(), tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "wrong")); err == nil {
		t.Fatal("AUTH with a wrong password succeeded")
	}
	c.Close()

	// MX: no AUTH needed for a local recipient.
	c, err = gosmtp.Dial(addrs["smtp"].String())
	if err != nil {
		t.Fatal(err)
	}
	sendMail(t, c, "someone@remote.test", "alice@example.test", "inbound")
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	// POP3S: both messages are there.
	tc, err := tls.Dial("tcp", addrs["pop3s"].String(), tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	p := newPOP3(t, tc)
	p.cmd("USER alice@example.test")
	p.cmd("PASS s3cret pass")
	if st := p.cmd("STAT"); !strings.HasPrefix(st, "+OK 2 ") {
		t.Fatalf("STAT = %q, want 2 messages", st)
	}
	p.cmd("RETR 1")
	m1 := p.multiline()
	p.cmd("RETR 2")
	m2 := p.multiline()
	if !strings.Contains(m1+m2, "Subject: submitted") || !strings.Contains(m1+m2, "Subject: inbound") {
		t.Fatalf("messages do not match what was sent:\n%s\n---\n%s", m1, m2)
	}

	// Plain POP3 with the per-IP limit of 1: the second client is refused.
	p1c, err := net.Dial("tcp", addrs["pop3"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer p1c.Close()
	newPOP3(t, p1c) // greeting read: the connection is admitted
	p2c, err := net.Dial("tcp", addrs["pop3"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer p2c.Close()
	_ = p2c.SetReadDeadline(time.Now().Add(60 * time.Second))
	line, err := bufio.NewReader(p2c).ReadString('\n')
	if err != nil || line != pop3Refusal {
		t.Fatalf("second POP3 connection: %q, %v; want %q", line, err, pop3Refusal)
	}
	if n := srv.Connections()["pop3"]; n != 1 {
		t.Fatalf("Connections()[pop3] = %d, want 1", n)
	}

	// IMAPS: log in and see both messages; the session stays open.
	ic, err := tls.Dial("tcp", addrs["imaps"].String(), tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	_ = ic.SetDeadline(time.Now().Add(60 * time.Second))
	ir := textproto.NewReader(bufio.NewReader(ic))
	imapCmd := func(tag, cmd string) []string {
		t.Helper()
		if _, err := fmt.Fprintf(ic, "%s %s\r\n", tag, cmd); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for {
			line, err := ir.ReadLine()
			if err != nil {
				t.Fatalf("IMAP %s: %v after %q", cmd, err, lines)
			}
			lines = append(lines, line)
			if strings.HasPrefix(line, tag+" ") {
				if !strings.HasPrefix(line, tag+" OK") {
					t.Fatalf("IMAP %s: %q", cmd, lines)
				}
				return lines
			}
		}
	}
	if g, err := ir.ReadLine(); err != nil || !strings.HasPrefix(g, "* OK [CAPABILITY IMAP4rev1") {
		t.Fatalf("IMAPS greeting %q, %v", g, err)
	}
	imapCmd("a1", `LOGIN alice@example.test "s3cret pass"`)
	if sel := imapCmd("a2", "SELECT INBOX"); !slicesContains(sel, "* 2 EXISTS") {
		t.Fatalf("IMAP SELECT: %q, want 2 messages", sel)
	}

	// Plain IMAP with the per-IP limit of 1: the second client is refused.
	i1, err := net.Dial("tcp", addrs["imap"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer i1.Close()
	_ = i1.SetReadDeadline(time.Now().Add(60 * time.Second))
	if g, err := bufio.NewReader(i1).ReadString('\n'); err != nil || !strings.HasPrefix(g, "* OK ") {
		t.Fatalf("first IMAP connection: %q, %v", g, err)
	}
	i2, err := net.Dial("tcp", addrs["imap"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer i2.Close()
	_ = i2.SetReadDeadline(time.Now().Add(60 * time.Second))
	if line, err := bufio.NewReader(i2).ReadString('\n'); err != nil || line != imapRefusal {
		t.Fatalf("second IMAP connection: %q, %v; want %q", line, err, imapRefusal)
	}

	// Graceful shutdown: the open POP3S session is told, listeners close.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if line, err := p.r.ReadLine(); err == nil && !strings.HasPrefix(line, "-ERR") {
		t.Fatalf("POP3 client got %q at shutdown, want -ERR or close", line)
	}
	if line, err := ir.ReadLine(); err != nil || !strings.HasPrefix(line, "* BYE") {
		t.Fatalf("IMAP client got %q, %v at shutdown, want * BYE", line, err)
	}
	for name, a := range addrs {
		if c, err := net.DialTimeout("tcp", a.String(), 10*time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after shutdown", name)
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	// The store was closed: a new server starts on the same data directory.
	srv2 := startServer(t, testConfig2(cfg))
	if len(srv2.Addrs()) != 7 {
		t.Fatalf("restart: %v", srv2.Addrs())
	}
}

// testConfig2 is cfg with fresh port-0 listeners (the same data directory).
func testConfig2(cfg *config.Config) *config.Config {
	c := cfg.Clone()
	c.Listeners = config.Listeners{SMTP: "127.0.0.1:0", Submissions: "127.0.0.1:0", Submission: "127.0.0.1:0",
		POP3: "127.0.0.1:0", POP3S: "127.0.0.1:0", IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0"}
	return c
}

// TestServerReload: a bad config keeps the old one; a new domain and account
// appear; listener changes are refused but the rest applies; the certificate
// is regenerated to cover the new domain.
func TestServerReload(t *testing.T) {
	cfg := testConfig(t)
	srv := startServer(t, cfg)
	addrs := srv.Addrs()
	old := srv.Config()

	bad := cfg.Clone()
	bad.TLS.CertFile = cfg.Server.DataDir + "/missing-cert.pem"
	bad.TLS.KeyFile = cfg.Server.DataDir + "/missing-key.pem"
	bad.Domains = append(bad.Domains, config.Domain{Name: "bad.test"})
	if err := srv.Reload(bad); err == nil {
		t.Fatal("reload with missing certificate files succeeded")
	}
	if srv.Config() != old {
		t.Fatal("config swapped by a failed reload")
	}
	st, err := OpenStore(context.Background(), old, nil) // also re-syncs the old config
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Domain(context.Background(), "bad.test"); err == nil {
		t.Fatal("domain of the rejected config was added")
	}
	st.Close()

	good := cfg.Clone()
	good.Domains = append(good.Domains, config.Domain{Name: "new.test"})
	good.Accounts = append(good.Accounts, config.Account{Address: "dave@new.test", PasswordHash: mustHash(t, "pw-dave")})
	good.Listeners.SMTP = "127.0.0.1:1" // needs a restart: ignored
	good.POP3.MaxConnectionsPerIP = 7
	if err := srv.Reload(good); err != nil {
		t.Fatalf("reload: %v", err)
	}
	now := srv.Config()
	if now.POP3.MaxConnectionsPerIP != 7 {
		t.Fatal("new setting not applied")
	}
	if now.Listeners.SMTP != old.Listeners.SMTP || srv.Addrs()["smtp"].String() != addrs["smtp"].String() {
		t.Fatal("listener address changed without a restart")
	}

	// The new account can log in, over TLS verified for the new domain.
	tc, err := tls.Dial("tcp", srv.Addrs()["pop3s"].String(), clientTLS(t, cfg.Server.DataDir, "new.test"))
	if err != nil {
		t.Fatalf("TLS for the new domain: %v", err)
	}
	defer tc.Close()
	p := newPOP3(t, tc)
	p.cmd("USER dave@new.test")
	p.cmd("PASS pw-dave")
	if st := p.cmd("STAT"); !strings.HasPrefix(st, "+OK 0 ") {
		t.Fatalf("STAT = %q", st)
	}
	p.cmd("QUIT")
}

// TestStartRollback: when a listener cannot be opened, Start fails naming it
// and closes what it had opened.
func TestStartRollback(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// A port that was free a moment ago, for the listener opened first.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	cfg := testConfig(t)
	cfg.Listeners = config.Listeners{SMTP: freeAddr, POP3: busy.Addr().String()}
	srv, err := New(cfg, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Start(context.Background())
	if err == nil {
		srv.Shutdown(context.Background())
		t.Fatal("Start succeeded on a busy port")
	}
	if !strings.Contains(err.Error(), "pop3") || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("error %q does not name the listener and address", err)
	}
	l, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("the smtp listener was not closed on rollback: %v", err)
	}
	l.Close()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown after failed start: %v", err)
	}
	// The store was closed too: a server starts on the same directory.
	startServer(t, testConfig2(cfg))
}

func TestNewLogger(t *testing.T) {
	var b strings.Builder
	lv := new(slog.LevelVar)
	l, err := NewLogger(config.Log{Level: "warn", Format: "json"}, &b, lv)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", "v")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), `"msg":"shown"`) {
		t.Fatalf("log output %q", b.String())
	}
	if _, err := NewLogger(config.Log{Level: "loud"}, &b, lv); err == nil {
		t.Fatal("bad level accepted")
	}
	if _, err := NewLogger(config.Log{Format: "xml"}, &b, lv); err == nil {
		t.Fatal("bad format accepted")
	}
}

// TestReloadLogLevel: a server that built its own logger applies a new
// [log] level on reload; an unknown level is refused.
func TestReloadLogLevel(t *testing.T) {
	cfg := testConfig(t)
	cfg.Log.Level = "info"
	var out syncBuf
	srv, err := New(cfg, Options{LogOutput: &out})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	srv.Logger().Debug("before-reload")
	c := cfg.Clone()
	c.Log.Level = "loud"
	if err := srv.Reload(c); err == nil {
		t.Fatal("unknown level accepted")
	}
	c.Log.Level = "debug"
	if err := srv.Reload(c); err != nil {
		t.Fatal(err)
	}
	srv.Logger().Debug("after-reload")
	if s := out.String(); strings.Contains(s, "before-reload") || !strings.Contains(s, "after-reload") {
		t.Fatalf("log output:\n%s", s)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func slicesContains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}
