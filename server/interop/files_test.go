package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/text/unicode/norm"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage/sqlite"
	"github.com/floemail/floe/storage/view"
)

// startFiles starts a server with the http listener and accounts, for the
// WebDAV file folder tests; it returns the base URL of local's Files folder.
func startFiles(t *testing.T, locals ...string) (*env, string) {
	t.Helper()
	e := startServerWith(t, func(c *config.Config) {
		c.Listeners.HTTP = "127.0.0.1:0"
		c.Listeners.IMAP = "127.0.0.1:0"
	}, locals...)
	return e, "http://" + e.addr(t, "http") + "/webdav/" + url.PathEscape(locals[0]+"@"+domain) + "/Files/"
}

// TestLitmus runs the litmus WebDAV suite (basic, copymove, props, locks,
// http) against an account's Files folder over HTTP and over HTTPS, and
// against a folder of another account shared with the litmus user (all
// rights but a): every test must pass, none may be skipped (but http's
// expect100 over TLS, which litmus skips by itself) or warn.
func TestLitmus(t *testing.T) {
	litmus := needTool(t, "litmus", "litmus")
	e := startServerWith(t, func(c *config.Config) {
		c.Listeners.HTTP = "127.0.0.1:0"
		c.Listeners.HTTPS = "127.0.0.1:0"
	}, "lit", "own")
	own := "/webdav/" + url.PathEscape("own@"+domain) + "/Files/Team/"
	if st, b := davDo(t, "MKCOL", "http://"+e.addr(t, "http")+own, "own", nil, nil); st != http.StatusCreated {
		t.Fatalf("MKCOL shared folder: %d %s", st, b)
	}
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		o, err := st.Account(ctx, "own@"+domain)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := st.Mailbox(ctx, o.ID, "Files/Team")
		if err != nil {
			t.Fatal(err)
		}
		r, _ := acl.ParseSpec("lrswikxte")
		if _, _, err := view.NewAdmin(st, view.Options{}).ChangeACL(ctx, o.ID, mb.ID,
			[]acl.Change{{Identifier: acl.Identifier("lit@" + domain), Op: acl.OpSet, Rights: r}}); err != nil {
			t.Fatal(err)
		}
	})
	files := "/webdav/" + url.PathEscape("lit@"+domain) + "/Files/"
	for _, tc := range []struct{ name, url string }{
		{"own", "http://" + e.addr(t, "http") + files},
		{"https", "https://" + e.addr(t, "https") + files},
		{"shared", "http://" + e.addr(t, "http") + own},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// litmus writes debug.log into its working directory.
			res := runToolIn(t, dir, nil, []string{"HOME=" + dir, "TESTS=basic copymove props locks http"}, litmus, "-k", tc.url, "lit@"+domain, password("lit"))
			os.WriteFile(filepath.Join(dir, "litmus.out"), []byte(res.Out), 0o644)
			summary := regexp.MustCompile(`<- summary for .([a-z]+).: of (\d+) tests run: (\d+) passed, (\d+) failed`)
			var total, passed int
			for _, m := range summary.FindAllStringSubmatch(res.Out, -1) {
				total += atoi(m[2])
				passed += atoi(m[3])
			}
			skipped := strings.Count(res.Out, "SKIPPED")
			if tc.name == "https" && strings.Contains(res.Out, "expect100") {
				skipped-- // litmus does not run expect100 against TLS servers
			}
			if res.Code != 0 || total < 80 || passed != total || skipped != 0 || strings.Contains(res.Out, "WARNING") {
				t.Fatalf("litmus: exit %d, %d of %d passed\n%s", res.Code, passed, total, res.Out)
			}
			t.Logf("litmus %s: %d of %d passed", tc.name, passed, total)
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// rcloneNames are the file names of the rclone round trip: spaces,
// unicode, and the characters URLs and shells trip over.
// "cafe\u0301" is NFD: the server stores names in NFC and rclone, which
// compares names normalised, finds the file again.
var rcloneNames = []string{"plain.txt", "with space.txt", "ünïcödé 日本.txt", "cafe\u0301 nfd.txt", "hash#tag.txt", "per%cent.txt", "amp&and.txt", "plus+sign.txt", "it's.txt", "semi;colon [1] ?.txt"}

// TestRclone drives rclone's webdav backend: upload, list, check with
// download, move, copy, delete and purge.
func TestRclone(t *testing.T) {
	rclone := needTool(t, "rclone", "rclone")
	_, base := startFiles(t, "rcl")
	home := t.TempDir()
	ob := runTool(t, nil, nil, rclone, "obscure", password("rcl"))
	if ob.Code != 0 {
		t.Fatalf("rclone obscure: %s", ob.Out)
	}
	env := []string{"HOME=" + home, "RCLONE_CONFIG=" + filepath.Join(home, "none.conf"),
		"RCLONE_CONFIG_FLOE_TYPE=webdav", "RCLONE_CONFIG_FLOE_URL=" + base, "RCLONE_CONFIG_FLOE_VENDOR=other",
		"RCLONE_CONFIG_FLOE_USER=rcl@" + domain, "RCLONE_CONFIG_FLOE_PASS=" + strings.TrimSpace(ob.Out)}
	run := func(args ...string) string {
		t.Helper()
		r := runTool(t, nil, env, rclone, append([]string{"--retries", "1", "--low-level-retries", "1"}, args...)...)
		if r.Code != 0 {
			t.Fatalf("rclone %v: exit %d\n%s", args, r.Code, r.Out)
		}
		return r.Out
	}
	src := t.TempDir()
	for i, n := range rcloneNames {
		body := strings.Repeat(n+"\n", 100*(i+1))
		if err := os.WriteFile(filepath.Join(src, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(src, "sub dir"), 0o755)
	os.WriteFile(filepath.Join(src, "sub dir", "inner #1.bin"), make([]byte, 300000), 0o644)

	run("copy", src, "floe:up")
	list := run("lsf", "-R", "floe:up")
	for _, n := range append(rcloneNames, "sub dir/", "sub dir/inner #1.bin") {
		if !strings.Contains(norm.NFC.String(list), norm.NFC.String(n)+"\n") {
			t.Errorf("lsf lacks %q:\n%s", n, list)
		}
	}
	run("check", "--download", src, "floe:up")
	run("moveto", "floe:up/hash#tag.txt", "floe:up/moved #tag.txt")
	run("copyto", "floe:up/plus+sign.txt", "floe:up/sub dir/copy+sign.txt")
	run("deletefile", "floe:up/amp&and.txt")
	list = run("lsf", "-R", "floe:up")
	if strings.Contains(list, "hash#tag.txt") || !strings.Contains(list, "moved #tag.txt") ||
		!strings.Contains(list, "sub dir/copy+sign.txt") || strings.Contains(list, "amp&and.txt") {
		t.Fatalf("after move, copy, delete:\n%s", list)
	}
	dl := t.TempDir()
	run("copy", "floe:up/sub dir", dl)
	if b, err := os.ReadFile(filepath.Join(dl, "copy+sign.txt")); err != nil || string(b) != strings.Repeat("plus+sign.txt\n", 100*(slices.Index(rcloneNames, "plus+sign.txt")+1)) {
		t.Fatalf("downloaded copy: %v %q", err, b)
	}
	run("purge", "floe:up")
	if list = run("lsf", "floe:"); strings.Contains(list, "up/") {
		t.Fatalf("purge left up/:\n%s", list)
	}
}

// TestCadaver drives cadaver (neon): mkcol, put, ls, get, copy, move,
// propset/propget, lock/unlock, delete.
func TestCadaver(t *testing.T) {
	cadaver := needTool(t, "cadaver", "cadaver")
	e, base := startFiles(t, "cad")
	home := t.TempDir()
	netrc := "machine 127.0.0.1 login cad@" + domain + " password " + password("cad") + "\n"
	os.WriteFile(filepath.Join(home, ".netrc"), []byte(netrc), 0o600)
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "local.txt"), []byte("hello from cadaver\n"), 0o644)
	script := strings.Join([]string{
		"mkcol docs", "cd docs", "put local.txt report.txt", "ls", "get report.txt back.txt",
		"copy report.txt copy.txt", "move copy.txt moved.txt",
		"propset report.txt color blue", "propget report.txt color",
		"lock report.txt", "unlock report.txt", "delete moved.txt", "ls", "quit", ""}, "\n")
	cmd := runToolDir(t, work, []byte(script), []string{"HOME=" + home}, cadaver, base)
	for _, want := range []string{"report.txt", "Value of color is: blue", "Locking `report.txt': succeeded", "Unlocking `report.txt': succeeded", "Deleting `moved.txt': succeeded"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("cadaver output lacks %q:\n%s", want, cmd)
		}
	}
	if b, err := os.ReadFile(filepath.Join(work, "back.txt")); err != nil || string(b) != "hello from cadaver\n" {
		t.Errorf("get: %v %q", err, b)
	}
	_ = e
}

