package config

import (
	"strings"
	"testing"
)

const rulesConf = `
[server]
hostname = "mail.example.org"
data_dir = "/tmp/x"

[[rules]]
title = "server"
conditions = [{ if = "all" }]
actions = [{ do = "add_header", header = "X-Seen", value = "1" }]

[[rules]]
scope = "Example.ORG"
conditions = [{ if = "from", contains = "navy" }]
actions = [{ do = "stop" }]

[[domain]]
name = "example.org"

[[domain.rules]]
conditions = [{ if = "sender_is", local = false }]
actions = [{ do = "spam" }]

[[account]]
address = "john@example.org"
disabled = true

[[account.rules]]
title = "navy project"
conditions = [{ if = "from", contains = "navy" }]
actions = [{ do = "move", folder = "Navy Project" }]

[account.forwarder]
to = ["boss@example.net"]

[account.responder]
mode = "once"
text = "away"
`

func TestRulesInConfig(t *testing.T) {
	t.Parallel()
	c, err := parse("floe.toml", []byte(rulesConf), Production())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 2 || c.Rules[1].Scope != "example.org" || len(c.Domains[0].Rules) != 1 ||
		len(c.Accounts[0].Rules) != 1 || c.Accounts[0].Forwarder == nil || c.Accounts[0].Responder.Text != "away" {
		t.Fatalf("rules %+v %+v %+v", c.Rules, c.Domains, c.Accounts)
	}
	if c.Accounts[0].Rules[0].Actions[0].Folder != "Navy Project" {
		t.Errorf("account rule %+v", c.Accounts[0].Rules[0])
	}
}

func TestRulesConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ from, to, want string }{
		{`contains = "navy" }]
actions = [{ do = "move"`, `regex = "(" }]
actions = [{ do = "move"`, `floe.toml:29: account[0].rules[0].conditions[0].regex: invalid regular expression`},
		{`to = ["boss@example.net"]`, `to = ["sms:0123"]`, `floe.toml:33: account[0].forwarder.to[0]: forwarding to sms targets is not supported`},
		{`mode = "once"`, `mode = "twice"`, `floe.toml:36: account[0].responder.mode: mode must be`},
		{`actions = [{ do = "spam" }]`, `actions = [{ do = "spam", folder = "x" }]`, `floe.toml:21: domain[0].rules[0].actions[0].folder: action "spam" takes no "folder"`},
		{`scope = "Example.ORG"`, `scope = "not a domain"`, `floe.toml:12: rules[1].scope`},
		{`title = "server"`, `titel = "server"`, `floe.toml:7: rules[0].titel: unknown key "titel" (did you mean "title"?)`},
		{`[[domain.rules]]`, "[[domain.rules]]\nscope = \"x.org\"", `domain[0].rules[0].scope: scope belongs to top-level`},
	} {
		doc := strings.Replace(rulesConf, tc.from, tc.to, 1)
		if doc == rulesConf {
			t.Fatalf("%q not in the config", tc.from)
		}
		_, err := parse("floe.toml", []byte(doc), Production())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error:\n%v\nwant %q", err, tc.want)
		}
	}
	c := Production()
	c.Filtering.TrustedNetworks = []string{"192.0.2.0/33"}
	c.Filtering.SRSSecrets = []string{"short"}
	c.Spam.RspamdURL = "127.0.0.1:11333"
	err := c.Validate()
	for _, w := range []string{"filtering.trusted_networks[0]", "filtering.srs_secrets[0]", "spam.rspamd_url"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v, want %s", err, w)
		}
	}
}
