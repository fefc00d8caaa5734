// Package smartattach is SmartAttach for mail (docs/files.md): in a
// message a local user submits, each large attachment is stored as a file
// in the sender's Files/Attachments folder (storage/ingest, the one write
// path) and replaced in the message by a short text part with a download
// link (storage.Links) that works without login until it expires or the
// administrator revokes it. The SMTP submission path calls Rewrite once,
// before the message is delivered locally or queued, so every copy gets
// the same rewritten message; the queue signs it (DKIM) later.
//
// The download side is webdav/files' LinkHandler (/webdav/link/...).
package smartattach

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/url"
	"strings"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/mimeparse"
)

// Folder is where the files go, in the sender's account: a subfolder of
// the default Files folder, created (typed file) on first use.
const Folder = storage.DefaultFilesFolder + "/Attachments"

// LinkPath is the path of download links below the base URL:
// <base>/webdav/link/<token>/<file name>.
const LinkPath = "/webdav/link/"

// Options configures a Rewriter.
type Options struct {
	Store storage.Store
	// Config returns the current configuration; [files] smartattach_* are
	// read per message.
	Config func() *config.Config
	Logger *slog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Rewriter replaces large attachments of submitted messages by links. It
// holds no state between messages and is safe for concurrent use.
type Rewriter struct {
	o   Options
	log *slog.Logger
}

// New returns a Rewriter.
func New(o Options) *Rewriter {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Rewriter{o: o, log: log}
}

// Message is a submitted message to rewrite.
type Message struct {
	// Account is the logged-in sender: the files go into its Files folder.
	Account storage.AccountID
	// Blob is the spooled message (storage.Store.PutBlob).
	Blob storage.BlobRef
	// Recipients are the envelope recipients, for the links' notes.
	Recipients []string
}

// Result is what Rewrite did.
type Result struct {
	// Blob is the message to deliver and queue: a new blob when
	// attachments were replaced (the original is then discarded), else
	// the original.
	Blob storage.BlobRef
	// Links are the links made, one per replaced attachment, in message
	// order.
	Links []storage.Link
}

// Rewrite replaces every attachment of m of at least [files]
// smartattach_min_size decoded bytes by a link, when [files]
// smartattach_mail is on; otherwise, and for messages with nothing to
// replace, it returns m.Blob unchanged without storing anything.
//
// Attachments are leaf parts of a multipart message with a Content-
// Disposition of attachment, or with a file name and no disposition
// (not inline parts, nor parts of a multipart/related with a Content-ID,
// which the message's HTML shows). Nothing inside message/rfc822 parts
// is replaced, and signed or encrypted messages (multipart/signed,
// multipart/encrypted, application/pkcs7-mime at the top) are left whole:
// a rewrite would break their signature.
//
// Each attachment is stored in Folder with its file name (a file of that
// name with the same content is reused; another gets " (2)" and so on).
// An attachment that does not fit the sender's quota stays in the
// message (logged). Other storage errors are returned, after revoking
// the links made so far; files already stored stay in the folder.
func (r *Rewriter) Rewrite(ctx context.Context, m Message) (Result, error) {
	res := Result{Blob: m.Blob}
	cfg := r.o.Config()
	min := cfg.Files.SmartAttachMinSize.Int64()
	if !cfg.Files.SmartAttachMail || m.Blob.Size < min {
		return res, nil
	}
	st := r.o.Store
	blob, err := st.OpenBlob(ctx, m.Blob.ID)
	if err != nil {
		return res, fmt.Errorf("smartattach: open message: %w", err)
	}
	defer blob.Close()
	parsed, err := mimeparse.Parse(blob, blob.Size())
	if err != nil {
		return res, fmt.Errorf("smartattach: parse message: %w", err)
	}
	cands := Candidates(&parsed.Structure, min)
	if len(cands) == 0 {
		return res, nil
	}

	now := r.o.Now()
	expires := now.Add(cfg.Files.SmartAttachLinkLifetime.D())
	prefix := cfg.LinkURL()
	note := linkNote(m.Recipients, parsed.Envelope.Subject)
	var folder *storage.Mailbox
	var repl []replacement
	fail := func(err error) (Result, error) {
		for _, l := range res.Links {
			_ = st.RevokeLink(context.WithoutCancel(ctx), l.ID, now)
		}
		return Result{Blob: m.Blob}, err
	}
	for _, p := range cands {
		content, err := ingest.Spool(ctx, st, mimeparse.DecodedReader(p, blob))
		if err != nil {
			return fail(fmt.Errorf("smartattach: spool attachment: %w", err))
		}
		if content.Size < min { // encoded above the limit, decoded below
			ingest.Discard(ctx, st, content.ID)
			continue
		}
		if folder == nil {
			mb, err := storage.EnsureFileFolder(ctx, st, m.Account, Folder)
			if err != nil {
				ingest.Discard(ctx, st, content.ID)
				if errors.Is(err, storage.ErrNoMailbox) {
					r.log.Warn("SmartAttach: the sender has no usable Files folder; attachments stay in the message", "account", m.Account, "err", err)
					break
				}
				return fail(fmt.Errorf("smartattach: folder: %w", err))
			}
			folder = &mb
		}
		name := ingest.AttachmentName(p)
		ctype := mime.FormatMediaType(p.Type+"/"+p.Subtype, nil)
		// One file per content: the same attachment sent again reuses
		// its file; other bytes under a taken name get " (2)", ...
		f, _, err := ingest.PutNewFile(ctx, st, storage.FileWrite{Mailbox: folder.ID, Name: name, ContentType: ctype}, content, true)
		if errors.Is(err, storage.ErrOverQuota) {
			r.log.Info("SmartAttach: attachment above the sender's quota stays in the message", "account", m.Account, "size", content.Size)
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("smartattach: store file: %w", err))
		}
		token, hash, err := storage.NewLinkToken()
		if err != nil {
			return fail(fmt.Errorf("smartattach: token: %w", err))
		}
		l := storage.Link{TokenHash: hash, Account: m.Account, Mailbox: folder.ID, Name: f.Name,
			Content: f.Content, Size: f.Size, Created: now, Expires: expires, Note: note}
		if l.ID, err = st.CreateLink(ctx, l); err != nil {
			return fail(fmt.Errorf("smartattach: link: %w", err))
		}
		res.Links = append(res.Links, l)
		link := prefix + token + "/" + url.PathEscape(f.Name)
		repl = append(repl, replacement{part: p, text: PartText(f.Name, f.Size, link, expires)})
		r.log.Info("SmartAttach: attachment replaced by a link", "account", m.Account, "link", l.ID, "file", f.Name, "size", f.Size, "expires", expires)
	}
	if len(repl) == 0 {
		return res, nil
	}
	ref, err := ingest.Spool(ctx, st, compose(blob, repl))
	if err != nil {
		return fail(fmt.Errorf("smartattach: spool rewritten message: %w", err))
	}
	ingest.Discard(ctx, st, m.Blob.ID)
	res.Blob = ref
	return res, nil
}

