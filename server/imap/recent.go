package imap

import (
	"context"
	"slices"
	"sync"

	"github.com/floemail/floe/storage"
)

// \Recent (RFC 3501 2.3.2): a message is recent in exactly one session, the
// first one that learns of it with the mailbox selected read-write (SELECT
// of a mailbox holding it, or the EXISTS announcing it). A read-only
// session (EXAMINE) sees the messages no session has claimed yet as recent
// without claiming them. IMAP4rev2 removed \Recent (RFC 9051 appendix E);
// rev2 sessions claim messages all the same (so one message is recent in at
// most one session whatever the client's revision) but never show it.
//
// The state is one number per mailbox, the lowest UID no session has
// claimed, kept in memory: after a restart the first session that selects
// a mailbox read-write sees all its messages as recent (as Dovecot does
// for a mailbox without index).
type recentTracker struct {
	mu    sync.Mutex
	first map[recentKey]storage.UID
}

// recentKey names one incarnation of a mailbox: a deleted mailbox's ID may
// be reused, with a new UIDVALIDITY.
type recentKey struct {
	id          storage.MailboxID
	uidValidity uint32
}

func keyOf(mb storage.Mailbox) recentKey { return recentKey{mb.ID, mb.UIDValidity} }

func newRecentTracker() *recentTracker {
	return &recentTracker{first: map[recentKey]storage.UID{}}
}

// claim returns the UIDs of uids (sorted) that no session has claimed and,
// when take is set, claims them together with every UID up to upTo.
func (t *recentTracker) claim(mb recentKey, uids []storage.UID, upTo storage.UID, take bool) []storage.UID {
	t.mu.Lock()
	defer t.mu.Unlock()
	first := t.first[mb]
	i, _ := slices.BinarySearch(uids, first)
	out := slices.Clone(uids[i:])
	if take && upTo >= first {
		t.first[mb] = upTo + 1
	}
	return out
}

// firstUnclaimed returns the lowest UID of mb no session has claimed.
func (t *recentTracker) firstUnclaimed(mb recentKey) storage.UID {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.first[mb]
}

// forget drops the state of a deleted mailbox.
func (t *recentTracker) forget(mb recentKey) {
	t.mu.Lock()
	delete(t.first, mb)
	t.mu.Unlock()
}

// IsRecent reports whether uid is recent in this session's view (for
// SEARCH RECENT, NEW and OLD).
func (v *selected) IsRecent(uid storage.UID) bool { return v.isRecent(uid) }

// isRecent reports whether uid is recent in this session's view.
func (v *selected) isRecent(uid storage.UID) bool {
	_, ok := slices.BinarySearch(v.recent, uid)
	return ok
}

// addRecent records a newly announced message as recent in this view when
// no other session claimed it (a read-write view claims it).
func (s *session) addRecent(uid storage.UID) {
	v := s.sel
	if got := s.srv.recent.claim(keyOf(v.mbox), []storage.UID{uid}, uid, !v.readOnly); len(got) > 0 {
		v.recent = append(v.recent, uid) // UIDs arrive in ascending order
	}
}

// flagsOut returns the flags to show for message uid: with \Recent added for
// an IMAP4rev1 session that owns the message's \Recent.
func (s *session) flagsOut(uid storage.UID, flags []string) []string {
	if s.enabled.rev2 || s.sel == nil || !s.sel.isRecent(uid) {
		return flags
	}
	out := make([]string, 0, len(flags)+1)
	out = append(out, `\Recent`)
	return append(out, flags...)
}

// recentCount is STATUS RECENT: the messages of mb no session has claimed.
func (s *session) recentCount(ctx context.Context, st *storage.MailboxStatus) (uint32, error) {
	first := s.srv.recent.firstUnclaimed(keyOf(st.Mailbox))
	if first <= 1 {
		return st.Messages, nil
	}
	if first >= st.UIDNext {
		return 0, nil
	}
	msgs, err := s.v.Messages(ctx, st.ID, storage.Query{UIDs: storage.UIDSet{{Start: first, Stop: st.UIDNext - 1}}})
	if err != nil {
		return 0, err
	}
	return uint32(len(msgs)), nil
}
