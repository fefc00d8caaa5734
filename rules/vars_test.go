package rules

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	cx := baseCtx()
	cx.Location = time.FixedZone("CEST", 2*3600)
	v := NewVars(msg(sample), cx)
	for _, tc := range []struct{ in, want string }{
		{"%%Subject%%", "Práce na lodi [ticket #42]"},
		{"%%from%%", `"Navy Office" <navy@fleet.example.net>`},
		{"%%From_Name%% <%%From_Email%%>", "Navy Office <navy@fleet.example.net>"},
		{"%%To%%", "John Smith <john@example.org>, mike@example.org"},
		{"%%To_Name%%", "John Smith"},
		{"%%Date%% %%Time%%", "2018-06-18 11:30:00"},
		{"%%Recipient%% %%Sender%%", "john+Important@example.org bounce@fleet.example.net"},
		{"%%Extension%%", "Important"},
		{"100%% sure", "100%% sure"},
		{"%%Unknown%%", "%%Unknown%%"},
		{"50%%%%Subject%%", "50%%Práce na lodi [ticket #42]"},
		{"%%Subject", "%%Subject"},
		{"no variables", "no variables"},
	} {
		if got := Expand(tc.in, v, true); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	nl := Vars{"subject": "a\r\nb"}
	if got := Expand("[%%subject%%]", nl, true); got != "[a  b]" {
		t.Errorf("oneLine: %q", got)
	}
	if got := Expand("[%%subject%%]", nl, false); got != "[a\r\nb]" {
		t.Errorf("multi-line: %q", got)
	}
}

func TestExtension(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"john+Important@example.org":     "Important",
		"john:Important@example.org":     "Important",
		"john:%%Important%%@example.org": "Important",
		"john@example.org":               "",
		"john+a+b@example.org":           "a+b",
	} {
		if got := Extension(in); got != want {
			t.Errorf("Extension(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"Re: %%Subject%%", "Dear %%From_Name%%,\n%%Date%%", "%%%%%%", "%%Extension%%/x", "100%"} {
		f.Add(s, "Práce %%Subject%% na lodi")
	}
	f.Fuzz(func(t *testing.T, s, subject string) {
		v := Vars{"subject": subject, "from_name": "A\nB", "extension": "x"}
		out := Expand(s, v, true)
		if len(out) > MaxExpanded {
			t.Fatalf("result of %d bytes", len(out))
		}
		if utf8.ValidString(s) && utf8.ValidString(subject) && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 from valid input: %q", out)
		}
		if !strings.Contains(s, "%%") && out != s {
			t.Fatalf("changed text without variables")
		}
		if strings.ContainsAny(out, "\r\n") && !strings.ContainsAny(s, "\r\n") && !strings.ContainsAny(subject, "\r\n") {
			t.Fatalf("line break appeared in one-line expansion: %q", out)
		}
	})
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	f := ParseHeader([]byte("Subject: a\r\n  folded\r\nbad line\r\nX-A:b\r\n\r\nBody: no\r\n"))
	if len(f) != 2 || f[0] != (Field{"Subject", "a folded"}) || f[1] != (Field{"X-A", "b"}) {
		t.Errorf("fields %+v", f)
	}
}
