package interop

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// buildFloe builds the floe binary into a temporary directory.
func buildFloe(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "floe")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-tags", "sqlite_fts5", "-o", bin, "github.com/floemail/floe/cmd/floe")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build floe: %v\n%s", err, out)
	}
	return bin
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// writeConfig writes a floe.toml for a server with its data in dataDir and
// the mail listeners on the given loopback ports (smtp, submission,
// submissions, pop3, pop3s), everything else disabled. Limits are raised so
// that the load does not hit them.
func writeConfig(t *testing.T, path, dataDir string, ports []int) {
	t.Helper()
	conf := fmt.Sprintf(`[server]
hostname = "localhost"
data_dir = %q
shutdown_timeout = "10s"

[listeners]
smtp = "127.0.0.1:%d"
submission = "127.0.0.1:%d"
submissions = "127.0.0.1:%d"
pop3 = "127.0.0.1:%d"
pop3s = "127.0.0.1:%d"
imap = ""
imaps = ""
http = ""
https = ""
clientsvc = ""
admin = ""

[smtp]
max_messages_per_connection = 1000000
max_connections_per_ip = 1000

[pop3]
max_connections_per_ip = 1000

[log]
level = "warn"

[[domain]]
name = %q
`, dataDir, ports[0], ports[1], ports[2], ports[3], ports[4], domain)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
}

// floeCmd runs a floe subcommand to completion and returns its output and
// exit status.
func floeCmd(t *testing.T, bin string, stdin string, args ...string) toolResult {
	t.Helper()
	var in []byte
	if stdin != "" {
		in = []byte(stdin)
	}
	return runTool(t, in, nil, bin, args...)
}

// floeProc is one running `floe serve`.
type floeProc struct {
	cmd  *exec.Cmd
	done chan error
}

func startFloe(t *testing.T, bin, cfgFile string, log *os.File) *floeProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfgFile)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start floe serve: %v", err)
	}
	p := &floeProc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *floeProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// waitSMTP waits until an SMTP greeting arrives on addr, or the process
// exits, or the time is up.
func (p *floeProc) waitSMTP(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("floe serve exited before answering: %v", err)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 512)
			n, _ := conn.Read(buf)
			conn.Close()
			if strings.HasPrefix(string(buf[:n]), "220") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no SMTP greeting on %s after %v", addr, limit)
}

// ledger records, per message token, its recipients and whether the server
// acknowledged it.
type ledger struct {
	mu       sync.Mutex
	sent     map[string][]string // token -> recipients, for every message whose DATA began
	acked    map[string]bool
	failures map[string]int // error kinds seen by the senders
}

func newLedger() *ledger {
	return &ledger{sent: map[string][]string{}, acked: map[string]bool{}, failures: map[string]int{}}
}

func (l *ledger) record(tok string, rcpts []string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[tok] = rcpts
	if err == nil {
		l.acked[tok] = true
		return
	}
	kind := "network"
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		kind = fmt.Sprintf("smtp %d", se.Code)
	}
	l.failures[kind]++
}

// crashSender delivers messages to addr until ctx ends, reconnecting after
// every failure. Each message goes to one or two random accounts and carries
// a unique token in its subject.
func crashSender(ctx context.Context, addr string, round, worker int, accounts []string, led *ledger) {
	rng := rand.New(rand.NewPCG(uint64(round), uint64(worker)))
	seq := 0
	for ctx.Err() == nil {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c := smtp.NewClient(conn)
		c.CommandTimeout = 10 * time.Second
		c.SubmissionTimeout = 20 * time.Second
		for ctx.Err() == nil {
			tok := fmt.Sprintf("crash-r%04d-w%02d-m%05d", round, worker, seq)
			seq++
			rcpts := []string{accounts[rng.IntN(len(accounts))]}
			if rng.IntN(3) == 0 {
				if other := accounts[rng.IntN(len(accounts))]; other != rcpts[0] {
					rcpts = append(rcpts, other)
				}
			}
			began, err := sendCrashMessage(c, tok, rcpts, 512+rng.IntN(8192))
			if began {
				led.record(tok, rcpts, err)
			}
			if err != nil {
				break
			}
		}
		c.Close()
	}
}

