package smtp

import (
	"context"
	"errors"

	"github.com/floemail/floe/server/smartattach"
	"github.com/floemail/floe/storage"
)

// SmartAttacher replaces large attachments of submitted mail by download
// links ([files] smartattach_mail; server/smartattach.Rewriter). Declared
// here, at the consumer; nil in Options: messages are never rewritten.
type SmartAttacher interface {
	Rewrite(ctx context.Context, m smartattach.Message) (smartattach.Result, error)
}

// smartAttach rewrites a submitted message (a logged-in sender) once,
// after it was spooled and before it is planned, delivered or queued, so
// that local copies and queued copies are the same rewritten message; the
// queue signs it (DKIM) afterwards. It returns the blob to carry on with,
// or the reply to give (the original blob is then discarded).
func (s *session) smartAttach(ref storage.BlobRef) (storage.BlobRef, error) {
	if s.principal == nil || s.srv.opts.SmartAttach == nil {
		return ref, nil
	}
	rcpts := make([]string, 0, len(s.rcpts)+len(s.remoteRcpts))
	for _, r := range s.rcpts {
		rcpts = append(rcpts, r.Address)
	}
	for _, r := range s.remoteRcpts {
		rcpts = append(rcpts, r.Address)
	}
	res, err := s.srv.opts.SmartAttach.Rewrite(s.ctx, smartattach.Message{Account: s.principal.Account, Blob: ref, Recipients: rcpts})
	if err != nil {
		s.log.Error("SmartAttach failed", "blob", ref.ID, "err", err)
		s.discard(ref.ID)
		if errors.Is(err, storage.ErrStorageFull) {
			return ref, errStorageFull
		}
		return ref, errInternal // temporary: the client retries, nothing was stored or queued
	}
	if len(res.Links) > 0 {
		s.log.Info("SmartAttach replaced attachments by links", "links", len(res.Links), "blob", res.Blob.ID, "size", res.Blob.Size)
	}
	return res.Blob, nil
}
