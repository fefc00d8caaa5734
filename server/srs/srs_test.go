package srs

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func mustNew(t testing.TB, keys ...string) *SRS {
	s, err := New(keys, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := mustNew(t, "0123456789abcdef-secret")
	for _, orig := range []string{"anna@customer.example", "a=b+c@Sub.Example.ORG", "x@y.z"} {
		fwd, err := s.Forward(orig, "example.org", now)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(fwd, "SRS0=") || !strings.HasSuffix(fwd, "@example.org") || !IsSRS(fwd) {
			t.Fatalf("Forward(%q) = %q", orig, fwd)
		}
		back, err := s.Reverse(fwd, now.Add(5*24*time.Hour))
		if err != nil || back != orig {
			t.Errorf("Reverse(%q) = %q, %v; want %q", fwd, back, err, orig)
		}
		// Case changed by a relay: still valid.
		back, err = s.Reverse(strings.ToLower(fwd), now)
		if err != nil || !strings.EqualFold(back, orig) {
			t.Errorf("Reverse(lowercased) = %q, %v", back, err)
		}
	}
}

func TestNullAndLocal(t *testing.T) {
	t.Parallel()
	s := mustNew(t, "0123456789abcdef-secret")
	if a, err := s.Forward("", "example.org", now); a != "" || err != nil {
		t.Errorf("null sender: %q %v", a, err)
	}
	if a, _ := s.Forward("john@EXAMPLE.org", "example.org", now); a != "john@EXAMPLE.org" {
		t.Errorf("local sender rewritten: %q", a)
	}
}

func TestSRS1Chain(t *testing.T) {
	t.Parallel()
	a := mustNew(t, "first-forwarder-secret")
	b := mustNew(t, "second-forwarder-secret")
	c := mustNew(t, "third-forwarder-secret")
	s0, _ := a.Forward("anna@customer.example", "a.example", now)
	s1, err := b.Forward(s0, "b.example", now)
	if err != nil || !strings.HasPrefix(s1, "SRS1=") || !strings.Contains(s1, "=a.example==") {
		t.Fatalf("SRS1 %q %v", s1, err)
	}
	s1c, err := c.Forward(s1, "c.example", now)
	if err != nil || !strings.HasPrefix(s1c, "SRS1=") || !strings.HasSuffix(s1c, "@c.example") || !strings.Contains(s1c, "=a.example==") {
		t.Fatalf("SRS1 re-forwarded %q %v", s1c, err)
	}
	// The bounce goes back along the chain: c reverses to a's SRS0
	// address, which a reverses to the original sender.
	back, err := c.Reverse(s1c, now)
	if err != nil || back != s0 {
		t.Fatalf("c.Reverse = %q, %v; want %q", back, err, s0)
	}
	if back, err = b.Reverse(s1, now); err != nil || back != s0 {
		t.Fatalf("b.Reverse = %q, %v", back, err)
	}
	orig, err := a.Reverse(back, now)
	if err != nil || orig != "anna@customer.example" {
		t.Fatalf("a.Reverse = %q, %v", orig, err)
	}
	// Another forwarder's keys do not verify.
	if _, err := b.Reverse(s1c, now); !errors.Is(err, ErrForged) {
		t.Errorf("foreign SRS1 accepted: %v", err)
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	s := mustNew(t, "0123456789abcdef-secret")
	good, _ := s.Forward("anna@customer.example", "example.org", now)
	tampered := strings.Replace(good, "=customer.example=", "=attacker.example=", 1)
	for _, tc := range []struct {
		addr string
		at   time.Time
		want error
	}{
		{"john@example.org", now, ErrNotSRS},
		{"nobody", now, ErrNotSRS},
		{tampered, now, ErrForged},
		{"SRS0=AAAAAA=AB=customer.example=anna@example.org", now, ErrForged},
		{"SRS0=AAAAAA@example.org", now, ErrInvalid},
		{"SRS1=AAAAAA=x.example==AAAAAA=AB=c.example=a@example.org", now, ErrForged},
		{good, now.Add(22 * 24 * time.Hour), ErrExpired},
	} {
		if _, err := s.Reverse(tc.addr, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("Reverse(%q) = %v, want %v", tc.addr, err, tc.want)
		}
	}
	// A rotated key still verifies old addresses.
	rot := mustNew(t, "a-brand-new-secret-key", "0123456789abcdef-secret")
	if back, err := rot.Reverse(good, now); err != nil || back != "anna@customer.example" {
		t.Errorf("rotated key: %q %v", back, err)
	}
	if _, err := New(nil, 0); err == nil {
		t.Error("no key accepted")
	}
	if _, err := New([]string{"short"}, 0); err == nil {
		t.Error("short key accepted")
	}
}

func TestTimestampWraps(t *testing.T) {
	t.Parallel()
	s := mustNew(t, "0123456789abcdef-secret")
	// Around the 1024-day wrap of the timestamp.
	base := time.Unix(int64(1023*86400), 0).UTC()
	for base.Unix()/86400%1024 != 1023 {
		base = base.Add(24 * time.Hour)
	}
	fwd, _ := s.Forward("anna@customer.example", "example.org", base)
	if _, err := s.Reverse(fwd, base.Add(3*24*time.Hour)); err != nil {
		t.Errorf("across the wrap: %v", err)
	}
}

func FuzzReverse(f *testing.F) {
	s := mustNew(f, "0123456789abcdef-secret")
	good, _ := s.Forward("anna@customer.example", "example.org", now)
	f.Add(good)
	f.Add("SRS1=AAAAAA=x.example==AAAAAA=AB=c.example=a@example.org")
	f.Add("srs0+x=y=z@w")
	f.Fuzz(func(t *testing.T, addr string) {
		back, err := s.Reverse(addr, now)
		if err == nil && back == "" {
			t.Fatal("empty reversal without error")
		}
		if fwd, err := s.Forward(addr, "example.org", now); err == nil && fwd != addr && !IsSRS(fwd) {
			t.Fatalf("Forward(%q) = %q", addr, fwd)
		}
	})
}
