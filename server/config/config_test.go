package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/certgen"
)

func TestDevelopment(t *testing.T) {
	c := Development()
	if err := c.Validate(); err != nil {
		t.Fatalf("Development() does not validate: %v", err)
	}
	want := Listeners{
		SMTP: "127.0.0.1:2525", Submissions: "127.0.0.1:4465", Submission: "127.0.0.1:2587",
		POP3: "127.0.0.1:1110", POP3S: "127.0.0.1:1995", IMAP: "127.0.0.1:1143",
		IMAPS: "127.0.0.1:1993", HTTP: "127.0.0.1:8080", HTTPS: "127.0.0.1:8443",
		ClientSvc: "127.0.0.1:15229", Admin: "127.0.0.1:19090",
	}
	if c.Listeners != want {
		t.Errorf("listeners = %+v, want %+v", c.Listeners, want)
	}
	if c.Server.DataDir != "./data" || c.Server.Hostname != "localhost" {
		t.Errorf("server = %+v", c.Server)
	}
	if len(c.Domains) != 1 || c.Domains[0].Name != "example.test" || len(c.Accounts) != 0 {
		t.Errorf("domains = %+v, accounts = %+v", c.Domains, c.Accounts)
	}
	checkDefaultLimits(t, c)
}

func TestProduction(t *testing.T) {
	c := Production()
	if err := c.Validate(); err != nil {
		t.Fatalf("Production() does not validate: %v", err)
	}
	want := Listeners{
		SMTP: ":25", Submissions: ":465", Submission: ":587", POP3: ":110", POP3S: ":995",
		IMAP: ":143", IMAPS: ":993", HTTP: ":80", HTTPS: ":443", ClientSvc: ":5229",
		Admin: "127.0.0.1:9090",
	}
	if c.Listeners != want {
		t.Errorf("listeners = %+v, want %+v", c.Listeners, want)
	}
	if c.Server.DataDir != "/var/lib/floe" {
		t.Errorf("data dir = %q", c.Server.DataDir)
	}
	if h, err := os.Hostname(); err == nil && h != "" && c.Server.Hostname != strings.ToLower(h) {
		t.Errorf("hostname = %q, want %q", c.Server.Hostname, strings.ToLower(h))
	}
	if len(c.Domains)+len(c.Accounts)+len(c.Aliases) != 0 {
		t.Errorf("production has directory entries: %+v", c)
	}
	if c.Auth.LocalPartLogin || c.TLS.AllowPlaintextAuth {
		t.Errorf("production enables local_part_login or allow_plaintext_auth")
	}
	checkDefaultLimits(t, c)
}

func checkDefaultLimits(t *testing.T, c *Config) {
	t.Helper()
	s := c.SMTP
	if s.MaxMessageSize != 52428800 || s.MaxRecipients != 100 || s.MaxMessagesPerConnection != 100 ||
		s.MaxConnectionsPerIP != 50 || s.MaxLineLength != 4096 || s.CommandTimeout.D() != 5*time.Minute ||
		s.DataTimeout.D() != 10*time.Minute || s.MaxErrors != 10 {
		t.Errorf("smtp defaults = %+v", s)
	}
	if c.POP3.CommandTimeout.D() != 10*time.Minute || c.POP3.PreAuthTimeout.D() != time.Minute {
		t.Errorf("pop3 defaults = %+v", c.POP3)
	}
	a := c.Auth
	if a.MaxFailuresPerIP != 10 || a.MaxFailuresPerAccount != 10 || a.FailureWindow.D() != 15*time.Minute ||
		a.FailureDelay.D() != time.Second {
		t.Errorf("auth defaults = %+v", a)
	}
	if c.Log != (Log{Level: "info", Format: "text"}) || c.Server.ShutdownTimeout.D() != 30*time.Second {
		t.Errorf("log = %+v, shutdown = %v", c.Log, c.Server.ShutdownTimeout)
	}
}

func TestDefaultsAreFresh(t *testing.T) {
	a := Development()
	a.Domains[0].Name = "changed.test"
	a.SMTP.MaxErrors = 1
	if b := Development(); b.Domains[0].Name != "example.test" || b.SMTP.MaxErrors != 10 {
		t.Errorf("Development() shares state between calls")
	}
}

