package imap

import (
	"errors"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// APPEND (RFC 9051 6.3.12, RFC 3501 6.3.11) with LITERAL+ / LITERAL-
// (RFC 7888), the UTF8 literal form (RFC 6855 4), binary literals (RFC 3516
// 4.4), APPENDUID (RFC 4315), APPENDLIMIT (RFC 7889), MULTIAPPEND (RFC
// 3502, several messages in one command, multiappend.go) and CATENATE (RFC
// 4469, a message built from literals and URLs, catenate.go). Every message
// is stored through storage/ingest, the write path SMTP delivery uses:
// streamed into a blob, parsed once, committed in one transaction (all the
// messages of the command in the same one).
//
// The size limit is session.appendLimit: the [smtp] max_message_size of the
// config, so that SMTP and IMAP accept the same messages (one place).

func init() {
	register("APPEND", command{fn: cmdAppend, states: []state{stateAuth, stateSelected}, expungeOK: true})
}

func cmdAppend(s *session, tag string, d *decoder) error {
	// append = "APPEND" SP mailbox 1*append-message (RFC 3502 6)
	if err := d.SP(); err != nil {
		return err
	}
	name, err := d.Mailbox()
	if err != nil {
		return err
	}
	// Resolve the destination before any message comes, so that a missing
	// mailbox costs no blob and a synchronising literal is refused before
	// its continuation; a refused APPEND leaves the rest of its line to the
	// command loop, which discards it.
	mb, mbErr := s.mailbox(name)
	if mbErr == nil {
		mbErr = s.v.CanAppend(s.ctx, mb.ID()) // RFC 4314 4: "i"
	}
	b := &appendBatch{s: s, mb: mb, mbErr: mbErr}
	defer b.discard()
	for {
		if err := d.SP(); err != nil {
			return err
		}
		if err := b.message(d); err != nil {
			return err
		}
		if d.EOL() {
			break
		}
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	return b.commit(tag)
}

// message reads one append-message after its SP: append-opts SP
// append-data (RFC 3502 6, RFC 4466 2.1), and spools its message.
//
//	append-opts = [flag-list SP] [date-time SP]
//	append-data = literal / literal8 / "UTF8" SP "(" literal8 ")" /
//	              "CATENATE" SP "(" cat-part *(SP cat-part) ")"
func (b *appendBatch) message(d *decoder) error {
	var flags []string
	var date time.Time
	c, err := d.Peek()
	if err != nil {
		return err
	}
	if c == '(' {
		if flags, err = d.FlagList(); err != nil {
			return err
		}
		if len(flags) > maxStoreFlags {
			return errBad("too many flags")
		}
		if err := checkStoreFlags(flags); err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		if c, err = d.Peek(); err != nil {
			return err
		}
	}
	if c == '"' {
		if date, err = d.DateTime(); err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		if c, err = d.Peek(); err != nil {
			return err
		}
	}
	if err := b.admitMessage(); err != nil {
		return err
	}
	utf8Form := false
	if c != '{' && c != '~' {
		a, err := d.Atom()
		if err != nil {
			return err
		}
		switch {
		case strings.EqualFold(a, "CATENATE"):
			// RFC 4469 5: append-data =/ "CATENATE" SP "(" cat-part ... ")"
			if err := d.SP(); err != nil {
				return err
			}
			return b.catenate(d, flags, date)
		case !strings.EqualFold(a, "UTF8"):
			return errBad("syntax error: expected literal")
		}
		// RFC 6855 4: append-data =/ "UTF8" SP "(" literal8 ")"
		if !b.s.e.utf8 {
			return errBad("UTF8 literal requires ENABLE UTF8=ACCEPT")
		}
		if err := d.SP(); err != nil {
			return err
		}
		if err := d.Expect('('); err != nil {
			return err
		}
		if c, err = d.Peek(); err != nil {
			return err
		}
		if c != '~' {
			return errBad("syntax error: expected literal8")
		}
		utf8Form = true
	}

	s := b.s
	d.litCheck = b.litCheck
	r, n, binaryLit, err := d.Literal(s.appendLimit())
	if err != nil {
		return err
	}
	if b.mbErr != nil {
		// A non-synchronising literal came anyway; the loop discards it.
		return b.destinationError()
	}
	if n == 0 {
		return errNo("CANNOT", "empty message")
	}
	// The one write path (storage/ingest): spool the literal into a blob;
	// commit parses and stores it. A message refused after spooling is
	// discarded (appendBatch.discard).
	ref, err := ingest.Spool(s.ctx, s.store, r)
	if d.ioErr != nil {
		if err == nil {
			ingest.Discard(s.ctx, s.store, ref.ID)
		}
		return d.ioErr
	}
	if err != nil {
		return s.storageError(err)
	}
	if ref.Size != n {
		ingest.Discard(s.ctx, s.store, ref.ID)
		return errBad("literal ended early")
	}
	if utf8Form {
		if err := d.Expect(')'); err != nil {
			ingest.Discard(s.ctx, s.store, ref.ID)
			return err
		}
	}
	if binaryLit {
		// RFC 3516 4.3: parts holding NULs are stored base64-encoded.
		if ref, err = s.encodeBinaryParts(ref); err != nil {
			return err
		}
	}
	b.add(ref, flags, date)
	return nil
}

// destinationError is the answer when the destination mailbox cannot be
// used: TRYCREATE when it does not exist (RFC 9051 6.3.12).
func (b *appendBatch) destinationError() error {
	if errors.Is(b.mbErr, storage.ErrNoMailbox) {
		return errNo("TRYCREATE", "no such mailbox")
	}
	return b.s.storageError(b.mbErr)
}
