package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/floemail/floe/server/clientsvc"
	"github.com/floemail/floe/storage"
)

// startClientsServer starts a server with every listener, the HTTP ones
// and the admin listener included, on random loopback ports, and one
// account.
func startClientsServer(t *testing.T) (*Server, map[string]string, *tls.Config) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Listeners.HTTP = "127.0.0.1:0"
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Listeners.ClientSvc = "127.0.0.1:0"
	cfg.Listeners.Admin = "127.0.0.1:0"
	cfg.Auth.FailureDelay = 0
	cfg.ClientSvc.DefaultSeats = 1
	addAccount(t, cfg, "carol@example.test", "carol-Secret-1")
	srv := startServer(t, cfg)
	addrs := map[string]string{}
	for n, a := range srv.Addrs() {
		addrs[n] = a.String()
	}
	return srv, addrs, clientTLS(t, cfg.Server.DataDir, "127.0.0.1")
}

func port(t *testing.T, addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSmartDiscoverLive: Autodiscover and autoconfig over the real HTTPS
// listener describe the ports the listeners are bound to.
func TestSmartDiscoverLive(t *testing.T) {
	_, addrs, tlsCfg := startClientsServer(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Minute}
	body := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>carol@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	resp, err := hc.Post("https://"+addrs["https"]+"/AutoDiscover/AutoDiscover.xml", "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Response struct {
			Account struct {
				Protocol []struct {
					Type, Server, Encryption string
					Port                     int
				}
			}
		}
	}
	if err := xml.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	got := map[string]int{}
	for _, p := range d.Response.Account.Protocol {
		got[p.Type] = p.Port
	}
	if got["IMAP"] != port(t, addrs["imaps"]) || got["SMTP"] != port(t, addrs["submissions"]) ||
		got["POP3"] != port(t, addrs["pop3s"]) || got["CALDAV"] != port(t, addrs["https"]) {
		t.Errorf("autodiscover ports %v, listeners %v", got, addrs)
	}
	// autoconfig on the plain HTTP listener (loopback is served, not
	// redirected).
	resp, err = hc.Get("http://" + addrs["http"] + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=carol@example.test")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<port>"+strconv.Itoa(port(t, addrs["imaps"]))+"</port>") {
		t.Errorf("autoconfig: %d %s", resp.StatusCode, b)
	}
}

