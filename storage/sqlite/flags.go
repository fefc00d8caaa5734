package sqlite

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/floemail/floe/storage"
)

// System flags are stored as a bit mask (cheap SEARCH by flag:
// "sysflags & 8 != 0"); keywords as a JSON array in the keywords column.
const (
	bitSeen = 1 << iota
	bitAnswered
	bitFlagged
	bitDeleted
	bitDraft
)

var sysFlags = []struct {
	name string
	bit  int64
}{
	{storage.FlagSeen, bitSeen},
	{storage.FlagAnswered, bitAnswered},
	{storage.FlagFlagged, bitFlagged},
	{storage.FlagDeleted, bitDeleted},
	{storage.FlagDraft, bitDraft},
}

// flagSet is a message's flags in stored form.
type flagSet struct {
	bits     int64
	keywords []string // case preserved, unique case-insensitively
}

// parseFlags validates and normalises flags. System flags are matched
// case-insensitively; \Recent is ignored (RFC 9051 removed it); other
// backslash flags and keywords that are not IMAP atoms are ErrInvalid.
func parseFlags(in []string) (flagSet, error) {
	var fs flagSet
	for _, f := range in {
		if strings.HasPrefix(f, `\`) {
			found := false
			for _, sf := range sysFlags {
				if strings.EqualFold(f, sf.name) {
					fs.bits |= sf.bit
					found = true
					break
				}
			}
			if !found {
				if strings.EqualFold(f, `\Recent`) {
					continue
				}
				return fs, fmt.Errorf("unknown system flag %q: %w", f, storage.ErrInvalid)
			}
			continue
		}
		if !validKeyword(f) {
			return fs, fmt.Errorf("invalid keyword %q: %w", f, storage.ErrInvalid)
		}
		fs.addKeyword(f)
	}
	return fs, nil
}

// validKeyword reports whether k is an IMAP atom (RFC 9051 9: flag-keyword).
func validKeyword(k string) bool {
	if k == "" || len(k) > 250 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func (fs *flagSet) hasKeyword(k string) int {
	for i, x := range fs.keywords {
		if strings.EqualFold(x, k) {
			return i
		}
	}
	return -1
}

func (fs *flagSet) addKeyword(k string) {
	if fs.hasKeyword(k) < 0 {
		fs.keywords = append(fs.keywords, k)
	}
}

// apply combines fs with upd according to op and returns the result.
func (fs flagSet) apply(op storage.FlagOp, upd flagSet) flagSet {
	out := flagSet{bits: fs.bits, keywords: append([]string(nil), fs.keywords...)}
	switch op {
	case storage.FlagsAdd:
		out.bits |= upd.bits
		for _, k := range upd.keywords {
			out.addKeyword(k)
		}
	case storage.FlagsRemove:
		out.bits &^= upd.bits
		for _, k := range upd.keywords {
			if i := out.hasKeyword(k); i >= 0 {
				out.keywords = append(out.keywords[:i], out.keywords[i+1:]...)
			}
		}
	case storage.FlagsReplace:
		out.bits = upd.bits
		out.keywords = append([]string(nil), upd.keywords...)
	}
	out.sortKeywords()
	return out
}

// keep returns fs with the classes of flags in k taken from old
// (storage.FlagUpdate.Keep).
func (fs flagSet) keep(old flagSet, k storage.FlagKeep) flagSet {
	if k == 0 {
		return fs
	}
	take := func(bits int64) { fs.bits = fs.bits&^bits | old.bits&bits }
	if k&storage.KeepSeen != 0 {
		take(bitSeen)
	}
	if k&storage.KeepDeleted != 0 {
		take(bitDeleted)
	}
	if k&storage.KeepOther != 0 {
		take(bitAnswered | bitFlagged | bitDraft)
		fs.keywords = append([]string(nil), old.keywords...)
	}
	return fs
}

func (fs *flagSet) sortKeywords() {
	sort.Slice(fs.keywords, func(i, j int) bool {
		return strings.ToLower(fs.keywords[i]) < strings.ToLower(fs.keywords[j])
	})
}

func (fs flagSet) equal(o flagSet) bool {
	if fs.bits != o.bits || len(fs.keywords) != len(o.keywords) {
		return false
	}
	for i := range fs.keywords {
		if fs.keywords[i] != o.keywords[i] {
			return false
		}
	}
	return true
}

// list returns the flags as storage.Message.Flags: sorted.
func (fs flagSet) list() []string {
	out := make([]string, 0, len(fs.keywords)+2)
	for _, sf := range sysFlags {
		if fs.bits&sf.bit != 0 {
			out = append(out, sf.name)
		}
	}
	out = append(out, fs.keywords...)
	sort.Strings(out)
	return out
}

// keywordsColumn encodes keywords for the keywords column.
func (fs flagSet) keywordsColumn() string {
	if len(fs.keywords) == 0 {
		return ""
	}
	b, _ := json.Marshal(fs.keywords)
	return string(b)
}

func decodeFlags(bits int64, kw string) (flagSet, error) {
	fs := flagSet{bits: bits}
	if kw != "" {
		if err := json.Unmarshal([]byte(kw), &fs.keywords); err != nil {
			return fs, fmt.Errorf("sqlite: corrupt keywords column: %w", err)
		}
	}
	return fs, nil
}
