package files

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"
)

// Lock limits.
const (
	// MaxLockTimeout caps the timeout a client asks for (RFC 4918 10.7
	// lets the server choose); DefaultLockTimeout is used when it asks
	// for none or for "Infinite".
	MaxLockTimeout     = 24 * time.Hour
	DefaultLockTimeout = time.Hour
	// maxLocks bounds the locks held at once, server-wide.
	maxLocks = 100000
)

// errTooManyLocks is returned by create beyond maxLocks.
var errTooManyLocks = errors.New("too many locks")

// lock is one WebDAV lock (RFC 4918 6). Roots are full lock paths:
// "/<owner>/<folder path>[/<file>]", NFC, without a trailing slash.
type lock struct {
	token     string
	root      string
	shared    bool
	zeroDepth bool
	ownerXML  string
	principal string // who took it; only they may use its token
	duration  time.Duration
	expiry    time.Time
}

// covers reports whether l's scope includes the resource at p.
func (l *lock) covers(p string) bool {
	return l.root == p || !l.zeroDepth && isAncestor(l.root, p)
}

// isAncestor reports whether a is a proper ancestor path of b.
func isAncestor(a, b string) bool {
	if a == "/" {
		return b != "/"
	}
	return strings.HasPrefix(b, a+"/")
}

// Locks is the lock manager: write locks, exclusive and shared, with
// timeouts, in memory (locks do not survive a restart, which RFC 4918
// allows: a client finds its lock gone and takes a new one). It is safe
// for concurrent use and shared by every request of a server.
type Locks struct {
	mu      sync.Mutex
	byToken map[string]*lock
}

// NewLocks returns an empty lock manager.
func NewLocks() *Locks { return &Locks{byToken: map[string]*lock{}} }

// expire drops expired locks. l.mu is held.
func (ls *Locks) expire(now time.Time) {
	for t, l := range ls.byToken {
		if !now.Before(l.expiry) {
			delete(ls.byToken, t)
		}
	}
}

// conflicts reports whether a new lock (root, zeroDepth, shared) conflicts
// with an existing one: their scopes overlap and one is exclusive.
// ls.mu is held.
func (ls *Locks) conflicts(root string, zeroDepth, shared bool) bool {
	for _, l := range ls.byToken {
		overlap := l.covers(root) || !zeroDepth && isAncestor(root, l.root)
		if overlap && (!shared || !l.shared) {
			return true
		}
	}
	return false
}

// create takes a lock (webdav.ErrLocked on conflict).
func (ls *Locks) create(now time.Time, principal string, d webdav.LockDetails, shared bool) (*lock, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	if ls.conflicts(d.Root, d.ZeroDepth, shared) {
		return nil, webdav.ErrLocked
	}
	if len(ls.byToken) >= maxLocks {
		return nil, errTooManyLocks
	}
	dur := clampTimeout(d.Duration)
	var b [16]byte
	_, _ = rand.Read(b[:])
	l := &lock{token: "opaquelocktoken:" + uuid(b), root: d.Root, shared: shared, zeroDepth: d.ZeroDepth,
		ownerXML: d.OwnerXML, principal: principal, duration: dur, expiry: now.Add(dur)}
	ls.byToken[l.token] = l
	c := *l
	return &c, nil
}

func clampTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultLockTimeout
	}
	return min(d, MaxLockTimeout)
}

// uuid formats 16 random bytes as an RFC 4122 version 4 UUID.
func uuid(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// refresh renews the lock token if it covers p and belongs to principal.
func (ls *Locks) refresh(now time.Time, principal, token, p string, d time.Duration) (*lock, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	l, ok := ls.byToken[token]
	if !ok || l.principal != principal || !l.covers(p) {
		return nil, webdav.ErrNoSuchLock
	}
	l.duration = clampTimeout(d)
	l.expiry = now.Add(l.duration)
	c := *l
	return &c, nil
}

// unlock removes the lock token if it covers p and belongs to principal.
func (ls *Locks) unlock(now time.Time, principal, token, p string) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	l, ok := ls.byToken[token]
	if !ok || l.principal != principal || !l.covers(p) {
		return webdav.ErrNoSuchLock
	}
	delete(ls.byToken, token)
	return nil
}