func TestValidateNoFile(t *testing.T) {
	c := Development()
	c.Listeners.IMAP = "127.0.0.1:2525"
	c.Accounts = []Account{{Address: "Bob@Example.TEST", PasswordHash: "secret"}}
	err := c.Validate()
	got := errLines(t, err)
	want := []string{
		`listeners.imap: "127.0.0.1:2525" conflicts with listeners.smtp = "127.0.0.1:2525" (same port); give each listener its own address or disable one with ""`,
		"account[0].password_hash: must be a hash (argon2id or bcrypt), never a plain password; create one with `floe hash-password`",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if c.Accounts[0].Address != "bob@example.test" {
		t.Errorf("Validate did not normalise the address: %q", c.Accounts[0].Address)
	}
	c.File = "x.toml"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "x.toml: listeners.imap: ") {
		t.Errorf("error without line should start with the file name: %v", err)
	}
}

// TestCloneIsDeep fails when a field type is added that Clone does not
// copy deeply: every slice, map and pointer in Config must be listed here
// and handled in Clone.
func TestCloneIsDeep(t *testing.T) {
	handled := map[string]bool{"Domains": true, "Accounts": true, "Aliases": true, "Auth.Admins": true, "Outbound.RequireTLSDomains": true,
		"ClientSvc.Provisioning.Forced": true, "ClientSvc.Domains": true, "ClientSvc.Domains[].Provisioning.Forced": true,
		"Filtering.TrustedNetworks": true, "Filtering.SRSSecrets": true,
		// rules.CloneRules, Forwarder.Clone and Responder.Clone copy these deeply.
		"Rules": true, "Domains[].Rules": true, "Accounts[].Rules": true, "Accounts[].Forwarder": true, "Accounts[].Responder": true,
		"Groups": true, "Groups[].Members": true}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name := prefix + f.Name
			if f.Type == ruleListType || f.Type == forwarderType || f.Type == responderType {
				if !handled[name] {
					t.Errorf("Clone does not copy %s", name)
				}
				continue
			}
			switch f.Type.Kind() {
			case reflect.Slice:
				if !handled[name] {
					t.Errorf("Clone does not copy %s", name)
				}
				if f.Type.Elem().Kind() == reflect.Struct {
					walk(name+"[].", f.Type.Elem())
				}
			case reflect.Map, reflect.Pointer, reflect.Interface, reflect.Func, reflect.Chan:
				t.Errorf("Clone does not copy %s (%s)", name, f.Type.Kind())
			case reflect.Struct:
				walk(name+".", f.Type)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())

	c := Development()
	c.Accounts = []Account{{Address: "a@example.test"}}
	c.Aliases = []Alias{{Address: "b@example.test", Target: "a@example.test"}}
	n := c.Clone()
	if !reflect.DeepEqual(c, n) {
		t.Fatalf("clone differs")
	}
	n.Domains[0].Name = "x"
	n.Accounts[0].Address = "x"
	n.Aliases[0].Target = "x"
	n.SMTP.MaxErrors = 99
	if c.Domains[0].Name == "x" || c.Accounts[0].Address == "x" || c.Aliases[0].Target == "x" || c.SMTP.MaxErrors == 99 {
		t.Errorf("clone shares memory with the original")
	}
	if (*Config)(nil).Clone() != nil {
		t.Errorf("nil.Clone() != nil")
	}
}

// writeCert writes a self-signed certificate and key to dir.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	c, err := certgen.New([]string{"mail.example.org"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cert1, key1 := writeCert(t, dir, "one")
	_, key2 := writeCert(t, dir, "two")
	load := func(cert, key string) error {
		src := "[tls]\ncert_file = '" + cert + "'\nkey_file = '" + key + "'\n"
		_, err := parse("floe.toml", []byte(src), Production())
		return err
	}
	if err := load(cert1, key1); err != nil {
		t.Errorf("good pair: %v", err)
	}
	err := load(cert1, key2)
	got := errLines(t, err)
	if len(got) != 1 || !strings.HasPrefix(got[0], `floe.toml:2: tls.cert_file: "`+cert1+`" and "`+key2+`" are not a usable certificate and key: private key does not match public key`) {
		t.Errorf("mismatched pair: %q", got)
	}
	err = load(key1, cert1)
	if got := errLines(t, err); len(got) != 1 || !strings.Contains(got[0], "are not a usable certificate and key") {
		t.Errorf("swapped files: %q", got)
	}
}

