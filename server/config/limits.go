package config

import "time"

// Limits is the [limits] table: bounds on connections, on slow clients
// and on what one account may grow to. Every limit is documented, with the
// line it logs, in docs/configuration.md ("Limits").
type Limits struct {
	// MaxConnections bounds the open client connections of all listeners
	// together. 0 (the default) derives it from the process's file
	// descriptor limit, keeping headroom for the database, blobs and
	// outbound connections: limit - max(64, limit/8).
	MaxConnections int `toml:"max_connections"`
	// LoginReservePercent of MaxConnections is kept for connections that
	// have logged in: connections that have not (yet) logged in are
	// refused once they hold the rest, so a flood of unauthenticated
	// connections cannot push out logged-in users. Default 25.
	LoginReservePercent int `toml:"login_reserve_percent"`
	// CommandLineTimeout bounds the time a client may take to send one
	// whole command line once it started it (IMAP before and after login,
	// SMTP command phase, POP3), so a client trickling a byte at a time
	// cannot hold a connection forever. Literal data (IMAP APPEND) and
	// SMTP DATA are bounded per read instead. Default 60s.
	CommandLineTimeout Duration `toml:"command_line_timeout"`
	// WriteTimeout bounds each write to a client (a client that stops
	// reading a large FETCH response is disconnected). Default 30s.
	WriteTimeout Duration `toml:"write_timeout"`
	// MaxMailboxesPerAccount bounds the mailboxes (folders) of one account
	// (IMAP CREATE answers NO [LIMIT] beyond it). Default 10000.
	MaxMailboxesPerAccount int `toml:"max_mailboxes_per_account"`
	// MaxKeywordsPerMailbox bounds the distinct keywords used in one
	// mailbox (STORE/APPEND answer NO [LIMIT] beyond it). Default 1000.
	MaxKeywordsPerMailbox int `toml:"max_keywords_per_mailbox"`
	// MaxMetadataPerAccount bounds the total size of one account's
	// METADATA entries (names and values; SETMETADATA answers
	// NO [METADATA TOOMANY] beyond it). Default 1 MiB.
	MaxMetadataPerAccount Size `toml:"max_metadata_per_account"`
}

// defaultLimits returns the [limits] defaults.
func defaultLimits() Limits {
	return Limits{
		LoginReservePercent:    25,
		CommandLineTimeout:     Duration(60 * time.Second),
		WriteTimeout:           Duration(30 * time.Second),
		MaxMailboxesPerAccount: 10000,
		MaxKeywordsPerMailbox:  1000,
		MaxMetadataPerAccount:  1 * MiB,
	}
}

// Defaults of the [auth] password settings.
const (
	DefaultMinPasswordLength = 10
	DefaultHashMemory        = 19 * MiB // argon2id m=19456 (OWASP)
	DefaultHashTime          = 2
	DefaultHashThreads       = 1
	DefaultHashQueue         = 1024
)

func (c *Config) validateLimits(v *validator) {
	l := &c.Limits
	if l.MaxConnections < 0 {
		v.fail("limits.max_connections", "must be 0 (derived from the file descriptor limit) or positive, not %d", l.MaxConnections)
	}
	if l.LoginReservePercent < 0 || l.LoginReservePercent > 90 {
		v.fail("limits.login_reserve_percent", "must be between 0 and 90, not %d", l.LoginReservePercent)
	}
	v.positiveDuration("limits.command_line_timeout", l.CommandLineTimeout)
	v.positiveDuration("limits.write_timeout", l.WriteTimeout)
	v.positiveInt("limits.max_mailboxes_per_account", l.MaxMailboxesPerAccount)
	v.positiveInt("limits.max_keywords_per_mailbox", l.MaxKeywordsPerMailbox)
	if l.MaxMetadataPerAccount <= 0 {
		v.fail("limits.max_metadata_per_account", "must be positive")
	}

	a := &c.Auth
	v.positiveInt("auth.min_password_length", a.MinPasswordLength)
	if a.HashMemory < 1*MiB || a.HashMemory > 1*GiB {
		v.fail("auth.hash_memory", "%s is out of range: between 1MiB and 1GiB", a.HashMemory)
	}
	if a.HashTime < 1 || a.HashTime > 64 {
		v.fail("auth.hash_time", "must be between 1 and 64, not %d", a.HashTime)
	}
	if a.HashThreads < 1 || a.HashThreads > 255 {
		v.fail("auth.hash_threads", "must be between 1 and 255, not %d", a.HashThreads)
	}
	if a.MaxConcurrentHashes < 0 {
		v.fail("auth.max_concurrent_hashes", "must be 0 (one per CPU core) or positive, not %d", a.MaxConcurrentHashes)
	}
	if a.HashQueue < 0 {
		v.fail("auth.hash_queue", "must not be negative, not %d", a.HashQueue)
	}
}
