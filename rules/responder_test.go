package rules

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Mike's responder from the seed: once per sender, between 2018/06/18 and
// 2018/06/22, never Brad.
const mikeResponder = `
[responder]
mode = "once"
again_after_days = 0
from_date = "2018/06/18"
to_date = "2018/06/22"
exclude = ["brad.thompson@x1solar"]
from = "mike.sparrow@x1solar.com"
subject = "Re: %%Subject%%"
text = "Dear %%From_Name%%, I will be on vacation from 18.6. till 22.6.2018 included. Thanks for understanding. Mike"
`

const toMike = `From: Anna Novak <anna@customer.example>
To: Mike Sparrow <mike.sparrow@x1solar.com>
Subject: Panels
Message-ID: <m1@customer.example>
References: <m0@customer.example>

When do you deliver?
`

func mikeCtx(from string, day int) *Context {
	return &Context{
		MailFrom:  from,
		Recipient: "mike.sparrow@x1solar.com",
		Account:   "mike.sparrow@x1solar.com",
		Now:       time.Date(2018, 6, day, 12, 0, 0, 0, time.UTC),
	}
}

func TestSeedMikeResponder(t *testing.T) {
	t.Parallel()
	p := compileTOML(t, mikeResponder)
	plan := Evaluate(context.Background(), []Stage{{LevelAccount, p}}, msg(toMike), mikeCtx("anna@customer.example", 19))
	r := plan.Reply
	if r == nil {
		t.Fatalf("no reply: %v", plan.Notes)
	}
	if r.To != "anna@customer.example" || r.From != "mike.sparrow@x1solar.com" || r.Subject != "Re: Panels" ||
		!strings.HasPrefix(r.Text, "Dear Anna Novak, I will be on vacation") || !r.Once || !r.Since.IsZero() ||
		r.InReplyTo != "" && r.InReplyTo != "<m1@customer.example>" {
		t.Errorf("reply %+v", r)
	}
	// Brad never gets an answer; nobody does outside the dates.
	for _, cx := range []*Context{mikeCtx("brad.thompson@x1solar.com", 19), mikeCtx("anna@customer.example", 17), mikeCtx("anna@customer.example", 23)} {
		plan := Evaluate(context.Background(), []Stage{{LevelAccount, p}}, msg(toMike), cx)
		if plan.Reply != nil {
			t.Errorf("%s on day %d answered", cx.MailFrom, cx.Now.Day())
		}
	}
	// The last day counts whole.
	late := mikeCtx("anna@customer.example", 22)
	late.Now = late.Now.Add(11*time.Hour + 59*time.Minute)
	if Evaluate(context.Background(), []Stage{{LevelAccount, p}}, msg(toMike), late).Reply == nil {
		t.Error("not answered late on the last day")
	}
}

func TestResponderModes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc        string
		want, once bool
		since      time.Duration // before now
	}{
		{"mode = \"disabled\"\n", false, false, 0},
		{"mode = \"always\"\ntext = \"x\"\n", true, false, 0},
		{"mode = \"once\"\ntext = \"x\"\n", true, true, 0},
		{"mode = \"again_after\"\nagain_after_days = 3\ntext = \"x\"\n", true, true, 72 * time.Hour},
	} {
		p := compileTOML(t, "[responder]\n"+tc.doc)
		cx := mikeCtx("anna@customer.example", 19)
		r := Evaluate(context.Background(), []Stage{{LevelAccount, p}}, msg(toMike), cx).Reply
		if (r != nil) != tc.want {
			t.Errorf("%s: reply %v", tc.doc, r)
			continue
		}
		if r == nil {
			continue
		}
		if r.Once != tc.once || tc.since != 0 && !r.Since.Equal(cx.Now.Add(-tc.since)) || tc.since == 0 && !r.Since.IsZero() {
			t.Errorf("%s: %+v", tc.doc, r)
		}
		if r.From != "mike.sparrow@x1solar.com" || r.Subject != "Re: Panels" {
			t.Errorf("defaults: %+v", r)
		}
		if r.InReplyTo != "<m1@customer.example>" || strings.Join(r.References, " ") != "<m0@customer.example> <m1@customer.example>" {
			t.Errorf("threading: %+v", r)
		}
	}
}

