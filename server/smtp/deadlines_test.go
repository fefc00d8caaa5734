package smtp

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
)

// TestTricklingClientDisconnected: an SMTP client in the command phase
// that sends one byte at a time without ever ending the line is
// disconnected after [limits] command_line_timeout, although each byte
// comes well within the command timeout.
func TestTricklingClientDisconnected(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) {
		c.SMTP.CommandTimeout = config.Duration(time.Minute)
		c.Limits.CommandLineTimeout = config.Duration(time.Second)
	}})
	r := e.raw(MX)
	r.cmd("EHLO client.test", "250")
	got := make(chan string, 1)
	go func() {
		r.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(r.r)
		got <- string(b)
	}()
	var out string
	closed := false
	for i := 0; i < 200 && !closed; i++ {
		select {
		case out = <-got:
			closed = true
		case <-time.After(100 * time.Millisecond):
			r.conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := r.conn.Write([]byte("x")); err != nil {
				out, closed = <-got, true
			}
		}
	}
	if !closed {
		t.Fatal("a trickling client was still connected after 20s")
	}
	// go-smtp answers the cut line as a command first; then the session
	// ends with the 421.
	if !strings.HasSuffix(out, "421 4.4.2 Command line not completed in time, closing connection\r\n") {
		t.Fatalf("server wrote %q, want 421 4.4.2 at the end", out)
	}
}
