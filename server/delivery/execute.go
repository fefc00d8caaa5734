package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// Execute carries out a plan (ARCHITECTURE.md decision 4: rules decided,
// delivery acts):
//
//   - reject: the recipient's Result is ErrRejected; with notify the
//     envelope sender gets one DSN for all rejected recipients (never a
//     null sender);
//   - delete: nothing is stored (logged);
//   - quarantine: the message is held (storage.Quarantine);
//   - otherwise the copies are stored through storage/ingest: the received
//     message in one transaction for every recipient that takes it as is
//     (from the parse the plan made), a rewritten one (header edits,
//     priority, S/MIME encryption) per recipient that changes it; missing
//     folders are created; Junk for spam;
//   - then forwards (envelope sender rewritten with SRS), messages to send
//     and responder replies are queued (remote) or delivered (local, with
//     their own rules), each carrying the loop counter rules.HopHeader.
//
// The results follow p.Message.Recipients: Err is nil when the recipient's
// outcome was carried out (stored, deleted, quarantined, forwarded). The
// error is for the whole call: nothing was stored.
func (d *Deliverer) Execute(ctx context.Context, p *Plan, notify bool) ([]Result, error) {
	m := p.Message
	results := make([]Result, len(p.Recipients))
	type key struct {
		acct storage.AccountID
		mbox string
	}
	var (
		targets  []storage.Target
		index    = map[key]int{}
		main     = make([]int, len(p.Recipients)) // recipient -> its main target, -1 none
		rejected []Recipient
		rejText  string
	)
	ensured := map[key]string{} // folder named by the plan -> folder used
	addTarget := func(acct storage.AccountID, mbox string, flags []string) (int, error) {
		use, ok := ensured[key{acct, mbox}]
		if !ok {
			var err error
			if use, err = d.ensureMailbox(ctx, acct, mbox); err != nil {
				return -1, err
			}
			ensured[key{acct, mbox}] = use
		}
		k := key{acct, use}
		if j, ok := index[k]; ok {
			if len(flags) > 0 {
				targets[j].Flags = mergeFlags(targets[j].Flags, flags)
			}
			return j, nil
		}
		index[k] = len(targets)
		targets = append(targets, storage.Target{Account: acct, MailboxName: use, Flags: flags})
		return len(targets) - 1, nil
	}
	for i, rp := range p.Recipients {
		r, plan := rp.Recipient, rp.Rules
		results[i].Recipient = r
		main[i] = -1
		for _, n := range plan.Notes {
			d.log.Info("rules: "+n, "rcpt", r.Address, "from", m.From)
		}
		switch plan.Disposition {
		case rules.Reject:
			results[i].Err = ErrRejected
			rejected = append(rejected, r)
			if rejText == "" {
				rejText = plan.RejectText
			}
			d.log.Info("message rejected by a rule", "rcpt", r.Address, "from", m.From, "rules", matched(plan))
			continue
		case rules.Discard:
			d.log.Info("message deleted by a rule", "rcpt", r.Address, "from", m.From, "rules", matched(plan), "blob", m.Blob.ID)
			continue
		case rules.Quarantine:
			reason := ""
			if n := len(plan.Matched); n > 0 {
				reason = plan.Matched[n-1].Title
			}
			id, err := d.store.Quarantine(ctx, storage.QuarantineEntry{Blob: m.Blob.ID, Size: m.Blob.Size,
				From: m.From, Recipient: r.Address, Account: r.Account, Reason: reason})
			results[i].Err = err
			if err == nil {
				d.log.Info("message quarantined by a rule", "rcpt", r.Address, "from", m.From, "quarantine_id", id, "rules", matched(plan))
			}
			continue
		}
		if plan.NoLocalCopy && len(plan.Copies) == 0 {
			d.log.Info("message forwarded without a local copy", "rcpt", r.Address, "to", strings.Join(plan.Forward, ","))
			continue
		}
		if rewrites(plan) {
			// This recipient gets its own copy of the message; stored below.
			continue
		}
		mbox, copies := d.folders(ctx, r, plan)
		var err error
		if !plan.NoLocalCopy {
			main[i], err = addTarget(r.Account, mbox, plan.Flags)
		}
		for _, c := range copies {
			if err != nil {
				break
			}
			_, err = addTarget(r.Account, c, plan.Flags)
		}
		if err != nil {
			results[i].Err = err
			main[i] = -1
		}
	}

	// The received message, for every recipient that takes it as is: one
	// transaction, from the plan's parse.
	stored := false
	if len(targets) > 0 {
		delivered, err := ingest.DeliverParsed(ctx, d.store, m.Blob, p.Parsed, targets)
		if err != nil {
			return nil, err
		}
		for i, j := range main {
			if j >= 0 {
				results[i].Err = delivered[j].Err
			}
		}
		for _, dv := range delivered {
			stored = stored || dv.Err == nil
		}
	}
	// Recipients whose rules change the message.
	for i, rp := range p.Recipients {
		if rp.Rules.Disposition == rules.Deliver && rewrites(rp.Rules) && (!rp.Rules.NoLocalCopy || len(rp.Rules.Copies) > 0) {
			results[i].Err = d.storeRewritten(ctx, p, rp)
			stored = stored || results[i].Err == nil
		}
	}
	if stored {
		d.metrics.Delivered() // once per message, whatever the copies and rewrites
	}

	// What goes out: forwards, messages to send, replies.
	for i, rp := range p.Recipients {
		if err := d.generate(ctx, p, rp); err != nil {
			d.log.Error("rule action not carried out", "rcpt", rp.Recipient.Address, "err", err)
			if rp.Rules.NoLocalCopy && results[i].Err == nil && rp.Rules.Disposition == rules.Deliver {
				// The forward was the only copy: the sender must retry.
				results[i].Err = err
			}
		}
	}
	if notify && len(rejected) > 0 {
		d.sendRejectDSN(ctx, p, rejected, rejText)
	}
	return results, nil
}

