package rules

import (
	"context"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// msg builds a Message from a raw message (header, blank line, body).
func msg(raw string) *Message {
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	h, body, _ := strings.Cut(raw, "\r\n\r\n")
	m := &Message{Header: []byte(h + "\r\n\r\n"), Text: body, Size: int64(len(raw))}
	return m
}

const sample = `Received: from mx.example.net by mail.example.org
From: "Navy Office" <navy@fleet.example.net>
To: John Smith <john@example.org>, mike@example.org
Cc: =?UTF-8?Q?Ji=C5=99=C3=AD?= <jiri@example.org>
Reply-To: replies@fleet.example.net
Date: Mon, 18 Jun 2018 10:00:00 +0200
Subject: =?UTF-8?B?UHLDoWNlIG5hIGxvZGk=?= [ticket #42]
Message-ID: <abc@fleet.example.net>
X-Priority: 2 (High)
X-Mailer: Fleet Mailer 3
X-Custom: jim

Hello John,
the ship leaves on Monday.
`

type fakeDir struct{}

func (fakeDir) IsLocalDomain(_ context.Context, d string) (bool, error) {
	return d == "example.org", nil
}
func (fakeDir) AccountExists(_ context.Context, a string) (bool, error) {
	return a == "john@example.org" || a == "mike@example.org", nil
}
func (fakeDir) MemberOfGroup(_ context.Context, a, g string) (bool, error) {
	return g == "sales" && a == "mike@example.org", nil
}

func baseCtx() *Context {
	return &Context{
		MailFrom:  "bounce@fleet.example.net",
		Recipient: "john+Important@example.org",
		Account:   "john@example.org",
		RemoteIP:  netip.MustParseAddr("192.0.2.7"),
		RDNS:      "mx.fleet.example.net.",
		Trusted:   []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Spam:      &Spam{Scored: true, Score: 7.5, IsSpam: true},
		Now:       time.Date(2018, 6, 18, 9, 30, 0, 0, time.UTC), // a Monday
		Dir:       fakeDir{},
	}
}

func compileTOML(t *testing.T, doc string) *Program {
	t.Helper()
	_, p, err := Load("test.toml", []byte(doc), Options{})
	if err != nil {
		t.Fatalf("load:\n%v", err)
	}
	return p
}

// cond evaluates one condition (as a TOML inline table) on the sample.
func cond(t *testing.T, c string, m *Message, cx *Context) bool {
	t.Helper()
	p := compileTOML(t, "[[rules]]\nconditions = ["+c+"]\nactions = [{ do = \"stop\" }]\n")
	plan := Evaluate(context.Background(), []Stage{{LevelAccount, p}}, m, cx)
	return len(plan.Matched) == 1
}

func TestConditions(t *testing.T) {
	t.Parallel()
	withAttachment := msg(sample)
	withAttachment.HasAttachment = true
	withAttachment.AttachmentNames = []string{"Invoice 2018.PDF", "photo.jpg"}
	unscored := baseCtx()
	unscored.Spam = &Spam{Scored: false}
	noScanner := baseCtx()
	noScanner.Spam = nil
	authed := baseCtx()
	authed.AuthUser = "john@example.org"
	nullSender := baseCtx()
	nullSender.MailFrom = ""
	localSender := baseCtx()
	localSender.MailFrom = "mike@example.org"
	ghostSender := baseCtx()
	ghostSender.MailFrom = "ghost@example.org"
	tests := []struct {
		name string
		cond string
		m    *Message
		cx   *Context
		want bool
	}{
		{"from", `{ if = "from", contains = "navy" }`, nil, nil, true},
		{"from display name", `{ if = "from", contains = "Navy Office" }`, nil, nil, true},
		{"from miss", `{ if = "from", contains = "army" }`, nil, nil, false},
		{"from negated", `{ if = "from", contains = "army", not = true }`, nil, nil, true},
		{"to", `{ if = "to", ends_with = "mike@example.org" }`, nil, nil, true},
		{"subject decoded", `{ if = "subject", starts_with = "Práce na lodi" }`, nil, nil, true},
		{"subject regex", `{ if = "subject", regex = '\[ticket #\d+\]$' }`, nil, nil, true},
		{"cc decoded", `{ if = "cc", contains = "Jiří" }`, nil, nil, true},
		{"reply-to", `{ if = "reply_to", equals = "replies@fleet.example.net" }`, nil, nil, true},
		{"date", `{ if = "date", contains = "18 Jun 2018" }`, nil, nil, true},
		{"absent header not", `{ if = "header", header = "X-None", contains = "x", not = true }`, nil, nil, true},
		{"priority high", `{ if = "priority", is = "high" }`, nil, nil, true},
		{"priority normal miss", `{ if = "priority", is = "normal" }`, nil, nil, false},
		{"priority default normal", `{ if = "priority", is = "normal" }`, msg("Subject: x\n\nbody\n"), nil, true},
		{"priority importance", `{ if = "priority", is = "low" }`, msg("Importance: Low\n\nbody\n"), nil, true},
		{"spam", `{ if = "spam" }`, nil, nil, true},
		{"spam unscored", `{ if = "spam" }`, nil, unscored, false},
		{"spam no scanner", `{ if = "spam" }`, nil, noScanner, false},
		{"spam no scanner negated", `{ if = "spam", not = true }`, nil, noScanner, true},
		{"spam score greater", `{ if = "spam_score", greater = 5.0 }`, nil, nil, true},
		{"spam score lower", `{ if = "spam_score", lower = 5 }`, nil, nil, false},
		{"spam score range", `{ if = "spam_score", greater = 5, lower = 8 }`, nil, nil, true},
		{"spam score unscored", `{ if = "spam_score", lower = 100 }`, nil, unscored, false},
		{"size greater", `{ if = "size", greater = 0.1 }`, nil, nil, true},
		{"size lower", `{ if = "size", lower = 1 }`, nil, nil, true},
		{"size greater miss", `{ if = "size", greater = 100 }`, nil, nil, false},
		{"body", `{ if = "body", contains = "ship leaves" }`, nil, nil, true},
		{"body whole word", `{ if = "body", contains = "ship", whole_word = true }`, nil, nil, true},
		{"body case", `{ if = "body", contains = "SHIP", match_case = true }`, nil, nil, false},
		{"custom header", `{ if = "header", header = "X-Custom", contains = "jim;bob;john" }`, nil, nil, true},
		{"custom header seed colon", `{ if = "header", header = "X-Custom:", equals = "jim" }`, nil, nil, true},
		{"custom header miss", `{ if = "header", header = "X-Custom", contains = "bob" }`, nil, nil, false},
		{"any header", `{ if = "any_header", contains = "fleet mailer" }`, nil, nil, true},
		{"any header name", `{ if = "any_header", starts_with = "x-mailer:" }`, nil, nil, true},
		{"attachment name", `{ if = "attachment_name", ends_with = ".pdf" }`, withAttachment, nil, true},
		{"attachment name miss", `{ if = "attachment_name", ends_with = ".exe" }`, withAttachment, nil, false},
		{"has attachment", `{ if = "has_attachment" }`, withAttachment, nil, true},
		{"has attachment miss", `{ if = "has_attachment" }`, nil, nil, false},
		{"sender", `{ if = "sender", ends_with = "@fleet.example.net" }`, nil, nil, true},
		{"recipient", `{ if = "recipient", starts_with = "john+" }`, nil, nil, true},
		{"sender remote", `{ if = "sender_is", local = false }`, nil, nil, true},
		{"sender local miss", `{ if = "sender_is", local = true }`, nil, nil, false},
		{"null sender remote", `{ if = "sender_is", local = false }`, nil, nullSender, true},
		{"sender local exists", `{ if = "sender_is", local = true, account = "exists" }`, nil, localSender, true},
		{"sender local missing", `{ if = "sender_is", local = true, account = "missing" }`, nil, ghostSender, true},
		{"sender local missing miss", `{ if = "sender_is", local = true, account = "missing" }`, nil, localSender, false},
		{"sender member of group", `{ if = "sender_is", local = true, member_of_group = "sales" }`, nil, localSender, true},
		{"sender member of group miss", `{ if = "sender_is", local = true, member_of_group = "sales" }`, nil, ghostSender, false},
		{"sender member of domain", `{ if = "sender_is", local = true, member_of_domain = "example.org" }`, nil, localSender, true},
		{"recipient local", `{ if = "recipient_is", local = true, account = "missing" }`, nil, nil, true},
		{"ip", `{ if = "ip", starts_with = "192.0.2." }`, nil, nil, true},
		{"ip miss", `{ if = "ip", equals = "192.0.2.8" }`, nil, nil, false},
		{"rdns", `{ if = "rdns", ends_with = ".example.net" }`, nil, nil, true},
		{"trusted", `{ if = "trusted_ip" }`, nil, nil, true},
		{"trusted miss", `{ if = "trusted_ip" }`, nil, nullSender2(), false},
		{"smtp auth miss", `{ if = "smtp_auth" }`, nil, nil, false},
		{"smtp auth", `{ if = "smtp_auth" }`, nil, authed, true},
		{"local time day", `{ if = "local_time", days = ["mon", "tue"] }`, nil, nil, true},
		{"local time day miss", `{ if = "local_time", days = ["sat", "sun"] }`, nil, nil, false},
		{"local time hours", `{ if = "local_time", hours = "09:00-17:00" }`, nil, nil, true},
		{"local time hours miss", `{ if = "local_time", hours = "10:00-17:00" }`, nil, nil, false},
		{"local time hours wrap", `{ if = "local_time", hours = "22:00-09:45" }`, nil, nil, true},
		{"local time timezone", `{ if = "local_time", hours = "11:00-12:00", timezone = "Europe/Prague" }`, nil, nil, true},
		{"local time dates", `{ if = "local_time", from_date = "2018-06-18", to_date = "2018-06-22" }`, nil, nil, true},
		{"local time dates miss", `{ if = "local_time", from_date = "2018-06-19" }`, nil, nil, false},
		{"all", `{ if = "all" }`, nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, cx := tc.m, tc.cx
			if m == nil {
				m = msg(sample)
			}
			if cx == nil {
				cx = baseCtx()
			}
			if got := cond(t, tc.cond, m, cx); got != tc.want {
				t.Errorf("%s = %v, want %v", tc.cond, got, tc.want)
			}
		})
	}
}

