#!/usr/bin/env python3
"""Interop client for Floe's folder sharing (RFC 4314 ACL), with Python's
imaplib: the seed's Jane and John scenario.

  sharing.py HOST PORT JANE JANEPASS JOHN JOHNPASS

Jane creates Calendar with one event and gives John Read; John lists,
selects (read-only), fetches, and fails to store, append and expunge; Jane
raises him to Write and his append works; she removes him, his next command
ends the session, and after logging in again he cannot see the folder.
Prints one JSON object on its last line; the Go test (sharing_test.go) makes
the assertions.
"""
import imaplib
import json
import ssl
import sys


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def s(x):
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, (list, tuple)):
        return "".join(s(i) for i in x if i is not None)
    return str(x)


def connect(host, port, user, password):
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=tls_context(), timeout=30)
    m.login(user, password)
    return m


def result(f, *args):
    """Runs an imaplib command and returns "TYP text" (NO/BAD as an error)."""
    try:
        typ, data = f(*args)
        return typ + " " + s(data)
    except imaplib.IMAP4.abort as e:
        return "ABORT " + s(e.args[0])
    except imaplib.IMAP4.error as e:
        return "NO " + s(e.args[0])


EVENT = (b"From: jane@example.test\r\nTo: jane@example.test\r\nSubject: Team meeting\r\n"
         b"Content-Type: text/plain\r\n\r\nTuesday at ten.\r\n")
NOTE = b"From: john@example.test\r\nSubject: From John\r\n\r\nHello.\r\n"
SHARED = "~jane@example.test/Calendar"


def main():
    host, port, jane_user, jane_pw, john_user, john_pw = sys.argv[1:7]
    out = {}
    jane = connect(host, port, jane_user, jane_pw)
    out["caps"] = sorted(jane.capabilities)
    out["create"] = result(jane.create, "Calendar")
    out["append_jane"] = result(jane.append, "Calendar", None, None, EVENT)
    out["setacl_read"] = result(jane.setacl, "Calendar", john_user, "lrs")
    out["getacl"] = result(jane.getacl, "Calendar")

    john = connect(host, port, john_user, john_pw)
    typ, data = john.list('""', "*")
    out["list"] = [s(d) for d in data]
    out["myrights"] = result(john.myrights, SHARED)
    # imaplib raises "readonly" when SELECT answers [READ-ONLY]; the
    # mailbox is selected all the same.
    try:
        typ, data = john.select(SHARED)
        out["select"] = typ + " " + s(data)
        out["readonly"] = False
    except imaplib.IMAP4.readonly:
        out["select"] = "OK READ-ONLY"
        out["readonly"] = True
    # imaplib then wants the mailbox opened read-only (EXAMINE).
    john.select(SHARED, readonly=True)
    typ, data = john.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out["fetch"] = s(data)
    out["store"] = result(john.store, "1", "+FLAGS", "(\\Flagged)")
    out["append_read"] = result(john.append, SHARED, None, None, NOTE)
    out["expunge"] = result(john.expunge)

    out["setacl_write"] = result(jane.setacl, "Calendar", john_user, "+ik")
    out["append_write"] = result(john.append, SHARED, None, None, NOTE)
    jane.select("Calendar")
    typ, data = jane.search(None, "ALL")
    out["jane_search"] = s(data)

    out["deleteacl"] = result(jane.deleteacl, "Calendar", john_user)
    out["noop_after"] = result(john.noop)
    try:
        john.logout()
    except Exception:
        pass
    john = connect(host, port, john_user, john_pw)
    typ, data = john.list('""', "*")
    out["list_after"] = [s(d) for d in data]
    out["select_after"] = result(john.select, SHARED)
    john.logout()
    jane.logout()
    print(json.dumps(out))


main()
