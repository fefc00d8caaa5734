package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
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
	h2, err := auth.HashPassword(password("gina"))
	if err != nil {
		t.Fatal(err)
	}
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		for _, a := range []storage.Account{{Address: "fred@" + domain, PasswordHash: h}, {Address: "gina@" + domain, PasswordHash: h2}} {
			if _, err := st.CreateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
	})
	shots := artifactsDir(t, "settings-page")
	user, oldPW, newPW := "fred@"+domain, password("fred"), "a brand new Passw0rd"
	base := "https://localhost:" + e.port(t, "https")
	// The rule and sharing steps run when the server offers them.
	var steps []string
	if offers(t, e, base+"/api/v1/rules", user, oldPW) {
		steps = append(steps, "responder", "rule")
	}
	if offers(t, e, base+"/api/v1/shares", user, oldPW) {
		steps = append(steps, "share")
	}
	cmd := exec.Command(node, "settings.mjs")
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(),
		"FLOE_URL="+base+"/",
		"FLOE_USER="+user, "FLOE_PASS="+oldPW, "FLOE_NEWPASS="+newPW,
		"FLOE_SHOTS="+shots, "FLOE_PROFILE="+t.TempDir(),
		"FLOE_STEPS="+strings.Join(steps, ","), "FLOE_SHARE_FOLDER=INBOX", "FLOE_SHARE_WITH=gina@"+domain)
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
	checkBrowserEffects(t, e, steps, user)
	for _, s := range out.Steps {
		if _, err := os.Stat(filepath.Join(shots, s+".png")); err != nil {
			t.Errorf("screenshot %s: %v", s, err)
		}
	}
}

// offers reports whether the settings API answers path (200) for user.
func offers(t *testing.T, e *env, url, user, pass string) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth(user, pass)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: time.Minute}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// checkBrowserEffects checks what the browser's rule and sharing steps set
// up, through the mail protocols: the responder answers an SMTP message,
// the rule files a message, the shared folder is in the grantee's LIST.
func checkBrowserEffects(t *testing.T, e *env, steps []string, user string) {
	t.Helper()
	if len(steps) == 0 {
		t.Log("the server offers neither rules nor sharing in the settings API: those steps did not run")
		return
	}
	has := func(s string) bool { return strings.Contains(","+strings.Join(steps, ",")+",", ","+s+",") }
	if has("rule") {
		// gina (a local account) writes to fred: the rule files the
		// invoice into Invoices, the responder answers gina.
		sendSMTP(t, e.addr(t, "smtp"), "gina@"+domain, user, "invoice 42")
		waitFor(t, "the rule files the message into Invoices", func() bool {
			return len(mailboxOrNil(t, e, "fred", "Invoices")) == 1
		})
		waitFor(t, "the responder answers", func() bool {
			for _, m := range mailboxOrNil(t, e, "gina", "INBOX") {
				if strings.Contains(string(m.Raw), "Subject: Away: invoice 42") && strings.Contains(string(m.Raw), "Auto-Submitted: auto-replied") {
					return true
				}
			}
			return false
		})
	}
	if has("share") {
		list := imapList(t, e.addr(t, "imap"), "gina@"+domain, password("gina"))
		if !strings.Contains(list, "fred@"+domain) {
			t.Errorf("the folder fred shared is not in gina's LIST:\n%s", list)
		}
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("timed out waiting until %s", what)
}

// mailboxOrNil is e.mailbox, nil when the mailbox does not exist.
func mailboxOrNil(t *testing.T, e *env, local, name string) []storedMsg {
	t.Helper()
	var out []storedMsg
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		acct, err := st.Account(ctx, local+"@"+domain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Mailbox(ctx, acct.ID, name); err != nil {
			return
		}
		out = readMailbox(ctx, t, st, local+"@"+domain, name)
	})
	return out
}

// sendSMTP sends a small message over the MX listener.
func sendSMTP(t *testing.T, addr, from, to, subject string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	expect := func(code string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(line, code) {
				t.Fatalf("SMTP: %q, want %s", line, code)
			}
			if len(line) > 3 && line[3] == ' ' {
				return
			}
		}
	}
	expect("220")
	for _, step := range []struct{ cmd, code string }{
		{"EHLO client.test", "250"}, {"MAIL FROM:<" + from + ">", "250"}, {"RCPT TO:<" + to + ">", "250"}, {"DATA", "354"},
		{"From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@client.test>\r\n\r\nHello.\r\n.", "250"},
		{"QUIT", "221"},
	} {
		fmt.Fprintf(c, "%s\r\n", step.cmd)
		expect(step.code)
	}
}

// imapList logs in and returns the untagged LIST responses of LIST "" *.
func imapList(t *testing.T, addr, user, pass string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	r.ReadString('\n')
	var out strings.Builder
	for _, cmd := range []string{fmt.Sprintf("a LOGIN %q %q", user, pass), `b LIST "" *`} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "* LIST") {
				out.WriteString(line)
			}
			if line[0] != '*' {
				break
			}
		}
	}
	return out.String()
}
