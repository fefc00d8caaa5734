package rules

import (
	"context"
	"mime"
	"net/netip"
	"strings"
	"time"
)

// Message is the message as rules see it. The caller builds it from what
// the delivery already parsed once (storage.Parsed): the raw top-level
// header, the decoded text of the text parts, the attachment names and the
// envelope's addresses. One Message is evaluated for every recipient and
// every level; it caches decoded and lowercased values, so it must not be
// shared between goroutines.
type Message struct {
	// Header is the raw top-level header section (as in storage.Parsed).
	Header []byte
	// Text is the decoded text of the text parts (HTML as text).
	Text string
	// AttachmentNames are the attachments' file names (decoded).
	AttachmentNames []string
	HasAttachment   bool
	// Size is the message's size in bytes.
	Size int64
	// The first From and To addresses, decoded (for the variables); and
	// the Message-ID and References (for replies).
	FromName, FromEmail string
	ToName, ToEmail     string
	MessageID           string
	References          []string
	// Decode decodes an RFC 2047 header value to UTF-8; nil uses the
	// standard library's decoder (UTF-8, US-ASCII, ISO-8859-1 only).
	Decode func(string) string

	fields  []Field           // parsed Header, lazily
	decoded map[string]string // lowercase name -> decoded first value
	lowText string
	hasLow  bool
}

// Field is one header field, its name as written and its raw (unfolded)
// value.
type Field struct {
	Name  string
	Value string
}

// Fields returns the header fields in order (parsed once).
func (m *Message) Fields() []Field {
	if m.fields == nil {
		m.fields = ParseHeader(m.Header)
	}
	return m.fields
}

// Get returns the decoded value of the first field named name ("" when
// absent). Names are compared case-insensitively.
func (m *Message) Get(name string) string {
	v, _ := m.lookup(strings.ToLower(name))
	return v
}

func (m *Message) lookup(lname string) (string, bool) {
	if v, ok := m.decoded[lname]; ok {
		return v, true
	}
	for _, f := range m.Fields() {
		if strings.EqualFold(f.Name, lname) {
			v := m.decode(f.Value)
			if m.decoded == nil {
				m.decoded = map[string]string{}
			}
			m.decoded[lname] = v
			return v, true
		}
	}
	return "", false
}

// All returns the decoded values of every field named name.
func (m *Message) All(name string) []string {
	var out []string
	for _, f := range m.Fields() {
		if strings.EqualFold(f.Name, name) {
			out = append(out, m.decode(f.Value))
		}
	}
	return out
}

// Has reports whether a field named name is present.
func (m *Message) Has(name string) bool {
	for _, f := range m.Fields() {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

var stdDecoder = mime.WordDecoder{}

func (m *Message) decode(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	if m.Decode != nil {
		return m.Decode(v)
	}
	if d, err := stdDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// lowerText returns the body text lowercased, computed once.
func (m *Message) lowerText() string {
	if !m.hasLow {
		m.lowText, m.hasLow = strings.ToLower(m.Text), true
	}
	return m.lowText
}

// maxHeaderFields bounds how many fields ParseHeader returns.
const maxHeaderFields = 1000

// ParseHeader splits a raw header section into fields, unfolding
// continuation lines (RFC 5322 2.2.3). It stops at the blank line that
// ends the header and is lenient with malformed lines (skipped).
func ParseHeader(h []byte) []Field {
	fields := make([]Field, 0, 16)
	s := string(h)
	for len(s) > 0 && len(fields) < maxHeaderFields {
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(fields); n > 0 {
				fields[n-1].Value += " " + strings.TrimSpace(line)
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			continue
		}
		fields = append(fields, Field{Name: name, Value: strings.TrimSpace(value)})
	}
	return fields
}

// Spam is a spam scanner's verdict on the message.
type Spam struct {
	// Scored is false when the scanner could not be asked (the message is
	// then unscored: spam conditions are false).
	Scored bool
	Score  float64
	// IsSpam is the scanner's judgement (its action, or the score over
	// the configured threshold).
	IsSpam bool
}

// Directory answers the questions of the sender_is/recipient_is
// conditions. Errors count as "no".
type Directory interface {
	// IsLocalDomain reports whether domain is one of ours.
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
	// AccountExists reports whether an account or alias takes address.
	AccountExists(ctx context.Context, address string) (bool, error)
	// MemberOfGroup reports whether address (an account) is a member of
	// the group named group.
	MemberOfGroup(ctx context.Context, address, group string) (bool, error)
}

// Context is everything about one message's arrival for one recipient,
// beside the message itself.
type Context struct {
	// MailFrom is the envelope sender ("" for the null sender).
	MailFrom string
	// Recipient is the envelope recipient as given (john+Important@...);
	// Account the address of the account that receives it, and
	// AccountAddresses every address of that account (aliases included),
	// for the responder's "addressed to me" check.
	Recipient        string
	Account          string
	AccountAddresses []string
	// RemoteIP, RDNS (the PTR name, without the final dot) and HELO of
	// the client; AuthUser the SMTP AUTH identity ("" when none).
	RemoteIP netip.Addr
	RDNS     string
	Helo     string
	AuthUser string
	// Trusted lists the trusted networks (trusted_ip).
	Trusted []netip.Prefix
	// Spam is the verdict; nil when no scanner is configured (every spam
	// condition is then false).
	Spam *Spam
	// AuthResults is our Authentication-Results value ("" when none).
	AuthResults string
	// Junk: the arrival checks (or the spam policy) already file the
	// message as junk; the plan starts with Spam set.
	Junk bool
	// Now is the arrival time; Location the server's time zone (UTC
	// when nil).
	Now      time.Time
	Location *time.Location
	// Dir answers sender_is/recipient_is; nil means every address is
	// remote.
	Dir Directory
}

func (c *Context) loc() *time.Location {
	if c.Location != nil {
		return c.Location
	}
	return time.UTC
}
