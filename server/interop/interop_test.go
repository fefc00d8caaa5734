package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// swaksLines returns the server replies swaks printed after sending the
// command that starts with cmd (e.g. "RCPT TO:<x@y>"), up to the next command.
func swaksReplies(out, cmd string) []string {
	var replies []string
	in := false
	for _, l := range lines(out) {
		isCmd := strings.HasPrefix(l, "->") || strings.HasPrefix(l, "~>")
		if isCmd {
			if in {
				break
			}
			text := strings.TrimSpace(strings.TrimLeft(l, "->~ "))
			in = strings.HasPrefix(strings.ToUpper(text), strings.ToUpper(cmd))
			continue
		}
		if in && (strings.HasPrefix(l, "<-") || strings.HasPrefix(l, "<~") || strings.HasPrefix(l, "<**") || strings.HasPrefix(l, "<~*")) {
			replies = append(replies, strings.TrimSpace(strings.TrimLeft(l, "<-~* ")))
		}
	}
	return replies
}

// swaksDataReply returns the reply to the end of DATA: the reply that follows
// the message text swaks echoes (the last reply before QUIT).
func swaksDataReply(out string) string {
	var last string
	for _, l := range lines(out) {
		t := strings.TrimLeft(l, " ")
		if strings.HasPrefix(t, "->") || strings.HasPrefix(t, "~>") {
			if strings.Contains(strings.ToUpper(t), "QUIT") {
				return last
			}
			continue
		}
		if strings.HasPrefix(t, "<") {
			last = strings.TrimSpace(strings.TrimLeft(t, "<-~* "))
		}
	}
	return last
}

