package smtp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/delivery"
	"github.com/floemail/floe/server/spam/rspamdtest"
	"github.com/floemail/floe/storage"
)

// setRules stores an account's rule document, as `floe rules import` does.
func (e *env) setRules(address, doc string) {
	e.t.Helper()
	if _, _, err := rules.Load("test", []byte(doc), rules.Options{}); err != nil {
		e.t.Fatalf("rules: %v", err)
	}
	if err := e.store.SetAccountRules(context.Background(), e.ids[address], []byte(doc)); err != nil {
		e.t.Fatal(err)
	}
}

// folder returns the messages of an account's folder with their content;
// nil when the folder does not exist.
func (e *env) folder(address, name string) []string {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.store.Mailbox(ctx, e.ids[address], name)
	if err != nil {
		return nil
	}
	msgs, err := e.store.Messages(ctx, mb.ID, storage.Query{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := []string{}
	for _, m := range msgs {
		b, err := e.store.OpenBlob(ctx, m.Blob)
		if err != nil {
			e.t.Fatal(err)
		}
		data, _ := io.ReadAll(b)
		b.Close()
		out = append(out, string(data))
	}
	return out
}

func (e *env) queue() []storage.QueueEntry {
	e.t.Helper()
	q, err := e.store.QueueEntries(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

func (e *env) blob(id storage.BlobID) string {
	e.t.Helper()
	b, err := e.store.OpenBlob(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer b.Close()
	data, _ := io.ReadAll(b)
	return string(data)
}

const navyMsg = "From: \"Navy Office\" <navy@fleet.test>\r\nTo: alice@example.test\r\nSubject: ship\r\nMessage-ID: <n1@fleet.test>\r\n\r\nThe ship leaves.\r\n"

func TestRuleRejectIs550(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.setRules("alice@example.test", `[[rules]]
conditions = [{ if = "from", contains = "navy" }]
actions = [{ do = "reject", text = "No navy mail here" }, { do = "send", to = "bob@example.test", subject = "Refused: %%Subject%%", text = "from %%Sender%%" }]`)
	c := e.dial(MX)
	err := send(c, "navy@fleet.test", []string{"alice@example.test"}, navyMsg)
	wantCode(t, err, 550, gosmtp.EnhancedCode{5, 7, 1})
	if !strings.Contains(err.Error(), "No navy mail here") {
		t.Errorf("reply %v", err)
	}
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 0 {
		t.Error("rejected message stored")
	}
	// The rule's notice was sent all the same.
	if _, notes := e.inbox("bob@example.test"); len(notes) != 1 || !strings.Contains(notes[0], "Subject: Refused: ship") || !strings.Contains(notes[0], "from navy@fleet.test") {
		t.Errorf("notice: %q", notes)
	}
	// Other mail passes.
	if err := send(c, "x@remote.test", []string{"alice@example.test"}, message("hi", "body")); err != nil {
		t.Fatal(err)
	}
}

func TestRuleRejectOneRecipientSendsDSN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{outbound: true})
	e.setRules("alice@example.test", `[[rules]]
conditions = [{ if = "all" }]
actions = [{ do = "reject" }]`)
	c := e.dial(MX)
	if err := send(c, "navy@fleet.test", []string{"alice@example.test", "bob@example.test"}, navyMsg); err != nil {
		t.Fatalf("accepted for bob, should be 250: %v", err)
	}
	if msgs, _ := e.inbox("bob@example.test"); len(msgs) != 1 {
		t.Error("bob did not get his copy")
	}
	q := e.queue()
	if len(q) != 1 || q[0].From != "" || q[0].Recipients[0].Address != "navy@fleet.test" {
		t.Fatalf("DSN not queued to the sender: %+v", q)
	}
	if dsn := e.blob(q[0].Blob); !strings.Contains(dsn, "Final-Recipient: rfc822; alice@example.test") || !strings.Contains(dsn, "Status: 5.7.1") {
		t.Errorf("DSN:\n%s", dsn)
	}
	// Never a DSN to the null sender.
	if err := send(c, "", []string{"alice@example.test", "bob@example.test"}, navyMsg); err != nil {
		t.Fatal(err)
	}
	if len(e.queue()) != 1 {
		t.Error("DSN sent to a null sender")
	}
}

// The seed's example: "Where From: message header matches navy, Move to
// Navy Project" — the folder does not exist and is created.
func TestRuleMoveCreatesFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.setRules("alice@example.test", `[[rules]]
title = "navy project"
conditions = [{ if = "from", contains = "navy" }]
actions = [{ do = "move", folder = "Navy Project" }, { do = "copy", folder = "Archive/Fleet" }, { do = "flags", flags = ['\Flagged', "Navy"] }]`)
	if e.folder("alice@example.test", "Navy Project") != nil {
		t.Fatal("folder exists before")
	}
	if err := send(e.dial(MX), "navy@fleet.test", []string{"alice@example.test"}, navyMsg); err != nil {
		t.Fatal(err)
	}
	if got := e.folder("alice@example.test", "Navy Project"); len(got) != 1 || !strings.Contains(got[0], "The ship leaves.") {
		t.Fatalf("Navy Project: %q", got)
	}
	if got := e.folder("alice@example.test", "Archive/Fleet"); len(got) != 1 {
		t.Fatalf("copy: %q", got)
	}
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 0 {
		t.Error("moved message also in INBOX")
	}
	ctx := context.Background()
	mb, _ := e.store.Mailbox(ctx, e.ids["alice@example.test"], "Navy Project")
	msgs, _ := e.store.Messages(ctx, mb.ID, storage.Query{})
	if !slices.Contains(msgs[0].Flags, `\Flagged`) || !slices.Contains(msgs[0].Flags, "Navy") {
		t.Errorf("flags %v", msgs[0].Flags)
	}
}

func TestRuleExtensionFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.setRules("alice@example.test", `[[rules]]
conditions = [{ if = "recipient", contains = "+;:" }]
actions = [{ do = "move", folder = "%%Extension%%" }]`)
	c := e.dial(MX)
	if err := send(c, "x@remote.test", []string{"alice+Important@example.test"}, message("ext", "x")); err != nil {
		t.Fatal(err)
	}
	// The seed's user:Folder form, quoted as RFC 5321 requires.
	r := e.raw(MX)
	r.cmd("EHLO client.example.test", "250")
	r.cmd("MAIL FROM:<x@remote.test>", "250")
	r.cmd(`RCPT TO:<"alice:Later"@example.test>`, "250")
	r.cmd("DATA", "354")
	r.write(message("ext", "y") + ".\r\n")
	r.expect("250")
	if len(e.folder("alice@example.test", "Important")) != 1 || len(e.folder("alice@example.test", "Later")) != 1 {
		t.Error("extension folders not filled")
	}
}

// TestRuleFolderFromSenderText: variables put the sender's text (the
// recipient address's extension, the From name) into folder names; what
// the store cannot take, or what would reach another namespace, still
// gives "250" and a folder of the account's own (never a 451 that makes
// the sender retry for days, never a folder IMAP cannot show).
func TestRuleFolderFromSenderText(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.setRules("alice@example.test", `[[rules]]
conditions = [{ if = "recipient", contains = "+" }]
actions = [{ do = "move", folder = "%%Extension%%" }]
[[rules]]
conditions = [{ if = "subject", contains = "sale" }]
actions = [{ do = "move", folder = "Senders/%%From_Name%%" }]`)
	c := e.dial(MX)
	for _, tc := range []struct{ rcpt, from, subject, folder string }{
		{"alice+a//b@example.test", "x@remote.test", "ext", "a/b"},
		{"alice+x*y@example.test", "x@remote.test", "ext", "x_y"},
		{"alice+#public@example.test", "x@remote.test", "ext", "INBOX"},
		{"alice+../../up@example.test", "x@remote.test", "ext", "up"},
		{"alice@example.test", `"*** SALE ***" <shop@remote.test>`, "sale", "Senders/___ SALE ___"},
	} {
		msg := "From: " + tc.from + "\r\nTo: alice@example.test\r\nSubject: " + tc.subject + "\r\n\r\nx\r\n"
		if err := send(c, "x@remote.test", []string{tc.rcpt}, msg); err != nil {
			t.Fatalf("%s from %s: %v", tc.rcpt, tc.from, err)
		}
		if n := len(e.folder("alice@example.test", tc.folder)); n != 1 {
			t.Errorf("%s from %s: folder %q has %d messages, want 1", tc.rcpt, tc.from, tc.folder, n)
		}
	}
}

func TestRuleQuarantineDeleteSpam(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.setRules("alice@example.test", `[[rules]]
conditions = [{ if = "subject", equals = "hold" }]
actions = [{ do = "quarantine" }]
[[rules]]
title = "drop"
conditions = [{ if = "subject", equals = "drop" }]
actions = [{ do = "delete" }]
[[rules]]
conditions = [{ if = "subject", starts_with = "cheap" }]
actions = [{ do = "spam" }]`)
	c := e.dial(MX)
	for _, s := range []string{"hold", "drop", "cheap pills", "normal"} {
		if err := send(c, "x@remote.test", []string{"alice@example.test"}, message(s, "body")); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	q, err := e.store.QuarantineEntries(context.Background())
	if err != nil || len(q) != 1 || q[0].Recipient != "alice@example.test" || q[0].From != "x@remote.test" {
		t.Fatalf("quarantine %+v %v", q, err)
	}
	if !strings.Contains(e.blob(q[0].Blob), "Subject: hold") {
		t.Error("quarantined blob")
	}
	if junk := e.folder("alice@example.test", "Junk"); len(junk) != 1 || !strings.Contains(junk[0], "cheap pills") {
		t.Errorf("junk %q", junk)
	}
	if _, bodies := e.inbox("alice@example.test"); len(bodies) != 1 || !strings.Contains(bodies[0], "Subject: normal") {
		t.Errorf("inbox %q", bodies)
	}
}

func TestRuleHeadersAndPriority(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.setRules("alice@example.test", `[[rules]]
conditions = [{ if = "all" }]
actions = [
  { do = "add_header", header = "X-Project", value = "navy" },
  { do = "edit_header", header = "Subject", value = "[URGENT] %%Subject%%" },
  { do = "delete_header", header = "X-Mailer" },
  { do = "priority", priority = "highest" },
]`)
	msg := "From: a@remote.test\r\nTo: alice@example.test\r\nSubject: ship\r\nX-Mailer: Spam 1.0\r\nX-Priority: 5\r\n\r\nbody\r\n"
	if err := send(e.dial(MX), "a@remote.test", []string{"alice@example.test"}, msg); err != nil {
		t.Fatal(err)
	}
	_, bodies := e.inbox("alice@example.test")
	if len(bodies) != 1 {
		t.Fatalf("inbox %d", len(bodies))
	}
	b := bodies[0]
	for _, want := range []string{"X-Project: navy\r\n", "Subject: [URGENT] ship\r\n", "X-Priority: 1 (Highest)\r\n", "\r\n\r\nbody\r\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("stored message lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "X-Mailer") || strings.Contains(b, "X-Priority: 5") {
		t.Errorf("fields not removed:\n%s", b)
	}
}

func TestForwarderWithSRS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{outbound: true})
	e.setRules("alice@example.test", `[forwarder]
to = ["alice.private@remote.test"]`)
	if err := send(e.dial(MX), "anna@customer.test", []string{"alice@example.test"}, message("fwd", "body")); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 0 {
		t.Error("a copy was kept without keep_copy")
	}
	q := e.queue()
	if len(q) != 1 || q[0].Recipients[0].Address != "alice.private@remote.test" {
		t.Fatalf("queue %+v", q)
	}
	// Without an SRS key the sender stays as it is; with one (the server
	// always has one) see TestForwardSRSAndBounce.
	if q[0].From != "anna@customer.test" {
		t.Errorf("envelope sender %q", q[0].From)
	}
	if !strings.HasPrefix(e.blob(q[0].Blob), rules.HopHeader+": 1\r\n") {
		t.Error("forwarded message without the loop counter")
	}
}

