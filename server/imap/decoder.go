package imap

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// decoder reads one command's arguments straight from the connection's
// buffered reader (RFC 9051 9, formal syntax). Literals are read as they come:
// a synchronising literal ({n}) gets a "+" continuation request after its size
// was checked against the limit, a non-synchronising one ({n+}, RFC 7888) is
// read without. Syntax errors are *respError BAD; I/O errors are returned as
// they are and remembered in ioErr (the connection is then unusable).
type decoder struct {
	r *bufio.Reader
	// cont writes a continuation request ("+ text") and flushes.
	cont func(text string) error
	// utf8 reports whether the session enabled UTF8=ACCEPT or IMAP4rev2
	// (mailbox names are then not modified UTF-7).
	utf8 func() bool
	// onLineEnd, when set, is called when a command line's final CRLF
	// was read; onLiteral when a literal's header was read, with its size
	// (session deadlines, deadlines.go).
	onLineEnd func()
	onLiteral func(n int64)
	// litCheck, when set (by a handler, for its next Literal), may refuse
	// a literal of n bytes before its continuation request is sent; reset
	// for each command.
	litCheck func(n int64) error

	lineLen    int   // bytes of the command line read (literals excluded)
	maxLine    int   // limit on lineLen
	litTotal   int64 // literal bytes read into memory for this command
	maxLiteral int64 // limit on litTotal (string literals, not APPEND's message)

	// nameProblem says why the last mailbox name read cannot name a new
	// mailbox ("" when it can): invalid modified UTF-7, or raw 8-bit
	// without UTF8=ACCEPT. Such a name is still looked up as it is.
	nameProblem string

	lineDone bool              // the command's final CRLF was consumed
	lit      *io.LimitedReader // APPEND literal handed to a handler
	ioErr    error
}

// errLineTooLong closes the connection: we cannot find the next command.
var errLineTooLong = &respError{kind: "BAD", code: "TOOBIG", text: "command line too long", close: true}

// reset prepares the decoder for the next command.
func (d *decoder) reset(maxLine int, maxLiteral int64) {
	d.lineLen, d.litTotal, d.lineDone, d.lit, d.litCheck = 0, 0, false, nil, nil
	d.maxLine, d.maxLiteral = maxLine, maxLiteral
}

// drain discards what a handler left of an APPEND literal.
func (d *decoder) drain() error {
	if d.lit != nil && d.lit.N > 0 {
		if _, err := io.Copy(io.Discard, d.lit); err != nil {
			d.ioErr = err
			return err
		}
	}
	d.lit = nil
	return nil
}

func (d *decoder) readByte() (byte, error) {
	if d.ioErr != nil {
		return 0, d.ioErr
	}
	if err := d.drain(); err != nil {
		return 0, err
	}
	b, err := d.r.ReadByte()
	if err != nil {
		d.ioErr = err
		return 0, err
	}
	d.lineLen++
	if d.maxLine > 0 && d.lineLen > d.maxLine {
		return 0, errLineTooLong
	}
	return b, nil
}

// Peek returns the next byte without consuming it.
func (d *decoder) Peek() (byte, error) {
	if d.ioErr != nil {
		return 0, d.ioErr
	}
	if err := d.drain(); err != nil {
		return 0, err
	}
	b, err := d.r.Peek(1)
	if err != nil {
		d.ioErr = err
		return 0, err
	}
	return b[0], nil
}

func (d *decoder) peekIs(c byte) bool {
	b, err := d.Peek()
	return err == nil && b == c
}

// Accept consumes c if it is the next byte (case-sensitive).
func (d *decoder) Accept(c byte) bool {
	if d.peekIs(c) {
		d.readByte()
		return true
	}
	return false
}

// Expect consumes c or fails with BAD.
func (d *decoder) Expect(c byte) error {
	b, err := d.Peek()
	if err != nil {
		return err
	}
	if b != c {
		return errBad("syntax error: expected '" + string(c) + "'")
	}
	_, err = d.readByte()
	return err
}

