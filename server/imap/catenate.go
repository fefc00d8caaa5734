package imap

import (
	"errors"
	"io"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// CATENATE (RFC 4469): APPEND builds a message from literal parts and from
// URLs naming messages or message parts on this server:
//
//	append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"
//	cat-part    = text-literal / url
//	text-literal = "TEXT" SP literal      ; literal8 too (RFC 3516 binary)
//	url         = "URL" SP astring        ; an IMAP URL (RFC 5092, imapurl.go)
//
// The message is streamed into one blob: ingest.Spool reads from a
// catenator, which parses the next cat-part from the connection when the
// current one is exhausted. A TEXT literal is copied as it arrives (a
// synchronising one gets its continuation only when its turn comes, after
// the URLs before it resolved); a URL part is copied from the blob of the
// message it names with the offsets stored at delivery (section.go), as
// FETCH BODY.PEEK would send it: \Seen is not set. Nothing is held in
// memory beyond the copy buffers.
//
// Errors (RFC 4469 4): a URL that does not name an existing message part
// this user may read gets NO [BADURL url] (the first failing URL); a
// message that would exceed APPENDLIMIT gets NO [TOOBIG]. Either way the
// rest of the command line is discarded and nothing is stored. URLs are
// relative ("/mailbox;UIDVALIDITY=n/;UID=n/;SECTION=s/;PARTIAL=o.l",
// evaluated against "imap://user@server/", RFC 4469 3) or absolute naming
// this server's host name and the logged-in user; anything else is BADURL.

// catenate reads the cat-part list (after "CATENATE" SP) into one spooled
// message of the batch.
func (b *appendBatch) catenate(d *decoder, flags []string, date time.Time) error {
	s := b.s
	if b.mbErr != nil {
		return b.destinationError()
	}
	if err := d.Expect('('); err != nil {
		return err
	}
	c := &catenator{b: b, d: d, limit: s.appendLimit()}
	ref, err := ingest.Spool(s.ctx, s.store, c)
	c.closePart()
	if d.ioErr != nil {
		if err == nil {
			ingest.Discard(s.ctx, s.store, ref.ID)
		}
		return d.ioErr
	}
	if c.err != nil {
		if err == nil {
			ingest.Discard(s.ctx, s.store, ref.ID)
		}
		return c.err
	}
	if err != nil {
		return s.storageError(err)
	}
	if ref.Size != c.total {
		ingest.Discard(s.ctx, s.store, ref.ID)
		return errBad("literal ended early")
	}
	if ref.Size == 0 {
		ingest.Discard(s.ctx, s.store, ref.ID)
		return errNo("CANNOT", "empty message")
	}
	if err := b.admitSize(ref.Size); err != nil {
		ingest.Discard(s.ctx, s.store, ref.ID)
		return err
	}
	if c.binary {
		// RFC 3516 4.3: parts holding NULs are stored base64-encoded.
		if ref, err = s.encodeBinaryParts(ref); err != nil {
			return err
		}
	}
	b.add(ref, flags, date)
	return nil
}

// catenator is the io.Reader of a CATENATE message: the concatenation of
// its parts, each parsed from the command when the one before is done.
// Its first error (syntax, BADURL, TOOBIG, I/O) ends the stream and stays
// in err for the command's answer.
type catenator struct {
	b     *appendBatch
	d     *decoder
	limit int64 // APPENDLIMIT
	total int64 // bytes of the parts so far (declared sizes)

	started, done bool
	binary        bool // a TEXT part was a literal8
	cur           io.Reader
	closeCur      func()
	err           error
}

func (c *catenator) Read(p []byte) (int, error) {
	for {
		if c.err != nil {
			return 0, c.err
		}
		if c.cur != nil {
			n, err := c.cur.Read(p)
			if err == io.EOF {
				c.closePart()
				err = nil
			}
			if err != nil {
				c.err = err
			}
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
}

// closePart releases the current URL part's blob.
func (c *catenator) closePart() {
	if c.closeCur != nil {
		c.closeCur()
		c.closeCur = nil
	}
	c.cur = nil
}

// next reads the next cat-part (or the closing parenthesis) and makes it
// the current part.
func (c *catenator) next() error {
	d := c.d
	if c.started {
		if d.Accept(')') {
			c.done = true
			return nil
		}
		if err := d.SP(); err != nil {
			return err
		}
	}
	c.started = true
	kind, err := d.Atom()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	s := c.b.s
	switch strings.ToUpper(kind) {
	case "TEXT":
		b := c.b
		d.litCheck = func(n int64) error {
			return s.appendQuotaCheck(b.mb.Mailbox)(b.bytes + c.total + n)
		}
		r, n, binary, err := d.Literal(c.limit - c.total)
		if err != nil {
			return err
		}
		c.total += n
		c.binary = c.binary || binary
		c.cur = r
		return nil
	case "URL":
		raw, err := d.AString()
		if err != nil {
			return err
		}
		r, n, closer, err := s.urlPart(raw)
		if err != nil {
			return err
		}
		if c.total+n > c.limit {
			closer()
			return errNo("TOOBIG", "message too big")
		}
		c.total += n
		c.cur, c.closeCur = r, closer
		return nil
	}
	return errBad("syntax error: expected TEXT or URL")
}

// badURL is the NO [BADURL url] answer (RFC 4469 4.1); the URL is echoed
// without the characters resp-text-code cannot carry.
func badURL(raw string) error {
	clean := strings.Map(func(r rune) rune {
		if r == ']' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, raw)
	if len(clean) > 1024 {
		clean = clean[:1024]
	}
	return errNo("BADURL "+clean, "invalid URL")
}

// urlPart opens the message part a CATENATE URL names and returns a reader
// of exactly n bytes of it and the function that releases it. The mailbox
// is resolved through s.mailbox, the one authorization point; every
// failure is BADURL.
func (s *session) urlPart(raw string) (io.Reader, int64, func(), error) {
	u, err := parseIMAPURL(raw)
	if err != nil {
		return nil, 0, nil, badURL(raw)
	}
	if u.absolute && !s.urlIsOurs(u) {
		return nil, 0, nil, badURL(raw)
	}
	sec := sectionSpec{}
	if u.section != "" {
		if sec, err = parseURLSection(u.section); err != nil {
			return nil, 0, nil, badURL(raw)
		}
	}
	name := canonicalMailbox(u.mailbox)
	mb, err := s.mailbox(name)
	if errors.Is(err, storage.ErrNoMailbox) && !s.enabled.utf8 {
		// RFC 2192 URLs carried modified UTF-7 names.
		if dec, derr := utf7Decode(u.mailbox); derr == nil && dec != u.mailbox {
			mb, err = s.mailbox(canonicalMailbox(dec))
		}
	}
	if err != nil {
		if !errors.Is(err, storage.ErrNoMailbox) && !errors.Is(err, storage.ErrPermission) {
			return nil, 0, nil, s.storageError(err)
		}
		return nil, 0, nil, badURL(raw)
	}
	if u.uidValidity != 0 && u.uidValidity != mb.Mailbox.UIDValidity {
		return nil, 0, nil, badURL(raw)
	}
	// Through the user's view: reading a message part needs "r" (RFC 4469
	// 3, RFC 4314), in the user's own folders or those shared with it.
	uid := storage.UID(u.uid)
	msgs, err := s.v.Messages(s.ctx, mb.ID(), storage.Query{
		UIDs:   storage.UIDSet{{Start: uid, Stop: uid}},
		Fields: storage.FieldStructure | storage.FieldHeader,
	})
	if err != nil {
		if errors.Is(err, storage.ErrNoMailbox) || errors.Is(err, storage.ErrPermission) {
			return nil, 0, nil, badURL(raw)
		}
		return nil, 0, nil, s.storageError(err)
	}
	if len(msgs) != 1 {
		return nil, 0, nil, badURL(raw)
	}
	m := &msgs[0]
	blob, err := s.v.OpenBlob(s.ctx, mb.ID(), m.Blob)
	if err != nil {
		return nil, 0, nil, s.storageError(err)
	}
	release := func() { blob.Close() }
	data, ok, err := bodySection(blob, m.Size, m.Structure, storedHeader(m.Header), sec)
	if err != nil || !ok {
		release()
		if err != nil {
			return nil, 0, nil, s.storageError(err)
		}
		return nil, 0, nil, badURL(raw)
	}
	off, count := int64(0), int64(-1)
	if u.hasPartial {
		off, count = u.partialOff, u.partialLen
	}
	r, n, err := data.Reader(off, count)
	if err != nil {
		release()
		return nil, 0, nil, s.storageError(err)
	}
	return r, n, release, nil
}

// urlIsOurs reports whether an absolute URL names this server (its host
// name, or localhost) and the logged-in user (or no user).
func (s *session) urlIsOurs(u *imapURL) bool {
	host := strings.TrimSuffix(u.host, ".")
	if !strings.EqualFold(host, s.srv.config().Server.Hostname) && host != "localhost" {
		return false
	}
	if u.user == "" || s.user == nil {
		return true
	}
	addr := strings.ToLower(s.user.Address)
	local, _, _ := strings.Cut(addr, "@")
	return u.user == addr || u.user == local
}
