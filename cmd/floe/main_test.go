package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage/sqlite"
)

type result struct {
	code           int
	stdout, stderr string
}

// floe runs the CLI in-process with stdin.
func floe(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func (r result) expect(t *testing.T, code int, stdout string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdout) {
		t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q", r.code, code, r.stdout, r.stderr, stdout)
	}
}

func (r result) expectErr(t *testing.T, code int, stderr string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, stderr) {
		t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stderr containing %q", r.code, code, r.stdout, r.stderr, stderr)
	}
}

// writeConfig writes a config file in a temporary directory with its data
// directory beside it, listeners on the given addresses (empty: disabled),
// and extra TOML appended.
func writeConfig(t *testing.T, listeners map[string]string, extra string) (file, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nhostname = \"mail.example.com\"\ndata_dir = %q\nshutdown_timeout = \"20s\"\n\n[listeners]\n", dataDir)
	// Every listener, admin included: an omitted one would take its
	// production default (admin 127.0.0.1:9090), which another server on
	// the machine may hold.
	for _, n := range []string{"smtp", "submissions", "submission", "pop3", "pop3s", "imap", "imaps", "http", "https", "clientsvc", "admin"} {
		fmt.Fprintf(&b, "%s = %q\n", n, listeners[n])
	}
	b.WriteString("\n[[domain]]\nname = \"example.com\"\n\n")
	b.WriteString(extra)
	file = filepath.Join(dir, "floe.toml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, dataDir
}

