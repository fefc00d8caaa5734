"""Real-client checks of Floe's SmartDiscover (server/interop/clients_test.go).

  discover.py pox URL EMAIL USER PASSWORD CAFILE
      Autodiscover POX with exchangelib: its request payload, its response
      parser (exchangelib.autodiscover.properties.Autodiscover); prints the
      protocols as JSON.
  discover.py profile FILE
      An Apple .mobileconfig parsed with plistlib; prints its payloads as JSON.
  discover.py autoconfig FILE
      A Thunderbird clientConfig parsed with ElementTree; prints JSON.
"""
import json
import plistlib
import sys
import xml.etree.ElementTree as ET


def pox(url, email, user, password, cafile):
    import requests
    from exchangelib.autodiscover.properties import Autodiscover

    r = requests.post(url, data=Autodiscover.payload(email=email), auth=(user, password),
                      headers={"Content-Type": "text/xml; charset=utf-8"}, verify=cafile, timeout=30)
    r.raise_for_status()
    ad = Autodiscover.from_bytes(bytes_content=r.content)
    ad.raise_errors()
    resp = ad.response
    out = {"smtp_address": resp.autodiscover_smtp_address, "protocols": []}
    for p in resp.account.protocols:
        out["protocols"].append({"type": p.type, "server": p.server, "port": p.port, "ssl": p.ssl,
                                 "login_name": p.login_name, "auth_required": p.auth_required, "spa": p.spa})
    print(json.dumps(out))


def profile(path):
    with open(path, "rb") as f:
        p = plistlib.load(f)
    print(json.dumps(p, default=str))


def autoconfig(path):
    root = ET.parse(path).getroot()
    prov = root.find("emailProvider")
    srv = lambda e: {c.tag: c.text for c in e} | {"type": e.get("type")}
    out = {
        "version": root.get("version"),
        "id": prov.get("id"),
        "domain": prov.findtext("domain"),
        "incoming": [srv(e) for e in prov.findall("incomingServer")],
        "outgoing": [srv(e) for e in prov.findall("outgoingServer")],
        "addressBook": srv(root.find("addressBook")),
        "calendar": srv(root.find("calendar")),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "pox":
        pox(*sys.argv[2:7])
    elif mode == "profile":
        profile(sys.argv[2])
    elif mode == "autoconfig":
        autoconfig(sys.argv[2])
    else:
        sys.exit("unknown mode " + mode)
