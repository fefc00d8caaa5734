package mailauth

import (
	"context"
	"net"
	"strings"
)

// fakeDNS is a Resolver over maps. Names are lowercase without the final
// dot. A name in fail answers with a temporary error.
type fakeDNS struct {
	txt   map[string][]string
	ip    map[string][]string
	mx    map[string][]string
	ptr   map[string][]string
	fail  map[string]bool
	calls int
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) pre(name string) (string, error) {
	f.calls++
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if f.fail[name] {
		return name, &net.DNSError{Err: "server failure", Name: name, IsTemporary: true}
	}
	return name, nil
}

func (f *fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	name, err := f.pre(name)
	if err != nil {
		return nil, err
	}
	if v, ok := f.txt[name]; ok {
		return v, nil
	}
	return nil, notFound(name)
}

func (f *fakeDNS) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	name, err := f.pre(name)
	if err != nil {
		return nil, err
	}
	var out []net.IPAddr
	for _, s := range f.ip[name] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	if len(out) == 0 {
		return nil, notFound(name)
	}
	return out, nil
}

func (f *fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	name, err := f.pre(name)
	if err != nil {
		return nil, err
	}
	var out []*net.MX
	for i, s := range f.mx[name] {
		out = append(out, &net.MX{Host: s + ".", Pref: uint16(10 * i)})
	}
	if len(out) == 0 {
		return nil, notFound(name)
	}
	return out, nil
}

func (f *fakeDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	addr, err := f.pre(addr)
	if err != nil {
		return nil, err
	}
	if v, ok := f.ptr[addr]; ok {
		return v, nil
	}
	return nil, notFound(addr)
}
