// Package auth checks credentials for every protocol: password verification
// (argon2id, bcrypt), login-name resolution, SASL PLAIN and LOGIN, the
// plaintext-over-cleartext policy, and rate limiting of failed logins per IP
// and per account.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// Errors returned by Login. Protocol layers map both to their "authentication
// failed" answer; ErrRateLimited may be told apart (e.g. a temporary code).
var (
	ErrFailed      = errors.New("authentication failed")
	ErrRateLimited = errors.New("too many failed logins, try again later")
)

// Principal is an authenticated account.
type Principal struct {
	Account storage.AccountID
	Address string
	// AppPassword is the ID of the app password used to log in, 0 when
	// the account's own password was used.
	AppPassword int64
}

// ProtocolSettings is the protocol label of logins to the user's settings
// (API and web page): app passwords are refused there, so that a password
// given to one client cannot change the account.
const ProtocolSettings = "settings"

// Authenticator verifies logins against the directory. It is safe for
// concurrent use.
type Authenticator struct {
	dir   storage.Directory
	log   *slog.Logger
	mu    sync.RWMutex
	cfg   config.Auth
	byIP  *limiter
	byAcc *limiter
	cache *verifyCache
	sleep func(context.Context, time.Duration)
	// observe, when set, is told the outcome of every Login ("ok",
	// "failed", "rate_limited"), for metrics.
	observe func(protocol, result string)
}

// SetObserver sets a function told the protocol and outcome ("ok",
// "failed" or "rate_limited") of every Login. Call it before use.
func (a *Authenticator) SetObserver(fn func(protocol, result string)) { a.observe = fn }

func (a *Authenticator) observed(protocol, result string) {
	if a.observe != nil {
		a.observe(protocol, result)
	}
}

// New returns an Authenticator using dir and the [auth] settings cfg.
func New(dir storage.Directory, cfg config.Auth, log *slog.Logger) *Authenticator {
	a := &Authenticator{dir: dir, log: log, cache: newVerifyCache(10000, 10*time.Minute), sleep: sleepCtx}
	a.SetConfig(cfg)
	return a
}

// SetConfig applies new settings (SIGHUP). Failure history is kept when the
// limits do not change.
func (a *Authenticator) SetConfig(cfg config.Auth) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byIP == nil || a.cfg.MaxFailuresPerIP != cfg.MaxFailuresPerIP || a.cfg.FailureWindow != cfg.FailureWindow {
		a.byIP = newLimiter(cfg.MaxFailuresPerIP, cfg.FailureWindow.D(), time.Now)
	}
	if a.byAcc == nil || a.cfg.MaxFailuresPerAccount != cfg.MaxFailuresPerAccount || a.cfg.FailureWindow != cfg.FailureWindow {
		a.byAcc = newLimiter(cfg.MaxFailuresPerAccount, cfg.FailureWindow.D(), time.Now)
	}
	a.cfg = cfg
}

func (a *Authenticator) snapshot() (config.Auth, *limiter, *limiter) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg, a.byIP, a.byAcc
}

