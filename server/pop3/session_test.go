package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

const (
	msgDots = "From: carol@example.test\r\nTo: alice@example.test\r\nSubject: dots\r\n\r\n" +
		"Hello\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
	msgLines  = "Subject: lines\r\n\r\nline1\r\nline2\r\nline3\r\n"
	msgBareLF = "Subject: bare\n\nbare\n.lf\n"
)

func capaLines(c *client) []string {
	c.t.Helper()
	c.cmd("CAPA", "+OK")
	return c.multi()
}

func TestCapa(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial(e.plain)
	got := capaLines(c)
	want := []string{"TOP", "UIDL", "USER", "SASL PLAIN LOGIN", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS", "IMPLEMENTATION Floe"}
	if !slices.Equal(got, want) {
		t.Errorf("CAPA on the STLS port = %q, want %q", got, want)
	}
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS "+testPassword, "+OK")
	got = capaLines(c)
	want = []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Floe"}
	if !slices.Equal(got, want) {
		t.Errorf("CAPA after login = %q, want %q", got, want)
	}
	c.cmd("QUIT", "+OK")
	c.closed()

	// From a non-loopback address without TLS, no password mechanism is
	// offered; after STLS they are, and STLS is gone.
	c = e.dial(e.remote)
	got = capaLines(c)
	want = []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS", "IMPLEMENTATION Floe"}
	if !slices.Equal(got, want) {
		t.Errorf("CAPA from the internet before STLS = %q, want %q", got, want)
	}
	c.startTLS(e.cliTLS)
	got = capaLines(c)
	want = []string{"TOP", "UIDL", "USER", "SASL PLAIN LOGIN", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Floe"}
	if !slices.Equal(got, want) {
		t.Errorf("CAPA after STLS = %q, want %q", got, want)
	}
	c.cmd("STLS", "-ERR")

	// Implicit TLS never offers STLS.
	c = e.dialTLS()
	got = capaLines(c)
	want = []string{"TOP", "UIDL", "USER", "SASL PLAIN LOGIN", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Floe"}
	if !slices.Equal(got, want) {
		t.Errorf("CAPA with implicit TLS = %q, want %q", got, want)
	}
}

func TestUserPass(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(e.acct, msgLines)
	c := e.dial(e.plain)
	c.cmd("PASS "+testPassword, "-ERR")
	c.cmd("STAT", "-ERR")
	c.cmd("USER", "-ERR")
	c.cmd("USER nobody@example.test", "+OK") // does not reveal existence
	c.cmd("PASS "+testPassword, "-ERR [AUTH] authentication failed")
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS wrong", "-ERR [AUTH] authentication failed")
	c.cmd("PASS "+testPassword, "-ERR") // USER is forgotten after a PASS
	c.cmd("user "+strings.ToUpper(testUser), "+OK")
	c.cmd("pass "+testPassword, fmt.Sprintf("+OK maildrop has 1 messages (%d octets)", len(msgLines)))
	c.cmd("USER "+testUser, "-ERR")
	c.cmd("STAT", fmt.Sprintf("+OK 1 %d", len(msgLines)))
	c.cmd("NOOP", "+OK")
	c.cmd("QUIT", "+OK")
	c.closed()
	if !strings.Contains(e.logs.String(), "user="+testUser) {
		t.Error("log lines do not carry the user")
	}
	if strings.Contains(e.logs.String(), testPassword) {
		t.Error("the password appears in the log")
	}
}

func TestPlaintextPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial(e.remote)
	c.cmd("USER "+testUser, "-ERR [AUTH] plaintext authentication disallowed")
	c.cmd("AUTH PLAIN "+b64("\x00"+testUser+"\x00"+testPassword), "-ERR [AUTH] plaintext authentication disallowed")
	c.cmd("AUTH LOGIN", "-ERR [AUTH]")
	c.startTLS(e.cliTLS)
	c.cmd("AUTH PLAIN "+b64("\x00"+testUser+"\x00"+testPassword), "+OK")
	c.cmd("STAT", "+OK 0 0")

	// The config may allow it.
	nc := *e.cfg.Load()
	nc.TLS.AllowPlaintextAuth = true
	e.cfg.Store(&nc)
	c = e.dial(e.remote)
	c.cmd("USER "+otherUser, "+OK")
	c.cmd("PASS "+testPassword, "+OK")
}

func TestAuthPlain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.POP3.MaxErrors = 50 })
	creds := b64("\x00" + testUser + "\x00" + testPassword)

	// Initial response.
	c := e.dial(e.plain)
	c.cmd("AUTH PLAIN "+creds, "+OK")
	c.cmd("STAT", "+OK")
	c.cmd("AUTH PLAIN "+creds, "-ERR")
	c.cmd("QUIT", "+OK")

	// No initial response: an empty challenge first.
	c = e.dial(e.plain)
	c.send("auth plain")
	if l := c.line(); l != "+ " {
		t.Fatalf("challenge = %q, want %q", l, "+ ")
	}
	c.cmd(creds, "+OK")
	c.cmd("QUIT", "+OK")

	// Authorization identity equal to the user is fine.
	c = e.dial(e.plain)
	c.cmd("AUTH PLAIN "+b64(testUser+"\x00"+testUser+"\x00"+testPassword), "+OK")
	c.cmd("QUIT", "+OK")

	c = e.dial(e.plain)
	c.cmd("AUTH PLAIN "+b64("\x00"+testUser+"\x00wrong"), "-ERR [AUTH] authentication failed")
	c.cmd("AUTH PLAIN "+b64(otherUser+"\x00"+testUser+"\x00"+testPassword), "-ERR [AUTH] authentication failed")
	c.cmd("AUTH PLAIN =", "-ERR [AUTH]")
	c.cmd("AUTH PLAIN !!!notbase64", "-ERR")
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd("*", "-ERR authentication cancelled")
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd("%%%", "-ERR")
	c.cmd("AUTH CRAM-MD5", "-ERR")
	c.cmd("AUTH PLAIN a b", "-ERR")
	c.cmd("STAT", "-ERR") // still not logged in
	c.send("AUTH")
	c.expect("+OK")
	if got := c.multi(); !slices.Equal(got, []string{"PLAIN", "LOGIN"}) {
		t.Errorf("AUTH mechanism list = %q", got)
	}
	c.cmd("AUTH PLAIN "+creds, "+OK")
}

func TestAuthLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial(e.plain)
	c.cmd("AUTH LOGIN", "+ "+b64("Username:"))
	c.cmd(b64(testUser), "+ "+b64("Password:"))
	c.cmd(b64(testPassword), "+OK")
	c.cmd("QUIT", "+OK")

	// Initial response carries the user name.
	c = e.dial(e.plain)
	c.cmd("AUTH LOGIN "+b64(testUser), "+ "+b64("Password:"))
	c.cmd(b64("wrong"), "-ERR [AUTH] authentication failed")
	c.cmd("AUTH LOGIN", "+ ")
	c.cmd("*", "-ERR")
	c.cmd("AUTH LOGIN", "+ ")
	c.cmd(b64(testUser), "+ ")
	c.cmd(b64(testPassword), "+OK")
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) {
		c.Auth.MaxFailuresPerIP = 2
		c.Auth.FailureWindow = config.Duration(time.Hour)
	})
	c := e.dial(e.plain)
	for range 2 {
		c.cmd("USER "+testUser, "+OK")
		c.cmd("PASS wrong", "-ERR [AUTH] authentication failed")
	}
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS "+testPassword, "-ERR [SYS/TEMP] too many failures, try later")
	c.cmd("AUTH PLAIN "+b64("\x00"+testUser+"\x00"+testPassword), "-ERR [SYS/TEMP] too many failures")
}

