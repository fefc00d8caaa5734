package smartattach

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
	"github.com/floemail/floe/storage/sqlite"
)

const minSize = 16 * 1024

// content returns n pseudo-random bytes (seeded: the same seed, the same
// bytes).
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// b64 is base64 in 76-character lines (RFC 2045 6.8).
func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

func attachment(name string, data []byte) string {
	return "Content-Type: application/octet-stream; name=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"" + name + "\"\r\n\r\n" + b64(data)
}

const textPart = "Content-Type: text/plain; charset=utf-8\r\n\r\nHello, see the attachments.\r\n"

// multipart builds a message of subtype with the given parts.
func multipart(subtype string, parts ...string) string {
	var b strings.Builder
	b.WriteString("From: alice@example.test\r\nTo: bob@remote.test\r\nSubject: Report\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <r1@example.test>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/" + subtype + "; boundary=\"=_b1\"\r\n\r\nThis is a MIME message.\r\n")
	for _, p := range parts {
		b.WriteString("--=_b1\r\n" + p + "\r\n")
	}
	b.WriteString("--=_b1--\r\n")
	return b.String()
}

type fixture struct {
	st   *sqlite.Store
	cfg  *config.Config
	acct storage.Account
	rw   *Rewriter
	now  time.Time
}

func newFixture(t *testing.T, quota int64) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, storage.Account{Address: "alice@example.test", PasswordHash: "x", QuotaBytes: quota})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Development()
	cfg.Server.Hostname = "mail.example.test"
	cfg.Files.SmartAttachMail = true
	cfg.Files.SmartAttachMinSize = minSize
	cfg.Files.SmartAttachLinkLifetime = config.Duration(7 * 24 * time.Hour)
	f := &fixture{st: st, cfg: cfg, acct: acct, now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	f.rw = New(Options{Store: st, Config: func() *config.Config { return f.cfg }, Now: func() time.Time { return f.now }})
	return f
}

