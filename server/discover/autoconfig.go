package discover

import (
	"encoding/xml"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Thunderbird autoconfig, format "clientConfig version 1.1"
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
type (
	acConfig struct {
		XMLName     xml.Name     `xml:"clientConfig"`
		Version     string       `xml:"version,attr"`
		Provider    acProvider   `xml:"emailProvider"`
		AddressBook *acDAV       `xml:"addressBook,omitempty"`
		Calendar    *acDAV       `xml:"calendar,omitempty"`
		WebDAV      *acDAV       `xml:"x-floe-webdav,omitempty"`
		ClientSvc   *acClientSvc `xml:"x-floe-clientsvc,omitempty"`
	}
	acProvider struct {
		ID               string     `xml:"id,attr"`
		Domain           string     `xml:"domain"`
		DisplayName      string     `xml:"displayName"`
		DisplayShortName string     `xml:"displayShortName"`
		Incoming         []acServer `xml:"incomingServer"`
		Outgoing         []acServer `xml:"outgoingServer"`
	}
	acServer struct {
		Type           string `xml:"type,attr"`
		Hostname       string `xml:"hostname"`
		Port           int    `xml:"port"`
		SocketType     string `xml:"socketType"`
		Authentication string `xml:"authentication"`
		Username       string `xml:"username"`
	}
	// acDAV is an addressBook, calendar or x-floe-webdav section: the URL
	// in serverURL (Mozilla's clientConfig 1.1) and in url (the same
	// section in draft-ietf-mailmaint-autoconfig); each reader ignores
	// the element it does not know.
	acDAV struct {
		Type           string `xml:"type,attr,omitempty"`
		Username       string `xml:"username"`
		Authentication string `xml:"authentication"`
		ServerURL      string `xml:"serverURL"`
		URL            string `xml:"url"`
	}
	acClientSvc struct {
		URL string `xml:"url"`
	}
)

// placeholder is Thunderbird's variable for the address the user typed.
const placeholder = "%EMAILADDRESS%"

// autoconfig answers GET /mail/config-v1.1.xml (on autoconfig.DOMAIN) and
// /.well-known/autoconfig/mail/config-v1.1.xml. Thunderbird sends
// ?emailaddress=; without it the domain comes from the Host header and the
// user name is Thunderbird's %EMAILADDRESS% placeholder.
func (h *Handler) autoconfig(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	cfg := h.o.Config()
	email := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("emailaddress")))
	var s Settings
	switch {
	case email != "":
		if !validAddress(email) {
			http.Error(w, "emailaddress is not an address (local@domain)", http.StatusBadRequest)
			return
		}
		s = h.describe(cfg, email)
	default:
		domain := requestDomain(r)
		if domain == "" {
			http.Error(w, "emailaddress is required", http.StatusBadRequest)
			return
		}
		s = h.describe(cfg, "user@"+domain)
		s.Email, s.LoginName = placeholder, placeholder
	}
	w.Header().Set("Content-Type", contentTypeXML)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(AutoconfigXML(s))
}

// requestDomain derives the mail domain from the Host header:
// autoconfig.example.org -> example.org; any other name is taken as is.
func requestDomain(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	host = strings.TrimPrefix(host, "autoconfig.")
	if host == "" || net.ParseIP(host) != nil || !validAddress("x@"+host) {
		return ""
	}
	return host
}

// AutoconfigXML renders s as a Thunderbird clientConfig 1.1 document: every
// IMAP and POP3 endpoint as incomingServer (IMAP first, implicit TLS
// first), the submission endpoints as outgoingServer, CardDAV and CalDAV as
// addressBook and calendar, and Floe's WebDAV and client-services URLs in
// x-floe-* elements that Thunderbird ignores.
func AutoconfigXML(s Settings) []byte {
	socket := func(sec Security) string {
		if sec == SSL {
			return "SSL"
		}
		return "STARTTLS"
	}
	p := acProvider{ID: s.Domain, Domain: s.Domain, DisplayName: s.Organization, DisplayShortName: s.Organization}
	for _, list := range [][]Endpoint{s.IMAP, s.POP3} {
		for _, e := range list {
			p.Incoming = append(p.Incoming, acServer{Type: e.Protocol, Hostname: e.Host, Port: e.Port,
				SocketType: socket(e.Security), Authentication: "password-cleartext", Username: s.LoginName})
		}
	}
	for _, e := range s.SMTP {
		p.Outgoing = append(p.Outgoing, acServer{Type: "smtp", Hostname: e.Host, Port: e.Port,
			SocketType: socket(e.Security), Authentication: "password-cleartext", Username: s.LoginName})
	}
	doc := acConfig{Version: "1.1", Provider: p}
	if s.CardDAV != "" {
		doc.AddressBook = &acDAV{Type: "carddav", Username: s.LoginName, Authentication: "http-basic", ServerURL: s.CardDAV, URL: s.CardDAV}
	}
	if s.CalDAV != "" {
		doc.Calendar = &acDAV{Type: "caldav", Username: s.LoginName, Authentication: "http-basic", ServerURL: s.CalDAV, URL: s.CalDAV}
	}
	if s.WebDAV != "" {
		doc.WebDAV = &acDAV{Username: s.LoginName, Authentication: "http-basic", ServerURL: s.WebDAV, URL: s.WebDAV}
	}
	if s.ClientServices != "" {
		doc.ClientSvc = &acClientSvc{URL: s.ClientServices}
	}
	return marshalXML(doc)
}

// ManualText is the settings to type by hand, one line per item, for the
// settings page and docs.
func ManualText(s Settings) string {
	var b strings.Builder
	sec := func(x Security) string {
		if x == SSL {
			return "SSL/TLS"
		}
		return "STARTTLS"
	}
	line := func(label string, eps []Endpoint) {
		for _, e := range eps {
			b.WriteString(label + ": " + e.Host + " port " + strconv.Itoa(e.Port) + " (" + sec(e.Security) + ")\n")
		}
	}
	line("IMAP", s.IMAP)
	line("POP3", s.POP3)
	line("SMTP", s.SMTP)
	b.WriteString("User name: " + s.LoginName + "\n")
	for _, u := range []struct{ l, v string }{{"WebDAV", s.WebDAV}, {"CalDAV", s.CalDAV}, {"CardDAV", s.CardDAV}} {
		if u.v != "" {
			b.WriteString(u.l + ": " + u.v + "\n")
		}
	}
	return b.String()
}
