package config

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/floemail/floe/storage"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Validate checks c and normalises it in place: host names, domains and
// addresses are lowercased, log level and format lowercased. It returns nil
// or a *Errors with every problem found; problems carry c.File but no line
// (Load reports the same problems with lines).
func (c *Config) Validate() error {
	errs := &Errors{}
	c.validate(errs, nil)
	return errs.err()
}

// validator collects problems, locating them through pos when the config
// was loaded from a file.
type validator struct {
	file string
	pos  positions
	errs *Errors
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs.List = append(v.errs.List, &Error{
		File: v.file, Line: v.pos.line(path), Key: path,
		Reason: fmt.Sprintf(format, args...),
	})
}

func (c *Config) validate(errs *Errors, pos positions) {
	v := &validator{file: c.File, pos: pos, errs: errs}

	// [server]
	c.Server.Hostname = strings.ToLower(strings.TrimSuffix(c.Server.Hostname, "."))
	if err := checkHostname(c.Server.Hostname); err != nil {
		v.fail("server.hostname", "%q: %s", c.Server.Hostname, err)
	}
	if c.Server.DataDir == "" {
		v.fail("server.data_dir", "must not be empty")
	}
	v.positiveDuration("server.shutdown_timeout", c.Server.ShutdownTimeout)

	// [tls]
	c.validateTLS(v)

	// [listeners]
	c.validateListeners(v)

	// [auth]
	v.positiveInt("auth.max_failures_per_ip", c.Auth.MaxFailuresPerIP)
	v.positiveInt("auth.max_failures_per_account", c.Auth.MaxFailuresPerAccount)
	v.positiveDuration("auth.failure_window", c.Auth.FailureWindow)
	// failure_delay may be 0 (no delay); negative values cannot be parsed.
	for i, a := range c.Auth.Admins {
		a = strings.ToLower(a)
		if _, err := checkAddress(a); err != nil {
			v.fail(fmt.Sprintf("auth.admins[%d]", i), "%q: %s", a, err)
		}
		c.Auth.Admins[i] = a
	}
	if len(c.Auth.Admins) == 0 {
		c.Auth.Admins = nil // "admins = []" is the same as no setting
	}

	// [smtp]
	if c.SMTP.MaxMessageSize <= 0 {
		v.fail("smtp.max_message_size", "must be positive")
	}
	v.positiveInt("smtp.max_recipients", c.SMTP.MaxRecipients)
	v.positiveInt("smtp.max_messages_per_connection", c.SMTP.MaxMessagesPerConnection)
	v.positiveInt("smtp.max_connections_per_ip", c.SMTP.MaxConnectionsPerIP)
	if c.SMTP.MaxLineLength < 1000 {
		// RFC 5321 4.5.3.1.6: 1000 octets including CRLF.
		v.fail("smtp.max_line_length", "%d is too small: RFC 5321 requires lines of at least 1000 bytes", c.SMTP.MaxLineLength)
	}
	v.positiveDuration("smtp.command_timeout", c.SMTP.CommandTimeout)
	v.positiveDuration("smtp.data_timeout", c.SMTP.DataTimeout)
	v.positiveInt("smtp.max_errors", c.SMTP.MaxErrors)

	// [pop3]
	v.positiveDuration("pop3.command_timeout", c.POP3.CommandTimeout)
	v.positiveDuration("pop3.preauth_timeout", c.POP3.PreAuthTimeout)
	v.positiveInt("pop3.max_connections_per_ip", c.POP3.MaxConnectionsPerIP)
	v.positiveInt("pop3.max_connections_per_user_ip", c.POP3.MaxConnectionsPerUserIP)
	v.positiveInt("pop3.max_errors", c.POP3.MaxErrors)

	// [imap]
	v.positiveDuration("imap.idle_timeout", c.IMAP.IdleTimeout)
	v.positiveDuration("imap.preauth_timeout", c.IMAP.PreAuthTimeout)
	v.positiveInt("imap.max_connections_per_ip", c.IMAP.MaxConnectionsPerIP)
	v.positiveInt("imap.max_connections_per_user_ip", c.IMAP.MaxConnectionsPerUserIP)

	// [checks]
	c.validateChecks(v)

	// [outbound]
	c.validateOutbound(v)

	// [discover], [clientsvc]
	c.validateDiscover(v)
	c.validateClientSvc(v)
	// [http]
	c.validateHTTP(v)
	// [limits] and the password settings of [auth]
	c.validateLimits(v)
	c.validateAuthCache(v)
	// [groupware]
	c.validateGroupware(v)
	// [files]
	c.validateFiles(v)

	// [storage]
	c.validateStorage(v)

	// [log]
	c.Log.Level = strings.ToLower(c.Log.Level)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.fail("log.level", "%q is not a log level; use debug, info, warn or error", c.Log.Level)
	}
	c.Log.Format = strings.ToLower(c.Log.Format)
	switch c.Log.Format {
	case "text", "json":
	default:
		v.fail("log.format", "%q is not a log format; use text or json", c.Log.Format)
	}

	c.validateDirectory(v)

	// [[rules]], [filtering], [spam]
	c.validateRules(v)
}

