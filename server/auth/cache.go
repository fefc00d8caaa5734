package auth

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/floemail/floe/storage"
)

// credCache is the verified-credential cache (Dovecot's auth cache): a
// client that authenticates on every request (HTTP Basic: a CalDAV sync
// sends the password with each of its thousands of requests) or opens many
// connections (IMAP clients, SMTP reconnect storms) pays argon2id once per
// TTL, not once per request. It also lets concurrent logins with the same
// credentials share one verification (20 connections of one client logging
// in at once cost one hash, not 20).
//
// Contract:
//   - Only successes are cached. A failure is never remembered, so a wrong
//     guess can neither become a success nor make a right password fail.
//   - The key is an HMAC-SHA256, under a random per-process key, of the
//     account's canonical address and the password: neither is kept, and
//     the table is useless outside the process.
//   - A hit counts only for the same account (ID) whose stored password
//     hash is still the one that was verified (the caller has just read the
//     account from the directory, so a password change or a deleted and
//     re-created account misses at once); a disabled account is refused by
//     the caller before the cache is asked. An app-password entry counts
//     only while that app password still exists with the same digest.
//   - Entries live at most ttl (0: nothing is cached; single flights still
//     apply) and at most max of them are kept, the least recently used
//     going first.
//   - The cache never bypasses the failure rate limiter: Login consults
//     the limiter before the cache.
type credCache struct {
	mu       sync.Mutex
	key      [32]byte
	ttl      time.Duration
	max      int
	now      func() time.Time
	m        map[[32]byte]*list.Element // of *credEntry
	lru      *list.List                 // front: most recently used
	inflight map[[32]byte]*flight
}

// credEntry is one remembered success.
type credEntry struct {
	k    [32]byte
	acct storage.AccountID
	// hash is the SHA-256 of the account's stored password hash at the
	// time of the verification.
	hash [32]byte
	// app is the ID of the app password the password was (0: the
	// account's own password), appHash its stored digest.
	app     int64
	appHash string
	at      time.Time
}

// flight is one verification in progress that others wait for.
type flight struct {
	done chan struct{}
	ok   bool
}

func newCredCache(ttl time.Duration, max int) *credCache {
	c := &credCache{now: time.Now, m: map[[32]byte]*list.Element{}, lru: list.New(), inflight: map[[32]byte]*flight{}}
	if _, err := rand.Read(c.key[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	c.setLimits(ttl, max)
	return c
}

// setLimits applies new settings ([auth] cache_ttl, cache_size), dropping
// entries beyond the new bound (and all of them when ttl is 0).
func (c *credCache) setLimits(ttl time.Duration, max int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if max < 1 {
		max = 1
	}
	c.ttl, c.max = ttl, max
	if ttl <= 0 {
		clear(c.m)
		c.lru.Init()
	}
	c.trimLocked()
}

func (c *credCache) trimLocked() {
	for c.lru.Len() > c.max {
		e := c.lru.Back()
		c.lru.Remove(e)
		delete(c.m, e.Value.(*credEntry).k)
	}
}

// keyOf returns the cache key of a login: HMAC(key, address NUL password).
func (c *credCache) keyOf(address, password string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(address))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func hashDigest(storedHash string) [32]byte { return sha256.Sum256([]byte(storedHash)) }

// lookup returns the live entry of k for acct (nil on a miss). An entry
// that is stale (expired, another account, another stored hash) is
// dropped.
func (c *credCache) lookup(k [32]byte, acct storage.Account) *credEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return nil
	}
	e := el.Value.(*credEntry)
	if c.ttl <= 0 || c.now().Sub(e.at) > c.ttl || e.acct != acct.ID || e.hash != hashDigest(acct.PasswordHash) {
		c.lru.Remove(el)
		delete(c.m, k)
		return nil
	}
	c.lru.MoveToFront(el)
	cp := *e
	return &cp
}

// store remembers a success for acct (app: the app password's ID and
// digest, 0 and "" for the account's own password).
func (c *credCache) store(k [32]byte, acct storage.Account, app int64, appHash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ttl <= 0 {
		return
	}
	e := &credEntry{k: k, acct: acct.ID, hash: hashDigest(acct.PasswordHash), app: app, appHash: appHash, at: c.now()}
	if el, ok := c.m[k]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.m[k] = c.lru.PushFront(e)
	c.trimLocked()
}

// forget drops the entry of k (an app password that no longer exists).
func (c *credCache) forget(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		c.lru.Remove(el)
		delete(c.m, k)
	}
}

// len returns the number of entries.
func (c *credCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// verify reports whether password matches acct's stored hash, by waiting
// for an identical verification in progress (only a successful one is
// shared; after a failure each caller verifies for itself, so a wrong
// guess cannot make a right password fail) or by running run. A success
// is stored. verr is the hash's problem, err a pool refusal or the
// context's end.
func (c *credCache) verify(ctx context.Context, k [32]byte, acct storage.Account, run func() (ok bool, verr, err error)) (ok bool, verr, err error) {
	c.mu.Lock()
	if f := c.inflight[k]; f != nil {
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return false, nil, ctx.Err()
		}
		if f.ok {
			return true, nil, nil
		}
		// The shared verification failed (a busy pool, a cancelled
		// context): verify for ourselves.
		c.mu.Lock()
	}
	var mine *flight
	if c.inflight[k] == nil {
		mine = &flight{done: make(chan struct{})}
		c.inflight[k] = mine
	}
	c.mu.Unlock()
	ok, verr, err = run()
	good := ok && verr == nil && err == nil
	if good {
		c.store(k, acct, 0, "")
	}
	if mine != nil {
		c.mu.Lock()
		mine.ok = good
		delete(c.inflight, k)
		c.mu.Unlock()
		close(mine.done)
	}
	return ok, verr, err
}
