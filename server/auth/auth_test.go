package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// memDirectory is a minimal in-memory storage.Directory (a fake) for the pure logic of
// this package (the real SQLite directory is exercised by the protocol and
// server tests).
type memDirectory struct {
	storage.Directory
	domains  []storage.Domain
	accounts map[string]storage.Account
	lookups  int
	mu       sync.Mutex
}

func (d *memDirectory) Domains(context.Context) ([]storage.Domain, error) { return d.domains, nil }
func (d *memDirectory) Account(_ context.Context, addr string) (storage.Account, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	a, ok := d.accounts[strings.ToLower(addr)]
	if !ok {
		return storage.Account{}, storage.ErrNoAccount
	}
	return a, nil
}

func newTestAuth(t *testing.T, cfg config.Auth) (*Authenticator, *memDirectory) {
	t.Helper()
	h, err := HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	d := &memDirectory{
		domains: []storage.Domain{{Name: "example.com"}, {Name: "example.org"}},
		accounts: map[string]storage.Account{
			"alice@example.com": {ID: 1, Address: "alice@example.com", PasswordHash: h},
			"bob@example.com":   {ID: 2, Address: "bob@example.com", PasswordHash: h},
			"bob@example.org":   {ID: 3, Address: "bob@example.org", PasswordHash: h},
			"off@example.com":   {ID: 4, Address: "off@example.com", PasswordHash: h, Disabled: true},
		},
	}
	a := New(d, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.sleep = func(context.Context, time.Duration) {}
	return a, d
}

var ip1 = netip.MustParseAddr("192.0.2.1")

func TestHashAndVerify(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || !IsHash(h) {
		t.Fatalf("unexpected hash format %q", h)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horse ", false}, {"", false}} {
		ok, err := VerifyPassword(h, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestBcrypt(t *testing.T) {
	// bcrypt hash of "secret" at cost 4.
	const h = "$2a$04$pC.ejKKmULKD2DL.K3pkveq5TMhP0tyXJtYyBN0dsAxU/Iuy0faFS"
	if !IsHash(h) {
		t.Fatal("bcrypt hash not recognised")
	}
	if ok, err := VerifyPassword(h, "secret"); err != nil || !ok {
		t.Fatalf("verify = %v, %v", ok, err)
	}
	if ok, _ := VerifyPassword(h, "Secret"); ok {
		t.Fatal("wrong password accepted")
	}
}

func TestBadHashes(t *testing.T) {
	for _, h := range []string{
		"", "secret", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // absurd memory
		"$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$2a$04$short",
	} {
		if IsHash(h) {
			t.Errorf("IsHash(%q) = true", h)
		}
		if ok, err := VerifyPassword(h, "secret"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want error", h, ok, err)
		}
	}
}

func TestLogin(t *testing.T) {
	a, _ := newTestAuth(t, config.Auth{LocalPartLogin: true})
	ctx := context.Background()
	for _, tc := range []struct {
		user, pw string
		want     storage.AccountID
	}{
		{"alice@example.com", "secret", 1},
		{"ALICE@Example.COM", "secret", 1},
		{"alice", "secret", 1}, // unique local part
		{"bob", "secret", 0},   // ambiguous local part
		{"bob@example.org", "secret", 3},
		{"alice@example.com", "wrong", 0},
		{"nobody@example.com", "secret", 0},
		{"off@example.com", "secret", 0}, // disabled
		{"", "", 0},
	} {
		p, err := a.Login(ctx, ip1, "test", tc.user, tc.pw)
		switch {
		case tc.want == 0 && !errors.Is(err, ErrFailed):
			t.Errorf("Login(%q,%q) = %v, %v; want ErrFailed", tc.user, tc.pw, p, err)
		case tc.want != 0 && (err != nil || p.Account != tc.want):
			t.Errorf("Login(%q,%q) = %v, %v; want account %d", tc.user, tc.pw, p, err, tc.want)
		}
	}
	b, _ := newTestAuth(t, config.Auth{})
	if _, err := b.Login(ctx, ip1, "test", "alice", "secret"); !errors.Is(err, ErrFailed) {
		t.Errorf("local-part login allowed when disabled: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	a, _ := newTestAuth(t, config.Auth{MaxFailuresPerIP: 3, MaxFailuresPerAccount: 5, FailureWindow: config.Duration(time.Hour)})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := a.Login(ctx, ip1, "test", "alice@example.com", "wrong"); !errors.Is(err, ErrFailed) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// The IP is now blocked, even with the right password.
	if _, err := a.Login(ctx, ip1, "test", "alice@example.com", "secret"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("blocked IP: %v", err)
	}
	// Another IP still logs in.
	ip2 := netip.MustParseAddr("192.0.2.2")
	if _, err := a.Login(ctx, ip2, "test", "alice@example.com", "secret"); err != nil {
		t.Fatalf("other IP: %v", err)
	}
	// Per-account: failures spread over sources make the account "hot":
	// a source that failed for it is refused for it, but the owner's right
	// password from a source without failures is never refused. (This test
	// expected the opposite before: an attacker could lock any user out.)
	for i := 0; i < 5; i++ {
		ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		a.Login(ctx, ip, "test", "bob@example.com", "wrong")
	}
	if _, err := a.Login(ctx, netip.MustParseAddr("198.51.100.0"), "test", "bob@example.com", "secret"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("hot account from a failed source: %v", err)
	}
	if _, err := a.Login(ctx, netip.MustParseAddr("203.0.113.9"), "test", "bob@example.com", "secret"); err != nil {
		t.Fatalf("owner locked out from a clean address: %v", err)
	}
	// IPv6 clients are grouped by /64.
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	if ipKey(v6a) != ipKey(v6b) || ipKey(v6a) == ipKey(netip.MustParseAddr("2001:db8:0:1::1")) {
		t.Error("IPv6 /64 grouping wrong")
	}
}

func TestLimiterWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(2, time.Minute, func() time.Time { return now })
	l.fail("k")
	l.fail("k")
	if !l.blocked("k") {
		t.Fatal("not blocked after 2 failures")
	}
	now = now.Add(61 * time.Second)
	if l.blocked("k") {
		t.Fatal("still blocked after the window")
	}
	if len(l.keys) != 0 {
		t.Fatal("expired key kept")
	}
	l.maxKeys = 10
	for i := 0; i < 100; i++ {
		l.fail(string(rune('a' + i)))
	}
	if len(l.keys) > 10 {
		t.Fatalf("limiter grew to %d keys", len(l.keys))
	}
}

func TestSASL(t *testing.T) {
	a, _ := newTestAuth(t, config.Auth{})
	ctx := context.Background()
	run := func(mech string, steps ...string) (*Principal, error) {
		s, err := a.NewSASL(ctx, mech, ip1, "test")
		if err != nil {
			return nil, err
		}
		var resp []byte // nil: no initial response
		for i := 0; ; i++ {
			_, done, err := s.Next(resp)
			if err != nil || done {
				return s.Principal(), err
			}
			if i >= len(steps) {
				return nil, errors.New("exchange did not finish")
			}
			resp = []byte(steps[i])
		}
	}
	for _, tc := range []struct {
		mech  string
		steps []string
		ok    bool
	}{
		{"PLAIN", []string{"\x00alice@example.com\x00secret"}, true},
		{"plain", []string{"alice@example.com\x00alice@example.com\x00secret"}, true},
		{"PLAIN", []string{"bob@example.com\x00alice@example.com\x00secret"}, false}, // impersonation
		{"PLAIN", []string{"\x00alice@example.com\x00wrong"}, false},
		{"PLAIN", []string{"garbage"}, false},
		{"LOGIN", []string{"alice@example.com", "secret"}, true},
		{"LOGIN", []string{"alice@example.com", "nope"}, false},
	} {
		p, err := run(tc.mech, tc.steps...)
		if tc.ok != (err == nil && p != nil && p.Account == 1) {
			t.Errorf("%s %q: principal %v, err %v; want ok=%v", tc.mech, tc.steps, p, err, tc.ok)
		}
	}
	// PLAIN with an initial response finishes in one step.
	s, _ := a.NewSASL(ctx, "PLAIN", ip1, "test")
	if _, done, err := s.Next([]byte("\x00alice@example.com\x00secret")); !done || err != nil {
		t.Fatalf("PLAIN with initial response: done=%v err=%v", done, err)
	}
	// LOGIN with the user name as initial response asks for the password.
	s, _ = a.NewSASL(ctx, "LOGIN", ip1, "test")
	if ch, done, err := s.Next([]byte("alice@example.com")); string(ch) != "Password:" || done || err != nil {
		t.Fatalf("LOGIN initial response: %q %v %v", ch, done, err)
	}
	if _, err := a.NewSASL(ctx, "CRAM-MD5", ip1, "test"); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Fatalf("CRAM-MD5: %v", err)
	}
}

func TestPlaintextAllowed(t *testing.T) {
	lo := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}
	lo6 := &net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}
	for _, tc := range []struct {
		tls   bool
		addr  net.Addr
		allow bool
		want  bool
	}{
		{false, lo, false, true},
		{false, lo6, false, true},
		{false, remote, false, false},
		{true, remote, false, true},
		{false, remote, true, true},
		{false, nil, false, false},
	} {
		if got := PlaintextAllowed(tc.tls, tc.addr, tc.allow); got != tc.want {
			t.Errorf("PlaintextAllowed(%v, %v, %v) = %v", tc.tls, tc.addr, tc.allow, got)
		}
	}
}

// TestNoLockout: ten wrong passwords for an account from one address, and a
// steady attacker there, never keep the owner out from another address;
// the attacker's own source is refused for that account.
func TestNoLockout(t *testing.T) {
	a, _ := newTestAuth(t, config.Auth{MaxFailuresPerIP: 100, MaxFailuresPerAccount: 10, FailureWindow: config.Duration(time.Hour)})
	ctx := context.Background()
	attacker, owner := netip.MustParseAddr("192.0.2.66"), netip.MustParseAddr("198.51.100.7")
	for i := 0; i < 30; i++ {
		_, err := a.Login(ctx, attacker, "test", "alice@example.com", "guess")
		if i >= 10 && !errors.Is(err, ErrRateLimited) {
			t.Fatalf("attempt %d from the attacker: %v", i, err)
		}
		if i%5 == 4 {
			if _, err := a.Login(ctx, owner, "test", "alice@example.com", "secret"); err != nil {
				t.Fatalf("owner refused after %d attacker failures: %v", i+1, err)
			}
		}
	}
	// Another account from the attacker's address is not refused (the
	// per-source limit is 100).
	if _, err := a.Login(ctx, attacker, "test", "bob@example.org", "secret"); err != nil {
		t.Fatalf("other account from the attacker's address: %v", err)
	}
}

// TestLocalPartCountsAsAccount: with local-part login, "alice" and
// "alice@example.com" are one account for the failure limits.
func TestLocalPartCountsAsAccount(t *testing.T) {
	a, _ := newTestAuth(t, config.Auth{LocalPartLogin: true, MaxFailuresPerIP: 100, MaxFailuresPerAccount: 4, FailureWindow: config.Duration(time.Hour)})
	ctx := context.Background()
	for _, u := range []string{"alice", "ALICE@example.com", "alice", "alice@example.com"} {
		if _, err := a.Login(ctx, ip1, "test", u, "wrong"); !errors.Is(err, ErrFailed) {
			t.Fatalf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"alice", "alice@example.com"} {
		if _, err := a.Login(ctx, ip1, "test", u, "secret"); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("%s after 4 failures under both names: %v, want rate limited", u, err)
		}
	}
}

// TestHashPool: at most size verifications run at once, queue more wait,
// and the rest get ErrBusy at once; a panic frees its slot.
func TestHashPool(t *testing.T) {
	p := newHashPool(2, 1)
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ { // two run, one waits
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.run(ctx, func() { started <- struct{}{}; <-release }); err != nil {
				t.Errorf("run: %v", err)
			}
		}()
	}
	<-started
	<-started
	for p.waiting.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	if err := p.run(ctx, func() { t.Error("ran beyond the queue") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("beyond the queue: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	close(release)
	wg.Wait()
	if err := p.run(ctx, func() { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic: %v", err)
	}
	if err := p.run(cctx, func() {}); err != nil { // a free slot is taken even with a done context
		t.Fatalf("after panic: %v", err)
	}
	if len(p.slots) != 0 {
		t.Fatalf("%d slots leaked", len(p.slots))
	}
}

// TestHashPoolWaitBound: a waiter that gets no slot within the pool's wait
// bound gets ErrBusy, and the queue place is given back.
func TestHashPoolWaitBound(t *testing.T) {
	p := newHashPool(1, 10)
	p.wait = 20 * time.Millisecond
	release := make(chan struct{})
	running := make(chan struct{})
	go p.run(context.Background(), func() { close(running); <-release })
	<-running
	if err := p.run(context.Background(), func() { t.Error("ran without a slot") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("waiter past the bound: %v, want ErrBusy", err)
	}
	if n := p.waiting.Load(); n != 0 {
		t.Fatalf("%d waiters counted after the timeout", n)
	}
	close(release)
	if err := p.run(context.Background(), func() {}); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// TestLoginBusy: with every hashing slot taken and no queue, a login gets
// ErrBusy (a temporary failure), not ErrFailed, and is not counted as a
// failure.
func TestLoginBusy(t *testing.T) {
	a, _ := newTestAuth(t, config.Auth{MaxConcurrentHashes: 1, HashQueue: 0, MaxFailuresPerIP: 1, MaxFailuresPerAccount: 1, FailureWindow: config.Duration(time.Hour)})
	ctx := context.Background()
	hold := make(chan struct{})
	go a.pool.run(ctx, func() { <-hold })
	for len(a.pool.slots) != 1 {
		time.Sleep(time.Millisecond)
	}
	if _, err := a.Login(ctx, ip1, "test", "alice@example.com", "other-password"); !errors.Is(err, ErrBusy) {
		t.Fatalf("saturated: %v", err)
	}
	close(hold)
	for len(a.pool.slots) != 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := a.Login(ctx, ip1, "test", "alice@example.com", "secret"); err != nil {
		t.Fatalf("after: %v", err)
	}
}

func TestHashParams(t *testing.T) {
	p := ParamsFromConfig(config.Auth{HashMemory: 8 * config.MiB, HashTime: 1, HashThreads: 2})
	h, err := HashPasswordWith("a long password", p)
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=2$") {
		t.Fatalf("%q %v", h, err)
	}
	if ok, err := VerifyPassword(h, "a long password"); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	if ParamsFromConfig(config.Auth{}) != DefaultHashParams {
		t.Fatal("zero config is not the default")
	}
	if err := CheckPasswordStrength("short", 10); err == nil || !strings.Contains(err.Error(), "at least 10") {
		t.Fatalf("short password: %v", err)
	}
	if err := CheckPasswordStrength("ten chars!", 10); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSameLoginsShareOneHash: 20 connections of one client
// logging in at once share one verification, so even a pool of one slot
// without a queue refuses none of them; wrong passwords are not shared.
func TestConcurrentSameLoginsShareOneHash(t *testing.T) {
	a, _ := newTestAuth(t, config.Auth{MaxConcurrentHashes: 1, HashQueue: 0, MaxFailuresPerIP: 100, MaxFailuresPerAccount: 100, FailureWindow: config.Duration(time.Hour)})
	ctx := context.Background()
	hold := make(chan struct{})
	// Occupy the only slot so that every login below waits in one flight.
	k := a.cache.keyOf("alice@example.com", "secret")
	f := &flight{done: make(chan struct{})}
	a.cache.mu.Lock()
	a.cache.inflight[k] = f
	a.cache.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Login(ctx, ip1, "test", "alice@example.com", "secret")
			errs <- err
		}()
	}
	go func() {
		<-hold
		a.cache.mu.Lock()
		f.ok = true
		delete(a.cache.inflight, k)
		a.cache.mu.Unlock()
		close(f.done)
	}()
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent login: %v", err)
		}
	}
	if _, err := a.Login(ctx, ip1, "test", "alice@example.com", "wrong"); !errors.Is(err, ErrFailed) {
		t.Fatalf("wrong password: %v", err)
	}
}
