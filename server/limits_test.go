package server

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// imapDial connects to addr and returns the connection and the greeting.
func imapDial(t *testing.T, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	greeting, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return c, r, greeting
}

// imapCmd sends one command and returns its tagged response line.
func imapCmd(t *testing.T, c net.Conn, r *bufio.Reader, tag, cmd string) string {
	t.Helper()
	if _, err := fmt.Fprintf(c, "%s %s\r\n", tag, cmd); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if strings.HasPrefix(line, tag+" ") {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

// TestReconnectingIMAPClientsNotRefused: with the default limits, 20 IMAP
// clients from one address, all logging in as one account and reconnecting
// again and again (imaptest's default profile), are never refused; a
// connection counts only while it is open.
func TestReconnectingIMAPClientsNotRefused(t *testing.T) {
	cfg := testConfig(t)
	srv := startServer(t, cfg)
	addAccount(t, cfg, "alice@example.test", "alice-password")
	addr := srv.Addrs()["imap"].String()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				r := bufio.NewReader(c)
				greeting, err := r.ReadString('\n')
				if err != nil || !strings.HasPrefix(greeting, "* OK") {
					t.Errorf("client %d round %d refused: %q %v", i, j, greeting, err)
					c.Close()
					return
				}
				fmt.Fprintf(c, "a LOGIN alice@example.test alice-password\r\nb NOOP\r\nc LOGOUT\r\n")
				var ok int
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						break
					}
					if strings.HasPrefix(line, "a OK") || strings.HasPrefix(line, "b OK") || strings.HasPrefix(line, "c OK") {
						ok++
					}
				}
				c.Close()
				if ok != 3 {
					t.Errorf("client %d round %d: %d of 3 commands OK", i, j, ok)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestSMTPSourceNotRefused: 20 concurrent SMTP sessions from one address
// (Postfix's smtp-source -s 20), each sending messages and reconnecting, are
// not refused with the defaults.
func TestSMTPSourceNotRefused(t *testing.T) {
	cfg := testConfig(t)
	srv := startServer(t, cfg)
	addAccount(t, cfg, "alice@example.test", "alice-password")
	addr := srv.Addrs()["smtp"].String()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				c, err := gosmtp.Dial(addr)
				if err != nil {
					t.Errorf("session %d round %d: %v", i, j, err)
					return
				}
				msg := fmt.Sprintf("Subject: %d-%d\r\n\r\nhello\r\n", i, j)
				if err := c.SendMail("src@remote.test", []string{"alice@example.test"}, strings.NewReader(msg)); err != nil {
					t.Errorf("session %d round %d: %v", i, j, err)
				}
				c.Quit()
			}
		}()
	}
	wg.Wait()
}

// TestGlobalConnectionCap: [limits] max_connections refuses connections
// beyond it with a line that says why, the share kept for logged-in users
// refuses clients that have not logged in first, and logged-in
// connections still fit in the reserve.
func TestGlobalConnectionCap(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxConnections = 4
	cfg.Limits.LoginReservePercent = 50 // 2 for clients not logged in
	srv := startServer(t, cfg)
	addAccount(t, cfg, "alice@example.test", "alice-password")
	addr := srv.Addrs()["imap"].String()

	c1, r1, _ := imapDial(t, addr)
	c2, r2, _ := imapDial(t, addr)
	// A third client not logged in is over the unauthenticated share.
	_, _, g := imapDial(t, addr)
	if !strings.HasPrefix(g, "* BYE [UNAVAILABLE] server busy") {
		t.Fatalf("third pre-login connection: %q, want BYE [UNAVAILABLE]", g)
	}
	// Logging in moves a connection into the reserve and frees a
	// pre-login slot.
	if got := imapCmd(t, c1, r1, "a", "LOGIN alice@example.test alice-password"); !strings.HasPrefix(got, "a OK") {
		t.Fatal(got)
	}
	if got := imapCmd(t, c2, r2, "a", "LOGIN alice@example.test alice-password"); !strings.HasPrefix(got, "a OK") {
		t.Fatal(got)
	}
	c3, r3, g := imapDial(t, addr)
	if !strings.HasPrefix(g, "* OK") {
		t.Fatalf("pre-login connection after two logins: %q", g)
	}
	if got := imapCmd(t, c3, r3, "a", "LOGIN alice@example.test alice-password"); !strings.HasPrefix(got, "a OK") {
		t.Fatal(got)
	}
	imapDial(t, addr) // the 4th: total reached
	// The 5th is over the total, on any listener.
	c, err := net.Dial("tcp", srv.Addrs()["smtp"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.3.2 Server busy") {
		t.Fatalf("over the total: %q", line)
	}
}

// TestPerUserAddressLimit: [imap] max_connections_per_user_ip bounds the
// logged-in connections of one account from one address with NO [LIMIT];
// another account from the same address is not affected, and a logout frees
// the slot.
func TestPerUserAddressLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.IMAP.MaxConnectionsPerUserIP = 2
	cfg.POP3.MaxConnectionsPerUserIP = 1
	srv := startServer(t, cfg)
	addAccount(t, cfg, "alice@example.test", "alice-password")
	addAccount(t, cfg, "bob@example.test", "bob-password")
	addr := srv.Addrs()["imap"].String()
	login := func(user string) (net.Conn, string) {
		c, r, _ := imapDial(t, addr)
		return c, imapCmd(t, c, r, "a", "LOGIN "+user+"@example.test "+user+"-password")
	}
	c1, got := login("alice")
	if !strings.HasPrefix(got, "a OK") {
		t.Fatal(got)
	}
	if _, got := login("alice"); !strings.HasPrefix(got, "a OK") {
		t.Fatal(got)
	}
	if _, got := login("alice"); !strings.HasPrefix(got, "a NO [LIMIT]") {
		t.Fatalf("third login of alice: %q, want NO [LIMIT]", got)
	}
	if _, got := login("bob"); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("bob from the same address: %q", got)
	}
	c1.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, got := login("alice")
		if strings.HasPrefix(got, "a OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after a logout: %q", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRegistrySources: IPv6 clients are grouped by /64 for the per-address
// limit; IPv4 clients by address.
func TestRegistrySources(t *testing.T) {
	reg := newRegistry()
	a := func(s string) refusal {
		return reg.admit("imap", netip.MustParseAddr(s), 2, &trackedConn{name: "imap", reg: reg})
	}
	for _, ip := range []string{"2001:db8::1", "2001:db8::2:3"} {
		if r := a(ip); r != admitted {
			t.Fatalf("%s: %v", ip, r)
		}
	}
	if r := a("2001:db8::ffff"); r != refusedAddr {
		t.Fatalf("third address of one /64 admitted")
	}
	if r := a("2001:db8:0:1::1"); r != admitted {
		t.Fatalf("another /64 refused")
	}
	if r := a("192.0.2.1"); r != admitted || a("192.0.2.2") != admitted || a("192.0.2.1") != admitted || a("192.0.2.1") != refusedAddr {
		t.Fatal("IPv4 addresses counted together")
	}
	// Another protocol has its own count.
	if r := reg.admit("pop3", netip.MustParseAddr("2001:db8::9"), 2, &trackedConn{name: "pop3", reg: reg}); r != admitted {
		t.Fatal("pop3 counted with imap")
	}
}
