// Package item is Floe's groupware item format (SPEC §6): the validation
// of iCalendar (RFC 5545, with the CalDAV rules of RFC 4791 4.1) and vCard
// (RFC 6350 4.0 and RFC 2426 3.0, with the CardDAV rules of RFC 6352 5.1)
// payloads, the extraction of their index rows (storage.ItemIndex), the
// bounded expansion of recurrences, and the item message: one message per
// item, Kolab style, whose Subject is the item UID, whose X-Kolab-Type
// header names the type, with a short text/plain summary for mail clients
// and the standard text/calendar or text/vcard part.
//
// It is pure (no I/O beyond the readers it is given) and sits under storage
// because storage/ingest, the one write path, calls it for every message it
// stores (as it calls storage/mimeparse); the DAV layer uses it to validate
// PUT bodies and to expand recurrences from index rows.
package item

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// MaxPayload is the largest iCalendar or vCard payload parsed; the DAV
// layer refuses larger bodies earlier (its configurable max-resource-size).
const MaxPayload = 16 << 20

// MaxNesting is the deepest component nesting accepted (VCALENDAR >
// VEVENT > VALARM is 3).
const MaxNesting = 8

// Preconditions of RFC 4791 5.3.2.1 and RFC 6352 6.3.2.1 that an Invalid
// error names. The DAV layer reports them in the CALDAV: or CARDDAV:
// namespace.
const (
	PreValidCalendarData       = "valid-calendar-data"
	PreValidCalendarObject     = "valid-calendar-object-resource"
	PreSupportedComponent      = "supported-calendar-component"
	PreValidAddressData        = "valid-address-data"
	PreSupportedAddressData    = "supported-address-data"
	PreNoUIDConflict           = "no-uid-conflict"
	PreMaxResourceSize         = "max-resource-size"
	PreSupportedCalendarData   = "supported-calendar-data"
	PreValidCalendarObjectUID  = "valid-calendar-object-resource"
	PreSupportedAddressDataFmt = "supported-address-data"
)

// Invalid is the error for a payload that cannot be stored: the RFC
// precondition it fails and a reason a person can read (it is shown to the
// client, so it never contains internal details).
type Invalid struct {
	Precondition string
	Reason       string
}

func (e *Invalid) Error() string { return e.Precondition + ": " + e.Reason }

// Is makes errors.Is(err, storage.ErrInvalid) true for an Invalid.
func (e *Invalid) Is(target error) bool { return target == storage.ErrInvalid }

func invalid(pre, format string, args ...any) error {
	return &Invalid{Precondition: pre, Reason: fmt.Sprintf(format, args...)}
}

// Kolab type header and values (Kolab Format, "X-Kolab-Type").
const (
	HeaderType = "X-Kolab-Type"
	typePrefix = "application/x-vnd.kolab."
)

// KindsOf returns the item kinds a folder of the given type holds (nil for
// mail and file folders): events in event folders, VTODO in task folders,
// VJOURNAL in journal and note folders, vCards in contact folders.
func KindsOf(folderType string) []storage.ItemKind {
	switch baseType(folderType) {
	case storage.FolderTypeEvent:
		return []storage.ItemKind{storage.ItemEvent}
	case storage.FolderTypeTask:
		return []storage.ItemKind{storage.ItemTodo}
	case storage.FolderTypeJournal, storage.FolderTypeNote:
		return []storage.ItemKind{storage.ItemJournal}
	case storage.FolderTypeContact:
		return []storage.ItemKind{storage.ItemContact}
	}
	return nil
}

// baseType strips a ".default" (or other) suffix: "event.default" -> "event".
func baseType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if i := strings.IndexByte(t, '.'); i >= 0 {
		t = t[:i]
	}
	return t
}

// BaseType is the folder type without its suffix ("event.default" ->
// "event"), lower case.
func BaseType(t string) string { return baseType(t) }

