package mimeparse

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/floemail/floe/storage"
)

// TestOracleGoIMAP compares sizes, line counts, types and shapes with
// go-imap v2's own BODYSTRUCTURE extraction for well-formed messages. (Not
// msg2231, whose comment in a Content-Type go-message rejects, nor
// msgLFOnlyLines, whose last part go-message drops: there the oracle is
// the weaker parser.)
func TestOracleGoIMAP(t *testing.T) {
	for _, tc := range []struct{ name, raw string }{
		{"simple", msgSimple},
		{"alternative", msgAlternative},
		{"mixed", msgMixed},
		{"forward", msgForward},
		{"groups", msgGroups},
		{"dovecot shape", msgDovecotShape},
		{"broken nesting", msgBrokenNesting},
	} {
		for _, form := range []string{"LF", "CRLF"} {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				raw := tc.raw
				if form == "CRLF" {
					raw = crlf(raw)
				}
				p := parseString(t, raw)
				want := imapserver.ExtractBodyStructure(strings.NewReader(raw))
				if err := compareBS(raw, &p.Structure, want, "TEXT"); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

func compareBS(raw string, p *storage.Part, bs imap.BodyStructure, path string) error {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if p.Type != "multipart" || p.Subtype != strings.ToLower(bs.Subtype) {
			return fmt.Errorf("%s: %s/%s, oracle multipart/%s", path, p.Type, p.Subtype, bs.Subtype)
		}
		if len(p.Children) != len(bs.Children) {
			return fmt.Errorf("%s: %d children, oracle %d", path, len(p.Children), len(bs.Children))
		}
		for i := range p.Children {
			if err := compareBS(raw, &p.Children[i], bs.Children[i], fmt.Sprintf("%s.%d", path, i+1)); err != nil {
				return err
			}
		}
	case *imap.BodyStructureSinglePart:
		if bs.Type != "" && (p.Type != strings.ToLower(bs.Type) || p.Subtype != strings.ToLower(bs.Subtype)) {
			return fmt.Errorf("%s: %s/%s, oracle %s/%s", path, p.Type, p.Subtype, bs.Type, bs.Subtype)
		}
		if size := p.End - p.BodyStart; size != int64(bs.Size) {
			return fmt.Errorf("%s: size %d, oracle %d", path, size, bs.Size)
		}
		if bs.Text != nil && p.Lines != bs.Text.NumLines {
			return fmt.Errorf("%s: lines %d, oracle %d", path, p.Lines, bs.Text.NumLines)
		}
		if enc := strings.ToLower(bs.Encoding); p.Encoding != enc {
			return fmt.Errorf("%s: encoding %q, oracle %q", path, p.Encoding, enc)
		}
		if m := bs.MessageRFC822; m != nil {
			if p.Message == nil {
				return fmt.Errorf("%s: no encapsulated message", path)
			}
			if p.Lines != m.NumLines {
				return fmt.Errorf("%s: message lines %d, oracle %d", path, p.Lines, m.NumLines)
			}
			if m.Envelope.Subject != p.Message.Envelope.Subject {
				return fmt.Errorf("%s: subject %q, oracle %q", path, p.Message.Envelope.Subject, m.Envelope.Subject)
			}
			return compareBS(raw, &p.Message.Body, m.BodyStructure, path+".MSG")
		}
	}
	return nil
}
