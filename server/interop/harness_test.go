package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
	"github.com/floemail/floe/storage/sqlite"
)

// domain is the domain of config.Development(); every test account lives in it.
const domain = "example.test"

// password returns the password of a test account (by local part).
func password(local string) string { return "pw-" + local + "-Secret1" }

// env is one Floe server running in-process on random loopback ports.
type env struct {
	dir   string
	cfg   *config.Config
	srv   *server.Server
	addrs map[string]net.Addr
	logs  *syncBuffer
	once  sync.Once
}

// startServer starts a server with the development config, every mail
// listener (SMTP, submission(s), POP3(S), IMAP(S)) on 127.0.0.1:0, data in
// a temporary directory, and one account
// local@example.test (password password(local)) per name in locals. The
// server is shut down when the test ends; its log is printed if the test
// failed.
func startServer(t *testing.T, locals ...string) *env {
	t.Helper()
	return startServerWith(t, nil, locals...)
}

// startServerWith is startServer with mod applied to the config last (it
// may replace the data directory, the domains and the accounts).
func startServerWith(t *testing.T, mod func(c *config.Config), locals ...string) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Development()
	cfg.Server.DataDir = dir
	cfg.Server.ShutdownTimeout = config.Duration(10 * time.Second)
	cfg.Listeners = config.Listeners{
		SMTP:        "127.0.0.1:0",
		Submission:  "127.0.0.1:0",
		Submissions: "127.0.0.1:0",
		POP3:        "127.0.0.1:0",
		POP3S:       "127.0.0.1:0",
		IMAP:        "127.0.0.1:0",
		IMAPS:       "127.0.0.1:0",
	}
	cfg.Log.Level = "debug"
	for _, l := range locals {
		h, err := auth.HashPassword(password(l))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Accounts = append(cfg.Accounts, config.Account{Address: l + "@" + domain, PasswordHash: h})
	}

	if mod != nil {
		mod(cfg)
	}
	e := &env{dir: cfg.Server.DataDir, cfg: cfg, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(cfg, server.Options{Logger: log, Stdout: e.logs})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("server.Start: %v\nlog:\n%s", err, e.logs.String())
	}
	e.srv = srv
	e.addrs = srv.Addrs()
	t.Cleanup(func() {
		e.stop(t)
		if t.Failed() {
			t.Logf("server log (tail):\n%s", tail(e.logs.String(), 16<<10))
		}
	})
	return e
}

// stop shuts the server down (once).
func (e *env) stop(t *testing.T) {
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("server.Shutdown: %v", err)
		}
	})
}

// addr returns host:port of the named listener.
func (e *env) addr(t *testing.T, name string) string {
	t.Helper()
	a, ok := e.addrs[name]
	if !ok || a == nil {
		t.Fatalf("server has no listener %q (has %v)", name, e.addrs)
	}
	return a.String()
}

// port returns the port of the named listener.
func (e *env) port(t *testing.T, name string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(e.addr(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// storedMsg is one message as the store holds it.
type storedMsg struct {
	UID   storage.UID
	Flags []string
	Raw   []byte
}

// withStore opens a second handle on the server's store (the way the floe
// CLI does while a server runs) and calls fn with it. Deliveries in flight
// are not disturbed (only temporary files an hour old are cleared).
func (e *env) withStore(t *testing.T, fn func(ctx context.Context, st *sqlite.Store)) {
	t.Helper()
	withStoreDir(t, e.dir, fn)
}

func withStoreDir(t *testing.T, dir string, fn func(ctx context.Context, st *sqlite.Store)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}()
	fn(ctx, st)
}

// mailbox returns the messages of local@example.test's mailbox, with their
// raw content.
func (e *env) mailbox(t *testing.T, local, name string) []storedMsg {
	t.Helper()
	var out []storedMsg
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		out = readMailbox(ctx, t, st, local+"@"+domain, name)
	})
	return out
}

func readMailbox(ctx context.Context, t *testing.T, st storage.Store, address, name string) []storedMsg {
	t.Helper()
	acct, err := st.Account(ctx, address)
	if err != nil {
		t.Fatalf("account %s: %v", address, err)
	}
	mb, err := st.Mailbox(ctx, acct.ID, name)
	if err != nil {
		t.Fatalf("mailbox %s of %s: %v", name, address, err)
	}
	msgs, err := st.Messages(ctx, mb.ID, storage.Query{})
	if err != nil {
		t.Fatalf("messages of %s: %v", address, err)
	}
	var out []storedMsg
	for _, m := range msgs {
		b, err := st.OpenBlob(ctx, m.Blob)
		if err != nil {
			t.Fatalf("blob of %s UID %d: %v", address, m.UID, err)
		}
		raw, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			t.Fatalf("read blob: %v", err)
		}
		if int64(len(raw)) != m.Size {
			t.Errorf("%s UID %d: blob has %d bytes, Size says %d", address, m.UID, len(raw), m.Size)
		}
		out = append(out, storedMsg{UID: m.UID, Flags: m.Flags, Raw: raw})
	}
	return out
}

