// Package config holds Floe's typed configuration: the TOML file format,
// defaults (development and production), loading with file:line errors,
// and validation.
package config

import (
	"os"
	"slices"
	"strings"
	"time"

	"github.com/floemail/floe/rules"
)

// Config is the whole configuration. The zero value is not useful; start
// from Development() or Production() and load a file over it.
type Config struct {
	// File is the path the config was loaded from ("" for the embedded
	// development default).
	File string `toml:"-"`

	Server    Server    `toml:"server"`
	TLS       TLS       `toml:"tls"`
	Listeners Listeners `toml:"listeners"`
	Auth      Auth      `toml:"auth"`
	SMTP      SMTP      `toml:"smtp"`
	POP3      POP3      `toml:"pop3"`
	IMAP      IMAP      `toml:"imap"`
	Checks    Checks    `toml:"checks"`
	Log       Log       `toml:"log"`
	Outbound  Outbound  `toml:"outbound"`
	Discover  Discover  `toml:"discover"`
	ClientSvc ClientSvc `toml:"clientsvc"`
	HTTP      HTTP      `toml:"http"`
	Storage   Storage   `toml:"storage"`
	Limits    Limits    `toml:"limits"`
	Groupware Groupware `toml:"groupware"`
	Files     Files     `toml:"files"`
	Filtering Filtering `toml:"filtering"`
	Spam      Spam      `toml:"spam"`

	// Rules are the top-level [[rules]] (server rules, or a domain's or
	// account's with a scope); see rules.go.
	Rules []rules.Rule `toml:"rules"`

	Domains  []Domain  `toml:"domain"`
	Accounts []Account `toml:"account"`
	Aliases  []Alias   `toml:"alias"`
	Groups   []Group   `toml:"group"` // group.go
}