// matched names the rules that matched, for logs.
func matched(p *rules.Plan) string {
	var b strings.Builder
	for i, m := range p.Matched {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(m.Level))
		b.WriteByte(':')
		if m.Title != "" {
			b.WriteString(strconv.Quote(m.Title))
		} else {
			b.WriteString(strconv.Itoa(m.Index + 1))
		}
	}
	return b.String()
}

// rewrites reports whether the plan changes the stored message.
func rewrites(p *rules.Plan) bool {
	return len(p.Headers) > 0 || p.Priority != 0 || p.Encrypt
}

// folders returns the main mailbox and the copies of a recipient's plan.
func (d *Deliverer) folders(ctx context.Context, r Recipient, p *rules.Plan) (string, []string) {
	mbox := p.Folder
	if mbox == "" {
		mbox = r.Mailbox
	}
	if mbox == "" {
		mbox = "INBOX"
	}
	if p.Spam {
		mbox = d.junkMailbox(ctx, r.Account)
	}
	var copies []string
	for _, c := range p.Copies {
		if !strings.EqualFold(c, mbox) {
			copies = append(copies, c)
		}
	}
	return mbox, copies
}

// ensureMailbox returns the folder of the account that takes a message a
// rule moves or copies to name, creating name (with its parents) when it
// is missing. The message goes to INBOX instead, with a warning in the
// log, when name is not one of the account's own folders (rules.
// ForeignFolder: "~owner@domain/..." or "#public/...", as a folder
// extension such as john+~jane@example.org can make it; IMAP reserves
// these prefixes, and a folder of that name in the recipient's tree would
// shadow the real one), when the store refuses the name, or when creating
// it would take the account past [limits] max_mailboxes_per_account (the
// limit IMAP CREATE applies: a %%Extension%% rule must not let senders
// create folders without bound). A folder name, which variables may fill
// with the sender's text, never makes a message wait or bounce. Errors
// are the store's.
func (d *Deliverer) ensureMailbox(ctx context.Context, acct storage.AccountID, name string) (string, error) {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", nil
	}
	inbox := func(why string) (string, error) {
		d.log.Warn("folder of a rule not created; filed into INBOX", "account", acct, "folder", name, "reason", why)
		return "INBOX", nil
	}
	if rules.ForeignFolder(name) {
		return inbox("not one of the account's own folders (~owner or #public)")
	}
	_, err := d.store.Mailbox(ctx, acct, name)
	switch {
	case err == nil:
		return name, nil
	case errors.Is(err, storage.ErrInvalid):
		return inbox("invalid folder name")
	case !errors.Is(err, storage.ErrNoMailbox):
		return "", err
	}
	// Parents first, as IMAP CREATE makes them (RFC 9051 6.3.4).
	var missing []string
	parts := strings.Split(name, "/")
	for i := range parts {
		n := strings.Join(parts[:i+1], "/")
		_, err := d.store.Mailbox(ctx, acct, n)
		switch {
		case err == nil:
			continue
		case errors.Is(err, storage.ErrInvalid):
			return inbox("invalid folder name")
		case !errors.Is(err, storage.ErrNoMailbox):
			return "", err
		}
		missing = append(missing, n)
	}
	if limit := d.maxMailboxes(); limit > 0 {
		boxes, err := d.store.Mailboxes(ctx, acct)
		if err != nil {
			return "", err
		}
		if len(boxes)+len(missing) > limit {
			return inbox("the account has the most folders allowed ([limits] max_mailboxes_per_account)")
		}
	}
	for _, n := range missing {
		if _, err := d.store.CreateMailbox(ctx, acct, n, ""); err != nil && !errors.Is(err, storage.ErrExists) {
			if errors.Is(err, storage.ErrInvalid) {
				return inbox("invalid folder name")
			}
			return "", fmt.Errorf("create folder %q: %w", n, err)
		}
		d.log.Info("folder created by a rule", "account", acct, "folder", n)
	}
	return name, nil
}