// seed stores each raw message in local@example.test's INBOX directly
// through the store (PutBlob, parse, Deliver), independently of the SMTP
// server, as another process sharing the database would.
func (e *env) seed(t *testing.T, local string, raws ...[]byte) {
	t.Helper()
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		acct, err := st.Account(ctx, local+"@"+domain)
		if err != nil {
			t.Fatalf("account: %v", err)
		}
		for _, raw := range raws {
			ref, err := st.PutBlob(ctx, bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("PutBlob: %v", err)
			}
			p, err := mimeparse.Parse(bytes.NewReader(raw), int64(len(raw)))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			res, err := st.Deliver(ctx, ref, p, []storage.Target{{Account: acct.ID, MailboxName: "INBOX"}})
			if err != nil || len(res) != 1 || res[0].Err != nil {
				t.Fatalf("Deliver: %v %+v", err, res)
			}
		}
	})
}

// token returns a unique marker for one test message.
func token(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// testMessage returns a small CRLF message whose subject and body carry tok.
func testMessage(from, to, tok string) []byte {
	return []byte(fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: interop %s\r\n"+
		"Message-ID: <%s@interop.test>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"+
		"Hello from the interop suite.\r\nToken: %s\r\n.leading dot line\r\nBye.\r\n",
		from, to, tok, tok, tok))
}

// withToken returns the messages whose raw content contains tok.
func withToken(msgs []storedMsg, tok string) []storedMsg {
	var out []storedMsg
	for _, m := range msgs {
		if bytes.Contains(m.Raw, []byte(tok)) {
			out = append(out, m)
		}
	}
	return out
}

// bodyOf returns the part of raw after the header (after the first blank line).
func bodyOf(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[i+4:]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[i+2:]
	}
	return nil
}

// expectOne checks that msgs holds exactly one message with tok whose body
// contains wantBody, and returns it.
func expectOne(t *testing.T, msgs []storedMsg, tok, wantBody string) storedMsg {
	t.Helper()
	got := withToken(msgs, tok)
	if len(got) != 1 {
		t.Fatalf("want exactly 1 stored message with %s, have %d (mailbox has %d)", tok, len(got), len(msgs))
	}
	if body := bodyOf(got[0].Raw); !bytes.Contains(normalizeCRLF(body), normalizeCRLF([]byte(wantBody))) {
		t.Errorf("stored body does not contain %q:\n%s", wantBody, got[0].Raw)
	}
	return got[0]
}

func normalizeCRLF(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

// needTool returns the path of an external program; when it is missing the
// test is skipped, or fails with CI=true (the CI script installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; the test command installs it (apt-get install %s)", name, pkg)
	}
	t.Skipf("%s is not installed (apt-get install %s); skipping", name, pkg)
	return ""
}

// needCapability checks that an installed tool can do what a test needs
// (a library it loads at run time, such as swaks' Net::SSLeay for TLS):
// probe is run and must exit 0. Like needTool, under CI=true a failure is a
// test failure naming the Debian package; elsewhere the test is skipped.
func needCapability(t *testing.T, what, pkg string, probe ...string) {
	t.Helper()
	out, err := exec.Command(probe[0], probe[1:]...).CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not available (%v: %s); the test command installs it (apt-get install %s)",
			what, err, strings.TrimSpace(string(out)), pkg)
	}
	t.Skipf("%s is not available (apt-get install %s); skipping", what, pkg)
}

// toolResult is the outcome of one external program run.
type toolResult struct {
	Out  string // stdout and stderr, interleaved
	Code int
}

// runTool runs an external program with a time limit and returns its output
// and exit status. It fails the test only when the program cannot be run.
func runTool(t *testing.T, stdin []byte, env []string, name string, args ...string) toolResult {
	t.Helper()
	return runToolIn(t, "", stdin, env, name, args...)
}

