package sqlite

import (
	"sync"

	"github.com/floemail/floe/storage"
)

// hub fans committed changes out to the subscriptions of their account and
// of their mailbox. publish never blocks on a subscriber: each subscription
// has an unbounded queue and a coalesced Ready channel of capacity 1.
type hub struct {
	mu     sync.Mutex
	subs   map[storage.AccountID]map[*subscription]struct{}
	mboxes map[storage.MailboxID]map[*subscription]struct{}
}

func (h *hub) init() {
	h.subs = make(map[storage.AccountID]map[*subscription]struct{})
	h.mboxes = make(map[storage.MailboxID]map[*subscription]struct{})
}

// Subscribe returns a subscription to the committed changes of acct.
func (s *Store) Subscribe(acct storage.AccountID) storage.Subscription {
	sub := &subscription{h: &s.hub, acct: acct, ready: make(chan struct{}, 1)}
	s.hub.mu.Lock()
	m := s.hub.subs[acct]
	if m == nil {
		m = make(map[*subscription]struct{})
		s.hub.subs[acct] = m
	}
	m[sub] = struct{}{}
	s.hub.mu.Unlock()
	return sub
}

// SubscribeMailbox returns a subscription to the committed changes of one
// mailbox, whatever account owns it.
func (s *Store) SubscribeMailbox(mbox storage.MailboxID) storage.Subscription {
	sub := &subscription{h: &s.hub, mbox: mbox, byMailbox: true, ready: make(chan struct{}, 1)}
	s.hub.mu.Lock()
	m := s.hub.mboxes[mbox]
	if m == nil {
		m = make(map[*subscription]struct{})
		s.hub.mboxes[mbox] = m
	}
	m[sub] = struct{}{}
	s.hub.mu.Unlock()
	return sub
}

// publish delivers changes (in commit order) to the subscriptions of their
// accounts and mailboxes. It is called by the writer only, after commit, so
// the order of calls is the commit order.
func (h *hub) publish(changes []storage.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := 0; i < len(changes); {
		acct := changes[i].Account
		j := i + 1
		for j < len(changes) && changes[j].Account == acct {
			j++
		}
		for sub := range h.subs[acct] {
			sub.push(changes[i:j])
		}
		i = j
	}
	if len(h.mboxes) == 0 {
		return
	}
	for i := 0; i < len(changes); {
		mbox := changes[i].Mailbox
		j := i + 1
		for j < len(changes) && changes[j].Mailbox == mbox {
			j++
		}
		if mbox != 0 && changes[i].Kind != storage.ChangeMailboxSubscribed {
			for sub := range h.mboxes[mbox] {
				sub.push(changes[i:j])
			}
		}
		i = j
	}
}

type subscription struct {
	h         *hub
	acct      storage.AccountID
	mbox      storage.MailboxID
	byMailbox bool
	ready     chan struct{}

	mu     sync.Mutex
	queue  []storage.Change
	closed bool
}

func (s *subscription) push(cs []storage.Change) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	for _, c := range cs {
		c.Flags = append([]string(nil), c.Flags...) // each subscriber owns its copy
		s.queue = append(s.queue, c)
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when changes are waiting.
func (s *subscription) Ready() <-chan struct{} { return s.ready }

// Next returns and removes the waiting changes, in commit order.
func (s *subscription) Next() []storage.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// Close removes the subscription from the hub. It is idempotent.
func (s *subscription) Close() {
	s.h.mu.Lock()
	if s.byMailbox {
		if m := s.h.mboxes[s.mbox]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(s.h.mboxes, s.mbox)
			}
		}
	} else if m := s.h.subs[s.acct]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(s.h.subs, s.acct)
		}
	}
	s.h.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.queue = nil
	s.mu.Unlock()
}