func TestSwaks(t *testing.T) {
	swaks := needTool(t, "swaks", "swaks")
	// swaks speaks TLS only with Net::SSLeay, which Debian merely recommends.
	needCapability(t, "TLS in swaks", "libnet-ssleay-perl", "sh", "-c",
		`"$0" --support 2>&1 | grep -q '^=== TLS supported'`, swaks)
	e := startServer(t, "alice", "bob", "carol", "dave", "erin", "henry", "ivan")
	host := "127.0.0.1"

	run := func(t *testing.T, args ...string) toolResult {
		t.Helper()
		base := []string{"--server", host, "--timeout", "30", "--helo", "swaks.interop.test"}
		return runTool(t, nil, nil, swaks, append(base, args...)...)
	}

	t.Run("mx-plain", func(t *testing.T) {
		tok := token("swaks-mx")
		r := run(t, "--port", e.port(t, "smtp"), "--from", "sender@remote.test",
			"--to", "alice@"+domain, "--header", "Subject: "+tok, "--body", "Token: "+tok)
		if r.Code != 0 {
			t.Fatalf("swaks exit %d:\n%s", r.Code, r.Out)
		}
		if reply := swaksDataReply(r.Out); !strings.HasPrefix(reply, "250") {
			t.Fatalf("end of DATA reply %q, want 250:\n%s", reply, r.Out)
		}
		expectOne(t, e.mailbox(t, "alice", "INBOX"), tok, "Token: "+tok)
	})

	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run("submission-starttls-"+mech, func(t *testing.T) {
			tok := token("swaks-sub-" + mech)
			r := run(t, "--port", e.port(t, "submission"), "--tls",
				"--auth", mech, "--auth-user", "bob@"+domain, "--auth-password", password("bob"),
				"--from", "bob@"+domain, "--to", "carol@"+domain,
				"--header", "Subject: "+tok, "--body", "Token: "+tok)
			if r.Code != 0 {
				t.Fatalf("swaks exit %d:\n%s", r.Code, r.Out)
			}
			if !strings.Contains(r.Out, "STARTTLS") {
				t.Errorf("no STARTTLS in the transcript:\n%s", r.Out)
			}
			// The final AUTH reply follows the last SASL exchange line.
			if !regexp.MustCompile(`(?m)^<~\s+235 `).MatchString(r.Out) {
				t.Errorf("AUTH %s: no 235 reply inside TLS:\n%s", mech, r.Out)
			}
			expectOne(t, e.mailbox(t, "carol", "INBOX"), tok, "Token: "+tok)
		})
	}

	t.Run("submissions-implicit-tls", func(t *testing.T) {
		tok := token("swaks-tlsc")
		r := run(t, "--port", e.port(t, "submissions"), "--tlsc",
			"--auth", "PLAIN", "--auth-user", "dave@"+domain, "--auth-password", password("dave"),
			"--from", "dave@"+domain, "--to", "erin@"+domain,
			"--header", "Subject: "+tok, "--body", "Token: "+tok)
		if r.Code != 0 {
			t.Fatalf("swaks exit %d:\n%s", r.Code, r.Out)
		}
		if !strings.Contains(r.Out, "TLS started") {
			t.Errorf("transcript does not show TLS:\n%s", r.Out)
		}
		expectOne(t, e.mailbox(t, "erin", "INBOX"), tok, "Token: "+tok)
	})

	t.Run("submission-requires-auth", func(t *testing.T) {
		tok := token("swaks-noauth")
		r := run(t, "--port", e.port(t, "submission"), "--tls",
			"--from", "bob@"+domain, "--to", "carol@"+domain, "--body", "Token: "+tok)
		if r.Code == 0 {
			t.Fatalf("unauthenticated submission accepted:\n%s", r.Out)
		}
		// RFC 4954 6: 530 5.7.0 Authentication required.
		if rep := swaksReplies(r.Out, "MAIL FROM"); len(rep) == 0 || !strings.HasPrefix(rep[0], "530") {
			t.Errorf("MAIL FROM without AUTH: reply %q, want 530:\n%s", rep, r.Out)
		}
		if len(withToken(e.mailbox(t, "carol", "INBOX"), tok)) != 0 {
			t.Fatalf("unauthenticated submission was delivered")
		}
	})

	t.Run("relay-refused", func(t *testing.T) {
		tok := token("swaks-relay")
		r := run(t, "--port", e.port(t, "smtp"), "--from", "spammer@remote.test",
			"--to", "victim@elsewhere.test", "--body", "Token: "+tok)
		if r.Code == 0 {
			t.Fatalf("relay accepted:\n%s", r.Out)
		}
		rep := swaksReplies(r.Out, "RCPT TO")
		if len(rep) == 0 || !strings.HasPrefix(rep[0], "550") {
			t.Fatalf("RCPT TO reply %q, want 550:\n%s", rep, r.Out)
		}
		// An unknown local user is refused the same way.
		r = run(t, "--port", e.port(t, "smtp"), "--from", "spammer@remote.test",
			"--to", "nobody@"+domain, "--body", "Token: "+tok)
		rep = swaksReplies(r.Out, "RCPT TO")
		if r.Code == 0 || len(rep) == 0 || !strings.HasPrefix(rep[0], "550") {
			t.Fatalf("unknown user: exit %d, RCPT reply %q, want 550:\n%s", r.Code, rep, r.Out)
		}
	})

	t.Run("pipelining", func(t *testing.T) {
		tok := token("swaks-pipe")
		r := run(t, "--port", e.port(t, "smtp"), "--pipeline", "--from", "sender@remote.test",
			"--to", "henry@"+domain+",ivan@"+domain, "--header", "Subject: "+tok, "--body", "Token: "+tok)
		if r.Code != 0 {
			t.Fatalf("swaks exit %d:\n%s", r.Code, r.Out)
		}
		if !strings.Contains(r.Out, "PIPELINING") {
			t.Errorf("EHLO does not advertise PIPELINING:\n%s", r.Out)
		}
		if reply := swaksDataReply(r.Out); !strings.HasPrefix(reply, "250") {
			t.Fatalf("end of DATA reply %q, want 250:\n%s", reply, r.Out)
		}
		h := expectOne(t, e.mailbox(t, "henry", "INBOX"), tok, "Token: "+tok)
		i := expectOne(t, e.mailbox(t, "ivan", "INBOX"), tok, "Token: "+tok)
		if !bytes.Equal(h.Raw, i.Raw) {
			t.Errorf("the two recipients' copies differ")
		}
	})
}

