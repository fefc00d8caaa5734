// Package auth checks credentials for every protocol: password verification
// (argon2id, bcrypt), login-name resolution, SASL PLAIN and LOGIN, the
// plaintext-over-cleartext policy, and rate limiting of failed logins per IP
// and per account.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// Errors returned by Login. Protocol layers map ErrFailed to their
// "authentication failed" answer and the other two to a temporary failure
// (IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP], SMTP 454 4.7.0).
var (
	ErrFailed      = errors.New("authentication failed")
	ErrRateLimited = errors.New("too many failed logins, try again later")
	// ErrBusy: every password-hashing slot is taken and the queue is
	// full (see hashPool); the client should retry shortly.
	ErrBusy = errors.New("server busy verifying passwords, try again later")
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
//
// Throttling of failed logins (the policy docs/authentication.md states):
//
//   - per source (an IPv4 address, or an IPv6 /64): after
//     MaxFailuresPerIP failures within FailureWindow, every login from that
//     source is refused until the window passes;
//   - per account and source: after MaxFailuresPerAccount failures for one
//     account from one source, that account is refused from that source;
//   - per account across sources: once an account has collected
//     MaxFailuresPerAccount failures from anywhere, a source that has
//     failed for it even once is refused for it. A source with no failures
//     for the account is always heard: the owner's right password from an
//     address that has not failed is never refused, so nobody can lock a
//     user out by guessing wrong on purpose; a distributed guesser gets one
//     guess per source per window.
//
// Accounts are counted under their canonical address, so "a" (local-part
// login) and "a@example.org" are one account.
type Authenticator struct {
	dir     storage.Directory
	log     *slog.Logger
	mu      sync.RWMutex
	cfg     config.Auth
	bySrc   *limiter // key: source
	byAccSr *limiter // key: account NUL source
	byAcc   *limiter // key: account
	pool    *hashPool
	cache   *credCache
	// verifyPassword is VerifyPassword (tests count the calls).
	verifyPassword func(hash, password string) (bool, error)
	sleep          func(context.Context, time.Duration)
	// observe, when set, is told the outcome of every Login ("ok",
	// "failed", "rate_limited"), for metrics.
	observe func(protocol, result string)
	// onLogin, when set, runs after every successful Login, before it
	// returns (SetLoginHook).
	onLogin func(ctx context.Context, p *Principal)
}

// SetObserver sets a function told the protocol and outcome ("ok",
// "failed" or "rate_limited") of every Login. Call it before use.
func (a *Authenticator) SetObserver(fn func(protocol, result string)) { a.observe = fn }

func (a *Authenticator) observed(protocol, result string) {
	if a.observe != nil {
		a.observe(protocol, result)
	}
}

// SetLoginHook sets a function run after every successful Login (every
// protocol, SASL included), before Login returns: the server uses it to
// give an account what it must have before its first session (the
// groupware folders, once per account and process). fn must be cheap once
// it has run for an account; it cannot fail the login (it logs its own
// errors). Call it before use.
func (a *Authenticator) SetLoginHook(fn func(ctx context.Context, p *Principal)) { a.onLogin = fn }

// New returns an Authenticator using dir and the [auth] settings cfg.
func New(dir storage.Directory, cfg config.Auth, log *slog.Logger) *Authenticator {
	a := &Authenticator{dir: dir, log: log, cache: newCredCache(cfg.CacheTTL.D(), cfg.CacheSize),
		verifyPassword: VerifyPassword, sleep: sleepCtx}
	a.SetConfig(cfg)
	return a
}

// SetConfig applies new settings (SIGHUP). Failure history is kept when the
// limits do not change.
func (a *Authenticator) SetConfig(cfg config.Auth) {
	a.mu.Lock()
	defer a.mu.Unlock()
	window := cfg.FailureWindow.D()
	sameWindow := a.cfg.FailureWindow == cfg.FailureWindow
	if a.bySrc == nil || a.cfg.MaxFailuresPerIP != cfg.MaxFailuresPerIP || !sameWindow {
		a.bySrc = newLimiter(cfg.MaxFailuresPerIP, window, time.Now)
	}
	if a.byAcc == nil || a.cfg.MaxFailuresPerAccount != cfg.MaxFailuresPerAccount || !sameWindow {
		a.byAccSr = newLimiter(cfg.MaxFailuresPerAccount, window, time.Now)
		a.byAcc = newLimiter(cfg.MaxFailuresPerAccount, window, time.Now)
	}
	workers, queue := cfg.MaxConcurrentHashes, cfg.HashQueue
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if queue < 0 {
		queue = 0
	}
	if a.pool == nil || a.pool.size() != workers || a.pool.queue != queue {
		a.pool = newHashPool(workers, queue)
	}
	a.cache.setLimits(cfg.CacheTTL.D(), cfg.CacheSize)
	a.cfg = cfg
}

func (a *Authenticator) snapshot() (config.Auth, *limiter, *limiter, *limiter, *hashPool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg, a.bySrc, a.byAccSr, a.byAcc, a.pool
}

// Login checks username and password for a client at remote. username is a
// full address, or a local part when [auth] local_part_login allows it. On
// failure it waits FailureDelay, logs one line (never the password) and
// returns ErrFailed, ErrRateLimited or ErrBusy (see the type comment for
// the throttling policy).
func (a *Authenticator) Login(ctx context.Context, remote netip.Addr, protocol, username, password string) (*Principal, error) {
	cfg, bySrc, byAccSr, byAcc, pool := a.snapshot()
	src := ipKey(remote)
	username = strings.ToLower(strings.TrimSpace(username))
	log := a.log.With("protocol", protocol, "remote", remote.String(), "user", sanitize(username))
	if username == "" || len(username) > 320 || len(password) > 1024 {
		a.observed(protocol, "failed")
		return nil, a.failed(ctx, cfg, log, bySrc, nil, nil, src, "", "malformed credentials")
	}
	acct, lookupErr := a.lookup(ctx, cfg, username)
	key := username // the canonical account name when it exists
	if lookupErr == nil {
		key = acct.Address
	} else if !errors.Is(lookupErr, storage.ErrNoAccount) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		log.Error("account lookup failed", "err", lookupErr)
		return nil, lookupErr
	}
	accSrc := key + "\x00" + src
	switch {
	case bySrc.blocked(src):
		log.Warn("login refused: too many failures from this source", "source", src)
		a.observed(protocol, "rate_limited")
		a.sleep(ctx, cfg.FailureDelay.D())
		return nil, ErrRateLimited
	case byAccSr.blocked(accSrc), byAcc.blocked(key) && byAccSr.count(accSrc) > 0:
		log.Warn("login refused: too many failures for this account from this source", "source", src)
		a.observed(protocol, "rate_limited")
		a.sleep(ctx, cfg.FailureDelay.D())
		return nil, ErrRateLimited
	}
	p, reason, err := a.check(ctx, pool, acct, lookupErr, protocol, password)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrBusy) {
			log.Warn("login not checked: password hashing is saturated")
		} else {
			log.Error("password check failed", "err", err)
		}
		return nil, err
	}
	if p != nil {
		if a.onLogin != nil {
			a.onLogin(ctx, p)
		}
		a.observed(protocol, "ok")
		return p, nil
	}
	a.observed(protocol, "failed")
	return nil, a.failed(ctx, cfg, log, bySrc, byAccSr, byAcc, src, key, reason)
}

