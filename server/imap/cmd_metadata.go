package imap

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/floemail/floe/storage"
)

// This file implements METADATA (RFC 5464): GETMETADATA and SETMETADATA for
// server entries (mailbox "") and mailbox entries. Private entries
// ("/private/...") belong to the acting account; shared entries
// ("/shared/...") to the mailbox, or for server entries to the account
// (Floe is multi-tenant: one account's server entries are not another's).
// Limits: values up to storage.MaxMetadataValue bytes (NO [METADATA MAXSIZE
// n]), storage.MaxMetadataEntries entries per mailbox (NO [METADATA
// TOOMANY]). The groupware issue keeps folder types in
// /shared/vendor/kolab/folder-type.

func init() {
	register("GETMETADATA", command{fn: cmdGetMetadata, states: authStates, expungeOK: true})
	register("SETMETADATA", command{fn: cmdSetMetadata, states: authStates, expungeOK: true})
}

// metadataMailbox resolves the mailbox argument: "" is the server (0).
func (s *session) metadataMailbox(name string) (storage.MailboxID, string, error) {
	if name == "" {
		return 0, "", nil
	}
	mb, err := s.mailbox(name)
	if err != nil {
		return 0, "", s.storageError(err)
	}
	return mb.ID(), mb.Name, nil
}

// metadataError maps storage errors of the METADATA commands: malformed
// entry names are BAD (RFC 5464 3.2), too many entries NO [METADATA
// TOOMANY] (RFC 5464 4.3).
func (s *session) metadataError(err error) error {
	switch {
	case errors.Is(err, storage.ErrInvalid):
		return errBad("invalid entry name: entries are /private/... or /shared/...")
	case errors.Is(err, storage.ErrOverQuota):
		return errNo("METADATA TOOMANY", "too many metadata entries")
	}
	return s.storageError(err)
}

// cmdGetMetadata: GETMETADATA [SP "(" option *(SP option) ")"] SP mailbox
// SP (entry / "(" entry *(SP entry) ")") with options MAXSIZE number and
// DEPTH ("0" / "1" / "infinity") (RFC 5464 4.2).
func cmdGetMetadata(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	o := metadataOptions{maxSize: -1}
	if d.peekIs('(') {
		d.Expect('(')
		if err := o.parse(d); err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
	}
	name, err := d.Mailbox()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	var entries []string
	readEntries := func() error {
		// After "(": entry *(SP entry) ")".
		for {
			e, err := d.AString()
			if err != nil {
				return err
			}
			entries = append(entries, e)
			if d.Accept(')') {
				return nil
			}
			if err := d.SP(); err != nil {
				return err
			}
		}
	}
	if d.Accept('(') {
		// Some clients (go-imap v2) send the options after the mailbox;
		// options start with a letter, entries with "/" or a string.
		// (perr, not err: the entries' error below must reach the check
		// after this block.)
		if b, perr := d.Peek(); perr == nil && (b|0x20 >= 'a' && b|0x20 <= 'z') {
			if err := o.parse(d); err != nil {
				return err
			}
			if err := d.SP(); err != nil {
				return err
			}
			if d.Accept('(') {
				err = readEntries()
			} else {
				var e string
				e, err = d.AString()
				entries = append(entries, e)
			}
		} else {
			err = readEntries()
		}
	} else {
		var e string
		e, err = d.AString()
		entries = append(entries, e)
	}
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	mbox, mname, err := s.metadataMailbox(name)
	if err != nil {
		return err
	}
	// Server entries are the user's own; a mailbox's go through the view
	// (RFC 5464 4: "l" and "r").
	var found []storage.MetadataEntry
	if mbox == 0 {
		found, err = s.store.GetMetadata(s.ctx, s.user.Account, 0, entries, o.depth)
	} else {
		found, err = s.v.GetMetadata(s.ctx, mbox, entries, o.depth)
	}
	if err != nil {
		return s.metadataError(err)
	}
	// RFC 5464 4.2.1: entries over MAXSIZE are left out and the longest
	// left-out size is reported.
	var longest int64
	out := found[:0]
	for _, e := range found {
		if o.maxSize >= 0 && int64(len(e.Value)) > o.maxSize {
			longest = max(longest, int64(len(e.Value)))
			continue
		}
		out = append(out, e)
	}
	// An entry asked for by name that has no value is returned as NIL
	// (as Dovecot does), so that the client learns it is not set.
	var missing []string
	for _, req := range entries {
		n := strings.ToLower(req)
		if n == "/private" || n == "/shared" {
			continue
		}
		have := false
		for _, e := range found {
			if e.Name == n {
				have = true
				break
			}
		}
		if !have && !slices.Contains(missing, n) {
			missing = append(missing, n)
		}
	}
	if len(out) > 0 || len(missing) > 0 {
		s.e.Untagged().Atom("METADATA ").Mailbox(mname).Atom(" (")
		for i, e := range out {
			if i > 0 {
				s.e.SP()
			}
			s.e.String(e.Name).SP()
			s.metadataValue(e.Value)
		}
		for i, n := range missing {
			if i > 0 || len(out) > 0 {
				s.e.SP()
			}
			s.e.String(n).Atom(" NIL")
		}
		s.e.Byte(')').CRLF()
	}
	if longest > 0 {
		s.tagged(tag, "OK", "METADATA LONGENTRIES "+strconv.FormatInt(longest, 10), "GETMETADATA completed")
	}
	return nil
}

