#!/usr/bin/env python3
"""COMPRESS=DEFLATE (RFC 4978) interop client for Floe's IMAP server:
Python's imaplib over implicit TLS, switched to DEFLATE after login with
zlib (raw deflate, wbits -15, a sync flush after each command, as
Thunderbird and other zlib clients do).

Prints one JSON object on its last line; the Go test (imap_ext_test.go)
makes the assertions.

  imapcompress.py HOST PORT USER PASS SMTPPORT TOKIDLE
"""
import imaplib
import json
import smtplib
import ssl
import sys
import time
import zlib

imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))


class CompressingIMAP4(imaplib.IMAP4_SSL):
    """IMAP4_SSL whose send/read/readline go through zlib after COMPRESS."""

    _zc = None

    def compress(self):
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        if typ == "OK":
            self._zc = zlib.compressobj(6, zlib.DEFLATED, -15)
            self._zd = zlib.decompressobj(-15)
            self._zbuf = b""
        return typ, data

    def send(self, data):
        if self._zc is None:
            return super().send(data)
        self.sock.sendall(self._zc.compress(data) + self._zc.flush(zlib.Z_SYNC_FLUSH))

    def _zfill(self):
        chunk = self.file.read1(65536)
        if not chunk:
            raise imaplib.IMAP4.abort("connection closed")
        self._zbuf += self._zd.decompress(chunk)

    def read(self, size):
        if self._zc is None:
            return super().read(size)
        while len(self._zbuf) < size:
            self._zfill()
        out, self._zbuf = self._zbuf[:size], self._zbuf[size:]
        return out

    def readline(self):
        if self._zc is None:
            return super().readline()
        while b"\n" not in self._zbuf:
            self._zfill()
        i = self._zbuf.index(b"\n") + 1
        out, self._zbuf = self._zbuf[:i], self._zbuf[i:]
        return out


def s(x):
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, (list, tuple)):
        return "".join(s(i) for i in x if i is not None)
    return str(x)


def main(host, port, user, password, smtp_port, tok_idle):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = {}
    m = CompressingIMAP4(host, int(port), ssl_context=ctx, timeout=30)
    typ, data = m.login(user, password)
    out["login"] = typ
    typ, data = m.capability()
    out["caps"] = s(data).split()
    typ, data = m.compress()
    out["compress"] = typ + " " + s(data)
    typ, data = m.capability()
    out["caps_after"] = s(data)
    typ, data = m.select("INBOX")
    out["select"] = typ + " " + s(data)
    typ, data = m.fetch("1:*", "(RFC822)")
    out["fetch"] = [s(d[1]) for d in data if isinstance(d, tuple)]
    big = "From: <py@remote.test>\r\nTo: <%s>\r\nSubject: compressed append\r\n\r\n" % user
    big += "".join("line %06d of a long appended message\r\n" % i for i in range(3000))
    typ, data = m.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(time.time()), big.encode())
    out["append"] = typ + " " + s(data)
    out["append_raw"] = big
    typ, data = m.search(None, "TEXT", "compressed")
    out["search"] = s(data)
    typ, data = m.fetch("*", "(BODY.PEEK[])")
    out["fetch_appended"] = s(data[0][1])

    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    out["idle_cont"] = s(m.readline()).strip()
    body = "From: <py@remote.test>\r\nTo: <%s>\r\nSubject: idle\r\n\r\nToken: %s\r\n" % (user, tok_idle)
    with smtplib.SMTP(host, int(smtp_port), timeout=30) as smtp:
        smtp.sendmail("py@remote.test", [user], body.encode())
    pushed = []
    while True:
        line = s(m.readline()).strip()
        pushed.append(line)
        if line.endswith("EXISTS"):
            break
    out["idle_pushed"] = pushed
    m.send(b"DONE\r\n")
    while True:
        line = s(m.readline()).strip()
        if line.startswith(tag + " "):
            out["idle_done"] = line
            break
    typ, data = m.fetch("*", "(BODY.PEEK[TEXT])")
    out["fetch_idle"] = s(data[0][1])
    typ, data = m.logout()
    out["logout"] = typ
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