func TestAccountCommands(t *testing.T) {
	cfgFile, _ := writeConfig(t, nil, "")
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }

	floe(t, "pw-alice-0123\n", c("account", "add", "alice@example.com", "--password-stdin", "--quota", "2MiB", "--quota-messages", "50", "--name", "Alice Liddell")...).
		expect(t, 0, "added account alice@example.com")
	// Without --password-stdin a non-terminal stdin is read as well.
	floe(t, "pw-dan-0123456\n", c("account", "add", "dan@example.com")...).expect(t, 0, "added account dan@example.com")
	// Flags before the argument work too.
	floe(t, "pw-bob-0123456", c("account", "add", "--password-stdin", "Bob@Example.com")...).expect(t, 0, "added account bob@example.com")

	r := floe(t, "", c("account", "list")...)
	r.expect(t, 0, "alice@example.com")
	if !regexp.MustCompile(`alice@example\.com\s+2MiB\s+0\s+0/50\s+db\s+enabled`).MatchString(r.stdout) {
		t.Fatalf("account list:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "bob@example.com") {
		t.Fatalf("bob missing:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`alice@example\.com\s.*enabled\s+Alice Liddell\n`).MatchString(r.stdout) {
		t.Fatalf("alice's display name not listed:\n%s", r.stdout)
	}
	// The display name changes and goes.
	floe(t, "", c("account", "name", "alice@example.com", "Alice P. Liddell")...).expect(t, 0, `display name of alice@example.com set to "Alice P. Liddell"`)
	if r := floe(t, "", c("account", "list")...); !strings.Contains(r.stdout, "Alice P. Liddell") {
		t.Fatalf("renamed:\n%s", r.stdout)
	}
	floe(t, "", c("account", "name", "alice@example.com", "")...).expect(t, 0, "display name of alice@example.com removed")
	floe(t, "", c("account", "name", "alice@example.com", "a\tb")...).expectErr(t, 2, "is not a display name")
	floe(t, "", c("account", "name", "nobody@example.com", "X")...).expectErr(t, 1, "nobody@example.com")

	// Errors: duplicate, unknown domain, empty password, bad quota, usage.
	floe(t, "x\n", c("account", "add", "alice@example.com", "--password-stdin")...).expectErr(t, 1, "already exists")
	floe(t, "x\n", c("account", "add", "a@nowhere.org", "--password-stdin")...).expectErr(t, 1, "floe domain add nowhere.org")
	floe(t, "\n", c("account", "add", "carol@example.com", "--password-stdin")...).expectErr(t, 1, "empty password")
	// [auth] min_password_length (default 10) is enforced with a clear error.
	floe(t, "short-pw1\n", c("account", "add", "carol@example.com", "--password-stdin")...).
		expectErr(t, 1, "password too short: 9 characters, at least 10 required")
	floe(t, "short-pw1\n", c("account", "passwd", "alice@example.com", "--password-stdin")...).
		expectErr(t, 1, "at least 10 required")
	floe(t, "short-pw1\n", c("hash-password", "--password-stdin")...).expectErr(t, 1, "at least 10 required")
	floe(t, "x\n", c("account", "add", "carol@example.com", "--password-stdin", "--quota", "lots")...).expectErr(t, 2, "--quota")
	floe(t, "", c("account", "add")...).expectErr(t, 2, "missing argument")
	floe(t, "", c("account", "add", "not-an-address", "--password-stdin")...).expectErr(t, 2, "not an address")
	floe(t, "", "account", "add", "x@example.com", "--bogus").expectErr(t, 2, "flag provided but not defined")

	// passwd: the new password is stored (verified through auth).
	floe(t, "new-pw-0123456\n", c("account", "passwd", "alice@example.com", "--password-stdin")...).expect(t, 0, "password of alice@example.com changed")
	st, err := server.OpenStore(t.Context(), loadTestConfig(t, cfgFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Account(t.Context(), "alice@example.com")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := auth.VerifyPassword(a.PasswordHash, "new-pw-0123456"); !ok || err != nil {
		t.Fatalf("new password does not verify: %v %v", ok, err)
	}
	floe(t, "x\n", c("account", "passwd", "nobody@example.com", "--password-stdin")...).expectErr(t, 1, "no account nobody@example.com")

	// del prints what it removed, including aliases pointing to it.
	floe(t, "", c("alias", "add", "info@example.com", "bob@example.com")...).expect(t, 0, "added alias info@example.com -> bob@example.com")
	r = floe(t, "", c("account", "del", "bob@example.com")...)
	r.expect(t, 0, "removed account bob@example.com with 0 messages")
	if !strings.Contains(r.stdout, "removed alias info@example.com") {
		t.Fatalf("account del output:\n%s", r.stdout)
	}
	r = floe(t, "", c("account", "list")...)
	if strings.Contains(r.stdout, "bob@") {
		t.Fatalf("bob still listed:\n%s", r.stdout)
	}
	floe(t, "", c("account", "del", "bob@example.com")...).expectErr(t, 1, "no account")
}

func TestConfigOwnedEntries(t *testing.T) {
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("[[account]]\naddress = \"alice@example.com\"\npassword_hash = '%s'\n\n[[alias]]\naddress = \"postmaster@example.com\"\ntarget = \"alice@example.com\"\n", h)
	cfgFile, dataDir := writeConfig(t, nil, extra)
	initStore(t, dataDir)
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }
	want := "alice@example.com is declared in " + cfgFile + "; edit the file instead"
	floe(t, "x\n", c("account", "passwd", "alice@example.com", "--password-stdin")...).expectErr(t, 1, want)
	floe(t, "", c("account", "del", "alice@example.com")...).expectErr(t, 1, want)
	floe(t, "x\n", c("account", "add", "alice@example.com", "--password-stdin")...).expectErr(t, 1, want)
	floe(t, "", c("alias", "del", "postmaster@example.com")...).expectErr(t, 1, "postmaster@example.com is declared in")
	floe(t, "", c("domain", "del", "example.com")...).expectErr(t, 1, "example.com is declared in")
	r := floe(t, "", c("account", "list")...)
	if !regexp.MustCompile(`alice@example\.com\s+unlimited\s+0\s+0\s+config\s+enabled`).MatchString(r.stdout) {
		t.Fatalf("account list:\n%s\n%s", r.stdout, r.stderr)
	}
	floe(t, "", c("alias", "list")...).expect(t, 0, "postmaster@example.com")
}

func TestDomainAndAliasCommands(t *testing.T) {
	cfgFile, _ := writeConfig(t, nil, "")
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }

	floe(t, "", c("domain", "add", "Example.NET")...).expect(t, 0, "added domain example.net")
	floe(t, "", c("domain", "add", "example.net")...).expectErr(t, 1, "already exists")
	floe(t, "", c("domain", "add", "bad domain")...).expectErr(t, 2, "not a domain name")
	floe(t, "pw-long-enough\n", c("account", "add", "joe@example.net", "--password-stdin")...).expect(t, 0, "added account")
	floe(t, "", c("domain", "add", "example.net", "--catch-all", "joe@example.net")...).expect(t, 0, "catch-all set to joe@example.net")
	r := floe(t, "", c("domain", "list")...)
	if !regexp.MustCompile(`example\.net\s+1\s+joe@example\.net\s+db`).MatchString(r.stdout) ||
		!regexp.MustCompile(`example\.com\s+0\s+-\s+config`).MatchString(r.stdout) {
		t.Fatalf("domain list:\n%s", r.stdout)
	}
	floe(t, "", c("domain", "del", "example.net")...).expectErr(t, 1, "still has 1 accounts")

	floe(t, "", c("alias", "add", "sales@example.net", "joe@example.net")...).expect(t, 0, "added alias sales@example.net -> joe@example.net")
	floe(t, "", c("alias", "add", "x@example.net", "nobody@example.net")...).expectErr(t, 1, "no account nobody@example.net")
	floe(t, "", c("alias", "add", "x@elsewhere.org", "joe@example.net")...).expectErr(t, 1, "not a local domain")
	floe(t, "", c("alias", "add", "joe@example.net", "joe@example.net")...).expectErr(t, 2, "alias of itself")
	floe(t, "", c("alias", "list")...).expect(t, 0, "sales@example.net")
	floe(t, "", c("alias", "del", "sales@example.net")...).expect(t, 0, "removed alias sales@example.net")
	floe(t, "", c("alias", "del", "sales@example.net")...).expectErr(t, 1, "no alias")
	r = floe(t, "", c("alias", "list")...)
	if strings.Contains(r.stdout, "sales@") {
		t.Fatalf("alias still listed:\n%s", r.stdout)
	}

	r = floe(t, "", c("account", "del", "joe@example.net")...)
	r.expect(t, 0, "removed the catch-all of domain example.net")
	floe(t, "", c("domain", "del", "example.net")...).expect(t, 0, "removed domain example.net")
	floe(t, "", c("domain", "del", "example.net")...).expectErr(t, 1, "no domain example.net")

	floe(t, "", c("check")...).expect(t, 0, "ok")
}

// TestDefaultConfig: without --config the CLI works on ./data with the
// development domain example.test, even though no server ever ran.
func TestDefaultConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	floe(t, "pw-long-enough\n", "account", "add", "you@example.test", "--password-stdin").expect(t, 0, "added account you@example.test")
	if _, err := os.Stat(filepath.Join("data", "floe.db")); err != nil {
		t.Fatalf("no database in ./data: %v", err)
	}
	floe(t, "", "domain", "del", "example.test").expectErr(t, 1, "declared in the built-in development config")
	floe(t, "", "check-config").expect(t, 0, "ok")
}

