package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bench50 is the rule set of `make bench` (.ci/bench-rules.sh): 48 string
// tests that do not match, a regex that does not match, a move.
func bench50(tb testing.TB) *Program {
	fields := []string{"from", "to", "subject", "cc", "header", "body", "sender", "recipient", "attachment_name"}
	tests := []string{"contains", "starts_with", "ends_with", "equals"}
	var b strings.Builder
	for i := range 48 {
		f, t := fields[i%len(fields)], tests[i%len(tests)]
		extra := ""
		if f == "header" {
			extra = `, header = "X-Mailer"`
		}
		fmt.Fprintf(&b, "[[rules]]\ntitle = \"string test %d\"\nconditions = [{ if = %q, %s = \"no-match-%d;never-%d\"%s }]\nactions = [{ do = \"flags\", flags = [\"$R%d\"] }]\n", i, f, t, i, i, extra, i)
	}
	b.WriteString("[[rules]]\ntitle = \"regex\"\nconditions = [{ if = \"subject\", regex = '^\\[(ticket|case) #[0-9]+\\]' }]\nactions = [{ do = \"stop\" }]\n")
	b.WriteString("[[rules]]\ntitle = \"move\"\nconditions = [{ if = \"subject\", starts_with = \"floe-bench\" }]\nactions = [{ do = \"move\", folder = \"Bench\" }]\n")
	_, p, err := Load("bench", []byte(b.String()), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if p.Rules() != 50 {
		tb.Fatalf("%d rules", p.Rules())
	}
	return p
}

func benchMessage() *Message {
	body := strings.Repeat("The quick brown fox jumps over the lazy dog while floe-bench measures.\r\n", 70)
	h := "From: <bench@bench.invalid>\r\nTo: <rules1@example.test>\r\nSubject: floe-bench message 42\r\nMessage-ID: <1.42@floe-bench.localhost>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
	return &Message{Header: []byte(h), Text: body, Size: int64(len(h) + len(body))}
}

func TestBench50Moves(t *testing.T) {
	t.Parallel()
	p := Evaluate(context.Background(), []Stage{{LevelAccount, bench50(t)}}, benchMessage(),
		&Context{MailFrom: "bench@bench.invalid", Recipient: "rules1@example.test", Now: time.Now()})
	if p.Folder != "Bench" || len(p.Matched) != 1 || len(p.Flags) != 0 {
		t.Fatalf("plan %+v", p)
	}
}

// BenchmarkEvaluate50 is the CPU cost of 50 rules for one message and
// recipient (a fresh Message each time: nothing cached between messages).
func BenchmarkEvaluate50(b *testing.B) {
	p := bench50(b)
	st := []Stage{{LevelAccount, p}}
	cx := &Context{MailFrom: "bench@bench.invalid", Recipient: "rules1@example.test", Now: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(context.Background(), st, benchMessage(), cx)
	}
}

// BenchmarkCompile50 is the cost of compiling the 50 rules (done once per
// change, never per message).
func BenchmarkCompile50(b *testing.B) {
	for b.Loop() {
		bench50(b)
	}
}
