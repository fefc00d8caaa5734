package delivery

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"mime/quotedprintable"
	"strconv"
	"strings"
	"time"

	"github.com/floemail/floe/rules"
)

// rawField is one header field as written (name, and the whole field with
// its continuation lines and line break).
type rawField struct {
	name string
	raw  string
}

// splitHeader splits a raw header section (with or without its blank line)
// into fields, keeping each as written.
func splitHeader(h []byte) []rawField {
	var out []rawField
	s := string(h)
	for len(s) > 0 {
		end := strings.IndexByte(s, '\n')
		if end < 0 {
			end = len(s) - 1
		}
		line := s[:end+1]
		if strings.TrimRight(line, "\r\n") == "" {
			break // the blank line ending the header
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].raw += line
		} else {
			name, _, _ := strings.Cut(line, ":")
			out = append(out, rawField{name: strings.TrimSpace(name), raw: line})
		}
		s = s[end+1:]
	}
	for i := range out {
		if !strings.HasSuffix(out[i].raw, "\n") {
			out[i].raw += "\r\n"
		}
	}
	return out
}

// encodeValue encodes a header value for the wire: RFC 2047 Q encoding when
// it is not ASCII.
func encodeValue(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return mime.QEncoding.Encode("utf-8", v)
		}
	}
	return v
}

func field(name, value string) string {
	return name + ": " + encodeValue(value) + "\r\n"
}

// EditHeader applies a plan's header edits and priority to a raw header
// section and returns the new one, with its blank line. add_header puts
// the field on top; edit_header replaces the first field of that name
// (removing the others) or adds it; delete_header removes every field of
// that name. A priority replaces X-Priority, Importance and Priority.
func EditHeader(h []byte, edits []rules.HeaderEdit, priority int) string {
	fields := splitHeader(h)
	var top []string
	for _, e := range edits {
		switch e.Op {
		case rules.DoAddHeader:
			top = append(top, field(e.Name, e.Value))
		case rules.DoEditHeader:
			done := false
			kept := fields[:0:0]
			for _, f := range fields {
				if strings.EqualFold(f.name, e.Name) {
					if !done {
						kept = append(kept, rawField{e.Name, field(e.Name, e.Value)})
						done = true
					}
					continue
				}
				kept = append(kept, f)
			}
			fields = kept
			if !done {
				top = append(top, field(e.Name, e.Value))
			}
		case rules.DoDeleteHeader:
			kept := fields[:0:0]
			for _, f := range fields {
				if !strings.EqualFold(f.name, e.Name) {
					kept = append(kept, f)
				}
			}
			fields = kept
		}
	}
	if priority >= rules.PriorityHighest && priority <= rules.PriorityLowest {
		kept := fields[:0:0]
		for _, f := range fields {
			switch strings.ToLower(f.name) {
			case "x-priority", "importance", "priority":
				continue
			}
			kept = append(kept, f)
		}
		fields = kept
		name := rules.PriorityNames[priority]
		imp := map[int]string{1: "high", 2: "high", 3: "normal", 4: "low", 5: "low"}[priority]
		top = append(top, "X-Priority: "+strconv.Itoa(priority)+" ("+strings.ToUpper(name[:1])+name[1:]+")\r\n", "Importance: "+imp+"\r\n")
	}
	var b strings.Builder
	for _, t := range top {
		b.WriteString(t)
	}
	for _, f := range fields {
		b.WriteString(f.raw)
	}
	b.WriteString("\r\n")
	return b.String()
}

// outMessage is a message Floe writes itself (responder reply, rule's
// message, reject DSN).
type outMessage struct {
	From, To, Subject string
	Text              string
	Hops              int
	// Extra fields (already encoded), e.g. Auto-Submitted, In-Reply-To.
	Extra []string
}

// messageID returns a new Message-ID for host.
func messageID(host string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + ".floe@" + host + ">"
}

// compose writes o as a text/plain UTF-8 message (quoted-printable).
func compose(o outMessage, host string, now time.Time) []byte {
	var b bytes.Buffer
	b.WriteString(field("From", o.From))
	b.WriteString(field("To", o.To))
	b.WriteString(field("Subject", o.Subject))
	b.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("Message-ID: " + messageID(host) + "\r\n")
	for _, e := range o.Extra {
		b.WriteString(e)
	}
	b.WriteString(rules.HopHeader + ": " + strconv.Itoa(o.Hops) + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	w := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(strings.ReplaceAll(o.Text, "\r\n", "\n"), "\n", "\r\n")
	_, _ = w.Write([]byte(text))
	_ = w.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// mailboxHeader formats an address for a From/To field.
func mailboxHeader(addr string) string {
	return "<" + addr + ">"
}