// Login checks username and password for a client at remote. username is a
// full address, or a local part when [auth] local_part_login allows it. On
// failure it waits FailureDelay, logs one line (never the password) and
// returns ErrFailed or ErrRateLimited.
func (a *Authenticator) Login(ctx context.Context, remote netip.Addr, protocol, username, password string) (*Principal, error) {
	cfg, byIP, byAcc := a.snapshot()
	ipKey := ipKey(remote)
	username = strings.ToLower(strings.TrimSpace(username))
	log := a.log.With("protocol", protocol, "remote", remote.String(), "user", sanitize(username))
	if byIP.blocked(ipKey) || byAcc.blocked(username) {
		log.Warn("login refused: too many failures")
		a.observed(protocol, "rate_limited")
		a.sleep(ctx, cfg.FailureDelay.D())
		return nil, ErrRateLimited
	}
	p, reason := a.check(ctx, cfg, protocol, username, password)
	if p != nil {
		a.observed(protocol, "ok")
		return p, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	byIP.fail(ipKey)
	byAcc.fail(username)
	log.Warn("login failed", "reason", reason)
	a.observed(protocol, "failed")
	a.sleep(ctx, cfg.FailureDelay.D())
	return nil, ErrFailed
}

// check returns the principal, or nil and a reason for the log.
func (a *Authenticator) check(ctx context.Context, cfg config.Auth, protocol, username, password string) (*Principal, string) {
	if username == "" || len(username) > 320 || len(password) > 1024 {
		return nil, "malformed credentials"
	}
	acct, err := a.lookup(ctx, cfg, username)
	if err != nil {
		if errors.Is(err, storage.ErrNoAccount) {
			// Spend comparable time so the answer does not reveal
			// whether the account exists.
			_, _ = VerifyPassword(dummyHash, password)
			return nil, "no such account"
		}
		return nil, "lookup: " + err.Error()
	}
	if acct.Disabled {
		return nil, "account disabled"
	}
	ok := a.cache.get(acct.PasswordHash, password)
	if !ok {
		ok, err = VerifyPassword(acct.PasswordHash, password)
		if err != nil {
			return nil, "stored hash unusable"
		}
		if ok {
			a.cache.put(acct.PasswordHash, password)
		}
	}
	if !ok {
		if protocol != ProtocolSettings {
			if id := a.appPassword(ctx, acct.ID, password); id != 0 {
				return &Principal{Account: acct.ID, Address: acct.Address, AppPassword: id}, ""
			}
		}
		return nil, "wrong password"
	}
	return &Principal{Account: acct.ID, Address: acct.Address}, ""
}

// lookup resolves a login name to an account.
func (a *Authenticator) lookup(ctx context.Context, cfg config.Auth, username string) (storage.Account, error) {
	if strings.Contains(username, "@") || !cfg.LocalPartLogin {
		return a.dir.Account(ctx, username)
	}
	doms, err := a.dir.Domains(ctx)
	if err != nil {
		return storage.Account{}, err
	}
	var found []storage.Account
	for _, d := range doms {
		acct, err := a.dir.Account(ctx, username+"@"+d.Name)
		if err == nil {
			found = append(found, acct)
		} else if !errors.Is(err, storage.ErrNoAccount) {
			return storage.Account{}, err
		}
	}
	if len(found) != 1 { // ambiguous local parts must log in with the address
		return storage.Account{}, storage.ErrNoAccount
	}
	return found[0], nil
}

// PlaintextAllowed reports whether a password may be sent on a connection:
// always with TLS or from loopback, otherwise only when the config allows it.
func PlaintextAllowed(tlsActive bool, remote net.Addr, allowCfg bool) bool {
	if tlsActive || allowCfg {
		return true
	}
	return IsLoopback(remote)
}

// IsLoopback reports whether addr is a loopback TCP address.
func IsLoopback(addr net.Addr) bool {
	ap := AddrOf(addr)
	return ap.IsValid() && ap.IsLoopback()
}

// AddrOf returns the IP of a net.Addr (the zero Addr when it has none).
func AddrOf(addr net.Addr) netip.Addr {
	if t, ok := addr.(*net.TCPAddr); ok {
		ap, _ := netip.AddrFromSlice(t.IP)
		return ap.Unmap()
	}
	if addr == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// ipKey groups IPv6 clients by /64, since one host usually owns a whole /64.
func ipKey(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// sanitize keeps log lines one line and bounded.
func sanitize(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// dummyHash is verified against when the account does not exist.
var dummyHash = func() string {
	h, err := HashPassword("floe-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
}()

// verifyCache remembers recent successful verifications so a client that
// logs in many times (IMAP clients open several connections) does not pay
// argon2id each time. Keys are SHA-256 of a per-process secret, the stored
// hash and the password: neither is kept, and a password change (new hash)
// misses the cache.
type verifyCache struct {
	mu     sync.Mutex
	secret [32]byte
	max    int
	ttl    time.Duration
	m      map[[32]byte]time.Time
}

func newVerifyCache(max int, ttl time.Duration) *verifyCache {
	c := &verifyCache{max: max, ttl: ttl, m: map[[32]byte]time.Time{}}
	_, _ = rand.Read(c.secret[:])
	return c
}

func (c *verifyCache) key(hash, password string) [32]byte {
	h := sha256.New()
	h.Write(c.secret[:])
	h.Write([]byte(hash))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *verifyCache) get(hash, password string) bool {
	k := c.key(hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[k]
	if ok && time.Since(t) > c.ttl {
		delete(c.m, k)
		return false
	}
	return ok
}

func (c *verifyCache) put(hash, password string) {
	k := c.key(hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = time.Now()
}
