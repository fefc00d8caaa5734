package smtp

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/delivery"
)

func TestReceivedHeader(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	one := []delivery.Recipient{{Address: "alice@example.test"}}
	two := append(one, delivery.Recipient{Address: "bob@example.test"})
	tests := []struct {
		name string
		in   receivedInfo
		want string
	}{
		{"plain", receivedInfo{helo: "client.example", remote: netip.MustParseAddr("192.0.2.1"), rcpts: one},
			"Received: from client.example ([192.0.2.1])\r\n\tby mx.test (Floe) with ESMTP id X\r\n\tfor <alice@example.test>;\r\n\tWed, 04 Mar 2026 05:06:07 +0100\r\n"},
		{"tls auth two rcpts", receivedInfo{helo: "[192.0.2.1]", remote: netip.MustParseAddr("192.0.2.1"), rcpts: two, auth: true,
			tls: &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}},
			"Received: from [192.0.2.1] ([192.0.2.1])\r\n\tby mx.test (Floe) with ESMTPSA id X\r\n\t(TLS 1.3 TLS_AES_128_GCM_SHA256);\r\n\tWed, 04 Mar 2026 05:06:07 +0100\r\n"},
		{"bad helo, v6, utf8", receivedInfo{helo: "evil\r\nX-Injected: 1", remote: netip.MustParseAddr("2001:db8::1"), rcpts: one, utf8: true},
			"Received: from [IPv6:2001:db8::1] ([IPv6:2001:db8::1])\r\n\tby mx.test (Floe) with UTF8SMTP id X\r\n\tfor <alice@example.test>;\r\n\tWed, 04 Mar 2026 05:06:07 +0100\r\n"},
		{"v4 in v6", receivedInfo{helo: "", remote: netip.MustParseAddr("::ffff:192.0.2.9"), auth: true},
			"Received: from [192.0.2.9] ([192.0.2.9])\r\n\tby mx.test (Floe) with ESMTPA id X;\r\n\tWed, 04 Mar 2026 05:06:07 +0100\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.hostname, tt.in.id, tt.in.now = "mx.test", "X", now
			if got := receivedHeader(tt.in); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// The Received header is one well-formed folded field whatever the client
// sends as HELO.
func FuzzReceivedHelo(f *testing.F) {
	for _, s := range []string{"client.example.test", "[192.0.2.1]", "[IPv6:::1]", "evil\r\nX: y", "a b", "[1.2.3.4", "", "ünï.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, helo string) {
		h := receivedHeader(receivedInfo{helo: helo, remote: netip.MustParseAddr("192.0.2.1"), hostname: "mx.test", id: "X", now: time.Unix(0, 0)})
		if !strings.HasPrefix(h, "Received: from ") || !strings.HasSuffix(h, "\r\n") {
			t.Fatalf("%q", h)
		}
		lines := strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n")
		for i, l := range lines {
			if strings.ContainsAny(l, "\r\n") || (i > 0 && !strings.HasPrefix(l, "\t")) || len(l) > 998 {
				t.Fatalf("bad line %q in %q", l, h)
			}
		}
		if validHelo(helo) && !strings.HasPrefix(h, "Received: from "+helo+" (") {
			t.Fatalf("valid HELO %q not used: %q", helo, h)
		}
	})
}

func TestRelayTrick(t *testing.T) {
	for in, want := range map[string]bool{
		"alice@example.test":             false,
		"alice+tag@example.test":         false,
		"alice%remote.test@example.test": true,
		"alice@remote.test@example.test": true,
		"remote!alice@example.test":      true,
		"alice@remote%x":                 false, // the domain is checked by Resolve
		"noat":                           false,
	} {
		if got := relayTrick(in); got != want {
			t.Errorf("relayTrick(%q) = %v", in, got)
		}
	}
}