func TestHashPassword(t *testing.T) {
	r := floe(t, "correct horse\n", "hash-password", "--password-stdin")
	r.expect(t, 0, "$argon2id$")
	h := strings.TrimSpace(r.stdout)
	if ok, err := auth.VerifyPassword(h, "correct horse"); !ok || err != nil {
		t.Fatalf("hash %q does not verify: %v %v", h, ok, err)
	}
	if ok, _ := auth.VerifyPassword(h, "correct horse\n"); ok {
		t.Fatal("newline kept in the password")
	}
	floe(t, "", "hash-password", "--password-stdin").expectErr(t, 1, "empty password")
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[server]\ndata_dir = \"/tmp/x\"\n\n[smtp]\nmax_recipients = \"many\"\n\n[log]\nlevel = \"loud\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := floe(t, "", "check-config", "--config", bad)
	r.expectErr(t, 1, bad+":5:")
	if !strings.Contains(r.stderr, bad+":8:") {
		t.Fatalf("second error missing:\n%s", r.stderr)
	}
	floe(t, "", "check-config", bad).expectErr(t, 1, bad+":5:")
	good, _ := writeConfig(t, nil, "")
	floe(t, "", "check-config", "--config", good).expect(t, 0, "ok")
	floe(t, "", "check-config", filepath.Join(dir, "missing.toml")).expectErr(t, 1, "missing.toml")
	// Other commands refuse a bad config with the same messages.
	floe(t, "", "account", "list", "--config", bad).expectErr(t, 1, bad+":5:")
}