// SP consumes one space.
func (d *decoder) SP() error { return d.Expect(' ') }

// EOL reports whether the next bytes end the command line.
func (d *decoder) EOL() bool {
	b, err := d.Peek()
	return err == nil && (b == '\r' || b == '\n')
}

// CRLF consumes the end of the command line; anything else is BAD.
// RFC 9051 2.2: lines end with CRLF; a bare LF is accepted.
func (d *decoder) CRLF() error {
	if d.lineDone {
		return nil
	}
	b, err := d.Peek()
	if err != nil {
		return err
	}
	if b == '\r' {
		d.readByte()
		b, err = d.Peek()
		if err != nil {
			return err
		}
	}
	if b != '\n' {
		return errBad("syntax error: unexpected characters at end of command")
	}
	if _, err := d.readByte(); err != nil {
		return err
	}
	d.lineDone = true
	if d.onLineEnd != nil {
		d.onLineEnd()
	}
	return nil
}

// Character classes of RFC 9051 9.
func isAtomChar(c byte) bool {
	if c <= 0x1f || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

func isAStringChar(c byte) bool { return isAtomChar(c) || c == ']' }

func isListChar(c byte) bool { return isAStringChar(c) || c == '%' || c == '*' }

// readWhile reads 1 or more bytes of a class.
func (d *decoder) readWhile(ok func(byte) bool, what string) (string, error) {
	var sb strings.Builder
	for {
		b, err := d.Peek()
		if err != nil {
			if sb.Len() > 0 && d.ioErr != nil {
				return "", err
			}
			return "", err
		}
		if !ok(b) {
			break
		}
		if _, err := d.readByte(); err != nil {
			return "", err
		}
		sb.WriteByte(b)
	}
	if sb.Len() == 0 {
		return "", errBad("syntax error: expected " + what)
	}
	return sb.String(), nil
}

// Atom reads 1*ATOM-CHAR.
func (d *decoder) Atom() (string, error) { return d.readWhile(isAtomChar, "atom") }

// AtomBracket reads 1*ASTRING-CHAR (an atom that may contain ']').
func (d *decoder) AtomBracket() (string, error) { return d.readWhile(isAStringChar, "atom") }

// tag reads a command tag: 1*<any ASTRING-CHAR except "+">.
func (d *decoder) tag() (string, error) {
	return d.readWhile(func(c byte) bool { return isAStringChar(c) && c != '+' }, "tag")
}

// AString reads an astring: atom (with ']') / quoted / literal.
func (d *decoder) AString() (string, error) {
	b, err := d.Peek()
	if err != nil {
		return "", err
	}
	if b == '"' || b == '{' {
		return d.String()
	}
	return d.AtomBracket()
}

// String reads a quoted string or a literal.
func (d *decoder) String() (string, error) {
	b, err := d.Peek()
	if err != nil {
		return "", err
	}
	switch b {
	case '"':
		return d.quoted()
	case '{':
		return d.literalString()
	}
	return "", errBad("syntax error: expected string")
}

// NString reads a string or NIL.
func (d *decoder) NString() (string, bool, error) {
	b, err := d.Peek()
	if err != nil {
		return "", false, err
	}
	if b == 'N' || b == 'n' {
		a, err := d.Atom()
		if err != nil {
			return "", false, err
		}
		if !strings.EqualFold(a, "NIL") {
			return "", false, errBad("syntax error: expected string or NIL")
		}
		return "", true, nil
	}
	s, err := d.String()
	return s, false, err
}

// quoted reads DQUOTE *QUOTED-CHAR DQUOTE (RFC 9051 9; UTF-8 allowed).
func (d *decoder) quoted() (string, error) {
	if err := d.Expect('"'); err != nil {
		return "", err
	}
	var sb strings.Builder
	for {
		b, err := d.readByte()
		if err != nil {
			return "", err
		}
		switch b {
		case '"':
			s := sb.String()
			if !utf8.ValidString(s) {
				return "", errBad("syntax error: invalid UTF-8 in quoted string")
			}
			return s, nil
		case '\\':
			c, err := d.readByte()
			if err != nil {
				return "", err
			}
			if c != '"' && c != '\\' {
				return "", errBad("syntax error: invalid escape in quoted string")
			}
			sb.WriteByte(c)
		case '\r', '\n', 0:
			return "", errBad("syntax error: unterminated quoted string")
		default:
			sb.WriteByte(b)
		}
	}
}

// literalHeader reads "{" number64 ["+"] "}" CRLF (the '~' of literal8 is
// read by the caller).
func (d *decoder) literalHeader() (n int64, sync bool, err error) {
	if err := d.Expect('{'); err != nil {
		return 0, false, err
	}
	v, err := d.Number64()
	if err != nil {
		return 0, false, err
	}
	sync = !d.Accept('+')
	if err := d.Expect('}'); err != nil {
		return 0, false, err
	}
	if err := d.CRLF(); err != nil {
		return 0, false, err
	}
	d.lineDone = false // the command continues after the literal
	if v > 1<<62 {
		v = 1 << 62
	}
	if d.onLiteral != nil {
		d.onLiteral(int64(v))
	}
	return int64(v), sync, nil
}

// tooBig is the answer to a literal over a limit. A synchronising literal's
// data will not come (no continuation was sent), so the line is over; a
// non-synchronising literal's data is on its way and the connection must be
// closed (RFC 7888 4).
func (d *decoder) tooBig(sync bool, code, text string) error {
	d.lineDone = true
	return &respError{kind: "NO", code: code, text: text, close: !sync}
}

func (d *decoder) literalString() (string, error) {
	n, sync, err := d.literalHeader()
	if err != nil {
		return "", err
	}
	if d.litTotal+n > d.maxLiteral {
		return "", d.tooBig(sync, "TOOBIG", "literal too big")
	}
	if sync {
		if err := d.cont("Ready for literal data"); err != nil {
			d.ioErr = err
			return "", err
		}
	}
	d.litTotal += n
	buf := make([]byte, n)
	if _, err := io.ReadFull(d.r, buf); err != nil {
		d.ioErr = err
		return "", err
	}
	return string(buf), nil
}

// Literal reads the header of APPEND's message literal ({n}, {n+}, ~{n},
// ~{n+}) and returns a reader of its n bytes, which the caller must read to
// EOF (what is left is discarded before the next read). A literal over max
// is refused with NO [TOOBIG] without reading it (RFC 7888 4, RFC 7889).
func (d *decoder) Literal(max int64) (io.Reader, int64, bool, error) {
	binary := d.Accept('~')
	n, sync, err := d.literalHeader()
	if err != nil {
		return nil, 0, false, err
	}
	if n > max {
		return nil, 0, false, d.tooBig(sync, "TOOBIG", "message too big")
	}
	if d.litCheck != nil && sync {
		if err := d.litCheck(n); err != nil {
			var re *respError
			if errors.As(err, &re) {
				d.lineDone = true // no continuation: the data will not come
				return nil, 0, false, re
			}
			return nil, 0, false, err
		}
	}
	if sync {
		if err := d.cont("Ready for literal data"); err != nil {
			d.ioErr = err
			return nil, 0, false, err
		}
	}
	d.lit = &io.LimitedReader{R: d.r, N: n}
	return &literalReader{d: d, lr: d.lit}, n, binary, nil
}

// literalReader records I/O errors of the literal in the decoder.
type literalReader struct {
	d  *decoder
	lr *io.LimitedReader
}

func (l *literalReader) Read(p []byte) (int, error) {
	n, err := l.lr.Read(p)
	if err != nil && err != io.EOF {
		l.d.ioErr = err
	}
	if err == nil && l.lr.N == 0 {
		err = io.EOF
	}
	return n, err
}

// Number reads a number (RFC 9051 9: number = 1*DIGIT, < 2^32).
func (d *decoder) Number() (uint32, error) {
	s, err := d.readWhile(isDigit, "number")
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errBad("syntax error: number out of range")
	}
	return uint32(v), nil
}

