package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of string tests.
const (
	// MaxRegex is the longest regular expression accepted.
	MaxRegex = 4096
	// MaxRegexInput is how much of a value a regular expression sees (RE2
	// runs in time linear in its input; this bounds the input).
	MaxRegexInput = 256 << 10
	// MaxListFile is the largest list file.
	MaxListFile = 1 << 20
	// MaxListItems is the most strings one test holds.
	MaxListItems = 10000
)

type testKind uint8

const (
	testContains testKind = iota
	testStarts
	testEnds
	testEquals
	testRegex
)

// matcher is a compiled string test.
type matcher struct {
	kind      testKind
	items     []string // lowercased unless matchCase
	re        *regexp.Regexp
	matchCase bool
	wholeWord bool
}

// compileMatcher builds the string test of c. It reports an error naming
// the key at fault, or ("", nil) when c has no string test and none is
// required.
func compileMatcher(c *Condition, o *Options) (*matcher, string, error) {
	type kv struct {
		key, val string
		kind     testKind
	}
	var set []kv
	for _, x := range []kv{
		{"contains", c.Contains, testContains},
		{"regex", c.Regex, testRegex},
		{"starts_with", c.StartsWith, testStarts},
		{"ends_with", c.EndsWith, testEnds},
		{"equals", c.Equals, testEquals},
		{"file", c.File, testContains},
	} {
		if x.val != "" {
			set = append(set, x)
		}
	}
	if len(set) == 0 {
		return nil, "", fmt.Errorf("needs a string test: one of contains, regex, starts_with, ends_with, equals or file")
	}
	if len(set) > 1 {
		return nil, set[1].key, fmt.Errorf("only one string test per condition (%s and %s given)", set[0].key, set[1].key)
	}
	t := set[0]
	m := &matcher{kind: t.kind, matchCase: c.MatchCase, wholeWord: c.WholeWord}
	switch t.key {
	case "regex":
		if len(t.val) > MaxRegex {
			return nil, t.key, fmt.Errorf("regular expression longer than %d bytes", MaxRegex)
		}
		// Errors are about the expression as written, not the flags and
		// word boundaries added below.
		if _, err := regexp.Compile(t.val); err != nil {
			return nil, t.key, fmt.Errorf("invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		expr := t.val
		if c.WholeWord {
			expr = `\b(?:` + expr + `)\b`
		}
		if !c.MatchCase {
			expr = `(?i)` + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, t.key, fmt.Errorf("invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		m.re = re
		return m, "", nil
	case "file":
		if !o.AllowFiles {
			return nil, t.key, fmt.Errorf("list files are not allowed here")
		}
		items, err := readList(o.path(t.val))
		if err != nil {
			return nil, t.key, err
		}
		m.items = items
	default:
		m.items = splitList(t.val)
		if len(m.items) == 0 {
			return nil, t.key, fmt.Errorf("the list is empty")
		}
	}
	if len(m.items) > MaxListItems {
		return nil, t.key, fmt.Errorf("more than %d strings", MaxListItems)
	}
	if !m.matchCase {
		for i, s := range m.items {
			m.items[i] = strings.ToLower(s)
		}
	}
	return m, "", nil
}

// splitList splits a ";"-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ";") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// readList reads a list file: one string per line; blank lines and lines
// starting with "#" are ignored.
func readList(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read list file: %v", unwrapPath(err))
	}
	if fi.Size() > MaxListFile {
		return nil, fmt.Errorf("list file is larger than %d bytes", MaxListFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read list file: %v", unwrapPath(err))
	}
	var out []string
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("list file %s has no strings", filepath.Base(path))
	}
	return out, nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// match tests s.
func (m *matcher) match(s string) bool {
	if m.kind == testRegex {
		if len(s) > MaxRegexInput {
			s = s[:MaxRegexInput]
		}
		return m.re.MatchString(s)
	}
	if !m.matchCase {
		s = strings.ToLower(s)
	}
	return m.matchPrepared(s)
}

// matchLower tests s whose lowercased form low the caller already has.
func (m *matcher) matchLower(s, low string) bool {
	if m.kind == testRegex || m.matchCase {
		return m.match(s)
	}
	return m.matchPrepared(low)
}

// matchPrepared tests s, already lowercased when the test ignores case.
func (m *matcher) matchPrepared(s string) bool {
	for _, it := range m.items {
		switch m.kind {
		case testContains:
			if m.wholeWord {
				if containsWord(s, it) {
					return true
				}
			} else if strings.Contains(s, it) {
				return true
			}
		case testStarts:
			if strings.HasPrefix(s, it) && (!m.wholeWord || boundaryAfter(s, len(it))) {
				return true
			}
		case testEnds:
			if strings.HasSuffix(s, it) && (!m.wholeWord || boundaryBefore(s, len(s)-len(it))) {
				return true
			}
		case testEquals:
			if s == it {
				return true
			}
		}
	}
	return false
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// boundaryBefore reports whether position i of s is not inside a word on
// its left.
func boundaryBefore(s string, i int) bool {
	if i <= 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !isWordRune(r)
}

// boundaryAfter reports whether position i of s is not inside a word on
// its right.
func boundaryAfter(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return !isWordRune(r)
}

// containsWord reports whether w occurs in s as a whole word: not preceded
// or followed by a letter, digit or underscore.
func containsWord(s, w string) bool {
	if w == "" {
		return false
	}
	for off := 0; off <= len(s)-len(w); {
		i := strings.Index(s[off:], w)
		if i < 0 {
			return false
		}
		i += off
		if boundaryBefore(s, i) && boundaryAfter(s, i+len(w)) {
			return true
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		off = i + max(n, 1)
	}
	return false
}
