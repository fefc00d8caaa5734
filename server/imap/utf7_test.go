package imap

import (
	"testing"
	"unicode/utf8"
)

func TestUTF7(t *testing.T) {
	tests := []struct{ dec, enc string }{
		{"INBOX", "INBOX"},
		{"&", "&-"},
		{"a&b", "a&-b"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"😀", "&2D3eAA-"},
		{"a\tb", "a&AAk-b"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := utf7Encode(tt.dec); got != tt.enc {
			t.Errorf("utf7Encode(%q) = %q, want %q", tt.dec, got, tt.enc)
		}
		if got, err := utf7Decode(tt.enc); err != nil || got != tt.dec {
			t.Errorf("utf7Decode(%q) = %q, %v; want %q", tt.enc, got, err, tt.dec)
		}
	}
	for _, bad := range []string{
		"&", "&AGE-", "&ZeVnLIqe-&ZeVnLIqe-", "&ZeV-", "&2D0-", "&Jjo!-", "caf\xc3\xa9", "a\x01b", "&ZeVnLIq-",
	} {
		if got, err := utf7Decode(bad); err == nil {
			t.Errorf("utf7Decode(%q) = %q, want error", bad, got)
		}
	}
}

func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "Entwürfe", "&", "日本語/台北", "😀 x", "Entw&APw-rfe", "&ZeVnLIqe-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if utf8.ValidString(s) {
			enc := utf7Encode(s)
			dec, err := utf7Decode(enc)
			if err != nil || dec != s {
				t.Fatalf("round trip %q -> %q -> %q, %v", s, enc, dec, err)
			}
		}
		if dec, err := utf7Decode(s); err == nil {
			if re := utf7Encode(dec); re != s {
				t.Fatalf("decode %q -> %q does not encode back (%q)", s, dec, re)
			}
		}
	})
}
