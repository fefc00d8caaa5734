package mimeparse

import (
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/floemail/floe/storage"
)

func depthOf(p *storage.Part) int {
	d := 0
	for i := range p.Children {
		d = max(d, depthOf(&p.Children[i]))
	}
	if p.Message != nil {
		d = max(d, depthOf(&p.Message.Body))
	}
	return d + 1
}

func countParts(p *storage.Part) int {
	n := 1
	for i := range p.Children {
		n += countParts(&p.Children[i])
	}
	if p.Message != nil {
		n += countParts(&p.Message.Body)
	}
	return n
}

func TestLimits(t *testing.T) {
	t.Run("deep multipart", func(t *testing.T) {
		var b strings.Builder
		const n = 3 * MaxDepth
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
		}
		b.WriteString("Content-Type: text/plain\n\ndeep\n")
		for i := n - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\n", i)
		}
		p := parseString(t, b.String())
		if d := depthOf(&p.Structure); d > MaxDepth+1 {
			t.Errorf("depth %d", d)
		}
	})
	t.Run("deep message", func(t *testing.T) {
		raw := strings.Repeat("Subject: s\nContent-Type: message/rfc822\n\n", 3*MaxDepth) + "end\n"
		p := parseString(t, raw)
		if d := depthOf(&p.Structure); d > MaxDepth+1 {
			t.Errorf("depth %d", d)
		}
	})
	t.Run("many parts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=x\n\n")
		for i := 0; i < 3*MaxParts; i++ {
			fmt.Fprintf(&b, "--x\nContent-Type: text/plain\n\npart %d\n", i)
		}
		b.WriteString("--x--\nepilogue\n")
		raw := b.String()
		p := parseString(t, raw)
		if n := countParts(&p.Structure); n > MaxParts || n < MaxParts-1 {
			t.Errorf("%d parts", n)
		}
		eq(t, "end", p.Structure.End, int64(len(raw)))
	})
	t.Run("huge header", func(t *testing.T) {
		raw := "Subject: first\n" + strings.Repeat("X-Filler: "+strings.Repeat("y", 100)+"\n", 4000) + "\nbody\n"
		p := parseString(t, raw)
		eq(t, "truncated", p.HeaderTruncated, true)
		eq(t, "len", len(p.Header), storage.MaxStoredHeader)
		eq(t, "subject", p.Envelope.Subject, "first")
		eq(t, "body", body(raw, &p.Structure), "body\n")
	})
	t.Run("long lines", func(t *testing.T) {
		long := strings.Repeat("z", 1<<20)
		raw := "Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\nX-Long: " + long +
			"\n\n" + long + "\n--q\n\n" + long + "--q\nafter\n--q--\n"
		p := parseString(t, raw)
		eq(t, "children", len(p.Structure.Children), 2)
		eq(t, "1", body(raw, partAt(t, &p.Structure, 1)), long)
		// A delimiter must start a line: "...zzz--q" does not.
		eq(t, "2", body(raw, partAt(t, &p.Structure, 2)), long+"--q\nafter")
		if len(p.Text) != storage.MaxIndexedText {
			t.Errorf("text length %d", len(p.Text))
		}
	})
	t.Run("empty", func(t *testing.T) {
		p := parseString(t, "")
		eq(t, "type", p.Structure.Type, "text")
		eq(t, "header", len(p.Header), 0)
	})
	t.Run("text cap", func(t *testing.T) {
		raw := "Content-Type: text/plain; charset=utf-8\n\n" + strings.Repeat("é", storage.MaxIndexedText)
		p := parseString(t, raw)
		if l := len(p.Text); l > storage.MaxIndexedText || l < storage.MaxIndexedText-1 {
			t.Errorf("text length %d", l)
		}
	})
	t.Run("boundary prefix", func(t *testing.T) {
		// The inner boundary extends the outer one: only exact delimiter
		// lines count.
		raw := crlf("Content-Type: multipart/mixed; boundary=ab\n\n--ab\nContent-Type: multipart/mixed; boundary=abc\n\n--abc\n\ninner\n--abc--\n--ab\n\nsecond\n--ab--\n")
		p := parseString(t, raw)
		eq(t, "children", len(p.Structure.Children), 2)
		eq(t, "1.1", body(raw, partAt(t, &p.Structure, 1, 1)), "inner")
		eq(t, "2", body(raw, partAt(t, &p.Structure, 2)), "second")
	})
}

// TestLargeStreams checks that a 10 MB attachment is not held in memory. It
// measures allocated bytes, which do not depend on machine speed or load.
func TestLargeStreams(t *testing.T) {
	raw := largeMessage(10 << 20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p, err := Parse(strings.NewReader(raw), int64(len(raw)))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, raw, p)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("parsing a %d byte message allocated %d bytes", len(raw), alloc)
	}
	eq(t, "names", p.AttachmentNames, []string{"big.bin"})
}

func largeMessage(attachment int) string {
	data := make([]byte, attachment*3/4)
	for i := range data {
		data[i] = byte(i * 31 % 253)
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/38 + 4096)
	b.WriteString(crlf(`From: Big Sender <big@example.org>
To: Receiver <rcpt@example.com>
Subject: the big one
Date: Fri, 16 Feb 2024 11:00:00 +0000
Message-ID: <big-1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="==big=="

--==big==
Content-Type: text/plain; charset=utf-8

Here it is.
--==big==
Content-Type: application/octet-stream; name="big.bin"
Content-Disposition: attachment; filename="big.bin"
Content-Transfer-Encoding: base64

`))
	for i := 0; i < len(enc); i += 76 {
		b.WriteString(enc[i:min(i+76, len(enc))])
		b.WriteString("\r\n")
	}
	b.WriteString("--==big==--\r\n")
	return b.String()
}

// hostilePatterns are inputs that make naive header parsers quadratic.
var hostilePatterns = []string{
	"=?a?q?x ", "=?a?q?x?= ", "<", "<a@b>", `"`, "(", "@", "a:", "a:;", "Re: ", "[a", "[a] ",
	"[fwd: ", "x (fwd)", "1-", "; a*1*=b", "<!--", "--", "\n--b\n",
}

func TestHostileInputs(t *testing.T) {
	for _, pat := range hostilePatterns {
		in := strings.Repeat(pat, 20000/len(pat))
		if s := DecodeHeaderValue(in); !utf8.ValidString(s) {
			t.Errorf("%q: invalid UTF-8", pat)
		}
		raw := "Subject: " + in + "\nFrom: " + in + "\nDate: " + in + "\nReferences: " + in +
			"\nContent-Type: multipart/mixed; boundary=b" + in + "\n\n--b\nContent-Type: text/html\n\n" + in + "\n--b--\n"
		parseString(t, raw)
	}
}
