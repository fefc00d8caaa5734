package smtp

import (
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/queue"
	"github.com/floemail/floe/storage"
)

// outboundRecipient carries a remote recipient with its RFC 3461 NOTIFY and
// ORCPT parameters to the queue.
func outboundRecipient(to string, opts *gosmtp.RcptOptions) queue.Recipient {
	r := queue.Recipient{Address: to}
	if opts == nil {
		return r
	}
	if len(opts.Notify) > 0 {
		ns := make([]string, len(opts.Notify))
		for i, n := range opts.Notify {
			ns[i] = string(n)
		}
		r.Notify = strings.Join(ns, ",")
	}
	if opts.OriginalRecipient != "" {
		t := string(opts.OriginalRecipientType)
		if t == "" {
			t = string(gosmtp.DSNAddressTypeRFC822)
		}
		r.ORcpt = strings.ToLower(t) + ";" + opts.OriginalRecipient
	}
	return r
}

// submitOutbound hands the remote recipients of the transaction to the
// queue; it returns after the entry is durable, or the reply to give.
func (s *session) submitOutbound(ref storage.BlobRef) error {
	opts := queue.SubmitOptions{EnvID: s.envID, Ret: s.ret, UTF8: s.utf8}
	if s.principal != nil {
		opts.Account = s.principal.Account
	}
	id, err := s.srv.opts.Queue.Submit(s.ctx, s.from, s.remoteRcpts, ref, opts)
	if err != nil {
		s.log.Error("queueing message failed", "blob", ref.ID, "err", err)
		return storageReply(err)
	}
	s.log.Info("message queued for remote recipients", "queue_id", id, "rcpts", len(s.remoteRcpts))
	return nil
}