// Candidates returns the parts of root that Rewrite replaces when their
// decoded size reaches min (their encoded size is checked here: it is
// never smaller), in message order. See Rewrite for which parts qualify.
func Candidates(root *storage.Part, min int64) []*storage.Part {
	if root.Type != "multipart" {
		return nil // a single-part message, or S/MIME application/pkcs7-mime
	}
	var out []*storage.Part
	var walk func(p *storage.Part, related bool)
	walk = func(p *storage.Part, related bool) {
		if p.Type == "multipart" {
			if p.Subtype == "signed" || p.Subtype == "encrypted" { // RFC 1847
				return
			}
			for i := range p.Children {
				walk(&p.Children[i], p.Subtype == "related")
			}
			return
		}
		if p.Type == "message" || p.Message != nil || len(p.Children) > 0 || p.End-p.BodyStart < min {
			return
		}
		named := mimeparse.ParamValue(p.DispParams, "filename") != "" || mimeparse.ParamValue(p.Params, "name") != ""
		switch {
		case p.Disposition == "attachment":
		case p.Disposition == "" && named && !(related && p.ID != ""):
		default:
			return
		}
		if n := len(out); n > 0 && p.HeaderStart < out[n-1].End {
			return // overlapping offsets of a malformed message: compose copies in order
		}
		out = append(out, p)
	}
	if root.Subtype == "signed" || root.Subtype == "encrypted" {
		return nil
	}
	walk(root, false)
	return out
}

