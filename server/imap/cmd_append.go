package imap

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// APPEND (RFC 9051 6.3.12, RFC 3501 6.3.11) with LITERAL+ / LITERAL-
// (RFC 7888), the UTF8 literal form (RFC 6855 4), binary literals (RFC 3516
// 4.4), APPENDUID (RFC 4315) and APPENDLIMIT (RFC 7889). The message is
// stored through storage/ingest, the write path SMTP delivery uses:
// streamed into a blob, parsed once, committed in one transaction.
//
// The size limit is session.appendLimit: the [smtp] max_message_size of the
// config, so that SMTP and IMAP accept the same messages (one place).

func init() {
	register("APPEND", command{fn: cmdAppend, states: []state{stateAuth, stateSelected}, expungeOK: true})
}

func cmdAppend(s *session, tag string, d *decoder) error {
	// append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
	if err := d.SP(); err != nil {
		return err
	}
	name, err := d.Mailbox()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
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
	utf8Form := false
	if c != '{' && c != '~' {
		// RFC 6855 4: append-data =/ "UTF8" SP "(" literal8 ")"
		a, err := d.Atom()
		if err != nil {
			return err
		}
		if !strings.EqualFold(a, "UTF8") {
			return errBad("syntax error: expected literal")
		}
		if !s.e.utf8 {
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

	// Resolve the destination before the message comes, so that a missing
	// mailbox costs no blob; a refused APPEND leaves its literal to the
	// command loop, which discards it.
	mb, mbErr := s.mailbox(name)
	if mbErr == nil {
		d.litCheck = s.appendQuotaCheck(mb) // limits.go
	}

	r, n, binaryLit, err := d.Literal(s.appendLimit())
	if err != nil {
		return err
	}
	if mbErr != nil {
		if errors.Is(mbErr, storage.ErrNoMailbox) {
			// RFC 9051 6.3.12: TRYCREATE when the mailbox does not exist.
			return errNo("TRYCREATE", "no such mailbox")
		}
		return s.storageError(mbErr)
	}
	if n == 0 {
		return errNo("CANNOT", "empty message")
	}
	// The one write path (storage/ingest): spool the literal into a blob,
	// then read and parse it once and commit it (durable when Append
	// returns). A message refused after spooling is discarded.
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
	if err := d.CRLF(); err != nil {
		ingest.Discard(s.ctx, s.store, ref.ID)
		return err
	}
	if binaryLit {
		// RFC 3516 4.3: parts holding NULs are stored base64-encoded.
		if ref, err = s.encodeBinaryParts(ref); err != nil {
			return err
		}
	}

	res, err := ingest.Append(s.ctx, s.store, ref, storage.Target{
		Account: s.user.Account, Mailbox: mb.ID, Flags: flags, InternalDate: date,
	})
	if err != nil {
		if errors.Is(err, storage.ErrNoMailbox) {
			return errNo("TRYCREATE", "no such mailbox")
		}
		return s.storageError(err)
	}
	// RFC 4315 3: APPENDUID uidvalidity uid.
	s.tagged(tag, "OK", "APPENDUID "+strconv.FormatUint(uint64(mb.UIDValidity), 10)+" "+
		strconv.FormatUint(uint64(res.UID), 10), "APPEND completed")
	return nil
}
