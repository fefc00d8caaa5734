package mimeparse

import (
	"bufio"
	"html"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/floemail/floe/storage"
)

// maxTextInput bounds the encoded bytes read per text part for indexing.
const maxTextInput = 8 * storage.MaxIndexedText

// collectAttachments sets HasAttachment and AttachmentNames: parts with
// Content-Disposition attachment or with a filename or name parameter.
func collectAttachments(p *storage.Part, res *storage.Parsed) {
	if p.Type == "multipart" {
		for i := range p.Children {
			collectAttachments(&p.Children[i], res)
		}
		return
	}
	name := ParamValue(p.DispParams, "filename")
	if name == "" {
		name = ParamValue(p.Params, "name")
	}
	_, hasFilename := p.DispParams["filename"]
	_, hasFilenameExt := p.DispParams["filename*"]
	_, hasName := p.Params["name"]
	_, hasNameExt := p.Params["name*"]
	if p.Disposition == "attachment" || hasFilename || hasFilenameExt || hasName || hasNameExt {
		res.HasAttachment = true
		if name != "" && len(res.AttachmentNames) < 100 {
			res.AttachmentNames = append(res.AttachmentNames, name)
		}
	}
	if p.Message != nil {
		collectAttachments(&p.Message.Body, res)
	}
}

// textBuilder accumulates indexable text up to MaxIndexedText bytes.
type textBuilder struct {
	b    strings.Builder
	full bool
	buf  []byte // read buffer
}

func (t *textBuilder) room() int { return storage.MaxIndexedText - t.b.Len() }

func (t *textBuilder) write(s string) {
	if t.full {
		return
	}
	if r := t.room(); len(s) > r {
		// Cut at a rune boundary.
		for r > 0 && !utf8.RuneStart(s[r]) {
			r--
		}
		s = s[:r]
		t.full = true
	}
	t.b.WriteString(s)
}

// extractText returns the decoded text of the text/* parts, HTML stripped
// to its text (in multipart/alternative only the plain version when there
// is one), encapsulated messages included, joined with newlines. Every
// text subtype counts (text/enriched, text/calendar, a private
// text/x-...): RFC 9051 6.4.4's BODY is the message's body, and Dovecot
// finds words in them too.
func extractText(r io.ReaderAt, root *storage.Part) (string, error) {
	var t textBuilder
	err := walkText(&recReaderAt{r: r}, root, &t)
	return t.b.String(), err
}

func walkText(r io.ReaderAt, p *storage.Part, t *textBuilder) error {
	if t.full {
		return nil
	}
	switch {
	case p.Type == "multipart":
		if p.Subtype == "alternative" {
			for i := range p.Children {
				c := &p.Children[i]
				if c.Type == "text" && c.Subtype == "plain" && c.Disposition != "attachment" {
					return walkText(r, c, t)
				}
			}
		}
		for i := range p.Children {
			if err := walkText(r, &p.Children[i], t); err != nil {
				return err
			}
		}
	case p.Message != nil:
		return walkText(r, &p.Message.Body, t)
	case p.Type == "text":
		if p.End <= p.BodyStart {
			return nil
		}
		var src io.Reader = DecodedReader(p, r)
		src = io.LimitReader(src, maxTextInput)
		src = charsetReader(p.Params["charset"], src)
		var sb strings.Builder
		limit := t.room()
		if p.Subtype == "html" {
			stripHTML(&sb, src, limit)
		} else {
			if t.buf == nil {
				t.buf = make([]byte, 2048)
			}
			for sb.Len() <= limit {
				n, err := src.Read(t.buf)
				sb.Write(t.buf[:n])
				if err != nil {
					break
				}
			}
		}
		// Decoding errors end the part's text; read errors are in rec.
		if rec, ok := r.(*recReaderAt); ok && rec.err != nil {
			return rec.err
		}
		s := strings.ReplaceAll(sb.String(), "\r\n", "\n")
		s = strings.TrimSpace(s)
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		if s == "" {
			return nil
		}
		if t.b.Len() > 0 {
			t.write("\n")
		}
		t.write(s)
	}
	return nil
}

// recReaderAt records the first read error other than io.EOF, so that I/O
// failures can be told from malformed content.
type recReaderAt struct {
	r   io.ReaderAt
	err error
}

func (x *recReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := x.r.ReadAt(p, off)
	if err != nil && err != io.EOF && x.err == nil {
		x.err = err
	}
	return n, err
}

// stripHTML writes the text content of HTML read from r to w, up to limit
// bytes: tags and comments are removed, script and style contents dropped,
// block-level elements become line breaks, character references decoded.
func stripHTML(w *strings.Builder, r io.Reader, limit int) error {
	br := bufio.NewReaderSize(r, 8192)
	var text []byte // text run pending entity decoding
	nl := true      // the output ends with a line break (or is empty)
	flush := func() {
		if len(text) == 0 {
			return
		}
		s := string(text)
		if strings.IndexByte(s, '&') >= 0 {
			s = html.UnescapeString(s)
		}
		w.WriteString(s)
		text = text[:0]
		nl = false
	}
	space := false
	for w.Len()+len(text) < limit {
		c, err := br.ReadByte()
		if err != nil {
			flush()
			if err == io.EOF {
				return nil
			}
			return err
		}
		if c != '<' {
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				space = true
				continue
			}
			if space && (len(text) > 0 || !nl) {
				text = append(text, ' ')
			}
			space = false
			text = append(text, c)
			if len(text) >= 4096 && c == ';' || len(text) >= 8192 {
				flush()
			}
			continue
		}
		flush()
		name, err := readTag(br)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		switch name {
		case "script", "style":
			if err := skipUntilClose(br, name); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		case "br", "p", "/p", "div", "/div", "tr", "/tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
			"/h1", "/h2", "/h3", "/h4", "/h5", "/h6", "table", "/table", "blockquote", "/blockquote", "hr":
			if !nl {
				w.WriteByte('\n')
				nl = true
			}
			space = false
		case "td", "th":
			space = true
		}
	}
	flush()
	return nil
}

// readTag consumes a tag after its "<" and returns its lowercase name
// ("/p" for an end tag, "" for comments and declarations).
func readTag(br *bufio.Reader) (string, error) {
	if b, _ := br.Peek(3); len(b) == 3 && b[0] == '!' && b[1] == '-' && b[2] == '-' {
		br.Discard(3)
		// Comment: up to "-->".
		dashes := 0
		for {
			c, err := br.ReadByte()
			if err != nil {
				return "", err
			}
			if c == '>' && dashes >= 2 {
				return "", nil
			}
			if c == '-' {
				dashes++
			} else {
				dashes = 0
			}
		}
	}
	var name []byte
	inName := true
	var quote byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if quote != 0 {
			if c == quote {
				quote = 0
			}
			continue
		}
		switch {
		case c == '>':
			return string(name), nil
		case c == '"' || c == '\'':
			if !inName {
				quote = c
			}
			inName = false
		case inName && (c == '/' && len(name) == 0 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'):
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if len(name) < 16 {
				name = append(name, c)
			}
		default:
			inName = false
		}
	}
}

// skipUntilClose skips input up to and including "</name...>".
func skipUntilClose(br *bufio.Reader, name string) error {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return err
		}
		if c != '<' {
			continue
		}
		b, _ := br.Peek(1 + len(name))
		if len(b) == 1+len(name) && b[0] == '/' && strings.EqualFold(string(b[1:]), name) {
			_, err := readTag(br)
			return err
		}
	}
}
