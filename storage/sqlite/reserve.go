package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/floemail/floe/storage"
)

// Disk-full safety. Deleting needs a little space too: SQLite appends the
// changed pages to its write-ahead log before it can free anything, and on
// a full disk that append fails, so users could not expunge or delete to
// make room. The store therefore keeps a reserve file of reserveSize bytes
// in its directory. When an operation that frees space (freeingOps) fails
// because the disk is full, the reserve is deleted and the operation tried
// once more; the maintenance loop writes the reserve again once there is
// room. Operations that add data never touch the reserve.
const (
	reserveName = "reserve"
	reserveSize = 16 << 20
)

// freeingOps are the write operations allowed to use the reserve: they
// free space, or are the small writes that lead to freeing it (flagging
// \Deleted before EXPUNGE).
var freeingOps = map[string]bool{
	"expunge":            true,
	"delete mailbox":     true,
	"delete account":     true,
	"store flags":        true,
	"discard blob":       true,
	"remove orphans":     true,
	"delete queue entry": true,
}

// ensureReserve writes the reserve file when it is missing. Without room
// for it, nothing is left behind and false is returned.
func (s *Store) ensureReserve() bool {
	path := filepath.Join(s.dir, reserveName)
	if st, err := os.Stat(path); err == nil && st.Size() == reserveSize {
		return true
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return false
	}
	// fallocate reserves the blocks without writing them; where the file
	// system cannot, zeros are written.
	if err = syscall.Fallocate(int(f.Fd()), 0, 0, reserveSize); err != nil && !errors.Is(err, syscall.ENOSPC) {
		buf := make([]byte, 1<<20)
		for i := 0; i < reserveSize/len(buf); i++ {
			if _, err = f.Write(buf); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return false
	}
	return true
}

// releaseReserve deletes the reserve file; false when there was none.
func (s *Store) releaseReserve() bool {
	err := os.Remove(filepath.Join(s.dir, reserveName))
	if err == nil {
		s.log.Warn("disk full: released the reserve so that a deletion can go through; free space soon")
		return true
	}
	return false
}

// retryWithReserve reports whether a failed write named name should be
// tried again after releasing the reserve.
func (s *Store) retryWithReserve(name string, err error) bool {
	return errors.Is(err, storage.ErrStorageFull) && freeingOps[name] && s.releaseReserve()
}

// maintain runs until Close: every interval it removes orphan blobs older
// than orphanAge (the blobs of messages that were spooled and then refused
// or failed, or left by a crash) and restores the disk-full reserve.
func (s *Store) maintain(interval, orphanAge time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.maintainOnce(orphanAge)
		}
	}
}

func (s *Store) maintainOnce(orphanAge time.Duration) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in storage maintenance", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	n, err := s.RemoveOrphans(ctx, orphanAge)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("removing orphan blobs failed", "err", err)
	case n > 0:
		s.log.Info("removed orphan blobs", "count", n)
	}
	if !s.ensureReserve() {
		s.log.Warn("disk full: cannot restore the reserve for deletions", "dir", s.dir)
	}
}