func TestResponderOncePerSender(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{outbound: true})
	today := time.Now().Format("2006-01-02")
	e.setRules("alice@example.test", `[responder]
mode = "once"
from_date = "`+today+`"
to_date = "`+today+`"
exclude = ["brad.thompson@x1solar"]
subject = "Re: %%Subject%%"
text = "Dear %%From_Name%%, I am on vacation."`)
	c := e.dial(MX)
	msg := "From: Anna <anna@customer.test>\r\nTo: alice@example.test\r\nSubject: panels\r\nMessage-ID: <m1@customer.test>\r\n\r\nhi\r\n"
	for range 2 {
		if err := send(c, "anna@customer.test", []string{"alice@example.test"}, msg); err != nil {
			t.Fatal(err)
		}
	}
	brad := strings.ReplaceAll(msg, "anna@customer.test", "brad.thompson@x1solar.com")
	if err := send(c, "brad.thompson@x1solar.com", []string{"alice@example.test"}, brad); err != nil {
		t.Fatal(err)
	}
	list := "List-Id: <l.customer.test>\r\n" + strings.ReplaceAll(msg, "anna@", "other@")
	if err := send(c, "other@customer.test", []string{"alice@example.test"}, list); err != nil {
		t.Fatal(err)
	}
	q := e.queue()
	if len(q) != 1 {
		t.Fatalf("%d replies queued, want 1: %+v", len(q), q)
	}
	if q[0].From != "" || q[0].Recipients[0].Address != "anna@customer.test" {
		t.Errorf("reply envelope %+v", q[0])
	}
	r := e.blob(q[0].Blob)
	for _, want := range []string{"Auto-Submitted: auto-replied", "In-Reply-To: <m1@customer.test>", "References: <m1@customer.test>", "Subject: Re: panels", "Dear Anna, I am on vacation."} {
		if !strings.Contains(r, want) {
			t.Errorf("reply lacks %q:\n%s", want, r)
		}
	}
}