func TestVersionAndUsage(t *testing.T) {
	r := floe(t, "", "version")
	r.expect(t, 0, "floe dev")
	if !strings.Contains(r.stdout, runtime.Version()) {
		t.Fatalf("version output %q lacks the Go version", r.stdout)
	}
	floe(t, "").expectErr(t, 2, "Usage: floe COMMAND")
	floe(t, "", "--help").expect(t, 0, "account add")
	floe(t, "", "bogus").expectErr(t, 2, "unknown command")
	floe(t, "", "account").expectErr(t, 2, "floe account add")
	floe(t, "", "account", "--help").expect(t, 0, "floe account passwd")
	floe(t, "", "help", "alias", "add").expect(t, 0, "Usage: floe alias add ALIAS TARGET")
	floe(t, "", "account", "frobnicate").expectErr(t, 2, "unknown command")
	floe(t, "", "domain", "add", "-h").expect(t, 0, "--catch-all")
	floe(t, "", "serve", "--help").expect(t, 0, "--config")
	floe(t, "", "version", "extra").expectErr(t, 2, "unexpected argument")
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServe runs "floe serve" in-process: it starts, prints where it
// listens and how to add a user, reloads on SIGHUP (a bad file keeps the
// old config) and shuts down on SIGTERM with exit code 0.
func TestServe(t *testing.T) {
	listeners := map[string]string{"smtp": freePort(t), "pop3": freePort(t)}
	cfgFile, _ := writeConfig(t, listeners, "")
	sigs := make(chan chan<- os.Signal, 1)
	started := make(chan *server.Server, 1)
	var out, errb syncBuffer
	a := &app{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		notify:  func(c chan<- os.Signal) func() { sigs <- c; return func() {} },
		started: func(s *server.Server) { started <- s },
	}
	done := make(chan int, 1)
	go func() { done <- a.run([]string{"serve", "--config", cfgFile}) }()

	var srv *server.Server
	select {
	case srv = <-started:
	case code := <-done:
		t.Fatalf("serve exited with %d:\n%s\n%s", code, out.String(), errb.String())
	}
	sig := <-sigs
	if got := srv.Addrs()["smtp"].String(); got != listeners["smtp"] {
		t.Fatalf("smtp on %s, want %s", got, listeners["smtp"])
	}
	for _, want := range []string{"smtp", listeners["smtp"], "pop3", "floe account add you@example.com --password-stdin --config " + cfgFile} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("serve output lacks %q:\n%s", want, out.String())
		}
	}

	// The CLI, run beside the running server on the same config (its own
	// store handle, as a second process would have), adds an account that
	// receives mail and logs in at once.
	floe(t, "fresh-Secret-1\n", "account", "add", "new@example.com", "--password-stdin", "--config", cfgFile).
		expect(t, 0, "added account new@example.com")
	sc, err := smtp.Dial(listeners["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Mail("someone@remote.test"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Rcpt("new@example.com"); err != nil {
		t.Fatalf("RCPT to the account just added: %v", err)
	}
	sc.Quit()
	pc, err := textproto.Dial("tcp", listeners["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ send, want string }{
		{"", "+OK"}, {"USER new@example.com", "+OK"}, {"PASS fresh-Secret-1", "+OK"}, {"QUIT", "+OK"},
	} {
		if step.send != "" {
			pc.PrintfLine("%s", step.send)
		}
		if line, err := pc.ReadLine(); err != nil || !strings.HasPrefix(line, step.want) {
			t.Fatalf("POP3 %q: %q, %v", step.send, line, err)
		}
	}
	pc.Close()

	// SIGHUP with a broken file: logged, old config kept.
	old := srv.Config()
	orig, _ := os.ReadFile(cfgFile)
	if err := os.WriteFile(cfgFile, append(append([]byte{}, orig...), "\n[smtp]\nmax_recipients = \"x\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	sig <- syscall.SIGHUP
	waitFor(t, func() bool { return strings.Contains(errb.String(), "keeping the running config") })
	if srv.Config() != old {
		t.Fatal("bad config applied")
	}
	// SIGHUP with a good file: applied.
	if err := os.WriteFile(cfgFile, append(orig, "\n[[domain]]\nname = \"example.org\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	sig <- syscall.SIGHUP
	waitFor(t, func() bool { return len(srv.Config().Domains) == 2 })

	sig <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit code %d:\n%s", code, errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if c, err := net.Dial("tcp", listeners["smtp"]); err == nil {
		c.Close()
		t.Fatal("smtp still listening after shutdown")
	}
}

// waitFor polls cond (state changes made by another goroutine) until it
// holds; the bound is generous and only stops a hung test.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
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

func loadTestConfig(t *testing.T, file string) *config.Config {
	t.Helper()
	cfg, err := config.Load(file, config.Production())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestServeBusyPort: a listener that cannot be opened ends serve with exit 1
// and a message naming the listener and what to do.
func TestServeBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfgFile, _ := writeConfig(t, map[string]string{"pop3": freePort(t), "smtp": busy.Addr().String()}, "")
	r := floe(t, "", "serve", "--config", cfgFile)
	r.expectErr(t, 1, "listener smtp on "+busy.Addr().String())
	if !strings.Contains(r.stderr, "another program uses that address") {
		t.Fatalf("no hint:\n%s", r.stderr)
	}
}

// initStore creates the database in dataDir, as a first "floe serve" does.
func initStore(t *testing.T, dataDir string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dataDir, sqlite.Options{MaintenanceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// TestNoDataDirectory: a command run where there is no data directory says
// so instead of creating an empty one (floe check must not say "ok");
// commands that add things create it and say so.
func TestNoDataDirectory(t *testing.T) {
	cfgFile, dataDir := writeConfig(t, nil, "")
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }
	for _, args := range [][]string{{"check"}, {"account", "list"}, {"queue", "list"}, {"alias", "list"}, {"account", "del", "a@example.com"}} {
		floe(t, "", c(args...)...).expectErr(t, 1, "no Floe data in "+dataDir)
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Fatalf("floe %v created %s (%v)", args, dataDir, err)
		}
	}
	r := floe(t, "pw-long-enough\n", c("account", "add", "joe@example.com", "--password-stdin")...)
	r.expect(t, 0, "added account")
	if !strings.Contains(r.stderr, "no Floe data in "+dataDir+" yet") {
		t.Fatalf("account add did not say it created the data directory:\n%s", r.stderr)
	}
	floe(t, "", c("check")...).expect(t, 0, "ok")
}

// TestGlobalConfigFlag: --config works before the command as well as after.
func TestGlobalConfigFlag(t *testing.T) {
	cfgFile, _ := writeConfig(t, nil, "")
	floe(t, "pw-long-enough\n", "--config", cfgFile, "account", "add", "ann@example.com", "--password-stdin").expect(t, 0, "added account ann@example.com")
	floe(t, "", "--config="+cfgFile, "account", "list").expect(t, 0, "ann@example.com")
	floe(t, "", "-config", cfgFile, "check").expect(t, 0, "ok")
	floe(t, "", "account", "list", "--config", cfgFile).expect(t, 0, "ann@example.com")
}

// TestCheckConfigSaysWhat: check-config names what it checked.
func TestCheckConfigSaysWhat(t *testing.T) {
	floe(t, "", "check-config").expect(t, 0, "ok: the built-in development config")
	cfgFile, _ := writeConfig(t, nil, "")
	floe(t, "", "check-config", "--config", cfgFile).expect(t, 0, "ok: "+cfgFile)
	floe(t, "", "--config", cfgFile, "check-config").expect(t, 0, "ok: "+cfgFile)
}

// TestCheckRepairRemovesOrphans: floe check --repair removes blob files
// that nothing references (a message refused or failed after its data was
// spooled) once they are older than an hour; younger ones stay.
func TestCheckRepairRemovesOrphans(t *testing.T) {
	cfgFile, dataDir := writeConfig(t, nil, "")
	initStore(t, dataDir)
	st, err := sqlite.Open(context.Background(), dataDir, sqlite.Options{MaintenanceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	old, err := st.PutBlob(context.Background(), strings.NewReader("Subject: refused\r\n\r\nold\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	young, err := st.PutBlob(context.Background(), strings.NewReader("Subject: in flight\r\n\r\nyoung\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	oldPath, youngPath := st.Blobs().Path(old.ID), st.Blobs().Path(young.ID)
	st.Close()
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(oldPath, past, past); err != nil {
		t.Fatal(err)
	}
	floe(t, "", "check", "--repair", "--config", cfgFile).expect(t, 0, "removed 1 orphan blob files")
	if _, err := os.Stat(oldPath); !os.IsNotExist(err) {
		t.Fatalf("old orphan still there: %v", err)
	}
	if _, err := os.Stat(youngPath); err != nil {
		t.Fatalf("young unreferenced blob removed: %v", err)
	}
}

func TestSelfCommand(t *testing.T) {
	for _, tc := range []struct{ argv0, exe, want string }{
		{"/tmp/go-build123/b001/exe/floe", "/tmp/go-build123/b001/exe/floe", "go run -tags sqlite_fts5 ./cmd/floe"},
		{"bin/floe", "/src/floe/bin/floe", "bin/floe"},
		{"./floe", "/src/floe/floe", "./floe"},
		{"floe", "/usr/local/bin/floe", "floe"},
	} {
		if got := selfCommand(tc.argv0, tc.exe); got != tc.want {
			t.Errorf("selfCommand(%q, %q) = %q, want %q", tc.argv0, tc.exe, got, tc.want)
		}
	}
}

// TestServeStopsOnSIGINT: Ctrl-C (SIGINT) stops the server cleanly, with
// exit code 0 and "shutdown complete" in the log (so make run reports no
// error: TestMakeRunStopsCleanly).
func TestServeStopsOnSIGINT(t *testing.T) {
	cfgFile, _ := writeConfig(t, map[string]string{"smtp": freePort(t)}, "")
	sigs := make(chan chan<- os.Signal, 1)
	started := make(chan *server.Server, 1)
	var out, errb syncBuffer
	a := &app{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		notify:  func(c chan<- os.Signal) func() { sigs <- c; return func() {} },
		started: func(s *server.Server) { started <- s },
	}
	done := make(chan int, 1)
	go func() { done <- a.run([]string{"serve", "--config", cfgFile}) }()
	select {
	case <-started:
	case code := <-done:
		t.Fatalf("serve exited with %d:\n%s", code, errb.String())
	}
	(<-sigs) <- syscall.SIGINT
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(errb.String(), "shutdown complete") {
			t.Fatalf("exit %d after SIGINT:\n%s", code, errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop on SIGINT")
	}
}
