package discover

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/xml"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/certgen"
	"github.com/floemail/floe/server/config"
	"github.com/smallstep/pkcs7"
)

// testConfig is a production-like config: standard ports on every
// interface, mail.example.org as the public name.
func testConfig() *config.Config {
	c := config.Production()
	c.Server.Hostname = "mail.example.org"
	c.Domains = []config.Domain{{Name: "example.org"}}
	return c
}

type fakeAuth struct{}

func (fakeAuth) Login(_ context.Context, _ netip.Addr, _, user, pass string) (*auth.Principal, error) {
	if user == "alice@example.org" && pass == "secret" {
		return &auth.Principal{Account: 1, Address: "alice@example.org"}, nil
	}
	return nil, auth.ErrFailed
}

func newHandler(cfg *config.Config, cert *tls.Certificate) *Handler {
	return New(Options{
		Config:      func() *config.Config { return cfg },
		Auth:        fakeAuth{},
		Certificate: func() *tls.Certificate { return cert },
	})
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	s := Describe(testConfig(), " Alice@Example.ORG ")
	if s.Email != "alice@example.org" || s.LoginName != s.Email || s.Domain != "example.org" || s.Organization != "example.org" {
		t.Errorf("identity: %+v", s)
	}
	want := func(name string, got []Endpoint, ports []int, secs []Security) {
		t.Helper()
		if len(got) != len(ports) {
			t.Fatalf("%s: %+v", name, got)
		}
		for i := range got {
			if got[i].Host != "mail.example.org" || got[i].Port != ports[i] || got[i].Security != secs[i] {
				t.Errorf("%s[%d] = %+v", name, i, got[i])
			}
		}
	}
	want("imap", s.IMAP, []int{993, 143}, []Security{SSL, STARTTLS})
	want("pop3", s.POP3, []int{995, 110}, []Security{SSL, STARTTLS})
	want("smtp", s.SMTP, []int{465, 587}, []Security{SSL, STARTTLS})
	if s.WebDAV != "https://mail.example.org/webdav/" || s.CalDAV != "https://mail.example.org/.well-known/caldav" ||
		s.CardDAV != "https://mail.example.org/.well-known/carddav" || s.ClientServices != "https://mail.example.org:5229/" {
		t.Errorf("urls: %+v", s)
	}

	// Disabled listeners disappear; a discover host name and URLs win.
	c := config.Development()
	c.Listeners.IMAPS, c.Listeners.Submissions, c.Listeners.ClientSvc = "", "", ""
	c.Discover.Hostname = "imap.example.test"
	c.Discover.CardDAVURL = "https://dav.example.test/card/"
	s = Describe(c, "bob@example.test")
	if len(s.IMAP) != 1 || s.IMAP[0] != (Endpoint{"imap", "imap.example.test", 1143, STARTTLS}) {
		t.Errorf("imap: %+v", s.IMAP)
	}
	want2 := s.SMTP[0]
	if len(s.SMTP) != 1 || want2.Port != 2587 || want2.Host != "imap.example.test" {
		t.Errorf("smtp: %+v", s.SMTP)
	}
	if s.CalDAV != "https://imap.example.test:8443/.well-known/caldav" || s.CardDAV != "https://dav.example.test/card/" || s.ClientServices != "" {
		t.Errorf("urls: %+v", s)
	}
}

func TestParsePOXRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, email, schema string
		err                       error
	}{
		{"outlook", `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>Alice@Example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`,
			"alice@example.org", SchemaOutlook, nil},
		{"mobilesync", `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"><Request><EMailAddress>a@b.example</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema></Request></Autodiscover>`,
			"a@b.example", SchemaMobileSync, nil},
		{"mobile namespace implies schema", `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"><Request><EMailAddress>a@b.example</EMailAddress></Request></Autodiscover>`,
			"a@b.example", SchemaMobileSync, nil},
		{"no namespace", `<Autodiscover><Request><EMailAddress>a@b.example</EMailAddress></Request></Autodiscover>`,
			"a@b.example", SchemaOutlook, nil},
		{"other schema kept", `<Autodiscover><Request><EMailAddress>a@b.example</EMailAddress><AcceptableResponseSchema>urn:x</AcceptableResponseSchema></Request></Autodiscover>`,
			"a@b.example", "urn:x", nil},
		{"no address", `<Autodiscover><Request></Request></Autodiscover>`, "", SchemaOutlook, ErrNoAddress},
		{"bad address", `<Autodiscover><Request><EMailAddress>not an address</EMailAddress></Request></Autodiscover>`, "not an address", SchemaOutlook, ErrNoAddress},
		{"wrong root", `<Foo><Request><EMailAddress>a@b.example</EMailAddress></Request></Foo>`, "", "", ErrMalformed},
		{"garbage", `{"json": true}`, "", "", ErrMalformed},
		{"empty", ``, "", "", ErrMalformed},
		{"entity", `<!DOCTYPE a [<!ENTITY x "y">]><Autodiscover><Request><EMailAddress>&x;@b.example</EMailAddress></Request></Autodiscover>`, "", "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePOXRequest([]byte(tc.body))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.err == ErrMalformed {
				return
			}
			if got.EMailAddress != tc.email || got.Schema != tc.schema {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func FuzzParsePOXRequest(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alice@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`))
	f.Add([]byte(`<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"><Request><EMailAddress>a@b.c</EMailAddress></Request></Autodiscover>`))
	f.Add([]byte(`<Autodiscover><Request><EMailAddress><![CDATA[a@b.c]]></EMailAddress></Request></Autodiscover>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParsePOXRequest(body)
		if err == nil {
			if !validAddress(req.EMailAddress) || req.Schema == "" {
				t.Fatalf("accepted %+v", req)
			}
			// Whatever was accepted renders to well-formed XML.
			s := Describe(testConfig(), req.EMailAddress)
			for _, out := range [][]byte{outlookResponse(s), mobileSyncResponse(s, "")} {
				if err := xml.Unmarshal(out, new(struct{ XMLName xml.Name })); err != nil {
					t.Fatalf("response is not XML: %v\n%s", err, out)
				}
			}
		}
	})
}

func post(t *testing.T, h http.Handler, path, body string, mod func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "https://autodiscover.example.org"+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "text/xml")
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const outlookReq = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>%s</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

func poxBody(email, schema string) string {
	return strings.Replace(strings.Replace(outlookReq, "%s", email, 1), "%s", schema, 1)
}

// outlookDoc is what a client reads from an outlook-schema answer.
type outlookDoc struct {
	Response struct {
		User struct {
			DisplayName             string
			AutoDiscoverSMTPAddress string
		}
		Account struct {
			AccountType, Action string
			Protocol            []struct {
				Type, Server, LoginName, SSL, Encryption, AuthRequired string
				Port                                                   int
			}
		}
		Error struct{ ErrorCode, Message string }
	}
}

func TestAutodiscoverOutlook(t *testing.T) {
	t.Parallel()
	h := newHandler(testConfig(), nil)
	// Any case of the path, on any host.
	for _, path := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml", "/AUTODISCOVER/AUTODISCOVER.XML"} {
		w := post(t, h, path, poxBody("alice@example.org", SchemaOutlook), nil)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/xml") {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		var d outlookDoc
		if err := xml.Unmarshal(w.Body.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		a := d.Response.Account
		if a.AccountType != "email" || a.Action != "settings" || d.Response.User.AutoDiscoverSMTPAddress != "alice@example.org" {
			t.Fatalf("account: %+v", d.Response)
		}
		want := map[string]struct {
			server string
			port   int
			enc    string
		}{
			"IMAP": {"mail.example.org", 993, "SSL"}, "SMTP": {"mail.example.org", 465, "SSL"}, "POP3": {"mail.example.org", 995, "SSL"},
			"WEBDAV": {"https://mail.example.org/webdav/", 443, ""}, "CALDAV": {"https://mail.example.org/.well-known/caldav", 443, ""},
			"CARDDAV":   {"https://mail.example.org/.well-known/carddav", 443, ""},
			"CLIENTSVC": {"https://mail.example.org:5229/", 5229, ""},
		}
		if len(a.Protocol) != len(want) || a.Protocol[0].Type != "IMAP" {
			t.Fatalf("protocols: %+v", a.Protocol)
		}
		for _, p := range a.Protocol {
			w, ok := want[p.Type]
			if !ok || p.Server != w.server || p.Port != w.port || p.Encryption != w.enc || p.SSL != "on" ||
				p.LoginName != "alice@example.org" || p.AuthRequired != "on" {
				t.Errorf("%s: %+v", p.Type, p)
			}
		}
	}
}

func TestAutodiscoverStartTLSOnly(t *testing.T) {
	t.Parallel()
	c := testConfig()
	c.Listeners.IMAPS, c.Listeners.Submissions, c.Listeners.POP3S, c.Listeners.POP3 = "", "", "", ""
	w := post(t, newHandler(c, nil), PathAutodiscoverXML, poxBody("x@example.org", SchemaOutlook), nil)
	var d outlookDoc
	xml.Unmarshal(w.Body.Bytes(), &d)
	got := map[string]string{}
	for _, p := range d.Response.Account.Protocol {
		got[p.Type] = p.Encryption + ":" + itoa(p.Port)
	}
	if got["IMAP"] != "TLS:143" || got["SMTP"] != "TLS:587" || got["POP3"] != "" {
		t.Errorf("got %v", got)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestAutodiscoverUnknownAddress: the answer for an address without an
// account is the answer for one with an account, address aside.
func TestAutodiscoverUnknownAddress(t *testing.T) {
	t.Parallel()
	h := newHandler(testConfig(), nil)
	a := post(t, h, PathAutodiscoverXML, poxBody("alice@example.org", SchemaOutlook), nil).Body.String()
	b := post(t, h, PathAutodiscoverXML, poxBody("nobody@example.org", SchemaOutlook), nil).Body.String()
	if strings.ReplaceAll(b, "nobody@", "alice@") != a {
		t.Errorf("answers differ:\n%s\n%s", a, b)
	}
}

func TestAutodiscoverErrors(t *testing.T) {
	t.Parallel()
	h := newHandler(testConfig(), nil)
	code := func(w *httptest.ResponseRecorder) string {
		t.Helper()
		var d outlookDoc
		if err := xml.Unmarshal(w.Body.Bytes(), &d); err != nil {
			t.Fatalf("%v: %s", err, w.Body)
		}
		return d.Response.Error.ErrorCode
	}
	if c := code(post(t, h, PathAutodiscoverXML, "garbage", nil)); c != "600" {
		t.Errorf("garbage: %s", c)
	}
	if c := code(post(t, h, PathAutodiscoverXML, poxBody("alice@example.org", "urn:unknown"), nil)); c != "601" {
		t.Errorf("unknown schema: %s", c)
	}
	big := poxBody("alice@example.org", SchemaOutlook) + "<!--" + strings.Repeat("x", MaxRequestBody) + "-->"
	if c := code(post(t, h, PathAutodiscoverXML, big, nil)); c != "600" {
		t.Errorf("oversized: %s", c)
	}
	r := httptest.NewRequest(http.MethodGet, PathAutodiscoverXML, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if c := code(w); c != "600" {
		t.Errorf("GET: %s", c)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/autodiscover/other", nil))
	if w.Code != 404 {
		t.Errorf("other path: %d", w.Code)
	}
}

func TestAutodiscoverRequireAuth(t *testing.T) {
	t.Parallel()
	c := testConfig()
	c.Discover.RequireAuth = true
	h := newHandler(c, nil)
	body := poxBody("Alice.Alias@example.org", SchemaOutlook)
	w := post(t, h, PathAutodiscoverXML, body, nil)
	if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("no credentials: %d %v", w.Code, w.Header())
	}
	w = post(t, h, PathAutodiscoverXML, body, func(r *http.Request) { r.SetBasicAuth("alice@example.org", "wrong") })
	if w.Code != 401 {
		t.Errorf("wrong password: %d", w.Code)
	}
	w = post(t, h, PathAutodiscoverXML, body, func(r *http.Request) { r.SetBasicAuth("alice@example.org", "secret") })
	var d outlookDoc
	if err := xml.Unmarshal(w.Body.Bytes(), &d); err != nil || w.Code != 200 {
		t.Fatalf("%d %v", w.Code, err)
	}
	// The login name is the authenticated account, not the alias asked for.
	if p := d.Response.Account.Protocol; len(p) == 0 || p[0].LoginName != "alice@example.org" {
		t.Errorf("login name: %+v", p)
	}
}

// TestAutodiscoverDisplayName: an answer authenticated as the account
// asked about shows its display name; one for another address, or
// unauthenticated, shows only the address.
func TestAutodiscoverDisplayName(t *testing.T) {
	t.Parallel()
	c := testConfig()
	names := map[string]string{"alice@example.org": "Alice Liddell", "bob@example.org": "Bob Builder"}
	h := New(Options{Config: func() *config.Config { return c }, Auth: fakeAuth{},
		DisplayName: func(_ context.Context, a string) string { return names[a] }})
	ask := func(addr string, auth bool) string {
		t.Helper()
		w := post(t, h, PathAutodiscoverXML, poxBody(addr, SchemaOutlook), func(r *http.Request) {
			if auth {
				r.SetBasicAuth("alice@example.org", "secret")
			}
		})
		var d outlookDoc
		if err := xml.Unmarshal(w.Body.Bytes(), &d); err != nil || w.Code != 200 {
			t.Fatalf("%d %v", w.Code, err)
		}
		return d.Response.User.DisplayName
	}
	if got := ask("alice@example.org", false); got != "alice@example.org" {
		t.Errorf("without require_auth: %q", got)
	}
	c.Discover.RequireAuth = true
	if got := ask("alice@example.org", true); got != "Alice Liddell" {
		t.Errorf("authenticated as alice: %q", got)
	}
	if got := ask("bob@example.org", true); got != "bob@example.org" {
		t.Errorf("alice asking about bob: %q (another account's name revealed)", got)
	}
}

func TestAutodiscoverMobileSync(t *testing.T) {
	t.Parallel()
	type mobileDoc struct {
		Response struct {
			XMLName xml.Name
			User    struct{ EMailAddress string }
			Action  struct {
				Settings struct {
					Server []struct{ Type, Url string }
				}
				Error struct {
					Status  int
					Message string
				}
			}
		}
	}
	c := testConfig()
	body := strings.Replace(poxBody("alice@example.org", SchemaMobileSync), "outlook/requestschema", "mobilesync/requestschema", 1)
	var d mobileDoc
	xml.Unmarshal(post(t, newHandler(c, nil), PathAutodiscoverXML, body, nil).Body.Bytes(), &d)
	if d.Response.XMLName.Space != SchemaMobileSync || d.Response.User.EMailAddress != "alice@example.org" || d.Response.Action.Error.Status != 1 {
		t.Errorf("without gateway: %+v", d)
	}
	c.Discover.ActiveSyncURL = "https://eas.example.org/Microsoft-Server-ActiveSync"
	d = mobileDoc{}
	xml.Unmarshal(post(t, newHandler(c, nil), PathAutodiscoverXML, body, nil).Body.Bytes(), &d)
	if s := d.Response.Action.Settings.Server; len(s) != 1 || s[0].Type != "MobileSync" || s[0].Url != c.Discover.ActiveSyncURL {
		t.Errorf("with gateway: %+v", d)
	}
}

func getJSON(t *testing.T, h http.Handler, target string, v any) int {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("%s: %v: %s", target, err, w.Body)
	}
	return w.Code
}

func TestAutodiscoverV2(t *testing.T) {
	t.Parallel()
	h := newHandler(testConfig(), nil)
	var ok v2Response
	if c := getJSON(t, h, "/autodiscover/autodiscover.json?Email=alice@example.org&Protocol=AutodiscoverV1", &ok); c != 200 ||
		ok.Protocol != "AutodiscoverV1" || ok.URL != "https://mail.example.org/autodiscover/autodiscover.xml" {
		t.Errorf("query form: %d %+v", c, ok)
	}
	ok = v2Response{}
	if c := getJSON(t, h, "/Autodiscover/Autodiscover.json/v1.0/alice@example.org?Protocol=autodiscoverv1", &ok); c != 200 || ok.Protocol != "AutodiscoverV1" {
		t.Errorf("path form: %d %+v", c, ok)
	}
	var e v2Error
	if c := getJSON(t, h, "/autodiscover/autodiscover.json?Email=alice@example.org&Protocol=Ews", &e); c != 400 || e.ErrorCode != "InvalidProtocol" {
		t.Errorf("ews: %d %+v", c, e)
	}
	if c := getJSON(t, h, "/autodiscover/autodiscover.json?Protocol=AutodiscoverV1", &e); c != 400 || e.ErrorCode != "InvalidEmail" {
		t.Errorf("no email: %d %+v", c, e)
	}
}

func TestAutoconfig(t *testing.T) {
	t.Parallel()
	type server struct {
		Type           string `xml:"type,attr"`
		Hostname       string `xml:"hostname"`
		Port           int    `xml:"port"`
		SocketType     string `xml:"socketType"`
		Authentication string `xml:"authentication"`
		Username       string `xml:"username"`
	}
	type dav struct {
		Type      string `xml:"type,attr"`
		Username  string `xml:"username"`
		ServerURL string `xml:"serverURL"` // Mozilla's clientConfig 1.1
		URL       string `xml:"url"`       // draft-ietf-mailmaint-autoconfig
	}
	type doc struct {
		XMLName  xml.Name `xml:"clientConfig"`
		Version  string   `xml:"version,attr"`
		Provider struct {
			ID       string   `xml:"id,attr"`
			Domain   string   `xml:"domain"`
			Incoming []server `xml:"incomingServer"`
			Outgoing []server `xml:"outgoingServer"`
		} `xml:"emailProvider"`
		AddressBook dav `xml:"addressBook"`
		Calendar    dav `xml:"calendar"`
	}
	h := newHandler(testConfig(), nil)
	for _, tc := range []struct{ target, user string }{
		{"https://autoconfig.example.org/mail/config-v1.1.xml?emailaddress=alice%40example.org", "alice@example.org"},
		{"https://example.org/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@example.org", "alice@example.org"},
		{"https://autoconfig.example.org/mail/config-v1.1.xml", "%EMAILADDRESS%"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.target, nil))
		var d doc
		if err := xml.Unmarshal(w.Body.Bytes(), &d); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %v %s", tc.target, w.Code, err, w.Body)
		}
		if d.Version != "1.1" || d.Provider.ID != "example.org" || d.Provider.Domain != "example.org" {
			t.Errorf("provider: %+v", d)
		}
		in := d.Provider.Incoming
		if len(in) != 4 || in[0] != (server{"imap", "mail.example.org", 993, "SSL", "password-cleartext", tc.user}) ||
			in[1] != (server{"imap", "mail.example.org", 143, "STARTTLS", "password-cleartext", tc.user}) ||
			in[2] != (server{"pop3", "mail.example.org", 995, "SSL", "password-cleartext", tc.user}) {
			t.Errorf("incoming: %+v", in)
		}
		out := d.Provider.Outgoing
		if len(out) != 2 || out[0] != (server{"smtp", "mail.example.org", 465, "SSL", "password-cleartext", tc.user}) ||
			out[1].Port != 587 || out[1].SocketType != "STARTTLS" {
			t.Errorf("outgoing: %+v", out)
		}
		card, cal := "https://mail.example.org/.well-known/carddav", "https://mail.example.org/.well-known/caldav"
		if d.AddressBook != (dav{"carddav", tc.user, card, card}) || d.Calendar != (dav{"caldav", tc.user, cal, cal}) {
			t.Errorf("dav: %+v %+v", d.AddressBook, d.Calendar)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/mail/config-v1.1.xml?emailaddress=bad", nil))
	if w.Code != 400 {
		t.Errorf("bad address: %d", w.Code)
	}
}

// caSigned returns a certificate for mail.example.org issued by a fresh CA,
// and the CA.
func caSigned(t *testing.T) (*tls.Certificate, *x509.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail.example.org"},
		DNSNames: []string{"mail.example.org"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, ca
}

func getProfile(t *testing.T, h http.Handler) []byte {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/apple/profile.mobileconfig?emailaddress=alice@example.org", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/x-apple-aspen-config" ||
		!strings.Contains(w.Header().Get("Content-Disposition"), "alice_example.org.mobileconfig") {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	return w.Body.Bytes()
}

func TestMobileconfig(t *testing.T) {
	t.Parallel()
	// A self-signed certificate: the profile is plain XML.
	self, err := certgen.New([]string{"mail.example.org"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	selfCert := self.TLS
	body := getProfile(t, newHandler(testConfig(), &selfCert))
	if !strings.HasPrefix(string(body), "<?xml") {
		t.Fatalf("self-signed: not plain XML")
	}
	for _, want := range []string{
		"<key>PayloadType</key><string>com.apple.mail.managed</string>",
		"<key>IncomingMailServerHostName</key><string>mail.example.org</string>",
		"<key>IncomingMailServerPortNumber</key><integer>993</integer>",
		"<key>OutgoingMailServerPortNumber</key><integer>465</integer>",
		"<key>CalDAVHostName</key><string>mail.example.org</string>",
		"<key>CardDAVUsername</key><string>alice@example.org</string>",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("profile lacks %s", want)
		}
	}

	// A CA-issued certificate: CMS SignedData that verifies against the CA
	// and carries the same profile.
	cert, ca := caSigned(t)
	signed := getProfile(t, newHandler(testConfig(), cert))
	p7, err := pkcs7.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if err := p7.VerifyWithChain(pool); err != nil {
		t.Errorf("signature: %v", err)
	}
	if string(p7.Content) != string(body) {
		t.Errorf("signed content differs from the unsigned profile")
	}
	if _, err := SignProfile(body, &selfCert); !errors.Is(err, ErrSelfSigned) {
		t.Errorf("self-signed: %v", err)
	}
}

func TestOwns(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"/autodiscover/autodiscover.xml": true, "/AutoDiscover/AutoDiscover.XML": true,
		"/autodiscover/autodiscover.json/v1.0/a@b.c": true, "/mail/config-v1.1.xml": true,
		"/.well-known/autoconfig/mail/config-v1.1.xml": true, "/apple/profile.mobileconfig": true,
		"/": false, "/autodiscover": false, "/.well-known/caldav": false,
	} {
		if Owns(p) != want {
			t.Errorf("Owns(%q) = %v", p, !want)
		}
	}
}