func (v *validator) positiveInt(path string, n int) {
	if n <= 0 {
		v.fail(path, "must be a positive number, not %d", n)
	}
}

func (v *validator) positiveDuration(path string, d Duration) {
	if d <= 0 {
		v.fail(path, "must be a positive duration, not %q", d.String())
	}
}

func (c *Config) validateTLS(v *validator) {
	cert, key := c.TLS.CertFile, c.TLS.KeyFile
	switch {
	case cert == "" && key == "":
		return
	case cert == "":
		v.fail("tls.key_file", "set without tls.cert_file; set both, or neither to use a generated self-signed certificate")
		return
	case key == "":
		v.fail("tls.cert_file", "set without tls.key_file; set both, or neither to use a generated self-signed certificate")
		return
	}
	ok := true
	for _, f := range []struct{ path, name string }{{"tls.cert_file", cert}, {"tls.key_file", key}} {
		fh, err := os.Open(f.name)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			v.fail(f.path, "%q: cannot read: %s", f.name, err)
			ok = false
			continue
		}
		fh.Close()
	}
	if !ok {
		return
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		v.fail("tls.cert_file", "%q and %q are not a usable certificate and key: %s", cert, key, strings.TrimPrefix(err.Error(), "tls: "))
	}
}

// listener is one configured listener address.
type listener struct {
	path, addr, host string
	port             int
}

func (c *Config) validateListeners(v *validator) {
	l := &c.Listeners
	all := []struct {
		name string
		addr string
	}{
		{"smtp", l.SMTP}, {"submissions", l.Submissions}, {"submission", l.Submission},
		{"pop3", l.POP3}, {"pop3s", l.POP3S}, {"imap", l.IMAP}, {"imaps", l.IMAPS},
		{"http", l.HTTP}, {"https", l.HTTPS}, {"clientsvc", l.ClientSvc}, {"admin", l.Admin},
	}
	var ok []listener
	for _, a := range all {
		path := "listeners." + a.name
		if a.addr == "" {
			continue // disabled
		}
		host, port, err := checkListenAddr(a.addr)
		if err != nil {
			v.fail(path, "%q: %s", a.addr, err)
			continue
		}
		cur := listener{path: path, addr: a.addr, host: host, port: port}
		for _, prev := range ok {
			if prev.port == cur.port && (prev.host == cur.host || isWildcard(prev.host) || isWildcard(cur.host)) {
				// Blame the one written in the file (the later one when both are).
				at, other := cur, prev
				if !v.pos.has(cur.path) && v.pos.has(prev.path) {
					at, other = prev, cur
				}
				v.fail(at.path, "%q conflicts with %s = %q (same port); give each listener its own address or disable one with \"\"", at.addr, other.path, other.addr)
				break
			}
		}
		ok = append(ok, cur)
	}
}

func isWildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

// checkListenAddr parses "host:port" where host is empty (all interfaces),
// an IP address or a host name, and port is a number 1-65535. It returns
// the normalised host.
func checkListenAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		if !strings.Contains(addr, ":") {
			return "", 0, errors.New(`missing port; write host:port, e.g. "127.0.0.1:25", or ":25" for all interfaces`)
		}
		return "", 0, errors.New(`invalid address; write host:port, e.g. "127.0.0.1:25", "[::1]:25" or ":25"`)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 || portStr[0] == '+' || portStr[0] == '0' {
		return "", 0, errors.New("invalid port")
	}
	if host == "" {
		return "", port, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.String(), port, nil
	}
	host = strings.ToLower(host)
	if err := checkHostname(host); err != nil {
		return "", 0, fmt.Errorf("invalid host: %s", err)
	}
	return host, port, nil
}

// checkHostname accepts an ASCII host name: dot-separated labels of
// letters, digits and hyphens, each 1-63 bytes and not starting or ending
// with a hyphen, at most 253 bytes in all. Callers lowercase first.
func checkHostname(h string) error {
	if h == "" {
		return errors.New("empty host name")
	}
	for i := 0; i < len(h); i++ {
		if h[i] >= utf8.RuneSelf {
			return errors.New(`non-ASCII names must be written in their ASCII (IDNA A-label, "xn--…") form, e.g. "xn--bcher-kva.example" for "bücher.example"`)
		}
	}
	if len(h) > 253 {
		return errors.New("host name longer than 253 bytes")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return errors.New("empty label (two dots in a row, or a leading dot)")
		}
		if len(label) > 63 {
			return fmt.Errorf("label %q is longer than 63 bytes", label)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with a hyphen", label)
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return fmt.Errorf("invalid character %q; host names contain only letters, digits, hyphens and dots", ch)
			}
		}
	}
	return nil
}