// maxMailboxes is [limits] max_mailboxes_per_account (0: no limit).
func (d *Deliverer) maxMailboxes() int {
	if d.cfg == nil {
		return 0
	}
	return d.cfg().Limits.MaxMailboxesPerAccount
}

// junkMailbox names the account's junk mailbox (RFC 6154 \Junk; the one
// named "Junk" when none has the attribute; INBOX when neither exists).
func (d *Deliverer) junkMailbox(ctx context.Context, acct storage.AccountID) string {
	boxes, err := d.store.Mailboxes(ctx, acct)
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

func mergeFlags(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, f := range b {
		dup := false
		for _, g := range out {
			if strings.EqualFold(f, g) {
				dup = true
			}
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}

// storeRewritten stores a recipient's own version of the message (header
// edits, priority, encryption) in its folders.
func (d *Deliverer) storeRewritten(ctx context.Context, p *Plan, rp RecipientPlan) error {
	r, plan := rp.Recipient, rp.Rules
	blob, err := d.store.OpenBlob(ctx, p.Message.Blob.ID)
	if err != nil {
		return fmt.Errorf("rewrite: %w", err)
	}
	defer blob.Close()
	var body io.Reader
	if p.Parsed.HeaderTruncated {
		d.log.Warn("header too large to rewrite; stored unchanged", "rcpt", r.Address)
		body = io.NewSectionReader(blob, 0, blob.Size())
	} else {
		hdr := EditHeader(p.Parsed.Header, plan.Headers, plan.Priority)
		body = io.MultiReader(strings.NewReader(hdr), io.NewSectionReader(blob, int64(len(p.Parsed.Header)), blob.Size()-int64(len(p.Parsed.Header))))
	}
	if plan.Encrypt {
		enc, err := d.encrypt(ctx, r, body)
		if err != nil {
			d.log.Warn("message not encrypted", "rcpt", r.Address, "err", err)
			if _, err := blob.Seek(0, io.SeekStart); err != nil {
				return err
			}
			if p.Parsed.HeaderTruncated {
				body = io.NewSectionReader(blob, 0, blob.Size())
			} else {
				hdr := EditHeader(p.Parsed.Header, plan.Headers, plan.Priority)
				body = io.MultiReader(strings.NewReader(hdr), io.NewSectionReader(blob, int64(len(p.Parsed.Header)), blob.Size()-int64(len(p.Parsed.Header))))
			}
		} else {
			body = enc
		}
	}
	ref, err := ingest.Spool(ctx, d.store, body)
	if err != nil {
		return err
	}
	mbox, copies := d.folders(ctx, r, plan)
	var targets []storage.Target
	if !plan.NoLocalCopy {
		targets = append(targets, storage.Target{Account: r.Account, MailboxName: mbox, Flags: plan.Flags})
	}
	for _, c := range copies {
		targets = append(targets, storage.Target{Account: r.Account, MailboxName: c, Flags: plan.Flags})
	}
	var final []storage.Target
	for _, t := range targets {
		name, err := d.ensureMailbox(ctx, r.Account, t.MailboxName)
		if err != nil {
			ingest.Discard(ctx, d.store, ref.ID)
			return err
		}
		t.MailboxName = name
		if i := slices.IndexFunc(final, func(f storage.Target) bool { return f.MailboxName == name }); i >= 0 {
			final[i].Flags = mergeFlags(final[i].Flags, t.Flags)
			continue
		}
		final = append(final, t)
	}
	targets = final
	if len(targets) == 0 { // only copies, all into the folder the message skips
		ingest.Discard(ctx, d.store, ref.ID)
		return nil
	}
	res, err := ingest.Deliver(ctx, d.store, ref, targets)
	if err != nil {
		return err
	}
	return res[0].Err
}

// Refused carries out what a plan still does when the message is refused
// as a whole (every recipient's rules rejected it and the SMTP client gets
// the 550): the rules' messages to send (a notice to an administrator, say).
// Nothing is stored and no DSN is sent (the client has the reply).
func (d *Deliverer) Refused(ctx context.Context, p *Plan) {
	for _, rp := range p.Recipients {
		for _, n := range rp.Rules.Notes {
			d.log.Info("rules: "+n, "rcpt", rp.Recipient.Address, "from", p.Message.From)
		}
		d.log.Info("message rejected by a rule", "rcpt", rp.Recipient.Address, "from", p.Message.From, "rules", matched(rp.Rules))
		if len(rp.Rules.Sends) == 0 {
			continue
		}
		if err := d.generate(ctx, p, rp); err != nil {
			d.log.Error("rule action not carried out", "rcpt", rp.Recipient.Address, "err", err)
		}
	}
}