// metadataOptions are GETMETADATA's options (RFC 5464 4.2).
type metadataOptions struct {
	maxSize int64 // -1: no limit
	depth   int   // 0, 1, -1 (infinity)
}

// parse reads option *(SP option) ")" (the "(" was read): MAXSIZE number
// (RFC 5464 4.2.1) and DEPTH ("0" / "1" / "infinity") (RFC 5464 4.2.2).
func (o *metadataOptions) parse(d *decoder) error {
	for {
		opt, err := d.Atom()
		if err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		switch strings.ToUpper(opt) {
		case "MAXSIZE":
			n, err := d.Number()
			if err != nil {
				return err
			}
			o.maxSize = int64(n)
		case "DEPTH":
			v, err := d.Atom()
			if err != nil {
				return err
			}
			switch strings.ToLower(v) {
			case "0":
				o.depth = 0
			case "1":
				o.depth = 1
			case "infinity":
				o.depth = -1
			default:
				return errBad("DEPTH is 0, 1 or infinity")
			}
		default:
			return errBad("unknown GETMETADATA option")
		}
		if d.Accept(')') {
			return nil
		}
		if err := d.SP(); err != nil {
			return err
		}
	}
}

// metadataValue writes an entry value (RFC 5464 5: nstring / literal8):
// quoted or a literal for text, a literal8 for values with NUL bytes.
func (s *session) metadataValue(v []byte) {
	if bytes.IndexByte(v, 0) >= 0 || !utf8.Valid(v) {
		s.e.Literal(bytes.NewReader(v), int64(len(v)), bytes.IndexByte(v, 0) >= 0)
		return
	}
	s.e.String(string(v))
}

// cmdSetMetadata: SETMETADATA mailbox SP "(" entry SP value *(SP entry SP
// value) ")" with value = nstring / literal8; NIL removes the entry (RFC
// 5464 4.3). All entries are set in one transaction, or none.
func cmdSetMetadata(s *session, tag string, d *decoder) error {
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
	var entries []storage.MetadataEntry
	var tooBig int
	err = d.List(func() error {
		e, err := d.AString()
		if err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		var v string
		var isNil bool
		if d.Accept('~') { // literal8 (RFC 3516)
			v, err = d.literalString()
		} else {
			v, isNil, err = d.NString()
		}
		if err != nil {
			return err
		}
		me := storage.MetadataEntry{Name: e}
		if !isNil {
			me.Value = []byte(v)
		}
		if len(me.Value) > storage.MaxMetadataValue {
			tooBig = max(tooBig, len(me.Value))
		}
		entries = append(entries, me)
		return nil
	})
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if len(entries) == 0 {
		return errBad("SETMETADATA needs at least one entry")
	}
	if tooBig > 0 {
		// RFC 5464 4.3: the largest value the server accepts.
		return errNo("METADATA MAXSIZE "+strconv.Itoa(storage.MaxMetadataValue), "metadata value too long")
	}
	mbox, _, err := s.metadataMailbox(name)
	if err != nil {
		return err
	}
	if err := s.checkMetadataTotal(entries); err != nil { // limits.go
		return err
	}
	s.notifyOwn(storage.ChangeMetadata, "", mbox) // not echoed to NOTIFY
	if mbox == 0 {
		return s.metadataError(s.store.SetMetadata(s.ctx, s.user.Account, 0, entries))
	}
	// RFC 5464 4: "l" and "r", and "w" for /shared/ entries (the view).
	return s.metadataError(s.v.SetMetadata(s.ctx, mbox, entries))
}