// Server is the [server] table.
type Server struct {
	// Hostname is the name the server announces (SMTP banner, Received).
	Hostname string `toml:"hostname"`
	// DataDir holds the SQLite database, the blob store and generated
	// certificates.
	DataDir string `toml:"data_dir"`
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// TLS is the [tls] table.
type TLS struct {
	// CertFile and KeyFile are PEM files. When both are empty a self-signed
	// certificate for Server.Hostname is generated in DataDir.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// AllowPlaintextAuth permits AUTH/LOGIN/USER-PASS without TLS from
	// non-loopback clients. Loopback is always allowed. Default false.
	AllowPlaintextAuth bool `toml:"allow_plaintext_auth"`
}

// Listeners is the [listeners] table: one address per service; an empty
// string disables the listener.
type Listeners struct {
	SMTP        string `toml:"smtp"`        // 25, STARTTLS offered
	Submissions string `toml:"submissions"` // 465, implicit TLS
	Submission  string `toml:"submission"`  // 587, STARTTLS, AUTH required
	POP3        string `toml:"pop3"`        // 110, STLS
	POP3S       string `toml:"pop3s"`       // 995, implicit TLS
	IMAP        string `toml:"imap"`        // 143, STARTTLS
	IMAPS       string `toml:"imaps"`       // 993, implicit TLS
	HTTP        string `toml:"http"`        // 80
	HTTPS       string `toml:"https"`       // 443
	ClientSvc   string `toml:"clientsvc"`   // 5229
	// Admin serves /metrics and /healthz (plain HTTP); keep it on loopback
	// or a private network, never on a public address.
	Admin string `toml:"admin"`
}

// Auth is the [auth] table.
type Auth struct {
	// LocalPartLogin lets users log in with the part before "@" when the
	// server has exactly one domain or the local part is unique.
	LocalPartLogin bool `toml:"local_part_login"`
	// After MaxFailuresPerIP failed logins from one IP (or
	// MaxFailuresPerAccount for one account) within FailureWindow, further
	// attempts are refused until the window passes.
	MaxFailuresPerIP      int      `toml:"max_failures_per_ip"`
	MaxFailuresPerAccount int      `toml:"max_failures_per_account"`
	FailureWindow         Duration `toml:"failure_window"`
	// FailureDelay is added before answering a failed login.
	FailureDelay Duration `toml:"failure_delay"`
	// Admins are the account addresses with administrative rights in the
	// protocols (IMAP SETQUOTA, RFC 9208). Lowercased by validation.
	Admins []string `toml:"admins"`
	// Password hashing (see limits.go for defaults and validation).
	MinPasswordLength   int  `toml:"min_password_length"`
	HashMemory          Size `toml:"hash_memory"`
	HashTime            int  `toml:"hash_time"`
	HashThreads         int  `toml:"hash_threads"`
	MaxConcurrentHashes int  `toml:"max_concurrent_hashes"`
	HashQueue           int  `toml:"hash_queue"`
	// CacheTTL is how long a successful password verification is
	// remembered (the verified-credential cache of server/auth; 0: no
	// cache); CacheSize bounds the entries (authcache.go).
	CacheTTL  Duration `toml:"cache_ttl"`
	CacheSize int      `toml:"cache_size"`
}

// SMTP is the [smtp] table.
type SMTP struct {
	MaxMessageSize           Size     `toml:"max_message_size"`
	MaxRecipients            int      `toml:"max_recipients"`
	MaxMessagesPerConnection int      `toml:"max_messages_per_connection"`
	MaxConnectionsPerIP      int      `toml:"max_connections_per_ip"`
	MaxLineLength            int      `toml:"max_line_length"`
	CommandTimeout           Duration `toml:"command_timeout"`
	DataTimeout              Duration `toml:"data_timeout"`
	// MaxErrors closes a session after that many failed commands.
	MaxErrors int `toml:"max_errors"`
}

// POP3 is the [pop3] table.
type POP3 struct {
	// CommandTimeout is the idle timeout after login (RFC 1939: at least
	// 10 minutes); before login PreAuthTimeout applies.
	CommandTimeout Duration `toml:"command_timeout"`
	PreAuthTimeout Duration `toml:"preauth_timeout"`
	// MaxConnectionsPerIP bounds the connections from one address (an
	// IPv6 /64) that have not logged in; MaxConnectionsPerUserIP those of
	// one account from one address after login.
	MaxConnectionsPerIP     int `toml:"max_connections_per_ip"`
	MaxConnectionsPerUserIP int `toml:"max_connections_per_user_ip"`
	MaxErrors               int `toml:"max_errors"`
}

// IMAP is the [imap] table (the IMAP issue fills it in).
type IMAP struct {
	IdleTimeout    Duration `toml:"idle_timeout"`
	PreAuthTimeout Duration `toml:"preauth_timeout"`
	// MaxConnectionsPerIP bounds the connections from one address (an
	// IPv6 /64) that have not logged in; MaxConnectionsPerUserIP those of
	// one account from one address after login (Dovecot's
	// mail_max_userip_connections).
	MaxConnectionsPerIP     int `toml:"max_connections_per_ip"`
	MaxConnectionsPerUserIP int `toml:"max_connections_per_user_ip"`
}

// Checks is the [checks] table: SPF, DKIM and DMARC verification of mail
// arriving on port 25 from unauthenticated clients (server/mailauth).
type Checks struct {
	// Enabled turns the checks on (default true in Production, false in
	// Development so that a machine without DNS is not slowed down).
	Enabled bool `toml:"enabled"`
	// DMARCRejectAction is what happens to a message that fails DMARC for a
	// domain publishing p=reject: "reject" (550 5.7.1 at DATA), "junk" (file
	// into the Junk mailbox) or "mark" (Authentication-Results only).
	// p=quarantine failures go to Junk unless this is "mark". Default "junk".
	DMARCRejectAction string `toml:"dmarc_reject_action"`
	// SPFFailAction is the same choice for an SPF "fail" when DMARC did not
	// decide (no DMARC record, or DMARC p=none). Default "mark".
	SPFFailAction string `toml:"spf_fail_action"`
	// DNS is the resolver address ("127.0.0.1:5353"); empty uses the system
	// resolver.
	DNS string `toml:"dns"`
	// Timeout bounds all DNS lookups of one message.
	Timeout Duration `toml:"timeout"`
	// LogRDNS logs the reverse-DNS and HELO checks (never enforced).
	LogRDNS bool `toml:"log_rdns"`
}

// Log is the [log] table.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Domain is a [[domain]] entry.
type Domain struct {
	Name     string `toml:"name"`
	CatchAll string `toml:"catch_all"`
	// Rules of the domain ([[domain.rules]]).
	Rules []rules.Rule `toml:"rules"`
}

// Account is an [[account]] entry.
type Account struct {
	Address string `toml:"address"`
	// Name is the display name ("Jane Doe"; storage.Account.Name).
	Name          string `toml:"name"`
	PasswordHash  string `toml:"password_hash"`
	Quota         Size   `toml:"quota"`
	QuotaMessages int64  `toml:"quota_messages"`
	Disabled      bool   `toml:"disabled"`
	// Rules, forwarder and responder of the account ([[account.rules]],
	// [account.forwarder], [account.responder]).
	Rules     []rules.Rule     `toml:"rules"`
	Forwarder *rules.Forwarder `toml:"forwarder"`
	Responder *rules.Responder `toml:"responder"`
}

// Alias is an [[alias]] entry.
type Alias struct {
	Address string `toml:"address"`
	Target  string `toml:"target"`
}

// Default limits shared by Development and Production.
const (
	// DefaultMaxMessageSize is 50 MiB (52,428,800 bytes).
	DefaultMaxMessageSize = 50 * MiB
)

// defaults returns the settings both embedded configurations share.
func defaults() *Config {
	return &Config{
		Server: Server{
			ShutdownTimeout: Duration(30 * time.Second),
		},
		Auth: Auth{
			MaxFailuresPerIP:      10,
			MaxFailuresPerAccount: 10,
			FailureWindow:         Duration(15 * time.Minute),
			FailureDelay:          Duration(time.Second),
			MinPasswordLength:     DefaultMinPasswordLength,
			HashMemory:            DefaultHashMemory,
			HashTime:              DefaultHashTime,
			HashThreads:           DefaultHashThreads,
			HashQueue:             DefaultHashQueue,
			CacheTTL:              Duration(DefaultAuthCacheTTL),
			CacheSize:             DefaultAuthCacheSize,
		},
		SMTP: SMTP{
			MaxMessageSize: DefaultMaxMessageSize,
			// RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted.
			MaxRecipients:            100,
			MaxMessagesPerConnection: 100,
			// Postfix's smtpd_client_connection_count_limit.
			MaxConnectionsPerIP: 50,
			// RFC 5321 4.5.3.1.6: text lines of up to 1000 octets
			// (including CRLF) must be accepted; command lines are 512.
			MaxLineLength:  4096,
			CommandTimeout: Duration(5 * time.Minute),  // RFC 5321 4.5.3.2.7
			DataTimeout:    Duration(10 * time.Minute), // RFC 5321 4.5.3.2.6
			MaxErrors:      10,
		},
		POP3: POP3{
			CommandTimeout:          Duration(10 * time.Minute), // RFC 1939 section 3
			PreAuthTimeout:          Duration(60 * time.Second),
			MaxConnectionsPerIP:     50,
			MaxConnectionsPerUserIP: 10,
			MaxErrors:               10,
		},
		IMAP: IMAP{
			IdleTimeout:             Duration(30 * time.Minute), // RFC 9051 5.4
			PreAuthTimeout:          Duration(60 * time.Second),
			MaxConnectionsPerIP:     50,
			MaxConnectionsPerUserIP: 50,
		},
		Log:       Log{Level: "info", Format: "text"},
		Outbound:  defaultOutbound(),
		ClientSvc: defaultClientSvc(),
		HTTP:      defaultHTTP(),
		Storage:   defaultStorage(),
		Limits:    defaultLimits(),
		Files:     defaultFiles(),
		Filtering: defaultFiltering(),
		Spam:      defaultSpam(),
		Groupware: defaultGroupware(),
		Checks: Checks{
			DMARCRejectAction: "junk",
			SPFFailAction:     "mark",
			Timeout:           Duration(20 * time.Second),
			LogRDNS:           true,
		},
	}
}

// Development returns the embedded configuration `floe serve` uses without
// a config file: data in ./data, host name localhost, one domain
// example.test, every listener on 127.0.0.1 with an unprivileged port, a
// self-signed certificate, and login with the local part allowed.
func Development() *Config {
	c := defaults()
	c.Server.Hostname = "localhost"
	c.Server.DataDir = "./data"
	c.Auth.LocalPartLogin = true
	c.Listeners = Listeners{
		SMTP:        "127.0.0.1:2525",
		Submissions: "127.0.0.1:4465",
		Submission:  "127.0.0.1:2587",
		POP3:        "127.0.0.1:1110",
		POP3S:       "127.0.0.1:1995",
		IMAP:        "127.0.0.1:1143",
		IMAPS:       "127.0.0.1:1993",
		HTTP:        "127.0.0.1:8080",
		HTTPS:       "127.0.0.1:8443",
		ClientSvc:   "127.0.0.1:15229",
		Admin:       "127.0.0.1:19090",
	}
	c.Domains = []Domain{{Name: "example.test"}}
	return c
}

// Production returns the defaults a config file is loaded over: standard
// ports on all interfaces, data in /var/lib/floe, and the machine's host
// name (lowercased; "localhost" when it cannot be determined).
func Production() *Config {
	c := defaults()
	c.Server.Hostname = "localhost"
	if h, err := os.Hostname(); err == nil && h != "" {
		c.Server.Hostname = strings.ToLower(h)
	}
	c.Server.DataDir = "/var/lib/floe"
	c.Checks.Enabled = true
	c.Listeners = Listeners{
		SMTP:        ":25",
		Submissions: ":465",
		Submission:  ":587",
		POP3:        ":110",
		POP3S:       ":995",
		IMAP:        ":143",
		IMAPS:       ":993",
		HTTP:        ":80",
		HTTPS:       ":443",
		ClientSvc:   ":5229",
		Admin:       "127.0.0.1:9090",
	}
	return c
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	n := *c
	n.Domains = slices.Clone(c.Domains)
	n.Accounts = slices.Clone(c.Accounts)
	n.Aliases = slices.Clone(c.Aliases)
	n.Groups = slices.Clone(c.Groups)
	for i := range n.Groups {
		n.Groups[i].Members = slices.Clone(c.Groups[i].Members)
	}
	n.Auth.Admins = slices.Clone(c.Auth.Admins)
	n.Outbound.RequireTLSDomains = slices.Clone(c.Outbound.RequireTLSDomains)
	n.ClientSvc = c.ClientSvc.clone()
	n.Rules = rules.CloneRules(c.Rules)
	for i := range n.Domains {
		n.Domains[i].Rules = rules.CloneRules(c.Domains[i].Rules)
	}
	for i := range n.Accounts {
		a := &n.Accounts[i]
		a.Rules, a.Forwarder, a.Responder = rules.CloneRules(a.Rules), a.Forwarder.Clone(), a.Responder.Clone()
	}
	n.Filtering.TrustedNetworks = slices.Clone(c.Filtering.TrustedNetworks)
	n.Filtering.SRSSecrets = slices.Clone(c.Filtering.SRSSecrets)
	return &n
}
