package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/floemail/floe/rules"
)

func TestEditHeader(t *testing.T) {
	t.Parallel()
	h := []byte("Received: from a\r\n\tby b\r\nSubject: old\r\n  folded\r\nX-Mailer: m\r\nX-Priority: 5\r\nx-mailer: again\r\n\r\n")
	got := EditHeader(h, []rules.HeaderEdit{
		{Op: rules.DoAddHeader, Name: "X-Project", Value: "navy"},
		{Op: rules.DoEditHeader, Name: "Subject", Value: "Práce"},
		{Op: rules.DoDeleteHeader, Name: "X-Mailer"},
		{Op: rules.DoEditHeader, Name: "X-New", Value: "added"},
	}, rules.PriorityHigh)
	want := "X-Project: navy\r\nX-New: added\r\nX-Priority: 2 (High)\r\nImportance: high\r\nReceived: from a\r\n\tby b\r\nSubject: =?utf-8?q?Pr=C3=A1ce?=\r\n\r\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// benchRulesDoc is the rule document of the rules benchmark
// (.ci/bench-rules.sh; rules.bench50): 48 string tests on From, To,
// Subject, Cc, a custom header, the body, the envelope and the attachment
// names and a regex that do not match, and a move that matches.
func benchRulesDoc() string {
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
	return b.String()
}

// BenchmarkPlan is the planning cost per message and recipient (parse
// excluded; the view of the message is built afresh each time, as for
// every message): the rules version read and the 50 rules of the rules
// benchmark evaluated on a message like floe-bench's (5 KB), beside an
// account without rules.
func BenchmarkPlan(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	if err := f.store.SetAccountRules(ctx, f.ids["bob@example.test"], []byte(benchRulesDoc())); err != nil {
		b.Fatal(err)
	}
	raw := "From: <bench@bench.invalid>\r\nTo: <x@example.test>\r\nSubject: floe-bench message 1\r\n" +
		"Message-ID: <1.1@floe-bench.localhost>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n" +
		strings.Repeat("The quick brown fox jumps over the lazy dog while floe-bench measures.\r\n", 70)
	ref := putBlob(b, f.store, raw)
	for _, who := range []string{"alice@example.test", "bob@example.test"} {
		name := "none"
		if who == "bob@example.test" {
			name = "rules50"
		}
		b.Run(name, func(b *testing.B) {
			r, err := f.d.Resolve(ctx, who)
			if err != nil {
				b.Fatal(err)
			}
			m := &Message{Blob: ref, From: "bench@bench.invalid", Recipients: []Recipient{r}}
			parsed, err := f.d.Plan(ctx, m)
			if err != nil {
				b.Fatal(err)
			}
			if name == "rules50" && (parsed.Recipients[0].Rules.Folder != "Bench" || len(parsed.Recipients[0].Rules.Matched) != 1) {
				b.Fatalf("plan %+v", parsed.Recipients[0].Rules)
			}
			b.ReportAllocs()
			for b.Loop() {
				f.d.PlanParsed(ctx, m, parsed.Parsed)
			}
		})
	}
}

type fakeMemberOf map[string][]string

func (f fakeMemberOf) MemberOf(_ context.Context, address string) ([]string, error) {
	return f[address], nil
}

func TestStoreGroups(t *testing.T) {
	t.Parallel()
	g := storeGroups{fakeMemberOf{"mike@example.org": {"sales@example.org"}}}
	for _, tc := range []struct {
		addr, group string
		want        bool
	}{
		{"mike@example.org", "sales@example.org", true},
		{"Mike@example.org", "SALES", true},
		{"mike@example.org", "sales@other.org", false},
		{"brad@example.org", "sales", false},
	} {
		if got, _ := g.MemberOfGroup(context.Background(), tc.addr, tc.group); got != tc.want {
			t.Errorf("MemberOfGroup(%q, %q) = %v", tc.addr, tc.group, got)
		}
	}
}
