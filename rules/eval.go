package rules

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message priorities (X-Priority values).
const (
	PriorityHighest = 1
	PriorityHigh    = 2
	PriorityNormal  = 3
	PriorityLow     = 4
	PriorityLowest  = 5
)

var priorities = map[string]int{"highest": 1, "high": 2, "normal": 3, "low": 4, "lowest": 5}

// PriorityNames maps a priority to its name.
var PriorityNames = [...]string{"", "highest", "high", "normal", "low", "lowest"}

// Loop detection: every message Floe generates or forwards carries
// HopHeader with the number of times Floe machinery (forward, responder,
// send) has handled it. At MaxHops, or with more than MaxReceived
// Received fields, a message is delivered locally but nothing is forwarded,
// sent or answered for it (a logged loop).
const (
	HopHeader      = "X-Floe-Loop"
	HopHeaderLower = "x-floe-loop"
	MaxHops        = 5
	MaxReceived    = 50
)

// Level names the origin of a program, for logs and `floe rules test`.
type Level string

const (
	LevelServer  Level = "server"
	LevelDomain  Level = "domain"
	LevelAccount Level = "account"
)

// Stage is one level's compiled rules.
type Stage struct {
	Level   Level
	Program *Program
}

// Disposition is what happens to the message for one recipient.
type Disposition int

const (
	// Deliver: store it (in Folder, Junk when Spam, plus Copies) unless
	// the forwarder took it without keeping a copy (NoLocalCopy).
	Deliver Disposition = iota
	// Reject: refuse it; 550 while the SMTP session is open, else a DSN
	// to the envelope sender (never to a null sender).
	Reject
	// Discard: drop it (logged).
	Discard
	// Quarantine: hold it for the administrator.
	Quarantine
)

func (d Disposition) String() string {
	return [...]string{"deliver", "reject", "delete", "quarantine"}[d]
}

// Match is one rule that matched.
type Match struct {
	Level Level
	Index int // 0-based position in its level
	Title string
}

// HeaderEdit is a planned change of the header: Op is DoAddHeader,
// DoEditHeader or DoDeleteHeader; Value is already expanded.
type HeaderEdit struct {
	Op, Name, Value string
}

// Send is a planned message (a "send" action), its texts expanded. An
// empty From means the recipient account's address.
type Send struct {
	To, From, Subject, Text string
}

// Reply is the responder's planned answer, sent to To (the envelope
// sender) with a null envelope sender. When Once is set, it is sent only
// if this sender was not answered after Since (zero: never answered);
// the executor checks and records that atomically.
type Reply struct {
	To, From, Subject, Text string
	InReplyTo               string
	References              []string
	Once                    bool
	Since                   time.Time
}

// Plan is the decision for one recipient. The rules package only
// decides; server/delivery executes the plan.
type Plan struct {
	Disposition Disposition
	// RejectText is the reply text of a rule's reject ("" for the default).
	RejectText string
	// Matched lists the rules that matched, in order; Actions the actions
	// they planned (as written, before folding).
	Matched []Match
	Actions []Action
	// Folder is where the copy goes ("" is INBOX); Spam files it into the
	// account's Junk folder instead; Copies are further folders.
	Folder string
	Spam   bool
	Copies []string
	// NoLocalCopy: the forwarder took the message and keeps no copy.
	NoLocalCopy bool
	// Forward lists the addresses to forward to (rules and forwarder).
	Forward []string
	Sends   []Send
	Reply   *Reply
	Headers []HeaderEdit
	// Priority to set (0: unchanged).
	Priority int
	Flags    []string
	Encrypt  bool
	// Stopped: a rule said stop (or accept); Accepted: a rule said accept.
	Stopped, Accepted bool
	// Loop is set when the message has looped (see MaxHops); Hops is the
	// HopHeader value for what the plan sends or forwards.
	Loop bool
	Hops int
	// Notes explains decisions worth a log line (responder skipped, loop).
	Notes []string
}