// IsCalendarType reports whether folders of the type are CalDAV calendars.
func IsCalendarType(t string) bool {
	switch baseType(t) {
	case storage.FolderTypeEvent, storage.FolderTypeTask, storage.FolderTypeJournal, storage.FolderTypeNote:
		return true
	}
	return false
}

// IsContactType reports whether folders of the type are CardDAV address books.
func IsContactType(t string) bool { return baseType(t) == storage.FolderTypeContact }

// Parse validates a payload of the given media type ("text/calendar" or
// "text/vcard"; parameters ignored) and returns its index. fallbackUID,
// when not empty, is used as the UID of a vCard that has none, which is
// then added to the returned payload (the caller must then not return a
// strong ETag, RFC 4791 5.3.4 / RFC 6352 6.3.2.3); otherwise the returned
// payload is data itself. Errors are *Invalid.
func Parse(mediaType string, data []byte, fallbackUID string) (*storage.ItemIndex, []byte, error) {
	if len(data) > MaxPayload {
		return nil, nil, invalid(PreMaxResourceSize, "the item is larger than %d bytes", MaxPayload)
	}
	mt, _, _ := mime.ParseMediaType(mediaType)
	switch mt {
	case "text/calendar":
		idx, err := ParseCalendar(data)
		return idx, data, err
	case "text/vcard", "text/x-vcard", "text/directory":
		return ParseContact(data, fallbackUID)
	}
	return nil, nil, invalid(PreSupportedCalendarData, "unsupported media type %q", mt)
}

// DefaultName is the resource name of an item UID in a folder where no
// client chose one: the UID with the extension when it is a safe path
// segment, otherwise a hash of it.
func DefaultName(uid string, kind storage.ItemKind) string {
	ext := ".ics"
	if kind == storage.ItemContact {
		ext = ".vcf"
	}
	safe := len(uid) > 0 && len(uid) <= 200
	for i := 0; safe && i < len(uid); i++ {
		c := uid[i]
		safe = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.@+=", c) >= 0
	}
	if safe && uid[0] != '.' {
		return uid + ext
	}
	h := sha256.Sum256([]byte(uid))
	return "u-" + hex.EncodeToString(h[:12]) + ext
}

// ValidName reports whether name can be a resource name: one non-empty
// path segment of at most 255 bytes of UTF-8 without control characters,
// not "." or "..".
func ValidName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return false
		}
	}
	return true
}

// MessageOptions are what Compose needs besides the payload.
type MessageOptions struct {
	FolderType string    // the folder's type: names the X-Kolab-Type
	From       string    // the account's address (From header)
	Date       time.Time // zero: now
}

// Compose builds the item message for a validated payload: Subject is the
// UID, X-Kolab-Type names the type, a text/plain part summarises the item
// for mail clients, and the payload follows as text/calendar or text/vcard,
// byte for byte (8bit when it is clean CRLF text, base64 otherwise), so
// Payload returns exactly data.
func Compose(idx *storage.ItemIndex, data []byte, o MessageOptions) []byte {
	date := o.Date
	if date.IsZero() {
		date = time.Now()
	}
	ft := baseType(o.FolderType)
	if ft == "" {
		ft = defaultType(idx.Kind)
	}
	boundary := randomToken(16)
	var b bytes.Buffer
	from := o.From
	if from == "" {
		from = "groupware@localhost"
	}
	fmt.Fprintf(&b, "From: <%s>\r\n", from)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", headerSafe(idx.UID)))
	fmt.Fprintf(&b, "Message-ID: <%s@floe.groupware>\r\n", randomToken(12))
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "%s: %s%s\r\n", HeaderType, typePrefix, ft)
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a groupware item; a calendar or address book client reads it.\r\n")

	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary)
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(Summary(idx), "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n")

	ct, ext := "text/calendar; charset=utf-8; component="+componentName(idx.Kind), ".ics"
	if idx.Kind == storage.ItemContact {
		ct, ext = "text/vcard; charset=utf-8", ".vcf"
	}
	fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\n", boundary, ct)
	fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"item%s\"\r\n", ext)
	if cleanText(data) {
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n\r\n")
		b.Write(data)
		// The CRLF before the boundary belongs to the delimiter (RFC
		// 2046 5.1.1), so the payload keeps its own final CRLF.
		b.WriteString("\r\n")
	} else {
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		writeBase64(&b, data)
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}

