package smtp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/delivery"
	"github.com/floemail/floe/server/queue"
	"github.com/floemail/floe/server/srs"
	"github.com/floemail/floe/storage"
)

// Replies. Texts never carry internal error text (RFC 3463 codes).
var (
	errShuttingDown     = reply(421, 4, 3, 2, "Service shutting down, try again later")
	errTooManyErrors    = reply(421, 4, 7, 0, "Too many errors, closing connection")
	errTooManyMessages  = reply(421, 4, 7, 0, "Too many messages on this connection, reconnect to send more")
	errAuthRequired     = reply(530, 5, 7, 0, "Authentication required")
	errEncryptionNeeded = reply(538, 5, 7, 11, "Encryption required for requested authentication mechanism")
	errAuthFailed       = reply(535, 5, 7, 8, "Authentication credentials invalid")
	errAuthBusy         = reply(454, 4, 7, 0, "Temporary authentication failure, try again shortly")
	errAuthRateLimited  = reply(454, 4, 7, 0, "Too many failed logins, try again later")
	errAuthInMail       = reply(503, 5, 5, 1, "AUTH not permitted during a mail transaction")
	errNullSenderSubmit = reply(553, 5, 7, 1, "Null sender not allowed for submission")
	errSenderNotOwned   = reply(553, 5, 7, 1, "Sender address not owned by the authenticated user")
	errNeedSMTPUTF8     = reply(553, 5, 6, 7, "Non-ASCII address requires SMTPUTF8")
	errBadSender        = reply(553, 5, 1, 7, "Bad sender address syntax")
	errRelayDenied      = reply(550, 5, 7, 1, "Relaying denied")
	errNoOutbound       = reply(550, 5, 7, 1, "Outbound delivery is not available yet")
	errUnknownUser      = reply(550, 5, 1, 1, "No such user here")
	errBadRecipient     = reply(553, 5, 1, 3, "Bad recipient address syntax")
	errDisabled         = reply(550, 5, 2, 1, "Mailbox disabled, not accepting messages")
	errMailboxFull      = reply(452, 4, 2, 2, "Mailbox full, try again later")
	errTooBigForQuota   = reply(552, 5, 2, 2, "Message exceeds the mailbox quota")
	errStorageFull      = reply(452, 4, 3, 1, "Insufficient system storage")
	errInternal         = reply(451, 4, 3, 0, "Internal error, try again later")
	errDataTimeout      = reply(421, 4, 4, 2, "Timeout waiting for data, closing connection")
	errDataBroken       = reply(421, 4, 4, 0, "Error reading data, closing connection")
	errLineTooLong      = reply(500, 5, 5, 0, "Line too long")
)

func reply(code, a, b, c int, msg string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{a, b, c}, Message: msg}
}

// backend creates the sessions of one connection.
type backend struct {
	srv  *Server
	tc   *trackedConn
	mode Mode
	cfg  *config.Config
	lim  limits
	id   string
	log  *slog.Logger
}

// NewSession is called by go-smtp at HELO/EHLO, again after STARTTLS.
func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	b.tc.setTop(c.Conn())
	remoteAddr := b.srv.remoteOf(c.Conn())
	s := &session{
		b:          b,
		srv:        b.srv,
		ctx:        b.srv.ctx,
		log:        b.log,
		remoteAddr: remoteAddr,
		remote:     auth.AddrOf(remoteAddr),
		helo:       c.Hostname(),
	}
	if st, ok := c.TLSConnectionState(); ok {
		s.tls = &st
	}
	return s, nil
}

// session is one SMTP session (go-smtp creates a new one after STARTTLS).
// Its methods run on the connection goroutine, except Data for BDAT, which
// go-smtp runs on its own goroutine while the connection goroutine only
// copies chunks; the transaction fields are not touched concurrently.
type session struct {
	b          *backend
	srv        *Server
	ctx        context.Context
	log        *slog.Logger
	remoteAddr net.Addr
	remote     netip.Addr
	// rdns is the forward-confirmed PTR name the arrival checks found for
	// this message ("" when unknown); the rules and rspamd get it.
	rdns      string
	helo      string
	tls       *tlsState
	principal *auth.Principal

	// Mail transaction.
	hasFrom bool
	from    string
	size    int64 // declared SIZE, 0 if none
	utf8    bool
	rcpts   []delivery.Recipient
	// Outbound (queue.go): remote recipients of a submission and the
	// message's DSN parameters (RFC 3461).
	remoteRcpts []queue.Recipient
	envID, ret  string
}