func nullSender2() *Context {
	c := baseCtx()
	c.RemoteIP = netip.MustParseAddr("198.51.100.1")
	return c
}

func TestAllConditionsHold(t *testing.T) {
	t.Parallel()
	p := compileTOML(t, `
[[rules]]
title = "two conditions"
conditions = [{ if = "from", contains = "navy" }, { if = "subject", contains = "nothing" }]
actions = [{ do = "stop" }]
`)
	plan := Evaluate(context.Background(), []Stage{{LevelAccount, p}}, msg(sample), baseCtx())
	if len(plan.Matched) != 0 {
		t.Error("a rule matched with one of two conditions false")
	}
}

func eval(t *testing.T, doc string, cx *Context) *Plan {
	t.Helper()
	if cx == nil {
		cx = baseCtx()
	}
	return Evaluate(context.Background(), []Stage{{LevelAccount, compileTOML(t, doc)}}, msg(sample), cx)
}

func TestActions(t *testing.T) {
	t.Parallel()
	rule := func(actions string) string {
		return "[[rules]]\ntitle = \"t\"\nconditions = [{ if = \"all\" }]\nactions = [" + actions + "]\n"
	}
	tests := []struct {
		name    string
		actions string
		check   func(p *Plan) bool
	}{
		{"accept", `{ do = "accept" }`, func(p *Plan) bool { return p.Accepted && p.Stopped && p.Disposition == Deliver }},
		{"reject", `{ do = "reject", text = "No navy mail, %%From_Name%%" }`, func(p *Plan) bool {
			return p.Disposition == Reject && p.RejectText == "No navy mail, Navy Office"
		}},
		{"delete", `{ do = "delete" }`, func(p *Plan) bool { return p.Disposition == Discard }},
		{"quarantine", `{ do = "quarantine" }`, func(p *Plan) bool { return p.Disposition == Quarantine }},
		{"spam", `{ do = "spam" }`, func(p *Plan) bool { return p.Spam && p.Disposition == Deliver }},
		{"stop", `{ do = "stop" }`, func(p *Plan) bool { return p.Stopped && !p.Accepted }},
		{"forward", `{ do = "forward", to = "boss@example.net" }`, func(p *Plan) bool {
			return reflect.DeepEqual(p.Forward, []string{"boss@example.net"}) && !p.NoLocalCopy && p.Hops == 1
		}},
		{"move", `{ do = "move", folder = "Navy Project" }`, func(p *Plan) bool { return p.Folder == "Navy Project" }},
		{"move extension", `{ do = "move", folder = "%%Extension%%" }`, func(p *Plan) bool { return p.Folder == "Important" }},
		{"move inbox", `{ do = "move", folder = "inbox" }`, func(p *Plan) bool { return p.Folder == "" }},
		{"copy", `{ do = "copy", folder = "Archive/%%Date%%" }`, func(p *Plan) bool {
			return reflect.DeepEqual(p.Copies, []string{"Archive/2018-06-18"}) && p.Folder == ""
		}},
		{"send", `{ do = "send", to = "%%Sender%%", from = "robot@example.org", subject = "Got: %%Subject%%", text = "Hi %%From_Name%%,\nreceived at %%Time%%." }`, func(p *Plan) bool {
			return len(p.Sends) == 1 && p.Sends[0] == Send{To: "bounce@fleet.example.net", From: "robot@example.org",
				Subject: "Got: Práce na lodi [ticket #42]", Text: "Hi Navy Office,\nreceived at 09:30:00."}
		}},
		{"add header", `{ do = "add_header", header = "X-Project:", value = "navy %%To_Name%%" }`, func(p *Plan) bool {
			return reflect.DeepEqual(p.Headers, []HeaderEdit{{DoAddHeader, "X-Project", "navy John Smith"}})
		}},
		{"edit header", `{ do = "edit_header", header = "Subject", value = "[URGENT] %%subject%%" }`, func(p *Plan) bool {
			return reflect.DeepEqual(p.Headers, []HeaderEdit{{DoEditHeader, "Subject", "[URGENT] Práce na lodi [ticket #42]"}})
		}},
		{"delete header", `{ do = "delete_header", header = "X-Mailer" }`, func(p *Plan) bool {
			return reflect.DeepEqual(p.Headers, []HeaderEdit{{DoDeleteHeader, "X-Mailer", ""}})
		}},
		{"priority", `{ do = "priority", priority = "Lowest" }`, func(p *Plan) bool { return p.Priority == PriorityLowest }},
		{"flags", `{ do = "flags", flags = ['\Flagged', "$Label1"] }, { do = "flags", flags = ['\flagged', "Work"] }`, func(p *Plan) bool {
			return reflect.DeepEqual(p.Flags, []string{`\Flagged`, "$Label1", "Work"})
		}},
		{"encrypt", `{ do = "encrypt" }`, func(p *Plan) bool { return p.Encrypt }},
		{"reject cancels filing and forwards, keeps sends", `{ do = "move", folder = "X" }, { do = "forward", to = "a@b.c" }, { do = "send", to = "admin@example.org", text = "rejected" }, { do = "reject" }`, func(p *Plan) bool {
			return p.Disposition == Reject && p.Folder == "" && p.Forward == nil && len(p.Sends) == 1
		}},
		{"delete keeps forwards", `{ do = "forward", to = "a@b.c" }, { do = "delete" }`, func(p *Plan) bool {
			return p.Disposition == Discard && len(p.Forward) == 1
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := eval(t, rule(tc.actions), nil)
			if !tc.check(p) {
				t.Errorf("plan %+v", p)
			}
		})
	}
}