// Responder ping-pong: alice and bob both answer; a message from bob to
// alice gets one reply, which bob's responder does not answer
// (Auto-Submitted), and forwarding loops between two accounts stop.
func TestLoops(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{outbound: true})
	e.setRules("alice@example.test", "[responder]\nmode = \"always\"\ntext = \"away (alice)\"\n")
	e.setRules("bob@example.test", "[responder]\nmode = \"always\"\ntext = \"away (bob)\"\n")
	msg := "From: bob@example.test\r\nTo: alice@example.test\r\nSubject: ping\r\n\r\nhi\r\n"
	if err := send(e.dial(MX), "bob@example.test", []string{"alice@example.test"}, msg); err != nil {
		t.Fatal(err)
	}
	_, bob := e.inbox("bob@example.test")
	if len(bob) != 1 || !strings.Contains(bob[0], "away (alice)") {
		t.Fatalf("bob's inbox %q", bob)
	}
	if _, alice := e.inbox("alice@example.test"); len(alice) != 1 {
		t.Fatalf("alice got %d messages (ping-pong)", len(alice))
	}

	// A -> B -> A forwarding between local accounts ends at the hop limit.
	e.setRules("alice@example.test", "[forwarder]\nto = [\"bob@example.test\"]\nkeep_copy = true\n")
	e.setRules("bob@example.test", "[forwarder]\nto = [\"alice@example.test\"]\nkeep_copy = true\n")
	if err := send(e.dial(MX), "x@remote.test", []string{"alice@example.test"}, message("loop", "body")); err != nil {
		t.Fatal(err)
	}
	_, alice := e.inbox("alice@example.test")
	_, bob = e.inbox("bob@example.test")
	n := 0
	for _, b := range append(alice, bob...) {
		if strings.Contains(b, "Subject: loop") {
			n++
		}
	}
	if n != rules.MaxHops+1 {
		t.Errorf("%d copies of the looping message, want %d", n, rules.MaxHops+1)
	}
}

