package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/config"
)

// startHTTPServer is startServer with the http, https and clientsvc
// listeners too, and [discover] require_auth on.
func startHTTPServer(t *testing.T, locals ...string) *env {
	t.Helper()
	return startServerWith(t, func(c *config.Config) {
		c.Listeners.HTTP = "127.0.0.1:0"
		c.Listeners.HTTPS = "127.0.0.1:0"
		c.Listeners.ClientSvc = "127.0.0.1:0"
		c.Discover.RequireAuth = true
	}, locals...)
}

// pythonWith returns a python3 that imports module: Debian's (where Debian
// packages install modules) or the first in PATH.
func pythonWith(t *testing.T, module, pkg string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import "+module).Run() == nil {
			return py
		}
	}
	needCapability(t, "python module "+module, pkg, "/usr/bin/python3", "-c", "import "+module)
	return ""
}

func runJSON(t *testing.T, v any, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("%s output: %v\n%s", name, err, out)
	}
}

func certFile(e *env) string {
	f, _ := server.SelfSignedCertPaths(e.dir)
	return f
}

// TestExchangelibAutodiscover: python's exchangelib discovers the IMAP and
// SMTP settings of an account over Autodiscover POX, with Basic
// authentication, against the HTTPS listener.
func TestExchangelibAutodiscover(t *testing.T) {
	t.Parallel()
	py := pythonWith(t, "exchangelib", "python3-exchangelib")
	e := startHTTPServer(t, "dana")
	url := "https://localhost:" + e.port(t, "https") + "/autodiscover/autodiscover.xml"
	var got struct {
		SMTPAddress string `json:"smtp_address"`
		Protocols   []struct {
			Type         string `json:"type"`
			Server       string `json:"server"`
			LoginName    string `json:"login_name"`
			Port         int    `json:"port"`
			SSL          bool   `json:"ssl"`
			AuthRequired bool   `json:"auth_required"`
			SPA          bool   `json:"spa"`
		} `json:"protocols"`
	}
	runJSON(t, &got, py, "testdata/discover.py", "pox", url, "dana@"+domain, "dana@"+domain, password("dana"), certFile(e))
	if got.SMTPAddress != "dana@"+domain {
		t.Errorf("smtp address %q", got.SMTPAddress)
	}
	want := map[string]string{"IMAP": e.port(t, "imaps"), "SMTP": e.port(t, "submissions"), "POP3": e.port(t, "pop3s")}
	seen := 0
	for _, p := range got.Protocols {
		port, ok := want[p.Type]
		if !ok {
			continue
		}
		seen++
		if strconv.Itoa(p.Port) != port || p.Server != "localhost" || !p.SSL || !p.AuthRequired || p.SPA || p.LoginName != "dana@"+domain {
			t.Errorf("%s: %+v (want port %s)", p.Type, p, port)
		}
	}
	if seen != 3 {
		t.Errorf("protocols: %+v", got.Protocols)
	}
	// A wrong password is refused (require_auth).
	out, err := exec.Command(py, "testdata/discover.py", "pox", url, "dana@"+domain, "dana@"+domain, "wrong", certFile(e)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "401") {
		t.Errorf("wrong password: %v %s", err, out)
	}
}

