package config

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Outbound is the [outbound] table: the outbound queue and delivery to
// other mail servers (server/queue).
type Outbound struct {
	// DNS is the resolver ("127.0.0.1:5353") used for MX, A and AAAA
	// lookups; empty uses the system resolver.
	DNS string `toml:"dns"`
	// Port is the SMTP port of remote mail servers: 25. Change it only for
	// tests.
	Port int `toml:"port"`
	// RequireTLSDomains lists destination domains to which mail is only
	// sent over TLS with a verified certificate (otherwise STARTTLS is
	// opportunistic and unverified). Lowercased by validation.
	RequireTLSDomains []string `toml:"require_tls_domains"`
	// Smarthost, when set ("host:port"), receives all outbound mail instead
	// of the recipients' MX hosts. SmarthostTLS is "starttls" (required,
	// verified), "implicit" (TLS from the start, port 465) or "none".
	Smarthost    string `toml:"smarthost"`
	SmarthostTLS string `toml:"smarthost_tls"`
	// SmarthostUsername and the password read from SmarthostPasswordFile
	// authenticate to the smarthost (AUTH PLAIN); empty: no AUTH.
	SmarthostUsername     string `toml:"smarthost_username"`
	SmarthostPasswordFile string `toml:"smarthost_password_file"`
	// MaxQueueTime is how long delivery is retried before the message is
	// bounced (default 5 days).
	MaxQueueTime Duration `toml:"max_queue_time"`
	// DelayNotice is the age at which a delay DSN is sent to the sender
	// (once; default 4h; "0s" disables it).
	DelayNotice Duration `toml:"delay_notice"`
	// RetryInitial is the first retry interval, doubled after each failed
	// attempt up to RetryMax.
	RetryInitial Duration `toml:"retry_initial"`
	RetryMax     Duration `toml:"retry_max"`
	// MaxPerDomain bounds the concurrent connections to one destination
	// domain, MaxConnections all outbound connections.
	MaxPerDomain   int `toml:"max_per_domain"`
	MaxConnections int `toml:"max_connections"`
	// ConnectTimeout bounds connecting to one host; CommandTimeout each
	// SMTP command (RFC 5321 4.5.3.2).
	ConnectTimeout Duration `toml:"connect_timeout"`
	CommandTimeout Duration `toml:"command_timeout"`
	// PollInterval is how often the queue is read from the database (to
	// pick up `floe queue retry/flush` from the command line).
	PollInterval Duration `toml:"poll_interval"`
}

// defaultOutbound returns the [outbound] defaults.
func defaultOutbound() Outbound {
	return Outbound{
		Port:           25,
		SmarthostTLS:   "starttls",
		MaxQueueTime:   Duration(5 * 24 * time.Hour),
		DelayNotice:    Duration(4 * time.Hour),
		RetryInitial:   Duration(5 * time.Minute),
		RetryMax:       Duration(2 * time.Hour),
		MaxPerDomain:   4,
		MaxConnections: 32,
		ConnectTimeout: Duration(30 * time.Second),
		CommandTimeout: Duration(5 * time.Minute),
		PollInterval:   Duration(5 * time.Second),
	}
}

// SmarthostPassword reads the smarthost password file (trailing newline
// removed); "" when none is configured.
func (o *Outbound) SmarthostPassword() (string, error) {
	if o.SmarthostPasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(o.SmarthostPasswordFile)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func (c *Config) validateOutbound(v *validator) {
	o := &c.Outbound
	if o.DNS != "" {
		if _, _, err := net.SplitHostPort(o.DNS); err != nil {
			v.fail("outbound.dns", "%q is not host:port (e.g. \"127.0.0.1:53\")", o.DNS)
		}
	}
	if o.Port <= 0 || o.Port > 65535 {
		v.fail("outbound.port", "%d is not a port number (use 25)", o.Port)
	}
	for i, d := range o.RequireTLSDomains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if err := checkDomain(d); err != nil {
			v.fail(fmt.Sprintf("outbound.require_tls_domains[%d]", i), "%q: %s", d, err)
		}
		o.RequireTLSDomains[i] = d
	}
	if len(o.RequireTLSDomains) == 0 {
		o.RequireTLSDomains = nil
	}
	o.SmarthostTLS = strings.ToLower(o.SmarthostTLS)
	switch o.SmarthostTLS {
	case "starttls", "implicit", "none":
	default:
		v.fail("outbound.smarthost_tls", "%q: use starttls, implicit or none", o.SmarthostTLS)
	}
	if o.Smarthost != "" {
		host, port, err := net.SplitHostPort(o.Smarthost)
		if err == nil {
			var n int
			n, err = strconv.Atoi(port)
			if err == nil && (n <= 0 || n > 65535 || host == "") {
				err = fmt.Errorf("bad port")
			}
		}
		if err != nil {
			v.fail("outbound.smarthost", "%q is not host:port (e.g. \"relay.example.net:587\")", o.Smarthost)
		}
	}
	if (o.SmarthostUsername == "") != (o.SmarthostPasswordFile == "") {
		v.fail("outbound.smarthost_username", "smarthost_username and smarthost_password_file go together; set both or neither")
	} else if o.SmarthostPasswordFile != "" {
		if _, err := o.SmarthostPassword(); err != nil {
			v.fail("outbound.smarthost_password_file", "%q: cannot read: %s", o.SmarthostPasswordFile, err)
		}
	}
	v.positiveDuration("outbound.max_queue_time", o.MaxQueueTime)
	// delay_notice may be 0 (no delay notices).
	v.positiveDuration("outbound.retry_initial", o.RetryInitial)
	v.positiveDuration("outbound.retry_max", o.RetryMax)
	if o.RetryMax > 0 && o.RetryMax < o.RetryInitial {
		v.fail("outbound.retry_max", "%s is below retry_initial %s", o.RetryMax, o.RetryInitial)
	}
	v.positiveInt("outbound.max_per_domain", o.MaxPerDomain)
	v.positiveInt("outbound.max_connections", o.MaxConnections)
	v.positiveDuration("outbound.connect_timeout", o.ConnectTimeout)
	v.positiveDuration("outbound.command_timeout", o.CommandTimeout)
	v.positiveDuration("outbound.poll_interval", o.PollInterval)
}
