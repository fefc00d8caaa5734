package auth

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// maxHashWait bounds how long a login waits for a hashing slot before it
// gets ErrBusy.
const maxHashWait = 15 * time.Second

// hashPool bounds password hashing. An argon2id verification holds its
// memory cost (19 MiB by default) for its whole run, so unbounded
// concurrent logins (unauthenticated attempts included) would grow the
// process by that much per attempt. At most size verifications run at once
// (by default one per core: more would only queue for the CPU), at most
// queue callers wait for a slot, each for at most maxHashWait, and any
// further caller gets ErrBusy at once: a temporary failure the protocols
// answer as such. Waiting costs no hashing memory (a waiter holds nothing
// but its goroutine), so the queue is long and bounded by time: a burst of
// logins (every client of an office reconnecting at once) is served a
// little late rather than refused.
type hashPool struct {
	slots   chan struct{}
	queue   int
	wait    time.Duration
	waiting atomic.Int64
}

func newHashPool(size, queue int) *hashPool {
	if size < 1 {
		size = 1
	}
	return &hashPool{slots: make(chan struct{}, size), queue: queue, wait: maxHashWait}
}

func (p *hashPool) size() int { return cap(p.slots) }

// run runs fn in the caller's goroutine once a slot is free. It returns
// ErrBusy when the queue is full or no slot freed within maxHashWait, or
// ctx's error when ctx ends while waiting. A panic in fn is recovered and returned as an error (with the
// stack), so a slot is never lost.
func (p *hashPool) run(ctx context.Context, fn func()) (err error) {
	select {
	case p.slots <- struct{}{}:
	default:
		if p.waiting.Add(1) > int64(p.queue) {
			p.waiting.Add(-1)
			return ErrBusy
		}
		t := time.NewTimer(p.wait)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
			p.waiting.Add(-1)
		case <-t.C:
			p.waiting.Add(-1)
			return ErrBusy
		case <-ctx.Done():
			p.waiting.Add(-1)
			return ctx.Err()
		}
	}
	defer func() { <-p.slots }()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic in password hashing: %v\n%s", v, debug.Stack())
		}
	}()
	fn()
	return nil
}
