package pop3

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

// writeDot runs in through a dotWriter, in chunks of the given size.
func writeDot(t testing.TB, in string, chunk int) string {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	dw := newDotWriter(bw)
	for len(in) > 0 {
		n := min(chunk, len(in))
		if _, err := dw.Write([]byte(in[:n])); err != nil {
			t.Fatal(err)
		}
		in = in[n:]
	}
	if err := dw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestDotWriter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ".\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		{"a\nb\n", "a\r\nb\r\n.\r\n"},
		{"a\r\nb", "a\r\nb\r\n.\r\n"},
		{"a\r", "a\r\n.\r\n"},
		{".\r\n", "..\r\n.\r\n"},
		{"x\r\n.hidden\r\n..two\r\n", "x\r\n..hidden\r\n...two\r\n.\r\n"},
		{"x\n.\n", "x\r\n..\r\n.\r\n"},
		{"a.b\r\n", "a.b\r\n.\r\n"},
		{"\n\n", "\r\n\r\n.\r\n"},
		{"a\rb\r\n", "a\rb\r\n.\r\n"}, // a bare CR inside a line is data
		{"Subject: x\r\n\r\n.\r\n", "Subject: x\r\n\r\n..\r\n.\r\n"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 2, 3, 1 << 20} {
			if got := writeDot(t, tt.in, chunk); got != tt.want {
				t.Errorf("dotWriter(%q) in chunks of %d = %q, want %q", tt.in, chunk, got, tt.want)
			}
		}
	}
}

func TestCopyTop(t *testing.T) {
	msg := "From: a@example.test\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
	tests := []struct {
		msg   string
		lines uint64
		want  string
	}{
		{msg, 0, "From: a@example.test\r\nSubject: hi\r\n\r\n"},
		{msg, 1, "From: a@example.test\r\nSubject: hi\r\n\r\nline 1\r\n"},
		{msg, 2, "From: a@example.test\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\n"},
		{msg, 100, msg},
		{"A: b\n\nbody\nmore\n", 1, "A: b\n\nbody\n"},
		{"A: b\r\n", 5, "A: b\r\n"},                              // header only, no blank line
		{"A: b\r\n\r\nno newline", 5, "A: b\r\n\r\nno newline"},  // last line unterminated
		{"A: b\r\n\r\n\r\n\r\nx\r\n", 2, "A: b\r\n\r\n\r\n\r\n"}, // empty body lines count
		{"A: " + strings.Repeat("x", 100000) + "\r\n\r\nbody\r\nz\r\n", 1, "A: " + strings.Repeat("x", 100000) + "\r\n\r\nbody\r\n"},
	}
	for _, tt := range tests {
		for _, half := range []bool{false, true} {
			var out bytes.Buffer
			r := strings.NewReader(tt.msg)
			var err error
			if half {
				err = copyTop(&out, iotest.HalfReader(r), tt.lines)
			} else {
				err = copyTop(&out, r, tt.lines)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("copyTop(%.40q, %d) = %.80q, want %.80q", tt.msg, tt.lines, got, tt.want)
			}
		}
	}
}

// unstuff reverses the multi-line encoding the way a client does (RFC 1939
// section 3) and reports whether the terminator was found at the end.
func unstuff(s string) (string, bool) {
	var out strings.Builder
	for len(s) > 0 {
		i := strings.Index(s, "\r\n")
		if i < 0 {
			return "", false
		}
		line := s[:i]
		s = s[i+2:]
		if line == "." {
			return out.String(), s == ""
		}
		out.WriteString(strings.TrimPrefix(line, "."))
		out.WriteString("\r\n")
	}
	return "", false
}

// normalize is what the dotWriter promises: every LF preceded by CR, and a
// final line ending.
func normalize(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		if strings.HasSuffix(s, "\r") {
			s += "\n"
		} else {
			s += "\r\n"
		}
	}
	return s
}

func FuzzDotWriter(f *testing.F) {
	f.Add("Subject: x\r\n\r\n.hidden\r\nbody\n.\n", 3)
	f.Add(".\r\n..\r\n", 1)
	f.Add("a\rb\r", 2)
	f.Fuzz(func(t *testing.T, in string, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		out := writeDot(t, in, chunk)
		got, ok := unstuff(out)
		if !ok {
			t.Fatalf("output %q has no proper terminator", out)
		}
		if want := normalize(in); got != want {
			// A bare CR directly before an LF joins it as a CRLF in the
			// input; normalize treats it the same, so any difference is
			// a bug.
			t.Fatalf("round trip of %q = %q, want %q", in, got, want)
		}
		for _, line := range strings.SplitAfter(out, "\n") {
			if strings.HasSuffix(line, "\n") && !strings.HasSuffix(line, "\r\n") {
				t.Fatalf("bare LF in output %q", out)
			}
		}
	})
}