func TestRuleEncryptDecryptsWithOpenSSL(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is required (Debian package openssl)")
		}
		t.Skip("openssl not installed")
	}
	e := newEnv(t, envOptions{})
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t, "alice@example.test")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	if err := e.store.SetMetadata(context.Background(), e.ids["alice@example.test"], 0,
		[]storage.MetadataEntry{{Name: delivery.CertEntry, Value: certPEM}}); err != nil {
		t.Fatal(err)
	}
	e.setRules("alice@example.test", `[[rules]]
conditions = [{ if = "all" }]
actions = [{ do = "encrypt" }]`)
	msg := "From: a@remote.test\r\nTo: alice@example.test\r\nSubject: secret plans\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe launch code is 1234.\r\n"
	if err := send(e.dial(MX), "a@remote.test", []string{"alice@example.test"}, msg); err != nil {
		t.Fatal(err)
	}
	_, bodies := e.inbox("alice@example.test")
	if len(bodies) != 1 {
		t.Fatalf("inbox %d", len(bodies))
	}
	stored := bodies[0]
	if strings.Contains(stored, "launch code") || !strings.Contains(stored, "application/pkcs7-mime") || !strings.Contains(stored, "Subject: secret plans") {
		t.Fatalf("stored message is not encrypted:\n%s", stored)
	}
	in := filepath.Join(dir, "msg.eml")
	os.WriteFile(in, []byte(stored), 0o600)
	out, err := exec.Command("openssl", "cms", "-decrypt", "-in", in, "-recip", certFile, "-inkey", keyFile).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cms -decrypt: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "The launch code is 1234.") || !strings.Contains(string(out), "Content-Type: text/plain") {
		t.Errorf("decrypted:\n%s", out)
	}
}