// endingReply returns the reply for a command that arrives while the
// session is about to end, or nil.
func (s *session) endingReply() error {
	if !s.b.tc.ending() {
		return nil
	}
	if s.srv.isClosed() {
		return errShuttingDown
	}
	return errTooManyErrors
}

// fail counts a failed command; after too many the session ends.
func (s *session) fail(err *gosmtp.SMTPError) error {
	if s.b.tc.addError(s.b.lim.maxErrors) {
		s.log.Info("closing session: too many errors")
	}
	return err
}

// plaintextAllowed reports whether AUTH may be offered now.
func (s *session) plaintextAllowed() bool {
	return auth.PlaintextAllowed(s.tls != nil, s.remoteAddr, s.b.cfg.TLS.AllowPlaintextAuth)
}

// AuthMechanisms implements gosmtp.AuthSession. Nothing is advertised when
// a password would travel in clear text to a non-loopback client (RFC 4954
// 4, RFC 8314).
func (s *session) AuthMechanisms() []string {
	if !s.plaintextAllowed() || s.srv.opts.Auth == nil {
		return nil
	}
	return auth.Mechanisms
}

// Auth implements gosmtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if err := s.endingReply(); err != nil {
		return nil, err
	}
	if s.srv.opts.Auth == nil {
		return nil, gosmtp.ErrAuthUnsupported
	}
	if s.hasFrom { // RFC 4954 4
		return nil, errAuthInMail
	}
	if !s.plaintextAllowed() {
		return nil, s.fail(errEncryptionNeeded)
	}
	sa, err := s.srv.opts.Auth.NewSASL(s.ctx, mech, s.remote, "smtp")
	if err != nil {
		return nil, s.fail(gosmtp.ErrAuthUnknownMechanism)
	}
	return &saslServer{s: s, inner: sa}, nil
}

// saslServer translates auth's errors to SMTP replies and records the
// principal.
type saslServer struct {
	s     *session
	inner *auth.SASL
}

func (a *saslServer) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := a.inner.Next(response)
	if err != nil {
		if errors.Is(err, auth.ErrRateLimited) {
			return nil, false, a.s.fail(errAuthRateLimited)
		}
		if errors.Is(err, auth.ErrBusy) {
			return nil, false, errAuthBusy // temporary; not a client error
		}
		return nil, false, a.s.fail(errAuthFailed) // RFC 4954 6
	}
	if done {
		p := a.inner.Principal()
		if p == nil {
			return nil, false, a.s.fail(errAuthFailed)
		}
		a.s.principal = p
		a.s.log = a.s.log.With("user", p.Address)
		a.s.log.Info("authenticated")
	}
	return challenge, done, nil
}

// Mail implements gosmtp.Session (RFC 5321 4.1.1.2).
// observe times one SMTP command for the metrics.
func (s *session) observe(cmd string, start time.Time) {
	s.srv.opts.Metrics.Protocol("smtp").Command(cmd, time.Since(start))
}

// countReceived counts an accepted message for the metrics.
func (s *session) countReceived() {
	if s.b.mode == MX {
		s.srv.opts.Metrics.Received("mx")
	} else {
		s.srv.opts.Metrics.Received("submission")
	}
}

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	defer s.observe("MAIL", time.Now())
	if err := s.endingReply(); err != nil {
		return err
	}
	if s.b.mode != MX && s.principal == nil {
		return s.fail(errAuthRequired) // RFC 6409 4.3
	}
	if !opts.UTF8 && !isASCII(from) { // RFC 6531 3.4
		return s.fail(errNeedSMTPUTF8)
	}
	if len(from) > 320 {
		return s.fail(errBadSender)
	}
	if s.principal != nil {
		// Submission: the sender must be the account's (RFC 6409 6.1).
		if from == "" {
			return s.fail(errNullSenderSubmit)
		}
		ok, err := s.srv.opts.Delivery.Owns(s.ctx, s.principal.Account, from)
		if err != nil {
			s.log.Error("sender check failed", "err", err)
			return errInternal
		}
		if !ok {
			s.log.Info("sender refused", "from", from)
			return s.fail(errSenderNotOwned)
		}
	}
	if limit := s.b.lim.maxMessages; limit > 0 && s.b.tc.messageCount() >= limit {
		s.b.tc.endAfterReply("")
		return errTooManyMessages
	}
	s.b.tc.addMessage()
	s.hasFrom, s.from, s.size, s.utf8 = true, from, opts.Size, opts.UTF8
	s.rcpts = s.rcpts[:0]
	s.remoteRcpts, s.envID, s.ret = nil, opts.EnvelopeID, string(opts.Return)
	return nil
}

