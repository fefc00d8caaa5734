package interop

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/floemail/floe/server/config"
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
// http) against an account's Files folder: every test must pass, none
// may be skipped or warn about a failure.
func TestLitmus(t *testing.T) {
	litmus := needTool(t, "litmus", "litmus")
	e, base := startFiles(t, "lit")
	_ = e
	dir := t.TempDir()
	res := runTool(t, nil, []string{"HOME=" + dir, "TESTS=basic copymove props locks http"}, litmus, "-k", base, "lit@"+domain, password("lit"))
	os.WriteFile(filepath.Join(dir, "litmus.out"), []byte(res.Out), 0o644)
	summary := regexp.MustCompile(`<- summary for .([a-z]+).: of (\d+) tests run: (\d+) passed, (\d+) failed`)
	var total, passed int
	for _, m := range summary.FindAllStringSubmatch(res.Out, -1) {
		var n, p int
		n, p = atoi(m[2]), atoi(m[3])
		total += n
		passed += p
	}
	if res.Code != 0 || total < 81 || passed != total || strings.Contains(res.Out, "SKIPPED") || strings.Contains(res.Out, "WARNING") {
		t.Fatalf("litmus: exit %d, %d of %d passed\n%s", res.Code, passed, total, res.Out)
	}
	t.Logf("litmus: %d of %d passed", passed, total)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