// Evaluate plans the outcome of m for the recipient of c: the rules of
// every stage in order (server, domain, account), then the forwarder and
// responder of the last stage that has them. It never acts.
func Evaluate(ctx context.Context, stages []Stage, m *Message, c *Context) *Plan {
	p := &Plan{Spam: c.Junk}
	v := &lazyVars{m: m, c: c}
	e := &evaluator{ctx: ctx, m: m, c: c}
	p.Hops = hopCount(m) + 1
	if p.Hops > MaxHops || len(m.All("Received")) > MaxReceived {
		p.Loop = true
		p.Notes = append(p.Notes, "mail loop detected ("+HopHeader+" "+strconv.Itoa(p.Hops-1)+"): nothing forwarded, sent or answered")
	}
	var fwd *Forwarder
	var resp *cresponder
	terminal := false
stages:
	for _, st := range stages {
		if st.Program == nil {
			continue
		}
		if st.Program.forwarder != nil {
			fwd = st.Program.forwarder
		}
		if st.Program.responder != nil {
			resp = st.Program.responder
		}
		if p.Stopped || terminal {
			continue
		}
		for i := range st.Program.rules {
			r := &st.Program.rules[i]
			if !r.active || !e.matches(r) {
				continue
			}
			p.Matched = append(p.Matched, Match{Level: st.Level, Index: i, Title: r.title})
			for _, a := range r.actions {
				p.Actions = append(p.Actions, a)
				if p.apply(a, v) {
					terminal = true
				}
			}
			if terminal || p.Stopped {
				continue stages
			}
		}
	}
	if terminal {
		// A terminal disposition cancels the filing actions; a reject or
		// quarantine also the forwards. Messages to send stay (typically a
		// notice of the reject or quarantine).
		p.Folder, p.Copies, p.Headers, p.Flags, p.Priority, p.Encrypt, p.Spam = "", nil, nil, nil, 0, false, c.Junk
		if p.Disposition != Discard {
			p.Forward = nil
		}
	}
	if fwd != nil && !terminal {
		p.Forward = append(p.Forward, fwd.To...)
		if !fwd.KeepCopy {
			p.NoLocalCopy = true
		}
	}
	if resp != nil && resp.Mode != ModeDisabled {
		switch {
		case p.Stopped || terminal:
			p.Notes = append(p.Notes, "responder skipped: a rule stopped, rejected, deleted or quarantined the message")
		case p.Spam || c.Spam != nil && c.Spam.IsSpam:
			p.Notes = append(p.Notes, "responder skipped: spam")
		default:
			reply, why := respond(resp, m, c, v)
			if reply != nil {
				p.Reply = reply
			} else if why != "" {
				p.Notes = append(p.Notes, "responder skipped: "+why)
			}
		}
	}
	if p.Loop {
		p.Forward, p.Sends, p.Reply, p.NoLocalCopy = nil, nil, nil, false
	}
	p.Forward = dedupFold(p.Forward)
	return p
}

// apply folds one action into the plan; it reports a terminal disposition.
// lazyVars computes the variables on first use: most messages match no
// rule with a variable.
type lazyVars struct {
	m *Message
	c *Context
	v Vars
}

func (l *lazyVars) expand(s string, oneLine bool) string {
	if !strings.Contains(s, "%%") {
		return s
	}
	if l.v == nil {
		l.v = NewVars(l.m, l.c)
	}
	return Expand(s, l.v, oneLine)
}

func (p *Plan) apply(a Action, v *lazyVars) bool {
	switch a.Do {
	case DoAccept:
		p.Accepted, p.Stopped = true, true
	case DoStop:
		p.Stopped = true
	case DoReject:
		p.Disposition, p.RejectText = Reject, v.expand(a.Text, true)
		return true
	case DoDelete:
		p.Disposition = Discard
		return true
	case DoQuarantine:
		p.Disposition = Quarantine
		return true
	case DoSpam:
		p.Spam = true
	case DoForward:
		p.Forward = append(p.Forward, a.To)
	case DoMove:
		p.Folder = folderName(v.expand(a.Folder, true))
	case DoCopy:
		if f := folderName(v.expand(a.Folder, true)); f != "" {
			p.Copies = append(p.Copies, f)
		}
	case DoSend:
		p.Sends = append(p.Sends, Send{
			To:      strings.TrimSpace(v.expand(a.To, true)),
			From:    strings.TrimSpace(v.expand(a.From, true)),
			Subject: v.expand(a.Subject, true),
			Text:    v.expand(a.Text, false),
		})
	case DoAddHeader, DoEditHeader:
		p.Headers = append(p.Headers, HeaderEdit{Op: a.Do, Name: a.Header, Value: v.expand(a.Value, true)})
	case DoDeleteHeader:
		p.Headers = append(p.Headers, HeaderEdit{Op: a.Do, Name: a.Header})
	case DoPriority:
		p.Priority = priorities[a.Priority]
	case DoFlags:
		p.Flags = dedupFold(append(p.Flags, a.Flags...))
	case DoEncrypt:
		p.Encrypt = true
	}
	return false
}

