package imap

import (
	"sort"
	"strconv"
	"strings"

	"github.com/floemail/floe/storage"
)

// This file encodes BODY and BODYSTRUCTURE (RFC 9051 7.5.2, grammar "body"
// in RFC 9051 9 / RFC 3501 9) from the structure stored at delivery.

// appendBodyStructure appends the body structure of p. ext selects
// BODYSTRUCTURE (with extension data) rather than BODY. utf8 is whether the
// client accepts UTF-8 (message/global is only described as an encapsulated
// message for such clients, RFC 6532 / RFC 9051 media-message).
func appendBodyStructure(b []byte, p *storage.Part, ext, utf8 bool) []byte {
	return appendBody(b, p, ext, utf8, 0)
}

// maxBodyDepth bounds recursion; mimeparse already limits nesting to 50.
const maxBodyDepth = 100

func appendBody(b []byte, p *storage.Part, ext, utf8 bool, depth int) []byte {
	b = append(b, '(')
	if p.Type == "multipart" && len(p.Children) > 0 && depth < maxBodyDepth {
		// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
		for i := range p.Children {
			b = appendBody(b, &p.Children[i], ext, utf8, depth+1)
		}
		b = append(b, ' ')
		b = appendIString(b, strings.ToUpper(orDefault(p.Subtype, "mixed")), utf8)
		if ext {
			// body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
			b = append(b, ' ')
			b = appendParams(b, p.Params, utf8)
			b = appendExtCommon(b, p, utf8)
		}
		return append(b, ')')
	}

	typ, sub := orDefault(p.Type, "text"), orDefault(p.Subtype, "plain")
	if typ == "multipart" { // a multipart without children: describe as text
		typ, sub = "text", "plain"
	}
	b = appendIString(b, strings.ToUpper(typ), utf8)
	b = append(b, ' ')
	b = appendIString(b, strings.ToUpper(sub), utf8)
	// body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
	b = append(b, ' ')
	params := p.Params
	if typ == "text" && params["charset"] == "" {
		// RFC 2045 5.2: the default charset of text is US-ASCII.
		params = withCharset(params)
	}
	b = appendParams(b, params, utf8)
	b = append(b, ' ')
	b = appendNString(b, p.ID, utf8)
	b = append(b, ' ')
	b = appendNString(b, headerText(p.Description, utf8), utf8)
	b = append(b, ' ')
	b = appendIString(b, strings.ToUpper(orDefault(p.Encoding, "7bit")), utf8)
	b = append(b, ' ')
	b = strconv.AppendInt(b, max(p.End-p.BodyStart, 0), 10)

	switch {
	case typ == "message" && p.Message != nil && (sub == "rfc822" || (sub == "global" && utf8)) && depth < maxBodyDepth:
		// body-type-msg: ... SP envelope SP body SP body-fld-lines
		b = append(b, ' ')
		b = appendEnvelope(b, &p.Message.Envelope, utf8)
		b = append(b, ' ')
		b = appendBody(b, &p.Message.Body, ext, utf8, depth+1)
		b = append(b, ' ')
		b = strconv.AppendInt(b, p.Lines, 10)
	case typ == "text":
		// body-type-text: ... SP body-fld-lines
		b = append(b, ' ')
		b = strconv.AppendInt(b, p.Lines, 10)
	}
	if ext {
		// body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
		b = append(b, ' ')
		b = appendNString(b, p.MD5, utf8)
		b = appendExtCommon(b, p, utf8)
	}
	return append(b, ')')
}

// appendExtCommon appends SP body-fld-dsp SP body-fld-lang SP body-fld-loc.
func appendExtCommon(b []byte, p *storage.Part, utf8 bool) []byte {
	b = append(b, ' ')
	if p.Disposition == "" {
		b = append(b, "NIL"...)
	} else {
		b = append(b, '(')
		b = appendIString(b, strings.ToUpper(p.Disposition), utf8)
		b = append(b, ' ')
		b = appendParams(b, p.DispParams, utf8)
		b = append(b, ')')
	}
	b = append(b, ' ')
	switch len(p.Language) {
	case 0:
		b = append(b, "NIL"...)
	default:
		b = append(b, '(')
		for i, l := range p.Language {
			if i > 0 {
				b = append(b, ' ')
			}
			b = appendIString(b, l, utf8)
		}
		b = append(b, ')')
	}
	b = append(b, ' ')
	return appendNString(b, p.Location, utf8)
}

// appendParams appends body-fld-param: "(" key SP value ... ")" or NIL,
// keys upper-cased and sorted so the output is stable. Values are stored
// decoded (RFC 2231); for clients without UTF-8 non-ASCII values are sent as
// RFC 2047 encoded-words, which is what mail clients decode in filenames.
func appendParams(b []byte, params map[string]string, utf8 bool) []byte {
	if len(params) == 0 {
		return append(b, "NIL"...)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '(')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendIString(b, strings.ToUpper(k), utf8)
		b = append(b, ' ')
		b = appendIString(b, headerText(params[k], utf8), utf8)
	}
	return append(b, ')')
}

func withCharset(params map[string]string) map[string]string {
	m := make(map[string]string, len(params)+1)
	for k, v := range params {
		m[k] = v
	}
	m["charset"] = "us-ascii"
	return m
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
