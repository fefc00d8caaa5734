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

// BenchmarkPlan is the planning cost per message and recipient (parse
// excluded): reading the account's rule document and evaluating 50 rules,
// beside an account without rules.
func BenchmarkPlan(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	var doc strings.Builder
	for i := range 48 {
		fmt.Fprintf(&doc, "[[rules]]\nconditions = [{ if = \"subject\", contains = \"no-match-%d;never-%d\" }]\nactions = [{ do = \"flags\", flags = [\"$R%d\"] }]\n", i, i, i)
	}
	doc.WriteString("[[rules]]\nconditions = [{ if = \"subject\", regex = '^\\[(ticket|case) #[0-9]+\\]' }]\nactions = [{ do = \"stop\" }]\n")
	doc.WriteString("[[rules]]\nconditions = [{ if = \"subject\", starts_with = \"floe-bench\" }]\nactions = [{ do = \"move\", folder = \"Bench\" }]\n")
	if err := f.store.SetAccountRules(ctx, f.ids["bob@example.test"], []byte(doc.String())); err != nil {
		b.Fatal(err)
	}
	raw := "From: <bench@bench.invalid>\r\nTo: <x@example.test>\r\nSubject: floe-bench message 1\r\n\r\n" + strings.Repeat("The quick brown fox.\r\n", 200)
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
			if name == "rules50" && parsed.Recipients[0].Rules.Folder != "Bench" {
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
