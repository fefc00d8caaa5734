// Package srs implements the Sender Rewriting Scheme: when Floe forwards a
// message, the envelope sender is rewritten into an address of the
// forwarding domain so that SPF passes at the destination, and a bounce
// sent to that address can be turned back into the original sender.
//
// Formats (after the scheme of Shevek's "Sender Rewriting Scheme" paper and
// libsrs2; the hash is our own, so only Floe reverses its addresses):
//
//	SRS0=HHHHHH=TT=orig-domain=orig-local@forwarder
//	SRS1=HHHHHH=first-forwarder==HHHHHH=TT=orig-domain=orig-local@forwarder
//
// HHHHHH is the first 30 bits of an HMAC-SHA256 under a secret key, in
// base32 (compared case-insensitively, since some mail systems change the
// case of local parts); TT is the day (days since the Unix epoch, modulo
// 1024) in two base32 characters. A reversed SRS0 address must carry a
// valid hash under one of the keys and a day no older than MaxAge:
// anything else is refused as forged or expired. Forwarding an SRS0
// address of another forwarder makes an SRS1 address (the chain keeps only
// the first forwarder), forwarding an SRS1 address replaces its hash.
//
// The package is pure: no state beyond the keys, the clock comes from the
// caller.
package srs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"time"
)

// Errors of Reverse.
var (
	ErrNotSRS  = errors.New("srs: not an SRS address")
	ErrForged  = errors.New("srs: invalid hash (forged address)")
	ErrExpired = errors.New("srs: timestamp expired")
	ErrInvalid = errors.New("srs: malformed SRS address")
)

// MaxAge is how long a rewritten address can be reversed by default.
const MaxAge = 21 * 24 * time.Hour

const (
	hashLen = 6
	dayMod  = 1024
	b32     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)

var enc = base32.NewEncoding(b32).WithPadding(base32.NoPadding)

// SRS rewrites and reverses addresses. It is safe for concurrent use.
type SRS struct {
	keys   [][]byte
	maxAge time.Duration
}

// New returns an SRS with the given secret keys: the first signs, every
// one verifies (so a key can be rotated: put the new one first, keep the
// old one until MaxAge has passed). maxAge 0 means MaxAge.
func New(keys []string, maxAge time.Duration) (*SRS, error) {
	if len(keys) == 0 {
		return nil, errors.New("srs: no secret key")
	}
	s := &SRS{maxAge: maxAge}
	if s.maxAge <= 0 {
		s.maxAge = MaxAge
	}
	for _, k := range keys {
		if len(k) < 16 {
			return nil, errors.New("srs: a secret key must have at least 16 characters")
		}
		s.keys = append(s.keys, []byte(k))
	}
	return s, nil
}

func (s *SRS) hash(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(strings.ToLower(p)))
		m.Write([]byte{0})
	}
	return enc.EncodeToString(m.Sum(nil))[:hashLen]
}

func (s *SRS) verify(h string, parts ...string) bool {
	for _, k := range s.keys {
		if len(h) == hashLen && hmac.Equal([]byte(strings.ToUpper(h)), []byte(s.hash(k, parts...))) {
			return true
		}
	}
	return false
}

func day(t time.Time) int { return int(t.Unix()/86400) % dayMod }

func stamp(t time.Time) string {
	d := day(t)
	return string([]byte{b32[d>>5&31], b32[d&31]})
}

// fresh reports whether stamp ts (two base32 characters) is at most maxAge
// old at now.
func (s *SRS) fresh(ts string, now time.Time) bool {
	if len(ts) != 2 {
		return false
	}
	a := strings.IndexByte(b32, upper(ts[0]))
	b := strings.IndexByte(b32, upper(ts[1]))
	if a < 0 || b < 0 {
		return false
	}
	then := a<<5 | b
	age := (day(now) - then + dayMod) % dayMod
	return age <= int(s.maxAge/(24*time.Hour))
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 32
	}
	return c
}

func split(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}

// isPrefix reports whether local starts with tag ("SRS0") followed by one
// of the separators "=", "-" or "+" (case-insensitive).
func isPrefix(local, tag string) bool {
	return len(local) > 5 && strings.EqualFold(local[:4], tag) && strings.IndexByte("=-+", local[4]) >= 0
}

// IsSRS reports whether address looks like an SRS address.
func IsSRS(address string) bool {
	local, _, ok := split(address)
	return ok && (isPrefix(local, "SRS0") || isPrefix(local, "SRS1"))
}

// Forward rewrites the envelope sender of a message that domain (ours)
// forwards. The null sender stays null, and a sender already in domain is
// left as it is.
func (s *SRS) Forward(sender, domain string, now time.Time) (string, error) {
	if sender == "" {
		return "", nil
	}
	local, sdom, ok := split(sender)
	if !ok {
		return "", ErrInvalid
	}
	if strings.EqualFold(sdom, domain) {
		return sender, nil
	}
	key := s.keys[0]
	switch {
	case isPrefix(local, "SRS0"):
		// SRS0=HHH=TT=domain=local@fwd1 -> SRS1=HHH=fwd1==HHH=TT=domain=local
		rest := local[4:] // keeps its separator
		return "SRS1=" + s.hash(key, sdom, rest) + "=" + sdom + "=" + rest + "@" + domain, nil
	case isPrefix(local, "SRS1"):
		// SRS1=HHH=fwd1==rest@fwd2 -> SRS1=HHH'=fwd1==rest@domain
		f := strings.SplitN(local[5:], "=", 3)
		if len(f) < 3 || f[1] == "" {
			return "", ErrInvalid
		}
		first, rest := f[1], f[2]
		return "SRS1=" + s.hash(key, first, rest) + "=" + first + "=" + rest + "@" + domain, nil
	}
	ts := stamp(now)
	return "SRS0=" + s.hash(key, ts, sdom, local) + "=" + ts + "=" + sdom + "=" + local + "@" + domain, nil
}

// Reverse turns an SRS address (a bounce's recipient) back into the
// address it stands for: an SRS0 address into the original sender, an
// SRS1 address into the SRS0 address of the first forwarder (reverse it
// again when that forwarder is ours too). ErrNotSRS, ErrForged,
// ErrExpired or ErrInvalid otherwise.
func (s *SRS) Reverse(address string, now time.Time) (string, error) {
	local, _, ok := split(address)
	if !ok {
		return "", ErrNotSRS
	}
	switch {
	case isPrefix(local, "SRS0"):
		// SRS0=HHH=TT=domain=local
		f := strings.SplitN(local[5:], "=", 4)
		if len(f) != 4 || f[2] == "" || f[3] == "" {
			return "", ErrInvalid
		}
		h, ts, dom, orig := f[0], f[1], f[2], f[3]
		if !s.verify(h, ts, dom, orig) {
			return "", ErrForged
		}
		if !s.fresh(ts, now) {
			return "", ErrExpired
		}
		return orig + "@" + dom, nil
	case isPrefix(local, "SRS1"):
		// SRS1=HHH=fwd1==rest -> SRS0=rest@fwd1 (rest starts with the
		// SRS0 separator).
		f := strings.SplitN(local[5:], "=", 3)
		if len(f) != 3 || f[1] == "" || f[2] == "" {
			return "", ErrInvalid
		}
		h, first, rest := f[0], f[1], f[2]
		if !s.verify(h, first, rest) {
			return "", ErrForged
		}
		return "SRS0" + rest + "@" + first, nil
	}
	return "", ErrNotSRS
}
