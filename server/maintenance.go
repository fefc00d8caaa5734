package server

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/floemail/floe/server/smartattach"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// maintenanceInterval is how often the maintenance loop runs: files of
// calendar attachments no item names any more, and files of SmartAttach
// links that all ended, are deleted within about this long (plus
// ingest.AttachmentGrace for attachment files).
const maintenanceInterval = 5 * time.Minute

// sweeper remembers, per account, the state of the folders at the last
// attachment sweep that left nothing pending, so that unchanged accounts
// are not read again.
type sweeper struct {
	mu   sync.Mutex
	seen map[storage.AccountID]string
}

// maintenanceLoop runs maintainOnce every maintenanceInterval until ctx
// ends.
func (s *Server) maintenanceLoop(ctx context.Context, store storage.Store) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in the maintenance loop", "panic", v)
		}
	}()
	t := time.NewTicker(maintenanceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.maintainOnce(ctx, store, s.now())
		}
	}
}

// maintainOnce, at now, deletes the attachment files of calendar items no item
// names any more (ingest.SweepAttachments, every account) and the files of
// SmartAttach links that all ended (smartattach.SweepLinks). Errors are
// logged; the next run tries again.
func (s *Server) maintainOnce(ctx context.Context, store storage.Store, now time.Time) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in maintenance", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	log := s.log.With("component", "maintenance")
	accts, err := store.Accounts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("maintenance: cannot list accounts", "err", err)
		}
		return
	}
	for _, a := range accts {
		if ctx.Err() != nil {
			return
		}
		mbs, err := store.Mailboxes(ctx, a.ID)
		if err != nil {
			continue
		}
		if !ingest.HasAttachmentFolders(mbs) {
			continue
		}
		// Unchanged since a sweep that left nothing pending: skip.
		var fp strings.Builder
		for _, mb := range mbs {
			fmt.Fprintf(&fp, "%d:%d,", mb.ID, mb.HighestModSeq)
		}
		s.sweep.mu.Lock()
		same := s.sweep.seen[a.ID] == fp.String()
		s.sweep.mu.Unlock()
		if same {
			continue
		}
		res, err := ingest.SweepAttachments(ctx, store, a.ID, now, ingest.AttachmentGrace)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("maintenance: attachment files not swept", "account", a.Address, "err", err)
			}
			continue
		}
		if res.Removed > 0 {
			log.Info("deleted attachment files no item names", "account", a.Address, "count", res.Removed)
		}
		if res.Removed == 0 && res.Young == 0 {
			s.sweep.mu.Lock()
			if s.sweep.seen == nil {
				s.sweep.seen = map[storage.AccountID]string{}
			}
			s.sweep.seen[a.ID] = fp.String()
			s.sweep.mu.Unlock()
		}
	}
	n, err := smartattach.SweepLinks(ctx, store, now)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn("maintenance: files of ended links not swept", "err", err)
	case n > 0:
		log.Info("deleted the files of ended SmartAttach links", "count", n)
	}
}