func selfSigned(t *testing.T, email string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(42),
		Subject:        pkix.Name{CommonName: email},
		EmailAddresses: []string{email},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(24 * time.Hour),
		KeyUsage:       x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return certPEM, keyPEM
}

func TestServerRulesFromConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Rules = []rules.Rule{{
			Conditions: []rules.Condition{{If: rules.IfAttachmentName, EndsWith: ".exe"}},
			Actions:    []rules.Action{{Do: rules.DoReject, Text: "No executables"}},
		}}
	}})
	msg := "From: a@remote.test\r\nTo: alice@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"game.EXE\"\r\n\r\nMZ\r\n--b--\r\n"
	err := send(e.dial(MX), "a@remote.test", []string{"alice@example.test", "bob@example.test"}, msg)
	wantCode(t, err, 550, gosmtp.EnhancedCode{5, 7, 1})
}

// rspamd from Debian on loopback scores a GTUBE message arriving on port
// 25: filed into Junk with X-Spam-* fields, a rule sees the verdict, and
// with reject_score the message is refused with 550. A scanner that is
// down leaves mail unscored and accepted.
func TestSpamWithRspamd(t *testing.T) {
	t.Parallel()
	url := rspamdtest.Start(t)
	gtube := "From: a@remote.test\r\nTo: alice@example.test\r\nSubject: offer\r\n\r\n" + rspamdtest.GTUBE + "\r\n"
	ham := "From: a@remote.test\r\nTo: alice@example.test\r\nSubject: lunch\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <l@remote.test>\r\n\r\nnoon?\r\n"

	e := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Spam.RspamdURL = url
		c.Spam.Timeout = config.Duration(30 * time.Second)
	}})
	e.setRules("bob@example.test", `[[rules]]
conditions = [{ if = "spam_score", greater = 10 }]
actions = [{ do = "copy", folder = "Scored" }, { do = "stop" }]`)
	c := e.dial(MX)
	if err := send(c, "a@remote.test", []string{"alice@example.test", "bob@example.test"}, gtube); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "a@remote.test", []string{"alice@example.test"}, ham); err != nil {
		t.Fatal(err)
	}
	junk := e.folder("alice@example.test", "Junk")
	if len(junk) != 1 || !strings.Contains(junk[0], "X-Spam-Flag: YES") || !strings.Contains(junk[0], "X-Spam-Action: reject") ||
		!strings.Contains(junk[0], "Authentication-Results: mx.example.test;\r\n\tx-spam=fail policy.score=15.00") {
		t.Fatalf("Junk: %q", junk)
	}
	if _, inbox := e.inbox("alice@example.test"); len(inbox) != 1 || !strings.Contains(inbox[0], "X-Spam-Flag: NO") {
		t.Fatalf("INBOX: %q", inbox)
	}
	// A sender's own verdict is removed before ours is added.
	forged := "X-Spam-Flag: NO\r\nX-Spam-Score: -100\r\n" + gtube
	if err := send(c, "a@remote.test", []string{"alice@example.test"}, forged); err != nil {
		t.Fatal(err)
	}
	junk = e.folder("alice@example.test", "Junk")
	if len(junk) != 2 || strings.Contains(junk[1], "X-Spam-Flag: NO") || strings.Contains(junk[1], "-100") {
		t.Fatalf("forged verdict kept: %q", junk)
	}
	if got := e.folder("bob@example.test", "Scored"); len(got) != 1 {
		t.Errorf("bob's spam_score rule did not see the score: %q", got)
	}

	rej := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Spam.RspamdURL = url
		c.Spam.RejectScore = 15
	}})
	wantCode(t, send(rej.dial(MX), "a@remote.test", []string{"alice@example.test"}, gtube), 550, gosmtp.EnhancedCode{5, 7, 1})
	if err := send(rej.dial(MX), "a@remote.test", []string{"alice@example.test"}, ham); err != nil {
		t.Fatal(err)
	}
	// Submission is not scored.
	if err := sendAuth(rej, gtube); err != nil {
		t.Fatalf("submission scored: %v", err)
	}

	down := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Spam.RspamdURL = "http://127.0.0.1:9"
		c.Spam.RejectScore = 15
	}})
	if err := send(down.dial(MX), "a@remote.test", []string{"alice@example.test"}, gtube); err != nil {
		t.Fatalf("scanner down refused mail: %v", err)
	}
	if _, inbox := down.inbox("alice@example.test"); len(inbox) != 1 || !strings.Contains(inbox[0], "X-Spam-Status: Unscored") || !strings.Contains(inbox[0], "x-spam=temperror") {
		t.Fatalf("unscored: %q", inbox)
	}
}

