package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const exampleHash = `$argon2id$v=19$m=65536,t=3,p=4$e2UyS884MAkXnzSZh2F2/A$iM+M3ANPyYLQujfhO44qh08jVuNfs3mEfKNmegx/UZg`

// errLines returns the lines of err, failing the test unless err is a
// *Errors.
func errLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, not *Errors: %v", err, err)
	}
	if len(errs.List) == 0 {
		t.Fatalf("empty *Errors returned")
	}
	return strings.Split(err.Error(), "\n")
}

func TestLoadGood(t *testing.T) {
	c, err := Load("testdata/good.toml", Production())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		File: "testdata/good.toml",
		Server: Server{
			Hostname: "mail.example.org", DataDir: "/srv/floe",
			ShutdownTimeout: Duration(time.Minute),
		},
		TLS: TLS{AllowPlaintextAuth: true},
		Listeners: Listeners{
			SMTP: "192.0.2.1:25", Submissions: "[2001:db8::1]:465",
			Submission: "mail.example.org:587", POP3: "", POP3S: ":995",
			IMAP: "127.0.0.1:143", IMAPS: "0.0.0.0:993", HTTP: ":8081",
			HTTPS: ":8444", ClientSvc: ":5230", Admin: "[::1]:9191",
		},
		Auth: Auth{
			LocalPartLogin: true, MaxFailuresPerIP: 5, MaxFailuresPerAccount: 3,
			FailureWindow: Duration(time.Hour), FailureDelay: 0,
			MinPasswordLength: DefaultMinPasswordLength, HashMemory: DefaultHashMemory,
			HashTime: DefaultHashTime, HashThreads: DefaultHashThreads, HashQueue: DefaultHashQueue,
			CacheTTL: Duration(DefaultAuthCacheTTL), CacheSize: DefaultAuthCacheSize,
		},
		SMTP: SMTP{
			MaxMessageSize: 25 * MB, MaxRecipients: 200, MaxMessagesPerConnection: 10,
			MaxConnectionsPerIP: 5, MaxLineLength: 1000,
			CommandTimeout: Duration(2 * time.Minute), DataTimeout: Duration(3 * time.Minute),
			MaxErrors: 3,
		},
		POP3: POP3{
			CommandTimeout: Duration(11 * time.Minute), PreAuthTimeout: Duration(30 * time.Second),
			MaxConnectionsPerIP: 4, MaxConnectionsPerUserIP: 10, MaxErrors: 2,
		},
		IMAP: IMAP{
			IdleTimeout: Duration(31 * time.Minute), PreAuthTimeout: Duration(20 * time.Second),
			MaxConnectionsPerIP: 6, MaxConnectionsPerUserIP: 50,
		},
		Checks: Checks{Enabled: true, DMARCRejectAction: "junk", SPFFailAction: "mark",
			Timeout: Duration(20 * time.Second), LogRDNS: true},
		Log:      Log{Level: "debug", Format: "json"},
		Outbound: defaultOutbound(),
		Discover: Discover{Hostname: "imap.example.org", RequireAuth: true, Organization: "Example Org",
			WebDAVURL: "https://files.example.org/webdav/", CalDAVURL: "https://dav.example.org/caldav/",
			CardDAVURL: "https://dav.example.org/carddav/", ActiveSyncURL: "https://eas.example.org/Microsoft-Server-ActiveSync"},
		ClientSvc: ClientSvc{
			SigningKeyFile: "/srv/floe/license.pem", LicenseDays: 30, DefaultSeats: 2,
			Update: ClientUpdate{Version: "1.2.3", URL: "https://downloads.example.org/floe-sync-1.2.3.msi",
				SHA256: strings.Repeat("a", 64), Notes: "bug fixes"},
			Provisioning: Provisioning{
				PrioritySyncInterval: Duration(time.Minute), StandardSyncInterval: Duration(30 * time.Minute),
				FolderSyncInterval: Duration(time.Hour), ConflictResolution: "server", FullSyncThreshold: 1024,
				DownloadMode: "custom", DownloadThreshold: 5 * MiB, Forced: []string{"folder_sync_interval"},
			},
			Domains: []ClientSvcDomain{{Name: "example.org", Seats: 10,
				Provisioning: Provisioning{ConflictResolution: "client", Forced: []string{"conflict_resolution"}}}},
		},
		HTTP:      defaultHTTP(),
		Files:     defaultFiles(),
		Storage:   defaultStorage(),
		Limits:    defaultLimits(),
		Filtering: defaultFiltering(),
		Spam:      defaultSpam(),
		Groupware: defaultGroupware(),
		Domains: []Domain{
			{Name: "example.org", CatchAll: "postmaster@example.org"},
			{Name: "example.net"},
		},
		Accounts: []Account{
			{Address: "postmaster@example.org", PasswordHash: exampleHash, Quota: 5 * GiB, QuotaMessages: 100000},
			{Address: "bob.smith+tag@example.net", PasswordHash: "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", Quota: 1048576, Disabled: true},
			{Address: "nopass@example.net", Disabled: true},
		},
		Aliases: []Alias{
			{Address: "abuse@example.org", Target: "postmaster@example.org"},
			{Address: "bob@example.net", Target: "bob.smith+tag@example.net"},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
}

func TestLoadKeepsBase(t *testing.T) {
	dev := Development()
	c, err := parse("floe.toml", []byte("[smtp]\nmax_errors = 3\n\n[[account]]\naddress = \"alice@example.test\"\npassword_hash = '"+exampleHash+"'\n"), dev)
	if err != nil {
		t.Fatal(err)
	}
	want := Development()
	want.File = "floe.toml"
	want.SMTP.MaxErrors = 3
	want.Accounts = []Account{{Address: "alice@example.test", PasswordHash: exampleHash}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	if !reflect.DeepEqual(dev, Development()) {
		t.Errorf("Load modified its base")
	}

	// A list in the file replaces the base's list.
	c, err = parse("floe.toml", []byte("[[domain]]\nname = \"other.test\"\n"), Development())
	if err != nil {
		t.Fatal(err)
	}
	if want := []Domain{{Name: "other.test"}}; !reflect.DeepEqual(c.Domains, want) {
		t.Errorf("domains = %+v, want %+v", c.Domains, want)
	}

	// An empty file is the base (nil base: Production).
	c, err = parse("floe.toml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = Production()
	want.File = "floe.toml"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("empty file: got %+v\nwant %+v", c, want)
	}
}

func TestLoadErrors(t *testing.T) {
	const h = exampleHash
	dom := "[[domain]]\nname = \"example.org\"\n" // lines 1-2
	tests := []struct {
		name string
		dev  bool // load over Development() instead of Production()
		src  string
		want []string
	}{
		// Syntax.
		{"syntax table", false, "[server\nhostname = \"x\"\n", []string{
			"floe.toml:1:8: expected ']' to close table name"}},
		{"syntax value", false, "[smtp]\nmax_errors = \n", []string{
			"floe.toml:2:14: unexpected character U+000A at start of value"}},
		{"duplicate key", false, "[smtp]\nmax_errors = 1\nmax_errors = 2\n", []string{
			"floe.toml:3:1: key max_errors is already defined"}},

		// Unknown keys.
		{"unknown key typo", false, "[smtp]\n\nmax_recipeints = 5\n", []string{
			`floe.toml:3: unknown key "smtp.max_recipeints" (did you mean "smtp.max_recipients"?)`}},
		{"unknown table", false, "[smpt]\nmax_errors = 1\n", []string{
			`floe.toml:1: unknown key "smpt" (did you mean "smtp"?)`}},
		{"unknown root key", false, "\nwhatever = 1\n", []string{
			`floe.toml:2: unknown key "whatever"`}},
		{"unknown quoted key", false, "[log]\n\"a.b\" = 1\n", []string{
			`floe.toml:2: unknown key "log.\"a.b\""`}},
		{"unknown key in entry", false, dom + "[[account]]\naddress = \"a@example.org\"\npassword_hash = '" + h + "'\n[[account]]\naddress = \"b@example.org\"\npasword_hash = 'x'\n", []string{
			`floe.toml:6: account[1].password_hash: missing; create one with ` + "`floe hash-password`" + ` (or set disabled = true)`,
			`floe.toml:8: unknown key "account[1].pasword_hash" (did you mean "account[1].password_hash"?)`}},

		// Types.
		{"string for int", false, "[smtp]\nmax_recipients = \"100\"\n", []string{
			`floe.toml:2: smtp.max_recipients: expected an integer, got a string`}},
		{"float for int", false, "[smtp]\nmax_recipients = 1.5\n", []string{
			`floe.toml:2: smtp.max_recipients: expected an integer, got a float`}},
		{"int for string", false, "[server]\nhostname = 5\n", []string{
			`floe.toml:2: server.hostname: expected a string, got an integer`}},
		{"string for bool", false, "[tls]\nallow_plaintext_auth = \"yes\"\n", []string{
			`floe.toml:2: tls.allow_plaintext_auth: expected true or false, got a string`}},
		{"date for string", false, "[server]\ndata_dir = 1979-05-27\n", []string{
			`floe.toml:2: server.data_dir: expected a string, got a date/time`}},
		{"scalar for table", false, "smtp = 1\n", []string{
			`floe.toml:1: smtp: expected a table, got an integer`}},
		{"scalar for array of tables", false, "domain = \"example.org\"\n", []string{
			`floe.toml:1: domain: expected an array of tables ([[domain]]), got a string`}},
		{"dotted key", false, "smtp.max_errors = \"x\"\n", []string{
			`floe.toml:1: smtp.max_errors: expected an integer, got a string`}},
		{"inline table", false, "smtp = { max_errors = 0, max_recipients = 2 }\n", []string{
			`floe.toml:1: smtp.max_errors: must be a positive number, not 0`}},
		{"array of inline tables", false, "domain = [\n  { name = \"a.org\" },\n  { name = \"b_c.org\" },\n]\n", []string{
			`floe.toml:3: domain[1].name: "b_c.org": invalid character '_'; host names contain only letters, digits, hyphens and dots`}},

		// Durations and sizes.
		{"duration int", false, "[server]\nshutdown_timeout = 30\n", []string{
			`floe.toml:2: server.shutdown_timeout: expected a duration string with a unit, e.g. "30s" or "30m", got an integer`}},
		{"duration text", false, "[smtp]\ncommand_timeout = \"5 minutes\"\n", []string{
			`floe.toml:2: smtp.command_timeout: invalid duration "5 minutes"; write a number with a unit (ns, us, ms, s, m, h), e.g. "30s", "5m" or "1h30m"`}},
		{"duration negative", false, "[smtp]\ndata_timeout = \"-5s\"\n", []string{
			`floe.toml:2: smtp.data_timeout: invalid duration "-5s": must not be negative`}},
		{"duration zero", false, "[pop3]\npreauth_timeout = \"0s\"\n", []string{
			`floe.toml:2: pop3.preauth_timeout: must be a positive duration, not "0s"`}},
		{"size unit", false, "[smtp]\nmax_message_size = \"50XB\"\n", []string{
			`floe.toml:2: smtp.max_message_size: invalid size "50XB": unknown unit "XB"; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (KB=1000 bytes, KiB=1024 bytes)`}},
		{"size negative int", false, "[smtp]\nmax_message_size = -1\n", []string{
			`floe.toml:2: smtp.max_message_size: size must not be negative`}},
		{"size float", false, "[smtp]\nmax_message_size = 1.5\n", []string{
			`floe.toml:2: smtp.max_message_size: expected a size (a number of bytes or a string such as "50MiB"), got a float`}},
		{"size zero", false, "[smtp]\nmax_message_size = 0\n", []string{
			`floe.toml:2: smtp.max_message_size: must be positive`}},
		{"size overflow", false, "[smtp]\nmax_message_size = \"9999999TiB\"\n", []string{
			`floe.toml:2: smtp.max_message_size: invalid size "9999999TiB": too large`}},

		// Listeners.
		{"port range", false, "[listeners]\nsmtp = \"127.0.0.1:99999\"\n", []string{
			`floe.toml:2: listeners.smtp: "127.0.0.1:99999": invalid port`}},
		{"port zero", false, "[listeners]\nsmtp = \"127.0.0.1:0\"\n", []string{
			`floe.toml:2: listeners.smtp: "127.0.0.1:0": invalid port`}},
		{"port name", false, "[listeners]\nsmtp = \"127.0.0.1:smtp\"\n", []string{
			`floe.toml:2: listeners.smtp: "127.0.0.1:smtp": invalid port`}},
		{"no port", false, "[listeners]\nimap = \"127.0.0.1\"\n", []string{
			`floe.toml:2: listeners.imap: "127.0.0.1": missing port; write host:port, e.g. "127.0.0.1:25", or ":25" for all interfaces`}},
		{"bad host", false, "[listeners]\nimap = \"bad_host:143\"\n", []string{
			`floe.toml:2: listeners.imap: "bad_host:143": invalid host: invalid character '_'; host names contain only letters, digits, hyphens and dots`}},
		{"unbracketed ipv6", false, "[listeners]\nimap = \"::1:143\"\n", []string{
			`floe.toml:2: listeners.imap: "::1:143": invalid address; write host:port, e.g. "127.0.0.1:25", "[::1]:25" or ":25"`}},
		{"same address as default", false, "[listeners]\nimap = \":587\"\n", []string{
			`floe.toml:2: listeners.imap: ":587" conflicts with listeners.submission = ":587" (same port); give each listener its own address or disable one with ""`}},
		{"same address both in file", false, "[listeners]\nsmtp = \"127.0.0.1:2000\"\nhttp = \"127.0.0.1:2000\"\n", []string{
			`floe.toml:3: listeners.http: "127.0.0.1:2000" conflicts with listeners.smtp = "127.0.0.1:2000" (same port); give each listener its own address or disable one with ""`}},
		{"wildcard conflict", false, "[listeners]\nsmtp = \"0.0.0.0:2000\"\nhttp = \"[::1]:2000\"\n", []string{
			`floe.toml:3: listeners.http: "[::1]:2000" conflicts with listeners.smtp = "0.0.0.0:2000" (same port); give each listener its own address or disable one with ""`}},
		{"blame the one in the file", false, "[listeners]\nsmtp = \":587\"\n", []string{
			`floe.toml:2: listeners.smtp: ":587" conflicts with listeners.submission = ":587" (same port); give each listener its own address or disable one with ""`}},

		// TLS.
		{"cert without key", false, "[tls]\ncert_file = \"/x.pem\"\n", []string{
			`floe.toml:2: tls.cert_file: set without tls.key_file; set both, or neither to use a generated self-signed certificate`}},
		{"key without cert", false, "[tls]\n\nkey_file = \"/x.pem\"\n", []string{
			`floe.toml:3: tls.key_file: set without tls.cert_file; set both, or neither to use a generated self-signed certificate`}},
		{"missing cert files", false, "[tls]\ncert_file = \"/nonexistent/c.pem\"\nkey_file = \"/nonexistent/k.pem\"\n", []string{
			`floe.toml:2: tls.cert_file: "/nonexistent/c.pem": cannot read: no such file or directory`,
			`floe.toml:3: tls.key_file: "/nonexistent/k.pem": cannot read: no such file or directory`}},

		// Server, limits, log.
		{"hostname", false, "[server]\nhostname = \"mail..example.org\"\n", []string{
			`floe.toml:2: server.hostname: "mail..example.org": empty label (two dots in a row, or a leading dot)`}},
		{"empty data dir", false, "[server]\ndata_dir = \"\"\n", []string{
			`floe.toml:2: server.data_dir: must not be empty`}},
		{"line length", false, "[smtp]\nmax_line_length = 999\n", []string{
			`floe.toml:2: smtp.max_line_length: 999 is too small: RFC 5321 requires lines of at least 1000 bytes`}},
		{"negative limit", false, "[auth]\nmax_failures_per_ip = -1\n", []string{
			`floe.toml:2: auth.max_failures_per_ip: must be a positive number, not -1`}},
		{"auth cache", false, "[auth]\ncache_ttl = \"48h\"\ncache_size = 0\n", []string{
			`floe.toml:2: auth.cache_ttl: 48h0m0s: use 0 (no cache) up to 24h`,
			`floe.toml:3: auth.cache_size: must be between 1 and 10000000, not 0`}},
		{"auth cache off", true, "[auth]\ncache_ttl = \"0s\"\n", nil},
		{"int overflow", false, "[imap]\nmax_connections_per_ip = 9223372036854775807\n", nil},
		{"log", false, "[log]\nlevel = \"verbose\"\nformat = \"xml\"\n", []string{
			`floe.toml:2: log.level: "verbose" is not a log level; use debug, info, warn or error`,
			`floe.toml:3: log.format: "xml" is not a log format; use text or json`}},

		// Domains.
		{"idn domain", false, "[[domain]]\nname = \"bücher.example\"\n", []string{
			`floe.toml:2: domain[0].name: "bücher.example": non-ASCII names must be written in their ASCII (IDNA A-label, "xn--…") form, e.g. "xn--bcher-kva.example" for "bücher.example"`}},
		{"ip domain", false, "[[domain]]\nname = \"192.0.2.1\"\n", []string{
			`floe.toml:2: domain[0].name: "192.0.2.1": an IP address is not a mail domain`}},
		{"missing domain name", false, "[[domain]]\ncatch_all = \"a@b.org\"\n", []string{
			`floe.toml:1: domain[0].name: missing domain name`}},
		{"duplicate domain", false, dom + "\n[[domain]]\nname = \"Example.ORG\"\n", []string{
			`floe.toml:5: domain[1].name: domain "example.org" is already declared at line 1`}},
		{"catch-all other domain", false, "[[domain]]\nname = \"example.org\"\ncatch_all = \"x@example.net\"\n", []string{
			`floe.toml:3: domain[0].catch_all: "x@example.net" is not an address in domain "example.org"`}},
		{"catch-all not address", false, "[[domain]]\nname = \"example.org\"\ncatch_all = \"postmaster\"\n", []string{
			`floe.toml:3: domain[0].catch_all: "postmaster": not an email address (local@domain)`}},

		// Accounts.
		{"account not address", false, dom + "[[account]]\naddress = \"bob\"\npassword_hash = '" + h + "'\n", []string{
			`floe.toml:4: account[0].address: "bob": not an email address (local@domain)`}},
		{"account bad local part", false, dom + "[[account]]\naddress = \"a..b@example.org\"\npassword_hash = '" + h + "'\n", []string{
			`floe.toml:4: account[0].address: "a..b@example.org": local part must not start or end with a dot or contain two dots in a row`}},
		{"account quoted local part", false, dom + "[[account]]\naddress = '\"a b\"@example.org'\npassword_hash = '" + h + "'\n", []string{
			`floe.toml:4: account[0].address: "\"a b\"@example.org": invalid character '"' in local part`}},
		{"account domain not declared", false, dom + "[[account]]\naddress = \"bob@example.net\"\npassword_hash = '" + h + "'\n", []string{
			`floe.toml:4: account[0].address: "bob@example.net": domain "example.net" is not declared; accounts in the config file must belong to a [[domain]] declared in the config file`}},
		{"account missing address", false, dom + "[[account]]\npassword_hash = '" + h + "'\n", []string{
			`floe.toml:3: account[0].address: missing address (local@domain)`}},
		{"duplicate account", false, dom + "[[account]]\naddress = \"bob@example.org\"\npassword_hash = '" + h + "'\n[[account]]\naddress = \"BOB@example.org\"\npassword_hash = '" + h + "'\n", []string{
			`floe.toml:7: account[1].address: "bob@example.org" is already declared at line 3`}},
		{"plaintext password", false, dom + "[[account]]\naddress = \"bob@example.org\"\npassword_hash = \"hunter2\"\n", []string{
			`floe.toml:5: account[0].password_hash: must be a hash (argon2id or bcrypt), never a plain password; create one with ` + "`floe hash-password`"}},
		{"argon2i", false, dom + "[[account]]\naddress = \"bob@example.org\"\npassword_hash = '$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA'\n", []string{
			`floe.toml:5: account[0].password_hash: only argon2id (not argon2i or argon2d) hashes are supported; create one with ` + "`floe hash-password`"}},
		{"argon2id version", false, dom + "[[account]]\naddress = \"bob@example.org\"\npassword_hash = '$argon2id$v=16$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA'\n", []string{
			`floe.toml:5: account[0].password_hash: malformed argon2id hash (version must be v=19); create one with ` + "`floe hash-password`"}},
		{"argon2id params", false, dom + "[[account]]\naddress = \"bob@example.org\"\npassword_hash = '$argon2id$v=19$m=0,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA'\n", []string{
			`floe.toml:5: account[0].password_hash: malformed argon2id hash (invalid parameter m); create one with ` + "`floe hash-password`"}},
		{"argon2id salt", false, dom + "[[account]]\naddress = \"bob@example.org\"\npassword_hash = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA'\n", []string{
			`floe.toml:5: account[0].password_hash: malformed argon2id hash (salt must be at least 8 bytes of unpadded base64); create one with ` + "`floe hash-password`"}},
		{"bcrypt short", false, dom + "[[account]]\naddress = \"bob@example.org\"\npassword_hash = '$2b$10$abc'\n", []string{
			`floe.toml:5: account[0].password_hash: malformed bcrypt hash (expected 60 characters: $2b$CC$ and 53 more); create one with ` + "`floe hash-password`"}},
		{"bcrypt cost", false, dom + "[[account]]\naddress = \"bob@example.org\"\npassword_hash = '$2b$03$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy'\n", []string{
			`floe.toml:5: account[0].password_hash: malformed bcrypt hash (cost must be 04-31); create one with ` + "`floe hash-password`"}},
		{"missing password", false, dom + "[[account]]\naddress = \"bob@example.org\"\n", []string{
			`floe.toml:3: account[0].password_hash: missing; create one with ` + "`floe hash-password`" + ` (or set disabled = true)`}},
		{"negative quota", false, dom + "[[account]]\naddress = \"bob@example.org\"\ndisabled = true\nquota = \"-1GB\"\nquota_messages = -5\n", []string{
			`floe.toml:6: account[0].quota: invalid size "-1GB": must not be negative`,
			`floe.toml:7: account[0].quota_messages: must not be negative (0 means unlimited)`}},
		{"display name", false, dom + "[[account]]\naddress = \"bob@example.org\"\ndisabled = true\nname = \"Bob\\nSmith\"\n", []string{
			`floe.toml:6: account[0].name: "Bob\nSmith" is not a display name: at most 256 bytes, no control characters`}},
		{"account in base domain", true, "[[account]]\naddress = \"bob@example.test\"\npassword_hash = '" + h + "'\n", nil},

		// [storage].
		{"storage backend", false, "[server]\ndata_dir = \"/x\"\n[storage]\nbackend = \"postgres\"\n", []string{
			`floe.toml:4: storage.backend: unknown storage backend "postgres"; use one of: sqlite`}},

		// [http].
		{"http limits", false, "[http]\nread_header_timeout = \"20m\"\nread_timeout = \"10m\"\nidle_timeout = \"0s\"\nmax_header_size = \"100\"\nmax_body_size = 0\nmax_connections_per_ip = 0\n", []string{
			`floe.toml:2: http.read_header_timeout: 20m0s is above read_timeout 10m0s`,
			`floe.toml:4: http.idle_timeout: must be a positive duration, not "0s"`,
			`floe.toml:5: http.max_header_size: 100 bytes: use 4KiB to 1MiB`,
			`floe.toml:6: http.max_body_size: must be positive`,
			`floe.toml:7: http.max_connections_per_ip: must be a positive number, not 0`}},

		// [files] SmartAttach.
		{"smartattach limits", false, "[files]\nsmartattach_min_size = 10\nsmartattach_link_lifetime = \"30s\"\nsmartattach_base_url = \"ftp://mail.example.org\"\n", []string{
			`floe.toml:2: files.smartattach_min_size: 10 bytes: use at least 1KiB`,
			`floe.toml:3: files.smartattach_link_lifetime: 30s: use 1m to 87840h (ten years)`,
			`floe.toml:4: files.smartattach_base_url: "ftp://mail.example.org": write an absolute http or https URL, e.g. "https://mail.example.org"`}},
		{"smartattach base url path", false, "[files]\nsmartattach_base_url = \"https://mail.example.org/dav\"\n", []string{
			`floe.toml:2: files.smartattach_base_url: "https://mail.example.org/dav": only scheme, host and port; links add /webdav/link/...`}},
		{"smartattach without web listener", false, "[listeners]\nhttp = \"\"\nhttps = \"\"\n[files]\nsmartattach_mail = true\n", []string{
			`floe.toml:5: files.smartattach_mail: links need an https or http listener, discover.webdav_url or files.smartattach_base_url`}},
		{"item attachments", false, "[files]\nmax_file_size = \"1MiB\"\nmax_item_attachment_size = \"2MiB\"\nmax_item_attachments = 0\n", []string{
			`floe.toml:3: files.max_item_attachment_size: 2097152 bytes: use 1KiB to files.max_file_size`,
			`floe.toml:4: files.max_item_attachments: 0: use 1 to 1000`}},
		{"smartattach with base url", false, "[listeners]\nhttp = \"\"\nhttps = \"\"\n[files]\nsmartattach_mail = true\nsmartattach_base_url = \"https://mail.example.org/\"\n", nil},

		// Aliases.
		{"alias is account", false, dom + "[[account]]\naddress = \"bob@example.org\"\npassword_hash = '" + h + "'\n[[alias]]\naddress = \"bob@example.org\"\ntarget = \"x@example.net\"\n", []string{
			`floe.toml:7: alias[0].address: "bob@example.org" is already declared at line 3`}},
		{"duplicate alias", false, dom + "[[alias]]\naddress = \"a@example.org\"\ntarget = \"x@example.net\"\n[[alias]]\naddress = \"a@example.org\"\ntarget = \"y@example.net\"\n", []string{
			`floe.toml:7: alias[1].address: "a@example.org" is already declared at line 3`}},
		{"alias domain", false, dom + "[[alias]]\naddress = \"a@other.org\"\ntarget = \"x@example.org\"\n", []string{
			`floe.toml:4: alias[0].address: "a@other.org": domain "other.org" is not declared; aliases in the config file must belong to a [[domain]] declared in the config file`}},
		{"alias target", false, dom + "[[alias]]\naddress = \"a@example.org\"\ntarget = \"postmaster\"\n", []string{
			`floe.toml:5: alias[0].target: "postmaster": not an email address (local@domain)`}},
		{"alias no target", false, dom + "[[alias]]\naddress = \"a@example.org\"\n", []string{
			`floe.toml:3: alias[0].target: missing target (the account address that receives the mail)`}},
		{"alias of itself", false, dom + "[[alias]]\naddress = \"a@example.org\"\ntarget = \"A@example.org\"\n", []string{
			`floe.toml:5: alias[0].target: "a@example.org" is an alias of itself`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := Production()
			if tt.dev {
				base = Development()
			}
			c, err := parse("floe.toml", []byte(tt.src), base)
			if tt.name == "int overflow" {
				// int is 64 bits on the platforms Floe supports.
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			got := errLines(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
			if err != nil && c != nil {
				t.Errorf("Config returned together with an error")
			}
		})
	}
}

func TestLoadBadFile(t *testing.T) {
	_, err := Load("testdata/bad.toml", nil)
	got := errLines(t, err)
	const f = "testdata/bad.toml"
	want := []string{
		f + `:3: unknown key "server.hostnme" (did you mean "server.hostname"?)`,
		f + `:4: server.shutdown_timeout: expected a duration string with a unit, e.g. "30s" or "30m", got an integer`,
		f + `:7: listeners.smtp: "127.0.0.1:99999": invalid port`,
		f + `:8: listeners.imap: ":587" conflicts with listeners.submission = ":587" (same port); give each listener its own address or disable one with ""`,
		f + `:11: smtp.max_recipients: expected an integer, got a string`,
		f + `:12: smtp.max_message_size: invalid size "50 XB": unknown unit "XB"; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (KB=1000 bytes, KiB=1024 bytes)`,
		f + `:15: log.level: "verbose" is not a log level; use debug, info, warn or error`,
		f + `:21: account[0].address: "bob": not an email address (local@domain)`,
		f + `:22: account[0].password_hash: must be a hash (argon2id or bcrypt), never a plain password; create one with ` + "`floe hash-password`",
		f + `:25: account[1].address: "carol@other.org": domain "other.org" is not declared; accounts in the config file must belong to a [[domain]] declared in the config file`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	// The plaintext "password" must not leak into error messages.
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error text contains the password_hash value")
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "missing.toml"), nil)
	got := errLines(t, err)
	want := []string{filepath.Join(dir, "missing.toml") + ": cannot read config file: no such file or directory"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#\n", MaxFileSize/2+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(big, nil)
	if got := errLines(t, err); len(got) != 1 || !strings.HasSuffix(got[0], "file is larger than 4194304 bytes") {
		t.Errorf("big file: %q", got)
	}
}

func TestPositions(t *testing.T) {
	src := `top = 1
[a]
b = 2
c.d = 3
[[e]]
f = 4
[[e]]
f = 5
[[e.g]]
h = 6
[e.g.i]
j = [
  1,
  { k = 7 },
]
"q.r" = 8
`
	want := positions{
		"top": 1, "a": 2, "a.b": 3, "a.c": 4, "a.c.d": 4,
		"e": 5, "e[0]": 5, "e[0].f": 6, "e[1]": 7, "e[1].f": 8,
		"e[1].g": 9, "e[1].g[0]": 9, "e[1].g[0].h": 10,
		"e[1].g[0].i": 11, "e[1].g[0].i.j": 12, "e[1].g[0].i.j[0]": 13,
		"e[1].g[0].i.j[1]": 14, "e[1].g[0].i.j[1].k": 14, `e[1].g[0].i."q.r"`: 16,
	}
	got, _ := indexPositions([]byte(src))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("positions:\n got %v\nwant %v", got, want)
	}
	if l := got.line("e[1].g[0].missing"); l != 9 {
		t.Errorf("line of a missing key in an entry = %d, want 9", l)
	}
	if l := got.line("a.missing"); l != 0 {
		t.Errorf("line of a missing key in a table = %d, want 0", l)
	}
}

func TestLoadLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("[smtp]\n")
	for i := range MaxKeysPerTable + 1 {
		fmt.Fprintf(&b, "k%d = 1\n", i)
	}
	_, err := parse("floe.toml", []byte(b.String()), nil)
	want := []string{fmt.Sprintf(`floe.toml:%d: more than %d keys in "smtp"`, MaxKeysPerTable+2, MaxKeysPerTable)}
	if got := errLines(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	b.Reset()
	b.WriteString("[[domain]]\nname = \"example.org\"\n")
	for range maxReported + 5 {
		b.WriteString("[[alias]]\naddress = \"x\"\ntarget = \"a@example.org\"\n")
	}
	_, err = parse("floe.toml", []byte(b.String()), nil)
	got := errLines(t, err)
	if len(got) != maxReported+1 || got[maxReported] != "floe.toml: 5 more errors not shown" ||
		got[0] != `floe.toml:4: alias[0].address: "x": not an email address (local@domain)` {
		t.Errorf("got %d lines: first %q, last %q", len(got), got[0], got[len(got)-1])
	}
}
