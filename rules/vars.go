package rules

import (
	"net/mail"
	"strings"
)

// Variables usable in action texts (folder names, header values, sent
// messages, forwarder and responder texts), written %%Name%% and matched
// case-insensitively; an unknown name is left as written:
//
//	%%Subject%%     the Subject header, decoded
//	%%From%%        the From header, decoded (name and address)
//	%%From_Name%%   the display name of the first From address (its address when it has none)
//	%%From_Email%%  the address of the first From address
//	%%To%%          the To header, decoded
//	%%To_Name%%     the display name of the first To address (its address when it has none)
//	%%Date%%        the arrival date, YYYY-MM-DD (server time)
//	%%Time%%        the arrival time, HH:MM:SS (server time)
//	%%Recipient%%   the envelope recipient as given (john+Important@example.org)
//	%%Sender%%      the envelope sender ("" for the null sender)
//	%%Extension%%   the recipient's folder extension: "Important" in
//	                john+Important@… or john:Important@…, "" without one
var VariableNames = []string{"Subject", "From", "From_Name", "From_Email", "To", "To_Name",
	"Date", "Time", "Recipient", "Sender", "Extension"}

// MaxExpanded bounds the result of Expand.
const MaxExpanded = 64 << 10

// Vars holds the values of the variables for one message and recipient.
type Vars map[string]string // lowercase name -> value

// NewVars computes the variables of m for the recipient of c.
func NewVars(m *Message, c *Context) Vars {
	fromName, fromEmail := m.FromName, m.FromEmail
	if fromEmail == "" {
		fromName, fromEmail = firstAddress(m.Get("From"))
	}
	if fromName == "" {
		fromName = fromEmail
	}
	toName, toEmail := m.ToName, m.ToEmail
	if toEmail == "" {
		toName, toEmail = firstAddress(m.Get("To"))
	}
	if toName == "" {
		toName = toEmail
	}
	now := c.Now.In(c.loc())
	return Vars{
		"subject":    m.Get("Subject"),
		"from":       m.Get("From"),
		"from_name":  fromName,
		"from_email": fromEmail,
		"to":         m.Get("To"),
		"to_name":    toName,
		"date":       now.Format("2006-01-02"),
		"time":       now.Format("15:04:05"),
		"recipient":  c.Recipient,
		"sender":     c.MailFrom,
		"extension":  Extension(c.Recipient),
	}
}

// Extension returns the folder extension of a recipient address: the part
// of the local part after the first "+" or ":" (surrounding "%%" removed,
// as the seed writes john:%%Important%%@…), or "".
func Extension(addr string) string {
	local := addr
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local = addr[:i]
	}
	i := strings.IndexAny(local, "+:")
	if i < 0 {
		return ""
	}
	ext := strings.TrimSpace(local[i+1:])
	if strings.HasPrefix(ext, "%%") && strings.HasSuffix(ext, "%%") && len(ext) >= 4 {
		ext = ext[2 : len(ext)-2]
	}
	return ext
}

// Expand replaces the variables in s. The result is cut at MaxExpanded
// bytes. When oneLine is set, line breaks in values become spaces (for
// header fields and folder names).
func Expand(s string, v Vars, oneLine bool) string {
	if !strings.Contains(s, "%%") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 && b.Len() < MaxExpanded {
		i := strings.Index(s, "%%")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.Index(rest, "%%")
		if j < 0 || j > 32 {
			b.WriteString("%%")
			s = rest
			continue
		}
		val, ok := v[strings.ToLower(rest[:j])]
		if !ok {
			// Not a variable: keep the first "%%" and look again from the
			// second, which may open a variable.
			b.WriteString("%%")
			s = rest
			continue
		}
		if oneLine {
			val = strings.Map(func(r rune) rune {
				if r == '\r' || r == '\n' || r == 0 {
					return ' '
				}
				return r
			}, val)
		}
		b.WriteString(val)
		s = rest[j+2:]
	}
	out := b.String()
	if len(out) > MaxExpanded {
		out = out[:MaxExpanded]
		for len(out) > 0 && !validUTF8Tail(out) {
			out = out[:len(out)-1]
		}
	}
	return out
}

// validUTF8Tail reports whether s does not end inside a UTF-8 sequence.
func validUTF8Tail(s string) bool {
	for i := len(s) - 1; i >= 0 && i >= len(s)-4; i-- {
		c := s[i]
		if c < 0x80 {
			return true
		}
		if c >= 0xC0 {
			need := 2
			if c >= 0xF0 {
				need = 4
			} else if c >= 0xE0 {
				need = 3
			}
			return len(s)-i >= need
		}
	}
	return true
}

// firstAddress parses the first address of a decoded address list header
// (name and address; both "" when none parses).
func firstAddress(v string) (name, addr string) {
	if v == "" {
		return "", ""
	}
	list, err := mail.ParseAddressList(v)
	if err != nil || len(list) == 0 {
		a, err := mail.ParseAddress(v)
		if err != nil {
			return "", ""
		}
		return a.Name, a.Address
	}
	return list[0].Name, list[0].Address
}