func TestOrderAndLevels(t *testing.T) {
	t.Parallel()
	server := compileTOML(t, `
[[rules]]
title = "server tag"
conditions = [{ if = "all" }]
actions = [{ do = "add_header", header = "X-Server", value = "1" }]
`)
	domain := compileTOML(t, `
[[rules]]
title = "inactive"
active = false
conditions = [{ if = "all" }]
actions = [{ do = "delete" }]
[[rules]]
title = "domain move"
conditions = [{ if = "all" }]
actions = [{ do = "move", folder = "A" }]
`)
	account := compileTOML(t, `
[[rules]]
title = "navy project"
conditions = [{ if = "from", contains = "navy" }]
actions = [{ do = "move", folder = "Navy Project" }, { do = "stop" }]
[[rules]]
title = "never reached"
conditions = [{ if = "all" }]
actions = [{ do = "move", folder = "B" }]
`)
	stages := []Stage{{LevelServer, server}, {LevelDomain, domain}, {LevelAccount, account}}
	p := Evaluate(context.Background(), stages, msg(sample), baseCtx())
	want := []Match{{LevelServer, 0, "server tag"}, {LevelDomain, 1, "domain move"}, {LevelAccount, 0, "navy project"}}
	if !reflect.DeepEqual(p.Matched, want) {
		t.Errorf("matched %+v", p.Matched)
	}
	if p.Folder != "Navy Project" || !p.Stopped || len(p.Headers) != 1 {
		t.Errorf("plan %+v", p)
	}

	// A server-level stop ends every level.
	stop := compileTOML(t, `
[[rules]]
conditions = [{ if = "all" }]
actions = [{ do = "stop" }]
`)
	p = Evaluate(context.Background(), []Stage{{LevelServer, stop}, {LevelAccount, account}}, msg(sample), baseCtx())
	if len(p.Matched) != 1 || p.Folder != "" {
		t.Errorf("stop at server level: %+v", p)
	}
}

