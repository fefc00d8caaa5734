package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/floemail/floe/storage"
)

// op is one write request queued to the writer goroutine.
type op struct {
	name  string
	fn    func(w *wtx) error
	state atomic.Int32 // opQueued, opTaken, opCancelled
	err   error
	done  chan struct{}

	// blobs must be durable before the batch running this op commits.
	blobs   []storage.BlobID
	changes []storage.Change
	deleted []storage.BlobID // blob rows removed (refs reached 0)
	created []storage.BlobID // blob rows created
}

const (
	opQueued int32 = iota
	opTaken
	opCancelled
)

// wtx is what an op's function sees: the batch transaction and the lists of
// what the op did, applied only if the op (its savepoint) succeeds.
type wtx struct {
	tx    *sql.Tx
	s     *Store
	o     *op
	stmts *txStmts // the batch's prepared statements (stmtcache.go)
}

func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	if w.stmts != nil {
		if st := w.stmts.stmt(query); st != nil {
			return st.Exec(args...)
		}
	}
	return w.tx.Exec(query, args...)
}

func (w *wtx) queryRow(query string, args ...any) *sql.Row {
	if w.stmts != nil {
		if st := w.stmts.stmt(query); st != nil {
			return st.QueryRow(args...)
		}
	}
	return w.tx.QueryRow(query, args...)
}

func (w *wtx) publish(c storage.Change) { w.o.changes = append(w.o.changes, c) }

// write queues fn to the writer and waits for the commit of the batch that
// ran it. fn runs in its own savepoint: if it returns an error, its writes
// are rolled back and the error is returned, without affecting the other
// requests of the batch. If ctx is cancelled before the writer takes the
// request, it is dropped and ctx.Err() returned; once taken, the request is
// carried out and its real outcome returned (so that a caller never believes
// a committed delivery failed).
func (s *Store) write(ctx context.Context, name string, fn func(w *wtx) error) error {
	return s.writeBlobs(ctx, name, nil, fn)
}

// writeBlobs is write for an op that references the blobs ids: the writer
// makes them durable (blob.Store.Sync, shared by the batch) before the
// commit.
func (s *Store) writeBlobs(ctx context.Context, name string, ids []storage.BlobID, fn func(w *wtx) error) error {
	err := s.writeOnce(ctx, name, ids, fn)
	if err != nil && s.retryWithReserve(name, err) { // reserve.go
		err = s.writeOnce(ctx, name, ids, fn)
	}
	return err
}

func (s *Store) writeOnce(ctx context.Context, name string, ids []storage.BlobID, fn func(w *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{name: name, fn: fn, blobs: ids, done: make(chan struct{})}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return storage.ErrClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	s.closeMu.RUnlock()
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opCancelled) {
			return ctx.Err()
		}
		<-o.done
		return o.err
	}
}

func (s *Store) writer() {
	defer close(s.done)
	defer func() {
		// runBatch recovers the ops' own panics; anything else here would
		// stop every write, so it is logged and the store refuses writes
		// from now on rather than leaving callers waiting forever.
		if v := recover(); v != nil {
			s.log.Error("panic in storage writer; no more writes", "panic", v, "stack", string(debug.Stack()))
			go s.refuseWrites()
		}
	}()
	batch := make([]*op, 0, s.maxBatch)
	for {
		batch = batch[:0]
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		case <-s.quit:
			// Drain what was queued before Close, then stop.
			for {
				batch = batch[:0]
			drain:
				for len(batch) < s.maxBatch {
					select {
					case o := <-s.ops:
						batch = append(batch, o)
					default:
						break drain
					}
				}
				if len(batch) == 0 {
					return
				}
				s.runBatch(batch)
			}
		}
	more:
		for len(batch) < s.maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break more
			}
		}
		s.runBatch(batch)
	}
}

// refuseWrites fails every queued and future write after the writer
// died, until Close.
func (s *Store) refuseWrites() {
	for {
		select {
		case o := <-s.ops:
			if o.state.CompareAndSwap(opQueued, opTaken) {
				o.err = fmt.Errorf("sqlite: %s: %w", o.name, storage.ErrClosed)
				close(o.done)
			}
		case <-s.quit:
			return
		}
	}
}

func (s *Store) runBatch(batch []*op) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in storage batch", "panic", v, "stack", string(debug.Stack()))
			for _, o := range batch {
				select {
				case <-o.done:
				default:
					if o.state.Load() == opTaken {
						o.err = fmt.Errorf("sqlite: %s: internal error", o.name)
						close(o.done)
					}
				}
			}
		}
	}()
	live := batch[:0:0]
	for _, o := range batch {
		if o.state.CompareAndSwap(opQueued, opTaken) {
			live = append(live, o)
		}
	}
	s.commitBatch(live)
}

