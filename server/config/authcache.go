package config

import "time"

// Defaults of the verified-credential cache ([auth] cache_ttl and
// cache_size, server/auth).
const (
	DefaultAuthCacheTTL  = 5 * time.Minute
	DefaultAuthCacheSize = 10000
)

// MaxAuthCacheTTL bounds [auth] cache_ttl: a password verified longer ago
// than this is verified again whatever the setting.
const MaxAuthCacheTTL = 24 * time.Hour

func (c *Config) validateAuthCache(v *validator) {
	a := &c.Auth
	if a.CacheTTL < 0 || a.CacheTTL.D() > MaxAuthCacheTTL {
		v.fail("auth.cache_ttl", "%s: use 0 (no cache) up to 24h", a.CacheTTL.D())
	}
	if a.CacheSize < 1 || a.CacheSize > 10_000_000 {
		v.fail("auth.cache_size", "must be between 1 and 10000000, not %d", a.CacheSize)
	}
}
