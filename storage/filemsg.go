package storage

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"
)

// The base64 layout of a file's content inside its message: every line
// but the last carries FileLineBytes input bytes as 76 characters and CRLF
// (RFC 2045 6.8), and the last line, shorter, ends with CRLF too. Offsets
// in the message map to offsets in the content by arithmetic.
const (
	FileLineBytes = 57
	fileLineLen   = 78 // 76 characters + CRLF
)

// Base64Len returns the length of the base64 rendering of n content bytes
// in the fixed line layout.
func Base64Len(n int64) int64 {
	if n <= 0 {
		return 0
	}
	full, rem := n/FileLineBytes, n%FileLineBytes
	l := full * fileLineLen
	if rem > 0 {
		l += (rem+2)/3*4 + 2
	}
	return l
}

// FileMessage is the IMAP message of a file around its content: Head,
// then the content in base64 (Base64Len bytes), then Tail. Parsed
// describes the whole message as storage/mimeparse would.
type FileMessage struct {
	Head, Tail []byte
	Parsed     *Parsed
}

// Size returns the size of the composed message for content of size n.
func (m *FileMessage) Size(n int64) int64 {
	return int64(len(m.Head)) + Base64Len(n) + int64(len(m.Tail))
}

// CompositeID is the blob ID of the message composed of m and content:
// the SHA-256 of a definition of the composition (not of its bytes, which
// are never written), so the same file under the same name and date is
// one composite, and IDs never collide with those of plain blobs in
// practice.
func CompositeID(m *FileMessage, content BlobID) BlobID {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte("floe composite v1\x00"))
	binary.BigEndian.PutUint64(n[:], uint64(len(m.Head)))
	h.Write(n[:])
	h.Write(m.Head)
	h.Write([]byte(content))
	binary.BigEndian.PutUint64(n[:], uint64(len(m.Tail)))
	h.Write(n[:])
	h.Write(m.Tail)
	return BlobID(hex.EncodeToString(h.Sum(nil)))
}

// fileText is the body of a file message's first part: 7-bit, so clients
// without BINARY get 7-bit data throughout.
const fileText = "This message holds a file of a Floe file folder, attached below.\r\n"

// ComposeFileMessage returns the message of a file named name (NFC) with
// the given content type ("" for application/octet-stream), content size
// and id, dated date. The message is 7-bit throughout: a text part and the
// file as a base64 attachment; Subject is the name and X-Kolab-Type says
// it is a Kolab file object.
func ComposeFileMessage(name, contentType string, content BlobRef, date time.Time) *FileMessage {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	mtype, subtype := "application", "octet-stream"
	if t, st, ok := strings.Cut(strings.ToLower(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0])), "/"); ok && validToken(t) && validToken(st) {
		mtype, subtype = t, st
	}
	boundary := "=_floe_file_" + string(content.ID)[:min(24, len(content.ID))]
	dateStr := date.Format(time.RFC1123Z)

	var hb strings.Builder
	hb.WriteString("Date: " + dateStr + "\r\n")
	hb.WriteString("Subject: " + encodeSubject(name) + "\r\n")
	hb.WriteString("MIME-Version: 1.0\r\n")
	hb.WriteString("X-Kolab-Type: application/x-vnd.kolab.file\r\n")
	hb.WriteString("Content-Type: multipart/mixed;\r\n boundary=\"" + boundary + "\"\r\n\r\n")
	header := hb.String()

	var b strings.Builder
	b.WriteString(header)
	b.WriteString("--" + boundary + "\r\n")
	p1Start := int64(b.Len())
	b.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
	p1Body := int64(b.Len())
	b.WriteString(fileText)
	p1End := int64(b.Len()) - 2
	b.WriteString("--" + boundary + "\r\n")
	p2Start := int64(b.Len())
	nameText, nameKey, nameVal := paramText("name", name)
	b.WriteString("Content-Type: " + mtype + "/" + subtype + ";" + nameText + "\r\n")
	size := strconv.FormatInt(content.Size, 10)
	fileText, fileKey, fileVal := paramText("filename", name)
	b.WriteString("Content-Disposition: attachment;" + fileText + ";\r\n size=" + size + "\r\n")
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	head := b.String()
	p2Body := int64(len(head))
	b64 := Base64Len(content.Size)
	p2End := p2Body + b64 - 2
	tail := "--" + boundary + "--\r\n"
	if b64 == 0 {
		p2End = p2Body
		tail = "\r\n" + tail
	}
	total := p2Body + b64 + int64(len(tail))
	var lines2 int64 // as mimeparse counts: line feeds inside the body
	if mtype == "text" || mtype == "message" {
		lines2 = max(0, (b64+fileLineLen-1)/fileLineLen-1)
	}

	p := &Parsed{
		Envelope:    Envelope{Date: date, RawDate: dateStr, Subject: name},
		Header:      []byte(header),
		BaseSubject: strings.ToLower(name),
		Structure: Part{
			Type: "multipart", Subtype: "mixed", Params: map[string]string{"boundary": boundary},
			HeaderStart: 0, BodyStart: int64(len(header)), End: total,
			Children: []Part{
				{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"},
					HeaderStart: p1Start, BodyStart: p1Body, End: p1End},
				{Type: mtype, Subtype: subtype, Params: map[string]string{nameKey: nameVal},
					Encoding: "base64", Disposition: "attachment",
					DispParams:  map[string]string{fileKey: fileVal, "size": size},
					HeaderStart: p2Start, BodyStart: p2Body, End: p2End, Lines: lines2},
			},
		},
		HasAttachment:   true,
		AttachmentNames: []string{name},
		Text:            strings.TrimSuffix(fileText, "\r\n"),
	}
	return &FileMessage{Head: []byte(head), Tail: []byte(tail), Parsed: p}
}