// Number64 reads a number64 (RFC 9051 9, < 2^63).
func (d *decoder) Number64() (uint64, error) {
	s, err := d.readWhile(isDigit, "number")
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, errBad("syntax error: number out of range")
	}
	return v, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// NumSet reads a sequence-set (RFC 9051 9) or "$" (RFC 5182 SEARCHRES). It
// returns an imap.UIDSet when uid is true, else an imap.SeqSet; "$" is
// imap.SearchRes() either way. "*" is 0 in the ranges (go-imap convention).
func (d *decoder) NumSet(uid bool) (imap.NumSet, error) {
	if d.Accept('$') {
		return imap.SearchRes(), nil
	}
	s, err := d.readWhile(func(c byte) bool { return isDigit(c) || c == '*' || c == ':' || c == ',' }, "sequence set")
	if err != nil {
		return nil, err
	}
	return parseNumSet(s, uid)
}

// parseNumSet parses the text of a sequence-set.
func parseNumSet(s string, uid bool) (imap.NumSet, error) {
	var set imap.SeqSet
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		start, err := parseSeqNumber(a)
		if err != nil {
			return nil, err
		}
		stop := start
		if isRange {
			if stop, err = parseSeqNumber(b); err != nil {
				return nil, err
			}
		}
		set.AddRange(start, stop)
	}
	if uid {
		out := make(imap.UIDSet, len(set))
		for i, r := range set {
			out[i] = imap.UIDRange{Start: imap.UID(r.Start), Stop: imap.UID(r.Stop)}
		}
		return out, nil
	}
	return set, nil
}