// The seed's example: "Where From: message header matches navy, Move to
// Navy Project".
func TestSeedNavyRule(t *testing.T) {
	t.Parallel()
	p := eval(t, `
[[rules]]
title = "navy project"
[[rules.conditions]]
if = "from"
contains = "navy"
[[rules.actions]]
do = "move"
folder = "Navy Project"
`, nil)
	if p.Folder != "Navy Project" {
		t.Errorf("folder %q", p.Folder)
	}
}

func TestForwarder(t *testing.T) {
	t.Parallel()
	doc := `
[forwarder]
to = ["a@example.net", "b@example.net"]
keep_copy = %s
[[rules]]
conditions = [{ if = "all" }]
actions = [{ do = "forward", to = "A@example.net" }]
`
	p := eval(t, strings.Replace(doc, "%s", "false", 1), nil)
	if !reflect.DeepEqual(p.Forward, []string{"A@example.net", "b@example.net"}) || !p.NoLocalCopy {
		t.Errorf("plan %+v", p)
	}
	p = eval(t, strings.Replace(doc, "%s", "true", 1), nil)
	if len(p.Forward) != 2 || p.NoLocalCopy {
		t.Errorf("keep copy: %+v", p)
	}
	// A rejected message is not forwarded.
	p = eval(t, "[forwarder]\nto = [\"a@example.net\"]\n[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"quarantine\" }]\n", nil)
	if p.Forward != nil || p.NoLocalCopy {
		t.Errorf("quarantined but forwarded: %+v", p)
	}
}

func TestLoopDetection(t *testing.T) {
	t.Parallel()
	doc := "[forwarder]\nto = [\"a@example.net\"]\n[responder]\nmode = \"always\"\ntext = \"away\"\n"
	looped := msg(HopHeader + ": 5\n" + sample)
	p := Evaluate(context.Background(), []Stage{{LevelAccount, compileTOML(t, doc)}}, looped, baseCtx())
	if !p.Loop || p.Forward != nil || p.Reply != nil || p.NoLocalCopy || len(p.Notes) == 0 {
		t.Errorf("loop not stopped: %+v", p)
	}
	ok := msg(HopHeader + ": 2\n" + sample)
	p = Evaluate(context.Background(), []Stage{{LevelAccount, compileTOML(t, doc)}}, ok, baseCtx())
	if p.Loop || len(p.Forward) != 1 || p.Hops != 3 {
		t.Errorf("hop 2: %+v", p)
	}
	var many strings.Builder
	for range MaxReceived + 1 {
		many.WriteString("Received: from a by b\n")
	}
	p = Evaluate(context.Background(), []Stage{{LevelAccount, compileTOML(t, doc)}}, msg(many.String()+sample), baseCtx())
	if !p.Loop {
		t.Error("Received count not a loop")
	}
}
