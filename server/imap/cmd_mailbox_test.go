package imap

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "INBOX", true},
		{"*", "a/b/c", true},
		{"%", "a", true},
		{"%", "a/b", false},
		{"a/%", "a/b", true},
		{"a/%", "a/b/c", false},
		{"a/*", "a/b/c", true},
		{"a/*", "a", false},
		{"a*", "a", true},
		{"a%", "ab", true},
		{"%/%", "a/b", true},
		{"*/c", "a/b/c", true},
		{"%/c", "a/b/c", false},
		{"", "", true},
		{"", "a", false},
		{"Work", "work", false}, // case-sensitive except INBOX
		{"inbox", "INBOX", true},
		{"InBox/%", "INBOX/x", true},
		{"in*", "INBOX", true},
		{"in*", "INBOX/Sub", true},
		{"inboxes", "INBOX", false},
		{"INBOX/sub", "INBOX/Sub", false},
		{"Entw%rfe", "Entwürfe", true},
		{"Entw*", "Entwürfe/x", true},
		{"**%%**", "a/b", true},
		{"a%b", "a/b", false},
		{"a*b", "a/b", true},
	}
	for _, tc := range tests {
		if got := matchPattern(tc.pattern, tc.name); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

// patternRegexp is a slow, obviously correct reference for matchPattern.
func patternRegexp(pattern, name string) bool {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '%':
			b.WriteString(`[^/]*`)
		default:
			q := regexp.QuoteMeta(string(r))
			if i < 5 && (name == "INBOX" || strings.HasPrefix(name, "INBOX/")) && r < 0x80 {
				q = `(?i:` + q + `)`
			}
			b.WriteString(q)
		}
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return false
	}
	return re.MatchString(name)
}

func FuzzListPattern(f *testing.F) {
	// Seeds from real clients: Thunderbird, Apple Mail, mutt, Outlook.
	for _, s := range [][2]string{
		{"*", "INBOX"}, {"%", "Sent"}, {"INBOX/%", "INBOX/Lists"}, {"", ""},
		{"Archive/*", "Archive/2024/01"}, {"%/%", "a/b"}, {"inbox", "INBOX"},
		{"*Entw%", "Entwürfe"}, {"~", "~x"}, {"a*%b*", "a/x/b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 64 || len(name) > 64 {
			return
		}
		got := matchPattern(pattern, name)
		// The regexp reference works on runes; compare only for valid
		// ASCII-or-UTF-8 input where byte and rune matching agree, i.e.
		// when the pattern's non-wildcard bytes are ASCII.
		ascii := true
		for i := 0; i < len(pattern); i++ {
			if pattern[i] >= 0x80 {
				ascii = false
			}
		}
		if ascii && isASCII(name) {
			if want := patternRegexp(pattern, name); got != want {
				t.Fatalf("matchPattern(%q, %q) = %v, reference %v", pattern, name, got, want)
			}
		}
		// "*" matches everything.
		if !matchPattern("*", name) {
			t.Fatalf("* does not match %q", name)
		}
	})
}

func TestListEntries(t *testing.T) {
	folders := []view.Folder{
		{Name: "a/b/c", Own: true, Subscribed: true},
		{Name: "INBOX", Own: true},
		{Name: "Sent", Own: true, Mailbox: storage.Mailbox{SpecialUse: `\Sent`}},
		{Name: "a", Own: true},
		{Name: "~jane@example.test/Sent", Mailbox: storage.Mailbox{SpecialUse: `\Sent`}},
	}
	subs := []string{"a/b/c", "gone/x"}
	var got []string
	for _, e := range listEntries(folders, subs) {
		s := e.name
		if e.mb == nil {
			s += "(missing)"
		}
		if e.children {
			s += "+"
		}
		if e.subChild {
			s += "s"
		}
		if e.subscribed {
			s += "S"
		}
		if e.subOnly {
			s += "o"
		}
		if e.specialUse != "" {
			s += e.specialUse
		}
		got = append(got, s)
	}
	want := []string{"INBOX", `Sent\Sent`, "a+s", "a/b(missing)+s", "a/b/cS", "gone(missing)so", "gone/x(missing)So",
		"~jane@example.test(missing)+", "~jane@example.test/Sent"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestListName(t *testing.T) {
	for _, tc := range [][3]string{
		{"", "*", "*"}, {"Work/", "%", "Work/%"}, {"Work/", "/x", "Work/x"}, {"Wo", "rk", "Work"},
	} {
		if got := listName(tc[0], tc[1]); got != tc[2] {
			t.Errorf("listName(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
	if got := ancestors("a/b/c"); !slices.Equal(got, []string{"a", "a/b"}) {
		t.Errorf("ancestors = %q", got)
	}
}
