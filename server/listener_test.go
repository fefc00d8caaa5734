package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestLimitListener checks the per-IP limit: a client over the limit gets the
// refusal line and is closed; closing an admitted connection frees its slot.
func TestLimitListener(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry()
	ll := newLimitListener(tcp, "smtp", func() int { return 2 }, smtpRefusal, reg, slog.New(slog.DiscardHandler))
	defer ll.Close()

	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ll.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	s1, s2 := <-accepted, <-accepted
	defer s2.Close()
	if n := reg.counts()["smtp"]; n != 2 {
		t.Fatalf("registry counts %d connections, want 2", n)
	}

	// The third connection from the same IP is refused with the SMTP line.
	c3 := dial()
	_ = c3.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c3).ReadString('\n')
	if err != nil {
		t.Fatalf("reading refusal: %v", err)
	}
	if line != smtpRefusal {
		t.Fatalf("refusal = %q, want %q", line, smtpRefusal)
	}
	if _, err := c3.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("refused connection not closed: %v", err)
	}

	// Freeing a slot admits the next client.
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil { // idempotent
		t.Fatalf("second Close: %v", err)
	}
	if n := reg.counts()["smtp"]; n != 1 {
		t.Fatalf("after close registry counts %d, want 1", n)
	}
	dial()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(30 * time.Second):
		t.Fatal("connection not admitted after a slot was freed")
	}

	// Close is idempotent and Accept reports net.ErrClosed.
	if err := ll.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ll.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range accepted {
	}
}

// TestLimitListenerSilentRefusal: implicit-TLS listeners refuse by closing
// without writing.
func TestLimitListenerSilentRefusal(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry()
	ll := newLimitListener(tcp, "pop3s", func() int { return 1 }, "", reg, slog.New(slog.DiscardHandler))
	defer ll.Close()
	go func() {
		for {
			if _, err := ll.Accept(); err != nil {
				return
			}
		}
	}()
	c1, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := c2.Read(make([]byte, 64))
	if n != 0 || err != io.EOF {
		t.Fatalf("refused TLS connection: read %d bytes, err %v; want EOF and nothing", n, err)
	}
	if got := reg.counts()["pop3s"]; got != 1 {
		t.Fatalf("registry counts %d, want 1", got)
	}
	if n := reg.closeAll(); n != 1 {
		t.Fatalf("closeAll closed %d, want 1", n)
	}
	if got := reg.counts()["pop3s"]; got != 0 {
		t.Fatalf("after closeAll registry counts %d, want 0", got)
	}
}