// failed records a failure, logs it, waits the failure delay and returns
// ErrFailed. The per-account limiters are nil for malformed credentials.
func (a *Authenticator) failed(ctx context.Context, cfg config.Auth, log *slog.Logger, bySrc, byAccSr, byAcc *limiter, src, key, reason string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	bySrc.fail(src)
	if byAccSr != nil {
		byAccSr.fail(key + "\x00" + src)
		byAcc.fail(key)
	}
	log.Warn("login failed", "reason", reason)
	a.sleep(ctx, cfg.FailureDelay.D())
	return ErrFailed
}

// check verifies password for the looked-up account (lookupErr is the
// lookup's result) and returns the principal, or nil and a reason for the
// log. Hashing runs in pool; err is ErrBusy (or the context's error) when
// no slot could be had.
func (a *Authenticator) check(ctx context.Context, pool *hashPool, acct storage.Account, lookupErr error, protocol, password string) (*Principal, string, error) {
	if lookupErr != nil {
		// Spend comparable time so the answer does not reveal whether
		// the account exists.
		err := pool.run(ctx, func() { _, _ = VerifyPassword(dummyHash, password) })
		return nil, "no such account", err
	}
	if acct.Disabled {
		return nil, "account disabled", nil
	}
	// The verified-credential cache (cache.go): a hit for this account
	// and its current password hash, or an app password that still
	// exists, skips argon2id.
	k := a.cache.keyOf(acct.Address, password)
	if e := a.cache.lookup(k, acct); e != nil {
		if e.app == 0 {
			return &Principal{Account: acct.ID, Address: acct.Address}, "", nil
		}
		if protocol != ProtocolSettings && a.appPasswordExists(ctx, acct.ID, e.app, e.appHash) {
			return &Principal{Account: acct.ID, Address: acct.Address, AppPassword: e.app}, "", nil
		}
		a.cache.forget(k)
	}
	ok, verr, err := a.cache.verify(ctx, k, acct, func() (ok bool, verr error, err error) {
		err = pool.run(ctx, func() { ok, verr = a.verifyPassword(acct.PasswordHash, password) })
		return ok, verr, err
	})
	if err != nil {
		return nil, "", err
	}
	if verr != nil {
		return nil, "stored hash unusable", nil
	}
	if !ok {
		if protocol != ProtocolSettings {
			if id, hash := a.appPassword(ctx, acct.ID, password); id != 0 {
				a.cache.store(k, acct, id, hash)
				return &Principal{Account: acct.ID, Address: acct.Address, AppPassword: id}, "", nil
			}
		}
		return nil, "wrong password", nil
	}
	return &Principal{Account: acct.ID, Address: acct.Address}, "", nil
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
