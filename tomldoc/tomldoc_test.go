package tomldoc

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f.toml", Line: 3, Key: "a.b", Reason: "bad"}, "f.toml:3: a.b: bad"},
		{Error{File: "f.toml", Line: 3, Column: 7, Reason: "syntax"}, "f.toml:3:7: syntax"},
		{Error{File: "f.toml", Column: 7, Reason: "no line, no column"}, "f.toml: no line, no column"},
		{Error{File: "f.toml", Key: "k", Reason: "default"}, "f.toml: k: default"},
		{Error{Line: 4, Key: "k", Reason: "r"}, "line 4: k: r"},
		{Error{Key: "k", Reason: "r"}, "k: r"},
		{Error{Reason: "r"}, "r"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestJoinUnwrapErrors(t *testing.T) {
	t.Parallel()
	a, b := &Error{Line: 1, Reason: "one"}, &Error{Line: 2, Reason: "two"}
	list := []*Error{a, b}
	if got, want := JoinErrors(list), "line 1: one\nline 2: two"; got != want {
		t.Errorf("JoinErrors = %q, want %q", got, want)
	}
	if got := JoinErrors([]*Error{}); got != "" {
		t.Errorf("JoinErrors(empty) = %q", got)
	}
	errs := UnwrapErrors(list)
	if len(errs) != 2 || errs[0] != error(a) || errs[1] != error(b) {
		t.Fatalf("UnwrapErrors = %v", errs)
	}
	var target *Error
	if !errors.As(errors.Join(errs...), &target) || target != a {
		t.Errorf("errors.As does not find the first problem")
	}
}

func TestTypeName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"x", "a string"},
		{int64(1), "an integer"},
		{1.5, "a float"},
		{json.Number("1.5"), "a number"},
		{true, "a boolean"},
		{[]any{}, "an array"},
		{map[string]any{}, "a table"},
		{nil, "null"},
		{time.Time{}, "a date/time"},
		{toml.LocalDate{}, "a date/time"},
		{toml.LocalTime{}, "a date/time"},
		{toml.LocalDateTime{}, "a date/time"},
		{int32(1), "a int32"},
	} {
		if got := TypeName(tc.v); got != tc.want {
			t.Errorf("TypeName(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if IsDateTime("2026-06-18") || !IsDateTime(toml.LocalDate{}) {
		t.Errorf("IsDateTime is wrong")
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	names := []string{"max_recipients", "max_size", "hostname"}
	for _, tc := range []struct{ k, want string }{
		{"max_recipient", "max_recipients"},
		{"MAX_SIZE", "max_size"},
		{"hostnmae", "hostname"},
		{"listen", ""},
		{"", ""},
		{strings.Repeat("a", 65), ""},
	} {
		if got := Suggest(tc.k, names); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.k, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"flaw", "lawn", 2}, {strings.Repeat("x", 65), "x", 1 << 30},
	} {
		if got := EditDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

const sample = `top = 1
[a]
b = 2
c.d = 3
[[e]]
f = 4
[[e]]
f = 5
[[e.g]]
h = 6
[e.g.i]
j = [
  # a comment
  1,
  { k = 7 },
]
"q.r" = 8
`

func TestLines(t *testing.T) {
	t.Parallel()
	// Keys as written.
	got, crowded := Lines([]byte(sample), Options{})
	want := Positions{
		"top": 1, "a": 2, "a.b": 3, "a.c": 4, "a.c.d": 4,
		"e": 5, "e[0]": 5, "e[0].f": 6, "e[1]": 7, "e[1].f": 8,
		"e[1].g": 9, "e[1].g[0]": 9, "e[1].g[0].h": 10,
		"e[1].g[0].i": 11, "e[1].g[0].i.j": 12, "e[1].g[0].i.j[0]": 14,
		"e[1].g[0].i.j[1]": 15, "e[1].g[0].i.j[1].k": 15, "e[1].g[0].i.q.r": 17,
	}
	if crowded != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Lines:\n got %v %v\nwant %v", got, crowded, want)
	}
	// A Join of the reader's own.
	quote := func(prefix, key string) string {
		if strings.Contains(key, ".") {
			key = strconv.Quote(key)
		}
		return Join(prefix, key)
	}
	got, _ = Lines([]byte(sample), Options{Join: quote})
	if l, ok := got[`e[1].g[0].i."q.r"`]; !ok || l != 17 {
		t.Errorf("quoted key: line %d, present %v (%v)", l, ok, got)
	}
}

func TestLinesCrowded(t *testing.T) {
	t.Parallel()
	doc := "a = 1\n[t]\nx = 1\ny = 2\nz = 3\n" // 2 keys at the top, 3 in t
	if _, crowded := Lines([]byte(doc), Options{MaxKeysPerTable: 3}); crowded != nil {
		t.Errorf("3 keys per table, limit 3: %v", crowded)
	}
	_, crowded := Lines([]byte(doc), Options{MaxKeysPerTable: 2})
	if crowded == nil || crowded.Line != 5 || crowded.Reason != `more than 2 keys in "t"` || crowded.File != "" {
		t.Errorf("crowded table: %+v", crowded)
	}
	_, crowded = Lines([]byte(doc), Options{MaxKeysPerTable: 1})
	if crowded == nil || crowded.Line != 2 || crowded.Reason != "more than 1 keys in the top level" {
		t.Errorf("crowded top level: %+v", crowded)
	}
}

func TestLinesSyntaxError(t *testing.T) {
	t.Parallel()
	// Positions up to the first syntax error; no panic.
	got, _ := Lines([]byte("a = 1\nb = = 2\nc = 3\n"), Options{})
	if got["a"] != 1 {
		t.Errorf("positions before a syntax error: %v", got)
	}
	if _, ok := got["c"]; ok {
		t.Errorf("positions after a syntax error: %v", got)
	}
}

func FuzzLines(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("[[rules]]\nname = \"x\"\n[[rules.conditions]]\nheader = \"Subject\"\n[[rules]]\n"))
	f.Add([]byte("a = {b = [1, {c = 2}], d.e = 3}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pos, crowded := Lines(data, Options{MaxKeysPerTable: 4})
		lines := strings.Count(string(data), "\n") + 1
		for k, l := range pos {
			if l < 1 || l > lines {
				t.Fatalf("%q at line %d of %d", k, l, lines)
			}
		}
		if crowded != nil && (crowded.Line < 1 || crowded.Line > lines) {
			t.Fatalf("crowded at line %d of %d", crowded.Line, lines)
		}
	})
}
