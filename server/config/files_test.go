package config

import "testing"

func TestLinkBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, https, http, base, want string
	}{
		{"standard https port", ":443", ":80", "", "https://mail.example.org"},
		{"other https port", "127.0.0.1:8443", "127.0.0.1:8080", "", "https://mail.example.org:8443"},
		{"http only", "", ":8080", "", "http://mail.example.org:8080"},
		{"http standard port", "", ":80", "", "http://mail.example.org"},
		{"configured", ":8443", ":80", "https://files.example.org/", "https://files.example.org"},
		{"configured with port", ":8443", ":80", "https://files.example.org:9443", "https://files.example.org:9443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Production()
			c.Server.Hostname = "mail.example.org"
			c.Listeners.HTTPS, c.Listeners.HTTP = tt.https, tt.http
			c.Files.SmartAttachBaseURL = tt.base
			if got := c.LinkBaseURL(); got != tt.want {
				t.Errorf("LinkBaseURL() = %q, want %q", got, tt.want)
			}
		})
	}
}
