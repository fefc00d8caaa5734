package smtp

import (
	"io"
	"strings"

	"github.com/floemail/floe/server/delivery"
	"github.com/floemail/floe/server/mailauth"
	"github.com/floemail/floe/storage"
)

var errAuthPolicy = reply(550, 5, 7, 1, "Message rejected by the sender domain's authentication policy")

// checkArrival runs the SPF/DKIM/DMARC checks (server/mailauth) on a
// message received on port 25 from an unauthenticated client and returns
// the blob and recipients to deliver.
//
// Blobs are immutable and content-addressed, and the checks need the whole
// message (DKIM hashes the body) before the header exists, so the message
// is first spooled into a blob (Received + data) as usual, checked from
// there, and then written once more as Authentication-Results + that blob.
// The first blob is then
// discarded. This costs a second write of each inbound message but never
// holds a message in memory.
//
// On a Reject action the error is the 550 5.7.1 reply. On Junk the
// recipients are copies whose Mailbox is the account's \Junk mailbox (the
// one named "Junk" when none has the attribute; INBOX when neither exists).
func (s *session) checkArrival(ref storage.BlobRef) (storage.BlobRef, []delivery.Recipient, error) {
	rcpts := s.rcpts
	c := s.srv.opts.Checker
	if c == nil || s.b.mode != MX || s.principal != nil || !s.b.cfg.Checks.Enabled {
		return ref, rcpts, nil
	}
	b, err := s.srv.opts.Store.OpenBlob(s.ctx, ref.ID)
	if err != nil {
		s.log.Error("opening blob for checks failed", "blob", ref.ID, "err", err)
		return ref, rcpts, storageReply(err)
	}
	defer b.Close()
	res := c.Check(s.ctx, mailauth.Info{
		RemoteIP: s.remote, Helo: s.helo, MailFrom: s.from,
		Message: b, Size: b.Size(), Log: s.log,
	})
	if res.Action == mailauth.Reject {
		s.log.Info("message rejected by policy", "from", s.from, "reason", res.Reason)
		s.discard(ref.ID)
		return ref, rcpts, errAuthPolicy
	}
	// Fields forged with our authserv-id were already removed as the data
	// arrived (Data, RFC 8601 5); ours goes on top.
	orig := io.NewSectionReader(b, 0, b.Size())
	newRef, err := s.srv.opts.Store.PutBlob(s.ctx, io.MultiReader(strings.NewReader(res.Header), orig))
	if err != nil {
		s.log.Error("storing checked message failed", "err", err)
		return ref, rcpts, storageReply(err)
	}
	s.discard(ref.ID) // the spooled copy without the header
	if res.Action == mailauth.Junk {
		rcpts = make([]delivery.Recipient, len(s.rcpts))
		for i, r := range s.rcpts {
			r.Mailbox = s.junkMailbox(r.Account)
			rcpts[i] = r
		}
		s.log.Info("message filed as junk", "from", s.from, "reason", res.Reason)
	}
	return newRef, rcpts, nil
}

// junkMailbox names the account's junk mailbox (RFC 6154 \Junk).
func (s *session) junkMailbox(acct storage.AccountID) string {
	boxes, err := s.srv.opts.Store.Mailboxes(s.ctx, acct)
	if err != nil {
		return "INBOX"
	}
	name := "INBOX"
	for _, m := range boxes {
		if m.SpecialUse == `\Junk` {
			return m.Name
		}
		if m.Name == "Junk" {
			name = m.Name
		}
	}
	return name
}

// discard removes a spooled blob nothing will reference; a failure only
// leaves an orphan that `floe check` reports.
func (s *session) discard(id storage.BlobID) {
	if err := s.srv.opts.Store.DiscardBlob(s.ctx, id); err != nil {
		s.log.Warn("cannot discard spooled blob", "blob", id, "err", err)
	}
}