// removeUnder drops every lock rooted at p or below it (the resource was
// deleted or moved away: RFC 4918 7.4, 9.9.4).
func (ls *Locks) removeUnder(p string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for t, l := range ls.byToken {
		if l.root == p || isAncestor(p, l.root) {
			delete(ls.byToken, t)
		}
	}
}

// active returns copies of the live locks covering p (lockdiscovery).
func (ls *Locks) active(now time.Time, p string) []lock {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	var out []lock
	for _, l := range ls.byToken {
		if l.covers(p) {
			out = append(out, *l)
		}
	}
	return out
}

// confirm evaluates one list of If conditions (RFC 4918 10.4) for the
// resource p and checks that the request may change the resources p and
// q (either may be ""): every lock covering them must be submitted (an
// exclusive one), or one of them (shared ones). etag returns the current
// ETag of p ("" when it has none).
func (ls *Locks) confirm(now time.Time, principal, p, q string, etag func() string, conds []webdav.Condition) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	held := map[string]bool{}
	for _, c := range conds {
		var ok bool
		switch {
		case c.Token != "":
			l, found := ls.byToken[c.Token]
			ok = found && l.covers(p)
			if ok && !c.Not {
				if l.principal != principal {
					return webdav.ErrConfirmationFailed
				}
				held[c.Token] = true
			}
		case c.ETag != "":
			ok = etag() == c.ETag
		}
		if ok == c.Not {
			return webdav.ErrConfirmationFailed
		}
	}
	for _, r := range []string{p, q} {
		if r == "" {
			continue
		}
		var covering, submitted, exclusiveMissing bool
		for _, l := range ls.byToken {
			if !l.covers(r) {
				continue
			}
			covering = true
			if held[l.token] {
				submitted = true
			} else if !l.shared {
				exclusiveMissing = true
			}
		}
		if covering && (!submitted || exclusiveMissing) {
			return webdav.ErrLocked
		}
	}
	return nil
}

// lockSystem is the webdav.LockSystem of one request: Locks seen by one
// principal, with names relative to the owner's root (x/net/webdav strips
// the "/webdav/<owner>" prefix).
type lockSystem struct {
	ls        *Locks
	principal string
	base      string // "/<owner>"
	etag      func(name string) string
}

var _ webdav.LockSystem = (*lockSystem)(nil)

func (s *lockSystem) full(name string) string {
	if name == "" {
		return ""
	}
	return lockPath(s.base, name)
}

// lockPath joins the owner base and a name into a lock path.
func lockPath(base, name string) string {
	name = strings.TrimSuffix(name, "/")
	if name == "" || name == "/" {
		return base
	}
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return base + name
}

func (s *lockSystem) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	err := s.ls.confirm(now, s.principal, s.full(name0), s.full(name1), func() string { return s.etag(name0) }, conditions)
	if err == webdav.ErrLocked {
		// x/net/webdav tries the next list on ErrConfirmationFailed and
		// answers 412 when none holds.
		err = webdav.ErrConfirmationFailed
	}
	if err != nil {
		return nil, err
	}
	return func() {}, nil
}

// tempToken is what Create returns: x/net/webdav calls Create only for the
// temporary lock it takes around a request without an If header, to find
// out whether a client's lock stands in the way. Storage serialises the
// writes themselves, so no lock is recorded: two such requests (a client
// uploading in parallel, making the same parent folder) never lock each
// other out with 423.
const tempToken = "floe:request"

func (s *lockSystem) Create(now time.Time, d webdav.LockDetails) (string, error) {
	s.ls.mu.Lock()
	defer s.ls.mu.Unlock()
	s.ls.expire(now)
	if s.ls.conflicts(s.full(d.Root), d.ZeroDepth, false) {
		return "", webdav.ErrLocked
	}
	return tempToken, nil
}

func (s *lockSystem) Refresh(now time.Time, token string, d time.Duration) (webdav.LockDetails, error) {
	return webdav.LockDetails{}, webdav.ErrNoSuchLock // LOCK is served by Handler
}

func (s *lockSystem) Unlock(now time.Time, token string) error {
	if token == tempToken {
		return nil
	}
	s.ls.mu.Lock()
	defer s.ls.mu.Unlock()
	if l, ok := s.ls.byToken[token]; ok && l.principal == s.principal {
		delete(s.ls.byToken, token)
		return nil
	}
	return webdav.ErrNoSuchLock
}
