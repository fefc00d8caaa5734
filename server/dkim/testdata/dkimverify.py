# Verifies the DKIM signature of the message on stdin with dkimpy, taking
# the public key record from the file named by argv[1] instead of DNS.
# Exit 0 when the signature verifies, 1 otherwise.
import sys
import dkim

with open(sys.argv[1], "rb") as f:
    record = f.read().strip()


def dnsfunc(name, timeout=5):
    return record


msg = sys.stdin.buffer.read()
ok = dkim.verify(msg, dnsfunc=dnsfunc)
print("pass" if ok else "fail")
sys.exit(0 if ok else 1)
