package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// generate sends what a recipient's plan sends out: forwards, the rules'
// messages and the responder's reply.
func (d *Deliverer) generate(ctx context.Context, p *Plan, rp RecipientPlan) error {
	plan, r := rp.Rules, rp.Recipient
	if plan.Loop {
		d.log.Warn("mail loop stopped: nothing forwarded, sent or answered", "rcpt", r.Address, "from", p.Message.From, "hops", plan.Hops-1)
	}
	var errs []error
	if len(plan.Forward) > 0 {
		errs = append(errs, d.forward(ctx, p, rp))
	}
	host := d.cfg().Server.Hostname
	now := d.now()
	for _, s := range plan.Sends {
		from := s.From
		if from == "" {
			from = r.AccountAddress
		}
		if !plausible(s.To) || !plausible(from) {
			d.log.Warn("rule message not sent: bad address", "rcpt", r.Address, "to", s.To, "from", from)
			continue
		}
		msg := compose(outMessage{From: mailboxHeader(from), To: mailboxHeader(s.To), Subject: s.Subject, Text: s.Text,
			Hops: plan.Hops, Extra: []string{"Auto-Submitted: auto-generated\r\n"}}, host, now)
		errs = append(errs, d.sendGenerated(ctx, "", []string{s.To}, msg, r.Account))
	}
	if rep := plan.Reply; rep != nil {
		errs = append(errs, d.reply(ctx, rp, rep, host))
	}
	return errors.Join(errs...)
}

// reply sends the responder's answer (RFC 3834): to the envelope sender,
// from the null envelope sender, with Auto-Submitted: auto-replied,
// In-Reply-To and References; once per sender when the plan says so
// (recorded durably before it is sent).
func (d *Deliverer) reply(ctx context.Context, rp RecipientPlan, rep *rules.Reply, host string) error {
	now := d.now()
	if rep.Once {
		ok, err := d.store.ResponderMark(ctx, rp.Recipient.Account, rep.To, now, rep.Since)
		if err != nil {
			return fmt.Errorf("responder state: %w", err)
		}
		if !ok {
			d.log.Info("responder: sender already answered", "rcpt", rp.Recipient.Address, "sender", rep.To)
			return nil
		}
	}
	extra := []string{"Auto-Submitted: auto-replied\r\n"}
	if rep.InReplyTo != "" {
		extra = append(extra, "In-Reply-To: "+rep.InReplyTo+"\r\n", "References: "+strings.Join(rep.References, "\r\n ")+"\r\n")
	}
	msg := compose(outMessage{From: mailboxHeader(rep.From), To: mailboxHeader(rep.To), Subject: rep.Subject, Text: rep.Text,
		Hops: rp.Rules.Hops, Extra: extra}, host, now)
	d.log.Info("responder reply sent", "rcpt", rp.Recipient.Address, "to", rep.To)
	return d.sendGenerated(ctx, "", []string{rep.To}, msg, rp.Recipient.Account)
}

// forward sends the received message on to the plan's addresses, with the
// loop counter raised and the envelope sender rewritten with SRS (so SPF
// passes at the destination, and bounces come back to us and are
// un-rewritten, see Deliverer.ReverseSRS). The queue signs it with the
// forwarding domain's DKIM key.
func (d *Deliverer) forward(ctx context.Context, p *Plan, rp RecipientPlan) error {
	m, r := p.Message, rp.Recipient
	from := m.From
	_, domain, _ := strings.Cut(r.AccountAddress, "@")
	if from != "" && d.srs != nil {
		f, err := d.srs.Forward(from, domain, d.now())
		if err != nil {
			d.log.Warn("forward: sender not rewritten", "from", from, "err", err)
		} else {
			from = f
		}
	}
	blob, err := d.store.OpenBlob(ctx, m.Blob.ID)
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	defer blob.Close()
	hdr := rules.HopHeader + ": " + strconv.Itoa(rp.Rules.Hops) + "\r\n"
	ref, err := ingest.Spool(ctx, d.store, io.MultiReader(strings.NewReader(hdr), io.NewSectionReader(blob, 0, blob.Size())))
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	d.log.Info("message forwarded", "rcpt", r.Address, "to", strings.Join(rp.Rules.Forward, ","), "envelope_from", from)
	return d.deliverGenerated(ctx, from, rp.Rules.Forward, ref, r.Account)
}

