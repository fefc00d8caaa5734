package imap

import (
	"strings"
	"testing"

	"github.com/floemail/floe/storage"
)

func TestAppendEnvelope(t *testing.T) {
	alice := storage.Address{Name: "Alice", Mailbox: "alice", Host: "example.test"}
	tests := []struct {
		name string
		env  storage.Envelope
		utf8 bool
		want string
	}{
		{"empty", storage.Envelope{}, false, `(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)`},
		{"defaults", storage.Envelope{
			RawDate: "Mon, 7 Feb 1994 21:52:25 -0800", Subject: `say "hi" \o/`,
			From:      []storage.Address{alice},
			To:        []storage.Address{{Mailbox: "bob", Host: "example.test"}},
			InReplyTo: "<a@b>", MessageID: "<m@example.test>",
		}, false,
			`("Mon, 7 Feb 1994 21:52:25 -0800" "say \"hi\" \\o/" (("Alice" NIL "alice" "example.test")) ` +
				`(("Alice" NIL "alice" "example.test")) (("Alice" NIL "alice" "example.test")) ` +
				`((NIL NIL "bob" "example.test")) NIL NIL "<a@b>" "<m@example.test>")`},
		{"sender and group", storage.Envelope{
			From:    []storage.Address{alice},
			Sender:  []storage.Address{{Mailbox: "s", Host: "h"}},
			ReplyTo: []storage.Address{{Mailbox: "r", Host: "h"}},
			Cc:      []storage.Address{{Mailbox: "team"}, {Mailbox: "x", Host: "h"}, {}},
		}, false,
			`(NIL NIL (("Alice" NIL "alice" "example.test")) ((NIL NIL "s" "h")) ((NIL NIL "r" "h")) NIL ` +
				`((NIL NIL "team" NIL)(NIL NIL "x" "h")(NIL NIL NIL NIL)) NIL NIL NIL)`},
		{"utf8 encoded-words", storage.Envelope{Subject: "Grüße", From: []storage.Address{{Name: "Zoë", Mailbox: "z", Host: "h"}}}, false,
			`(NIL "=?utf-8?b?R3LDvMOfZQ==?=" (("=?utf-8?b?Wm/Dqw==?=" NIL "z" "h")) (("=?utf-8?b?Wm/Dqw==?=" NIL "z" "h")) ` +
				`(("=?utf-8?b?Wm/Dqw==?=" NIL "z" "h")) NIL NIL NIL NIL NIL)`},
		{"utf8 accepted", storage.Envelope{Subject: "Grüße"}, true, `(NIL "Grüße" NIL NIL NIL NIL NIL NIL NIL NIL)`},
		{"source route", storage.Envelope{From: []storage.Address{{Mailbox: "user", Host: "domain", Route: "@route"}}}, false,
			`(NIL NIL ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) NIL NIL NIL NIL NIL)`},
		{"literal for CR", storage.Envelope{Subject: "a\r\nb"}, false, "(NIL {4}\r\na\r\nb NIL NIL NIL NIL NIL NIL NIL NIL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendEnvelope(nil, &tt.env, tt.utf8))
			if got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestHeaderTextLong(t *testing.T) {
	s := strings.Repeat("é", 100)
	enc := headerText(s, false)
	for _, w := range strings.Fields(enc) {
		if len(w) > 75 {
			t.Fatalf("encoded-word longer than 75: %q", w)
		}
	}
	if !asciiOnly(enc) {
		t.Fatal("not ASCII")
	}
}

func TestAppendBodyStructure(t *testing.T) {
	p := parseMsg(t, nestedMsg)
	got := string(appendBodyStructure(nil, &p.Structure, true, false))
	want := `(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 0 NIL NIL NIL NIL)` +
		`("APPLICATION" "OCTET-STREAM" ("NAME" "a.bin") NIL NIL "BASE64" 16 NIL ("ATTACHMENT" ("FILENAME" "a.bin")) NIL NIL)` +
		`("MESSAGE" "RFC822" NIL NIL NIL "7BIT" `
	if !strings.HasPrefix(got, want) {
		t.Fatalf("got\n%s\nwant prefix\n%s", got, want)
	}
	wantEnd := `"MIXED" ("BOUNDARY" "outer") NIL NIL NIL)`
	if !strings.HasSuffix(got, wantEnd) {
		t.Fatalf("got\n%s\nwant suffix\n%s", got, wantEnd)
	}
	if !strings.Contains(got, `(NIL "inner" (("Carol" NIL "carol" "example.test"))`) {
		t.Fatalf("no encapsulated envelope: %s", got)
	}
	// BODY has no extension data.
	body := string(appendBodyStructure(nil, &p.Structure, false, false))
	if strings.Contains(body, "ATTACHMENT") || !strings.HasSuffix(body, `"MIXED")`) {
		t.Fatalf("BODY: %s", body)
	}
	// Single part with defaults.
	single := parseMsg(t, "Subject: x\r\n\r\nhello\r\nworld\r\n")
	if got := string(appendBodyStructure(nil, &single.Structure, false, false)); got != `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 14 2)` {
		t.Fatalf("single: %s", got)
	}
}
