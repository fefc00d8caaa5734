package config

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// Files is the [files] table: the WebDAV file folders at /webdav/
// (webdav/files) and SmartAttach for mail. The settings apply when the
// server starts, except max_file_size and the smartattach_* settings, read
// per request and per message.
type Files struct {
	// MaxFileSize is the largest file a WebDAV PUT stores (413 above it);
	// the account's quota applies as well (507).
	MaxFileSize Size `toml:"max_file_size"`
	// MaxXMLBody bounds the XML body of PROPFIND, PROPPATCH and LOCK,
	// checked before parsing (413 above it).
	MaxXMLBody Size `toml:"max_xml_body"`

	// SmartAttachMail turns SmartAttach for mail on (default off): in
	// mail submitted by a logged-in local user, each attachment of at
	// least SmartAttachMinSize bytes is stored as a file in the sender's
	// Files/Attachments folder and replaced in the message by a download
	// link that works without login for SmartAttachLinkLifetime.
	SmartAttachMail         bool     `toml:"smartattach_mail"`
	SmartAttachMinSize      Size     `toml:"smartattach_min_size"`
	SmartAttachLinkLifetime Duration `toml:"smartattach_link_lifetime"`
	// SmartAttachBaseURL is the scheme, host and port links start with
	// ("https://mail.example.org"); empty: derived from [discover] and the
	// listeners. See LinkURL.
	SmartAttachBaseURL string `toml:"smartattach_base_url"`

	// MaxItemAttachmentSize bounds one CalDAV managed attachment (RFC
	// 8607; 413 above it); MaxItemAttachments the managed attachments of
	// one calendar item (403 beyond). Read when the server starts.
	MaxItemAttachmentSize Size `toml:"max_item_attachment_size"`
	MaxItemAttachments    int  `toml:"max_item_attachments"`
}

// Limits of the smartattach settings.
const (
	minSmartAttachSize     = 1 * KiB
	minSmartAttachLifetime = Duration(time.Minute)
	maxSmartAttachLifetime = Duration(10 * 366 * 24 * time.Hour)
)

func defaultFiles() Files {
	return Files{MaxFileSize: 4 * GiB, MaxXMLBody: 1 * MiB,
		SmartAttachMinSize: 10 * MiB, SmartAttachLinkLifetime: Duration(30 * 24 * time.Hour),
		MaxItemAttachmentSize: 100 * MiB, MaxItemAttachments: 20}
}

func (c *Config) validateFiles(v *validator) {
	f := &c.Files
	if f.MaxFileSize < 1*KiB {
		v.fail("files.max_file_size", "%d bytes: use at least 1KiB", int64(f.MaxFileSize))
	}
	if f.MaxXMLBody < 4*KiB || f.MaxXMLBody > 64*MiB {
		v.fail("files.max_xml_body", "%d bytes: use 4KiB to 64MiB", int64(f.MaxXMLBody))
	}
	if f.SmartAttachMinSize < minSmartAttachSize {
		v.fail("files.smartattach_min_size", "%d bytes: use at least 1KiB", int64(f.SmartAttachMinSize))
	}
	if f.SmartAttachLinkLifetime < minSmartAttachLifetime || f.SmartAttachLinkLifetime > maxSmartAttachLifetime {
		v.fail("files.smartattach_link_lifetime", "%s: use 1m to 87840h (ten years)", f.SmartAttachLinkLifetime)
	}
	if f.MaxItemAttachmentSize < 1*KiB || f.MaxItemAttachmentSize > f.MaxFileSize {
		v.fail("files.max_item_attachment_size", "%d bytes: use 1KiB to files.max_file_size", int64(f.MaxItemAttachmentSize))
	}
	if f.MaxItemAttachments < 1 || f.MaxItemAttachments > 1000 {
		v.fail("files.max_item_attachments", "%d: use 1 to 1000", f.MaxItemAttachments)
	}
	if f.SmartAttachBaseURL != "" {
		u, err := url.Parse(f.SmartAttachBaseURL)
		switch {
		case err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http":
			v.fail("files.smartattach_base_url", "%q: write an absolute http or https URL, e.g. \"https://mail.example.org\"", f.SmartAttachBaseURL)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "":
			v.fail("files.smartattach_base_url", "%q: only scheme, host and port; links add /webdav/link/...", f.SmartAttachBaseURL)
		}
	} else if f.SmartAttachMail && c.Listeners.HTTPS == "" && c.Listeners.HTTP == "" && c.Discover.WebDAVURL == "" {
		v.fail("files.smartattach_mail", "links need an https or http listener, discover.webdav_url or files.smartattach_base_url")
	}
}

// WebDAVURL returns the public URL of the WebDAV file folders, ending in
// "/": [files] smartattach_base_url + "/webdav/"; else [discover]
// webdav_url (a proxy that publishes WebDAV elsewhere); else
// https://<discover.hostname or server.hostname> with the https
// listener's port (omitted when 443), or http with the http listener's
// (omitted when 80) when there is no https listener, + "/webdav/". The
// attachments of calendar items point into it.
func (c *Config) WebDAVURL() string {
	if b := c.Files.SmartAttachBaseURL; b != "" {
		return strings.TrimRight(b, "/") + "/webdav/"
	}
	if w := c.Discover.WebDAVURL; w != "" {
		return strings.TrimRight(w, "/") + "/"
	}
	scheme, addr, std := "https", c.Listeners.HTTPS, "443"
	if addr == "" && c.Listeners.HTTP != "" {
		scheme, addr, std = "http", c.Listeners.HTTP, "80"
	}
	host := c.PublicHostname()
	if strings.Contains(host, ":") { // an IPv6 literal
		host = "[" + host + "]"
	}
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "" && port != std && port != "0" {
		host += ":" + port
	}
	return scheme + "://" + host + "/webdav/"
}

// LinkURL returns the URL SmartAttach download links start with, ending
// in "/" (the token and file name follow): WebDAVURL + "link/".
func (c *Config) LinkURL() string { return c.WebDAVURL() + "link/" }
