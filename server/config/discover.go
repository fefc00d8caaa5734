package config

import (
	"net/url"
	"strings"
)

// Discover is the [discover] table: what SmartDiscover (Autodiscover,
// autoconfig, Apple profiles, the settings page's "type by hand" list)
// tells clients. Ports and TLS modes always come from [listeners].
type Discover struct {
	// Hostname is the name clients are told to connect to. Default: ""
	// meaning server.hostname.
	Hostname string `toml:"hostname"`
	// RequireAuth makes Autodiscover answer only requests with valid HTTP
	// Basic credentials (Outlook sends them); autoconfig and the v2 JSON
	// answer stay public, as clients fetch them before asking for a
	// password.
	RequireAuth bool `toml:"require_auth"`
	// Organization names the provider in Apple profiles and autoconfig
	// (default: the mail domain).
	Organization string `toml:"organization"`
	// WebDAVURL, CalDAVURL and CardDAVURL override the URLs derived from
	// the https listener (https://HOST[:PORT]/webdav/, /.well-known/caldav,
	// /.well-known/carddav): set them when a proxy publishes Floe under
	// other names.
	WebDAVURL  string `toml:"webdav_url"`
	CalDAVURL  string `toml:"caldav_url"`
	CardDAVURL string `toml:"carddav_url"`
	// ActiveSyncURL is given to clients asking Autodiscover for the
	// mobilesync schema, when an ActiveSync gateway runs beside Floe
	// (Floe does not speak ActiveSync). Empty: such requests get an
	// error telling the client to use IMAP.
	ActiveSyncURL string `toml:"activesync_url"`
}

// PublicHostname returns the host name clients connect to.
func (c *Config) PublicHostname() string {
	if c.Discover.Hostname != "" {
		return c.Discover.Hostname
	}
	return c.Server.Hostname
}

func (c *Config) validateDiscover(v *validator) {
	d := &c.Discover
	d.Hostname = strings.ToLower(strings.TrimSuffix(d.Hostname, "."))
	if d.Hostname != "" {
		if err := checkHostname(d.Hostname); err != nil {
			v.fail("discover.hostname", "%q: %s", d.Hostname, err)
		}
	}
	for _, u := range []struct{ path, val string }{
		{"discover.webdav_url", d.WebDAVURL}, {"discover.caldav_url", d.CalDAVURL}, {"discover.carddav_url", d.CardDAVURL},
		{"discover.activesync_url", d.ActiveSyncURL},
	} {
		if u.val == "" {
			continue
		}
		if p, err := url.Parse(u.val); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			v.fail(u.path, "%q is not an http(s) URL", u.val)
		}
	}
}
