#!/usr/bin/env python3
"""Interop client for Floe's IMAP server: Python's imaplib (and smtplib to
deliver a message while an IDLE command runs).

Prints one JSON object on its last line with what the server answered; the Go
test (imap_test.go) makes the assertions.

  imapclient.py session starttls|ssl HOST PORT USER PASS SMTPPORT TOK1 TOKAPPEND TOKIDLE
  imapclient.py login starttls|ssl HOST PORT USER PASS

The session run expects INBOX to hold exactly three messages, the second one
carrying TOK1.
"""
import imaplib
import json
import smtplib
import ssl
import sys
import time


def tls_context():
    # The test server uses a generated self-signed certificate.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def s(x):
    """Flattens an imaplib response into a str."""
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, (list, tuple)):
        return "".join(s(i) for i in x if i is not None)
    return str(x)


def connect(mode, host, port):
    out = {}
    if mode == "ssl":
        m = imaplib.IMAP4_SSL(host, int(port), ssl_context=tls_context(), timeout=30)
    else:
        m = imaplib.IMAP4(host, int(port), timeout=30)
        out["caps_before_tls"] = sorted(m.capabilities)
        typ, data = m.starttls(ssl_context=tls_context())
        out["starttls"] = typ
    out["caps"] = sorted(m.capabilities)
    return m, out


def login(mode, host, port, user, password):
    m, out = connect(mode, host, port)
    try:
        typ, data = m.login(user, password)
        out["login"] = typ + " " + s(data)
    except imaplib.IMAP4.error as e:
        out["login"] = "NO " + s(e.args[0])
    m.shutdown()
    return out


def session(mode, host, port, user, password, smtp_port, tok1, tok_append, tok_idle):
    m, out = connect(mode, host, port)
    typ, data = m.login(user, password)
    out["login"] = typ
    typ, data = m.list()
    out["list"] = [s(l) for l in data]

    typ, data = m.select("INBOX")
    out["select"] = typ + " " + s(data)
    out["search_all"] = s(m.search(None, "ALL")[1])
    out["search_unseen"] = s(m.search(None, "UNSEEN")[1])
    out["search_text"] = s(m.search(None, "TEXT", tok1)[1])

    typ, data = m.fetch("1", "(RFC822)")
    out["fetch_rfc822"] = s(data[0][1])
    typ, data = m.fetch("2", "(BODY.PEEK[HEADER])")
    out["fetch_header"] = s(data[0][1])
    typ, data = m.fetch("1", "(BODYSTRUCTURE)")
    out["fetch_bodystructure"] = s(data)
    typ, data = m.fetch("1:3", "(FLAGS)")
    out["fetch_flags"] = [s(l) for l in data]

    typ, data = m.store("3", "+FLAGS", "(\\Seen)")
    out["store"] = [s(l) for l in data]
    out["search_unseen_after"] = s(m.search(None, "UNSEEN")[1])

    msg = (
        "From: <py@remote.test>\r\nTo: <%s>\r\nSubject: appended %s\r\n"
        "Message-ID: <%s@imaplib.interop.test>\r\n\r\nAppended by imaplib.\r\nToken: %s\r\n"
        % (user, tok_append, tok_append, tok_append)
    )
    typ, data = m.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(time.time()), msg.encode())
    out["append"] = typ + " " + s(data)
    out["append_raw"] = msg

    typ, data = m.create("Saved/2024")
    out["create"] = typ + " " + s(data)
    typ, data = m.copy("2", "Saved/2024")
    out["copy"] = typ + " " + s(data)

    typ, data = m.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    typ, data = m.expunge()
    out["expunge"] = typ + " " + s(data)

    # IDLE by hand (imaplib of Python 3.11 has no helper): RFC 9051 6.3.13.
    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    out["idle_cont"] = s(m.readline()).strip()
    body = (
        "From: <py@remote.test>\r\nTo: <%s>\r\nSubject: idle %s\r\n"
        "Message-ID: <%s@imaplib.interop.test>\r\n\r\nDelivered during IDLE.\r\nToken: %s\r\n"
        % (user, tok_idle, tok_idle, tok_idle)
    )
    with smtplib.SMTP(host, int(smtp_port), timeout=30) as smtp:
        smtp.sendmail("py@remote.test", [user], body.encode())
    m.sock.settimeout(30)
    pushed = []
    while True:
        line = s(m.readline()).strip()
        if not line:
            raise RuntimeError("connection closed during IDLE")
        pushed.append(line)
        if line.endswith("EXISTS"):
            break
    out["idle_pushed"] = pushed
    m.send(b"DONE\r\n")
    while True:
        line = s(m.readline()).strip()
        if not line:
            raise RuntimeError("connection closed after DONE")
        if line.startswith(tag + " "):
            out["idle_done"] = line
            break
    typ, data = m.fetch("*", "(BODY.PEEK[TEXT])")
    out["fetch_idle"] = s(data[0][1])

    typ, data = m.logout()
    out["logout"] = typ + " " + s(data)
    return out


def main(argv):
    kind, args = argv[1], argv[2:]
    res = session(*args) if kind == "session" else login(*args)
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv)