func TestStatListUidl(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	u1 := e.deliver(e.acct, msgDots)
	u2 := e.deliver(e.acct, msgLines)
	e.deliver(e.other, msgLines) // another account's mail is not visible
	c := e.login()
	total := len(msgDots) + len(msgLines)
	c.cmd("STAT", fmt.Sprintf("+OK 2 %d", total))
	c.cmd("LIST", fmt.Sprintf("+OK 2 messages (%d octets)", total))
	if got, want := c.multi(), []string{fmt.Sprintf("1 %d", len(msgDots)), fmt.Sprintf("2 %d", len(msgLines))}; !slices.Equal(got, want) {
		t.Errorf("LIST = %q, want %q", got, want)
	}
	c.cmd("LIST 2", fmt.Sprintf("+OK 2 %d", len(msgLines)))
	c.cmd("LIST 3", "-ERR")
	c.cmd("LIST 0", "-ERR")
	c.cmd("LIST x", "-ERR")
	c.cmd("LIST 1 2", "-ERR")

	id1 := fmt.Sprintf("%08x%08x", e.inbox.UIDValidity, uint32(u1))
	id2 := fmt.Sprintf("%08x%08x", e.inbox.UIDValidity, uint32(u2))
	c.cmd("UIDL", "+OK")
	if got, want := c.multi(), []string{"1 " + id1, "2 " + id2}; !slices.Equal(got, want) {
		t.Errorf("UIDL = %q, want %q", got, want)
	}
	c.cmd("UIDL 1", "+OK 1 "+id1)
	c.cmd("UIDL 9", "-ERR")

	// Messages arriving after login are not in the snapshot.
	e.deliver(e.acct, msgBareLF)
	c.cmd("STAT", fmt.Sprintf("+OK 2 %d", total))
	c.cmd("QUIT", "+OK")

	// UIDs are stable across sessions; the new message is appended.
	c = e.login()
	c.cmd("UIDL", "+OK")
	got := c.multi()
	if len(got) != 3 || got[0] != "1 "+id1 || got[1] != "2 "+id2 {
		t.Errorf("UIDL in the next session = %q", got)
	}
	for _, l := range got {
		id := strings.SplitN(l, " ", 2)[1]
		if len(id) < 1 || len(id) > 70 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			t.Errorf("unique-id %q violates RFC 1939", id)
		}
	}
}

func TestRetr(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(e.acct, msgDots)
	e.deliver(e.acct, msgBareLF)
	c := e.login()

	c.cmd("RETR 1", fmt.Sprintf("+OK %d octets", len(msgDots)))
	raw := c.multiRaw()
	want := "From: carol@example.test\r\nTo: alice@example.test\r\nSubject: dots\r\n\r\n" +
		"Hello\r\n..leading dot\r\n...two dots\r\n..\r\nend\r\n.\r\n"
	if raw != want {
		t.Errorf("RETR 1 wire text = %q, want %q", raw, want)
	}
	if body, _ := unstuff(raw); body != msgDots {
		t.Errorf("RETR 1 unstuffed = %q, want the stored message", body)
	}

	// Bare LFs go out as CRLF.
	c.cmd("RETR 2", "+OK")
	if raw, want := c.multiRaw(), "Subject: bare\r\n\r\nbare\r\n..lf\r\n.\r\n"; raw != want {
		t.Errorf("RETR 2 wire text = %q, want %q", raw, want)
	}
	c.cmd("RETR 3", "-ERR")
	c.cmd("RETR", "-ERR")

	// \Seen is applied at QUIT, not before, and not by TOP.
	if ms := e.messages(); slices.Contains(ms[0].Flags, storage.FlagSeen) {
		t.Error("\\Seen set before QUIT")
	}
	c.cmd("QUIT", "+OK")
	c.closed()
	for _, m := range e.messages() {
		if !slices.Contains(m.Flags, storage.FlagSeen) {
			t.Errorf("message %d not \\Seen after RETR and QUIT: %v", m.UID, m.Flags)
		}
	}
}

func TestRetrLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, ".%d %s\r\n", i, strings.Repeat("x", i%200))
	}
	big := b.String()
	e.deliver(e.acct, big)
	c := e.login()
	c.cmd("RETR 1", fmt.Sprintf("+OK %d octets", len(big)))
	if body, ok := unstuff(c.multiRaw()); !ok || body != big {
		t.Errorf("large RETR differs from the stored message (ok=%v, %d vs %d octets)", ok, len(body), len(big))
	}
	c.cmd("NOOP", "+OK")
}

func TestTop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(e.acct, msgLines)
	e.deliver(e.acct, msgDots)
	c := e.login()
	c.cmd("TOP 1 0", "+OK")
	if got, want := c.multi(), []string{"Subject: lines", ""}; !slices.Equal(got, want) {
		t.Errorf("TOP 1 0 = %q, want %q", got, want)
	}
	c.cmd("TOP 1 2", "+OK")
	if got, want := c.multi(), []string{"Subject: lines", "", "line1", "line2"}; !slices.Equal(got, want) {
		t.Errorf("TOP 1 2 = %q, want %q", got, want)
	}
	c.cmd("TOP 1 100", "+OK")
	if got, want := c.multi(), []string{"Subject: lines", "", "line1", "line2", "line3"}; !slices.Equal(got, want) {
		t.Errorf("TOP 1 100 = %q, want %q", got, want)
	}
	c.cmd("TOP 2 2", "+OK")
	if raw, want := c.multiRaw(), "From: carol@example.test\r\nTo: alice@example.test\r\nSubject: dots\r\n\r\nHello\r\n..leading dot\r\n.\r\n"; raw != want {
		t.Errorf("TOP 2 2 = %q, want %q", raw, want)
	}
	c.cmd("TOP 1", "-ERR")
	c.cmd("TOP 1 -1", "-ERR")
	c.cmd("TOP 3 1", "-ERR")
	c.cmd("QUIT", "+OK")
	for _, m := range e.messages() {
		if slices.Contains(m.Flags, storage.FlagSeen) {
			t.Errorf("TOP marked message %d \\Seen", m.UID)
		}
	}
}

