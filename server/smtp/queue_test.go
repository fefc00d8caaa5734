package smtp

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/storage"
)

// TestSubmissionQueuesRemote: an authenticated submission with local and
// remote recipients stores the local copy and queues the remote ones with
// their DSN parameters (RFC 3461), both durable before the 250.
func TestSubmissionQueuesRemote(t *testing.T) {
	e := newEnv(t, envOptions{outbound: true})
	c := e.dial(Submissions)
	if ok, _ := c.Extension("DSN"); !ok {
		t.Fatal("DSN not advertised with an outbound queue")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.test", &gosmtp.MailOptions{Return: gosmtp.DSNReturnHeaders, EnvelopeID: "env-7"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("someone@remote.test", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure, gosmtp.DSNNotifyDelayed},
		OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "Someone@remote.test"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("other@far.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	// Relay tricks stay refused even after AUTH.
	wantCode(t, c.Rcpt("x%y@example.test", nil), 550, gosmtp.EnhancedCode{5, 7, 1})
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: alice@example.test\r\nSubject: out\r\n\r\nto the world\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	entries, err := e.store.QueueEntries(ctx)
	if err != nil || len(entries) != 1 {
		t.Fatalf("queue entries %+v %v", entries, err)
	}
	q := entries[0]
	if q.From != "alice@example.test" || q.EnvID != "env-7" || q.Ret != "HDRS" || q.Account != e.ids["alice@example.test"] || len(q.Recipients) != 2 {
		t.Fatalf("entry %+v", q)
	}
	r0 := q.Recipients[0]
	if r0.Address != "someone@remote.test" || r0.Notify != "FAILURE,DELAY" || r0.ORcpt != "rfc822;Someone@remote.test" || r0.Status != storage.RcptPending {
		t.Errorf("recipient %+v", r0)
	}
	if q.Recipients[1].Address != "other@far.test" {
		t.Errorf("recipient %+v", q.Recipients[1])
	}
	b, err := e.store.OpenBlob(ctx, q.Blob)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(b)
	b.Close()
	if !strings.Contains(string(data), "to the world") || !strings.HasPrefix(string(data), "Received: ") {
		t.Errorf("queued body:\n%s", data)
	}
	// The local copy.
	mb, err := e.store.Mailbox(ctx, e.ids["bob@example.test"], "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := e.store.Messages(ctx, mb.ID, storage.Query{}); err != nil || len(msgs) != 1 || msgs[0].Blob != q.Blob {
		t.Fatalf("local copy %+v %v", msgs, err)
	}

	// A remote-only message.
	if err := c.Mail("alice@example.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("third@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err = c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: only remote\r\n\r\nx\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := e.store.QueueEntries(ctx); len(entries) != 2 {
		t.Fatalf("%d entries after the remote-only message", len(entries))
	}

	// Without AUTH, port 25 still relays nothing.
	mx := e.dial(MX)
	if err := mx.Mail("someone@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, mx.Rcpt("victim@remote.test", nil), 550, gosmtp.EnhancedCode{5, 7, 1})
}