// Bounds of a folder name that a rule files into.
const (
	// MaxFolderLevels is the most hierarchy levels kept (more are dropped).
	MaxFolderLevels = 10
	// maxFolderLevel bounds one level, in bytes.
	maxFolderLevel = 200
)

// folderName cleans an expanded folder name: "" and INBOX (any case) mean
// INBOX, returned as "". See FolderName.
func folderName(f string) string {
	f = FolderName(f)
	if strings.EqualFold(f, "INBOX") {
		return ""
	}
	return f
}

// FolderName makes a folder name that variables filled with text from the
// message (%%Extension%% of the recipient address, %%From_Name%% ...) a
// safe name of one of the account's own folders, so that the sender of a
// message cannot make its delivery fail or hide it: surrounding spaces,
// empty, "." and ".." levels are dropped (so are levels beyond
// MaxFolderLevels), the IMAP wildcards "*" and "%", control characters and
// invalid UTF-8 become "_", and a level is cut at 200 bytes. The result is
// "" (INBOX) when nothing is left. A name whose first level starts with "#"
// or "~" (IMAP's public and other users' namespaces) stays so:
// ForeignFolder tells delivery to file into INBOX instead.
func FolderName(f string) string {
	f = strings.ToValidUTF8(f, "_")
	var levels []string
	for _, l := range strings.Split(f, "/") {
		l = strings.TrimSpace(l)
		if l == "" || l == "." || l == ".." {
			continue
		}
		if len(levels) == MaxFolderLevels {
			break
		}
		l = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == '*' || r == '%' || r >= 0x80 && r < 0xa0 {
				return '_'
			}
			return r
		}, l)
		if len(l) > maxFolderLevel {
			l = l[:maxFolderLevel]
			for !utf8.ValidString(l) {
				l = l[:len(l)-1]
			}
			l = strings.TrimSpace(l)
		}
		levels = append(levels, l)
	}
	return strings.Join(levels, "/")
}