func TestDeleRsetQuit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	u1 := e.deliver(e.acct, msgLines)
	u2 := e.deliver(e.acct, msgDots)
	u3 := e.deliver(e.acct, msgBareLF)

	// DELE then RSET: nothing deleted.
	c := e.login()
	c.cmd("DELE 1", "+OK")
	c.cmd("DELE 1", "-ERR")
	c.cmd("RETR 1", "-ERR")
	c.cmd("LIST 1", "-ERR")
	c.cmd("STAT", fmt.Sprintf("+OK 2 %d", len(msgDots)+len(msgBareLF)))
	c.cmd("LIST", "+OK 2 messages")
	if got := c.multi(); len(got) != 2 || !strings.HasPrefix(got[0], "2 ") || !strings.HasPrefix(got[1], "3 ") {
		t.Errorf("LIST after DELE 1 = %q", got)
	}
	c.cmd("UIDL", "+OK")
	if got := c.multi(); len(got) != 2 || !strings.HasPrefix(got[0], "2 ") {
		t.Errorf("UIDL after DELE 1 = %q", got)
	}
	c.cmd("RSET", "+OK maildrop has 3 messages")
	c.cmd("STAT", "+OK 3 ")

	// DELE and the connection drops: nothing deleted.
	c.cmd("DELE 2", "+OK")
	c.conn.Close()
	waitUnlocked(t, e)
	if got := uids(e.messages()); !slices.Equal(got, []storage.UID{u1, u2, u3}) {
		t.Fatalf("after a dropped connection the INBOX has %v, want all three", got)
	}

	// DELE and QUIT: deleted for IMAP too.
	c = e.login()
	c.cmd("DELE 1", "+OK")
	c.cmd("DELE 3", "+OK")
	if got := uids(e.messages()); len(got) != 3 {
		t.Fatalf("deleted before QUIT: %v", got)
	}
	c.cmd("QUIT", "+OK Floe POP3 server signing off (1 messages left)")
	c.closed()
	if got := uids(e.messages()); !slices.Equal(got, []storage.UID{u2}) {
		t.Fatalf("after QUIT the INBOX has %v, want [%d]", got, u2)
	}
	c = e.login()
	c.cmd("STAT", fmt.Sprintf("+OK 1 %d", len(msgDots)))
}

// waitUnlocked waits until the server has released every maildrop lock
// (the session goroutine notices a dropped connection asynchronously).
func waitUnlocked(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for {
		e.srv.mu.Lock()
		n := len(e.srv.locked)
		e.srv.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("maildrop lock not released")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func uids(ms []storage.Message) []storage.UID {
	var out []storage.UID
	for _, m := range ms {
		out = append(out, m.UID)
	}
	return out
}

func TestExpungedMeanwhile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	u1 := e.deliver(e.acct, msgLines)
	e.deliver(e.acct, msgDots)
	c := e.login()
	// IMAP expunges message 1 during the POP3 session.
	if _, err := e.store.Expunge(context.Background(), e.inbox.ID, []storage.UID{u1}); err != nil {
		t.Fatal(err)
	}
	c.cmd("LIST 1", "+OK") // the snapshot still lists it
	c.cmd("RETR 1", "-ERR")
	c.cmd("TOP 1 0", "-ERR")
	c.cmd("RETR 2", "+OK")
	c.multi()
	c.cmd("DELE 1", "+OK")
	c.cmd("QUIT", "+OK")
	c.closed()
	if got := e.messages(); len(got) != 1 || !slices.Contains(got[0].Flags, storage.FlagSeen) {
		t.Errorf("INBOX after QUIT = %+v", got)
	}
}

func TestInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c1 := e.login()
	c2 := e.dial(e.plain)
	c2.cmd("USER "+testUser, "+OK")
	c2.cmd("PASS "+testPassword, "-ERR [IN-USE]")
	c2.cmd("AUTH PLAIN "+b64("\x00"+testUser+"\x00"+testPassword), "-ERR [IN-USE]")
	c3 := e.dialTLS() // another account is not affected
	c3.cmd("USER "+otherUser, "+OK")
	c3.cmd("PASS "+testPassword, "+OK")

	c1.cmd("QUIT", "+OK")
	c1.closed()
	waitAccountUnlocked(t, e, e.acct.ID)
	c2.cmd("AUTH PLAIN "+b64("\x00"+testUser+"\x00"+testPassword), "+OK")

	// A timed-out or dropped session releases the lock too.
	c2.conn.Close()
	waitAccountUnlocked(t, e, e.acct.ID)
	e.login()
}

