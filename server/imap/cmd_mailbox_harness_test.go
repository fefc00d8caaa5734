package imap

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// mbxEnv is the mailbox tests' server: a real SQLite store in t.TempDir(),
// accounts alice@example.test (an administrator) and bob@example.test, both
// with password "password", served on loopback.
type mbxEnv struct {
	addr  string
	store *sqlite.Store
	alice storage.Account
	bob   storage.Account
}

func newMbxEnv(t *testing.T) *mbxEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	env := &mbxEnv{store: st}
	for _, p := range []*storage.Account{&env.alice, &env.bob} {
		addr := "alice@example.test"
		if p == &env.bob {
			addr = "bob@example.test"
		}
		*p, err = st.CreateAccount(ctx, storage.Account{Address: addr, PasswordHash: hash})
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Development()
	cfg.Auth.Admins = []string{"alice@example.test"}
	cfg.Auth.FailureDelay = 0
	env.addr = serveTest(t, st, cfg)
	return env
}

// client returns an imapclient logged in as user.
func (env *mbxEnv) client(t *testing.T, user string) *imapclient.Client {
	t.Helper()
	return loginTest(t, env.addr, user)
}

// mbxConn is a raw connection for transcript tests.
type mbxConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// raw returns a connection logged in as user (or not logged in when user
// is "").
func (env *mbxEnv) raw(t *testing.T, user string) *mbxConn {
	t.Helper()
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &mbxConn{t: t, c: c, r: bufio.NewReader(c)}
	rc.line() // greeting
	if user != "" {
		rc.cmd("L0 LOGIN " + user + " password")
	}
	return rc
}

func (rc *mbxConn) line() string {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends a command line (tag first) and returns the untagged lines and
// the tagged response. Literal data is returned inline after its line.
func (rc *mbxConn) cmd(line string) (untagged []string, tagged string) {
	rc.t.Helper()
	tag, _, _ := strings.Cut(line, " ")
	if _, err := rc.c.Write([]byte(line + "\r\n")); err != nil {
		rc.t.Fatal(err)
	}
	for {
		l := rc.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// ok runs cmd and fails unless the tagged response is OK.
func (rc *mbxConn) ok(line string) []string {
	rc.t.Helper()
	u, tagged := rc.cmd(line)
	tag, _, _ := strings.Cut(line, " ")
	if !strings.HasPrefix(tagged, tag+" OK") {
		rc.t.Fatalf("%s\n-> %q %s", line, u, tagged)
	}
	return u
}

// want runs cmd and checks the tagged response prefix and the untagged
// lines (exactly, in order).
func (rc *mbxConn) want(line, taggedPrefix string, untagged ...string) {
	rc.t.Helper()
	u, tagged := rc.cmd(line)
	tag, _, _ := strings.Cut(line, " ")
	if !strings.HasPrefix(tagged, tag+" "+taggedPrefix) {
		rc.t.Errorf("%s\n-> tagged %q, want prefix %q (untagged %q)", line, tagged, tag+" "+taggedPrefix, u)
		return
	}
	if strings.Join(u, "\n") != strings.Join(untagged, "\n") {
		rc.t.Errorf("%s\n-> untagged\n  %s\nwant\n  %s", line, strings.Join(u, "\n  "), strings.Join(untagged, "\n  "))
	}
}

// mbxLogWriter sends server log lines to the test log.
type mbxLogWriter struct{ t *testing.T }

func (w mbxLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// serveTest serves IMAP from st with cfg on a random loopback port until
// the test ends, logging warnings to the test log, and returns the address.
func serveTest(t *testing.T, st storage.Store, cfg *config.Config) string {
	t.Helper()
	srv := New(Options{
		Config: func() *config.Config { return cfg },
		Store:  st,
		Auth:   auth.New(st, cfg.Auth, slog.New(slog.DiscardHandler)),
		Logger: slog.New(slog.NewTextHandler(mbxLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

// loginTest returns an imapclient connected to addr and logged in as user
// (password "password"), closed when the test ends.
func loginTest(t *testing.T, addr, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, "password").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}
