package connsrv

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoSession answers each line with itself and says "bye" when woken.
type echoSession struct {
	c       net.Conn
	mu      sync.Mutex
	woken   bool
	aborted bool
	busy    chan struct{} // when set, the session blocks here (a command in progress)
}

func (e *echoSession) Serve() {
	defer e.c.Close()
	r := bufio.NewReader(e.c)
	for {
		line, err := r.ReadString('\n')
		e.mu.Lock()
		woken := e.woken
		e.mu.Unlock()
		if woken {
			e.c.Write([]byte("bye\n"))
			return
		}
		if err != nil {
			return
		}
		if line == "block\n" && e.busy != nil {
			<-e.busy
		}
		e.c.Write([]byte(line))
	}
}

func (e *echoSession) Wake() {
	e.mu.Lock()
	e.woken = true
	e.mu.Unlock()
	e.c.SetReadDeadline(time.Now())
}

func (e *echoSession) Abort() {
	e.mu.Lock()
	e.aborted = true
	e.mu.Unlock()
	e.c.Close()
}

func start(t *testing.T, busy chan struct{}) (*Server, string, chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil)
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(l, func(c net.Conn) Session { return &echoSession{c: c, busy: busy} })
	}()
	return s, l.Addr().String(), done
}

func TestServeAndShutdown(t *testing.T) {
	s, addr, done := start(t, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("hello\n"))
	if line, _ := r.ReadString('\n'); line != "hello\n" {
		t.Fatalf("echo = %q", line)
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d, want 1", s.Len())
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if line, _ := r.ReadString('\n'); line != "bye\n" {
		t.Fatalf("after shutdown got %q, want bye", line)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v, want nil after Shutdown", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("listener still accepts after Shutdown")
	}
	if !s.ShuttingDown() || s.Len() != 0 {
		t.Fatalf("ShuttingDown=%v Len=%d", s.ShuttingDown(), s.Len())
	}
}

func TestShutdownDeadlineAborts(t *testing.T) {
	busy := make(chan struct{})
	defer close(busy)
	s, addr, _ := start(t, busy)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("block\n")) // a command that never finishes
	for s.Len() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // let the session reach the blocking command
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	// The connection was closed by Abort: reading ends.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 10)
	if _, err := c.Read(buf); err == nil {
		t.Fatal("connection still open after Abort")
	}
}

func TestServeAfterShutdown(t *testing.T) {
	s := New(nil)
	s.Shutdown(context.Background())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l, nil); err != nil {
		t.Fatalf("Serve after Shutdown = %v", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("listener not closed")
	}
}

// ctxSession ignores Wake and Abort: it ends only when its context does,
// like a session stuck in a storage call.
type ctxSession struct {
	ctx     context.Context
	started chan struct{}
}

func (c *ctxSession) Serve() { close(c.started); <-c.ctx.Done() }
func (c *ctxSession) Wake()  {}
func (c *ctxSession) Abort() {}

// TestShutdownCancelsContext: the sessions' base context derives from the
// one given to NewContext and is cancelled when Shutdown's deadline
// passes, so work that only a context can stop ends.
func TestShutdownCancelsContext(t *testing.T) {
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	s := NewContext(base, nil)
	if s.Context().Err() != nil {
		t.Fatal("context done before shutdown")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go s.Serve(l, func(c net.Conn) Session { return &ctxSession{ctx: s.Context(), started: started} })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline", err)
	}
	if s.Context().Err() == nil {
		t.Fatal("sessions' context not cancelled after the shutdown deadline")
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("session stuck on its context did not end")
		}
		time.Sleep(time.Millisecond)
	}

	// Derived from the base: cancelling the base cancels it too.
	s2 := NewContext(base, nil)
	cancelBase()
	if s2.Context().Err() == nil {
		t.Fatal("Context not derived from the base context")
	}
}

// panicSession panics on "panic\n".
type panicSession struct{ echoSession }

func (p *panicSession) Serve() {
	r := bufio.NewReader(p.c)
	line, _ := r.ReadString('\n')
	if line == "panic\n" {
		panic("boom")
	}
	p.c.Close()
}

// TestSessionPanicRecovered: a panic in a session is logged with its stack,
// its connection is closed and untracked, and the server goes on serving.
func TestSessionPanicRecovered(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	s := New(slog.New(slog.NewTextHandler(&logs, nil)))
	go s.Serve(l, func(c net.Conn) Session { return &panicSession{echoSession{c: c}} })
	defer s.Shutdown(context.Background())
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("panic\n"))
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection of a panicked session not closed")
		}
		c.Close()
	}
	for s.Len() != 0 {
		time.Sleep(time.Millisecond)
	}
	if out := logs.String(); !strings.Contains(out, "panic in session") || !strings.Contains(out, "connsrv_test.go") {
		t.Fatalf("log lacks the panic and its stack:\n%s", out)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
