package imap

import (
	"mime"
	"strconv"

	"github.com/floemail/floe/storage"
)

// This file encodes the ENVELOPE fetch item (RFC 9051 7.5.2, RFC 3501 7.4.2)
// from the envelope stored at delivery; the message is never parsed again.
// The encoders append to a byte slice which the caller writes with the
// session's encoder, so they are pure and testable on their own.

// appendIString appends s as an IMAP string: quoted when it can be, a
// literal otherwise (RFC 9051 4.3). Non-ASCII text is only quoted when the
// client accepts UTF-8 (RFC 6855 / IMAP4rev2); otherwise it goes out as a
// literal, which may carry 8-bit data.
func appendIString(b []byte, s string, utf8 bool) []byte {
	if quotable(s, utf8) {
		b = append(b, '"')
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
		}
		return append(b, '"')
	}
	b = append(b, '{')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, "}\r\n"...)
	return append(b, s...)
}

// quotable reports whether s fits in a quoted string (RFC 9051 9: quoted
// excludes CR, LF and NUL; 8-bit characters only with UTF-8 enabled).
func quotable(s string, utf8 bool) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 || c == '\r' || c == '\n' || (c >= 0x80 && !utf8) {
			return false
		}
	}
	return true
}

// appendNString appends s as an nstring: NIL when empty.
func appendNString(b []byte, s string, utf8 bool) []byte {
	if s == "" {
		return append(b, "NIL"...)
	}
	return appendIString(b, s, utf8)
}

// headerText returns decoded header text in the form the client can take:
// as it is for UTF-8 clients, else re-encoded as RFC 2047 encoded-words when
// it is not ASCII (RFC 3501 clients expect encoded-words in ENVELOPE).
func headerText(s string, utf8 bool) string {
	if utf8 || asciiOnly(s) {
		return s
	}
	// mime.BEncoding splits into encoded-words of at most 75 characters at
	// character boundaries (RFC 2047 2, 5).
	return mime.BEncoding.Encode("utf-8", s)
}

func asciiOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// appendEnvelope appends the parenthesised ENVELOPE of env (RFC 9051 9,
// "envelope"). Empty Sender and Reply-To default to From (RFC 9051 7.5.2).
func appendEnvelope(b []byte, env *storage.Envelope, utf8 bool) []byte {
	if env == nil {
		env = &storage.Envelope{}
	}
	b = append(b, '(')
	b = appendNString(b, env.RawDate, utf8)
	b = append(b, ' ')
	b = appendNString(b, headerText(env.Subject, utf8), utf8)
	sender, replyTo := env.Sender, env.ReplyTo
	if len(sender) == 0 {
		sender = env.From
	}
	if len(replyTo) == 0 {
		replyTo = env.From
	}
	for _, l := range [][]storage.Address{env.From, sender, replyTo, env.To, env.Cc, env.Bcc} {
		b = append(b, ' ')
		b = appendAddressList(b, l, utf8)
	}
	b = append(b, ' ')
	b = appendNString(b, env.InReplyTo, utf8)
	b = append(b, ' ')
	b = appendNString(b, env.MessageID, utf8)
	return append(b, ')')
}

// appendAddressList appends an address list or NIL (RFC 9051 9, env-from
// etc.). Group markers follow RFC 9051 7.5.2: start marker (NIL NIL "group"
// NIL), end marker (NIL NIL NIL NIL).
func appendAddressList(b []byte, l []storage.Address, utf8 bool) []byte {
	if len(l) == 0 {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for _, a := range l {
		b = append(b, '(')
		b = appendNString(b, headerText(a.Name, utf8), utf8)
		b = append(b, ' ')
		b = appendNString(b, a.Route, utf8) // adl: source route, obsolete
		b = append(b, ' ')
		b = appendNString(b, a.Mailbox, utf8)
		b = append(b, ' ')
		b = appendNString(b, a.Host, utf8)
		b = append(b, ')')
	}
	return append(b, ')')
}
