// Package rspamdtest starts rspamd (the Debian package) for tests: one
// normal worker bound to a random loopback port, its files in a temporary
// directory, no DNS (the resolver is a dead loopback port) and no maps
// fetched, so it never touches the network. Only the built-in checks run
// (GTUBE, the "reject" test pattern, is one).
package rspamdtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// GTUBE is the Generic Test for Unsolicited Bulk Email: rspamd rejects any
// message containing it.
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// Start starts rspamd and returns the base URL of its normal worker. It is
// stopped when the test ends. Without rspamd the test is skipped, or fails
// under CI=true (install it with .ci/deps.sh: Debian package rspamd).
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("rspamd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rspamd is not installed (Debian package rspamd; .ci/deps.sh installs it)")
		}
		t.Skip("rspamd is not installed (apt-get install rspamd)")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil { // workers may drop privileges
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tld := filepath.Join(dir, "tld.dat")
	// A short public-suffix list: the full one takes rspamd minutes to compile.
	if err := os.WriteFile(tld, []byte("com\nnet\norg\ntest\nexample\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`options {
  pidfile = "%[1]s/rspamd.pid";
  dbdir = "%[1]s";
  tempdir = "%[1]s";
  filters = "";
  url_tld = "%[2]s";
  dns { nameserver = ["127.0.0.1:9"]; timeout = 0.1s; retransmits = 0; }
}
logging { type = "file"; filename = "%[1]s/rspamd.log"; level = "info"; }
worker "normal" { bind_socket = "%[3]s"; count = 1; mime = true; }
actions { reject = 15; add_header = 6; greylist = 4; }
`, dir, tld, addr)
	cf := filepath.Join(dir, "rspamd.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", "-i", "-c", cf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// The process group: the main process and its workers.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		out.Close()
	})
	url := "http://" + addr
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "rspamd.log"))
			t.Fatalf("rspamd exited:\n%s", tail(string(log)))
		default:
		}
		if resp, err := client.Get(url + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "rspamd.log"))
	t.Fatalf("rspamd did not start within 90s:\n%s", tail(string(log)))
	return ""
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