func TestRFC3834Exclusions(t *testing.T) {
	t.Parallel()
	p := compileTOML(t, "[responder]\nmode = \"always\"\ntext = \"away\"\n")
	tests := []struct {
		name, header, from string
		want               bool
	}{
		{"plain", "", "anna@customer.example", true},
		{"auto-submitted no", "Auto-Submitted: no\n", "anna@customer.example", true},
		{"auto-replied", "Auto-Submitted: auto-replied\n", "anna@customer.example", false},
		{"auto-generated", "Auto-Submitted: auto-generated; owner-email=x@y\n", "anna@customer.example", false},
		{"null sender", "", "", false},
		{"mailer-daemon", "", "MAILER-DAEMON@customer.example", false},
		{"owner-", "", "owner-list@customer.example", false},
		{"-request", "", "list-request@customer.example", false},
		{"precedence bulk", "Precedence: bulk\n", "anna@customer.example", false},
		{"precedence list", "Precedence: list\n", "anna@customer.example", false},
		{"precedence junk", "Precedence: junk\n", "anna@customer.example", false},
		{"list-id", "List-Id: <x.lists.example>\n", "anna@customer.example", false},
		{"list-unsubscribe", "List-Unsubscribe: <mailto:u@x>\n", "anna@customer.example", false},
		{"bcc only", "", "anna@customer.example", false},
		{"cc", "", "anna@customer.example", true},
		{"alias in to", "", "anna@customer.example", true},
		{"tagged in to", "", "anna@customer.example", true},
		{"longer address", "", "anna@customer.example", false},
		{"only a display name", "", "anna@customer.example", false},
		{"group syntax", "", "anna@customer.example", true},
		{"unparsable field", "", "anna@customer.example", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := tc.header + toMike
			cx := mikeCtx(tc.from, 19)
			cx.AccountAddresses = []string{"mike.sparrow@x1solar.com", "mike@x1solar.com"}
			switch tc.name {
			case "bcc only":
				raw = strings.Replace(raw, "To: Mike Sparrow <mike.sparrow@x1solar.com>", "To: undisclosed-recipients:;", 1)
			case "cc":
				raw = strings.Replace(raw, "To: Mike Sparrow <mike.sparrow@x1solar.com>", "To: a@b.example\nCc: x@y.example,\n MIKE.sparrow@X1SOLAR.com", 1)
			case "alias in to":
				raw = strings.Replace(raw, "mike.sparrow@x1solar.com", "mike@x1solar.com", 1)
			case "tagged in to":
				raw = strings.Replace(raw, "mike.sparrow@x1solar.com", "mike.sparrow+work@x1solar.com", 1)
			case "longer address":
				raw = strings.Replace(raw, "mike.sparrow@x1solar.com", "mike.sparrow@x1solar.com.evil", 1)
			case "only a display name":
				raw = strings.Replace(raw, "To: Mike Sparrow <mike.sparrow@x1solar.com>", `To: "mike.sparrow@x1solar.com" <someone@else.example>`, 1)
			case "group syntax":
				raw = strings.Replace(raw, "To: Mike Sparrow <mike.sparrow@x1solar.com>", "To: team: mike.sparrow@x1solar.com, x@y.example;", 1)
			case "unparsable field":
				raw = strings.Replace(raw, "To: Mike Sparrow <mike.sparrow@x1solar.com>", "To: mike.sparrow@x1solar.com, broken <", 1)
			}
			r := Evaluate(context.Background(), []Stage{{LevelAccount, p}}, msg(raw), cx)
			if (r.Reply != nil) != tc.want {
				t.Errorf("reply %v, want %v (notes %v)", r.Reply != nil, tc.want, r.Notes)
			}
			if !tc.want && len(r.Notes) == 0 {
				t.Error("no note says why")
			}
		})
	}
}

func TestResponderSkippedAfterRules(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"stop", "delete", "reject", "quarantine", "spam"} {
		p := compileTOML(t, "[responder]\nmode = \"always\"\ntext = \"away\"\n[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \""+action+"\" }]\n")
		r := Evaluate(context.Background(), []Stage{{LevelAccount, p}}, msg(toMike), mikeCtx("anna@customer.example", 19))
		if r.Reply != nil {
			t.Errorf("%s: answered", action)
		}
	}
	p := compileTOML(t, "[responder]\nmode = \"always\"\ntext = \"away\"\n[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"move\", folder = \"X\" }]\n")
	if Evaluate(context.Background(), []Stage{{LevelAccount, p}}, msg(toMike), mikeCtx("anna@customer.example", 19)).Reply == nil {
		t.Error("move suppressed the responder")
	}
}

func TestExcluded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sender, entry string
		want          bool
	}{
		{"brad.thompson@x1solar.com", "brad.thompson@x1solar", true},
		{"brad.thompson@x1solar.com", "brad.thompson@x1solar.com", true},
		{"brad.thompsonx@x1solar.com", "brad.thompson@x1solar", false},
		{"a@x1solar.com", "x1solar.com", true},
		{"a@mail.x1solar.com", "@x1solar.com", true},
		{"a@notx1solar.com", "x1solar.com", false},
		{"a@x1solar.com", "x1solar", true},
	} {
		if got := excluded(tc.sender, tc.entry); got != tc.want {
			t.Errorf("excluded(%q, %q) = %v", tc.sender, tc.entry, got)
		}
	}
}