func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&-^_.+", c) >= 0) {
			return false
		}
	}
	return true
}

// encodeSubject writes name as a Subject value: as it is when it is
// printable ASCII, else RFC 2047 encoded words folded one per line.
func encodeSubject(name string) string {
	if plainASCII(name) {
		return name
	}
	return strings.ReplaceAll(mime.BEncoding.Encode("utf-8", name), " =?", "\r\n =?")
}

// paramText renders a MIME parameter on its own folded line: quoted when
// the value is short printable ASCII, else RFC 2231 percent-encoded UTF-8
// in continuations of at most 60 characters. It also returns the key and
// value as storage/mimeparse records them ("key" or "key*").
func paramText(key, value string) (text, pkey, pval string) {
	if plainASCII(value) && len(value) <= 60 && !strings.ContainsAny(value, "\"\\") {
		return "\r\n " + key + "=\"" + value + "\"", key, value
	}
	// RFC 2231 7: attribute-char is a token char other than *, ' and %.
	var e strings.Builder
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("*'%()<>@,;:\\\"/[]?=", c) >= 0 {
			fmt.Fprintf(&e, "%%%02X", c)
			continue
		}
		e.WriteByte(c)
	}
	enc := e.String()
	full := "utf-8''" + enc
	var b strings.Builder
	for i := 0; len(enc) > 0; i++ {
		n := min(60, len(enc))
		// never split a %XX triplet
		if n < len(enc) {
			if j := strings.LastIndexByte(enc[n-2:n], '%'); j >= 0 {
				n = n - 2 + j
			}
		}
		if i > 0 {
			b.WriteString(";")
		}
		if i == 0 {
			fmt.Fprintf(&b, "\r\n %s*0*=utf-8''%s", key, enc[:n])
		} else {
			fmt.Fprintf(&b, "\r\n %s*%d*=%s", key, i, enc[:n])
		}
		enc = enc[n:]
	}
	return b.String(), key + "*", full
}

func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// NewCompositeBlob returns the blob of a file message: head, content in
// base64 (fixed layout), tail. It owns content (Close closes it). ReadAt
// is safe for concurrent use when content's is.
func NewCompositeBlob(head, tail []byte, content Blob) Blob {
	c := &composite{head: head, tail: tail, content: content, n: content.Size()}
	c.b64 = Base64Len(c.n)
	c.size = int64(len(head)) + c.b64 + int64(len(tail))
	return c
}

type composite struct {
	head, tail []byte
	content    Blob
	n, b64     int64
	size       int64
	off        int64 // Read/Seek position
}

func (c *composite) Size() int64  { return c.size }
func (c *composite) Close() error { return c.content.Close() }

func (c *composite) Read(p []byte) (int, error) {
	n, err := c.ReadAt(p, c.off)
	c.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (c *composite) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.off
	case io.SeekEnd:
		offset += c.size
	default:
		return 0, errors.New("composite: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("composite: negative position")
	}
	c.off = offset
	return offset, nil
}

// maxChunkLines bounds the lines ReadAt encodes per step (about 80 KB).
const maxChunkLines = 1024

func (c *composite) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("composite: negative offset")
	}
	total := 0
	hl := int64(len(c.head))
	for len(p) > 0 && off < c.size {
		var n int
		switch {
		case off < hl:
			n = copy(p, c.head[off:])
		case off < hl+c.b64:
			var err error
			n, err = c.readB64(p, off-hl)
			if err != nil {
				return total + n, err
			}
		default:
			n = copy(p, c.tail[off-hl-c.b64:])
		}
		p = p[n:]
		off += int64(n)
		total += n
	}
	if len(p) > 0 {
		return total, io.EOF
	}
	return total, nil
}

// readB64 fills p from offset off of the base64 rendering: it reads the
// content of the lines concerned and encodes them.
func (c *composite) readB64(p []byte, off int64) (int, error) {
	line := off / fileLineLen
	col := off % fileLineLen
	lines := (col+int64(len(p)))/fileLineLen + 1
	lines = min(lines, maxChunkLines)
	in := make([]byte, lines*FileLineBytes)
	start := line * FileLineBytes
	m, err := c.content.ReadAt(in, start)
	if err != nil && !(errors.Is(err, io.EOF) && start+int64(m) == c.n) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("composite: content: %w", err)
	}
	in = in[:m]
	out := make([]byte, 0, lines*fileLineLen)
	for len(in) > 0 {
		k := min(FileLineBytes, len(in))
		out = base64.StdEncoding.AppendEncode(out, in[:k])
		out = append(out, '\r', '\n')
		in = in[k:]
	}
	if col >= int64(len(out)) {
		return 0, io.ErrUnexpectedEOF
	}
	return copy(p, out[col:]), nil
}