func defaultType(k storage.ItemKind) string {
	switch k {
	case storage.ItemTodo:
		return storage.FolderTypeTask
	case storage.ItemJournal:
		return storage.FolderTypeJournal
	case storage.ItemContact:
		return storage.FolderTypeContact
	}
	return storage.FolderTypeEvent
}

func componentName(k storage.ItemKind) string {
	switch k {
	case storage.ItemTodo:
		return "VTODO"
	case storage.ItemJournal:
		return "VJOURNAL"
	}
	return "VEVENT"
}

// Summary is the plain-text description of an item for mail clients. It
// says what and when, never more than the index holds.
func Summary(idx *storage.ItemIndex) string {
	var b strings.Builder
	switch idx.Kind {
	case storage.ItemContact:
		fmt.Fprintf(&b, "Contact: %s\n", idx.Summary)
		for _, e := range idx.Emails {
			fmt.Fprintf(&b, "Email: %s\n", e)
		}
		for _, p := range idx.Phones {
			fmt.Fprintf(&b, "Phone: %s\n", p)
		}
	default:
		label := map[storage.ItemKind]string{storage.ItemEvent: "Event", storage.ItemTodo: "Task", storage.ItemJournal: "Journal"}[idx.Kind]
		fmt.Fprintf(&b, "%s: %s\n", label, idx.Summary)
		if !idx.Start.IsZero() {
			layout := "2006-01-02 15:04 UTC"
			if idx.AllDay {
				layout = "2006-01-02"
			}
			fmt.Fprintf(&b, "Start: %s\n", idx.Start.Format(layout))
			if !idx.End.IsZero() && !idx.Recurring {
				fmt.Fprintf(&b, "End: %s\n", idx.End.Format(layout))
			}
		}
		if idx.Recurring {
			b.WriteString("Recurring\n")
		}
		if idx.Status != "" {
			fmt.Fprintf(&b, "Status: %s\n", idx.Status)
		}
	}
	return b.String()
}

// headerSafe removes characters a header field cannot carry.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// cleanText reports whether data can be sent as 8bit: valid UTF-8, CRLF
// line ends only, lines of at most 998 bytes, no NUL, ending with CRLF.
func cleanText(data []byte) bool {
	if len(data) == 0 || !bytes.HasSuffix(data, []byte("\r\n")) || !utf8.Valid(data) {
		return false
	}
	line := 0
	for i, c := range data {
		switch c {
		case 0:
			return false
		case '\n':
			if i == 0 || data[i-1] != '\r' {
				return false
			}
			line = 0
			continue
		case '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				return false
			}
		}
		line++
		if line > 998 {
			return false
		}
	}
	return true
}

func writeBase64(b *bytes.Buffer, data []byte) {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	n := 0
	for i := 0; i < len(data); i += 3 {
		var v uint32
		k := min(3, len(data)-i)
		for j := range k {
			v |= uint32(data[i+j]) << (16 - 8*j)
		}
		out := [4]byte{enc[v>>18&63], enc[v>>12&63], enc[v>>6&63], enc[v&63]}
		if k < 3 {
			out[3] = '='
		}
		if k < 2 {
			out[2] = '='
		}
		b.Write(out[:])
		n += 4
		if n == 76 {
			b.WriteString("\r\n")
			n = 0
		}
	}
	if n > 0 {
		b.WriteString("\r\n")
	}
}

func randomToken(n int) string {
	buf := make([]byte, n)
	rand.Read(buf)
	return hex.EncodeToString(buf)
}

// ErrNotItem is returned by Index for a message that is not an item.
var ErrNotItem = errors.New("item: not an item message")