// sendAuth sends msg over submission as alice to bob.
func sendAuth(e *env, msg string) error {
	c := e.dial(Submissions)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
		return err
	}
	return send(c, "alice@example.test", []string{"bob@example.test"}, msg)
}

// TestRuleExtensionForeignFolder: a folder extension naming another
// account's folder ("~bob@...") or the shared namespace ("#public/...")
// never creates such a folder in the recipient's own tree (where it would
// shadow the real one; IMAP reserves both prefixes): the message goes to
// INBOX. The same holds when the rule also rewrites the message (the
// recipient's own copy is stored on another path).
func TestRuleExtensionForeignFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.setRules("alice@example.test", `[[rules]]
conditions = [{ if = "recipient", contains = "+" }]
actions = [{ do = "move", folder = "%%Extension%%" }, { do = "copy", folder = "Kept/%%Extension%%" }]`)
	e.setRules("bob@example.test", `[[rules]]
conditions = [{ if = "recipient", contains = "+" }]
actions = [{ do = "move", folder = "%%Extension%%" }, { do = "add_header", header = "X-Tag", value = "yes" }]`)
	c := e.dial(MX)
	for _, rcpt := range []string{"alice+~bob@example.test", "alice+#public/Support@example.test", "bob+#public@example.test"} {
		if err := send(c, "x@remote.test", []string{rcpt}, message("to "+rcpt, "x")); err != nil {
			t.Fatalf("%s: %v", rcpt, err)
		}
	}
	ctx := context.Background()
	for _, own := range []struct{ acct, folder string }{
		{"alice@example.test", "~bob"}, {"alice@example.test", "#public"}, {"alice@example.test", "#public/Support"},
		{"bob@example.test", "#public"},
	} {
		if _, err := e.store.Mailbox(ctx, e.ids[own.acct], own.folder); err == nil {
			t.Errorf("%s: folder %q created in the recipient's tree", own.acct, own.folder)
		}
	}
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) != 2 {
		t.Errorf("alice's INBOX has %d messages, want 2", len(msgs))
	}
	// The copy's folder is an ordinary nested name of alice's own tree.
	if got := e.folder("alice@example.test", "Kept/~bob"); len(got) != 1 {
		t.Errorf("Kept/~bob: %d messages", len(got))
	}
	if _, bodies := e.inbox("bob@example.test"); len(bodies) != 1 || !strings.Contains(bodies[0], "X-Tag: yes") {
		t.Errorf("bob's INBOX: %q", bodies)
	}
}

// TestRuleExtensionFolderLimit: folders a rule creates count against
// [limits] max_mailboxes_per_account, as IMAP CREATEs do; past it the
// message goes to INBOX (senders choose the extension).
func TestRuleExtensionFolderLimit(t *testing.T) {
	t.Parallel()
	limit := len(storage.DefaultMailboxes) + 2 // room for "one" and "two"
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.Limits.MaxMailboxesPerAccount = limit }})
	e.setRules("alice@example.test", `[[rules]]
conditions = [{ if = "recipient", contains = "+" }]
actions = [{ do = "move", folder = "%%Extension%%" }]`)
	c := e.dial(MX)
	for _, rcpt := range []string{"alice+one@example.test", "alice+two@example.test", "alice+three@example.test", "alice+one@example.test"} {
		if err := send(c, "x@remote.test", []string{rcpt}, message("to "+rcpt, "x")); err != nil {
			t.Fatalf("%s: %v", rcpt, err)
		}
	}
	boxes, err := e.store.Mailboxes(context.Background(), e.ids["alice@example.test"])
	if err != nil {
		t.Fatal(err)
	}
	if len(boxes) != limit {
		t.Errorf("%d folders, want the limit of %d", len(boxes), limit)
	}
	if len(e.folder("alice@example.test", "three")) != 0 {
		t.Error("a folder past the limit")
	}
	if len(e.folder("alice@example.test", "one")) != 2 {
		t.Error("an existing folder stops taking mail at the limit")
	}
	if msgs, _ := e.inbox("alice@example.test"); len(msgs) == 0 {
		t.Error("nothing filed into INBOX past the limit")
	}
}