func (f *fixture) put(t *testing.T, msg string) storage.BlobRef {
	t.Helper()
	ref, err := f.st.PutBlob(t.Context(), strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (f *fixture) read(t *testing.T, id storage.BlobID) []byte {
	t.Helper()
	b, err := f.st.OpenBlob(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (f *fixture) rewrite(t *testing.T, msg string) (storage.BlobRef, Result) {
	t.Helper()
	ref := f.put(t, msg)
	res, err := f.rw.Rewrite(t.Context(), Message{Account: f.acct.ID, Blob: ref, Recipients: []string{"bob@remote.test"}})
	if err != nil {
		t.Fatal(err)
	}
	return ref, res
}

var linkRE = regexp.MustCompile(`https://mail\.example\.test:8443/webdav/link/([A-Za-z0-9_-]+)/([^\s]+)`)

// decodedParts parses raw and returns its leaf parts with their decoded
// bodies.
func decodedParts(t *testing.T, raw []byte) ([]storage.Part, [][]byte) {
	t.Helper()
	p, err := mimeparse.Parse(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var parts []storage.Part
	var bodies [][]byte
	var walk func(p *storage.Part)
	walk = func(p *storage.Part) {
		if len(p.Children) > 0 {
			for i := range p.Children {
				walk(&p.Children[i])
			}
			return
		}
		b, _ := io.ReadAll(mimeparse.DecodedReader(p, bytes.NewReader(raw)))
		parts, bodies = append(parts, *p), append(bodies, b)
	}
	walk(&p.Structure)
	return parts, bodies
}

// TestRewrite: a large attachment becomes a file and a link; the text and
// the small attachment stay byte for byte; the original blob goes.
func TestRewrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	ctx := t.Context()
	big := content(1, 40*1024)
	small := content(2, 300)
	orig := multipart("mixed", textPart, attachment("big report.bin", big), attachment("small.bin", small))
	ref, res := f.rewrite(t, orig)
	if res.Blob == ref || len(res.Links) != 1 {
		t.Fatalf("not rewritten: %+v", res)
	}
	if _, err := f.st.OpenBlob(ctx, ref.ID); err == nil {
		t.Error("the original blob was kept")
	}
	raw := f.read(t, res.Blob.ID)
	if int64(len(raw)) != res.Blob.Size || len(raw) > len(orig)/2 {
		t.Fatalf("rewritten size %d (blob %d) of %d", len(raw), res.Blob.Size, len(orig))
	}
	parts, bodies := decodedParts(t, raw)
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	if !strings.Contains(string(raw), textPart) || !strings.Contains(string(raw), attachment("small.bin", small)) {
		t.Error("the other parts changed")
	}
	if !bytes.Equal(bodies[2], small) {
		t.Error("small attachment changed")
	}
	if p := parts[1]; p.Type != "text" || p.Subtype != "plain" || p.Disposition != "inline" || p.Encoding != "quoted-printable" {
		t.Fatalf("replacement part %+v", p)
	}
	text := string(bodies[1])
	m := linkRE.FindStringSubmatch(text)
	if m == nil || m[2] != "big%20report.bin" {
		t.Fatalf("no link in %q", text)
	}
	for _, want := range []string{`"big report.bin"`, "(41.0 kB)", "until 2025-06-08 12:00 UTC"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q: %q", want, text)
		}
	}
	for _, b := range raw {
		if b >= 0x80 {
			t.Fatal("rewritten message is not 7-bit")
		}
	}

	// The link: stored hashed, for the file, with its expiry and note.
	l := res.Links[0]
	if l.TokenHash != storage.HashLinkToken(m[1]) || strings.Contains(l.TokenHash, m[1]) || len(m[1]) < 32 {
		t.Fatalf("token %q, hash %q", m[1], l.TokenHash)
	}
	got, err := f.st.LinkByToken(ctx, l.TokenHash)
	if err != nil || got.ID != l.ID || got.Name != "big report.bin" || got.Size != int64(len(big)) ||
		!got.Expires.Equal(f.now.Add(7*24*time.Hour)) || got.Note != "mail to bob@remote.test: Report" {
		t.Fatalf("stored link %+v, %v", got, err)
	}
	// The file: in Files/Attachments, a file folder, the exact bytes.
	mb, err := f.st.Mailbox(ctx, f.acct.ID, Folder)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := storage.IsFileFolder(ctx, f.st, mb); !ok || got.Mailbox != mb.ID {
		t.Fatalf("folder %+v is no file folder (link folder %d)", mb, got.Mailbox)
	}
	file, err := f.st.File(ctx, mb.ID, "big report.bin")
	if err != nil || file.Content != l.Content || file.ContentType != "application/octet-stream" {
		t.Fatalf("file %+v, %v", file, err)
	}
	if !bytes.Equal(f.read(t, file.Content), big) {
		t.Fatal("file content differs from the attachment")
	}
	filesMB, _ := f.st.Mailbox(ctx, f.acct.ID, storage.DefaultFilesFolder)
	if es, _ := f.st.GetMetadata(ctx, f.acct.ID, filesMB.ID, []string{storage.FolderTypePrivateEntry}, 0); len(es) != 1 || string(es[0].Value) != "file.default" {
		t.Errorf("Files folder metadata %+v", es)
	}

	// The same attachment again: the file is reused, a new link made.
	_, res2 := f.rewrite(t, orig)
	if len(res2.Links) != 1 || res2.Links[0].Name != "big report.bin" || res2.Links[0].TokenHash == l.TokenHash {
		t.Fatalf("second send: %+v", res2.Links)
	}
	// Other bytes under the same name: a new file beside.
	_, res3 := f.rewrite(t, multipart("mixed", textPart, attachment("big report.bin", content(3, 20*1024))))
	if len(res3.Links) != 1 || res3.Links[0].Name != "big report (2).bin" {
		t.Fatalf("name clash: %+v", res3.Links)
	}
	files, _ := f.st.Files(ctx, mb.ID)
	if len(files) != 2 {
		t.Fatalf("%d files, want 2", len(files))
	}
}

// TestUntouched: what Rewrite must leave alone returns the same blob and
// stores nothing.
func TestUntouched(t *testing.T) {
	t.Parallel()
	big := content(4, 40*1024)
	inline := "Content-Type: image/png; name=\"i.png\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: inline\r\n\r\n" + b64(big)
	related := "Content-Type: image/png; name=\"i.png\"\r\nContent-ID: <img1>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(big)
	html := "Content-Type: text/html; charset=utf-8\r\n\r\n<img src=\"cid:img1\">\r\n"
	signed := strings.Replace(multipart("signed", multipart("mixed", textPart, attachment("a.bin", big)), "Content-Type: application/pkcs7-signature\r\n\r\nAAAA"),
		"multipart/signed;", "multipart/signed; protocol=\"application/pkcs7-signature\";", 1)
	forwarded := "Content-Type: message/rfc822\r\n\r\n" + multipart("mixed", textPart, attachment("a.bin", big))
	tests := []struct {
		name string
		off  bool
		msg  string
	}{
		{"off by default", true, multipart("mixed", textPart, attachment("a.bin", big))},
		{"small attachment", false, multipart("mixed", textPart, attachment("a.bin", content(5, 4000)))},
		{"encoded above, decoded below", false, multipart("mixed", textPart, attachment("a.bin", content(6, minSize-1000)))},
		{"inline image", false, multipart("mixed", textPart, inline)},
		{"related image", false, multipart("mixed", multipart("related", html, related))},
		{"signed", false, signed},
		{"forwarded message", false, multipart("mixed", textPart, forwarded)},
		{"single part", false, "Subject: x\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(big)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 0)
			if tt.off {
				f.cfg = config.Development()
			}
			ref, res := f.rewrite(t, tt.msg)
			if res.Blob != ref || len(res.Links) != 0 {
				t.Fatalf("rewritten: %+v", res)
			}
			if got := f.read(t, ref.ID); string(got) != tt.msg {
				t.Fatal("blob changed")
			}
			if _, err := f.st.Mailbox(t.Context(), f.acct.ID, Folder); !errors.Is(err, storage.ErrNoMailbox) {
				t.Fatalf("attachments folder: %v", err)
			}
		})
	}
}

// TestNested: an attachment inside nested multiparts is found; the
// related image beside it stays.
func TestNested(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	big := content(7, 30*1024)
	inner := strings.ReplaceAll(multipart("mixed", textPart, attachment("deep.bin", big)), "=_b1", "=_b2")
	inner = inner[strings.Index(inner, "Content-Type: multipart"):] // as a part: header from Content-Type on
	_, res := f.rewrite(t, multipart("mixed", textPart, inner))
	if len(res.Links) != 1 || res.Links[0].Name != "deep.bin" {
		t.Fatalf("links %+v", res.Links)
	}
	parts, bodies := decodedParts(t, f.read(t, res.Blob.ID))
	if len(parts) != 3 || !linkRE.Match(bodies[2]) {
		t.Fatalf("parts %d, last %q", len(parts), bodies[len(bodies)-1])
	}
}

// TestOverQuota: an attachment the sender's quota cannot hold stays in
// the message.
func TestOverQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 20*1024)
	ref, res := f.rewrite(t, multipart("mixed", textPart, attachment("a.bin", content(8, 40*1024))))
	if res.Blob != ref || len(res.Links) != 0 {
		t.Fatalf("rewritten past the quota: %+v", res)
	}
}