// checkDomain is checkHostname for mail domains, which are never IP
// addresses.
func checkDomain(d string) error {
	if _, err := netip.ParseAddr(d); err == nil {
		return errors.New("an IP address is not a mail domain")
	}
	return checkHostname(d)
}

// checkAddress checks local@domain: a dot-atom local part (RFC 5322 3.2.3,
// UTF-8 allowed as in RFC 6531) of at most 64 bytes and a valid domain. It
// returns the domain.
func checkAddress(a string) (string, error) {
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return "", errors.New("not an email address (local@domain)")
	}
	local, domain := a[:at], a[at+1:]
	if local == "" || domain == "" {
		return "", errors.New("not an email address (local@domain)")
	}
	if len(local) > 64 {
		return "", errors.New("local part longer than 64 bytes")
	}
	if !utf8.ValidString(local) {
		return "", errors.New("local part is not valid UTF-8")
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", errors.New("local part must not start or end with a dot or contain two dots in a row")
	}
	for _, r := range local {
		if r < utf8.RuneSelf && !isAtext(byte(r)) && r != '.' {
			return "", fmt.Errorf("invalid character %q in local part", r)
		}
		if r == utf8.RuneError || r >= 0x80 && r < 0xa0 {
			return "", fmt.Errorf("invalid character %q in local part", r)
		}
	}
	if err := checkDomain(domain); err != nil {
		return "", fmt.Errorf("domain %q: %s", domain, err)
	}
	return domain, nil
}

// isAtext reports RFC 5322 3.2.3 atext.
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

const hashHint = "create one with `floe hash-password`"

// checkPasswordHash accepts an argon2id PHC string
// ($argon2id$v=19$m=M,t=T,p=P$salt$hash, unpadded base64) or a bcrypt hash
// ($2a$, $2b$ or $2y$). Error messages never include the value: it may be
// a password written by mistake.
func checkPasswordHash(h string) error {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		if err := checkArgon2id(h); err != nil {
			return fmt.Errorf("malformed argon2id hash (%s); %s", err, hashHint)
		}
		return nil
	case strings.HasPrefix(h, "$argon2i$"), strings.HasPrefix(h, "$argon2d$"):
		return fmt.Errorf("only argon2id (not argon2i or argon2d) hashes are supported; %s", hashHint)
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if err := checkBcrypt(h); err != nil {
			return fmt.Errorf("malformed bcrypt hash (%s); %s", err, hashHint)
		}
		return nil
	}
	return fmt.Errorf("must be a hash (argon2id or bcrypt), never a plain password; %s", hashHint)
}

func checkArgon2id(h string) error {
	parts := strings.Split(h, "$")
	if len(parts) != 6 {
		return errors.New("expected $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if parts[2] != "v=19" {
		return errors.New("version must be v=19")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return errors.New("parameters must be m=…,t=…,p=…")
	}
	for i, name := range []string{"m", "t", "p"} {
		val, ok := strings.CutPrefix(params[i], name+"=")
		if !ok {
			return errors.New("parameters must be m=…,t=…,p=…")
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil || n == 0 || (name == "p" && n > 255) {
			return fmt.Errorf("invalid parameter %s", name)
		}
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return errors.New("salt must be at least 8 bytes of unpadded base64")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return errors.New("hash must be at least 16 bytes of unpadded base64")
	}
	return nil
}

func checkBcrypt(h string) error {
	// $2b$CC$ + 22 characters of salt + 31 of hash.
	if len(h) != 60 || h[6] != '$' {
		return errors.New("expected 60 characters: $2b$CC$ and 53 more")
	}
	cost, err := strconv.Atoi(h[4:6])
	if err != nil || cost < 4 || cost > 31 {
		return errors.New("cost must be 04-31")
	}
	for i := 7; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '/') {
			return errors.New("invalid character in salt or hash")
		}
	}
	return nil
}

