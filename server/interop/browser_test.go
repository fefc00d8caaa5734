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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
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
// with Playwright: log in by keyboard, a too short password refused next
// to its field (the hint shows the server's minimum), change the password
// (then IMAP accepts only the new one), create an app password (IMAP
// accepts it), the responder between dates (it answers over SMTP), two
// rules built in the editor (three conditions, one negated, and two
// actions; a condition moved up by keyboard; stop) and reordered by keyboard (their effect checked over
// SMTP and IMAP), a folder shared with a seed set then with custom
// permissions (the grantee's LIST and view), every control labelled for
// every condition and action, keyboard order, a phone-sized screen, log
// out. Screenshots of each step are kept (artifactsDir).
func TestSettingsPageBrowser(t *testing.T) {
	node := needTool(t, "node", "nodejs")
	needTool(t, "chromium", "chromium")
	if _, err := os.Stat(filepath.Join("browser", "node_modules", "playwright-core")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("playwright-core is not installed; the test command runs npm ci in server/interop/browser (make deps)")
		}
		t.Skip("playwright-core is not installed: run npm ci in server/interop/browser (make deps)")
	}
	// A minimum password length other than the default: the page's hint
	// must come from the server.
	const minPW = 12
	e := startServerWith(t, func(c *config.Config) {
		c.Listeners.HTTP = "127.0.0.1:0"
		c.Listeners.HTTPS = "127.0.0.1:0"
		c.Listeners.ClientSvc = "127.0.0.1:0"
		c.Auth.MinPasswordLength = minPW
	})
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
	// The responder answers between two dates around today (in any time
	// zone the server may use).
	respFrom, respTo := time.Now().AddDate(0, 0, -2).Format(time.DateOnly), time.Now().AddDate(0, 0, 2).Format(time.DateOnly)
	cmd := exec.Command(node, "settings.mjs")
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(),
		"FLOE_URL="+base+"/",
		"FLOE_USER="+user, "FLOE_PASS="+oldPW, "FLOE_NEWPASS="+newPW,
		"FLOE_SHOTS="+shots, "FLOE_PROFILE="+t.TempDir(),
		"FLOE_STEPS="+strings.Join(steps, ","), "FLOE_SHARE_FOLDER=INBOX", "FLOE_SHARE_WITH=gina@"+domain,
		"FLOE_RESP_FROM="+respFrom, "FLOE_RESP_TO="+respTo)
	raw, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node settings.mjs: %v\n%s\n%s", err, raw, stderr)
	}
	var out browserOut
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("output: %v\n%s", err, raw)
	}
	t.Logf("browser: %s; screenshots in %s", raw, shots)
	if out.Error != "" {
		t.Fatalf("browser: %s", out.Error)
	}
	if len(out.ConsoleErrors) != 0 {
		t.Errorf("errors in the browser console (CSP violations, script errors): %v", out.ConsoleErrors)
	}
	if len(out.LabelsMissing) != 0 {
		t.Errorf("controls without a label: %v", out.LabelsMissing)
	}
	if len(out.LegendsMissing) != 0 {
		t.Errorf("fieldsets without a legend: %v", out.LegendsMissing)
	}
	if strings.Join(out.Focus, ",") != "login-address,login-password,Log in" {
		t.Errorf("keyboard focus order: %v", out.Focus)
	}
	if !strings.Contains(out.Quota, "used") || !strings.HasPrefix(out.ActivationKey, "FLOE-") || out.ClientRows < 6 {
		t.Errorf("settings shown: %+v", out)
	}
	if want := fmt.Sprintf("at least %d characters", minPW); !strings.Contains(out.PasswordLabel, want) || out.PasswordMinLength != fmt.Sprint(minPW) {
		t.Errorf("password label %q (minlength %q), want the server's minimum: %s", out.PasswordLabel, out.PasswordMinLength, want)
	}
	if !strings.Contains(out.PasswordError, fmt.Sprint(minPW)) || out.PasswordErrorFocus != "pw-new" || !out.PasswordErrorsCleared {
		t.Errorf("short password: error %q next to the field, focus %q, cleared after success %v", out.PasswordError, out.PasswordErrorFocus, out.PasswordErrorsCleared)
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
	checkBrowserEditors(t, &out, steps)
	checkBrowserEffects(t, e, steps, user, newPW, respFrom, respTo)
	for _, s := range out.Steps {
		if _, err := os.Stat(filepath.Join(shots, s+".png")); err != nil {
			t.Errorf("screenshot %s: %v", s, err)
		}
	}
}