// exampleUncommented returns etc/floe.toml with its example entries and
// the commented-out hostname enabled.
func exampleUncommented(t testing.TB, src string) string {
	t.Helper()
	lines := strings.Split(src, "\n")
	in, seen := false, false
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "# ----- example entries"):
			in, seen = true, true
			continue
		case strings.HasPrefix(l, "# ----- end of example entries"):
			in = false
			continue
		case strings.HasPrefix(l, "# hostname = "):
			lines[i] = l[2:]
		}
		if in {
			lines[i] = strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ")
		}
	}
	if !seen || in {
		t.Fatalf("etc/floe.toml: example entries markers not found")
	}
	return strings.Join(lines, "\n")
}

const examplePath = "../../etc/floe.toml"

func TestExampleConfig(t *testing.T) {
	c, err := Load(examplePath, Production())
	if err != nil {
		t.Fatalf("etc/floe.toml does not load:\n%v", err)
	}
	// As shipped, the example documents exactly the defaults.
	want := Production()
	want.File = examplePath
	if !reflect.DeepEqual(c, want) {
		t.Errorf("etc/floe.toml differs from Production():\n got %+v\nwant %+v", c, want)
	}

	src, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	full := exampleUncommented(t, string(src))
	c, err = parse(examplePath, []byte(full), Production())
	if err != nil {
		t.Fatalf("etc/floe.toml with its examples enabled does not load:\n%v", err)
	}
	if len(c.Domains) != 1 || len(c.Accounts) != 1 || len(c.Aliases) != 1 {
		t.Fatalf("examples: %+v %+v %+v", c.Domains, c.Accounts, c.Aliases)
	}
	if !verifyArgon2id(t, c.Accounts[0].PasswordHash, "change-me") {
		t.Errorf("the example password_hash is not a hash of \"change-me\"")
	}

	// Every key of the file format is documented in the example.
	pos, _ := indexPositions([]byte(full))
	for _, k := range leafKeys("", reflect.TypeFor[Config]()) {
		if !pos.has(k) {
			t.Errorf("etc/floe.toml does not document %s", k)
		}
	}
}

// leafKeys lists the paths of every setting, with index 0 for lists.
func leafKeys(prefix string, typ reflect.Type) []string {
	var keys []string
	names, index := tomlFields(typ)
	for _, n := range names {
		f := typ.Field(index[n])
		p := joinKey(prefix, n)
		switch {
		case f.Type == ruleListType, f.Type == forwarderType, f.Type == responderType:
			keys = append(keys, p) // the rule schema is documented in docs/rules.md
		case f.Type.Kind() == reflect.Struct:
			keys = append(keys, leafKeys(p, f.Type)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			keys = append(keys, leafKeys(indexKey(p, 0), f.Type.Elem())...)
		default:
			keys = append(keys, p)
		}
	}
	return keys
}

func TestErrorsFormat(t *testing.T) {
	e := &Errors{List: []*Error{
		{File: "f.toml", Line: 3, Column: 7, Reason: "syntax"},
		{File: "f.toml", Line: 4, Key: "a.b", Reason: "bad"},
		{File: "f.toml", Key: "c", Reason: "default is bad"},
		{Line: 9, Key: "d", Reason: "no file"},
		{Key: "e", Reason: "nothing"},
	}}
	want := "f.toml:3:7: syntax\nf.toml:4: a.b: bad\nf.toml: c: default is bad\nline 9: d: no file\ne: nothing"
	if e.Error() != want {
		t.Errorf("got %q\nwant %q", e.Error(), want)
	}
	var one *Error
	if !errors.As(error(e), &one) || one.Reason != "syntax" {
		t.Errorf("errors.As through Unwrap failed")
	}
	if (&Errors{}).err() != nil || (*Errors)(nil).err() != nil {
		t.Errorf("empty Errors is not nil error")
	}
}

// TestExampleConfigSaysWhatToSet: the shipped example names, in its first
// lines, what must be set before use.
func TestExampleConfigSaysWhatToSet(t *testing.T) {
	b, err := os.ReadFile("../../etc/floe.toml")
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Join(strings.SplitN(string(b), "\n", 12)[:11], "\n")
	for _, want := range []string{"hostname", "[[domain]]"} {
		if !strings.Contains(head, want) {
			t.Errorf("the first lines of etc/floe.toml do not mention %s:\n%s", want, head)
		}
	}
}
