package rules

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const navyTOML = `# the seed's example
[[rules]]
title = "navy project"
conditions = [
  { if = "from", contains = "navy" },
]
actions = [
  { do = "move", folder = "Navy Project" },
]

[forwarder]
to = ["boss@example.net"]
keep_copy = true

[responder]
mode = "once"
from_date = "2018/06/18"
to_date = "2018-06-22"
exclude = ["brad.thompson@x1solar"]
from = "mike.sparrow@x1solar.com"
subject = "Re: %%Subject%%"
text = "Dear %%From_Name%%, I will be on vacation."
`

const navyJSON = `{
  "rules": [
    {
      "title": "navy project",
      "conditions": [{"if": "from", "contains": "navy"}],
      "actions": [{"do": "move", "folder": "Navy Project"}]
    }
  ],
  "forwarder": {"to": ["boss@example.net"], "keep_copy": true},
  "responder": {
    "mode": "once", "from_date": "2018/06/18", "to_date": "2018-06-22",
    "exclude": ["brad.thompson@x1solar"], "from": "mike.sparrow@x1solar.com",
    "subject": "Re: %%Subject%%", "text": "Dear %%From_Name%%, I will be on vacation."
  }
}`

func TestParseSameSchema(t *testing.T) {
	t.Parallel()
	a, _, err := ParseTOML("a.toml", []byte(navyTOML))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Parse("b.json", []byte(navyJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("TOML and JSON differ:\n%+v\n%+v", a, b)
	}
	// Round trips through both encodings.
	for _, enc := range []func(*Settings) ([]byte, error){MarshalTOML, MarshalJSON} {
		out, err := enc(a)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := Parse("out", out)
		if err != nil {
			t.Fatalf("re-parse:\n%s\n%v", out, err)
		}
		if !reflect.DeepEqual(a, c) {
			t.Errorf("round trip differs:\n%s", out)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		want      []string // "line: key: reason substring"
	}{
		{"unknown key", "[[rules]]\ntitel = \"x\"\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"stop\" }]\n",
			[]string{`f:2: rules[0].titel: unknown key "titel" (did you mean "title"?)`}},
		{"bad regex", "[[rules]]\nconditions = [\n  { if = \"subject\", regex = \"(a\" },\n]\nactions = [{ do = \"stop\" }]\n",
			[]string{"f:3: rules[0].conditions[0].regex: invalid regular expression: missing closing ): `(a`"}},
		{"bad regex, whole word", "[[rules]]\nconditions = [{ if = \"subject\", regex = \"(b\", whole_word = true }]\nactions = [{ do = \"stop\" }]\n",
			[]string{"f:2: rules[0].conditions[0].regex: invalid regular expression: missing closing ): `(b`"}},
		{"unknown condition", "[[rules]]\nconditions = [{ if = \"color\" }]\nactions = [{ do = \"stop\" }]\n",
			[]string{`f:2: rules[0].conditions[0].if: unknown condition "color"`}},
		{"unknown action", "[[rules]]\nconditions = [{ if = \"all\" }]\n\nactions = [{ do = \"explode\" }]\n",
			[]string{`f:4: rules[0].actions[0].do: unknown action "explode"`}},
		{"sms forward", "[[rules]]\nconditions = [{ if = \"all\" }]\n[[rules.actions]]\ndo = \"forward\"\nto = \"sms:0123456789\"\n",
			[]string{`f:5: rules[0].actions[0].to: forwarding to sms targets is not supported`}},
		{"xmpp forwarder", "[forwarder]\nto = [\"xmpp:bruce@example.com\"]\n",
			[]string{`f:2: forwarder.to[0]: forwarding to xmpp targets is not supported`}},
		{"wrong type", "[[rules]]\nactive = \"yes\"\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"stop\" }]\n",
			[]string{`f:2: rules[0].active: expected true or false, got a string`}},
		{"no conditions", "[[rules]]\ntitle = \"x\"\nactions = [{ do = \"stop\" }]\n",
			[]string{`f:1: rules[0].conditions: a rule needs at least one condition`}},
		{"string test missing", "[[rules]]\nconditions = [{ if = \"from\" }]\nactions = [{ do = \"stop\" }]\n",
			[]string{`f:2: rules[0].conditions[0]: needs a string test`}},
		{"string test on flag", "[[rules]]\nconditions = [{ if = \"spam\", contains = \"x\" }]\nactions = [{ do = \"stop\" }]\n",
			[]string{`takes no string test`}},
		{"param of other action", "[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"stop\", folder = \"x\" }]\n",
			[]string{`f:3: rules[0].actions[0].folder: action "stop" takes no "folder"`}},
		{"protected header", "[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"delete_header\", header = \"Content-Type\" }]\n",
			[]string{`cannot be changed by rules`}},
		{"bad flag", "[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"flags\", flags = ['\\Recent'] }]\n",
			[]string{`rules[0].actions[0].flags[0]: "\\Recent": system flags are`}},
		{"bad hours", "[[rules]]\nconditions = [{ if = \"local_time\", hours = \"9-5\" }]\nactions = [{ do = \"stop\" }]\n",
			[]string{`rules[0].conditions[0].hours: hours must be`}},
		{"bad responder", "[responder]\nmode = \"sometimes\"\n",
			[]string{`f:2: responder.mode: mode must be`, `responder.text: needs the text`}},
		{"again after days", "[responder]\nmode = \"again_after\"\ntext = \"x\"\n",
			[]string{`responder.again_after_days: needs a number of days`}},
		{"toml date value", "[responder]\nmode = \"once\"\ntext = \"x\"\nfrom_date = 2018-06-18\n",
			[]string{`f:4: responder.from_date: expected a string, got a date/time`}},
		{"other account's folder", "[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"move\", folder = \"~jane@example.test/Team\" }]\n",
			[]string{`f:3: rules[0].actions[0].folder: "~jane@example.test/Team": names starting with ~ or # are other accounts' and public folders`}},
		{"public folder", "[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"copy\", folder = \"#public/Support\" }]\n",
			[]string{`f:3: rules[0].actions[0].folder: "#public/Support": names starting with ~ or #`}},
		{"syntax", "[[rules]\n", []string{`f:1: `}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Load("f", []byte(tc.doc), Options{})
			var es *Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %v, want *Errors", err)
			}
			got := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors:\n%s\nwant one containing %q", got, w)
				}
			}
		})
	}
}

func TestParseJSONErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ doc, want string }{
		{"{\n  \"rules\": [\n    {\"title\": 1, \"conditions\": [{\"if\": \"all\"}], \"actions\": [{\"do\": \"stop\"}]}\n  ]\n}",
			`j:3: rules[0].title: expected a string, got a number`},
		{"{\n\"rules\": [{\"conditions\": [{\"if\": \"all\"}],\n \"actions\": [{\"do\": \"move\"}]}]}",
			`j:3: rules[0].actions[0].folder: needs "folder"`},
		{"{\n\"rules\": [\n", `j:3: invalid JSON`},
		{"{\"a\": 1, \"a\": 2}", `duplicate key "a"`},
		{"[1]", `invalid JSON`},
		{"{} {}", `data after the object`},
		{strings.Repeat("{\"a\":", 40) + "1" + strings.Repeat("}", 40), `nested too deeply`},
	}
	for _, tc := range tests {
		s, src, err := ParseJSON("j", []byte(tc.doc))
		if err == nil {
			_, err = Compile(s, src, Options{})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func TestDecodeWithPrefix(t *testing.T) {
	t.Parallel()
	lines := map[string]int{"domain[0].rules[0].conditions[0].regex": 12}
	src := Source{File: "floe.toml", Prefix: "domain[0].", Line: func(p string) int { return lines[p] }}
	rs, err := DecodeRules([]any{map[string]any{
		"conditions": []any{map[string]any{"if": "subject", "regex": "("}},
		"actions":    []any{map[string]any{"do": "stop"}},
	}}, src)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(&Settings{Rules: rs}, src, Options{})
	if err == nil || !strings.Contains(err.Error(), "floe.toml:12: domain[0].rules[0].conditions[0].regex: invalid") {
		t.Errorf("error %v", err)
	}
}
