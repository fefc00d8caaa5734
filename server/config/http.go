package config

import "time"

// HTTP is the [http] table: limits of the HTTP listeners (http, https and
// clientsvc; server/httpd). Timeouts and the header limit apply when the
// server starts; max_body_size and max_connections_per_ip apply at once on
// reload.
type HTTP struct {
	// ReadHeaderTimeout bounds reading a request's header (slow-loris
	// clients); ReadTimeout reading the whole request, body included;
	// WriteTimeout writing the response; IdleTimeout how long a kept-alive
	// connection may wait for its next request.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	ReadTimeout       Duration `toml:"read_timeout"`
	WriteTimeout      Duration `toml:"write_timeout"`
	IdleTimeout       Duration `toml:"idle_timeout"`
	// MaxHeaderSize is the largest request header accepted (431 above it).
	MaxHeaderSize Size `toml:"max_header_size"`
	// MaxBodySize is the largest request body a handler reads (413 above
	// it), unless the handler sets its own limit.
	MaxBodySize Size `toml:"max_body_size"`
	// MaxConnectionsPerIP bounds simultaneous connections from one
	// address on each HTTP listener. HTTP clients (browsers, DAV clients,
	// a proxy in front of Floe) open many; keep it generous.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
}

// defaultHTTP returns the [http] defaults.
func defaultHTTP() HTTP {
	return HTTP{
		ReadHeaderTimeout:   Duration(20 * time.Second),
		ReadTimeout:         Duration(10 * time.Minute),
		WriteTimeout:        Duration(10 * time.Minute),
		IdleTimeout:         Duration(2 * time.Minute),
		MaxHeaderSize:       64 * KiB,
		MaxBodySize:         DefaultMaxMessageSize,
		MaxConnectionsPerIP: 256,
	}
}

// maxHTTPHeaderSize is the largest max_header_size accepted: a header
// buffer above it only helps an attacker.
const maxHTTPHeaderSize = 1 * MiB

func (c *Config) validateHTTP(v *validator) {
	h := &c.HTTP
	v.positiveDuration("http.read_header_timeout", h.ReadHeaderTimeout)
	v.positiveDuration("http.read_timeout", h.ReadTimeout)
	v.positiveDuration("http.write_timeout", h.WriteTimeout)
	v.positiveDuration("http.idle_timeout", h.IdleTimeout)
	if h.ReadTimeout > 0 && h.ReadHeaderTimeout > h.ReadTimeout {
		v.fail("http.read_header_timeout", "%s is above read_timeout %s", h.ReadHeaderTimeout, h.ReadTimeout)
	}
	if h.MaxHeaderSize < 4*KiB || h.MaxHeaderSize > maxHTTPHeaderSize {
		v.fail("http.max_header_size", "%d bytes: use 4KiB to 1MiB", int64(h.MaxHeaderSize))
	}
	if h.MaxBodySize <= 0 {
		v.fail("http.max_body_size", "must be positive")
	}
	v.positiveInt("http.max_connections_per_ip", h.MaxConnectionsPerIP)
}
