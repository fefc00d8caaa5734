package smtp

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/spam"

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
func (s *session) checkArrival(ref storage.BlobRef) (newRef storage.BlobRef, junk bool, authRes string, verdict *rules.Spam, err error) {
	s.rdns = ""
	if s.b.mode != MX || s.principal != nil {
		return ref, false, "", nil, nil
	}
	c := s.srv.opts.Checker
	checks := c != nil && s.b.cfg.Checks.Enabled
	scanner := s.srv.spamScanner(s.b.cfg)
	if !checks && scanner == nil {
		return ref, false, "", nil, nil
	}
	b, err := s.srv.opts.Store.OpenBlob(s.ctx, ref.ID)
	if err != nil {
		s.log.Error("opening blob for checks failed", "blob", ref.ID, "err", err)
		return ref, false, "", nil, storageReply(err)
	}
	defer b.Close()
	var header strings.Builder
	if checks {
		res := c.Check(s.ctx, mailauth.Info{
			RemoteIP: s.remote, Helo: s.helo, MailFrom: s.from,
			Message: b, Size: b.Size(), Log: s.log,
		})
		if res.Action == mailauth.Reject {
			s.log.Info("message rejected by policy", "from", s.from, "reason", res.Reason)
			s.discard(ref.ID)
			return ref, false, "", nil, errAuthPolicy
		}
		if res.Action == mailauth.Junk {
			junk = true
			s.log.Info("message filed as junk", "from", s.from, "reason", res.Reason)
		}
		header.WriteString(res.Header)
		authRes = strings.TrimSpace(strings.TrimPrefix(res.Header, "Authentication-Results:"))
		s.rdns = res.PTR
	}
	if scanner != nil {
		// Spam scoring (server/spam): before the reply, so that rules can
		// test the verdict; a scanner that does not answer leaves the
		// message unscored, never refused.
		rcpts := make([]string, 0, len(s.rcpts)+len(s.remoteRcpts))
		for _, r := range s.rcpts {
			rcpts = append(rcpts, r.Address)
		}
		for _, r := range s.remoteRcpts {
			rcpts = append(rcpts, r.Address)
		}
		res := scanner.Check(s.ctx, io.NewSectionReader(b, 0, b.Size()), b.Size(), spam.Envelope{
			IP: s.remote, Helo: s.helo, Hostname: s.rdns, From: s.from, Rcpts: rcpts})
		verdict = &rules.Spam{Scored: res.Scored, Score: res.Score, IsSpam: res.Spam}
		switch {
		case !res.Scored:
			s.log.Warn("message not scored for spam; accepted unscored", "from", s.from, "err", res.Err)
		case res.Reject:
			s.log.Info("message rejected as spam", "from", s.from, "score", res.Score)
			s.discard(ref.ID)
			return ref, false, "", nil, errSpam
		case res.Spam:
			junk = true
			s.log.Info("message filed as spam", "from", s.from, "score", res.Score, "action", res.Action)
		}
		// The verdict also goes into our Authentication-Results field as
		// the extension method x-spam (RFC 8601 2.7.6): pass (ham), fail
		// (spam), temperror (unscored).
		ar := "x-spam=" + spamARValue(res)
		if h := header.String(); strings.HasSuffix(h, "\r\n") && strings.HasPrefix(h, "Authentication-Results:") {
			header.Reset()
			header.WriteString(strings.TrimSuffix(h, "\r\n") + ";\r\n\t" + ar + "\r\n")
			authRes += "; " + ar
		} else {
			header.WriteString("Authentication-Results: " + hostnameOf(s.b.cfg) + ";\r\n\t" + ar + "\r\n")
			authRes = hostnameOf(s.b.cfg) + "; " + ar
		}
		header.WriteString(res.Header())
	}
	// Fields forged with our authserv-id were already removed as the data
	// arrived (Data, RFC 8601 5); ours go on top.
	orig := io.NewSectionReader(b, 0, b.Size())
	newRef, err = s.srv.opts.Store.PutBlob(s.ctx, io.MultiReader(strings.NewReader(header.String()), orig))
	if err != nil {
		s.log.Error("storing checked message failed", "err", err)
		return ref, false, "", nil, storageReply(err)
	}
	s.discard(ref.ID) // the spooled copy without the header
	return newRef, junk, authRes, verdict, nil
}

var errSpam = reply(550, 5, 7, 1, "Message rejected as spam")

// spamScanner returns the scanner of cfg's [spam] table, nil when it has
// no rspamd_url. It is rebuilt when a reload changes the table.
func (srv *Server) spamScanner(cfg *config.Config) *spam.Scanner {
	sc := cfg.Spam
	if sc.RspamdURL == "" {
		return nil
	}
	srv.spamMu.Lock()
	defer srv.spamMu.Unlock()
	if srv.spam != nil && srv.spamCfg == sc {
		return srv.spam
	}
	pw := ""
	if sc.PasswordFile != "" {
		if b, err := os.ReadFile(sc.PasswordFile); err == nil {
			pw = strings.TrimSpace(string(b))
		} else {
			srv.log.Error("spam scanner password file unreadable", "err", err)
		}
	}
	srv.spam = spam.New(spam.Options{URL: sc.RspamdURL, Password: pw, Timeout: sc.Timeout.D(), MaxSize: int64(sc.MaxSize),
		JunkScore: sc.JunkScore, RejectScore: sc.RejectScore})
	srv.spamCfg = sc
	return srv.spam
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

// spamARValue is the x-spam result of an Authentication-Results field.
func spamARValue(r spam.Result) string {
	switch {
	case !r.Scored:
		return "temperror"
	case r.Spam:
		return "fail policy.score=" + strconv.FormatFloat(r.Score, 'f', 2, 64)
	}
	return "pass policy.score=" + strconv.FormatFloat(r.Score, 'f', 2, 64)
}
