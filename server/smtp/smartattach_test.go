package smtp

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/smartattach"
	"github.com/floemail/floe/storage"
)

// bigAttachmentMessage is a message from alice with a text part and an
// attachment of data.
func bigAttachmentMessage(subject string, data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	return "From: alice@example.test\r\nTo: bob@example.test, someone@remote.test\r\nSubject: " + subject + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"xyz\"\r\n\r\n" +
		"--xyz\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--xyz\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"data.zip\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b.String() + "\r\n--xyz--\r\n"
}

// TestSmartAttachSubmission: with [files] smartattach_mail on, a large
// attachment submitted for a local and a remote recipient is rewritten
// once: the local copy and the queued copy are the same message with the
// link, the file holds the exact bytes. Mail on port 25 and small
// attachments are left alone; off, nothing changes.
func TestSmartAttachSubmission(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{outbound: true, smartAttach: true, config: func(c *config.Config) {
		c.Files.SmartAttachMail = true
		c.Files.SmartAttachMinSize = 32 * config.KiB
	}})
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80,000 bytes
	c := e.dial(Submissions)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "alice@example.test", []string{"bob@example.test", "someone@remote.test"}, bigAttachmentMessage("big", data)); err != nil {
		t.Fatal(err)
	}
	msgs, bodies := e.inbox("bob@example.test")
	entries, _ := e.store.QueueEntries(ctx)
	if len(msgs) != 1 || len(entries) != 1 || msgs[0].Blob != entries[0].Blob {
		t.Fatalf("local %d, queued %d: not the same blob", len(msgs), len(entries))
	}
	if !strings.Contains(bodies[0], "/webdav/link/") || strings.Contains(bodies[0], base64.StdEncoding.EncodeToString(data[:300])) ||
		!strings.HasPrefix(bodies[0], "Received: ") || msgs[0].Size > 4000 {
		t.Fatalf("local copy not rewritten (%d bytes):\n%.2000s", msgs[0].Size, bodies[0])
	}
	links, err := e.store.Links(ctx, e.ids["alice@example.test"])
	if err != nil || len(links) != 1 || links[0].Name != "data.zip" || links[0].Size != int64(len(data)) {
		t.Fatalf("links %+v %v", links, err)
	}
	mb, err := e.store.Mailbox(ctx, e.ids["alice@example.test"], smartattach.Folder)
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.store.File(ctx, mb.ID, "data.zip")
	if err != nil || e.blob(f.Content) != string(data) {
		t.Fatalf("file %+v %v", f, err)
	}

	// A small attachment: untouched.
	small := bigAttachmentMessage("small", data[:1000])
	if err := send(c, "alice@example.test", []string{"bob@example.test"}, small); err != nil {
		t.Fatal(err)
	}
	if _, bodies = e.inbox("bob@example.test"); !strings.HasSuffix(bodies[1], small) {
		t.Fatalf("small attachment changed:\n%s", bodies[1])
	}
	// Port 25 (not a submission): untouched.
	mx := e.dial(MX)
	big := strings.Replace(bigAttachmentMessage("mx", data), "From: alice@example.test", "From: x@remote.test", 1)
	if err := send(mx, "x@remote.test", []string{"bob@example.test"}, big); err != nil {
		t.Fatal(err)
	}
	if _, bodies = e.inbox("bob@example.test"); !strings.HasSuffix(bodies[2], big) {
		t.Fatal("mail from port 25 rewritten")
	}
	if links, _ := e.store.Links(ctx, 0); len(links) != 1 {
		t.Fatalf("%d links", len(links))
	}

	// Off (the default): untouched.
	e = newEnv(t, envOptions{outbound: true, smartAttach: true})
	c = e.dial(Submissions)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
		t.Fatal(err)
	}
	off := bigAttachmentMessage("off", data)
	if err := send(c, "alice@example.test", []string{"bob@example.test"}, off); err != nil {
		t.Fatal(err)
	}
	if _, bodies = e.inbox("bob@example.test"); !strings.HasSuffix(bodies[0], off) {
		t.Fatal("rewritten while off")
	}
	if links, _ := e.store.Links(ctx, 0); len(links) != 0 {
		t.Fatalf("%d links while off", len(links))
	}
}

// linkFailStore fails CreateLink (SmartAttach's last storage step).
type linkFailStore struct {
	storage.Store
	err error
}

func (s *linkFailStore) CreateLink(context.Context, storage.Link) (storage.LinkID, error) {
	return 0, s.err
}

// TestSmartAttachFailure: when SmartAttach cannot finish, the client gets
// a temporary error and nothing is delivered or queued (it retries).
func TestSmartAttachFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		code int
		enh  gosmtp.EnhancedCode
	}{
		{storage.ErrStorageFull, 452, gosmtp.EnhancedCode{4, 3, 1}},
		{storage.ErrNoMailbox, 451, gosmtp.EnhancedCode{4, 3, 0}},
	} {
		e := newEnv(t, envOptions{outbound: true, smartAttach: true,
			store:  func(st storage.Store) storage.Store { return &linkFailStore{Store: st, err: tc.err} },
			config: func(c *config.Config) { c.Files.SmartAttachMail = true; c.Files.SmartAttachMinSize = 32 * config.KiB }})
		c := e.dial(Submissions)
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
			t.Fatal(err)
		}
		err := send(c, "alice@example.test", []string{"bob@example.test", "someone@remote.test"}, bigAttachmentMessage("big", bytes.Repeat([]byte("x"), 50000)))
		wantCode(t, err, tc.code, tc.enh)
		if msgs, _ := e.inbox("bob@example.test"); len(msgs) != 0 {
			t.Fatalf("%v: delivered", tc.err)
		}
		if q, _ := e.store.QueueEntries(context.Background()); len(q) != 0 {
			t.Fatalf("%v: queued", tc.err)
		}
	}
}
