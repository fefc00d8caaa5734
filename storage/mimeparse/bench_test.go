package mimeparse

import (
	"fmt"
	"strings"
	"testing"
)

// smallMessage is a typical ~5 KB newsletter-like message: trace and
// authentication headers, multipart/alternative with QP text and HTML.
func smallMessage() string {
	var b strings.Builder
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&b, "Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d])\n\tby mx.example.com (Floe) with ESMTPS id 4F2A1C00%d\n\tfor <bob@example.com>; Mon, 12 Feb 2024 10:00:0%d +0000\n", i, i, i, i, i)
	}
	b.WriteString(`DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example; s=s1;
	h=from:to:subject:date:message-id:mime-version:content-type;
	bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
	b=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR
	 dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR
Authentication-Results: mx.example.com; dkim=pass header.d=shop.example; spf=pass
From: "Shop" <news@shop.example>
To: Bob Example <bob@example.com>
Subject: =?UTF-8?Q?Wochenangebote_=E2=80=93_Re:_50_%?=
Date: Tue, 13 Feb 2024 08:00:00 +0000
Message-ID: <alt-1@shop.example>
References: <a@b> <c@d>
List-Unsubscribe: <mailto:unsubscribe@shop.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="----=_Part_1_2024"

------=_Part_1_2024
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

`)
	for i := 0; i < 16; i++ {
		b.WriteString("Gro=C3=9Fe Rabatte diese Woche auf alles, was Sie schon immer haben wollten=\n.\n")
	}
	b.WriteString("------=_Part_1_2024\nContent-Type: text/html; charset=UTF-8\n\n<html><body>\n")
	for i := 0; i < 22; i++ {
		b.WriteString("<p>Gro&szlig;e Rabatte <b>diese Woche</b> auf <a href=\"https://shop.example/x\">alles</a>.</p>\n")
	}
	b.WriteString("</body></html>\n------=_Part_1_2024--\n")
	return crlf(b.String())
}

func BenchmarkParseSmall(b *testing.B) {
	raw := smallMessage()
	r := strings.NewReader(raw)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(r, int64(len(raw))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLarge(b *testing.B) {
	raw := largeMessage(10 << 20)
	r := strings.NewReader(raw)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(r, int64(len(raw))); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSmallMessageShape(t *testing.T) {
	raw := smallMessage()
	if len(raw) < 4500 || len(raw) > 6500 {
		t.Errorf("small message is %d bytes", len(raw))
	}
	p := parseString(t, raw)
	eq(t, "children", len(p.Structure.Children), 2)
	eq(t, "base subject", p.BaseSubject, "Wochenangebote – Re: 50 %")
}
