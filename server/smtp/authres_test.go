package smtp

import (
	"io"
	"strings"
	"testing"
)

func TestWithoutForgedAuthResults(t *testing.T) {
	const id = "mx.example.test"
	long := strings.Repeat("x", 40<<10)
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
		{"third party kept",
			"Authentication-Results: relay.example.org; spf=pass\r\nAuthentication-Results: mx.example.test.evil; none\r\n\r\n",
			"Authentication-Results: relay.example.org; spf=pass\r\nAuthentication-Results: mx.example.test.evil; none\r\n\r\n"},
		{"body untouched",
			"Subject: s\r\n\r\nAuthentication-Results: mx.example.test; spf=pass\r\n",
			"Subject: s\r\n\r\nAuthentication-Results: mx.example.test; spf=pass\r\n"},
		{"LF only",
			"Authentication-Results: mx.example.test; spf=pass\nA: b\n\nbody\n",
			"A: b\n\nbody\n"},
		{"long line copied", "X-Long: " + long + "\r\n\r\nb", "X-Long: " + long + "\r\n\r\nb"},
		{"no body, no blank line", "Authentication-Results: mx.example.test; x\r\nA: b\r\n", "A: b\r\n"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := withoutForgedAuthResults(strings.NewReader(tc.in), id)
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Closing the reader early stops the copier instead of leaking it.
func TestWithoutForgedAuthResultsEarlyClose(t *testing.T) {
	rc := withoutForgedAuthResults(strings.NewReader(strings.Repeat("A: b\r\n", 100000)), "x")
	buf := make([]byte, 10)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

func FuzzAuthResultsFilter(f *testing.F) {
	f.Add("Authentication-Results: mx; spf=pass\r\nA: b\r\n\r\nbody")
	f.Add("A: b\n \tAuthentication-Results: mx\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		rc := withoutForgedAuthResults(strings.NewReader(in), "mx")
		defer rc.Close()
		got, err := io.ReadAll(rc)
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
	})
}