// PayloadPart returns the part of a parsed message holding the item
// payload: the first text/calendar or text/vcard part of a message marked
// with X-Kolab-Type, or the message itself when it is one such part. It
// returns nil for other messages (mail).
func PayloadPart(p *storage.Parsed) *storage.Part {
	top := &p.Structure
	if isPayloadType(top) {
		return top
	}
	if top.Type != "multipart" || !hasKolabType(p.Header) {
		return nil
	}
	return findPayload(top, 0)
}

func findPayload(p *storage.Part, depth int) *storage.Part {
	if depth > 4 {
		return nil
	}
	for i := range p.Children {
		c := &p.Children[i]
		if isPayloadType(c) {
			return c
		}
		if c.Type == "multipart" {
			if f := findPayload(c, depth+1); f != nil {
				return f
			}
		}
	}
	return nil
}

func isPayloadType(p *storage.Part) bool {
	if p.Type != "text" {
		return false
	}
	switch p.Subtype {
	case "calendar", "vcard", "x-vcard", "directory":
		return true
	}
	return false
}

// hasKolabType reports whether the header has an X-Kolab-Type field
// naming an item type (not a file: files are webdav/files'), without
// allocating (it runs for every multipart message delivered).
func hasKolabType(header []byte) bool {
	const name = "x-kolab-type:"
	for len(header) > 0 {
		if len(header) >= len(name) && bytes.EqualFold(header[:len(name)], []byte(name)) {
			v := header[len(name):]
			if i := bytes.IndexByte(v, '\n'); i >= 0 {
				v = v[:i]
			}
			v = bytes.TrimSpace(v)
			return len(v) > len(typePrefix) && bytes.EqualFold(v[:len(typePrefix)], []byte(typePrefix)) &&
				!bytes.EqualFold(v[len(typePrefix):], []byte(storage.FolderTypeFile))
		}
		i := bytes.IndexByte(header, '\n')
		if i < 0 {
			return false
		}
		header = header[i+1:]
	}
	return false
}

// Payload reads the decoded payload of an item message (ErrNotItem).
func Payload(p *storage.Parsed, raw io.ReaderAt) ([]byte, string, error) {
	part := PayloadPart(p)
	if part == nil {
		return nil, "", ErrNotItem
	}
	return readPart(part, raw)
}

// PayloadOf reads the payload of a stored message from its structure.
func PayloadOf(structure *storage.Part, header []byte, raw io.ReaderAt) ([]byte, string, error) {
	return Payload(&storage.Parsed{Structure: *structure, Header: header}, raw)
}

func readPart(part *storage.Part, raw io.ReaderAt) ([]byte, string, error) {
	if part.End-part.BodyStart > MaxPayload*2 {
		return nil, "", invalid(PreMaxResourceSize, "the item is too large")
	}
	data, err := io.ReadAll(io.LimitReader(mimeparse.DecodedReader(part, raw), MaxPayload+1))
	if err != nil {
		return nil, "", err
	}
	mt := part.Type + "/" + part.Subtype
	if mt == "text/x-vcard" || mt == "text/directory" {
		mt = "text/vcard"
	}
	return data, mt, nil
}

// Index computes the index of a parsed message read from raw: nil, nil for
// mail (no payload part) and for a payload that does not validate (the
// message is then kept as mail and invisible to DAV). The index carries
// the payload (Data) when it is at most storage.MaxItemData bytes. It is what
// storage/ingest calls for every message.
func Index(p *storage.Parsed, raw io.ReaderAt) (*storage.ItemIndex, error) {
	part := PayloadPart(p)
	if part == nil {
		return nil, nil
	}
	data, mt, err := readPart(part, raw)
	if err != nil {
		var inv *Invalid
		if errors.As(err, &inv) {
			return nil, nil
		}
		return nil, err
	}
	idx, _, err := Parse(mt, data, "")
	if err != nil {
		return nil, nil
	}
	if len(data) <= storage.MaxItemData {
		idx.Data = data // what PayloadOf returns for this message
	}
	return idx, nil
}
