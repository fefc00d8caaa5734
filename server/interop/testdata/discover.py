"""Real-client checks of Floe's SmartDiscover (server/interop/clients_test.go).

  discover.py pox URL EMAIL USER PASSWORD CAFILE
      Autodiscover POX with exchangelib: its request payload, its response
      parser (exchangelib.autodiscover.properties.Autodiscover); prints the
      protocols as JSON.
  discover.py flow ZONE EMAIL USER PASSWORD
      exchangelib's own Autodiscover discovery (MS-OXDISCO steps 1 to 5:
      https://DOMAIN/, https://autodiscover.DOMAIN/, the _autodiscover._tcp
      SRV record) with its DNS lookups answered by a DNS server on loopback
      serving ZONE ({"A": {name: ip}, "SRV": {name: "prio weight port
      target."}}) and host:443 mapped to Floe's port (ZONE "HTTPS": {host:
      port}); prints the URLs it tried and the protocols found as JSON.
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


def flow(zone_json, email, user, password):
    import socket
    import threading
    import urllib3
    from urllib.parse import urlparse
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset
    from exchangelib import Credentials
    from exchangelib.autodiscover.discovery.pox import PoxAutodiscovery
    from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter

    urllib3.disable_warnings()
    zone = json.loads(zone_json)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve():
        while True:
            data, addr = sock.recvfrom(4096)
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            name = str(q.question[0].name).rstrip(".").lower()
            qtype = dns.rdatatype.to_text(q.question[0].rdtype)
            value = zone.get(qtype, {}).get(name)
            if value:
                r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", qtype, value))
            else:
                r.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(r.to_wire(), addr)

    threading.Thread(target=serve, daemon=True).start()

    class PortMap(NoVerifyHTTPAdapter):
        # https://HOST/ goes to Floe's https port, Host kept.
        def send(self, request, **kw):
            u = urlparse(request.url)
            port = zone.get("HTTPS", {}).get(u.hostname)
            if u.scheme == "https" and port:
                request.headers["Host"] = u.hostname
                request.url = u._replace(netloc="127.0.0.1:%d" % port).geturl()
            return super().send(request, **kw)

    BaseProtocol.HTTP_ADAPTER_CLS = PortMap
    PoxAutodiscovery.DNS_RESOLVER_KWARGS = {"configure": False}
    PoxAutodiscovery.DNS_RESOLVER_ATTRS = {"nameservers": ["127.0.0.1"], "port": sock.getsockname()[1], "timeout": 2, "lifetime": 5}
    PoxAutodiscovery.DNS_RESOLVER_LIFETIME = 5
    d = PoxAutodiscovery(email=email, credentials=Credentials(user, password))
    out = {"protocols": []}
    try:
        # Steps 1 to 5; step 6 (the EWS endpoint) does not apply: Floe
        # offers IMAP, SMTP and POP3, not EWS.
        ad = d._step_1(hostname=email.split("@")[1])
        ad = getattr(ad, "response", ad)
        out["smtp_address"] = ad.autodiscover_smtp_address
        for p in ad.account.protocols:
            out["protocols"].append({"type": p.type, "server": p.server, "port": p.port, "ssl": p.ssl,
                                     "login_name": p.login_name})
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    out["urls"] = d._urls_visited
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
    elif mode == "flow":
        flow(*sys.argv[2:6])
    elif mode == "profile":
        profile(sys.argv[2])
    elif mode == "autoconfig":
        autoconfig(sys.argv[2])
    else:
        sys.exit("unknown mode " + mode)