// TestRewriteFails: a storage failure is returned, the links made so far
// are revoked and the message is not changed.
func TestRewriteFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	msg := multipart("mixed", textPart, attachment("a.bin", content(9, 20*1024)), attachment("b.bin", content(10, 20*1024)))
	ref := f.put(t, msg)
	fs := &failingStore{Store: f.st, failLink: 2}
	rw := New(Options{Store: fs, Config: func() *config.Config { return f.cfg }, Now: func() time.Time { return f.now }})
	res, err := rw.Rewrite(t.Context(), Message{Account: f.acct.ID, Blob: ref})
	if err == nil || res.Blob != ref {
		t.Fatalf("Rewrite: %+v, %v", res, err)
	}
	links, _ := f.st.Links(t.Context(), f.acct.ID)
	if len(links) != 1 || links[0].Revoked.IsZero() {
		t.Fatalf("links after failure: %+v", links)
	}
	if string(f.read(t, ref.ID)) != msg {
		t.Fatal("message changed")
	}
}

type failingStore struct {
	storage.Store
	failLink int
	links    int
}

func (s *failingStore) CreateLink(ctx context.Context, l storage.Link) (storage.LinkID, error) {
	s.links++
	if s.links == s.failLink {
		return 0, storage.ErrStorageFull
	}
	return s.Store.CreateLink(ctx, l)
}

func TestHumanSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 bytes", 999: "999 bytes", 1000: "1.0 kB", 41000: "41.0 kB",
		999_949: "999.9 kB", 999_950: "1.0 MB", 12_345_678: "12.3 MB", 3_000_000_000: "3.0 GB"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestPartBytesBoundary: a file name that quoted-printable would wrap
