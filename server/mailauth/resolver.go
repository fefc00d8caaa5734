package mailauth

import (
	"context"
	"errors"
	"net"
	"time"
)

// Resolver is the DNS the checks use. *net.Resolver implements it; tests
// use a fake or a net.Resolver pointed at a DNS server on loopback.
//
// A name that does not exist, or has no record of the type, must be
// reported as a *net.DNSError with IsNotFound set (a "void lookup"); every
// other error is a temporary failure.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// NewResolver returns a resolver that sends every query to addr
// ("127.0.0.1:5353"), or the system resolver when addr is empty.
func NewResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: 5 * time.Second}
			return d.DialContext(ctx, network, addr)
		},
	}
}

// isNotFound reports whether err says the name or record does not exist.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// txtLookup adapts a Resolver for go-msgauth, which has no context.
func txtLookup(ctx context.Context, r Resolver) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txts, err := r.LookupTXT(ctx, name)
		if err != nil && !isNotFound(err) {
			// go-msgauth treats only net.Error.Temporary as a temporary
			// failure; anything but "not found" is one here.
			return nil, &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
		}
		return txts, err
	}
}