// Rcpt implements gosmtp.Session (RFC 5321 4.1.1.3). go-smtp has already
// enforced the recipient limit (452 4.5.3).
func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	defer s.observe("RCPT", time.Now())
	if err := s.endingReply(); err != nil {
		return err
	}
	if !s.utf8 && !isASCII(to) {
		return s.fail(errNeedSMTPUTF8)
	}
	if relayTrick(to) {
		s.log.Info("relay attempt refused", "to", to)
		return s.fail(errRelayDenied)
	}
	rs, err := s.srv.opts.Delivery.ResolveAll(s.ctx, to)
	if err != nil && !errors.Is(err, delivery.ErrNotLocal) && srs.IsSRS(to) {
		// A bounce to an address our forwarder rewrote (SRS): it goes to
		// the original sender, local or remote.
		return s.rcptSRS(to, opts)
	}
	switch {
	case err == nil:
	case errors.Is(err, delivery.ErrNotLocal):
		if s.principal != nil {
			if s.srv.opts.Queue == nil {
				return s.fail(errNoOutbound)
			}
			s.remoteRcpts = append(s.remoteRcpts, outboundRecipient(to, opts))
			return nil
		}
		s.log.Info("relay attempt refused", "to", to)
		return s.fail(errRelayDenied)
	case errors.Is(err, delivery.ErrUnknownUser):
		return s.fail(errUnknownUser)
	case errors.Is(err, delivery.ErrInvalidAddress):
		return s.fail(errBadRecipient)
	case errors.Is(err, delivery.ErrDisabled):
		return s.fail(errDisabled)
	default:
		s.log.Error("resolving recipient failed", "err", err)
		return errInternal
	}
	// Quota at RCPT time, so that a full mailbox refuses only its own
	// recipient (RFC 5321 4.5.3.1.10, RFC 3463 X.2.2). A group's member
	// whose mailbox is full is left out (logged); the group's RCPT fails
	// only when no member can take the message (server/delivery/groups.go).
	var quotaErr error
	accepted := 0
	for _, r := range rs {
		err := s.srv.opts.Delivery.CheckQuota(s.ctx, r, s.size)
		switch {
		case err == nil:
			s.rcpts = append(s.rcpts, r)
			accepted++
			continue
		case errors.Is(err, delivery.ErrTooBigForQuota), errors.Is(err, storage.ErrOverQuota):
		default:
			s.log.Error("quota check failed", "err", err)
			return errInternal
		}
		if quotaErr == nil {
			quotaErr = err
		}
		if r.Group != "" {
			s.log.Warn("group member over quota: left out of this message", "group", r.Group, "member", r.AccountAddress)
		}
	}
	switch {
	case accepted > 0:
		return nil
	case errors.Is(quotaErr, delivery.ErrTooBigForQuota):
		return errTooBigForQuota
	default:
		return errMailboxFull
	}
}

