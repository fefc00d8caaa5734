package settings

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/floemail/floe/storage"
)

// Web sessions. The page logs in once (POST /api/v1/session) and then
// sends the session cookie; every state-changing request must also carry
// the session's CSRF token in the X-CSRF-Token header, which a page of
// another site cannot set. Sessions live in memory: a restart logs users
// out. A password change ends the account's other sessions.

// Cookie and header names.
const (
	CookieName = "floe_session"
	CSRFHeader = "X-CSRF-Token"
)

// Session limits.
const (
	sessionIdle      = 30 * time.Minute
	sessionMax       = 12 * time.Hour
	maxSessions      = 10000
	maxPerAccount    = 20
	sessionTokenSize = 32
)

type session struct {
	account  storage.AccountID
	address  string
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// sessions is the in-memory session table, keyed by the SHA-256 of the
// cookie value (so a memory dump does not hold usable cookies).
type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]*session
	now func() time.Time
}

func newSessions() *sessions {
	return &sessions{m: map[[32]byte]*session{}, now: time.Now}
}

func randomToken() string {
	b := make([]byte, sessionTokenSize)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session and returns the cookie value and CSRF token.
func (s *sessions) create(acct storage.AccountID, address string) (cookie, csrf string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	// Bound the table: drop the account's oldest sessions, then anyone's.
	n := 0
	var oldestKey [32]byte
	var oldest *session
	for k, v := range s.m {
		if v.account == acct {
			n++
			if oldest == nil || v.created.Before(oldest.created) {
				oldest, oldestKey = v, k
			}
		}
	}
	if n >= maxPerAccount {
		delete(s.m, oldestKey)
	}
	if len(s.m) >= maxSessions {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	cookie, csrf = randomToken(), randomToken()
	s.m[sha256.Sum256([]byte(cookie))] = &session{account: acct, address: address, csrf: csrf, created: now, lastSeen: now}
	return cookie, csrf
}

// get returns the live session of a cookie value, refreshing its idle
// timer.
func (s *sessions) get(cookie string) (session, bool) {
	if len(cookie) > 100 {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := sha256.Sum256([]byte(cookie))
	v, ok := s.m[k]
	if !ok {
		return session{}, false
	}
	now := s.now()
	if now.Sub(v.lastSeen) > sessionIdle || now.Sub(v.created) > sessionMax {
		delete(s.m, k)
		return session{}, false
	}
	v.lastSeen = now
	return *v, true
}

// delete ends the session of a cookie value.
func (s *sessions) delete(cookie string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(cookie)))
}

// endOthers ends every session of acct except the one of keep ("" ends
// all).
func (s *sessions) endOthers(acct storage.AccountID, keep string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kk := sha256.Sum256([]byte(keep))
	for k, v := range s.m {
		if v.account == acct && (keep == "" || k != kk) {
			delete(s.m, k)
		}
	}
}

func (s *sessions) expireLocked(now time.Time) {
	for k, v := range s.m {
		if now.Sub(v.lastSeen) > sessionIdle || now.Sub(v.created) > sessionMax {
			delete(s.m, k)
		}
	}
}

// csrfOK compares a presented token with the session's in constant time.
func csrfOK(sess session, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(sess.csrf), []byte(token)) == 1
}
