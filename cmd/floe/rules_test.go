package main

import (
	"context"
	"strings"
	"testing"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/delivery"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/sqlite"
)

const navyRules = `[[rules]]
title = "navy project"
conditions = [{ if = "from", contains = "navy" }]
actions = [{ do = "move", folder = "Navy Project" }]

[[rules]]
title = "hold invoices"
conditions = [{ if = "subject", contains = "invoice" }]
actions = [{ do = "quarantine" }]
`

const navyEML = "From: Navy Office <navy@fleet.example>\nTo: alice@example.com\nSubject: ship\n\nThe ship leaves.\n"

func TestRulesCommands(t *testing.T) {
	file, _ := writeConfig(t, nil, `[[rules]]
title = "server tag"
conditions = [{ if = "all" }]
actions = [{ do = "add_header", header = "X-Seen", value = "yes" }]
`)
	c := func(args ...string) []string { return append(args, "--config", file) }
	floe(t, "pw-alice-long-enough\n", c("account", "add", "alice@example.com", "--password-stdin")...).expect(t, 0, "added")

	floe(t, navyRules, c("rules", "add", "alice@example.com")...).expect(t, 0, "Added 2 rule(s)")
	r := floe(t, "", c("rules", "list", "alice@example.com")...)
	r.expect(t, 0, "navy project")
	for _, want := range []string{"server tag", "1  navy project", "2  hold invoices", `if from contains "navy"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}

	// A bad rule is refused with its line and reason; nothing changes.
	floe(t, "[[rules]]\nconditions = [\n  { if = \"subject\", regex = \"(\" },\n]\nactions = [{ do = \"stop\" }]\n",
		c("rules", "add", "alice@example.com")...).expectErr(t, 1, "<stdin>:3: rules[0].conditions[0].regex: invalid regular expression")

	floe(t, "", c("rules", "move", "alice@example.com", "2", "1")...).expect(t, 0, "to position 1")
	r = floe(t, "", c("rules", "export", "alice@example.com")...)
	r.expect(t, 0, "hold invoices")
	if strings.Index(r.stdout, "hold invoices") > strings.Index(r.stdout, "navy project") {
		t.Errorf("move not applied:\n%s", r.stdout)
	}
	floe(t, "", c("rules", "export", "alice@example.com", "--format", "json")...).expect(t, 0, `"title": "hold invoices"`)

	// rules test: the seed's navy rule, nothing changed.
	r = floe(t, navyEML, c("rules", "test", "alice@example.com", "--from", "navy@fleet.example", "--ip", "198.51.100.7")...)
	r.expect(t, 0, `matched: account rule 2 "navy project"`)
	for _, want := range []string{`matched: server rule 1 "server tag"`, "file into: Navy Project", "header: add_header X-Seen yes", "(nothing was changed)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("test output lacks %q:\n%s", want, r.stdout)
		}
	}
	// "scope" means nothing in an account's document: refused.
	floe(t, "[[rules]]\nscope = \"example.com\"\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"stop\" }]\n",
		c("rules", "add", "alice@example.com")...).expectErr(t, 1, "<stdin>:2: rules[0].scope: scope belongs to [[rules]] in the config file")
	// An rdns condition sees the name given with --rdns.
	floe(t, "[[rules]]\ntitle = \"dynamic\"\nconditions = [{ if = \"rdns\", ends_with = \".dyn.example\" }]\nactions = [{ do = \"spam\" }]\n",
		c("rules", "add", "alice@example.com")...).expect(t, 0, "Added 1 rule(s)")
	r = floe(t, navyEML, c("rules", "test", "alice@example.com", "--ip", "198.51.100.7", "--rdns", "host-7.dyn.example.")...)
	r.expect(t, 0, `matched: account rule 3 "dynamic"`)
	floe(t, navyEML, c("rules", "test", "alice@example.com", "--ip", "198.51.100.7")...).expect(t, 0, "file into: Navy Project")
	floe(t, "", c("rules", "del", "alice@example.com", "3")...).expect(t, 0, `Deleted rule 3 "dynamic"`)
	floe(t, "", c("rules", "del", "alice@example.com", "2")...).expect(t, 0, `Deleted rule 2 "navy project"`)
	floe(t, "", c("rules", "del", "alice@example.com", "5")...).expectErr(t, 2, "not a rule number")

	// import replaces everything, including forwarder and responder.
	doc := `{"rules": [{"title": "reject navy", "conditions": [{"if": "from", "contains": "navy"}], "actions": [{"do": "reject", "text": "No navy"}]}],
"forwarder": {"to": ["alice@elsewhere.example"], "keep_copy": true},
"responder": {"mode": "once", "text": "Away"}}`
	floe(t, doc, c("rules", "import", "alice@example.com")...).expect(t, 0, "Imported 1 rule(s), a forwarder, a responder")
	r = floe(t, navyEML, c("rules", "test", "alice@example.com", "--from", "navy@fleet.example")...)
	r.expect(t, 0, "SMTP on port 25 would answer: 550 5.7.1 No navy")
	floe(t, "", c("rules", "list", "alice@example.com")...).expect(t, 0, "Forwarder: to alice@elsewhere.example, keep a copy: true")
	floe(t, "{\"forwarder\": {\"to\": [\"sms:0123\"]}}", c("rules", "import", "alice@example.com")...).
		expectErr(t, 1, "forwarder.to[0]: forwarding to sms targets is not supported")
	floe(t, "", c("rules", "list", "nobody@example.com")...).expectErr(t, 1, "no account nobody@example.com")
}

func TestQuarantineCommands(t *testing.T) {
	file, dataDir := writeConfig(t, nil, "")
	c := func(args ...string) []string { return append(args, "--config", file) }
	floe(t, "pw-alice-long-enough\n", c("account", "add", "alice@example.com", "--password-stdin")...).expect(t, 0, "added")
	floe(t, navyRules, c("rules", "add", "alice@example.com")...).expect(t, 0, "Added")
	floe(t, "", c("quarantine", "list")...).expect(t, 0, "The quarantine is empty.")

	// A message held by the rule, delivered as the server does.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dataDir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadTestConfig(t, file)
	d := delivery.New(delivery.Options{Store: st, Config: func() *config.Config { return cfg }})
	ref, err := ingest.Spool(ctx, st, strings.NewReader("From: billing@shop.example\r\nSubject: your invoice\r\n\r\npay\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Resolve(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Deliver(ctx, &delivery.Message{Blob: ref, From: "billing@shop.example", Recipients: []delivery.Recipient{r}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	inbox, _ := st.Mailbox(ctx, r.Account, "INBOX")
	st.Close()

	out := floe(t, "", c("quarantine", "list")...)
	out.expect(t, 0, "billing@shop.example")
	if !strings.Contains(out.stdout, "alice@example.com") || !strings.Contains(out.stdout, "hold invoices") {
		t.Fatalf("list:\n%s", out.stdout)
	}
	floe(t, "", c("quarantine", "show", "1")...).expect(t, 0, "Subject: your invoice")
	floe(t, "", c("quarantine", "release", "1")...).expect(t, 0, "Released message 1 into the INBOX of alice@example.com")
	floe(t, "", c("quarantine", "list")...).expect(t, 0, "The quarantine is empty.")
	floe(t, "", c("quarantine", "delete", "1")...).expectErr(t, 1, "no held message 1")
	floe(t, "", c("quarantine", "show", "1")...).expectErr(t, 1, "no held message 1")
	floe(t, "", c("quarantine", "release", "1")...).expectErr(t, 1, "no held message 1")

	st, err = sqlite.Open(ctx, dataDir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.Messages(ctx, inbox.ID, storage.Query{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("released message not in INBOX: %v %v", msgs, err)
	}
}
