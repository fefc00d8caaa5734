// Package mailauthtest runs a real DNS server (github.com/miekg/dns) on
// loopback for tests of SPF, DKIM and DMARC: point [checks] dns, or
// mailauth.NewResolver, at Server.Addr.
package mailauthtest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Zone holds the records served, by lowercase name without the final dot.
type Zone struct {
	TXT  map[string][]string
	A    map[string][]string // IPv4 and IPv6 addresses (A and AAAA)
	MX   map[string][]string
	PTR  map[string][]string // by IP address string
	Fail map[string]bool     // answer SERVFAIL
}

// Server is a DNS server on 127.0.0.1 (UDP and TCP on the same port).
type Server struct {
	Addr string
	mu   sync.Mutex
	zone Zone
}

// Start serves zone until the test ends.
func Start(t testing.TB, zone Zone) *Server {
	t.Helper()
	s := &Server{zone: zone}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		// The TCP port may be taken; UDP alone serves every test answer.
		l = nil
	}
	s.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: s}
	go func() { _ = udp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown() })
	if l != nil {
		tcp := &dns.Server{Listener: l, Handler: s}
		go func() { _ = tcp.ActivateAndServe() }()
		t.Cleanup(func() { _ = tcp.Shutdown() })
	}
	return s
}

// Set replaces the zone.
func (s *Server) Set(zone Zone) {
	s.mu.Lock()
	s.zone = zone
	s.mu.Unlock()
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	s.mu.Lock()
	z := s.zone
	s.mu.Unlock()
	if z.Fail[name] {
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 60}
	}
	exists := false
	if _, ok := z.TXT[name]; ok {
		exists = true
	}
	if _, ok := z.A[name]; ok {
		exists = true
	}
	if _, ok := z.MX[name]; ok {
		exists = true
	}
	switch q.Qtype {
	case dns.TypeTXT:
		for _, v := range z.TXT[name] {
			// Split into strings of at most 255 bytes (RFC 1035 3.3.14).
			var parts []string
			for len(v) > 255 {
				parts = append(parts, v[:255])
				v = v[255:]
			}
			parts = append(parts, v)
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: parts})
		}
	case dns.TypeA, dns.TypeAAAA:
		for _, v := range z.A[name] {
			ip := net.ParseIP(v)
			if ip == nil {
				continue
			}
			if ip4 := ip.To4(); ip4 != nil && q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: ip4})
			} else if ip.To4() == nil && q.Qtype == dns.TypeAAAA {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip})
			}
		}
	case dns.TypeMX:
		for i, v := range z.MX[name] {
			m.Answer = append(m.Answer, &dns.MX{Hdr: hdr(dns.TypeMX), Preference: uint16(10 * (i + 1)), Mx: dns.Fqdn(v)})
		}
	case dns.TypePTR:
		if strings.HasSuffix(name, ".in-addr.arpa") || strings.HasSuffix(name, ".ip6.arpa") {
			for ip, names := range z.PTR {
				rev, err := dns.ReverseAddr(ip)
				if err == nil && strings.TrimSuffix(rev, ".") == name {
					exists = true
					for _, n := range names {
						m.Answer = append(m.Answer, &dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(n)})
					}
				}
			}
		}
	}
	if len(m.Answer) == 0 && !exists {
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}
