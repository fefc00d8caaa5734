package imap

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// encoder buffers responses (RFC 9051 7). Errors are sticky: after a write
// fails every method is a no-op and Err/Flush report the error. The buffer
// is taken from a pool on the first write and given back by Flush, so an idle
// connection holds none.
type encoder struct {
	w    io.Writer
	pool *sync.Pool // of *bufio.Writer
	bw   *bufio.Writer
	err  error
	// utf8 is set when the session enabled UTF8=ACCEPT or IMAP4rev2: strings
	// with non-ASCII characters may then be quoted and mailbox names are not
	// modified UTF-7 (RFC 6855 3, RFC 9051 5.1).
	utf8 bool
}

func newWriterPool() *sync.Pool {
	return &sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
}

func (e *encoder) buf() *bufio.Writer {
	if e.bw == nil {
		e.bw = e.pool.Get().(*bufio.Writer)
		e.bw.Reset(e.w)
	}
	return e.bw
}

func (e *encoder) raw(s string) *encoder {
	if e.err == nil {
		_, e.err = e.buf().WriteString(s)
	}
	return e
}

// Untagged starts an untagged response: "* ".
func (e *encoder) Untagged() *encoder { return e.raw("* ") }

// Atom writes s as it is (atoms, response codes, numbers, fixed text).
func (e *encoder) Atom(s string) *encoder { return e.raw(s) }

// SP writes a space.
func (e *encoder) SP() *encoder { return e.raw(" ") }

// Byte writes one byte, e.g. '(' or ')'.
func (e *encoder) Byte(c byte) *encoder {
	if e.err == nil {
		e.err = e.buf().WriteByte(c)
	}
	return e
}

// Number writes a decimal number.
func (e *encoder) Number(n uint32) *encoder { return e.Number64(uint64(n)) }

// Number64 writes a decimal number.
func (e *encoder) Number64(n uint64) *encoder {
	if e.err == nil {
		var b [20]byte
		_, e.err = e.buf().Write(strconv.AppendUint(b[:0], n, 10))
	}
	return e
}

// String writes s as a quoted string when it can be (RFC 9051 4.3), else as
// a literal. Non-ASCII text is quoted only for sessions that enabled UTF-8.
func (e *encoder) String(s string) *encoder {
	if canQuote(s, e.utf8) {
		e.Byte('"')
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				e.Byte('\\')
			}
			e.Byte(s[i])
		}
		return e.Byte('"')
	}
	e.Byte('{').Number64(uint64(len(s))).raw("}\r\n")
	return e.raw(s)
}

// canQuote reports whether s can be sent as a quoted string.
func canQuote(s string, utf8OK bool) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 || c == '\r' || c == '\n' {
			return false
		}
		if c >= 0x80 && !utf8OK {
			return false
		}
	}
	return !utf8OK || utf8.ValidString(s)
}

// NString writes s, or NIL when s is empty.
func (e *encoder) NString(s string) *encoder {
	if s == "" {
		return e.NIL()
	}
	return e.String(s)
}

// NIL writes NIL.
func (e *encoder) NIL() *encoder { return e.raw("NIL") }

// Mailbox writes a mailbox name: modified UTF-7 unless UTF-8 is enabled.
func (e *encoder) Mailbox(name string) *encoder {
	if !e.utf8 {
		name = utf7Encode(name)
	}
	return e.String(name)
}

// Flags writes "(" flag *(SP flag) ")".
func (e *encoder) Flags(flags []string) *encoder {
	e.Byte('(')
	for i, f := range flags {
		if i > 0 {
			e.SP()
		}
		e.raw(f)
	}
	return e.Byte(')')
}

// Literal writes {n}CRLF (or ~{n}CRLF for binary, RFC 3516) and n bytes of r.
func (e *encoder) Literal(r io.Reader, n int64, binary bool) *encoder {
	if binary {
		e.Byte('~')
	}
	e.Byte('{').Number64(uint64(n)).raw("}\r\n")
	if e.err == nil {
		var m int64
		m, e.err = io.CopyN(e.buf(), r, n)
		if e.err == io.EOF && m < n {
			e.err = io.ErrUnexpectedEOF
		}
	}
	return e
}

// CRLF ends a response line.
func (e *encoder) CRLF() *encoder { return e.raw("\r\n") }

// Flush writes the buffered responses to the connection and returns the
// buffer to the pool.
func (e *encoder) Flush() error {
	if e.bw == nil {
		return e.err
	}
	if e.err == nil {
		e.err = e.bw.Flush()
	}
	if f, ok := e.w.(flusher); ok && e.err == nil {
		e.err = f.Flush() // COMPRESS=DEFLATE: end the batch (compress.go)
	}
	e.bw.Reset(nil)
	e.pool.Put(e.bw)
	e.bw = nil
	return e.err
}

// flusher is a writer below the encoder that buffers across Writes and
// must be flushed with the encoder (the COMPRESS=DEFLATE stream).
type flusher interface{ Flush() error }

// Err returns the first write error.
func (e *encoder) Err() error { return e.err }
