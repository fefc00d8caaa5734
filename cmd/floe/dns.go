package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// dns prints the records a domain needs: MX, SPF, DKIM, DMARC, the client
// service records (RFC 6186, RFC 8314, RFC 6764, Autodiscover) and the
// autoconfig/autodiscover names.
func (a *app) dns(c *cmdCtx) error {
	domain := strings.ToLower(strings.TrimSuffix(c.args[0], "."))
	cfg, keys, err := a.openKeys(c)
	if err != nil {
		return err
	}
	a.warnNotLocal(cfg, domain)
	host := cfg.Server.Hostname
	w := a.stdout
	fmt.Fprintf(w, "; DNS records for %s (mail server %s)\n\n", domain, host)
	fmt.Fprintf(w, "%s. IN MX 10 %s.\n", domain, host)

	// SPF (RFC 7208): the MX hosts, plus the listener address when it is a
	// public IP.
	spf := "v=spf1 mx"
	if h, _, err := net.SplitHostPort(cfg.Listeners.SMTP); err == nil {
		if ip, err := netip.ParseAddr(h); err == nil && ip.IsGlobalUnicast() && !ip.IsPrivate() {
			if ip.Is4() {
				spf += " ip4:" + ip.String()
			} else {
				spf += " ip6:" + ip.String()
			}
		}
	}
	fmt.Fprintf(w, "%s. IN TXT %q\n", domain, spf+" -all")

	// DKIM (RFC 6376 3.6.2): every selector, so rotated keys stay published.
	n := 0
	for _, k := range keys.List() {
		if k.Domain != domain {
			continue
		}
		name, value, err := keys.TXTRecord(k.Domain, k.Selector)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s. IN TXT %s\n", name, zoneTXT(value))
		n++
	}
	if n == 0 {
		fmt.Fprintf(w, "; no DKIM key for %s yet: run \"floe dkim gen %s\"\n", domain, domain)
	}

	// DMARC (RFC 7489 6.3).
	fmt.Fprintf(w, "_dmarc.%s. IN TXT %q\n", domain, "v=DMARC1; p=quarantine; rua=mailto:postmaster@"+domain)

	// Client services: RFC 6186 and RFC 8314 5.1 (implicit TLS preferred),
	// with the ports of the configured listeners (standard ports in
	// production); a disabled listener gets RFC 6186 3.4's "not offered"
	// record (target ".").
	fmt.Fprintln(w)
	host = cfg.PublicHostname() // [discover] hostname, else server.hostname
	l := cfg.Listeners
	for _, s := range []struct {
		svc  string
		prio int
		addr string
	}{
		{"_submissions._tcp", 0, l.Submissions},
		{"_submission._tcp", 10, l.Submission},
		{"_imaps._tcp", 0, l.IMAPS},
		{"_imap._tcp", 10, l.IMAP},
		{"_pop3s._tcp", 0, l.POP3S},
		{"_pop3._tcp", 10, l.POP3},
	} {
		if p := listenerPort(s.addr); p > 0 {
			fmt.Fprintf(w, "%s.%s. IN SRV %d 1 %d %s.\n", s.svc, domain, s.prio, p, host)
		} else {
			fmt.Fprintf(w, "%s.%s. IN SRV 0 0 0 .\n", s.svc, domain)
		}
	}
	// CalDAV and CardDAV (RFC 6764 3), with TXT path records pointing at
	// the well-known URLs; Autodiscover's SRV (MS-OXDISCO 3.1.5.1) must
	// name the secure port.
	if p := listenerPort(l.HTTPS); p > 0 {
		for _, svc := range []string{"_caldavs._tcp", "_carddavs._tcp"} {
			fmt.Fprintf(w, "%s.%s. IN SRV 0 1 %d %s.\n", svc, domain, p, host)
		}
		fmt.Fprintf(w, "_caldavs._tcp.%s. IN TXT \"path=/.well-known/caldav\"\n", domain)
		fmt.Fprintf(w, "_carddavs._tcp.%s. IN TXT \"path=/.well-known/carddav\"\n", domain)
		fmt.Fprintf(w, "_autodiscover._tcp.%s. IN SRV 0 1 %d %s.\n", domain, p, host)
	}

	// Client autoconfiguration: Thunderbird asks autoconfig.DOMAIN,
	// Outlook autodiscover.DOMAIN; both must reach Floe's HTTPS listener
	// (and the certificate must name them).
	fmt.Fprintf(w, "\n; mail client autoconfiguration (add these names to the TLS certificate)\n")
	fmt.Fprintf(w, "autoconfig.%s. IN CNAME %s.\n", domain, host)
	fmt.Fprintf(w, "autodiscover.%s. IN CNAME %s.\n", domain, host)
	return nil
}

// listenerPort returns the port of a listener address, 0 when disabled.
func listenerPort(addr string) int {
	if addr == "" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
