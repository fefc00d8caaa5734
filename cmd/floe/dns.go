package main

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// dns prints the records a domain needs: MX, SPF, DKIM, DMARC and the
// client service records (RFC 6186, RFC 8314), plus the autoconfig names.
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

	// Client services: RFC 6186 and RFC 8314 5.1 (implicit TLS preferred).
	fmt.Fprintln(w)
	for _, s := range []struct {
		svc  string
		prio int
		port int
	}{
		{"_submissions._tcp", 0, 465},
		{"_submission._tcp", 10, 587},
		{"_imaps._tcp", 0, 993},
		{"_imap._tcp", 10, 143},
		{"_pop3s._tcp", 0, 995},
		{"_pop3._tcp", 10, 110},
	} {
		fmt.Fprintf(w, "%s.%s. IN SRV %d 1 %d %s.\n", s.svc, domain, s.prio, s.port, host)
	}

	fmt.Fprintf(w, "\n; informational: mail client autoconfiguration\n")
	fmt.Fprintf(w, "; autoconfig.%s. IN CNAME %s.\n", domain, host)
	fmt.Fprintf(w, "; autodiscover.%s. IN CNAME %s.\n", domain, host)
	return nil
}
