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
	// Per-account: failures spread over IPs block the account.
	for i := 0; i < 5; i++ {
		ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		a.Login(ctx, ip, "test", "bob@example.com", "wrong")
	}
	if _, err := a.Login(ctx, netip.MustParseAddr("203.0.113.9"), "test", "bob@example.com", "secret"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("blocked account: %v", err)
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

func TestVerifyCache(t *testing.T) {
	a, _ := newTestAuth(t, config.Auth{})
	ctx := context.Background()
	if _, err := a.Login(ctx, ip1, "t", "alice@example.com", "secret"); err != nil {
		t.Fatal(err)
	}
	h := a.cache
	acct, _ := a.dir.Account(ctx, "alice@example.com")
	if !h.get(acct.PasswordHash, "secret") {
		t.Fatal("successful login not cached")
	}
	if h.get(acct.PasswordHash, "wrong") || h.get("other-hash", "secret") {
		t.Fatal("cache hit for wrong credentials")
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