// parseSeqNumber parses seq-number = nz-number / "*" ("*" is 0).
func parseSeqNumber(s string) (uint32, error) {
	if s == "*" {
		return 0, nil
	}
	if s == "" || s[0] == '0' {
		return 0, errBad("syntax error: invalid sequence set")
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, errBad("syntax error: invalid sequence set")
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errBad("syntax error: number out of range in sequence set")
	}
	return uint32(v), nil
}

// List reads "(" [elem *(SP elem)] ")"; fn reads one element.
func (d *decoder) List(fn func() error) error {
	if err := d.Expect('('); err != nil {
		return err
	}
	if d.Accept(')') {
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		if d.Accept(')') {
			return nil
		}
		if err := d.SP(); err != nil {
			return err
		}
	}
}

// systemFlags are the flags of RFC 9051 2.3.2 in canonical case.
var systemFlags = []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`, `\Recent`}

// Flag reads a flag: a system flag (returned in canonical case), another
// "\atom" flag extension, or a keyword atom.
func (d *decoder) Flag() (string, error) {
	if d.Accept('\\') {
		a, err := d.Atom()
		if err != nil {
			return "", err
		}
		f := `\` + a
		for _, sf := range systemFlags {
			if strings.EqualFold(sf, f) {
				return sf, nil
			}
		}
		return f, nil
	}
	return d.Atom()
}

// FlagList reads "(" [flag *(SP flag)] ")".
func (d *decoder) FlagList() ([]string, error) {
	var flags []string
	err := d.List(func() error {
		f, err := d.Flag()
		flags = append(flags, f)
		return err
	})
	return flags, err
}

// DateTime reads date-time = DQUOTE date-day-fixed "-" date-month "-"
// date-year SP time SP zone DQUOTE (RFC 9051 9).
func (d *decoder) DateTime() (time.Time, error) {
	s, err := d.quoted()
	if err != nil {
		return time.Time{}, err
	}
	return parseDateTime(s)
}

func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{"_2-Jan-2006 15:04:05 -0700", "2-Jan-2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBad("syntax error: invalid date-time")
}

// Date reads date = date-text / DQUOTE date-text DQUOTE, date-text =
// date-day "-" date-month "-" date-year (RFC 9051 9).
func (d *decoder) Date() (time.Time, error) {
	var s string
	var err error
	if d.peekIs('"') {
		s, err = d.quoted()
	} else {
		s, err = d.Atom()
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse("2-Jan-2006", s)
	if err != nil {
		return time.Time{}, errBad("syntax error: invalid date")
	}
	return t, nil
}

// Mailbox reads a mailbox name (astring): modified UTF-7 is decoded unless
// the session enabled UTF8=ACCEPT (RFC 6855 3) or IMAP4rev2, and INBOX is
// case-insensitive (RFC 9051 5.1), also as the first level of a hierarchy.
func (d *decoder) Mailbox() (string, error) {
	s, err := d.AString()
	if err != nil {
		return "", err
	}
	return d.mailboxName(s)
}

// ListMailbox reads a list-mailbox (RFC 9051 9): list-chars (atom chars,
// '%', '*', ']') or a string, decoded as Mailbox.
func (d *decoder) ListMailbox() (string, error) {
	b, err := d.Peek()
	if err != nil {
		return "", err
	}
	var s string
	if b == '"' || b == '{' {
		s, err = d.String()
	} else {
		s, err = d.readWhile(isListChar, "mailbox pattern")
	}
	if err != nil {
		return "", err
	}
	return d.mailboxName(s)
}

// mailboxName decodes a mailbox name as the session spells it. A name that
// is not valid modified UTF-7 is kept as it is (so SELECT answers NO, not
// BAD, and LIST matches nothing: it is a well-formed astring, RFC 9051 9);
// d.nameProblem tells CREATE and RENAME to refuse it, as it does a raw
// 8-bit name from a client that did not enable UTF8=ACCEPT: listed back in
// modified UTF-7 it would not be the name that client looks up (mbsync
// then creates the folder again).
func (d *decoder) mailboxName(s string) (string, error) {
	d.nameProblem = ""
	if !d.utf8() {
		if !isASCII(s) {
			d.nameProblem = "8-bit mailbox names need ENABLE UTF8=ACCEPT; use modified UTF-7 (RFC 3501 5.1.3)"
		} else if dec, err := utf7Decode(s); err != nil {
			d.nameProblem = "mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3)"
		} else {
			s = dec
		}
	}
	return canonicalMailbox(s), nil
}

// canonicalMailbox spells INBOX in upper case (RFC 9051 5.1).
func canonicalMailbox(s string) string {
	if strings.EqualFold(s, "INBOX") {
		return "INBOX"
	}
	if len(s) > 6 && strings.EqualFold(s[:6], "INBOX/") {
		return "INBOX/" + s[6:]
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// skipLine discards the rest of a command line after a syntax error,
// including the data of non-synchronising literals announced on it. It stops
// after a synchronising literal's header: the client waits for a
// continuation we do not send and reads our tagged BAD instead.
func (d *decoder) skipLine() error {
	if d.lineDone {
		return nil
	}
	var tail [24]byte
	n := 0
	for {
		b, err := d.readByte()
		if err != nil {
			return err
		}
		if b != '\n' {
			if n < len(tail) {
				tail[n] = b
				n++
			} else {
				copy(tail[:], tail[1:])
				tail[len(tail)-1] = b
			}
			continue
		}
		t := strings.TrimSuffix(string(tail[:n]), "\r")
		n = 0
		if !strings.HasSuffix(t, "}") {
			break
		}
		i := strings.LastIndexByte(t, '{')
		if i < 0 {
			break
		}
		num := t[i+1 : len(t)-1]
		if !strings.HasSuffix(num, "+") {
			break // synchronising: nothing follows
		}
		size, err := strconv.ParseInt(strings.TrimSuffix(num, "+"), 10, 64)
		if err != nil {
			break
		}
		if size > d.maxLiteral {
			return errLineTooLong
		}
		if _, err := io.CopyN(io.Discard, d.r, size); err != nil {
			d.ioErr = err
			return err
		}
	}
	d.lineDone = true
	return nil
}