// TestAutoconfigAndProfileCurl fetches autoconfig and the Apple profile
// with curl (raw requests) and parses them field by field with python
// (ElementTree, plistlib).
func TestAutoconfigAndProfileCurl(t *testing.T) {
	t.Parallel()
	curl := needTool(t, "curl", "curl")
	py := needTool(t, "python3", "python3")
	e := startHTTPServer(t, "erin")
	dir := t.TempDir()
	base := "https://localhost:" + e.port(t, "https")
	fetch := func(path, file string) {
		t.Helper()
		out, err := exec.Command(curl, "-sS", "--fail", "--cacert", certFile(e), "-o", filepath.Join(dir, file), base+path).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v %s", path, err, out)
		}
	}
	fetch("/mail/config-v1.1.xml?emailaddress=erin%40example.test", "autoconfig.xml")
	var ac struct {
		Version, ID, Domain string
		Incoming, Outgoing  []map[string]string
		AddressBook         map[string]string `json:"addressBook"`
		Calendar            map[string]string
	}
	runJSON(t, &ac, py, "testdata/discover.py", "autoconfig", filepath.Join(dir, "autoconfig.xml"))
	if ac.Version != "1.1" || ac.ID != domain || ac.Domain != domain || len(ac.Incoming) != 4 || len(ac.Outgoing) != 2 {
		t.Fatalf("autoconfig: %+v", ac)
	}
	in, out := ac.Incoming[0], ac.Outgoing[0]
	if in["type"] != "imap" || in["hostname"] != "localhost" || in["port"] != e.port(t, "imaps") || in["socketType"] != "SSL" ||
		in["username"] != "erin@"+domain || in["authentication"] != "password-cleartext" {
		t.Errorf("incoming: %v", in)
	}
	if ac.Incoming[1]["port"] != e.port(t, "imap") || ac.Incoming[1]["socketType"] != "STARTTLS" || ac.Incoming[2]["type"] != "pop3" {
		t.Errorf("incoming: %v", ac.Incoming)
	}
	if out["type"] != "smtp" || out["port"] != e.port(t, "submissions") || out["socketType"] != "SSL" ||
		ac.Outgoing[1]["port"] != e.port(t, "submission") || ac.Outgoing[1]["socketType"] != "STARTTLS" {
		t.Errorf("outgoing: %v", ac.Outgoing)
	}
	if ac.AddressBook["type"] != "carddav" || ac.AddressBook["serverURL"] != base+"/.well-known/carddav" ||
		ac.Calendar["type"] != "caldav" || ac.Calendar["serverURL"] != base+"/.well-known/caldav" {
		t.Errorf("dav: %v %v", ac.AddressBook, ac.Calendar)
	}

	fetch("/apple/profile.mobileconfig?emailaddress=erin%40example.test", "erin.mobileconfig")
	var p struct {
		PayloadType, PayloadIdentifier, PayloadUUID string
		PayloadVersion                              int
		PayloadContent                              []map[string]any
	}
	runJSON(t, &p, py, "testdata/discover.py", "profile", filepath.Join(dir, "erin.mobileconfig"))
	if p.PayloadType != "Configuration" || p.PayloadVersion != 1 || p.PayloadUUID == "" || len(p.PayloadContent) != 3 {
		t.Fatalf("profile: %+v", p)
	}
	want := []map[string]any{
		{"PayloadType": "com.apple.mail.managed", "EmailAccountType": "EmailTypeIMAP", "EmailAddress": "erin@" + domain,
			"IncomingMailServerHostName": "localhost", "IncomingMailServerPortNumber": mustFloat(e.port(t, "imaps")),
			"IncomingMailServerUseSSL": true, "IncomingMailServerUsername": "erin@" + domain,
			"IncomingMailServerAuthentication": "EmailAuthPassword",
			"OutgoingMailServerHostName":       "localhost", "OutgoingMailServerPortNumber": mustFloat(e.port(t, "submissions")),
			"OutgoingMailServerUseSSL": true, "OutgoingPasswordSameAsIncomingPassword": true},
		{"PayloadType": "com.apple.caldav.account", "CalDAVHostName": "localhost", "CalDAVPort": mustFloat(e.port(t, "https")),
			"CalDAVUseSSL": true, "CalDAVUsername": "erin@" + domain, "CalDAVPrincipalURL": base + "/.well-known/caldav"},
		{"PayloadType": "com.apple.carddav.account", "CardDAVHostName": "localhost", "CardDAVPort": mustFloat(e.port(t, "https")),
			"CardDAVUseSSL": true, "CardDAVUsername": "erin@" + domain},
	}
	for i, w := range want {
		for k, v := range w {
			if p.PayloadContent[i][k] != v {
				t.Errorf("payload %d %s = %v, want %v", i, k, p.PayloadContent[i][k], v)
			}
		}
		if p.PayloadContent[i]["PayloadUUID"] == "" || p.PayloadContent[i]["PayloadIdentifier"] == "" {
			t.Errorf("payload %d without identity", i)
		}
	}
	// Autodiscover over curl: a POST with Basic credentials, path in
	// upper case.
	req := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>erin@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	raw, err := exec.Command(curl, "-sS", "--fail", "--cacert", certFile(e), "-u", "erin@"+domain+":"+password("erin"),
		"-H", "Content-Type: text/xml", "--data-binary", req, base+"/AUTODISCOVER/AUTODISCOVER.XML").CombinedOutput()
	if err != nil || !strings.Contains(string(raw), "<Port>"+e.port(t, "imaps")+"</Port>") {
		t.Errorf("curl autodiscover: %v\n%s", err, raw)
	}
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return f
}