func TestCurl(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	e := startServer(t, "pat", "quinn", "rita", "sam")
	msgs := [][]byte{
		testMessage("a@remote.test", "pat@"+domain, token("curl-1")),
		testMessage("b@remote.test", "pat@"+domain, token("curl-2")),
	}
	e.seed(t, "pat", msgs...)
	user := "pat@" + domain + ":" + password("pat")
	base := []string{"-sS", "--max-time", "60"}
	run := func(t *testing.T, args ...string) toolResult {
		t.Helper()
		return runTool(t, nil, nil, curl, append(slices.Clone(base), args...)...)
	}

	t.Run("pop3-list", func(t *testing.T) {
		r := run(t, "pop3://127.0.0.1:"+e.port(t, "pop3")+"/", "-u", user)
		if r.Code != 0 {
			t.Fatalf("curl exit %d:\n%s", r.Code, r.Out)
		}
		stored := e.mailbox(t, "pat", "INBOX")
		var want []string
		for i, m := range stored {
			want = append(want, fmt.Sprintf("%d %d", i+1, len(m.Raw)))
		}
		if got := lines(r.Out); !slices.Equal(got, want) {
			t.Fatalf("LIST = %q, want %q", got, want)
		}
	})

	retr := func(t *testing.T, url string, n int, extra ...string) {
		t.Helper()
		args := append([]string{url + "/" + strconv.Itoa(n), "-u", user}, extra...)
		r := run(t, args...)
		if r.Code != 0 {
			t.Fatalf("curl exit %d:\n%s", r.Code, r.Out)
		}
		if r.Out != string(msgs[n-1]) {
			t.Fatalf("RETR %d returned\n%q\nwant\n%q", n, r.Out, msgs[n-1])
		}
	}
	t.Run("pop3-retr", func(t *testing.T) { retr(t, "pop3://127.0.0.1:"+e.port(t, "pop3"), 1) })
	t.Run("pop3-stls-retr", func(t *testing.T) {
		retr(t, "pop3://127.0.0.1:"+e.port(t, "pop3"), 2, "--ssl-reqd", "-k")
	})
	t.Run("pop3s-retr", func(t *testing.T) { retr(t, "pop3s://127.0.0.1:"+e.port(t, "pop3s"), 2, "-k") })
	t.Run("pop3-bad-password", func(t *testing.T) {
		r := run(t, "pop3://127.0.0.1:"+e.port(t, "pop3")+"/", "-u", "pat@"+domain+":wrong")
		if r.Code != 67 { // CURLE_LOGIN_DENIED
			t.Fatalf("curl exit %d, want 67 (login denied):\n%s", r.Code, r.Out)
		}
	})
	// Nothing above deleted anything.
	if n := len(e.mailbox(t, "pat", "INBOX")); n != 2 {
		t.Errorf("INBOX has %d messages after reading, want 2", n)
	}

	t.Run("smtp-upload", func(t *testing.T) {
		tok := token("curl-smtp")
		file := filepath.Join(t.TempDir(), "msg.eml")
		os.WriteFile(file, testMessage("curl@remote.test", "quinn@"+domain, tok), 0o600)
		r := run(t, "smtp://127.0.0.1:"+e.port(t, "smtp"), "--mail-from", "curl@remote.test",
			"--mail-rcpt", "quinn@"+domain, "--upload-file", file)
		if r.Code != 0 {
			t.Fatalf("curl exit %d:\n%s", r.Code, r.Out)
		}
		expectOne(t, e.mailbox(t, "quinn", "INBOX"), tok, "Token: "+tok+"\r\n.leading dot line\r\n")
	})
	t.Run("smtps-auth", func(t *testing.T) {
		tok := token("curl-smtps")
		file := filepath.Join(t.TempDir(), "msg.eml")
		os.WriteFile(file, testMessage("rita@"+domain, "sam@"+domain, tok), 0o600)
		r := run(t, "smtps://127.0.0.1:"+e.port(t, "submissions"), "-k",
			"-u", "rita@"+domain+":"+password("rita"),
			"--mail-from", "rita@"+domain, "--mail-rcpt", "sam@"+domain, "--upload-file", file)
		if r.Code != 0 {
			t.Fatalf("curl exit %d:\n%s", r.Code, r.Out)
		}
		expectOne(t, e.mailbox(t, "sam", "INBOX"), tok, "Token: "+tok)
	})
	t.Run("smtps-bad-password", func(t *testing.T) {
		tok := token("curl-smtps-bad")
		file := filepath.Join(t.TempDir(), "msg.eml")
		os.WriteFile(file, testMessage("rita@"+domain, "sam@"+domain, tok), 0o600)
		r := run(t, "smtps://127.0.0.1:"+e.port(t, "submissions"), "-k",
			"-u", "rita@"+domain+":wrong",
			"--mail-from", "rita@"+domain, "--mail-rcpt", "sam@"+domain, "--upload-file", file)
		if r.Code != 67 {
			t.Fatalf("curl exit %d, want 67 (login denied):\n%s", r.Code, r.Out)
		}
		if len(withToken(e.mailbox(t, "sam", "INBOX"), tok)) != 0 {
			t.Fatalf("message sent with a wrong password was delivered")
		}
	})
}

