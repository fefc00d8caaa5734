package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRunStopsCleanly runs the README's `make run` (with CONFIG= on a
// free port instead of the development ports) the way a script does
// (`make run &`: the job starts with SIGINT ignored, as a shell without job
// control leaves background jobs) and stops it with SIGINT to its process
// group: floe shuts down cleanly and make reports no error. (Under `go
// run`, which exits 1 after a SIGINT whatever the program's status, make
// printed "make: *** [Makefile:26: run] Error 1" there.)
func TestMakeRunStopsCleanly(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make not found: install the Debian package make")
		}
		t.Skip("make not found")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cfgFile, _ := writeConfig(t, map[string]string{"imap": freePort(t)}, "")
	bin := filepath.Join(t.TempDir(), "floe")
	cmd := exec.Command("make", "-s", "-C", root, "run", "CONFIG="+cfgFile, "RUNBIN="+bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The child inherits an ignored SIGINT; this process restores its own
	// disposition at once.
	signal.Ignore(syscall.SIGINT)
	err = cmd.Start()
	signal.Reset(syscall.SIGINT)
	if err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	running := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if !ok && strings.HasPrefix(sc.Text(), "floe is running") {
				ok = true
				running <- true
			}
		}
		if !ok {
			running <- false
		}
	}()
	select {
	case ok := <-running:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("make run ended before floe ran:\n%s", stderr.String())
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("make run did not start floe:\n%s", stderr.String())
	}
	if err := syscall.Kill(-pgid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("make run did not stop on SIGINT:\n%s", stderr.String())
	}
	// make ends with its child's status (0), or, when SIGINT reached it
	// too (a terminal's Ctrl-C), by its own SIGINT once the child is done;
	// a clean stop prints no "make: *** ..." line.
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT) {
		t.Errorf("make run: %v", err)
	}
	if strings.Contains(stderr.String(), "make: ***") || !strings.Contains(stderr.String(), "shutdown complete") {
		t.Errorf("make run after Ctrl-C:\n%s", stderr.String())
	}
}
