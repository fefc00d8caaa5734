package config

import (
	"strings"
	"testing"
)

func TestLinkURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, https, http, base, discoverHost, webdav, want string
	}{
		{"standard https port", ":443", ":80", "", "", "", "https://mail.example.org/webdav/link/"},
		{"other https port", "127.0.0.1:8443", "127.0.0.1:8080", "", "", "", "https://mail.example.org:8443/webdav/link/"},
		{"http only", "", ":8080", "", "", "", "http://mail.example.org:8080/webdav/link/"},
		{"http standard port", "", ":80", "", "", "", "http://mail.example.org/webdav/link/"},
		{"public host name", ":443", ":80", "", "public.example.org", "", "https://public.example.org/webdav/link/"},
		{"webdav url of a proxy", ":8443", ":80", "", "", "https://proxy.example.org/floe/webdav/", "https://proxy.example.org/floe/webdav/link/"},
		{"configured", ":8443", ":80", "https://files.example.org/", "", "https://proxy.example.org/webdav/", "https://files.example.org/webdav/link/"},
		{"configured with port", ":8443", ":80", "https://files.example.org:9443", "", "", "https://files.example.org:9443/webdav/link/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Production()
			c.Server.Hostname = "mail.example.org"
			c.Listeners.HTTPS, c.Listeners.HTTP = tt.https, tt.http
			c.Files.SmartAttachBaseURL = tt.base
			c.Discover.Hostname, c.Discover.WebDAVURL = tt.discoverHost, tt.webdav
			if got := c.LinkURL(); got != tt.want {
				t.Errorf("LinkURL() = %q, want %q", got, tt.want)
			}
			if got, want := c.WebDAVURL(), strings.TrimSuffix(tt.want, "link/"); got != want {
				t.Errorf("WebDAVURL() = %q, want %q", got, want)
			}
		})
	}
}