// runToolDir runs a program in dir and returns its output; a non-zero
// exit fails the test.
func runToolDir(t *testing.T, dir string, stdin []byte, env []string, name string, args ...string) string {
	t.Helper()
	r := runToolIn(t, dir, stdin, env, name, args...)
	if r.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", name, r.Code, r.Out)
	}
	return r.Out
}

// davDo sends one WebDAV request as local and returns the status and body.
func davDo(t *testing.T, method, u, local string, body []byte, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(local+"@"+domain, password(local))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestFilesIMAPConsistency checks that a file folder is the same over
// WebDAV and IMAP, both ways, at once: a PUT file is a message whose
// attachment is the file (7-bit, base64); an overwrite replaces the
// message; an IMAP APPEND with an attachment is a file; an IMAP EXPUNGE
// removes the file.
func TestFilesIMAPConsistency(t *testing.T) {
	e, base := startFiles(t, "cons")
	content := make([]byte, 200000)
	for i := range content {
		content[i] = byte(i * 7)
	}
	if st, b := davDo(t, "PUT", base+"report%20%231.bin", "cons", content, nil); st != http.StatusCreated {
		t.Fatalf("PUT: %d %s", st, b)
	}
	c, err := imapclient.DialInsecure(e.addr(t, "imap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("cons@"+domain, password("cons")).Wait(); err != nil {
		t.Fatal(err)
	}
	fetchFile := func(want int) []*imapclient.FetchMessageBuffer {
		t.Helper()
		if _, err := c.Select("Files", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		var all imap.SeqSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true,
			BodySection: []*imap.FetchItemBodySection{{Part: []int{2}}, {}}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != want {
			t.Fatalf("Files holds %d messages, want %d", len(msgs), want)
		}
		return msgs
	}
	msgs := fetchFile(1)
	if msgs[0].Envelope.Subject != "report #1.bin" {
		t.Errorf("subject %q", msgs[0].Envelope.Subject)
	}
	var part, whole []byte
	for _, s := range msgs[0].BodySection {
		if len(s.Section.Part) == 1 {
			part = s.Bytes
		} else {
			whole = s.Bytes
		}
	}
	for _, b := range whole {
		if b >= 0x80 {
			t.Fatal("the file's message is not 7-bit")
		}
	}
	dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(part), "\r\n", ""))
	if err != nil || !bytes.Equal(dec, content) {
		t.Fatalf("IMAP BODY[2] does not decode to the file: %v", err)
	}
	uid1 := msgs[0].UID

	// Overwrite: a new message replaces the old one.
	content[0] = 'X'
	if st, _ := davDo(t, "PUT", base+"report%20%231.bin", "cons", content, nil); st != http.StatusNoContent {
		t.Fatalf("overwrite PUT: %d", st)
	}
	msgs = fetchFile(1)
	if msgs[0].UID <= uid1 {
		t.Fatalf("overwrite kept UID %d", msgs[0].UID)
	}

	// IMAP APPEND of a message with an attachment makes a file.
	att := "attached over IMAP\r\n"
	raw := "From: cons@" + domain + "\r\nSubject: kolab file\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: text/plain; name=\"notes.txt\"\r\n" +
		"Content-Disposition: attachment; filename=\"notes.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(att)) + "\r\n--b--\r\n"
	ap := c.Append("Files", int64(len(raw)), nil)
	ap.Write([]byte(raw))
	ap.Close()
	apd, err := ap.Wait()
	if err != nil {
		t.Fatal(err)
	}
	st, body := davDo(t, "PROPFIND", base, "cons", nil, map[string]string{"Depth": "1"})
	if st != http.StatusMultiStatus || !strings.Contains(string(body), "notes.txt") || !strings.Contains(string(body), "report%20%231.bin") {
		t.Fatalf("PROPFIND after APPEND: %d\n%s", st, body)
	}
	if st, b := davDo(t, "GET", base+"notes.txt", "cons", nil, nil); st != 200 || string(b) != att {
		t.Fatalf("GET appended file: %d %q", st, b)
	}

	// IMAP EXPUNGE removes the files.
	if _, err := c.Select("Files", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(apd.UID, msgs[0].UID), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"notes.txt", "report%20%231.bin"} {
		if st, _ := davDo(t, "GET", base+n, "cons", nil, nil); st != http.StatusNotFound {
			t.Errorf("GET %s after EXPUNGE: %d", n, st)
		}
	}
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		probs, err := st.Check(ctx)
		if err != nil || len(probs) > 0 {
			t.Errorf("check: %v %v", err, probs)
		}
	})
}