// commitBatch runs the taken ops live in one transaction and commits it.
// The batch's blobs are made durable (one shared round of fsyncs) while
// the ops run, and the commit waits for them: a blob is durable before the
// commit that references it, and the fsyncs no longer add to the batch's
// time, which every queued write waits for. If that sync fails, the
// transaction is rolled back, the ops that need blobs fail (the caller
// sees a temporary storage error, nothing is committed for them) and the
// others run again in a new transaction.
func (s *Store) commitBatch(live []*op) {
	if len(live) == 0 {
		return
	}
	finish := func(err error) {
		for _, o := range live {
			if err != nil && o.err == nil {
				o.err = err
				o.changes, o.deleted, o.created = nil, nil, nil
			}
			close(o.done)
		}
	}
	synced := s.syncBlobsAsync(live)
	// The writer's own context: a caller's cancellation must not interrupt
	// the shared transaction.
	ctx := context.Background()
	s.stmts.prepareWanted() // the connection is free between batches
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		<-synced
		finish(dbErr("begin", err))
		return
	}
	bound := &txStmts{tx: tx, cache: s.stmts}
	for _, o := range live {
		if _, err := tx.Exec("SAVEPOINT op"); err != nil {
			tx.Rollback()
			<-synced
			finish(dbErr("savepoint", err))
			return
		}
		o.err = s.runOp(&wtx{tx: tx, s: s, o: o, stmts: bound})
		if o.err != nil {
			o.changes, o.deleted, o.created = nil, nil, nil
			if _, err := tx.Exec("ROLLBACK TO op"); err != nil {
				tx.Rollback()
				<-synced
				finish(dbErr("rollback to savepoint", err))
				return
			}
		}
		if _, err := tx.Exec("RELEASE op"); err != nil {
			tx.Rollback()
			<-synced
			finish(dbErr("release savepoint", err))
			return
		}
	}
	if err := <-synced; err != nil {
		tx.Rollback()
		s.log.Error("cannot make blobs durable", "err", err)
		rest := live[:0:0]
		for _, o := range live {
			if len(o.blobs) > 0 {
				o.err = err
				o.changes, o.deleted, o.created = nil, nil, nil
				close(o.done)
			} else {
				o.err, o.changes, o.deleted, o.created = nil, nil, nil, nil
				rest = append(rest, o)
			}
		}
		s.commitBatch(rest) // no blobs: nothing to sync
		return
	}
	if err := tx.Commit(); err != nil {
		tx.Rollback()
		finish(dbErr("commit", err))
		return
	}

	// Committed and durable. Blob files whose last reference went away are
	// deleted now, unless a later op of the same batch referenced the
	// content again. Deletions happen here, in the writer, so that they are
	// serialised with the existence check Deliver makes when it creates a
	// blob row.
	var gone map[storage.BlobID]bool
	for _, o := range live {
		for _, id := range o.deleted {
			if gone == nil {
				gone = make(map[storage.BlobID]bool)
			}
			gone[id] = true
		}
		for _, id := range o.created {
			delete(gone, id)
		}
	}
	for id := range gone {
		if s.blobs.Pinned(id) {
			// A Put of the same content is about to be delivered: the
			// file stays (an orphan for the sweep if it never is).
			continue
		}
		if err := s.blobs.Delete(id); err != nil {
			s.log.Warn("cannot delete unreferenced blob", "blob", id, "err", err)
		}
	}
	for _, o := range live {
		if len(o.changes) > 0 {
			s.hub.publish(o.changes)
		}
	}
	finish(nil)
}

// syncBlobsAsync starts making the blobs of the ops durable
// (blob.Store.Sync: one shared round of fsyncs) and returns a channel that
// receives its outcome (at once nil when there is nothing to sync).
func (s *Store) syncBlobsAsync(live []*op) <-chan error {
	done := make(chan error, 1)
	var ids []storage.BlobID
	for _, o := range live {
		ids = append(ids, o.blobs...)
	}
	if len(ids) == 0 {
		done <- nil
		return done
	}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("sqlite: panic making blobs durable: %v\n%s", v, debug.Stack())
			}
		}()
		done <- s.blobs.Sync(ids)
	}()
	return done
}

func (s *Store) runOp(w *wtx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in storage write", "op", w.o.name, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("sqlite: %s: internal error", w.o.name)
		}
	}()
	return w.o.fn(w)
}
