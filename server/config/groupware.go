package config

import "time"

// Groupware is the [groupware] table: CalDAV/CardDAV and free/busy
// (webdav/dav). The settings apply when the server starts.
type Groupware struct {
	// MaxResourceSize is the largest calendar or address object a DAV PUT
	// stores (413 with max-resource-size above it).
	MaxResourceSize Size `toml:"max_resource_size"`
	// FreeBusyAccess says who may read /freebusy/?user@domain: "anyone"
	// (no login), "authenticated" (any account) or "domain" (an account
	// of the same domain as the user).
	FreeBusyAccess string `toml:"freebusy_access"`
	// FreeBusyPast and FreeBusyFuture are the default free/busy window
	// around today when a request names no start or end.
	FreeBusyPast   Duration `toml:"freebusy_past"`
	FreeBusyFuture Duration `toml:"freebusy_future"`
}

func defaultGroupware() Groupware {
	return Groupware{
		MaxResourceSize: 10 * MiB,
		FreeBusyAccess:  "domain",
		FreeBusyPast:    Duration(7 * 24 * time.Hour),
		FreeBusyFuture:  Duration(60 * 24 * time.Hour),
	}
}

func (c *Config) validateGroupware(v *validator) {
	g := &c.Groupware
	if g.MaxResourceSize < 1*KiB || g.MaxResourceSize > 100*MiB {
		v.fail("groupware.max_resource_size", "%d bytes: use 1KiB to 100MiB", int64(g.MaxResourceSize))
	}
	switch g.FreeBusyAccess {
	case "anyone", "authenticated", "domain":
	default:
		v.fail("groupware.freebusy_access", "%q: use anyone, authenticated or domain", g.FreeBusyAccess)
	}
	v.positiveDuration("groupware.freebusy_past", g.FreeBusyPast)
	v.positiveDuration("groupware.freebusy_future", g.FreeBusyFuture)
	if time.Duration(g.FreeBusyPast+g.FreeBusyFuture) > 366*24*time.Hour {
		v.fail("groupware.freebusy_future", "the free/busy window is longer than a year")
	}
}
