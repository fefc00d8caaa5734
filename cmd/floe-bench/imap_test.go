package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
)

func TestParseAccounts(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []imapAccount
		wantErr bool
	}{
		{"a@x:pw", []imapAccount{{"a@x", "pw"}}, false},
		{" a@x:p:w , b@x:q,", []imapAccount{{"a@x", "p:w"}, {"b@x", "q"}}, false},
		{"", nil, true},
		{"nopassword", nil, true},
		{":pw", nil, true},
	} {
		got, err := parseAccounts(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseAccounts(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("parseAccounts(%q) = %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseAccounts(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

// startFloe runs a Floe server in-process with SMTP and IMAP on loopback and
// accounts a1..an@example.test (password "pw-<local>"); it returns the
// listener addresses.
func startFloe(t *testing.T, n int) map[string]string {
	t.Helper()
	cfg := config.Development()
	cfg.Server.DataDir = t.TempDir()
	cfg.Listeners = config.Listeners{SMTP: "127.0.0.1:0", IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0"}
	cfg.IMAP.MaxConnectionsPerIP = 1000
	for i := 1; i <= n; i++ {
		h, err := auth.HashPassword("pw-a" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Accounts = append(cfg.Accounts, config.Account{Address: "a" + strconv.Itoa(i) + "@example.test", PasswordHash: h})
	}
	var logs bytes.Buffer
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	out := map[string]string{}
	for name, a := range srv.Addrs() {
		out[name] = a.String()
	}
	return out
}

func users(n int) string {
	var u []string
	for i := 1; i <= n; i++ {
		u = append(u, "a"+strconv.Itoa(i)+"@example.test:pw-a"+strconv.Itoa(i))
	}
	return strings.Join(u, ",")
}

// TestIMAPModes runs every IMAP mode briefly against a real server and
// checks their reports.
func TestIMAPModes(t *testing.T) {
	addrs := startFloe(t, 2)
	ctx := context.Background()
	runMode := func(t *testing.T, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("floe-bench %s: exit %d\nstdout:\n%s\nstderr:\n%s", args[0], code, out.String(), errb.String())
		}
		return out.String()
	}
	t.Run("mix", func(t *testing.T) {
		// One client per account: no other session expunges under it, so
		// every command must succeed.
		out := runMode(t, "imap", "-addr", addrs["imap"], "-users", users(2), "-c", "2", "-duration", "2s", "-prefill", "10")
		for _, cmd := range imapMixOrder {
			m := regexp.MustCompile(`(?m)^imap floe +cmd=` + cmd + ` +n=(\d+) `).FindStringSubmatch(out)
			if m == nil || m[1] == "0" {
				t.Errorf("no %s operations reported:\n%s", cmd, out)
			}
		}
		if !regexp.MustCompile(`(?m)^imap floe +c=2 users=2 .* ops/s=[0-9.]+ +errors=0 `).MatchString(out) {
			t.Errorf("no total line with errors=0:\n%s", out)
		}
	})
	t.Run("mix-tls", func(t *testing.T) {
		out := runMode(t, "imap", "-tls", "-addr", addrs["imaps"], "-users", users(1), "-c", "1", "-duration", "1s", "-prefill", "5")
		if !strings.Contains(out, "errors=0") {
			t.Errorf("errors reported:\n%s", out)
		}
	})
	t.Run("bigmailbox", func(t *testing.T) {
		out := runMode(t, "imap-bigmailbox", "-addr", addrs["imap"], "-users", users(1), "-n", "300", "-runs", "2")
		if !strings.Contains(out, "appended 300 messages") || !strings.Contains(out, "errors=0") {
			t.Errorf("fill line missing:\n%s", out)
		}
		// One message in a hundred carries the searched word: 0, 100, 200.
		if !regexp.MustCompile(`messages=300 runs=2 .*UID-SEARCH-TEXT=[0-9.]+ms \(3 hits\)`).MatchString(out) {
			t.Errorf("timing line missing or wrong:\n%s", out)
		}
		// A second run finds the mailbox full and only times.
		out = runMode(t, "imap-bigmailbox", "-addr", addrs["imap"], "-users", users(1), "-n", "300", "-runs", "1")
		if strings.Contains(out, "appended") || !strings.Contains(out, "messages=300 ") {
			t.Errorf("second run:\n%s", out)
		}
	})
	t.Run("idle", func(t *testing.T) {
		out := runMode(t, "imap-idle", "-addr", addrs["imap"], "-smtp", addrs["smtp"], "-users", users(2)[len("a1@example.test:pw-a1,"):],
			"-k", "3", "-n", "5")
		if !regexp.MustCompile(`imap-idle floe k=3 n=5 .*p99=[0-9.]+ms .*missed=0`).MatchString(out) {
			t.Errorf("unexpected report:\n%s", out)
		}
	})
	t.Run("conns", func(t *testing.T) {
		out := runMode(t, "imap-conns", "-addr", addrs["imap"], "-users", users(2), "-n", "40", "-p", "8",
			"-hold", "10ms", "-pid", strconv.Itoa(os.Getpid()))
		if !regexp.MustCompile(`imap-conns floe n=40 open=40 failed=0 .*server RSS before=[0-9.]+MB after=[0-9.]+MB`).MatchString(out) {
			t.Errorf("unexpected report:\n%s", out)
		}
	})
	t.Run("conns-compress", func(t *testing.T) {
		out := runMode(t, "imap-conns", "-addr", addrs["imap"], "-users", users(2), "-n", "20", "-p", "4",
			"-hold", "10ms", "-compress", "-pid", strconv.Itoa(os.Getpid()))
		if !regexp.MustCompile(`imap-conns floe compress n=20 open=20 failed=0 .*server RSS`).MatchString(out) {
			t.Errorf("unexpected report:\n%s", out)
		}
	})
	t.Run("bad-password", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run(ctx, []string{"imap", "-addr", addrs["imap"], "-users", "a1@example.test:wrong", "-c", "1", "-duration", "1s"}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "LOGIN") {
			t.Errorf("exit %d, stderr %q: want 1 and a LOGIN error", code, errb.String())
		}
	})
}
