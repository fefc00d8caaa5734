package queue

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage/sqlite"
)

// TestCrashChild is the queue process TestKill9DuringQueueRun kills: it
// opens the store, starts the queue and waits to be killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("FLOE_QUEUE_CRASH_DIR")
	if dir == "" {
		t.Skip("child process of TestKill9DuringQueueRun only")
	}
	port, _ := strconv.Atoi(os.Getenv("FLOE_QUEUE_CRASH_PORT"))
	st, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := config.Development()
	c.Outbound.DNS = os.Getenv("FLOE_QUEUE_CRASH_DNS")
	c.Outbound.Port = port
	c.Outbound.MaxPerDomain = 8
	q := New(Options{Store: st, Config: func() *config.Config { return c }})
	q.Start(context.Background())
	fmt.Println("child: queue started")
	time.Sleep(10 * time.Minute) // killed long before
}

// TestKill9DuringQueueRun queues many messages, lets a child process
// deliver them to a slow remote and kills it with SIGKILL mid-run. After
// a restart every message has reached the remote at least once and the
// store is consistent.
func TestKill9DuringQueueRun(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	const n = 60
	r := startRemote(t, func(r *remote) { r.dataDelay = 5 * time.Millisecond })
	e := newEnv(t, r.port, nil)
	e.dns.addDomain("remote.test")
	for i := range n {
		e.enqueue(e.owner, fmt.Sprintf("crash %d", i), "bob@remote.test")
	}
	dir := e.dir
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), "FLOE_QUEUE_CRASH_DIR="+dir, "FLOE_QUEUE_CRASH_DNS="+e.dns.addr,
		"FLOE_QUEUE_CRASH_PORT="+strconv.Itoa(r.port))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deliveries by the child", func() bool { return len(r.messages()) >= n/4 })
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before := len(r.messages())
	t.Logf("killed after %d of %d deliveries", before, n)

	st, err := sqlite.Open(t.Context(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if probs, err := st.Check(t.Context()); err != nil || len(probs) > 0 {
		t.Fatalf("store after kill -9: %v %v", probs, err)
	}
	e.st = st
	e.start(nil)
	waitFor(t, "the queue to drain after restart", e.queueEmpty)
	seen := map[string]int{}
	for _, m := range r.messages() {
		for _, line := range strings.Split(string(m.Data), "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				seen[s]++
			}
		}
	}
	for i := range n {
		if seen[fmt.Sprintf("crash %d", i)] == 0 {
			t.Errorf("message %d lost", i)
		}
	}
	if len(e.inbox()) != 0 {
		t.Error("a DSN was sent")
	}
	if probs, err := st.Check(t.Context()); err != nil || len(probs) > 0 {
		t.Fatalf("store check: %v %v", probs, err)
	}
}
