package imap

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
)

// trickle sends s one byte at a time every gap until the server closes
// the connection or stop passes; it returns what the server wrote and
// whether it closed the connection before stop.
func trickle(t *testing.T, c *rawConn, s string, gap, stop time.Duration) (string, bool) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		c.conn.SetReadDeadline(time.Now().Add(stop))
		b, _ := io.ReadAll(c.r)
		got <- string(b)
	}()
	end := time.Now().Add(stop)
	for i := 0; time.Now().Before(end); i++ {
		select {
		case out := <-got:
			return out, true
		case <-time.After(gap):
		}
		c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.conn.Write([]byte{s[i%len(s)]}); err != nil {
			return <-got, true
		}
	}
	return <-got, false
}

// TestTricklingClientDisconnected: a client that sends a command line one
// byte at a time, never finishing it, is disconnected after [limits]
// command_line_timeout, before and after login, although each byte comes
// well within the idle timeout.
func TestTricklingClientDisconnected(t *testing.T) {
	env := newTestServer(t)
	env.setConfig(func(c *config.Config) {
		c.Limits.CommandLineTimeout = config.Duration(time.Second)
		c.IMAP.PreAuthTimeout = config.Duration(time.Minute)
	})
	for _, login := range []bool{false, true} {
		c := env.raw(t)
		if login {
			c.cmd("L", "LOGIN "+testUser+" "+testPassword, "OK")
		}
		out, closed := trickle(t, c, "a NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 100*time.Millisecond, 20*time.Second)
		if !closed {
			t.Fatalf("login=%v: a trickling client was still connected after 20s", login)
		}
		if !strings.Contains(out, "* BYE command line not completed in time") {
			t.Fatalf("login=%v: server wrote %q", login, out)
		}
	}
	// A slow but complete command, and IDLE beyond the line timeout, are
	// not cut.
	c := env.raw(t)
	c.cmd("L", "LOGIN "+testUser+" "+testPassword, "OK")
	c.send("I IDLE")
	c.expect("+ ")
	time.Sleep(1500 * time.Millisecond)
	c.send("DONE")
	c.readUntilTagged("I")
	c.cmd("N", "NOOP", "OK")
}

// TestClientNotReadingDisconnected: a client that asks for a large message
// and never reads the response is disconnected after [limits]
// write_timeout, and the server goes on serving others.
func TestClientNotReadingDisconnected(t *testing.T) {
	env := newTestServer(t)
	env.setConfig(func(c *config.Config) { c.Limits.WriteTimeout = config.Duration(time.Second) })
	big := testMessage("big") + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 16<<10) // 16 MiB
	env.deliver(t, testUser, big)

	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.DialContext(context.Background(), "tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("* OK")
	c.cmd("L", "LOGIN "+testUser+" "+testPassword, "OK")
	c.cmd("S", "SELECT INBOX", "OK")
	c.send("F FETCH 1 BODY[]")
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for {
		if strings.Contains(env.logs.String(), "connection closed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server was still writing to a client that does not read after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Others are served.
	other := env.raw(t)
	other.cmd("L", "LOGIN "+otherUser+" "+testPassword, "OK")
	// A client that went away is not a server fault.
	if strings.Contains(env.logs.String(), "level=ERROR") {
		t.Fatalf("client behaviour logged at ERROR:\n%s", env.logs.String())
	}
}

// TestMalformedSASLNotAnError: a SASL response that does not follow the
// mechanism fails the login with NO [AUTHENTICATIONFAILED] and is not
// logged at ERROR level.
func TestMalformedSASLNotAnError(t *testing.T) {
	env := newTestServer(t)
	c := env.raw(t)
	l := c.cmd("a", "AUTHENTICATE PLAIN bm8tbnVscy1oZXJl", "NO") // "no-nuls-here"
	if !strings.Contains(l[len(l)-1], "[AUTHENTICATIONFAILED]") {
		t.Fatalf("got %q", l)
	}
	if strings.Contains(env.logs.String(), "level=ERROR") {
		t.Fatalf("client behaviour logged at ERROR:\n%s", env.logs.String())
	}
}