// browserOut is what settings.mjs reports.
type browserOut struct {
	Error                 string   `json:"error"`
	ConsoleErrors         []string `json:"console_errors"`
	LabelsMissing         []string `json:"labels_missing"`
	LegendsMissing        []string `json:"legends_missing"`
	Focus                 []string `json:"focus"`
	Quota                 string   `json:"quota"`
	ActivationKey         string   `json:"activation_key"`
	ClientRows            int      `json:"client_rows"`
	PasswordLabel         string   `json:"password_label"`
	PasswordMinLength     string   `json:"password_minlength"`
	PasswordError         string   `json:"password_error"`
	PasswordErrorFocus    string   `json:"password_error_focus"`
	PasswordErrorsCleared bool     `json:"password_errors_cleared"`
	AppPassword           string   `json:"app_password"`
	ResponderError        string   `json:"responder_error"`
	ResponderErrorFocus   string   `json:"responder_error_focus"`
	RuleNewFocus          string   `json:"rule_new_focus"`
	ConditionsOffered     []string `json:"conditions_offered"`
	ActionsOffered        []string `json:"actions_offered"`
	RuleError             string   `json:"rule_error"`
	RuleErrorInvalid      string   `json:"rule_error_invalid"`
	RuleErrorFocus        bool     `json:"rule_error_focus"`
	RuleErrorAlert        string   `json:"rule_error_alert"`
	RuleDescription       string   `json:"rule_description"`
	EditRows              []int    `json:"edit_rows"`
	EditWords             string   `json:"edit_words"`
	ConditionMoveFocus    string   `json:"condition_move_focus"`
	RuleOrder             []string `json:"rule_order"`
	ReorderFocus          string   `json:"reorder_focus"`
	ShareSets             []string `json:"share_sets"`
	ShareChangeFocus      string   `json:"share_change_focus"`
	ShareRow              string   `json:"share_row"`
	PhoneOverflow         int      `json:"phone_overflow"`
	LoggedOut             bool     `json:"logged_out"`
	Steps                 []string `json:"steps"`
}

