package imap

import (
	"testing"
)

func TestParseIMAPURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want *imapURL // nil: syntax error
	}{
		{"/INBOX/;UID=20", &imapURL{mailbox: "INBOX", uid: 20, partialLen: -1}},
		{"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER",
			&imapURL{mailbox: "Drafts", uidValidity: 385759045, uid: 20, section: "HEADER", partialLen: -1}},
		{"/a/b%20c/;uid=7/;SECTION=1.2.MIME/;PARTIAL=10.20",
			&imapURL{mailbox: "a/b c", uid: 7, section: "1.2.MIME", hasPartial: true, partialOff: 10, partialLen: 20}},
		{"/INBOX/;UID=1/;PARTIAL=0", &imapURL{mailbox: "INBOX", uid: 1, hasPartial: true, partialLen: -1}},
		{"/INBOX/;UID=1/;Section=HEADER.FIELDS%20(From%20To)",
			&imapURL{mailbox: "INBOX", uid: 1, section: "HEADER.FIELDS (From To)", partialLen: -1}},
		{"/Entw%C3%BCrfe/;UID=3", &imapURL{mailbox: "Entwürfe", uid: 3, partialLen: -1}},
		{"imap://alice@mail.example.test/INBOX/;UID=5",
			&imapURL{absolute: true, user: "alice", host: "mail.example.test", mailbox: "INBOX", uid: 5, partialLen: -1}},
		{"IMAP://Alice%40Example.Test;AUTH=*@Mail.Example.Test:143/INBOX/;UID=5",
			&imapURL{absolute: true, user: "alice@example.test", host: "mail.example.test", mailbox: "INBOX", uid: 5, partialLen: -1}},
		{"imap://localhost/INBOX/;UID=5", &imapURL{absolute: true, host: "localhost", mailbox: "INBOX", uid: 5, partialLen: -1}},

		{"", nil},
		{"INBOX/;UID=1", nil},                          // neither absolute nor "/"
		{"/INBOX", nil},                                // no UID: a mailbox, not a message
		{"/INBOX/;UID=0", nil},                         // nz-number
		{"/INBOX/;UID=01", nil},                        // no leading zero
		{"/INBOX/;UID=4294967296", nil},                // above 2^32-1
		{"/INBOX/;UID=-1", nil},                        // no sign
		{"/INBOX;UIDVALIDITY=x/;UID=1", nil},           // bad UIDVALIDITY
		{"/INBOX?SUBJECT%20x", nil},                    // a message list
		{"/INBOX/;UID=1/;URLAUTH=anonymous", nil},      // URLAUTH is not supported
		{"/INBOX/;UID=1/;PARTIAL=1.0", nil},            // length is nz-number
		{"/INBOX/;UID=1/;PARTIAL=", nil},               // empty offset
		{"/INBOX/;UID=1/;SECTION=", nil},               // empty section
		{"/IN%ZZBOX/;UID=1", nil},                      // bad escape
		{"/INBOX%/;UID=1", nil},                        // truncated escape
		{"/;UID=1", nil},                               // empty mailbox
		{"imap://host", nil},                           // no path
		{"imap:///INBOX/;UID=1", nil},                  // no host
		{"imap://host:port/INBOX/;UID=1", nil},         // bad port
		{"/INBOX/;UID=1/;SECTION=1/;PARTIAL=1/x", nil}, // trailing garbage
	}
	for _, tc := range tests {
		got, err := parseIMAPURL(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("parseIMAPURL(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseIMAPURL(%q): %v", tc.in, err)
			continue
		}
		if *got != *tc.want {
			t.Errorf("parseIMAPURL(%q) = %+v, want %+v", tc.in, *got, *tc.want)
		}
	}
}

func TestParseURLSection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		spec   string
		path   []int
		fields []string
		bad    bool
	}{
		{in: "HEADER", spec: specHeader},
		{in: "text", spec: specText},
		{in: "1", path: []int{1}},
		{in: "2.1.MIME", path: []int{2, 1}, spec: specMIME},
		{in: "HEADER.FIELDS (From To)", spec: specFields, fields: []string{"From", "To"}},
		{in: "HEADER.FIELDS.NOT(Received)", spec: specFieldsNot, fields: []string{"Received"}},
		{in: "1.HEADER.FIELDS (\"Subject\")", spec: specFields, path: []int{1}, fields: []string{"Subject"}},
		{in: "HEADER.FIELDS", bad: true},
		{in: "HEADER.FIELDS ()", bad: true},
		{in: "HEADER (From)", bad: true},
		{in: "0", bad: true},
		{in: "MIME", bad: true},
		{in: "1.BOGUS", bad: true},
	}
	for _, tc := range tests {
		sec, err := parseURLSection(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseURLSection(%q) = %+v, want an error", tc.in, sec)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseURLSection(%q): %v", tc.in, err)
			continue
		}
		if sec.Spec != tc.spec || len(sec.Path) != len(tc.path) || len(sec.Fields) != len(tc.fields) {
			t.Errorf("parseURLSection(%q) = %+v", tc.in, sec)
			continue
		}
		for i := range tc.path {
			if sec.Path[i] != tc.path[i] {
				t.Errorf("parseURLSection(%q) path %v", tc.in, sec.Path)
			}
		}
		for i := range tc.fields {
			if sec.Fields[i] != tc.fields[i] {
				t.Errorf("parseURLSection(%q) fields %v", tc.in, sec.Fields)
			}
		}
	}
}

func FuzzIMAPURL(f *testing.F) {
	for _, s := range []string{
		"/INBOX/;UID=20",
		"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME",
		"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER.FIELDS%20(From%20To)/;PARTIAL=0.1024",
		"imap://alice@mail.example.test:143/Entw%C3%BCrfe/;UID=3",
		"imap://minbari.example.org/gray-council;UIDVALIDITY=385759045/;UID=20/;PARTIAL=0.1024",
		"/INBOX?SUBJECT%20x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		u, err := parseIMAPURL(in)
		if err != nil {
			return
		}
		if u.uid == 0 || u.mailbox == "" {
			t.Fatalf("parseIMAPURL(%q) accepted %+v", in, u)
		}
		if u.section != "" {
			parseURLSection(u.section)
		}
	})
}
