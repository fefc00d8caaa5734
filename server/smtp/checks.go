package smtp

import (
	"errors"
	"io"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

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
// On a Reject action the error is the 550 5.7.1 reply. On Junk, junk is
// true: delivery's plan files the copies into each account's Junk folder
// (rules may still reject, delete or quarantine them).
func (s *session) checkArrival(ref storage.BlobRef) (newRef storage.BlobRef, junk bool, authRes string, err error) {
	c := s.srv.opts.Checker
	if c == nil || s.b.mode != MX || s.principal != nil || !s.b.cfg.Checks.Enabled {
		return ref, false, "", nil
	}
	b, err := s.srv.opts.Store.OpenBlob(s.ctx, ref.ID)
	if err != nil {
		s.log.Error("opening blob for checks failed", "blob", ref.ID, "err", err)
		return ref, false, "", storageReply(err)
	}
	defer b.Close()
	res := c.Check(s.ctx, mailauth.Info{
		RemoteIP: s.remote, Helo: s.helo, MailFrom: s.from,
		Message: b, Size: b.Size(), Log: s.log,
	})
	if res.Action == mailauth.Reject {
		s.log.Info("message rejected by policy", "from", s.from, "reason", res.Reason)
		s.discard(ref.ID)
		return ref, false, "", errAuthPolicy
	}
	// Fields forged with our authserv-id were already removed as the data
	// arrived (Data, RFC 8601 5); ours goes on top.
	orig := io.NewSectionReader(b, 0, b.Size())
	newRef, err = s.srv.opts.Store.PutBlob(s.ctx, io.MultiReader(strings.NewReader(res.Header), orig))
	if err != nil {
		s.log.Error("storing checked message failed", "err", err)
		return ref, false, "", storageReply(err)
	}
	s.discard(ref.ID) // the spooled copy without the header
	if res.Action == mailauth.Junk {
		junk = true
		s.log.Info("message filed as junk", "from", s.from, "reason", res.Reason)
	}
	authRes = strings.TrimSpace(strings.TrimPrefix(res.Header, "Authentication-Results:"))
	return newRef, junk, authRes, nil
}

// discard removes a spooled blob nothing will reference; a failure only
// leaves an orphan that `floe check` reports.
func (s *session) discard(id storage.BlobID) {
	if err := s.srv.opts.Store.DiscardBlob(s.ctx, id); err != nil {
		s.log.Warn("cannot discard spooled blob", "blob", id, "err", err)
	}
}

// ruleReject is the 550 of a message every recipient's rules rejected,
// with the rule's text when it has one (printable ASCII only).
func ruleReject(text string) *gosmtp.SMTPError {
	clean := strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return -1
		}
		return r
	}, text)
	if clean == "" {
		clean = "Message rejected by the recipient's rules"
	}
	return reply(550, 5, 7, 1, clean)
}

// rcptSRS accepts a recipient that is an SRS address of ours (a bounce of
// a forwarded message): the address is reversed (a forged or expired one
// is refused) and the original sender becomes the recipient, delivered
// locally or queued (the hash authenticates it, so this is no open relay).
func (s *session) rcptSRS(to string, opts *gosmtp.RcptOptions) error {
	orig, err := s.srv.opts.Delivery.ReverseSRS(s.ctx, to)
	if errors.Is(err, delivery.ErrNotLocal) {
		s.log.Info("relay attempt refused", "to", to)
		return s.fail(errRelayDenied)
	}
	if err != nil {
		s.log.Info("SRS address refused", "to", to, "err", err)
		return s.fail(errBadSRS)
	}
	r, err := s.srv.opts.Delivery.Resolve(s.ctx, orig)
	switch {
	case err == nil:
		s.rcpts = append(s.rcpts, r)
		return nil
	case errors.Is(err, delivery.ErrNotLocal):
		if s.srv.opts.Queue == nil {
			return s.fail(errNoOutbound)
		}
		s.remoteRcpts = append(s.remoteRcpts, outboundRecipient(orig, opts))
		s.log.Info("bounce to a forwarded message relayed to its sender", "srs", to, "to", orig)
		return nil
	case errors.Is(err, delivery.ErrUnknownUser), errors.Is(err, delivery.ErrDisabled):
		return s.fail(errUnknownUser)
	default:
		s.log.Error("resolving SRS recipient failed", "err", err)
		return errInternal
	}
}

var errBadSRS = reply(550, 5, 1, 1, "Invalid or expired return address")
