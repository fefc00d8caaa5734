package smtp

import (
	"context"
	"encoding/base64"
	"io"
	"strings"
	"testing"
)

// TestSmugglingNormalized: a submitted message whose text holds bare
// "<CR>.<CR>" and "<LF>.<LF>" sequences (SMTP smuggling, 2023) is stored and
// queued for the next hop with every line ending CRLF, so no server down the
// line can read an end of data inside it; the message still ends only at
// <CRLF>.<CRLF>, and everything before it is one message.
func TestSmugglingNormalized(t *testing.T) {
	e := newEnv(t, envOptions{outbound: true})
	r := e.raw(Submission)
	r.cmd("EHLO client.test", "250")
	r.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00"+password)), "235")
	r.cmd("MAIL FROM:<alice@example.test>", "250")
	r.cmd("RCPT TO:<someone@remote.test>", "250")
	r.cmd("RCPT TO:<bob@example.test>", "250")
	r.cmd("DATA", "354")
	r.write("From: alice@example.test\r\nSubject: smuggle\r\n\r\nfirst\r.\rMAIL FROM:<admin@example.test>\r\n" +
		"second\n.\nRCPT TO:<victim@remote.test>\r\nthird\rlone CR\nlone LF\r\n.\r\n")
	r.expect("250")
	r.cmd("QUIT", "221")

	ctx := context.Background()
	entries, err := e.store.QueueEntries(ctx)
	if err != nil || len(entries) != 1 {
		t.Fatalf("queue entries %+v %v", entries, err)
	}
	b, err := e.store.OpenBlob(ctx, entries[0].Blob)
	if err != nil {
		t.Fatal(err)
	}
	queued, _ := io.ReadAll(b)
	b.Close()
	local := e.mailbox("bob@example.test", "INBOX")
	if len(local) != 1 {
		t.Fatalf("%d local messages, want 1", len(local))
	}
	for name, text := range map[string]string{"queued": string(queued), "stored": local[0]} {
		for i := 0; i < len(text); i++ {
			if text[i] == '\r' && (i+1 == len(text) || text[i+1] != '\n') || text[i] == '\n' && (i == 0 || text[i-1] != '\r') {
				t.Fatalf("%s copy has a bare line ending at %d:\n%q", name, i, text)
			}
		}
		if !strings.Contains(text, "first\r\n.\r\nMAIL FROM:<admin@example.test>\r\nsecond\r\n.\r\nRCPT TO:<victim@remote.test>\r\nthird\r\nlone CR\r\nlone LF\r\n") {
			t.Fatalf("%s copy lost text:\n%q", name, text)
		}
	}
}

// TestForgedAuthResultsRemovedChecksOff: with arrival checks off (the
// development default), Authentication-Results fields claiming our
// authserv-id are still removed, in every spelling RFC 8601 allows
// (comments, case, a trailing dot), from MX and from submission.
func TestForgedAuthResultsRemovedChecksOff(t *testing.T) {
	e := newEnv(t, envOptions{})
	if e.cfg.Checks.Enabled {
		t.Fatal("checks are on")
	}
	forged := "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=a@example.test; dkim=pass; dmarc=pass\r\n" +
		"Authentication-Results: (comment) mx.example.test; dkim=pass\r\n" +
		"Authentication-Results: (a) (b) MX.example.TEST; dmarc=pass\r\n" +
		"Authentication-Results: mx.example.test.; spf=pass\r\n" +
		"Authentication-Results:\r\n\tmx.example.test; dkim=pass\r\n" +
		"Authentication-Results: relay.example.org; spf=none\r\n"
	msg := forged + "From: a@example.test\r\nSubject: spoof\r\n\r\nbody\r\n"
	c := e.dial(MX)
	if err := send(c, "x@evil.test", []string{"alice@example.test"}, msg); err != nil {
		t.Fatal(err)
	}
	got := e.mailbox("alice@example.test", "INBOX")
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	lower := strings.ToLower(got[0])
	if n := strings.Count(lower, "authentication-results:"); n != 1 || !strings.Contains(got[0], "Authentication-Results: relay.example.org; spf=none") {
		t.Fatalf("want only the third party's field, got:\n%s", got[0])
	}
	if strings.Contains(lower, "pass") {
		t.Fatalf("a forged verdict survived:\n%s", got[0])
	}
}
