package auth

import (
	"sync"
	"time"
)

// limiter counts failed logins per key (an IP or an account) over a sliding
// window. It is bounded: when it holds maxKeys keys, expired keys are dropped
// and, if that is not enough, the table is cleared (an attacker spraying keys
// then loses its history too, which errs on the side of availability).
type limiter struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	maxKeys int
	keys    map[string][]time.Time
	now     func() time.Time
}

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, window: window, maxKeys: 100000, keys: map[string][]time.Time{}, now: now}
}

// blocked reports whether key has reached its limit of failures within the
// window.
func (l *limiter) blocked(key string) bool {
	if l.max <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(key)) >= l.max
}

// fail records one failure for key.
func (l *limiter) fail(key string) {
	if l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.keys) >= l.maxKeys {
		l.sweep()
	}
	r := l.recent(key)
	if len(r) >= l.max { // keep at most max entries per key
		r = r[1:]
	}
	l.keys[key] = append(r, l.now())
}

// recent drops key's expired failures and returns the rest. l.mu is held.
func (l *limiter) recent(key string) []time.Time {
	ts := l.keys[key]
	cut := l.now().Add(-l.window)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	if i == len(ts) {
		delete(l.keys, key)
		return nil
	}
	if i > 0 {
		ts = append(ts[:0:0], ts[i:]...)
		l.keys[key] = ts
	}
	return ts
}

// sweep removes expired keys, or everything if all are live. l.mu is held.
func (l *limiter) sweep() {
	for k := range l.keys {
		l.recent(k)
	}
	if len(l.keys) >= l.maxKeys {
		clear(l.keys)
	}
}

// count returns key's failures within the window.
func (l *limiter) count(key string) int {
	if l.max <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(key))
}
