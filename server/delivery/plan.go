package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/mimeparse"
)

// ErrRejected is the outcome of a recipient whose rules rejected the
// message (RecipientPlan.Rules.Disposition == rules.Reject).
var ErrRejected = errors.New("rejected by a rule")

// GroupChecker answers "member of group" rule conditions (the sharing
// branch's storage groups). Nil: no account is a member of any group.
type GroupChecker interface {
	MemberOfGroup(ctx context.Context, address, group string) (bool, error)
}

// memberOfer is the storage groups API's MemberOf (the sharing branch):
// the addresses of the groups address is a member of.
type memberOfer interface {
	MemberOf(ctx context.Context, address string) ([]string, error)
}

// storeGroups answers member_of_group from the store: group is a group's
// address, or its local part when that is unambiguous enough for a rule
// ("sales" matches sales@example.org).
type storeGroups struct{ st memberOfer }

func (g storeGroups) MemberOfGroup(ctx context.Context, address, group string) (bool, error) {
	groups, err := g.st.MemberOf(ctx, strings.ToLower(address))
	if err != nil {
		return false, err
	}
	group = strings.ToLower(group)
	for _, x := range groups {
		local, _, _ := strings.Cut(x, "@")
		if strings.EqualFold(x, group) || !strings.Contains(group, "@") && strings.EqualFold(local, group) {
			return true, nil
		}
	}
	return false, nil
}

// Plan is the decision for every recipient of one message, made before the
// SMTP reply and before anything is stored or queued (ARCHITECTURE.md
// decision 4). The message is read and parsed once, here; Execute stores
// from this parse.
type Plan struct {
	Message    *Message
	Parsed     *storage.Parsed
	Recipients []RecipientPlan
	view       *rules.Message
}

// RecipientPlan is one recipient's rule outcome.
type RecipientPlan struct {
	Recipient Recipient
	Rules     *rules.Plan
	// Context is what the rules saw (for floe rules test and the logs).
	Context *rules.Context
}

// Rejected reports whether the rules rejected the message for every
// recipient, and the reject text of the first (for the 550 reply).
func (p *Plan) Rejected() (all bool, text string) {
	if len(p.Recipients) == 0 {
		return false, ""
	}
	for _, r := range p.Recipients {
		if r.Rules.Disposition != rules.Reject {
			return false, ""
		}
		if text == "" {
			text = r.Rules.RejectText
		}
	}
	return true, text
}

// NewView builds the rules' view of a parsed message.
func NewView(p *storage.Parsed, size int64) *rules.Message {
	m := &rules.Message{
		Header:          p.Header,
		Text:            p.Text,
		AttachmentNames: p.AttachmentNames,
		HasAttachment:   p.HasAttachment,
		Size:            size,
		MessageID:       p.Envelope.MessageID,
		References:      p.References,
		Decode:          mimeparse.DecodeHeaderValue,
	}
	if a := firstAddr(p.Envelope.From); a.Mailbox != "" {
		m.FromName, m.FromEmail = a.Name, a.Mailbox+"@"+a.Host
	}
	if a := firstAddr(p.Envelope.To); a.Mailbox != "" {
		m.ToName, m.ToEmail = a.Name, a.Mailbox+"@"+a.Host
	}
	return m
}

func firstAddr(list []storage.Address) storage.Address {
	for _, a := range list {
		if a.Host != "" && a.Mailbox != "" {
			return a
		}
	}
	return storage.Address{}
}

// Plan reads and parses m.Blob once and evaluates the rules of every
// recipient (server, domain and account rules, then the forwarder and the
// responder). It changes nothing.
func (d *Deliverer) Plan(ctx context.Context, m *Message) (*Plan, error) {
	parsed, err := ingest.Parse(ctx, d.store, m.Blob)
	if err != nil {
		return nil, err
	}
	return d.PlanParsed(ctx, m, parsed), nil
}