// checkBrowserEditors checks what the browser saw in the responder, rule
// and sharing editors.
func checkBrowserEditors(t *testing.T, out *browserOut, steps []string) {
	t.Helper()
	has := func(s string) bool { return slices.Contains(steps, s) }
	if has("responder") {
		if !strings.Contains(out.ResponderError, "before from_date") || out.ResponderErrorFocus != "resp-to" {
			t.Errorf("responder dates the wrong way round: error %q, focus %q", out.ResponderError, out.ResponderErrorFocus)
		}
	}
	if has("rule") {
		// Every condition of the seed's Appendix A and every action of
		// Appendix B the rules layer has.
		wantConds := []string{"from", "to", "subject", "cc", "reply_to", "date", "priority", "spam", "size", "body", "header",
			"any_header", "attachment_name", "has_attachment", "sender", "recipient", "sender_is", "recipient_is", "ip", "rdns",
			"trusted_ip", "spam_score", "smtp_auth", "local_time", "all"}
		wantActs := []string{"accept", "reject", "delete", "spam", "quarantine", "stop", "forward", "move", "copy", "encrypt",
			"send", "add_header", "edit_header", "delete_header", "priority", "flags"}
		if !slices.Equal(sorted(out.ConditionsOffered), sorted(wantConds)) {
			t.Errorf("conditions offered: %v, want %v", out.ConditionsOffered, wantConds)
		}
		if !slices.Equal(sorted(out.ActionsOffered), sorted(wantActs)) {
			t.Errorf("actions offered: %v, want %v", out.ActionsOffered, wantActs)
		}
		if out.RuleNewFocus != "rule-title" {
			t.Errorf("focus after Add a rule: %q", out.RuleNewFocus)
		}
		if !strings.Contains(out.RuleError, "invalid regular expression") || out.RuleErrorInvalid != "true" || !out.RuleErrorFocus ||
			!strings.Contains(out.RuleErrorAlert, "not saved") {
			t.Errorf("invalid regex: error %q next to the field (aria-invalid %q, focused %v), alert %q",
				out.RuleError, out.RuleErrorInvalid, out.RuleErrorFocus, out.RuleErrorAlert)
		}
		if !strings.Contains(out.RuleDescription, "where not Subject") || !strings.Contains(out.RuleDescription, "Set message flags") {
			t.Errorf("rule description: %q", out.RuleDescription)
		}
		if out.ConditionMoveFocus != "Move condition 2 up" {
			t.Errorf("focus after moving condition 3 up by keyboard: %q", out.ConditionMoveFocus)
		}
		if !slices.Equal(out.EditRows, []int{3, 2}) || out.EditWords != "draft" {
			t.Errorf("editing rule 1 shows %v conditions/actions, second words %q", out.EditRows, out.EditWords)
		}
		if !slices.Equal(out.RuleOrder, []string{"Urgent", "Invoices"}) || out.ReorderFocus != "Move rule Urgent up" {
			t.Errorf("keyboard reorder: order %v, focus %q", out.RuleOrder, out.ReorderFocus)
		}
	}
	if has("share") {
		want := []string{"None", "Read", "Write", "Modify", "Delete", "Administer", "All", "Full", "Custom"}
		if !slices.Equal(out.ShareSets, want) {
			t.Errorf("permission sets offered: %v, want the seed's %v", out.ShareSets, want)
		}
		if out.ShareChangeFocus != "share-rights" || !strings.Contains(out.ShareRow, "lrsw") {
			t.Errorf("changing a share: focus %q, row %q", out.ShareChangeFocus, out.ShareRow)
		}
	}
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
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

// checkBrowserEffects checks what the browser's responder, rule and
// sharing steps set up, through the mail protocols: the stored document
// has the rules in the order set by keyboard and the responder's dates;
// over SMTP, the rules file (with flags) or leave messages as their
// conditions say and the responder answers; the shared folder is in the
// grantee's IMAP LIST with the custom rights.
func checkBrowserEffects(t *testing.T, e *env, steps []string, user, pass, respFrom, respTo string) {
	t.Helper()
	if len(steps) == 0 {
		t.Log("the server offers neither rules nor sharing in the settings API: those steps did not run")
		return
	}
	has := func(s string) bool { return slices.Contains(steps, s) }
	if has("rule") {
		var doc struct {
			Rules []struct {
				Title      string           `json:"title"`
				Conditions []map[string]any `json:"conditions"`
				Actions    []map[string]any `json:"actions"`
			} `json:"rules"`
			Responder struct {
				Mode     string   `json:"mode"`
				FromDate string   `json:"from_date"`
				ToDate   string   `json:"to_date"`
				Exclude  []string `json:"exclude"`
			} `json:"responder"`
		}
		e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
			acct, err := st.Account(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := st.AccountRules(ctx, acct.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("stored rules: %v\n%s", err, raw)
			}
		})
		if len(doc.Rules) != 2 || doc.Rules[0].Title != "Urgent" || doc.Rules[1].Title != "Invoices" ||
			len(doc.Rules[1].Conditions) != 3 || len(doc.Rules[1].Actions) != 2 || doc.Rules[1].Conditions[1]["not"] != true {
			t.Errorf("stored rules: %+v", doc.Rules)
		}
		if doc.Responder.Mode != "once" || doc.Responder.FromDate != respFrom || doc.Responder.ToDate != respTo || len(doc.Responder.Exclude) != 2 {
			t.Errorf("stored responder: %+v", doc.Responder)
		}

		// gina (a local account) writes to fred. "invoice 42" matches
		// Invoices (subject, a local sender with an account, not
		// "draft"): filed into Invoices, flagged, with the keyword.
		// "invoice draft 9" fails the negated condition: INBOX.
		// "urgent invoice 7" meets Urgent first (moved there by
		// keyboard), which stops: in Urgent, not flagged.
		smtp := e.addr(t, "smtp")
		sendSMTP(t, smtp, "gina@"+domain, user, "invoice 42")
		sendSMTP(t, smtp, "gina@"+domain, user, "invoice draft 9")
		sendSMTP(t, smtp, "gina@"+domain, user, "urgent invoice 7")
		waitFor(t, "the rules file the messages", func() bool {
			return len(mailboxOrNil(t, e, "fred", "Invoices")) == 1 && len(mailboxOrNil(t, e, "fred", "Urgent")) == 1 &&
				len(mailboxOrNil(t, e, "fred", "INBOX")) == 1
		})
		imap := e.addr(t, "imap")
		for _, c := range []struct{ box, subject, flags, notFlags string }{
			{"Invoices", "invoice 42", `\Flagged Billing`, ""},
			{"INBOX", "invoice draft 9", "", `\Flagged`},
			{"Urgent", "urgent invoice 7", "", `\Flagged`},
		} {
			got := imapSession(t, imap, user, pass, `SELECT "`+c.box+`"`, "FETCH 1:* (FLAGS ENVELOPE)")
			fetch := ""
			for _, l := range strings.Split(got, "\n") {
				if strings.HasPrefix(l, "* ") && strings.Contains(l, " FETCH (") {
					fetch += l
				}
			}
			ok := strings.Contains(fetch, `"`+c.subject+`"`) && strings.Count(fetch, " FETCH ") == 1
			for _, f := range strings.Fields(c.flags) {
				ok = ok && strings.Contains(fetch, f)
			}
			if c.notFlags != "" && strings.Contains(fetch, c.notFlags) {
				ok = false
			}
			if !ok {
				t.Errorf("IMAP %s: want only %q with flags %q (not %q), got:\n%s", c.box, c.subject, c.flags, c.notFlags, got)
			}
		}
		waitFor(t, "the responder answers", func() bool {
			for _, m := range mailboxOrNil(t, e, "gina", "INBOX") {
				if strings.Contains(string(m.Raw), "Subject: Away: invoice 42") && strings.Contains(string(m.Raw), "Auto-Submitted: auto-replied") &&
					strings.Contains(string(m.Raw), "I am away (browser test)") {
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
		// gina's view (the settings API, Basic) has the custom rights.
		req, _ := http.NewRequest("GET", "https://localhost:"+e.port(t, "https")+"/api/v1/shares", nil)
		req.SetBasicAuth("gina@"+domain, password("gina"))
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: time.Minute}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			SharedWithMe []struct {
				Owner  string `json:"owner"`
				Rights string `json:"rights"`
			} `json:"shared_with_me"`
		}
		json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if len(s.SharedWithMe) != 1 || s.SharedWithMe[0].Owner != user || s.SharedWithMe[0].Rights != "lrsw" {
			t.Errorf("shared with gina: %+v, want fred's INBOX with lrsw (Read, Modify)", s.SharedWithMe)
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
	var out strings.Builder
	for _, l := range strings.SplitAfter(imapSession(t, addr, user, pass, `LIST "" *`), "\n") {
		if strings.HasPrefix(l, "* LIST") {
			out.WriteString(l)
		}
	}
	return out.String()
}

// imapSession logs in, runs the commands (each must end OK) and returns
// every line the server sent after the login.
func imapSession(t *testing.T, addr, user, pass string, cmds ...string) string {
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
	for i, cmd := range append([]string{fmt.Sprintf("LOGIN %q %q", user, pass)}, cmds...) {
		tag := fmt.Sprintf("t%d", i)
		fmt.Fprintf(c, "%s %s\r\n", tag, cmd)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				out.WriteString(line)
			}
			if strings.HasPrefix(line, tag+" ") {
				if !strings.HasPrefix(line, tag+" OK") {
					t.Errorf("IMAP %s: %s", cmd, line)
				}
				break
			}
		}
	}
	return out.String()
}
