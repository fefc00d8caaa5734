#!/usr/bin/env python3
"""Interop clients for Floe's test suite: Python's smtplib and poplib.

Prints one JSON object on its last line with the server's replies; the Go
test (interop_test.go) makes the assertions.

  clients.py smtp starttls|ssl HOST PORT USER PASS PLAIN|LOGIN FROM TO TOKEN
  clients.py pop3 stls|ssl HOST PORT USER PASS keep|dele1
"""
import json
import poplib
import smtplib
import ssl
import sys


def tls_context():
    # The test server uses a generated self-signed certificate.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def reply(code, msg):
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    return "%d %s" % (code, msg)


def smtp(mode, host, port, user, password, mech, sender, rcpt, token):
    out = {}
    if mode == "ssl":
        s = smtplib.SMTP_SSL(host, int(port), timeout=30, context=tls_context())
        s.ehlo("smtplib.interop.test")
    else:
        s = smtplib.SMTP(host, int(port), timeout=30)
        s.ehlo("smtplib.interop.test")
        out["starttls"] = reply(*s.starttls(context=tls_context()))
        s.ehlo("smtplib.interop.test")
    out["ehlo_auth"] = s.esmtp_features.get("auth", "")
    s.user, s.password = user, password
    obj = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login}[mech]
    try:
        out["auth"] = reply(*s.auth(mech, obj))
    except smtplib.SMTPAuthenticationError as e:
        out["auth"] = reply(e.smtp_code, e.smtp_error)
        s.quit()
        return out
    msg = (
        "From: <%s>\r\nTo: <%s>\r\nSubject: smtplib %s\r\n"
        "Message-ID: <%s@smtplib.interop.test>\r\n\r\n"
        "Hello from smtplib.\r\nToken: %s\r\n" % (sender, rcpt, token, token, token)
    )
    out["mail"] = reply(*s.mail(sender))
    out["rcpt"] = reply(*s.rcpt(rcpt))
    out["data"] = reply(*s.data(msg.encode()))
    out["quit"] = reply(*s.quit())
    return out


def text(lines):
    return "".join(l.decode("latin-1") + "\r\n" for l in lines)


def pop3(mode, host, port, user, password, action):
    out = {}
    if mode == "ssl":
        p = poplib.POP3_SSL(host, int(port), timeout=30, context=tls_context())
    else:
        p = poplib.POP3(host, int(port), timeout=30)
        out["capa"] = sorted(p.capa().keys())
        out["stls"] = p.stls(context=tls_context()).decode()
    out["greeting"] = p.getwelcome().decode()
    try:
        p.user(user)
        out["pass"] = p.pass_(password).decode()
    except poplib.error_proto as e:
        out["error"] = e.args[0].decode() if isinstance(e.args[0], bytes) else str(e.args[0])
        p.close()
        return out
    count, size = p.stat()
    out["stat"] = "%d %d" % (count, size)
    out["list"] = [l.decode() for l in p.list()[1]]
    out["uidl"] = [l.decode() for l in p.uidl()[1]]
    out["retr"] = text(p.retr(1)[1])
    out["top"] = text(p.top(2, 0)[1])
    if action == "dele1":
        out["dele"] = p.dele(1).decode()
    out["quit"] = p.quit().decode()
    return out


def main(argv):
    kind, args = argv[1], argv[2:]
    res = smtp(*args) if kind == "smtp" else pop3(*args)
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv)