// TestClientServicesLive: the settings API gives the activation key; the
// client services on their own TLS listener activate with it within the
// seats; the license verifies with the published key.
func TestClientServicesLive(t *testing.T) {
	_, addrs, tlsCfg := startClientsServer(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Minute}
	get := func(url string, v any) int {
		req, _ := http.NewRequest("GET", url, nil)
		req.SetBasicAuth("carol@example.test", "carol-Secret-1")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(v)
		return resp.StatusCode
	}
	var k struct {
		Key string `json:"activation_key"`
	}
	if code := get("https://"+addrs["https"]+"/api/v1/activation-key", &k); code != 200 || k.Key == "" {
		t.Fatalf("settings activation key: %d %+v", code, k)
	}
	activate := func(machine string) (*http.Response, []byte) {
		req, _ := http.NewRequest("POST", "https://"+addrs["clientsvc"]+"/api/v1/activate",
			strings.NewReader(`{"activation_key":"`+k.Key+`","machine_id":"`+machine+`"}`))
		req.SetBasicAuth("carol@example.test", "carol-Secret-1")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := activate("laptop-1")
	if resp.StatusCode != 200 {
		t.Fatalf("activate: %d %s", resp.StatusCode, b)
	}
	var doc clientsvc.Document
	json.Unmarshal(b, &doc)
	var pk clientsvc.PublicKeyDoc
	get("https://"+addrs["clientsvc"]+"/api/v1/license/public-key", &pk)
	pub, _ := base64.StdEncoding.DecodeString(pk.PublicKey)
	if l, err := clientsvc.VerifyDocument(ed25519.PublicKey(pub), doc); err != nil || l.MachineID != "laptop-1" {
		t.Errorf("license: %+v %v", l, err)
	}
	if resp, b := activate("laptop-2"); resp.StatusCode != 403 || !strings.Contains(string(b), "all 1 client seats") {
		t.Errorf("beyond the seats: %d %s", resp.StatusCode, b)
	}
}

// TestMetricsLive: after traffic on SMTP, IMAP, POP3 and HTTP the admin
// listener's counters have moved; /metrics is not served on the public
// listeners.
func TestMetricsLive(t *testing.T) {
	_, addrs, tlsCfg := startClientsServer(t)
	// SMTP: MX delivery and an authenticated submission.
	c, err := gosmtp.Dial(addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	sendMail(t, c, "someone@remote.test", "carol@example.test", "metrics1")
	c.Quit()
	c, err = gosmtp.DialTLS(addrs["submissions"], tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "carol@example.test", "carol-Secret-1")); err != nil {
		t.Fatal(err)
	}
	sendMail(t, c, "carol@example.test", "carol@example.test", "metrics2")
	c.Quit()
	// IMAP: a failed and a good login, SELECT, FETCH.
	ic, ir, _ := imapDial(t, addrs["imap"])
	imapCmd(t, ic, ir, "a0", "LOGIN carol@example.test wrong")
	if r := imapCmd(t, ic, ir, "a1", "LOGIN carol@example.test carol-Secret-1"); !strings.HasPrefix(r, "a1 OK") {
		t.Fatalf("LOGIN: %s", r)
	}
	imapCmd(t, ic, ir, "a2", "SELECT INBOX")
	imapCmd(t, ic, ir, "a3", "FETCH 1:* (FLAGS)")
	imapCmd(t, ic, ir, "a4", "LOGOUT")
	// POP3.
	pc, err := net.Dial("tcp", addrs["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	p := newPOP3(t, pc)
	p.cmd("USER carol@example.test")
	p.cmd("PASS carol-Secret-1")
	p.cmd("STAT")
	p.cmd("QUIT")
	pc.Close()
	// HTTP: autodiscover over HTTPS.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Minute}
	if resp, err := hc.Get("https://" + addrs["https"] + "/autodiscover/autodiscover.json?Email=carol@example.test&Protocol=AutodiscoverV1"); err == nil {
		resp.Body.Close()
	}
	// Not on the public listeners.
	for _, u := range []string{"https://" + addrs["https"] + "/metrics", "http://" + addrs["http"] + "/metrics", "https://" + addrs["clientsvc"] + "/metrics"} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(b), "floe_") {
			t.Errorf("%s: %d %.80s", u, resp.StatusCode, b)
		}
	}

	resp, err := http.Get("http://" + addrs["admin"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	val := func(name string, labels ...string) float64 {
		f, ok := fams[name]
		if !ok {
			t.Errorf("no %s", name)
			return -1
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		return 0
	}
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"floe_connections_total", []string{"protocol", "smtp"}, 1},
		{"floe_connections_total", []string{"protocol", "submissions"}, 1},
		{"floe_connections_total", []string{"protocol", "imap"}, 1},
		{"floe_connections_total", []string{"protocol", "pop3"}, 1},
		{"floe_connections_total", []string{"protocol", "https"}, 1},
		{"floe_logins_total", []string{"protocol", "imap", "result", "ok"}, 1},
		{"floe_logins_total", []string{"protocol", "imap", "result", "failed"}, 1},
		{"floe_logins_total", []string{"protocol", "pop3", "result", "ok"}, 1},
		{"floe_logins_total", []string{"protocol", "smtp", "result", "ok"}, 1},
		{"floe_command_duration_seconds", []string{"protocol", "imap", "command", "SELECT"}, 1},
		{"floe_command_duration_seconds", []string{"protocol", "pop3", "command", "STAT"}, 1},
		{"floe_command_duration_seconds", []string{"protocol", "smtp", "command", "DATA"}, 2},
		{"floe_messages_received_total", []string{"protocol", "mx"}, 1},
		{"floe_messages_received_total", []string{"protocol", "submission"}, 1},
		{"floe_messages_delivered_total", nil, 2},
		{"floe_http_requests_total", []string{"service", "discover", "code", "200"}, 1},
		{"floe_storage_bytes", []string{"kind", "database"}, 1},
		{"floe_storage_bytes", []string{"kind", "mailboxes"}, 1},
	} {
		if v := val(c.name, c.labels...); v < c.min {
			t.Errorf("%s%v = %v, want >= %v", c.name, c.labels, v, c.min)
		}
	}
	if _, ok := fams["floe_queue_size"]; !ok {
		t.Errorf("no floe_queue_size")
	}
	if v := val("floe_queue_messages_total", "event", "queued"); v != 0 {
		t.Errorf("queued = %v without remote mail", v)
	}
	resp2, err := http.Get("http://" + addrs["admin"] + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if resp2.StatusCode != 200 || string(b) != "ok\n" {
		t.Errorf("healthz: %d %q", resp2.StatusCode, b)
	}
}

// TestSettingsRulesLive: the settings API stores rules validated by the
// rules layer; a rule reading a server file is refused.
func TestSettingsRulesLive(t *testing.T) {
	_, addrs, tlsCfg := startClientsServer(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Minute}
	put := func(body string) (int, string) {
		req, _ := http.NewRequest("PUT", "https://"+addrs["https"]+"/api/v1/rules", strings.NewReader(body))
		req.SetBasicAuth("carol@example.test", "carol-Secret-1")
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := put(`[{"title":"Invoices","conditions":[{"if":"subject","contains":"invoice"}],"actions":[{"do":"move","folder":"Invoices"}]}]`); code != 200 || !strings.Contains(b, `"Invoices"`) {
		t.Errorf("good rule: %d %s", code, b)
	}
	if code, b := put(`[{"title":"x","conditions":[{"if":"subjekt","contains":"a"}],"actions":[{"do":"delete"}]}]`); code != 400 || !strings.Contains(b, "subjekt") {
		t.Errorf("unknown condition: %d %s", code, b)
	}
	if code, b := put(`[{"title":"x","conditions":[{"if":"from","file":"/etc/passwd"}],"actions":[{"do":"delete"}]}]`); code != 400 {
		t.Errorf("file condition from a user: %d %s", code, b)
	}
	// The refused changes left the first rule in place.
	req, _ := http.NewRequest("GET", "https://"+addrs["https"]+"/api/v1/rules", nil)
	req.SetBasicAuth("carol@example.test", "carol-Secret-1")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"Invoices"`) {
		t.Errorf("rules after refused changes: %s", b)
	}
}

// TestSettingsRulesSendFromOwnAddress: rules a user stores through the
// settings API send only from the user's own addresses (its address, an
// alias, a send-as grant): a send action or a responder "from" naming
// someone else is refused with its field, and "scope" (the config file's)
// is refused; the administrator's documents (floe rules import, the config
// file) are not concerned.
func TestSettingsRulesSendFromOwnAddress(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Auth.FailureDelay = 0
	addAccount(t, cfg, "carol@example.test", "carol-Secret-1")
	addAccount(t, cfg, "ceo@example.test", "ceo-Secret-1")
	st, err := OpenStore(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutAlias(context.Background(), storage.Alias{Address: "c.smith@example.test", Target: "carol@example.test"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	srv := startServer(t, cfg)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, cfg.Server.DataDir, "127.0.0.1")}, Timeout: time.Minute}
	put := func(part, body string) (int, string) {
		req, _ := http.NewRequest("PUT", "https://"+srv.Addrs()["https"].String()+"/api/v1/"+part, strings.NewReader(body))
		req.SetBasicAuth("carol@example.test", "carol-Secret-1")
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	send := func(from string) string {
		return `[{"title":"notify","conditions":[{"if":"all"}],"actions":[{"do":"send","to":"boss@remote.test","from":"` + from + `","subject":"s","text":"t"}]}]`
	}
	for _, tc := range []struct {
		part, body string
		code       int
		key        string
	}{
		{"rules", send("carol@example.test"), 200, ""},
		{"rules", send("c.smith@example.test"), 200, ""},    // an alias of hers
		{"rules", send("carol+news@example.test"), 200, ""}, // with a tag
		{"rules", send(""), 200, ""},                        // the default: her address
		{"rules", send("ceo@example.test"), 400, "rules[0].actions[0].from"},
		{"rules", send("ceo@bank.example"), 400, "rules[0].actions[0].from"},
		{"rules", `[{"title":"x","scope":"ceo@example.test","conditions":[{"if":"all"}],"actions":[{"do":"stop"}]}]`, 400, "rules[0].scope"},
		{"responder", `{"mode":"always","text":"away","from":"c.smith@example.test"}`, 200, ""},
		{"responder", `{"mode":"always","text":"away","from":"ceo@example.test"}`, 400, "responder.from"},
	} {
		code, b := put(tc.part, tc.body)
		if code != tc.code || tc.key != "" && !strings.Contains(b, `"key": "`+tc.key+`"`) {
			t.Errorf("PUT %s %s: %d %s; want %d with the problem at %q", tc.part, tc.body, code, b, tc.code, tc.key)
		}
	}
}