func TestFetchmail(t *testing.T) {
	fetchmail := needTool(t, "fetchmail", "fetchmail")
	e := startServer(t, "gina")
	var toks []string
	var raws [][]byte
	for i := range 3 {
		tok := token(fmt.Sprintf("fetchmail-%d", i))
		toks = append(toks, tok)
		raws = append(raws, testMessage("x@remote.test", "gina@"+domain, tok))
	}
	e.seed(t, "gina", raws...)

	f := newFetchmail(t, e, fetchmail, "POP3", "pop3s", "gina")
	t.Run("keep", func(t *testing.T) {
		f.expectFetched(t, "--keep", toks)
		if n := len(e.mailbox(t, "gina", "INBOX")); n != 3 {
			t.Fatalf("INBOX has %d messages after --keep, want 3", n)
		}
	})
	t.Run("nokeep", func(t *testing.T) {
		f.expectFetched(t, "--nokeep", toks)
		if n := len(e.mailbox(t, "gina", "INBOX")); n != 0 {
			t.Fatalf("INBOX has %d messages after --nokeep, want 0 (deleted at QUIT)", n)
		}
		// Nothing left: fetchmail says so with exit status 1.
		if r := f.run(t, "--nokeep"); r.Code != 1 {
			t.Fatalf("fetchmail on an empty mailbox: exit %d, want 1 (no mail):\n%s", r.Code, r.Out)
		}
	})
}

// pyResult is what testdata/clients.py prints.
type pyResult map[string]json.RawMessage

func runPython(t *testing.T, py string, args ...string) pyResult {
	t.Helper()
	r := runTool(t, nil, nil, py, append([]string{filepath.Join("testdata", "clients.py")}, args...)...)
	if r.Code != 0 {
		t.Fatalf("python exit %d:\n%s", r.Code, r.Out)
	}
	ls := lines(r.Out)
	var res pyResult
	if len(ls) == 0 || json.Unmarshal([]byte(ls[len(ls)-1]), &res) != nil {
		t.Fatalf("python printed no JSON result:\n%s", r.Out)
	}
	return res
}

func (p pyResult) str(t *testing.T, key string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(p[key], &s); err != nil {
		t.Fatalf("result %s: %v (%s)", key, err, p[key])
	}
	return s
}

func (p pyResult) strs(t *testing.T, key string) []string {
	t.Helper()
	var s []string
	if err := json.Unmarshal(p[key], &s); err != nil {
		t.Fatalf("result %s: %v (%s)", key, err, p[key])
	}
	return s
}