// Data implements gosmtp.Session (RFC 5321 4.1.1.4; BDAT, RFC 3030).
//
// The message is streamed into a blob behind a new Received header, never
// held whole in memory, then delivered to every recipient in one storage
// transaction; go-smtp answers 250 only when Data returns nil, which is
// after the commit is durable.
//
// Per-recipient outcome: SMTP (unlike LMTP) has one reply for the whole
// message. Quota is therefore checked at RCPT time, where one recipient can
// be refused alone. At DATA, if no copy could be stored the reply is the
// error (temporary when any failure is temporary, so the client retries
// everything). If some copies were stored and others failed (a race: the
// mailbox filled up between RCPT and DATA, or the account was removed), the
// reply is 250 — a temporary error would make the client send the message
// again to everyone, duplicating the stored copies — and the failed copies
// are logged as errors for the administrator: the 250 then stands for the
// stored copies only (a rare race, never a silent loss of a copy that was
// acknowledged as stored).
func (s *session) Data(r io.Reader) error {
	defer s.observe("DATA", time.Now())
	tc := s.b.tc
	if !tc.beginData() {
		if err := s.endingReply(); err != nil {
			return err
		}
		return errShuttingDown
	}
	defer tc.endData()
	if len(s.rcpts) == 0 && len(s.remoteRcpts) == 0 { // every RCPT was refused by us; go-smtp should not get here
		return errInternal
	}

	id := s.b.id + "." + strconv.Itoa(tc.messageCount())
	recv := receivedHeader(receivedInfo{
		helo:     s.helo,
		remote:   s.remote,
		hostname: hostnameOf(s.b.cfg),
		id:       id,
		tls:      s.tls,
		auth:     s.principal != nil,
		utf8:     s.utf8,
		rcpts:    s.rcpts,
		now:      time.Now(),
	})
	dr := &dataReader{r: r, conn: tc, timeout: s.b.lim.dataTimeout}
	// Before anything is stored, queued or relayed: bare CR and LF become
	// CRLF (crlf.go, against SMTP smuggling), and Authentication-Results
	// fields claiming our authserv-id are removed, whatever the checks
	// policy and whoever sends (authres.go, RFC 8601 5).
	norm := newCRLFNormalizer(dr)
	text := newAuthResFilter(norm, hostnameOf(s.b.cfg))
	// With spam scoring on this message, the sender's X-Spam-* fields go
	// too: ours are added by checkArrival.
	text.dropSpam = s.b.mode == MX && s.principal == nil && s.srv.spamScanner(s.b.cfg) != nil
	ref, err := s.srv.opts.Store.PutBlob(s.ctx, io.MultiReader(strings.NewReader(recv), text))
	if err != nil {
		return s.dataError(dr.err, err)
	}
	if n := norm.Fixed(); n > 0 {
		s.log.Info("bare CR or LF in message text normalised to CRLF", "count", n)
	}
	if s.principal != nil {
		if err := s.checkHeaderFrom(s.ctx, ref); err != nil {
			s.discard(ref.ID)
			var r *gosmtp.SMTPError
			if errors.As(err, &r) {
				return err
			}
			s.log.Error("From header check failed", "blob", ref.ID, "err", err)
			return storageReply(err)
		}
	}
	// Port 25 arrival checks (checks.go): may reject, rewrite the blob with
	// Authentication-Results, or file the copies as junk.
	ref, junk, authRes, verdict, err := s.checkArrival(ref)
	if err != nil {
		return err
	}
	// Submission: large attachments become links (smartattach.go), once,
	// before the local copies and the queued copy are made.
	if ref, err = s.smartAttach(ref); err != nil {
		return err
	}

	// Plan every local recipient's outcome (rules, forwarder, responder)
	// before anything is queued or answered, so that a rule's reject is
	// still a 550 (ARCHITECTURE.md decision 4).
	var plan *delivery.Plan
	if len(s.rcpts) > 0 {
		msg := &delivery.Message{
			Blob:        ref,
			From:        s.from,
			Recipients:  s.rcpts,
			RemoteIP:    s.remote,
			Helo:        s.helo,
			AuthResults: authRes,
			Junk:        junk,
			Spam:        verdict,
			RDNS:        s.rdns,
		}
		if s.principal != nil {
			msg.AuthUser = s.principal.Address
		}
		plan, err = s.srv.opts.Delivery.Plan(s.ctx, msg)
		if err != nil {
			s.log.Error("planning delivery failed", "blob", ref.ID, "err", err)
			s.discard(ref.ID)
			return storageReply(err)
		}
		if all, text := plan.Rejected(); all && len(s.remoteRcpts) == 0 {
			s.log.Info("message rejected by rules", "id", id, "from", s.from, "rcpts", len(s.rcpts))
			s.srv.opts.Delivery.Refused(s.ctx, plan)
			s.discard(ref.ID)
			return ruleReject(text)
		}
	}

	// Remote recipients first: if queueing fails nothing was stored and
	// the client may simply retry (queue.go).
	if len(s.remoteRcpts) > 0 {
		if err := s.submitOutbound(ref); err != nil {
			return err
		}
		if plan == nil {
			s.log.Info("message accepted", "id", id, "from", s.from, "remote_rcpts", len(s.remoteRcpts), "size", ref.Size, "blob", ref.ID)
			s.countReceived()
			return nil
		}
	}

	// Execute the plan; recipients rejected here (others took the message)
	// get a DSN sent to the sender.
	results, err := s.srv.opts.Delivery.Execute(s.ctx, plan, true)
	if err != nil {
		s.log.Error("delivery failed", "blob", ref.ID, "err", err)
		return storageReply(err)
	}
	var stored int
	var firstErr, tempErr error
	for _, res := range results {
		if res.Err == nil || errors.Is(res.Err, delivery.ErrRejected) {
			stored++ // a rejected recipient was answered by a DSN
			continue
		}
		if firstErr == nil {
			firstErr = res.Err
		}
		if tempErr == nil && storageReply(res.Err).Code/100 == 4 {
			tempErr = res.Err
		}
	}
	if stored == 0 && len(s.remoteRcpts) == 0 {
		s.log.Warn("message not delivered", "from", s.from, "rcpts", len(s.rcpts), "blob", ref.ID, "err", firstErr)
		if tempErr != nil {
			return storageReply(tempErr)
		}
		return storageReply(firstErr)
	}
	for _, res := range results {
		if res.Err != nil && !errors.Is(res.Err, delivery.ErrRejected) {
			s.log.Error("copy not delivered after RCPT was accepted", "rcpt", res.Recipient.Address, "blob", ref.ID, "err", res.Err)
		}
	}
	s.log.Info("message accepted", "id", id, "from", s.from, "rcpts", len(s.rcpts), "size", ref.Size, "blob", ref.ID)
	s.countReceived()
	return nil
}

