package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/storagetest"
)

// TestCrashChild is the child process of TestKill9: it delivers messages
// from several goroutines until killed, printing each acknowledged UID.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("FLOE_CRASH_DIR")
	if dir == "" {
		t.Skip("child process of TestKill9 only")
	}
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Account(context.Background(), "alice@example.test")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				raw, p := storagetest.NewMessage(fmt.Sprintf("crash %d-%d", g, i), "a@remote.test", "alice@example.test", "body")
				ref, err := s.PutBlob(context.Background(), bytes.NewReader(raw))
				if err != nil {
					return
				}
				ds, err := s.Deliver(context.Background(), ref, p, []storage.Target{{Account: a.ID}})
				if err != nil || ds[0].Err != nil {
					return
				}
				if i%3 == 0 { // some expunges too, so blobs get deleted
					if _, err := s.Expunge(context.Background(), ds[0].Mailbox, []storage.UID{ds[0].UID}); err != nil {
						return
					}
					continue
				}
				mu.Lock()
				fmt.Printf("acked %d\n", ds[0].UID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestKill9 kills a process in the middle of deliveries and checks that
// every acknowledged message is there and the store is consistent.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	setup(t, s)
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FLOE_CRASH_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[storage.UID]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var uid storage.UID
		if _, err := fmt.Sscanf(sc.Text(), "acked %d", &uid); err == nil {
			acked[uid] = true
		}
		if len(acked) == 150 {
			cmd.Process.Kill()
			break
		}
	}
	for sc.Scan() {
		var uid storage.UID
		if _, err := fmt.Sscanf(sc.Text(), "acked %d", &uid); err == nil {
			acked[uid] = true
		}
	}
	cmd.Wait()
	if len(acked) < 150 {
		t.Fatalf("child acknowledged only %d deliveries", len(acked))
	}

	s, err = Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, _ := s.Account(context.Background(), "alice@example.test")
	inbox, _ := s.Mailbox(context.Background(), a.ID, "INBOX")
	msgs, err := s.Messages(context.Background(), inbox.ID, storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[storage.UID]bool{}
	for _, m := range msgs {
		have[m.UID] = true
	}
	for uid := range acked {
		if !have[uid] {
			t.Errorf("acknowledged UID %d lost", uid)
		}
	}
	probs, err := s.Check(context.Background())
	if err != nil || len(probs) > 0 {
		t.Fatalf("after kill -9: %v\n%s", err, strings.Join(probs, "\n"))
	}
}