// PlanParsed is Plan for a message already parsed.
func (d *Deliverer) PlanParsed(ctx context.Context, m *Message, parsed *storage.Parsed) *Plan {
	p := &Plan{Message: m, Parsed: parsed, view: NewView(parsed, m.Blob.Size)}
	cfg := d.cfg()
	loc := cfg.Filtering.Location()
	trusted := cfg.Filtering.Networks()
	now := d.now()
	dir := &ruleDir{d: d}
	var rdns *string
	for _, r := range m.Recipients {
		st := d.stages(ctx, r)
		cx := &rules.Context{
			MailFrom:    m.From,
			Recipient:   r.Address,
			Account:     r.AccountAddress,
			RemoteIP:    m.RemoteIP,
			RDNS:        m.RDNS,
			Helo:        m.Helo,
			AuthUser:    m.AuthUser,
			Trusted:     trusted,
			Spam:        m.Spam,
			AuthResults: m.AuthResults,
			Junk:        m.Junk,
			Now:         now,
			Location:    loc,
			Dir:         dir,
		}
		if uses(st, rules.IfRDNS) && cx.RDNS == "" && d.lookupPTR != nil && m.RemoteIP.IsValid() {
			if rdns == nil {
				name := d.ptr(ctx, m.RemoteIP)
				rdns = &name
			}
			cx.RDNS = *rdns
		}
		if hasResponder(st) {
			cx.AccountAddresses = d.accountAddresses(ctx, r.AccountAddress)
		}
		plan := rules.Evaluate(ctx, st, p.view, cx)
		if len(plan.Forward) > 0 {
			d.dropSelfForwards(ctx, r, plan)
		}
		p.Recipients = append(p.Recipients, RecipientPlan{Recipient: r, Rules: plan, Context: cx})
	}
	return p
}

// dropSelfForwards removes the forward targets that are the recipient's own
// account (its address, an alias of it, either with a "+tag"): the message
// is there already, and forwarding it to itself would store it again at
// every hop until the loop limit. Of several targets that reach the same
// local account ("bob+1@", "bob+2@", an alias of bob) only the first is
// kept, so that a forwarding cycle between accounts cannot multiply a
// message by the number of its targets at every hop. A forwarder left
// without a target keeps the message in the mailbox.
func (d *Deliverer) dropSelfForwards(ctx context.Context, r Recipient, p *rules.Plan) {
	kept := make([]string, 0, len(p.Forward))
	seen := map[storage.AccountID]bool{}
	for _, to := range p.Forward {
		t, err := d.Resolve(ctx, to)
		switch {
		case err != nil:
			// Remote, a group, or refused later with its reason.
		case t.Account == r.Account:
			p.Notes = append(p.Notes, "forward to "+to+" skipped: it is this account's own address")
			continue
		case seen[t.Account]:
			p.Notes = append(p.Notes, "forward to "+to+" skipped: another target reaches the same account")
			continue
		default:
			seen[t.Account] = true
		}
		kept = append(kept, to)
	}
	p.Forward = kept
	if len(kept) == 0 {
		p.NoLocalCopy = false
	}
}

func uses(st []rules.Stage, kind string) bool {
	for _, s := range st {
		if s.Program.Uses(kind) {
			return true
		}
	}
	return false
}

func hasResponder(st []rules.Stage) bool {
	for _, s := range st {
		if s.Program.HasResponder() {
			return true
		}
	}
	return false
}

// ptr looks up the PTR name of ip, bounded in time; "" when none.
func (d *Deliverer) ptr(ctx context.Context, ip netip.Addr) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	names, err := d.lookupPTR(ctx, ip.String())
	if err != nil || len(names) == 0 {
		return ""
	}
	return strings.TrimSuffix(names[0], ".")
}