// onto a line starting with "-" makes the part base64.
func TestPartBytesBoundary(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"report.pdf", strings.Repeat("x", 60) + "--=_b1--.pdf", strings.Repeat("-", 200)} {
		p := partBytes(PartText(name, 1234, "https://h/webdav/link/t/x", time.Unix(0, 0)))
		if bytes.Contains(p, []byte("\n-")) {
			t.Errorf("%q: a line starts with '-':\n%s", name, p)
		}
		raw := multipart("mixed", string(p))
		parts, bodies := decodedParts(t, []byte(raw))
		if len(parts) != 1 || !strings.Contains(string(bodies[0]), name) {
			t.Errorf("%q: %d parts, body %q", name, len(parts), bodies)
		}
	}
}

// memBlob is a storage.Blob over bytes.
type memBlob struct{ *bytes.Reader }

func (memBlob) Close() error { return nil }

// FuzzCompose: for any message, replacing the candidates (every
// attachment, min 1) gives a message that parses to as many leaf parts,
// each replaced one a text/plain part, the others byte for byte the same.
func FuzzCompose(f *testing.F) {
	big := content(11, 3000)
	f.Add(multipart("mixed", textPart, attachment("a.bin", big), attachment("b.bin", big[:10])))
	f.Add(multipart("mixed", textPart, strings.ReplaceAll(multipart("mixed", attachment("c.bin", big)), "=_b1", "=_b2")[strings.Index(multipart("mixed"), "Content-Type: multipart"):]))
	f.Add(multipart("mixed", "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''%E2%82%AC.pdf\r\n\r\n%PDF"))
	f.Add("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Disposition: attachment\r\n\r\nabc\r\n--x\r\n\r\n--x--")
	f.Fuzz(func(t *testing.T, msg string) {
		if len(msg) > 1<<16 {
			return
		}
		raw := []byte(msg)
		p, err := mimeparse.Parse(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			return
		}
		cands := Candidates(&p.Structure, 1)
		if len(cands) == 0 {
			return
		}
		var repl []replacement
		for _, c := range cands {
			repl = append(repl, replacement{part: c, text: PartText(mimeparse.ParamValue(c.DispParams, "filename"), c.End-c.BodyStart, "https://h/webdav/link/t/n", time.Unix(0, 0))})
		}
		out, err := io.ReadAll(compose(memBlob{bytes.NewReader(raw)}, repl))
		if err != nil {
			t.Fatal(err)
		}
		// Outside the replaced ranges, every byte is the original's.
		var off int64
		pos := 0
		for i, r := range repl {
			seg := raw[off:r.part.HeaderStart]
			if !bytes.Equal(out[pos:pos+len(seg)], seg) {
				t.Fatalf("bytes before replacement %d differ", i)
			}
			pos += len(seg) + len(partBytes(r.text))
			off = r.part.End
		}
		if !bytes.Equal(out[pos:], raw[off:]) {
			t.Fatal("tail differs")
		}
		// The structure is the same, with text parts in place of the
		// replaced ones.
		np, err := mimeparse.Parse(bytes.NewReader(out), int64(len(out)))
		if err != nil {
			t.Fatalf("rewritten message does not parse: %v", err)
		}
		oldLeaves, newLeaves := leaves(&p.Structure), leaves(&np.Structure)
		if len(oldLeaves) != len(newLeaves) {
			t.Fatalf("%d leaf parts, was %d", len(newLeaves), len(oldLeaves))
		}
		for i, l := range oldLeaves {
			replaced := slices.Contains(cands, l)
			if nl := newLeaves[i]; replaced && (nl.Type != "text" || nl.Subtype != "plain" || nl.Disposition != "inline") {
				t.Fatalf("leaf %d: %s/%s %q after replacement", i, nl.Type, nl.Subtype, nl.Disposition)
			}
		}
	})
}

// leaves returns the leaf parts of p in order (message/rfc822 parts count
// as leaves: their content is not looked into).
func leaves(p *storage.Part) []*storage.Part {
	if len(p.Children) == 0 {
		return []*storage.Part{p}
	}
	var out []*storage.Part
	for i := range p.Children {
		out = append(out, leaves(&p.Children[i])...)
	}
	return out
}