// PartText is the body of the text part that replaces an attachment.
func PartText(name string, size int64, url string, expires time.Time) string {
	return fmt.Sprintf("The attachment %q (%s) was replaced by a download link:\r\n\r\n%s\r\n\r\nThe link works until %s.\r\n",
		name, HumanSize(size), url, expires.UTC().Format("2006-01-02 15:04 UTC"))
}

// HumanSize formats n bytes for people: "850 bytes", "12.3 MB" (decimal
// units, as file managers show them).
func HumanSize(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d bytes", n)
	}
	units := []string{"kB", "MB", "GB", "TB"}
	v := float64(n) / 1000
	i := 0
	for v >= 999.95 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// linkNote describes what a link was made for (floe smartattach list).
func linkNote(rcpts []string, subject string) string {
	n := "mail to " + strings.Join(rcpts, ", ")
	if subject != "" {
		n += ": " + subject
	}
	if len(n) > storage.MaxLinkNote {
		n = n[:storage.MaxLinkNote-3]
		for len(n) > 0 && n[len(n)-1]&0xC0 == 0x80 { // not inside a UTF-8 sequence
			n = n[:len(n)-1]
		}
		if len(n) > 0 && n[len(n)-1] >= 0xC0 {
			n = n[:len(n)-1]
		}
		n += "..."
	}
	return n
}

// replacement is one attachment to replace by a text.
type replacement struct {
	part *storage.Part
	text string
}

// compose returns the message raw with each replacement's part (its
// header and body, [HeaderStart, End)) replaced by a text/plain part. The
// bytes around the parts (the boundaries, the other parts) are copied
// as they are, from raw, as the reader goes.
func compose(raw storage.Blob, repl []replacement) io.Reader {
	var rs []io.Reader
	var off int64
	for _, r := range repl {
		rs = append(rs, io.NewSectionReader(raw, off, r.part.HeaderStart-off), bytes.NewReader(partBytes(r.text)))
		off = r.part.End
	}
	rs = append(rs, io.NewSectionReader(raw, off, raw.Size()-off))
	return io.MultiReader(rs...)
}

// partBytes is a text/plain part (header and body, without the CRLF
// before the next boundary) in UTF-8, quoted-printable (7-bit, so no
// 8BITMIME is needed downstream). Should a line of the encoded text start
// with "-" (a long file name wrapped there could look like a boundary of
// the enclosing multipart, RFC 2046 5.1.1), the body is base64 instead,
// whose alphabet has no "-".
func partBytes(text string) []byte {
	var body bytes.Buffer
	w := quotedprintable.NewWriter(&body)
	_, _ = w.Write([]byte(text))
	_ = w.Close()
	enc := "quoted-printable"
	if bytes.HasPrefix(body.Bytes(), []byte("-")) || bytes.Contains(body.Bytes(), []byte("\n-")) {
		enc = "base64"
		body.Reset()
		b64 := base64.StdEncoding.EncodeToString([]byte(text))
		for len(b64) > 76 {
			body.WriteString(b64[:76] + "\r\n")
			b64 = b64[76:]
		}
		body.WriteString(b64)
	}
	var b bytes.Buffer
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: " + enc + "\r\n")
	b.WriteString("Content-Disposition: inline\r\n")
	b.WriteString("\r\n")
	b.Write(bytes.TrimRight(body.Bytes(), "\r\n"))
	return b.Bytes()
}