// dedupFold removes case-insensitive duplicates, keeping the first.
func dedupFold(list []string) []string {
	if len(list) < 2 {
		return list
	}
	out := list[:0:0]
	seen := map[string]bool{}
	for _, s := range list {
		k := strings.ToLower(s)
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

// hopCount reads HopHeader (0 when absent or malformed).
func hopCount(m *Message) int {
	n, err := strconv.Atoi(strings.TrimSpace(m.Get(HopHeader)))
	if err != nil || n < 0 {
		return 0
	}
	return min(n, 1000)
}

type evaluator struct {
	ctx context.Context
	m   *Message
	c   *Context
}

func (e *evaluator) matches(r *crule) bool {
	for i := range r.conds {
		if e.test(&r.conds[i]) == r.conds[i].not {
			return false
		}
	}
	return true
}

// headerField maps header conditions to the field they test.
var headerField = map[string]string{IfFrom: "from", IfTo: "to", IfSubject: "subject", IfCc: "cc", IfReplyTo: "reply-to", IfDate: "date"}

// test evaluates a condition, before negation.
func (e *evaluator) test(c *ccond) bool {
	m, cx := e.m, e.c
	switch c.kind {
	case IfFrom, IfTo, IfSubject, IfCc, IfReplyTo, IfDate:
		return e.field(headerField[c.kind], c.m)
	case IfHeader:
		return e.field(c.header, c.m)
	case IfAnyHeader:
		for _, f := range m.Fields() {
			if c.m.match(f.Name + ": " + m.decode(f.Value)) {
				return true
			}
		}
		return false
	case IfPriority:
		return MessagePriority(m) == c.prio
	case IfSpam:
		return cx.Spam != nil && cx.Spam.Scored && cx.Spam.IsSpam
	case IfSpamScore:
		return cx.Spam != nil && cx.Spam.Scored && inRange(cx.Spam.Score, c.gt, c.lt)
	case IfSize:
		return inRange(float64(m.Size)/1024, c.gt, c.lt)
	case IfBody:
		return c.m.matchLower(m.Text, m.lowerText())
	case IfAttachmentName:
		for _, n := range m.AttachmentNames {
			if c.m.match(n) {
				return true
			}
		}
		return false
	case IfHasAttachment:
		return m.HasAttachment
	case IfSender:
		return c.m.match(cx.MailFrom)
	case IfRecipient:
		return c.m.match(cx.Recipient)
	case IfSenderIs:
		return e.addressIs(c, cx.MailFrom)
	case IfRecipientIs:
		return e.addressIs(c, cx.Recipient)
	case IfIP:
		if !cx.RemoteIP.IsValid() {
			return c.m.match("")
		}
		return c.m.match(cx.RemoteIP.Unmap().String())
	case IfRDNS:
		return c.m.match(strings.TrimSuffix(cx.RDNS, "."))
	case IfTrustedIP:
		return trusted(cx.RemoteIP, cx.Trusted)
	case IfSMTPAuth:
		return cx.AuthUser != ""
	case IfLocalTime:
		return c.timeCond.holds(cx.Now, cx.loc())
	case IfAll:
		return true
	}
	return false
}

// field tests every field named lname (a message may repeat a field); an
// absent field is tested as "".
func (e *evaluator) field(lname string, mt *matcher) bool {
	found := false
	for _, f := range e.m.Fields() {
		if strings.EqualFold(f.Name, lname) {
			found = true
			if mt.match(e.m.decode(f.Value)) {
				return true
			}
		}
	}
	return !found && mt.match("")
}

func inRange(x float64, gt, lt *float64) bool {
	if gt != nil && !(x > *gt) {
		return false
	}
	if lt != nil && !(x < *lt) {
		return false
	}
	return true
}

func trusted(ip netip.Addr, nets []netip.Prefix) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// addressIs evaluates sender_is / recipient_is for addr.
func (e *evaluator) addressIs(c *ccond, addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		// The null sender (and a bare name) is neither local nor an account.
		return !c.local
	}
	domain := strings.ToLower(addr[at+1:])
	dir := e.c.Dir
	local := false
	if dir != nil {
		ok, err := dir.IsLocalDomain(e.ctx, domain)
		local = err == nil && ok
	}
	if local != c.local {
		return false
	}
	if !c.local {
		return true
	}
	switch c.account {
	case "exists", "missing":
		ok, err := dir.AccountExists(e.ctx, addr)
		exists := err == nil && ok
		if exists != (c.account == "exists") {
			return false
		}
	}
	if c.domain != "" && domain != c.domain {
		return false
	}
	if c.group != "" {
		ok, err := dir.MemberOfGroup(e.ctx, addr, c.group)
		if err != nil || !ok {
			return false
		}
	}
	return true
}

func (t *timeCond) holds(now time.Time, loc *time.Location) bool {
	if t.loc != nil {
		loc = t.loc
	}
	now = now.In(loc)
	if t.anyDay && !t.days[now.Weekday()] {
		return false
	}
	if t.hours {
		m := now.Hour()*60 + now.Minute()
		if t.fromMin <= t.toMin {
			if m < t.fromMin || m >= t.toMin {
				return false
			}
		} else if m < t.fromMin && m >= t.toMin { // wraps past midnight
			return false
		}
	}
	d := now.Format("2006-01-02")
	if t.fromDate != "" && d < t.fromDate || t.toDate != "" && d > t.toDate {
		return false
	}
	return true
}

// MessagePriority reads the priority of m from X-Priority (1-5),
// Importance (high/normal/low) or Priority (urgent/normal/non-urgent);
// PriorityNormal when none says.
func MessagePriority(m *Message) int {
	if v := strings.TrimSpace(m.Get("X-Priority")); v != "" && v[0] >= '1' && v[0] <= '5' {
		return int(v[0] - '0')
	}
	switch strings.ToLower(strings.TrimSpace(m.Get("Importance"))) {
	case "high":
		return PriorityHigh
	case "low":
		return PriorityLow
	}
	switch strings.ToLower(strings.TrimSpace(m.Get("Priority"))) {
	case "urgent":
		return PriorityHigh
	case "non-urgent":
		return PriorityLow
	}
	return PriorityNormal
}