func TestPython(t *testing.T) {
	py := needTool(t, "python3", "python3")
	e := startServer(t, "uma", "vic", "walt")

	t.Run("smtplib-starttls", func(t *testing.T) {
		for _, mech := range []string{"PLAIN", "LOGIN"} {
			tok := token("smtplib-" + mech)
			res := runPython(t, py, "smtp", "starttls", "127.0.0.1", e.port(t, "submission"),
				"uma@"+domain, password("uma"), mech, "uma@"+domain, "vic@"+domain, tok)
			if got := res.str(t, "auth"); !strings.HasPrefix(got, "235") {
				t.Errorf("AUTH %s reply %q, want 235", mech, got)
			}
			if got := res.str(t, "data"); !strings.HasPrefix(got, "250") {
				t.Errorf("DATA reply %q, want 250", got)
			}
			expectOne(t, e.mailbox(t, "vic", "INBOX"), tok, "Token: "+tok)
		}
	})
	t.Run("smtplib-ssl", func(t *testing.T) {
		tok := token("smtplib-ssl")
		res := runPython(t, py, "smtp", "ssl", "127.0.0.1", e.port(t, "submissions"),
			"uma@"+domain, password("uma"), "PLAIN", "uma@"+domain, "vic@"+domain, tok)
		if got := res.str(t, "data"); !strings.HasPrefix(got, "250") {
			t.Errorf("DATA reply %q, want 250", got)
		}
		expectOne(t, e.mailbox(t, "vic", "INBOX"), tok, "Token: "+tok)
	})
	t.Run("smtplib-bad-password", func(t *testing.T) {
		res := runPython(t, py, "smtp", "starttls", "127.0.0.1", e.port(t, "submission"),
			"uma@"+domain, "wrong", "PLAIN", "uma@"+domain, "vic@"+domain, token("smtplib-bad"))
		if got := res.str(t, "auth"); !strings.HasPrefix(got, "535") {
			t.Errorf("AUTH with a wrong password: reply %q, want 535", got)
		}
	})

	var toks []string
	var raws [][]byte
	for i := range 3 {
		tok := token(fmt.Sprintf("poplib-%d", i))
		toks = append(toks, tok)
		raws = append(raws, testMessage("x@remote.test", "walt@"+domain, tok))
	}
	e.seed(t, "walt", raws...)

	checkPOP := func(t *testing.T, res pyResult) []string {
		t.Helper()
		if got := res.str(t, "stat"); got != fmt.Sprintf("%d %d", len(raws), len(raws[0])+len(raws[1])+len(raws[2])) {
			t.Errorf("STAT = %q, want 3 and the total size", got)
		}
		uidl := res.strs(t, "uidl")
		if len(uidl) != 3 {
			t.Fatalf("UIDL = %q, want 3 entries", uidl)
		}
		seen := map[string]bool{}
		for i, u := range uidl {
			n, id, _ := strings.Cut(u, " ")
			if n != strconv.Itoa(i+1) || id == "" || seen[id] {
				t.Errorf("UIDL line %q: want \"%d <unique id>\"", u, i+1)
			}
			seen[id] = true
			// RFC 1939 7: 1 to 70 characters in 0x21..0x7E.
			if len(id) > 70 || strings.IndexFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
				t.Errorf("UIDL id %q is not 1-70 printable characters", id)
			}
		}
		if got, want := res.str(t, "retr"), string(raws[0]); got != want {
			t.Errorf("RETR 1 = %q, want %q", got, want)
		}
		hdr := string(raws[1][:bytes.Index(raws[1], []byte("\r\n\r\n"))+4])
		if got := res.str(t, "top"); got != hdr {
			t.Errorf("TOP 2 0 = %q, want the header %q", got, hdr)
		}
		return uidl
	}

	var first []string
	t.Run("poplib-stls", func(t *testing.T) {
		res := runPython(t, py, "pop3", "stls", "127.0.0.1", e.port(t, "pop3"),
			"walt@"+domain, password("walt"), "keep")
		first = checkPOP(t, res)
		if n := len(e.mailbox(t, "walt", "INBOX")); n != 3 {
			t.Fatalf("INBOX has %d messages, want 3", n)
		}
	})
	t.Run("poplib-ssl-dele", func(t *testing.T) {
		res := runPython(t, py, "pop3", "ssl", "127.0.0.1", e.port(t, "pop3s"),
			"walt@"+domain, password("walt"), "dele1")
		uidl := checkPOP(t, res)
		if first != nil && !slices.Equal(first, uidl) {
			t.Errorf("UIDL changed between sessions: %q then %q", first, uidl)
		}
		if got := res.str(t, "quit"); !strings.HasPrefix(got, "+OK") {
			t.Errorf("QUIT = %q", got)
		}
		left := e.mailbox(t, "walt", "INBOX")
		if len(left) != 2 || len(withToken(left, toks[0])) != 0 {
			t.Fatalf("after DELE 1 and QUIT: %d messages left (want 2, without %s)", len(left), toks[0])
		}
	})
	t.Run("poplib-bad-password", func(t *testing.T) {
		res := runPython(t, py, "pop3", "ssl", "127.0.0.1", e.port(t, "pop3s"),
			"walt@"+domain, "wrong", "keep")
		if got := res.str(t, "error"); !strings.HasPrefix(got, "-ERR") {
			t.Errorf("PASS with a wrong password: %q, want -ERR", got)
		}
	})
}
