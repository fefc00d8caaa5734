package mimeparse

// Test messages, written with LF line ends; tests run them as written and
// converted to CRLF.

const msgSimple = `Return-Path: <alice@example.org>
Received: from mail.example.org (mail.example.org [192.0.2.1])
	by mx.example.com with ESMTPS id 4F2A1C0042
	for <bob@example.com>; Mon, 12 Feb 2024 10:00:00 +0000
From: Alice Example <alice@example.org>
To: Bob <bob@example.com>
Subject: Lunch tomorrow?
Date: Mon, 12 Feb 2024 10:59:59 +0100
Message-ID: <20240212095959.1234@example.org>
MIME-Version: 1.0

Hi Bob,

shall we have lunch tomorrow?
Alice
`

const msgAlternative = `From: "Shop" <news@shop.example>
To: customer@example.com
Subject: =?UTF-8?B?V29jaGVuYW5nZWJvdGUg4oCTIDUwICU=?=
Date: Tue, 13 Feb 2024 08:00:00 +0000
Message-ID: <alt-1@shop.example>
MIME-Version: 1.0
Content-Type: multipart/alternative;
	boundary="----=_Part_1_2024"

This is a multi-part message in MIME format.

------=_Part_1_2024
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Gro=C3=9Fe Rabatte diese Woche.=20
Nur f=C3=BCr kurze Zeit: soft=
break.
------=_Part_1_2024
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: 7bit

<html><head><style>p {color: red}</style><script>var x = "<p>";</script></head>
<body><p>Gro&szlig;e Rabatte &amp; mehr</p></body></html>
------=_Part_1_2024--
`

const msgMixed = `From: Carol <carol@example.net>
To: Bob <bob@example.com>
Cc: Dave <dave@example.com>, erin@example.com
Subject: Report
Date: Wed, 14 Feb 2024 12:00:00 -0500
Message-ID: <mixed-1@example.net>
In-Reply-To: <req-7@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset=us-ascii

Hello Bob, the report is attached.

--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K
eJwr5HIK4TI2UTAwNVEwUDA3MTQyMzWwMDVVMDFQCOEqVDA0tTQ1MjIyNzcyNDUw
--outer--
`

// Forward of msgSimple-like content as message/rfc822 inside a mixed
// multipart; the forwarded message itself is multipart/alternative.
const msgForward = `From: Bob <bob@example.com>
To: Frank <frank@example.com>
Subject: Fwd: Lunch tomorrow?
Date: Thu, 15 Feb 2024 09:00:00 +0000
Message-ID: <fwd-1@example.com>
References: <20240212095959.1234@example.org>
	<reply-2@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-outer"

--fwd-outer
Content-Type: text/plain

See below.
--fwd-outer
Content-Type: message/rfc822
Content-Disposition: inline

From: Alice Example <alice@example.org>
To: Bob <bob@example.com>
Subject: Lunch tomorrow?
Date: Mon, 12 Feb 2024 10:59:59 +0100
Message-ID: <20240212095959.1234@example.org>
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9?
--inner
Content-Type: text/html; charset=utf-8

<p>Caf&eacute;?</p>
--inner--

--fwd-outer--
`

const msgGroups = `From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>
To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;
Cc: Undisclosed recipients:;
Bcc: "Joe Q. Public" <john.q.public@example.com>, (comment only), Mary Smith <@node.test:mary@example.net>
Reply-To: broken-address, <>, Named <>, user@ (Real Name)
Sender: Pete(A nice \) chap) <pete(his account)@silly.test(his host)>
Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=
 =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=
Date: 21 Nov 97 09:55:06 GMT

body
`

const msgNoHeaders = `
just a body, no header at all
`

const msgHeaderOnly = `Subject: nothing else`

const msgBrokenNoClose = `Subject: no close delimiter
Content-Type: multipart/mixed; boundary=abc

--abc
Content-Type: text/plain

first
--abc
Content-Type: text/plain

second, and then the message just ends
`

const msgBrokenNoDelimiter = `Subject: boundary never used
Content-Type: multipart/mixed; boundary=never

This body has no delimiter line.
Second line.
`

const msgBrokenNoBoundaryParam = `Subject: no boundary param
Content-Type: multipart/mixed

--x
Content-Type: text/plain

text
--x--
`

// The inner multipart is never closed: the outer delimiter ends it.
const msgBrokenNesting = `Subject: broken nesting
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

inner text
--outer
Content-Type: text/plain

second outer part
--outer--
`

const msg2231 = `Subject: RFC 2231
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/octet-stream;
 name*0*=UTF-8''%E6%97%A5%E6%9C%AC;
 name*1*=%E8%AA%9E;
 name*2=".txt"
Content-Disposition: attachment;
 filename*=iso-8859-1'de'Gr%FC%DFe.txt

data
--b
Content-Type: image/png; name="=?UTF-8?Q?Bild_=C3=BC.png?="
Content-Disposition: inline
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--b
Content-Type: text/plain; charset="us-ascii"; format=flowed (comment)
Content-Disposition: attachment

attached text
--b
Content-Type: application/x-thing; title*0="continued ";
 title*1="plain"

x
--b--
`

const msgDigest = `Subject: digest
Content-Type: multipart/digest; boundary=d

--d

Subject: first digested

one
--d
Content-Type: text/plain

not a message
--d--
`

const msgLFOnlyLines = `Subject: lines
Content-Type: multipart/mixed; boundary=L

--L
Content-Type: text/plain

a
b

c
--L
Content-Type: text/plain

--L
Content-Type: text/plain
--L--
`

// Shaped like the multipart/message test message of Dovecot's
// test-imap-bodystructure.c; its expected sizes and line counts (for CRLF
// line ends) are Dovecot's BODYSTRUCTURE output.
const msgDovecotShape = `From: user@domain.org
Date: Sat, 24 Mar 2007 23:00:00 +0200
Mime-Version: 1.0
Content-Type: multipart/mixed; boundary="foo
 bar"

Root MIME prologue

--foo bar
Content-Type: text/x-myown; charset=us-ascii; foo="quoted\"string"
Content-ID: <foo@example.com>
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Disposition: inline; foo=bar
Content-Description: hellodescription
Content-Language: en, fi, se
Content-Location: http://example.com/test.txt

hello

--foo bar
Content-Type: message/rfc822

From: sub@domain.org
Date: Sun, 12 Aug 2012 12:34:56 +0300
Subject: submsg
Content-Type: multipart/alternative; boundary="sub1"

Sub MIME prologue
--sub1
Content-Type: text/html
Content-Transfer-Encoding: 8bit

<p>Hello world</p>

--sub1
Content-Type: text/plain

Hello another world

--sub1--
Sub MIME epilogue

--foo bar--
Root MIME epilogue
`

const msgWeird = `Subject: =?utf-8?q?broken?= =?unknown-charset?q?ok?= =?utf-8?x?bad?= =?utf-8?b?8J+Y?= =?utf-8?b?gA==?=
From: no-angle-name user@example.com
To: ,,,
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: quoted-printable

Pr=E9sentation =80 10=
 =3D ok=ZZ end
`
