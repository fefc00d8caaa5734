package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floemail/floe/server"
)

// serveInProcess runs "floe serve --config cfgFile" in-process until the
// test ends (SIGTERM then).
func serveInProcess(t *testing.T, cfgFile string) *server.Server {
	t.Helper()
	sigs := make(chan chan<- os.Signal, 1)
	started := make(chan *server.Server, 1)
	var out, errb syncBuffer
	a := &app{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		notify:  func(c chan<- os.Signal) func() { sigs <- c; return func() {} },
		started: func(s *server.Server) { started <- s },
	}
	done := make(chan int, 1)
	go func() { done <- a.run([]string{"serve", "--config", cfgFile}) }()
	var srv *server.Server
	select {
	case srv = <-started:
	case code := <-done:
		t.Fatalf("serve exited with %d:\n%s", code, errb.String())
	}
	sig := <-sigs
	t.Cleanup(func() {
		sig <- syscall.SIGTERM
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return srv
}

// TestSharedFilesOverHTTP: the running server and `floe share add`, two
// accounts: bob reaches alice's Files folder under alice's path with
// exactly the rights alice's ACL gives him (l/r list and read, i create,
// w overwrite, t delete files, k make folders, x delete folders): without
// l the folder answers 404 exactly like one that does not exist; with l
// but not the right a method needs, 403. Every ACL change applies to the
// next request.
func TestSharedFilesOverHTTP(t *testing.T) {
	http := freePort(t)
	cfgFile, _ := writeConfig(t, map[string]string{"http": http}, "")
	serveInProcess(t, cfgFile)
	for _, u := range []string{"alice", "bob"} {
		floe(t, u+"-Secret-1\n", "account", "add", u+"@example.com", "--password-stdin", "--config", cfgFile).expect(t, 0, "added account")
	}
	base := "http://" + http + "/webdav/alice@example.com/"
	do := func(user, method, path, body string, hdr ...string) (int, string) {
		t.Helper()
		req, err := newRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user+"@example.com", user+"-Secret-1")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	expect := func(user, method, path, body string, want int, hdr ...string) string {
		t.Helper()
		code, got := do(user, method, path, body, hdr...)
		if code != want {
			t.Fatalf("%s %s %s: %d, want %d\n%s", user, method, path, code, want, got)
		}
		return got
	}
	share := func(rights string) {
		t.Helper()
		r := floe(t, "", "share", "add", "alice@example.com/Files", "bob@example.com", rights, "--config", cfgFile)
		if rights == "none" {
			r.expect(t, 0, "removed bob@example.com")
		} else {
			r.expect(t, 0, "bob@example.com")
		}
	}

	// Alice's own Files folder (made on first use), a file, a subfolder.
	expect("alice", "PUT", "Files/a.txt", "alice's text", 201)
	expect("alice", "MKCOL", "Files/sub", "", 201)
	expect("alice", "PUT", "Files/sub/s.txt", "in sub", 201)

	// No rights: everything is 404, byte for byte like a folder that does
	// not exist.
	for _, req := range [][2]string{{"GET", "Files/a.txt"}, {"PROPFIND", "Files/"}, {"PUT", "Files/new.txt"},
		{"DELETE", "Files/a.txt"}, {"MKCOL", "Files/made"}, {"GET", "Files/sub/s.txt"}, {"PROPPATCH", "Files/a.txt"},
		{"COPY", "Files/a.txt"}, {"LOCK", "Files/a.txt"}} {
		nope := strings.Replace(req[1], "Files", "Nope", 1)
		nothingCode, nothing := do("bob", req[0], nope, "x", "Depth", "1", "Destination", base+"Files/c.txt")
		code, body := do("bob", req[0], req[1], "x", "Depth", "1", "Destination", base+"Files/c.txt")
		if code != 404 || code != nothingCode || body != nothing {
			t.Fatalf("bob %s %s without rights: %d %q; nonexistent: %d %q", req[0], req[1], code, body, nothingCode, nothing)
		}
	}
	_, nothing := do("bob", "GET", "Nope/a.txt", "")
	if code, body := do("bob", "PROPFIND", "", "", "Depth", "1"); code != 207 && code != 404 || strings.Contains(body, "Files") {
		t.Fatalf("bob lists alice's folders without rights: %d\n%s", code, body)
	}

	// l only: the folder (and its subfolders) exist for bob; its files do
	// not show, nor read.
	share("l")
	expect("bob", "GET", "Files/a.txt", "", 403)
	if got := expect("bob", "PROPFIND", "Files/", "", 207, "Depth", "1"); strings.Contains(got, "a.txt") || !strings.Contains(got, "Files/sub/") {
		t.Fatalf("PROPFIND with l lists files, or not the subfolder:\n%s", got) // subfolders as IMAP LIST shows them, no files
	}

	// lr (read): list and read, under alice's path; nothing else.
	share("lr")
	if got := expect("bob", "GET", "Files/a.txt", "", 200); got != "alice's text" {
		t.Fatalf("bob reads %q", got)
	}
	if got := expect("bob", "PROPFIND", "Files/", "", 207, "Depth", "1"); !strings.Contains(got, "a.txt") || !strings.Contains(got, "sub") {
		t.Fatalf("PROPFIND as bob:\n%s", got)
	}
	expect("bob", "GET", "Files/sub/s.txt", "", 200) // the subfolder follows its parent
	if got := expect("bob", "PROPFIND", "", "", 207, "Depth", "1"); !strings.Contains(got, "/webdav/alice@example.com/Files/") {
		t.Fatalf("alice's root as bob lacks Files:\n%s", got)
	}
	expect("bob", "PUT", "Files/new.txt", "x", 403)
	expect("bob", "PUT", "Files/a.txt", "x", 403)
	expect("bob", "DELETE", "Files/a.txt", "", 403)
	expect("bob", "MKCOL", "Files/made", "", 403)
	expect("bob", "DELETE", "Files/sub", "", 403)

	// i (create): new files, not overwrites, not deletes.
	share("lri")
	expect("bob", "PUT", "Files/new.txt", "from bob", 201)
	expect("bob", "PUT", "Files/a.txt", "x", 403)
	expect("bob", "DELETE", "Files/new.txt", "", 403)
	if got := expect("alice", "GET", "Files/new.txt", "", 200); got != "from bob" {
		t.Fatalf("alice reads bob's file: %q", got)
	}

	// w (overwrite).
	share("lriw")
	expect("bob", "PUT", "Files/a.txt", "bob's edit", 204)
	if got := expect("alice", "GET", "Files/a.txt", "", 200); got != "bob's edit" {
		t.Fatalf("alice reads %q", got)
	}

	// t (delete files).
	share("lriwt")
	expect("bob", "DELETE", "Files/new.txt", "", 204)
	expect("alice", "GET", "Files/new.txt", "", 404)

	// k (make folders); x (delete folders).
	share("lrk")
	expect("bob", "MKCOL", "Files/made", "", 201)
	expect("bob", "DELETE", "Files/made", "", 403)
	share("lrkx")
	expect("bob", "DELETE", "Files/made", "", 204)
	expect("alice", "PROPFIND", "Files/made/", "", 404, "Depth", "0")

	// Taken away again: 404 like nothing.
	share("none")
	if code, body := do("bob", "GET", "Files/a.txt", ""); code != 404 || body != nothing {
		t.Fatalf("after the share was removed: %d %q", code, body)
	}
}

var httpClient = &http.Client{Timeout: 60 * time.Second}

func newRequest(method, url, body string) (*http.Request, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return http.NewRequest(method, url, r)
}
