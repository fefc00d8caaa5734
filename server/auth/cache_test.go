package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// cachedAuth is an Authenticator with the verified-credential cache on,
// counting the argon2id verifications it runs, and a settable clock.
func cachedAuth(t *testing.T, cfg config.Auth) (*Authenticator, *memDirectory, *atomic.Int64, *time.Time) {
	t.Helper()
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = config.Duration(5 * time.Minute)
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 100
	}
	if cfg.MaxFailuresPerIP == 0 {
		cfg.MaxFailuresPerIP, cfg.MaxFailuresPerAccount, cfg.FailureWindow = 100, 100, config.Duration(time.Hour)
	}
	a, d := newTestAuth(t, cfg)
	var n atomic.Int64
	a.verifyPassword = func(hash, pw string) (bool, error) {
		n.Add(1)
		return VerifyPassword(hash, pw)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a.cache.now = func() time.Time { return now }
	return a, d, &n, &now
}

func (d *memDirectory) set(a storage.Account) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.accounts[a.Address] = a
}

func TestCredCacheHitAndMiss(t *testing.T) {
	a, _, n, _ := cachedAuth(t, config.Auth{LocalPartLogin: true})
	ctx := context.Background()
	for i := range 5 {
		if p, err := a.Login(ctx, ip1, "http", "alice@example.com", "secret"); err != nil || p.Account != 1 {
			t.Fatalf("login %d: %v %v", i, p, err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("5 logins ran %d verifications, want 1", n.Load())
	}
	// The local part is the same account: a hit.
	if _, err := a.Login(ctx, ip1, "imap", "alice", "secret"); err != nil || n.Load() != 1 {
		t.Fatalf("local-part login: %v, %d verifications", err, n.Load())
	}
	// Another password: a miss, verified, and not remembered.
	for range 2 {
		if _, err := a.Login(ctx, ip1, "http", "alice@example.com", "wrong"); !errors.Is(err, ErrFailed) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if n.Load() != 3 {
		t.Fatalf("two wrong passwords: %d verifications in all, want 3 (failures are never cached)", n.Load())
	}
	// Another account with the same password is its own entry.
	if _, err := a.Login(ctx, ip1, "http", "bob@example.com", "secret"); err != nil || n.Load() != 4 {
		t.Fatalf("bob: %v, %d verifications", err, n.Load())
	}
	if a.cache.len() != 2 {
		t.Fatalf("%d entries, want 2", a.cache.len())
	}
}

func TestCredCachePasswordChangeAndDisable(t *testing.T) {
	a, d, n, _ := cachedAuth(t, config.Auth{})
	ctx := context.Background()
	if _, err := a.Login(ctx, ip1, "http", "alice@example.com", "secret"); err != nil {
		t.Fatal(err)
	}
	acct, _ := d.Account(ctx, "alice@example.com")
	// A new password: the old one fails at once, without waiting for the TTL.
	h, err := HashPassword("new secret")
	if err != nil {
		t.Fatal(err)
	}
	acct.PasswordHash = h
	d.set(acct)
	if _, err := a.Login(ctx, ip1, "http", "alice@example.com", "secret"); !errors.Is(err, ErrFailed) {
		t.Fatalf("old password after the change: %v", err)
	}
	if _, err := a.Login(ctx, ip1, "http", "alice@example.com", "new secret"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	before := n.Load()
	if _, err := a.Login(ctx, ip1, "http", "alice@example.com", "new secret"); err != nil || n.Load() != before {
		t.Fatalf("new password cached: %v, %d -> %d verifications", err, before, n.Load())
	}
	// Disabled: refused although cached.
	acct.Disabled = true
	d.set(acct)
	if _, err := a.Login(ctx, ip1, "http", "alice@example.com", "new secret"); !errors.Is(err, ErrFailed) {
		t.Fatalf("disabled account logged in from the cache: %v", err)
	}
	// The account deleted and created again (another ID, same hash): a miss.
	acct.Disabled, acct.ID = false, 99
	d.set(acct)
	before = n.Load()
	if p, err := a.Login(ctx, ip1, "http", "alice@example.com", "new secret"); err != nil || p.Account != 99 || n.Load() != before+1 {
		t.Fatalf("re-created account: %v %v, %d verifications (want a new one)", p, err, n.Load()-before)
	}
}

func TestCredCacheTTLAndDisabled(t *testing.T) {
	a, _, n, now := cachedAuth(t, config.Auth{CacheTTL: config.Duration(time.Minute)})
	ctx := context.Background()
	login := func() {
		t.Helper()
		if _, err := a.Login(ctx, ip1, "http", "alice@example.com", "secret"); err != nil {
			t.Fatal(err)
		}
	}
	login()
	*now = now.Add(59 * time.Second)
	login()
	if n.Load() != 1 {
		t.Fatalf("within the TTL: %d verifications", n.Load())
	}
	*now = now.Add(2 * time.Second) // 61 s after the verification
	login()
	if n.Load() != 2 {
		t.Fatalf("after the TTL: %d verifications, want 2", n.Load())
	}
	// cache_ttl = 0 (a reload): nothing is cached any more.
	cfg := a.cfg
	cfg.CacheTTL = 0
	a.SetConfig(cfg)
	if a.cache.len() != 0 {
		t.Fatalf("%d entries kept with the cache off", a.cache.len())
	}
	login()
	login()
	if n.Load() != 4 {
		t.Fatalf("cache off: %d verifications, want 4", n.Load())
	}
}

func TestCredCacheBound(t *testing.T) {
	a, d, n, _ := cachedAuth(t, config.Auth{CacheSize: 2})
	ctx := context.Background()
	h := d.accounts["alice@example.com"].PasswordHash
	for i, addr := range []string{"c1@example.com", "c2@example.com", "c3@example.com"} {
		d.set(storage.Account{ID: storage.AccountID(10 + i), Address: addr, PasswordHash: h})
	}
	login := func(addr string) {
		t.Helper()
		if _, err := a.Login(ctx, ip1, "http", addr, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	login("c1@example.com")
	login("c2@example.com")
	login("c1@example.com") // c1 is now the most recently used
	login("c3@example.com") // evicts c2
	if a.cache.len() != 2 || n.Load() != 3 {
		t.Fatalf("%d entries, %d verifications; want 2 and 3", a.cache.len(), n.Load())
	}
	login("c1@example.com")
	if n.Load() != 3 {
		t.Fatal("the most recently used entry was evicted")
	}
	login("c2@example.com")
	if n.Load() != 4 {
		t.Fatal("the least recently used entry was kept beyond the bound")
	}
	// A smaller bound on reload trims at once.
	cfg := a.cfg
	cfg.CacheSize = 1
	a.SetConfig(cfg)
	if a.cache.len() != 1 {
		t.Fatalf("%d entries after shrinking to 1", a.cache.len())
	}
}

// TestCredCacheRateLimiter: cached credentials do not get past a blocked
// source.
func TestCredCacheRateLimiter(t *testing.T) {
	a, _, _, _ := cachedAuth(t, config.Auth{MaxFailuresPerIP: 2, MaxFailuresPerAccount: 100, FailureWindow: config.Duration(time.Hour)})
	ctx := context.Background()
	if _, err := a.Login(ctx, ip1, "http", "alice@example.com", "secret"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, _ = a.Login(ctx, ip1, "http", "bob@example.com", "wrong")
	}
	if _, err := a.Login(ctx, ip1, "http", "alice@example.com", "secret"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("cached login from a blocked source: %v", err)
	}
}

// TestCredCacheAppPassword: an app password is verified once, then
// cached until it is revoked; it never opens the settings.
func TestCredCacheAppPassword(t *testing.T) {
	a, mem, n, _ := cachedAuth(t, config.Auth{})
	pw, hash := NewAppPassword()
	d := &appDirectory{memDirectory: mem, pws: map[storage.AccountID][]storage.AppPassword{
		1: {{ID: 7, Account: 1, Label: "vdirsyncer", Hash: hash}},
	}}
	a.dir = d
	ctx := context.Background()
	for range 3 {
		if p, err := a.Login(ctx, ip1, "http", "alice@example.com", pw); err != nil || p.AppPassword != 7 {
			t.Fatalf("app password: %+v %v", p, err)
		}
	}
	// The first login verified the account's password (no match) once.
	if n.Load() != 1 {
		t.Fatalf("3 app-password logins ran %d argon2id verifications, want 1", n.Load())
	}
	if _, err := a.Login(ctx, ip1, ProtocolSettings, "alice@example.com", pw); !errors.Is(err, ErrFailed) {
		t.Fatalf("cached app password opened the settings: %v", err)
	}
	d.mu.Lock()
	d.pws[1] = nil
	d.mu.Unlock()
	if _, err := a.Login(ctx, ip1, "http", "alice@example.com", pw); !errors.Is(err, ErrFailed) {
		t.Fatalf("revoked app password still logs in: %v", err)
	}
}

// TestLoginHook: the hook runs for every successful login, cached or not,
// and never for a failed one.
func TestLoginHook(t *testing.T) {
	a, _, _, _ := cachedAuth(t, config.Auth{})
	var got []string
	a.SetLoginHook(func(_ context.Context, p *Principal) { got = append(got, p.Address) })
	ctx := context.Background()
	for _, pw := range []string{"secret", "wrong", "secret"} {
		_, _ = a.Login(ctx, ip1, "imap", "alice@example.com", pw)
	}
	_, _ = a.Login(ctx, ip1, "imap", "off@example.com", "secret")
	if len(got) != 2 || got[0] != "alice@example.com" || got[1] != "alice@example.com" {
		t.Fatalf("hook calls %v, want two for alice", got)
	}
}