// dataError maps a failed PutBlob: readErr is what reading the client's data
// returned (nil when the storage failed).
func (s *session) dataError(readErr, err error) error {
	var netErr net.Error
	switch {
	case readErr == nil:
		s.log.Error("storing message failed", "err", err)
		return storageReply(err)
	case errors.Is(readErr, gosmtp.ErrDataTooLarge):
		return gosmtp.ErrDataTooLarge // 552 5.3.4; go-smtp discards the rest
	case errors.Is(readErr, gosmtp.ErrTooLongLine):
		s.b.tc.endAfterReply("")
		return errLineTooLong
	case errors.Is(readErr, gosmtp.ErrDataReset):
		return errInternal // BDAT aborted by RSET or disconnect; nobody reads this
	case errors.As(readErr, &netErr) && netErr.Timeout():
		s.log.Info("timeout receiving data")
		s.b.tc.endAfterReply("")
		return errDataTimeout
	default:
		s.log.Info("reading data failed", "err", readErr)
		s.b.tc.endAfterReply("")
		return errDataBroken
	}
}

// storageReply maps a storage or delivery error to a reply.
func storageReply(err error) *gosmtp.SMTPError {
	switch {
	case errors.Is(err, storage.ErrStorageFull):
		return errStorageFull
	case errors.Is(err, storage.ErrOverQuota):
		return errMailboxFull
	case errors.Is(err, storage.ErrNoAccount), errors.Is(err, storage.ErrNoMailbox):
		return errUnknownUser
	}
	return errInternal
}

// Reset implements gosmtp.Session (RSET, and after each message).
func (s *session) Reset() {
	s.hasFrom, s.from, s.size, s.utf8 = false, "", 0, false
	s.rcpts = nil
	s.remoteRcpts, s.envID, s.ret = nil, "", ""
}

// Logout implements gosmtp.Session.
func (s *session) Logout() error { return nil }

// dataReader reads the message data with a deadline per read (the data
// timeout, RFC 5321 4.5.3.2.5) and remembers the first read error so that
// it can be told apart from a storage error.
type dataReader struct {
	r       io.Reader
	conn    *trackedConn
	timeout time.Duration
	err     error
}

func (d *dataReader) Read(b []byte) (int, error) {
	_ = d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	n, err := d.r.Read(b)
	if err != nil && err != io.EOF && d.err == nil {
		d.err = err
	}
	return n, err
}

// relayTrick reports whether a recipient tries to route through us
// (RFC 5321 3.6.1, 3.6.2): a local part with '%' or '!' ("user%other@local",
// "other!user@local") or several '@' ("user@other@local", or a quoted local
// part such as "user@other"@local, which go-smtp has unquoted).
func relayTrick(to string) bool {
	i := strings.LastIndexByte(to, '@')
	if i < 0 {
		return false
	}
	return strings.ContainsAny(to[:i], "@%!")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
