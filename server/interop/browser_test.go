package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// imapLogin reports whether LOGIN user pass succeeds on the plain IMAP
// listener (loopback: plaintext allowed).
func imapLogin(t *testing.T, addr, user, pass string) bool {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "a LOGIN %q %q\r\n", user, pass)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "a ") {
			return strings.HasPrefix(line, "a OK")
		}
	}
}

// artifactsDir is where screenshots are kept: $FLOE_ARTIFACTS/NAME, else
// browser/screenshots/NAME (ignored by git).
func artifactsDir(t *testing.T, name string) string {
	base := os.Getenv("FLOE_ARTIFACTS")
	if base == "" {
		base = filepath.Join("browser", "screenshots")
	}
	dir, err := filepath.Abs(filepath.Join(base, name))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSettingsPageBrowser drives the settings page in Debian's chromium
// with Playwright: log in by keyboard, change the password (then IMAP
// accepts only the new one), create an app password (IMAP accepts it),
// every control labelled, keyboard order, a phone-sized screen, log out.
// Screenshots of each step are kept (artifactsDir).
func TestSettingsPageBrowser(t *testing.T) {
	node := needTool(t, "node", "nodejs")
	needTool(t, "chromium", "chromium")
	if _, err := os.Stat(filepath.Join("browser", "node_modules", "playwright-core")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("playwright-core is not installed; the test command runs npm ci in server/interop/browser (make deps)")
		}
		t.Skip("playwright-core is not installed: run npm ci in server/interop/browser (make deps)")
	}
	e := startHTTPServer(t)
	// A database account (accounts of the config file cannot change their
	// password in the settings).
	h, err := auth.HashPassword(password("fred"))
	if err != nil {
		t.Fatal(err)
	}
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		if _, err := st.CreateAccount(ctx, storage.Account{Address: "fred@" + domain, PasswordHash: h}); err != nil {
			t.Fatal(err)
		}
	})
	shots := artifactsDir(t, "settings-page")
	user, oldPW, newPW := "fred@"+domain, password("fred"), "a brand new Passw0rd"
	cmd := exec.Command(node, "settings.mjs")
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(),
		"FLOE_URL=https://localhost:"+e.port(t, "https")+"/",
		"FLOE_USER="+user, "FLOE_PASS="+oldPW, "FLOE_NEWPASS="+newPW,
		"FLOE_SHOTS="+shots, "FLOE_PROFILE="+t.TempDir())
	raw, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node settings.mjs: %v\n%s\n%s", err, raw, stderr)
	}
	var out struct {
		Error         string   `json:"error"`
		LabelsMissing []string `json:"labels_missing"`
		Focus         []string `json:"focus"`
		Quota         string   `json:"quota"`
		ActivationKey string   `json:"activation_key"`
		ClientRows    int      `json:"client_rows"`
		AppPassword   string   `json:"app_password"`
		PhoneOverflow int      `json:"phone_overflow"`
		LoggedOut     bool     `json:"logged_out"`
		Steps         []string `json:"steps"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("output: %v\n%s", err, raw)
	}
	t.Logf("browser: %s; screenshots in %s", raw, shots)
	if out.Error != "" {
		t.Fatalf("browser: %s", out.Error)
	}
	if len(out.LabelsMissing) != 0 {
		t.Errorf("controls without a label: %v", out.LabelsMissing)
	}
	if strings.Join(out.Focus, ",") != "login-address,login-password,Log in" {
		t.Errorf("keyboard focus order: %v", out.Focus)
	}
	if !strings.Contains(out.Quota, "used") || !strings.HasPrefix(out.ActivationKey, "FLOE-") || out.ClientRows < 6 {
		t.Errorf("settings shown: %+v", out)
	}
	if out.PhoneOverflow > 0 {
		t.Errorf("page wider than a phone by %dpx", out.PhoneOverflow)
	}
	if !out.LoggedOut {
		t.Errorf("not logged out")
	}
	imap := e.addr(t, "imap")
	if !imapLogin(t, imap, user, newPW) {
		t.Errorf("IMAP refuses the password set in the browser")
	}
	if imapLogin(t, imap, user, oldPW) {
		t.Errorf("IMAP still accepts the old password")
	}
	if out.AppPassword == "" || !imapLogin(t, imap, user, out.AppPassword) {
		t.Errorf("IMAP refuses the app password %q created in the browser", out.AppPassword)
	}
	for _, s := range out.Steps {
		if _, err := os.Stat(filepath.Join(shots, s+".png")); err != nil {
			t.Errorf("screenshot %s: %v", s, err)
		}
	}
}