// sendGenerated spools msg and sends it from the envelope sender from.
func (d *Deliverer) sendGenerated(ctx context.Context, from string, to []string, msg []byte, acct storage.AccountID) error {
	ref, err := ingest.Spool(ctx, d.store, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	return d.deliverGenerated(ctx, from, to, ref, acct)
}

// deliverGenerated sends the spooled blob ref from the envelope sender
// from to the addresses to: remote ones through the outbound queue, local
// ones by local delivery (with the target's own rules; the loop counter
// in the message bounds any cycle). The blob is discarded when nothing
// references it.
func (d *Deliverer) deliverGenerated(ctx context.Context, from string, to []string, ref storage.BlobRef, acct storage.AccountID) error {
	var remote []string
	var local []Recipient
	var errs []error
	for _, a := range to {
		r, err := d.Resolve(ctx, a)
		switch {
		case err == nil:
			local = append(local, r)
		case errors.Is(err, ErrNotLocal):
			remote = append(remote, a)
		default:
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
		}
	}
	if len(remote) > 0 {
		if d.outbound == nil {
			errs = append(errs, errors.New("no outbound queue for remote addresses"))
		} else if err := d.outbound.SubmitOutbound(ctx, from, remote, ref, acct); err != nil {
			errs = append(errs, err)
		}
	}
	if len(local) > 0 {
		res, err := d.Deliver(ctx, &Message{Blob: ref, From: from, Recipients: local})
		if err != nil {
			errs = append(errs, err)
		}
		for _, x := range res {
			if x.Err != nil && !errors.Is(x.Err, ErrRejected) {
				errs = append(errs, fmt.Errorf("%s: %w", x.Recipient.Address, x.Err))
			}
		}
	} else {
		ingest.Discard(ctx, d.store, ref.ID) // kept when the queue references it
	}
	return errors.Join(errs...)
}

func plausible(a string) bool {
	i := strings.LastIndexByte(a, '@')
	return i > 0 && i < len(a)-1 && !strings.ContainsAny(a, " \t\r\n<>,;\"")
}

// sendRejectDSN tells the envelope sender (never a null sender, RFC 3834)
// that rules rejected the message for some recipients after the SMTP
// session could no longer refuse it (RFC 3464 delivery status notification).
func (d *Deliverer) sendRejectDSN(ctx context.Context, p *Plan, rejected []Recipient, text string) {
	m := p.Message
	if m.From == "" || p.Recipients[0].Rules.Loop {
		return
	}
	host := d.cfg().Server.Hostname
	now := d.now()
	if text == "" {
		text = "Message rejected by the recipient's rules"
	}
	boundary := "floe-dsn-" + strconv.FormatInt(now.UnixNano(), 36)
	var b strings.Builder
	b.WriteString(field("From", "Mail Delivery System <MAILER-DAEMON@"+host+">"))
	b.WriteString(field("To", mailboxHeader(m.From)))
	b.WriteString("Subject: Undelivered Mail Returned to Sender\r\n")
	b.WriteString("Date: " + now.Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\r\n")
	b.WriteString("Message-ID: " + messageID(host) + "\r\n")
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString(rules.HopHeader + ": " + strconv.Itoa(p.Recipients[0].Rules.Hops) + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"\r\n\r\n")
	b.WriteString("--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString("Your message could not be delivered to these recipients:\r\n\r\n")
	for _, r := range rejected {
		b.WriteString("  <" + r.Address + ">: " + text + "\r\n")
	}
	b.WriteString("\r\n--" + boundary + "\r\nContent-Type: message/delivery-status\r\n\r\n")
	b.WriteString("Reporting-MTA: dns; " + host + "\r\n")
	for _, r := range rejected {
		b.WriteString("\r\nFinal-Recipient: rfc822; " + r.Address + "\r\nAction: failed\r\nStatus: 5.7.1\r\nDiagnostic-Code: smtp; 550 5.7.1 " + text + "\r\n")
	}
	b.WriteString("\r\n--" + boundary + "\r\nContent-Type: text/rfc822-headers\r\n\r\n")
	b.Write(p.Parsed.Header)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	if err := d.sendGenerated(ctx, "", []string{m.From}, []byte(b.String()), 0); err != nil {
		d.log.Error("reject notice not sent", "to", m.From, "err", err)
	}
}
