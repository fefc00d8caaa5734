package pop3

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
)

// TestTricklingClientDisconnected: a POP3 client that sends a command one
// byte at a time, never finishing the line, is disconnected after [limits]
// command_line_timeout, before and after login, although every byte comes
// well within the idle timeout.
func TestTricklingClientDisconnected(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Limits.CommandLineTimeout = config.Duration(time.Second)
		c.POP3.PreAuthTimeout = config.Duration(time.Minute)
	})
	for _, login := range []bool{false, true} {
		var c *client
		if login {
			c = e.login()
		} else {
			c = e.dial(e.plain)
		}
		got := make(chan string, 1)
		go func() {
			c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			b, _ := io.ReadAll(c.r)
			got <- string(b)
		}()
		var out string
		closed := false
		for i := 0; i < 200 && !closed; i++ {
			select {
			case out = <-got:
				closed = true
			case <-time.After(100 * time.Millisecond):
				c.conn.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.conn.Write([]byte("x")); err != nil {
					out, closed = <-got, true
				}
			}
		}
		if !closed {
			t.Fatalf("login=%v: a trickling client was still connected after 20s", login)
		}
		if !strings.Contains(out, "-ERR [SYS/TEMP] command line not completed in time") {
			t.Fatalf("login=%v: server wrote %q", login, out)
		}
	}
}