// accountAddresses lists the addresses of an account: its own and its
// aliases (for the responder's "addressed to me" test).
func (d *Deliverer) accountAddresses(ctx context.Context, acct string) []string {
	out := []string{acct}
	aliases, err := d.store.Aliases(ctx)
	if err != nil {
		return out
	}
	for _, a := range aliases {
		if strings.EqualFold(a.Target, acct) {
			out = append(out, a.Address)
		}
	}
	return out
}

// ruleDir answers the rules' sender_is/recipient_is conditions from the
// directory.
type ruleDir struct{ d *Deliverer }

func (r *ruleDir) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	_, err := r.d.store.Domain(ctx, domain)
	if errors.Is(err, storage.ErrNoDomain) || errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (r *ruleDir) AccountExists(ctx context.Context, address string) (bool, error) {
	_, err := r.d.Resolve(ctx, address)
	switch {
	case err == nil, errors.Is(err, ErrDisabled):
		return true, nil
	case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrNotLocal), errors.Is(err, ErrInvalidAddress):
		return false, nil
	}
	return false, err
}

func (r *ruleDir) MemberOfGroup(ctx context.Context, address, group string) (bool, error) {
	if r.d.groups == nil {
		return false, nil
	}
	return r.d.groups.MemberOfGroup(ctx, address, group)
}

// Describe renders a plan for `floe rules test`: the rules that matched and
// what would happen.
func (rp *RecipientPlan) Describe() string {
	var b strings.Builder
	p := rp.Rules
	fmt.Fprintf(&b, "recipient %s (account %s)\n", rp.Recipient.Address, rp.Recipient.AccountAddress)
	if len(p.Matched) == 0 {
		b.WriteString("  no rule matched\n")
	}
	for _, m := range p.Matched {
		title := m.Title
		if title == "" {
			title = "(untitled)"
		}
		fmt.Fprintf(&b, "  matched: %s rule %d %q\n", m.Level, m.Index+1, title)
	}
	switch p.Disposition {
	case rules.Reject:
		text := p.RejectText
		if text == "" {
			text = "(default text)"
		}
		fmt.Fprintf(&b, "  reject: 550 %s\n", text)
	case rules.Discard:
		b.WriteString("  delete: the message is discarded\n")
	case rules.Quarantine:
		b.WriteString("  quarantine: held for the administrator\n")
	default:
		if p.NoLocalCopy {
			b.WriteString("  no local copy (forwarder without keep_copy)\n")
		} else {
			folder := p.Folder
			if folder == "" {
				folder = "INBOX"
			}
			if p.Spam {
				folder = "Junk (spam)"
			}
			fmt.Fprintf(&b, "  file into: %s\n", folder)
		}
		for _, c := range p.Copies {
			fmt.Fprintf(&b, "  copy into: %s\n", c)
		}
		for _, h := range p.Headers {
			fmt.Fprintf(&b, "  header: %s %s %s\n", h.Op, h.Name, h.Value)
		}
		if p.Priority != 0 {
			fmt.Fprintf(&b, "  priority: %s\n", rules.PriorityNames[p.Priority])
		}
		if len(p.Flags) > 0 {
			fmt.Fprintf(&b, "  flags: %s\n", strings.Join(p.Flags, " "))
		}
		if p.Encrypt {
			b.WriteString("  encrypt: to the account's S/MIME certificate\n")
		}
	}
	for _, f := range p.Forward {
		fmt.Fprintf(&b, "  forward to: %s\n", f)
	}
	for _, s := range p.Sends {
		fmt.Fprintf(&b, "  send a message to %s: %q\n", s.To, s.Subject)
	}
	if r := p.Reply; r != nil {
		mode := "always"
		if r.Once {
			mode = "once per sender"
			if !r.Since.IsZero() {
				mode = "unless answered since " + r.Since.Format(time.DateTime)
			}
		}
		fmt.Fprintf(&b, "  responder: reply to %s %q (%s)\n", r.To, r.Subject, mode)
	}
	if p.Stopped {
		b.WriteString("  rule processing stopped\n")
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}