// validateDirectory checks [[domain]], [[account]], [[alias]] and [[group]].
func (c *Config) validateDirectory(v *validator) {
	domains := map[string]string{} // name -> path of its entry
	for i := range c.Domains {
		d := &c.Domains[i]
		path := indexKey("domain", i)
		d.Name = strings.ToLower(strings.TrimSuffix(d.Name, "."))
		if d.Name == "" {
			v.fail(path+".name", "missing domain name")
			continue
		}
		if err := checkDomain(d.Name); err != nil {
			v.fail(path+".name", "%q: %s", d.Name, err)
			continue
		}
		if prev, dup := domains[d.Name]; dup {
			v.fail(path+".name", "domain %q is already declared at %s", d.Name, prev)
			continue
		}
		domains[d.Name] = v.where(path)
	}

	addresses := map[string]string{} // account and alias addresses -> where
	for i := range c.Accounts {
		a := &c.Accounts[i]
		path := indexKey("account", i)
		a.Address = strings.ToLower(a.Address)
		if v.address(path+".address", a.Address, domains, "accounts") {
			if prev, dup := addresses[a.Address]; dup {
				v.fail(path+".address", "%q is already declared at %s", a.Address, prev)
			} else {
				addresses[a.Address] = v.where(path)
			}
		}
		if a.PasswordHash == "" {
			if !a.Disabled {
				v.fail(path+".password_hash", "missing; %s (or set disabled = true)", hashHint)
			}
		} else if err := checkPasswordHash(a.PasswordHash); err != nil {
			v.fail(path+".password_hash", "%s", err)
		}
		if a.Quota < 0 {
			v.fail(path+".quota", "must not be negative (0 means unlimited)")
		}
		if a.QuotaMessages < 0 {
			v.fail(path+".quota_messages", "must not be negative (0 means unlimited)")
		}
		a.Name = strings.TrimSpace(a.Name)
		if !storage.ValidDisplayName(a.Name) {
			v.fail(path+".name", "%q is not a display name: at most %d bytes, no control characters", a.Name, storage.MaxDisplayName)
		}
	}

	for i := range c.Aliases {
		a := &c.Aliases[i]
		path := indexKey("alias", i)
		a.Address = strings.ToLower(a.Address)
		a.Target = strings.ToLower(a.Target)
		if v.address(path+".address", a.Address, domains, "aliases") {
			if prev, dup := addresses[a.Address]; dup {
				v.fail(path+".address", "%q is already declared at %s", a.Address, prev)
			} else {
				addresses[a.Address] = v.where(path)
			}
		}
		if a.Target == "" {
			v.fail(path+".target", "missing target (the account address that receives the mail)")
		} else if _, err := checkAddress(a.Target); err != nil {
			v.fail(path+".target", "%q: %s", a.Target, err)
		} else if a.Target == a.Address {
			v.fail(path+".target", "%q is an alias of itself", a.Target)
		}
	}

	c.validateGroups(v, domains, addresses) // group.go

	for i := range c.Domains {
		d := &c.Domains[i]
		if d.CatchAll == "" || checkDomain(d.Name) != nil {
			continue // a bad name is reported above
		}
		path := indexKey("domain", i) + ".catch_all"
		d.CatchAll = strings.ToLower(d.CatchAll)
		dom, err := checkAddress(d.CatchAll)
		if err != nil {
			v.fail(path, "%q: %s", d.CatchAll, err)
			continue
		}
		if dom != d.Name {
			v.fail(path, "%q is not an address in domain %q", d.CatchAll, d.Name)
		}
	}
}

// address checks an account or alias address and that its domain is
// declared in the file; it reports whether the address is usable.
func (v *validator) address(path, addr string, domains map[string]string, what string) bool {
	if addr == "" {
		v.fail(path, "missing address (local@domain)")
		return false
	}
	dom, err := checkAddress(addr)
	if err != nil {
		v.fail(path, "%q: %s", addr, err)
		return false
	}
	if _, ok := domains[dom]; !ok {
		v.fail(path, "%q: domain %q is not declared; %s in the config file must belong to a [[domain]] declared in the config file", addr, dom, what)
		return false
	}
	return true
}

// where names an entry for "already declared" messages: its line when
// known, else its key.
func (v *validator) where(path string) string {
	if l := v.pos.line(path); l > 0 {
		return "line " + strconv.Itoa(l)
	}
	return path
}

// validateChecks checks the [checks] table.
func (c *Config) validateChecks(v *validator) {
	for _, k := range []struct {
		path string
		val  *string
	}{{"checks.dmarc_reject_action", &c.Checks.DMARCRejectAction}, {"checks.spf_fail_action", &c.Checks.SPFFailAction}} {
		*k.val = strings.ToLower(*k.val)
		switch *k.val {
		case "reject", "junk", "mark":
		default:
			v.fail(k.path, "%q is not an action; use reject, junk or mark", *k.val)
		}
	}
	if c.Checks.DNS != "" {
		if _, _, err := net.SplitHostPort(c.Checks.DNS); err != nil {
			v.fail("checks.dns", "%q is not host:port", c.Checks.DNS)
		}
	}
	v.positiveDuration("checks.timeout", c.Checks.Timeout)
}
