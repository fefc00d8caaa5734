package smtp

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func filterString(t testing.TB, in, id string) string {
	t.Helper()
	got, err := io.ReadAll(newAuthResFilter(strings.NewReader(in), id))
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

func TestAuthResFilter(t *testing.T) {
	const id = "mx.example.test"
	long := strings.Repeat("x", 40<<10)
	huge := strings.Repeat("y", maxFieldBuffer+100)
	for _, tc := range []struct{ name, in, want string }{
		{"ours dropped",
			"Received: x\r\nAuthentication-Results: mx.example.test; spf=pass smtp.mailfrom=a@b\r\nSubject: hi\r\n\r\nbody\r\n",
			"Received: x\r\nSubject: hi\r\n\r\nbody\r\n"},
		{"ours folded, case-insensitive, version",
			"authentication-results: MX.Example.Test 1;\r\n\tdkim=pass header.d=b\r\n\tdmarc=pass\r\nTo: x\r\n\r\nbody",
			"To: x\r\n\r\nbody"},
		{"quoted id",
			"Authentication-Results: \"mx.example.test\"; none\r\n\r\nb",
			"\r\nb"},
		{"id on the next line",
			"Authentication-Results:\r\n mx.example.test; spf=pass\r\nX: y\r\n\r\n",
			"X: y\r\n\r\n"},
		{"comment before the id",
			"Authentication-Results: (comment) mx.example.test; spf=pass\r\nX: y\r\n\r\n",
			"X: y\r\n\r\n"},
		{"two comments",
			"Authentication-Results: (a) (b) mx.example.test; spf=pass\r\n\r\n",
			"\r\n"},
		{"nested comment with quoted pair, folded",
			"Authentication-Results: (a (b \\) c) d)\r\n (e)\r\n\tmx.example.test;\r\n spf=pass\r\nX: y\r\n\r\n",
			"X: y\r\n\r\n"},
		{"trailing dot",
			"Authentication-Results: mx.example.test.; dkim=pass\r\n\r\n",
			"\r\n"},
		{"upper case, trailing dot, version",
			"Authentication-Results: MX.EXAMPLE.TEST. 1; dkim=pass\r\n\r\n",
			"\r\n"},
		{"space before the colon",
			"Authentication-Results : mx.example.test; dkim=pass\r\n\r\n",
			"\r\n"},
		{"empty value",
			"Authentication-Results:\r\nA: b\r\n\r\n",
			"A: b\r\n\r\n"},
		{"third party kept",
			"Authentication-Results: relay.example.org; spf=pass\r\nAuthentication-Results: mx.example.test.evil; none\r\n\r\n",
			"Authentication-Results: relay.example.org; spf=pass\r\nAuthentication-Results: mx.example.test.evil; none\r\n\r\n"},
		{"third party with our name in a comment kept",
			"Authentication-Results: relay.example.org (mx.example.test); spf=pass\r\n\r\n",
			"Authentication-Results: relay.example.org (mx.example.test); spf=pass\r\n\r\n"},
		{"body untouched",
			"Subject: s\r\n\r\nAuthentication-Results: mx.example.test; spf=pass\r\n",
			"Subject: s\r\n\r\nAuthentication-Results: mx.example.test; spf=pass\r\n"},
		{"LF only",
			"Authentication-Results: mx.example.test; spf=pass\nA: b\n\nbody\n",
			"A: b\n\nbody\n"},
		{"long line copied", "X-Long: " + long + "\r\n\r\nb", "X-Long: " + long + "\r\n\r\nb"},
		{"huge field of ours dropped", "Authentication-Results: mx.example.test; x=" + huge + "\r\n " + huge + "\r\nA: b\r\n\r\nb", "A: b\r\n\r\nb"},
		{"huge other field copied", "X-Huge: " + huge + "\r\n " + huge + "\r\nA: b\r\n\r\nb", "X-Huge: " + huge + "\r\n " + huge + "\r\nA: b\r\n\r\nb"},
		{"no body, no blank line", "Authentication-Results: mx.example.test; x\r\nA: b\r\n", "A: b\r\n"},
		{"ours last, no newline", "A: b\r\nAuthentication-Results: mx.example.test; x", "A: b\r\n"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := filterString(t, tc.in, id); got != tc.want {
				if len(got) > 200 {
					t.Fatalf("got %d bytes, want %d", len(got), len(tc.want))
				}
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			// Byte-at-a-time reads give the same result.
			got, err := io.ReadAll(iotest.OneByteReader(newAuthResFilter(iotest.HalfReader(strings.NewReader(tc.in)), id)))
			if err != nil || string(got) != tc.want {
				t.Fatalf("one byte at a time: %v, %d bytes, want %d", err, len(got), len(tc.want))
			}
		})
	}
	// "localhost." as our own id matches "localhost".
	if got := filterString(t, "Authentication-Results: localhost; spf=pass\r\n\r\n", "localhost."); got != "\r\n" {
		t.Fatalf("id with trailing dot: %q", got)
	}
}

func TestAuthservID(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{" example.org; spf=pass", "example.org", true},
		{"example.org 1; none", "example.org", true},
		{"(c) example.org;", "example.org", true},
		{"(a (nested) b)\r\n\t(c) example.org;", "example.org", true},
		{`(x \( y) "quoted.example"; none`, "quoted.example", true},
		{`"a\"b";`, `a"b`, true},
		{"", "", false},
		{" (unterminated comment", "", false},
		{`"unterminated`, "", false},
		{";", "", false},
	} {
		got, ok := authservID(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("authservID(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzAuthResultsFilter(f *testing.F) {
	f.Add("Authentication-Results: mx; spf=pass\r\nA: b\r\n\r\nbody")
	f.Add("A: b\n \tAuthentication-Results: mx\n\n")
	f.Add("Authentication-Results: (a (b)) MX.; dkim=pass\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := io.ReadAll(newAuthResFilter(strings.NewReader(in), "mx"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > len(in) {
			t.Fatalf("output longer than input")
		}
		// Without any Authentication-Results field, nothing changes.
		if !strings.Contains(strings.ToLower(in), "authentication-results") && string(got) != in {
			t.Fatalf("changed a message without Authentication-Results: %q -> %q", in, got)
		}
		// What passes is the input less whole lines: the body (after the
		// first blank line) is never changed.
		if i := strings.Index(in, "\r\n\r\n"); i >= 0 && !strings.HasSuffix(string(got), in[i+4:]) {
			t.Fatalf("body changed: %q -> %q", in, got)
		}
	})
}

func TestCRLFNormalizer(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		fixed    int
	}{
		{"a\r\nb\r\n", "a\r\nb\r\n", 0},
		{"a\nb\n", "a\r\nb\r\n", 2},
		{"a\rb\r", "a\r\nb\r\n", 2},
		{"x\r\n\r.\r\nQUIT\r\n", "x\r\n\r\n.\r\nQUIT\r\n", 1},
		{"x\r.\rMAIL FROM:<a@b>\r\n", "x\r\n.\r\nMAIL FROM:<a@b>\r\n", 2},
		{"x\n.\nRCPT TO:<a@b>\r\n", "x\r\n.\r\nRCPT TO:<a@b>\r\n", 2},
		{"\r\r\n\n", "\r\n\r\n\r\n", 2},
		{"", "", 0},
		{"\r", "\r\n", 1},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			n := newCRLFNormalizer(r)
			got, err := io.ReadAll(n)
			if err != nil || string(got) != tc.want || n.Fixed() != tc.fixed {
				t.Errorf("%q (one byte %v): got %q, %d fixed, %v; want %q, %d", tc.in, oneByte, got, n.Fixed(), err, tc.want, tc.fixed)
			}
		}
	}
}

func FuzzCRLFNormalizer(f *testing.F) {
	f.Add([]byte("a\r.\rb\n.\nc\r\n.\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := io.ReadAll(newCRLFNormalizer(iotest.HalfReader(bytes.NewReader(in))))
		if err != nil {
			t.Fatal(err)
		}
		// Every CR is followed by LF and every LF preceded by CR.
		for i, c := range got {
			if c == '\r' && (i+1 == len(got) || got[i+1] != '\n') || c == '\n' && (i == 0 || got[i-1] != '\r') {
				t.Fatalf("bare line ending at %d: %q -> %q", i, in, got)
			}
		}
		// Apart from line endings, the text is unchanged.
		strip := func(b []byte) string { return strings.NewReplacer("\r", "", "\n", "").Replace(string(b)) }
		if strip(got) != strip(in) {
			t.Fatalf("text changed: %q -> %q", in, got)
		}
	})
}
