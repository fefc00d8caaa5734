package rules

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStringTests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(list, []byte("# spam words\n\nviagra\n  Lottery  \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    Condition
		in   string
		want bool
	}{
		{"contains one", Condition{Contains: "navy"}, "The Navy Office <navy@x.org>", true},
		{"contains list", Condition{Contains: "jim; bob ;john"}, "to bob", true},
		{"contains none", Condition{Contains: "jim;bob"}, "to alice", false},
		{"contains empty items ignored", Condition{Contains: ";;jim;"}, "jim", true},
		{"contains match case miss", Condition{Contains: "Navy", MatchCase: true}, "navy", false},
		{"contains match case hit", Condition{Contains: "Navy", MatchCase: true}, "Navy", true},
		{"contains whole word hit", Condition{Contains: "navy", WholeWord: true}, "navy@x.org", true},
		{"contains whole word miss", Condition{Contains: "navy", WholeWord: true}, "navyblue", false},
		{"contains whole word second occurrence", Condition{Contains: "navy", WholeWord: true}, "navyblue navy", true},
		{"contains whole word unicode", Condition{Contains: "čas", WholeWord: true}, "ječas čas!", true},
		{"contains whole word unicode miss", Condition{Contains: "čas", WholeWord: true}, "ječas", false},
		{"contains unicode case", Condition{Contains: "ŽLUŤOUČKÝ"}, "žluťoučký kůň", true},
		{"starts with", Condition{StartsWith: "[urgent]"}, "[URGENT] now", true},
		{"starts with miss", Condition{StartsWith: "urgent"}, "not urgent", false},
		{"starts with whole word", Condition{StartsWith: "re", WholeWord: true}, "re: x", true},
		{"starts with whole word miss", Condition{StartsWith: "re", WholeWord: true}, "report", false},
		{"ends with list", Condition{EndsWith: ".exe;.scr"}, "invoice.PDF.scr", true},
		{"ends with miss", Condition{EndsWith: ".exe"}, "invoice.pdf", false},
		{"ends with whole word miss", Condition{EndsWith: "org", WholeWord: true}, "x.neworg", false},
		{"equals", Condition{Equals: "Hello"}, "hello", true},
		{"equals miss", Condition{Equals: "Hello"}, "hello!", false},
		{"equals case", Condition{Equals: "Hello", MatchCase: true}, "hello", false},
		{"regex", Condition{Regex: `^\[(ticket|case) #\d+\]`}, "[Ticket #42] printer", true},
		{"regex case", Condition{Regex: `^\[(ticket|case) #\d+\]`, MatchCase: true}, "[Ticket #42] printer", false},
		{"regex whole word", Condition{Regex: `inv\d+`, WholeWord: true}, "see inv42.", true},
		{"regex whole word miss", Condition{Regex: `inv\d+`, WholeWord: true}, "see xinv42", false},
		{"file", Condition{File: list}, "Win the LOTTERY", true},
		{"file comment ignored", Condition{File: list}, "spam words", false},
		{"file relative", Condition{File: "list.txt"}, "cheap viagra", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, key, err := compileMatcher(&tc.c, &Options{AllowFiles: true, BaseDir: dir})
			if err != nil {
				t.Fatalf("compile: %s: %v", key, err)
			}
			if got := m.match(tc.in); got != tc.want {
				t.Errorf("match(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestStringTestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    Condition
		o    Options
		key  string
	}{
		{"none", Condition{}, Options{}, ""},
		{"two", Condition{Contains: "a", Equals: "b"}, Options{}, "equals"},
		{"bad regex", Condition{Regex: "(a"}, Options{}, "regex"},
		{"backreference unsupported", Condition{Regex: `(a)\1`}, Options{}, "regex"},
		{"empty list", Condition{Contains: " ; ;"}, Options{}, "contains"},
		{"file not allowed", Condition{File: "/etc/hostname"}, Options{}, "file"},
		{"file missing", Condition{File: "/nonexistent/list"}, Options{AllowFiles: true}, "file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, key, err := compileMatcher(&tc.c, &tc.o)
			if err == nil {
				t.Fatal("compiled")
			}
			if key != tc.key {
				t.Errorf("key %q, want %q (%v)", key, tc.key, err)
			}
		})
	}
}

func TestRegexInputBounded(t *testing.T) {
	t.Parallel()
	m, _, err := compileMatcher(&Condition{Regex: `needle$`}, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, MaxRegexInput+100)
	for i := range big {
		big[i] = 'a'
	}
	copy(big[len(big)-6:], "needle")
	if m.match(string(big)) {
		t.Error("regex saw past MaxRegexInput")
	}
	if !m.match("a needle") {
		t.Error("regex missed")
	}
}