// runToolIn is runTool in the working directory dir ("": the test's).
func runToolIn(t *testing.T, dir string, stdin []byte, env []string, name string, args ...string) toolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out syncBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := toolResult{Out: out.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		t.Fatalf("run %s: %v\n%s", name, err, res.Out)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s timed out:\n%s", name, res.Out)
	}
	return res
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// lines splits tool output into trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// fetchmailRun drives fetchmail against one of e's implicit-TLS listeners
// ("pop3s" or "imaps") for local's account, delivering each message to its
// own file through an MDA.
type fetchmailRun struct {
	bin, home, out, rc string
}

func newFetchmail(t *testing.T, e *env, bin, protocol, listener, local string) *fetchmailRun {
	t.Helper()
	f := &fetchmailRun{bin: bin, home: t.TempDir()}
	f.out = filepath.Join(f.home, "out")
	f.rc = filepath.Join(f.home, "fetchmailrc")
	if err := os.Mkdir(f.out, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("set no bouncemail\n"+
		"poll 127.0.0.1 with protocol %s service %s auth password timeout 30\n"+
		"  user \"%s@%s\" there with password \"%s\" is root here\n"+
		"  options ssl no sslcertck\n"+
		"  mda \"cat > $(mktemp %s/msg.XXXXXX)\"\n",
		protocol, e.port(t, listener), local, domain, password(local), f.out)
	if err := os.WriteFile(f.rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// run runs fetchmail once with keep ("--keep" or "--nokeep").
func (f *fetchmailRun) run(t *testing.T, keep string) toolResult {
	t.Helper()
	return runTool(t, nil, []string{"HOME=" + f.home, "FETCHMAILHOME=" + f.home},
		f.bin, "-f", f.rc, "--nosyslog", "-N", "--pidfile", filepath.Join(f.home, "pid"),
		"-i", filepath.Join(f.home, "ids"), "--all", keep, "-v")
}

// expectFetched runs fetchmail with keep, which must succeed and deliver
// each message of toks (made by testMessage) exactly once with its body
// intact, dot-stuffed line included; the delivered files are removed.
func (f *fetchmailRun) expectFetched(t *testing.T, keep string, toks []string) {
	t.Helper()
	if r := f.run(t, keep); r.Code != 0 {
		t.Fatalf("fetchmail %s exit %d:\n%s", keep, r.Code, r.Out)
	}
	ents, err := os.ReadDir(f.out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(toks) {
		t.Fatalf("fetchmail delivered %d messages, want %d", len(ents), len(toks))
	}
	var got []string
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(f.out, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(normalizeCRLF(b)))
		os.Remove(filepath.Join(f.out, ent.Name()))
	}
	for _, tok := range toks {
		n := 0
		for _, m := range got {
			if strings.Contains(m, "Token: "+tok+"\n.leading dot line\n") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("message %s arrived %d times with its body intact, want 1", tok, n)
		}
	}
}

// runMutt runs mutt (in a terminal made by script(1), as mutt needs one) as
// user over IMAPS with spool as its spoolfile, the lines of extra added to
// its muttrc and keys pushed as input; flags go before -F (for example
// "-d 2" for a debug log in its home). The server's self-signed
// certificate is put in certificate_file, so mutt (GnuTLS) asks nothing.
// It fails the test when mutt exits non-zero, and returns mutt's home and
// its output.
func (e *env) runMutt(t *testing.T, user, spool, extra, keys, flags string) (home, out string) {
	t.Helper()
	mutt := needTool(t, "mutt", "mutt")
	script := needTool(t, "script", "bsdutils")
	home = t.TempDir()
	pem, err := os.ReadFile(e.certFile(t))
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(home, "certs")
	if err := os.WriteFile(certs, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(home, "muttrc")
	conf := fmt.Sprintf(`set folder="imaps://localhost:%s/"
set imap_user="%s@%s"
set imap_pass="%s"
set spoolfile="%s"
set certificate_file="%s"
set ssl_verify_host=no
set confirmcreate=no
set confirmappend=no
set move=no
set quit=yes
set wait_key=no
set mark_old=no
set beep=no
set header_cache=""
set message_cachedir=""
%s`, e.port(t, "imaps"), user, domain, password(user), spool, certs, extra)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf("%s %s -n -F %s -e 'push \"%s\"'", mutt, flags, rc, keys)
	r := runTool(t, nil, []string{"HOME=" + home, "TERM=xterm", "COLUMNS=120", "LINES=40"},
		script, "-qec", cmd, "/dev/null")
	if r.Code != 0 {
		t.Fatalf("mutt exit %d:\n%s", r.Code, r.Out)
	}
	return home, r.Out
}