// TestExchangelibAutodiscoverFlow runs exchangelib's own Autodiscover
// discovery (MS-OXDISCO steps 1 to 5) rather than posting to a known URL:
// its DNS lookups go to a DNS server on loopback and https://HOST/ to the
// https listener. The domain itself, then autodiscover.DOMAIN, then the
// _autodiscover._tcp SRV record (the names `floe dns` prints) lead it to
// the settings of the account, after Basic authentication
// (require_auth); a wrong password finds nothing.
func TestExchangelibAutodiscoverFlow(t *testing.T) {
	t.Parallel()
	py := pythonWith(t, "exchangelib", "python3-exchangelib")
	e := startHTTPServer(t, "fred")
	https, err := strconv.Atoi(e.port(t, "https"))
	if err != nil {
		t.Fatal(err)
	}
	email := "fred@" + domain
	ad := "https://%s/autodiscover/autodiscover.xml"
	for _, tc := range []struct {
		name string
		zone map[string]map[string]any
		urls []string // the URLs exchangelib tried, in order
	}{
		{"domain", map[string]map[string]any{"A": {domain: "127.0.0.1"}, "HTTPS": {domain: https}},
			[]string{fmt.Sprintf(ad, domain)}},
		{"autodiscover host", map[string]map[string]any{"A": {"autodiscover." + domain: "127.0.0.1"}, "HTTPS": {"autodiscover." + domain: https}},
			[]string{fmt.Sprintf(ad, domain), fmt.Sprintf(ad, "autodiscover."+domain)}},
		{"SRV record", map[string]map[string]any{"A": {"mail." + domain: "127.0.0.1"},
			"SRV": {"_autodiscover._tcp." + domain: "0 0 443 mail." + domain + "."}, "HTTPS": {"mail." + domain: https}},
			[]string{fmt.Sprintf(ad, domain), fmt.Sprintf(ad, "autodiscover."+domain), fmt.Sprintf(ad, "mail."+domain)}},
	} {
		zone, _ := json.Marshal(tc.zone)
		var got struct {
			Error       string   `json:"error"`
			URLs        []string `json:"urls"`
			SMTPAddress string   `json:"smtp_address"`
			Protocols   []struct {
				Type      string `json:"type"`
				Port      int    `json:"port"`
				SSL       bool   `json:"ssl"`
				LoginName string `json:"login_name"`
			} `json:"protocols"`
		}
		runJSON(t, &got, py, "testdata/discover.py", "flow", string(zone), email, email, password("fred"))
		if got.Error != "" || strings.Join(got.URLs, " ") != strings.Join(tc.urls, " ") || got.SMTPAddress != email {
			t.Errorf("%s: %+v, want the URLs %v", tc.name, got, tc.urls)
			continue
		}
		ports := map[string]string{}
		for _, p := range got.Protocols {
			if p.SSL && p.LoginName == email {
				ports[p.Type] = strconv.Itoa(p.Port)
			}
		}
		if ports["IMAP"] != e.port(t, "imaps") || ports["SMTP"] != e.port(t, "submissions") || ports["POP3"] != e.port(t, "pop3s") {
			t.Errorf("%s: protocols %+v", tc.name, got.Protocols)
		}
	}
	zone, _ := json.Marshal(map[string]map[string]any{"A": {domain: "127.0.0.1"}, "HTTPS": {domain: https}})
	var got struct {
		Error string `json:"error"`
	}
	runJSON(t, &got, py, "testdata/discover.py", "flow", string(zone), email, email, "wrong-password")
	if !strings.Contains(got.Error, "AutoDiscoverFailed") {
		t.Errorf("wrong password: %+v", got)
	}
}
