package smtp

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

func TestHeaderFromAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg string
		want      []string
	}{
		{"plain", "From: alice@Example.TEST\r\nTo: x@y\r\n\r\nFrom: body@example.test\r\n", []string{"alice@example.test"}},
		{"display name", "Subject: s\r\nFrom: \"Bob B.\" <bob@example.test>\r\n\r\n", []string{"bob@example.test"}},
		{"folded", "From: Carol\r\n <carol@example.test>\r\nTo: x@y\r\n\r\n", []string{"carol@example.test"}},
		{"several", "From: a@example.test, B <b@second.test>\r\n\r\n", []string{"a@example.test", "b@second.test"}},
		{"two fields", "From: a@example.test\r\nfrom : b@example.test\r\n\r\n", []string{"a@example.test", "b@example.test"}},
		{"group", "From: team: a@example.test;\r\n\r\n", []string{"a@example.test"}},
		{"bare LF", "From: a@example.test\nTo: x@y\n\nbody\n", []string{"a@example.test"}},
		{"no domain", "From: nobody\r\n\r\n", nil},
		{"none", "To: x@y\r\n\r\nFrom: a@example.test\r\n", nil},
		{"not From", "X-From: a@example.test\r\nFromage: b@example.test\r\n\r\n", nil},
		{"no body", "From: a@example.test", []string{"a@example.test"}},
	}
	for _, tc := range tests {
		if got := headerFromAddresses(strings.NewReader(tc.msg)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzHeaderFromAddresses(f *testing.F) {
	for _, s := range []string{"From: alice@example.test\r\n\r\n", "From: \"B\" <b@x.y>,\r\n c@d.e\r\nTo: z\r\n\r\nbody",
		"From: g: a@b, c@d;\r\n\r\n", "From:\r\n\r\n", "\r\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, a := range headerFromAddresses(strings.NewReader(in)) {
			if !strings.Contains(a, "@") || strings.HasPrefix(a, "@") || strings.HasSuffix(a, "@") {
				t.Fatalf("%q: not an address", a)
			}
		}
	})
}

// TestSubmissionFromHeader: on submission, an address of a local domain in
// the From header must be one the account may send as (the envelope
// sender's rule); otherwise 553 5.7.1, as outbound mail is DKIM-signed for
// the From's domain and a forged colleague would pass DMARC. Other domains'
// addresses, the account's own, its aliases', +tags and send-as grants
// pass.
func TestSubmissionFromHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial(Submission)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
		t.Fatal(err)
	}
	msg := func(from string) string {
		return "From: " + from + "\r\nTo: bob@example.test\r\nSubject: s\r\n\r\nx\r\n"
	}
	for _, from := range []string{"alice@example.test", `"Alice" <ALICE@Example.Test>`, "alice+news@example.test",
		"postmaster@example.test", "someone@remote.test", "Alice <alice@example.test>, other@remote.test"} {
		if err := send(c, "alice@example.test", []string{"bob@example.test"}, msg(from)); err != nil {
			t.Errorf("From: %s refused: %v", from, err)
		}
	}
	for _, from := range []string{"bob@example.test", "Bob <bob@example.test>", "alice@example.test,\r\n bob@example.test",
		"dan@second.test", "nobody@example.test"} {
		err := send(c, "alice@example.test", []string{"bob@example.test"}, msg(from))
		wantCode(t, err, 553, gosmtp.EnhancedCode{5, 7, 1})
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	if msgs, _ := e.inbox("bob@example.test"); len(msgs) != 6 {
		t.Errorf("bob got %d messages, want the 6 accepted", len(msgs))
	}
	if err := e.store.SetSendAs(context.Background(), e.ids["alice@example.test"], "bob@example.test", true); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "alice@example.test", []string{"bob@example.test"}, msg("Bob <bob@example.test>")); err != nil {
		t.Errorf("From: bob with a send-as grant refused: %v", err)
	}
}