func waitAccountUnlocked(t *testing.T, e *env, acct storage.AccountID) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for {
		e.srv.mu.Lock()
		_, held := e.srv.locked[acct]
		e.srv.mu.Unlock()
		if !held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("maildrop lock not released")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(e.acct, msgDots)
	c := e.dialTLS()
	c.cmd("STLS", "-ERR")
	c.cmd("AUTH PLAIN "+b64("\x00"+testUser+"\x00"+testPassword), "+OK maildrop has 1 messages")
	c.cmd("RETR 1", "+OK")
	if body, _ := unstuff(c.multiRaw()); body != msgDots {
		t.Errorf("RETR over TLS = %q", body)
	}
	c.cmd("QUIT", "+OK")

	// A plaintext client on the TLS port gets nowhere and the server
	// survives it.
	raw, err := net.Dial("tcp", e.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	io.WriteString(raw, "USER x\r\nPASS y\r\n")
	raw.SetReadDeadline(time.Now().Add(safety))
	io.Copy(io.Discard, raw)
	e.dialTLS().cmd("NOOP", "-ERR")
}

func TestSTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial(e.remote)
	c.cmd("USER "+testUser, "-ERR")
	// Commands pipelined after STLS in plaintext are discarded, not run
	// inside TLS (RFC 2595 / CVE-2011-0411 class of injection).
	c.send("STLS\r\nNOOP")
	c.expect("+OK")
	tc := tls.Client(c.conn, e.cliTLS)
	tc.SetDeadline(time.Now().Add(safety))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.cmd("NOOP", "-ERR command not valid before login")
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS "+testPassword, "+OK")
	c.cmd("QUIT", "+OK")
	if !strings.Contains(e.logs.String(), "discarding plaintext pipelined after STLS") {
		t.Error("injected plaintext was not discarded")
	}
}

func TestGarbage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial(e.plain)
	for _, l := range []string{"\x00\x01\x02\x03", "\xff\xfe", "HELO x", "GET / HTTP/1.1", "", "LIST\x00", "\x16\x03\x01"} {
		c.cmd(l, "-ERR")
	}
	c.cmd("CAPA", "+OK")
	c.multi()
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS "+testPassword, "+OK")
	c.cmd("FOO", "-ERR unknown command")
	c.cmd("STAT", "+OK")
}

func TestLongLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial(e.plain)
	c.cmd("USER "+strings.Repeat("a", 1<<20), "-ERR line too long")
	c.cmd("NOOP "+strings.Repeat("b", maxCommandLine), "-ERR line too long")
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS "+testPassword, "+OK")
	c.cmd("STAT", "+OK")
	// A line of exactly the limit is accepted.
	l := "LIST 1 " + strings.Repeat(" ", maxCommandLine-len("LIST 1 ")-2)
	c.cmd(l, "-ERR no such message")
}

func TestTooManyErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.POP3.MaxErrors = 3 })
	c := e.dial(e.plain)
	c.cmd("BAD", "-ERR unknown command")
	c.cmd("STAT", "-ERR")
	c.cmd("BAD", "-ERR too many errors")
	c.closed()
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(e.acct, msgLines)
	c := e.login()
	c.cmd("DELE 1", "+OK")
	// Short timeouts from now on (the config is read per command, so the
	// session picks them up for the read after its next command).
	nc := *e.cfg.Load()
	nc.POP3.PreAuthTimeout = config.Duration(200 * time.Millisecond)
	nc.POP3.CommandTimeout = config.Duration(200 * time.Millisecond)
	e.cfg.Store(&nc)
	c.cmd("NOOP", "+OK")
	// After login: the DELE is not applied when the autologout timer
	// fires (RFC 1939 section 3).
	c.expect("-ERR [SYS/TEMP] idle timeout")
	c.closed()
	waitUnlocked(t, e)
	if len(e.messages()) != 1 {
		t.Error("a timed-out session deleted a message")
	}

	// Before login.
	c = e.dial(e.plain)
	c.expect("-ERR [SYS/TEMP] idle timeout")
	c.closed()

	// A stalled line counts against the same timeout.
	c = e.dial(e.plain)
	io.WriteString(c.conn, "USER "+testUser)
	c.expect("-ERR [SYS/TEMP] idle timeout")
	c.closed()

	// A client that never starts its TLS handshake is dropped too.
	raw, err := net.Dial("tcp", e.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetReadDeadline(time.Now().Add(safety))
	if n, err := io.Copy(io.Discard, raw); err != nil || n != 0 {
		t.Fatalf("handshake timeout: read %d octets, %v", n, err)
	}
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(e.acct, msgLines)
	e.deliver(e.acct, msgDots)
	c := e.dial(e.plain)
	c.send(strings.Join([]string{
		"USER " + testUser, "PASS " + testPassword, "STAT", "LIST", "UIDL 2", "RETR 1", "TOP 2 1", "DELE 1", "NOOP", "QUIT",
	}, "\r\n"))
	c.expect("+OK")
	c.expect("+OK maildrop has 2")
	c.expect("+OK 2 ")
	c.expect("+OK 2 messages")
	if n := len(c.multi()); n != 2 {
		t.Errorf("LIST returned %d lines", n)
	}
	c.expect("+OK 2 ")
	c.expect("+OK")
	if body, _ := unstuff(c.multiRaw()); body != msgLines {
		t.Errorf("pipelined RETR = %q", body)
	}
	c.expect("+OK")
	c.multi()
	c.expect("+OK")
	c.expect("+OK")
	c.expect("+OK Floe POP3 server signing off (1 messages left)")
	c.closed()
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(e.acct, msgLines)
	idle := e.dial(e.plain)
	sasl := e.dial(e.plain)
	sasl.cmd("AUTH LOGIN", "+ ")
	c := e.login()
	c.cmd("DELE 1", "+OK")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	c.expect("-ERR [SYS/TEMP] server shutting down")
	c.closed()
	idle.expect("-ERR [SYS/TEMP] server shutting down")
	idle.closed()
	sasl.expect("-ERR [SYS/TEMP] server shutting down")
	sasl.closed()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	e.shutdown() // Serve calls returned nil; a second Shutdown is harmless
	if len(e.messages()) != 1 {
		t.Error("shutdown applied a pending deletion")
	}
	if _, err := net.Dial("tcp", e.plain); err == nil {
		t.Error("listener still accepting after Shutdown")
	}
}

func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	for b.Len() < 16<<20 {
		b.WriteString(strings.Repeat("y", 998) + "\r\n")
	}
	e.deliver(e.acct, b.String())
	c := e.login()
	if err := c.conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	// The client asks for a large message and never reads it: the RETR
	// stays in progress, so Shutdown waits until its ctx ends and then
	// closes the connection.
	c.cmd("RETR 1", "+OK")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a RETR was in progress", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	waitUnlocked(t, e)
	e.shutdown()
}

func TestTextproto(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(e.acct, msgDots)
	conn, err := textproto.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	expect := func(prefix string) string {
		t.Helper()
		l, err := conn.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(l, prefix) {
			t.Fatalf("got %q, want %q", l, prefix)
		}
		return l
	}
	expect("+OK")
	for _, cmd := range []string{"USER " + testUser, "PASS " + testPassword} {
		if _, err := conn.Cmd("%s", cmd); err != nil {
			t.Fatal(err)
		}
		expect("+OK")
	}
	conn.Cmd("RETR 1")
	expect("+OK")
	body, err := io.ReadAll(conn.DotReader())
	if err != nil {
		t.Fatal(err)
	}
	// DotReader turns CRLF into LF.
	if want := strings.ReplaceAll(msgDots, "\r\n", "\n"); string(body) != want {
		t.Errorf("textproto RETR = %q, want %q", body, want)
	}
	conn.Cmd("UIDL")
	expect("+OK")
	lines, err := conn.ReadDotLines()
	if err != nil || len(lines) != 1 {
		t.Fatalf("UIDL = %q, %v", lines, err)
	}
	conn.Cmd("QUIT")
	expect("+OK")
}