// sendCrashMessage sends one message; began reports whether DATA was
// started (from then on the server may have stored it).
func sendCrashMessage(c *smtp.Client, tok string, rcpts []string, size int) (began bool, err error) {
	if err := c.Mail("crash@remote.test", nil); err != nil {
		return false, err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return false, err
		}
	}
	w, err := c.Data()
	if err != nil {
		return false, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: <crash@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@crash.test>\r\n\r\n",
		strings.Join(rcpts, ">, <"), tok, tok)
	for b.Len() < size {
		b.WriteString("All work and no play makes Floe a durable server.\r\n")
	}
	if _, err := w.Write([]byte(b.String())); err != nil {
		return true, err
	}
	return true, w.Close()
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// TestCrashRecovery kills `floe serve` with SIGKILL during heavy delivery,
// restarts it, and repeats; then checks that no acknowledged message was
// lost or duplicated and that `floe check` passes.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped with -short")
	}
	seconds := envInt(t, "FLOE_CRASH_SECONDS", 60)
	maxRounds := envInt(t, "FLOE_CRASH_ROUNDS", 0) // 0: as many as fit in the time
	const senders = 8

	bin := buildFloe(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfgFile := filepath.Join(dir, "floe.toml")
	ports := freePorts(t, 5)
	writeConfig(t, cfgFile, dataDir, ports)
	smtpAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	logPath := filepath.Join(dir, "floe.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	showLog := func() string {
		b, _ := os.ReadFile(logPath)
		return tail(string(b), 8<<10)
	}

	var accounts []string
	for i := range 4 {
		a := fmt.Sprintf("crash%d@%s", i, domain)
		if r := floeCmd(t, bin, password("crash")+"\n", "account", "add", a, "--password-stdin", "--config", cfgFile); r.Code != 0 {
			t.Fatalf("floe account add %s: exit %d\n%s", a, r.Code, r.Out)
		}
		accounts = append(accounts, a)
	}

	led := newLedger()
	var current *floeProc
	t.Cleanup(func() {
		if current != nil {
			current.kill()
		}
	})
	start := time.Now()
	deadline := start.Add(time.Duration(seconds) * time.Second)
	rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), 1))
	kills := 0
	for round := 0; (maxRounds == 0 || round < maxRounds) && (round == 0 || time.Now().Before(deadline)); round++ {
		current = startFloe(t, bin, cfgFile, logFile)
		if err := current.waitSMTP(smtpAddr, 60*time.Second); err != nil {
			t.Fatalf("round %d (after %d kills): %v\nlog:\n%s", round, kills, err, showLog())
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				crashSender(ctx, smtpAddr, round, w, accounts, led)
			}()
		}
		time.Sleep(time.Duration(50+rng.IntN(451)) * time.Millisecond)
		current.kill()
		kills++
		current = nil
		cancel()
		wg.Wait()
	}

	// Restart once more, deliver a last batch normally, and stop gracefully.
	current = startFloe(t, bin, cfgFile, logFile)
	if err := current.waitSMTP(smtpAddr, 60*time.Second); err != nil {
		t.Fatalf("restart after %d kills: %v\nlog:\n%s", kills, err, showLog())
	}
	c, err := smtp.Dial(smtpAddr)
	if err != nil {
		t.Fatalf("dial after %d kills: %v", kills, err)
	}
	for i := range 10 {
		tok := fmt.Sprintf("crash-final-m%05d", i)
		rcpts := []string{accounts[i%len(accounts)]}
		_, err := sendCrashMessage(c, tok, rcpts, 1024)
		led.record(tok, rcpts, err)
		if err != nil {
			t.Fatalf("delivery after %d kills: %v\nlog:\n%s", kills, err, showLog())
		}
	}
	c.Quit()
	current.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-current.done:
		if err != nil {
			t.Errorf("floe serve after SIGINT: %v\nlog:\n%s", err, showLog())
		}
	case <-time.After(60 * time.Second):
		t.Errorf("floe serve did not stop within 60s of SIGINT")
		current.kill()
	}
	current = nil

	if r := floeCmd(t, bin, "", "check", "--config", cfgFile); r.Code != 0 {
		t.Errorf("floe check after %d kills: exit %d\n%s", kills, r.Code, r.Out)
	}

	// Count what the store holds, per (token, account).
	found := map[string]int{}
	withStoreDir(t, dataDir, func(ctx context.Context, st *sqlite.Store) {
		for _, a := range accounts {
			acct, err := st.Account(ctx, a)
			if err != nil {
				t.Fatalf("account %s: %v", a, err)
			}
			mb, err := st.Mailbox(ctx, acct.ID, "INBOX")
			if err != nil {
				t.Fatalf("INBOX of %s: %v", a, err)
			}
			msgs, err := st.Messages(ctx, mb.ID, storage.Query{Fields: storage.FieldEnvelope})
			if err != nil {
				t.Fatalf("messages of %s: %v", a, err)
			}
			for _, m := range msgs {
				subj := ""
				if m.Envelope != nil {
					subj = m.Envelope.Subject
				}
				found[subj+" "+a]++
			}
		}
	})

	led.mu.Lock()
	defer led.mu.Unlock()
	lost, dup, unknown, unackedStored := 0, 0, 0, 0
	for tok, rcpts := range led.sent {
		for _, a := range rcpts {
			n := found[tok+" "+a]
			delete(found, tok+" "+a)
			switch {
			case n > 1:
				dup++
				if dup <= 10 {
					t.Errorf("message %s stored %d times for %s", tok, n, a)
				}
			case n == 0 && led.acked[tok]:
				lost++
				if lost <= 10 {
					t.Errorf("acknowledged message %s lost for %s", tok, a)
				}
			case n == 1 && !led.acked[tok]:
				unackedStored++
			}
		}
	}
	for k, n := range found {
		unknown++
		if unknown <= 10 {
			t.Errorf("store holds %d unexpected message(s) %q", n, k)
		}
	}
	t.Logf("%d kills in %v; %d messages begun, %d acknowledged (all checked), %d stored without acknowledgement; sender failures %v",
		kills, time.Since(start).Round(time.Second), len(led.sent), len(led.acked), unackedStored, led.failures)
	if lost+dup+unknown > 0 {
		t.Errorf("%d lost, %d duplicated, %d unexpected", lost, dup, unknown)
	}
	if len(led.acked) <= 10 { // the 10 of the final batch are always acknowledged
		t.Errorf("no message was acknowledged between kills: the test did not exercise crash recovery")
	}
}
