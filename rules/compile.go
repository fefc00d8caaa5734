package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Options control Compile.
type Options struct {
	// BaseDir resolves relative paths of list files and text files (the
	// config file's directory).
	BaseDir string
	// AllowFiles permits conditions with "file" and send actions with
	// "text_file" (documents from the administrator). Documents from
	// users (the settings API) must be compiled without it: they could
	// otherwise read any file the server can.
	AllowFiles bool
	// AccountDocument: the document is one account's (stored in the
	// database by the CLI or the settings API), where "scope" means
	// nothing and is refused.
	AccountDocument bool
}

func (o *Options) path(p string) string {
	if filepath.IsAbs(p) || o.BaseDir == "" {
		return p
	}
	return filepath.Join(o.BaseDir, p)
}

// Program is a compiled Settings: every string test built, every regex
// compiled, every file read, every value checked. It is immutable and
// safe for concurrent use; compile once when rules are loaded or changed.
type Program struct {
	rules     []crule
	forwarder *Forwarder
	responder *cresponder
}

// Rules returns how many rules the program holds.
func (p *Program) Rules() int {
	if p == nil {
		return 0
	}
	return len(p.rules)
}

// Uses reports whether an active rule of p has a condition of kind (an
// If* constant), so that a caller fetches costly inputs (rDNS) only when
// needed.
func (p *Program) Uses(kind string) bool {
	if p == nil {
		return false
	}
	for _, r := range p.rules {
		if !r.active {
			continue
		}
		for _, c := range r.conds {
			if c.kind == kind {
				return true
			}
		}
	}
	return false
}

// HasResponder and HasForwarder report whether p has an enabled responder
// or a forwarder.
func (p *Program) HasResponder() bool {
	return p != nil && p.responder != nil && p.responder.Mode != ModeDisabled
}

// HasForwarder reports whether p has a forwarder.
func (p *Program) HasForwarder() bool { return p != nil && p.forwarder != nil }

type crule struct {
	title   string
	active  bool
	conds   []ccond
	actions []Action
}

type ccond struct {
	kind   string // an If* constant
	not    bool
	m      *matcher
	header string // IfHeader: lowercase name
	prio   int
	gt, lt *float64
	// sender_is / recipient_is
	local    bool
	account  string
	domain   string
	group    string
	timeCond *timeCond
}

type timeCond struct {
	days             [7]bool
	anyDay           bool
	hours            bool
	fromMin, toMin   int
	fromDate, toDate string // "2006-01-02", "" = open
	loc              *time.Location
}

type cresponder struct {
	Responder
	from, to string // dates, "" = open
	loc      *time.Location
	exclude  []string
}

// Compile checks s and builds its Program. Every problem is reported with
// its key path and line (from src); the error is then an *Errors.
func Compile(s *Settings, src Source, o Options) (*Program, error) {
	e := &errs{src: src}
	p := &Program{}
	if s == nil {
		return p, nil
	}
	for i := range s.Rules {
		path := "rules[" + strconv.Itoa(i) + "]"
		if r, ok := compileRule(e, path, &s.Rules[i], &o); ok {
			p.rules = append(p.rules, r)
		}
	}
	if s.Forwarder != nil {
		p.forwarder = compileForwarder(e, s.Forwarder)
	}
	if s.Responder != nil {
		p.responder = compileResponder(e, s.Responder)
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// Load parses a TOML or JSON document (see Parse) and compiles it.
func Load(name string, data []byte, o Options) (*Settings, *Program, error) {
	s, src, err := Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	p, err := Compile(s, src, o)
	if err != nil {
		return nil, nil, err
	}
	return s, p, nil
}

func compileRule(e *errs, path string, r *Rule, o *Options) (crule, bool) {
	n := len(e.list)
	c := crule{title: r.Title, active: r.IsActive()}
	if len(r.Title) > 200 || strings.ContainsAny(r.Title, "\r\n") {
		e.add(path+".title", "title must be one line of at most 200 bytes")
	}
	if r.Scope != "" && strings.ContainsAny(r.Scope, " \t\r\n") {
		e.add(path+".scope", "scope must be a domain or an address")
	}
	if r.Scope != "" && o.AccountDocument {
		e.add(path+".scope", "scope belongs to [[rules]] in the config file; an account's own rules apply to its mail only")
	}
	if len(r.Conditions) == 0 {
		e.add(path+".conditions", `a rule needs at least one condition (use { if = "all" } for every message)`)
	}
	if len(r.Actions) == 0 {
		e.add(path+".actions", "a rule needs at least one action")
	}
	for i := range r.Conditions {
		p := path + ".conditions[" + strconv.Itoa(i) + "]"
		if cc, ok := compileCond(e, p, &r.Conditions[i], o); ok {
			c.conds = append(c.conds, cc)
		}
	}
	for i := range r.Actions {
		p := path + ".actions[" + strconv.Itoa(i) + "]"
		if a, ok := compileAction(e, p, r.Actions[i], o); ok {
			c.actions = append(c.actions, a)
		}
	}
	return c, len(e.list) == n
}

// stringConds are the conditions that take a string test.
var stringConds = map[string]bool{
	IfFrom: true, IfTo: true, IfSubject: true, IfCc: true, IfReplyTo: true, IfDate: true,
	IfBody: true, IfHeader: true, IfAnyHeader: true, IfAttachmentName: true,
	IfSender: true, IfRecipient: true, IfIP: true, IfRDNS: true,
}

var allConds = []string{IfFrom, IfTo, IfSubject, IfCc, IfReplyTo, IfDate, IfPriority, IfSpam,
	IfSpamScore, IfSize, IfBody, IfHeader, IfAnyHeader, IfAttachmentName, IfHasAttachment,
	IfSender, IfRecipient, IfSenderIs, IfRecipientIs, IfIP, IfRDNS, IfTrustedIP, IfSMTPAuth,
	IfLocalTime, IfAll}

func hasStringTest(c *Condition) bool {
	return c.Contains != "" || c.Regex != "" || c.StartsWith != "" || c.EndsWith != "" || c.Equals != "" || c.File != ""
}

func compileCond(e *errs, path string, c *Condition, o *Options) (ccond, bool) {
	n := len(e.list)
	cc := ccond{kind: c.If, not: c.Not}
	known := false
	for _, k := range allConds {
		if k == c.If {
			known = true
		}
	}
	if !known {
		reason := fmt.Sprintf("unknown condition %q (one of %s)", c.If, strings.Join(allConds, ", "))
		if c.If == "" {
			reason = `missing "if": which condition (e.g. if = "from")`
		}
		e.add(path+".if", reason)
		return cc, false
	}
	if stringConds[c.If] {
		m, key, err := compileMatcher(c, o)
		if err != nil {
			if key == "" {
				e.add(path, err.Error())
			} else {
				e.add(path+"."+key, err.Error())
			}
		}
		cc.m = m
	} else if hasStringTest(c) || c.MatchCase || c.WholeWord {
		e.add(path, fmt.Sprintf("condition %q takes no string test", c.If))
	}
	if c.Header != "" && c.If != IfHeader {
		e.add(path+".header", `"header" belongs to if = "header"`)
	}
	if c.Is != "" && c.If != IfPriority {
		e.add(path+".is", `"is" belongs to if = "priority"`)
	}
	if (c.Greater != nil || c.Lower != nil) && c.If != IfSize && c.If != IfSpamScore {
		e.add(path, `"greater" and "lower" belong to if = "size" or "spam_score"`)
	}
	if (c.Local != nil || c.Account != "" || c.MemberOfDomain != "" || c.MemberOfGroup != "") && c.If != IfSenderIs && c.If != IfRecipientIs {
		e.add(path, `"local", "account" and "member_of_*" belong to if = "sender_is" or "recipient_is"`)
	}
	if (len(c.Days) > 0 || c.Hours != "" || c.FromDate != "" || c.ToDate != "" || c.Timezone != "") && c.If != IfLocalTime {
		e.add(path, `"days", "hours", "from_date", "to_date" and "timezone" belong to if = "local_time"`)
	}
	switch c.If {
	case IfHeader:
		h := strings.TrimSuffix(strings.TrimSpace(c.Header), ":")
		if !validFieldName(h) {
			e.add(path+".header", "needs the header field name, e.g. header = \"X-Mailer\"")
		}
		cc.header = strings.ToLower(h)
	case IfPriority:
		pr, ok := priorities[strings.ToLower(c.Is)]
		if !ok {
			e.add(path+".is", "priority must be one of highest, high, normal, low, lowest")
		}
		cc.prio = pr
	case IfSize, IfSpamScore:
		if c.Greater == nil && c.Lower == nil {
			e.add(path, `needs "greater" or "lower" (or both)`)
		}
		if c.If == IfSize && (c.Greater != nil && *c.Greater < 0 || c.Lower != nil && *c.Lower < 0) {
			e.add(path, "a size cannot be negative")
		}
		cc.gt, cc.lt = c.Greater, c.Lower
	case IfSenderIs, IfRecipientIs:
		if c.Local == nil {
			e.add(path+".local", "needs local = true (local) or local = false (remote)")
		} else {
			cc.local = *c.Local
		}
		switch c.Account {
		case "", "ignore":
		case "exists", "missing":
			cc.account = c.Account
		default:
			e.add(path+".account", `account must be "exists", "missing" or "ignore"`)
		}
		if (c.Account != "" || c.MemberOfDomain != "" || c.MemberOfGroup != "") && c.Local != nil && !*c.Local {
			e.add(path, `"account" and "member_of_*" apply to local addresses only`)
		}
		cc.domain = strings.ToLower(strings.TrimPrefix(c.MemberOfDomain, "@"))
		cc.group = c.MemberOfGroup
	case IfLocalTime:
		tc, ok := compileTime(e, path, c)
		if ok {
			cc.timeCond = tc
		}
	}
	return cc, len(e.list) == n
}

var dayNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}

func compileTime(e *errs, path string, c *Condition) (*timeCond, bool) {
	n := len(e.list)
	tc := &timeCond{loc: nil}
	if len(c.Days) == 0 && c.Hours == "" && c.FromDate == "" && c.ToDate == "" {
		e.add(path, `needs "days", "hours", "from_date" or "to_date"`)
	}
	for i, d := range c.Days {
		k, ok := dayNames[strings.ToLower(strings.TrimSpace(d))]
		if !ok {
			e.add(path+".days["+strconv.Itoa(i)+"]", "day must be one of mon, tue, wed, thu, fri, sat, sun")
			continue
		}
		tc.days[k], tc.anyDay = true, true
	}
	if c.Hours != "" {
		a, b, ok := strings.Cut(c.Hours, "-")
		f, ok1 := parseClock(a)
		t, ok2 := parseClock(b)
		if !ok || !ok1 || !ok2 {
			e.add(path+".hours", `hours must be "HH:MM-HH:MM", e.g. "09:00-17:30"`)
		}
		tc.hours, tc.fromMin, tc.toMin = true, f, t
	}
	var err error
	if tc.fromDate, err = checkDate(c.FromDate); err != nil {
		e.add(path+".from_date", err.Error())
	}
	if tc.toDate, err = checkDate(c.ToDate); err != nil {
		e.add(path+".to_date", err.Error())
	}
	if tc.fromDate != "" && tc.toDate != "" && tc.fromDate > tc.toDate {
		e.add(path+".to_date", "to_date is before from_date")
	}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil || strings.HasPrefix(c.Timezone, "/") || strings.Contains(c.Timezone, "..") {
			e.add(path+".timezone", fmt.Sprintf("unknown time zone %q", c.Timezone))
		}
		tc.loc = loc
	}
	return tc, len(e.list) == n
}

// parseClock parses "HH:MM" (00:00 to 24:00) into minutes.
func parseClock(s string) (int, bool) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, false
	}
	return hh*60 + mm, true
}

// checkDate validates "YYYY-MM-DD" (or "YYYY/MM/DD" as the seed writes)
// and returns it in the first form.
func checkDate(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	s = strings.ReplaceAll(strings.TrimSpace(s), "/", "-")
	if _, err := time.Parse("2006-01-02", s); err != nil {
		return "", fmt.Errorf(`date must be "YYYY-MM-DD", e.g. "2018-06-18"`)
	}
	return s, nil
}

// validFieldName reports whether s is a header field name (RFC 5322 2.2:
// printable US-ASCII except ":").
func validFieldName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			return false
		}
	}
	return true
}

// protectedFields are header fields rules may not add, edit or delete:
// they carry the MIME structure (changing them would corrupt the body)
// or the trace of the message.
var protectedFields = map[string]bool{
	"content-type": true, "content-transfer-encoding": true, "mime-version": true,
	"received": true, "return-path": true, HopHeaderLower: true,
}

var allActions = []string{DoAccept, DoReject, DoDelete, DoSpam, DoQuarantine, DoStop, DoForward,
	DoMove, DoCopy, DoSend, DoAddHeader, DoEditHeader, DoDeleteHeader, DoPriority, DoFlags, DoEncrypt}

// paramsOf lists which parameters each action takes.
var paramsOf = map[string][]string{
	DoReject: {"text"}, DoForward: {"to"}, DoMove: {"folder"}, DoCopy: {"folder"},
	DoSend:      {"to", "from", "subject", "text", "text_file"},
	DoAddHeader: {"header", "value"}, DoEditHeader: {"header", "value"}, DoDeleteHeader: {"header"},
	DoPriority: {"priority"}, DoFlags: {"flags"},
}

func compileAction(e *errs, path string, a Action, o *Options) (Action, bool) {
	n := len(e.list)
	known := false
	for _, k := range allActions {
		if k == a.Do {
			known = true
		}
	}
	if !known {
		reason := fmt.Sprintf("unknown action %q (one of %s)", a.Do, strings.Join(allActions, ", "))
		if a.Do == "" {
			reason = `missing "do": which action (e.g. do = "move")`
		}
		e.add(path+".do", reason)
		return a, false
	}
	given := map[string]bool{"text": a.Text != "", "text_file": a.TextFile != "", "to": a.To != "",
		"from": a.From != "", "subject": a.Subject != "", "folder": a.Folder != "", "header": a.Header != "",
		"value": a.Value != "", "priority": a.Priority != "", "flags": len(a.Flags) > 0}
	allowed := map[string]bool{}
	for _, k := range paramsOf[a.Do] {
		allowed[k] = true
	}
	for _, k := range []string{"text", "text_file", "to", "from", "subject", "folder", "header", "value", "priority", "flags"} {
		if given[k] && !allowed[k] {
			e.add(path+"."+k, fmt.Sprintf("action %q takes no %q", a.Do, k))
		}
	}
	switch a.Do {
	case DoReject:
		if strings.ContainsAny(a.Text, "\r\n") || len(a.Text) > 200 {
			e.add(path+".text", "the reject text must be one line of at most 200 bytes")
		}
	case DoForward:
		if err := checkForwardAddress(a.To); err != nil {
			e.add(path+".to", err.Error())
		}
	case DoMove, DoCopy:
		if err := checkFolder(a.Folder); err != nil {
			e.add(path+".folder", err.Error())
		}
	case DoSend:
		if a.To == "" {
			e.add(path+".to", `needs "to" (an address or %%Sender%%)`)
		} else if strings.ContainsAny(a.To, "\r\n,;") {
			e.add(path+".to", "one address")
		}
		if strings.ContainsAny(a.From, "\r\n") || strings.ContainsAny(a.Subject, "\r\n") {
			e.add(path, "from and subject must be one line")
		}
		switch {
		case a.Text != "" && a.TextFile != "":
			e.add(path+".text_file", `give "text" or "text_file", not both`)
		case a.TextFile != "":
			if !o.AllowFiles {
				e.add(path+".text_file", "text files are not allowed here")
				break
			}
			data, err := readTextFile(o.path(a.TextFile))
			if err != nil {
				e.add(path+".text_file", err.Error())
			}
			a.Text, a.TextFile = data, ""
		case a.Text == "":
			e.add(path+".text", `needs "text" or "text_file"`)
		}
	case DoAddHeader, DoEditHeader, DoDeleteHeader:
		h := strings.TrimSuffix(strings.TrimSpace(a.Header), ":")
		switch {
		case !validFieldName(h):
			e.add(path+".header", `needs the header field name, e.g. header = "X-Project"`)
		case protectedFields[strings.ToLower(h)]:
			e.add(path+".header", fmt.Sprintf("the %s field cannot be changed by rules", h))
		}
		a.Header = h
		if a.Do != DoDeleteHeader && a.Value == "" {
			e.add(path+".value", `needs "value"`)
		}
		if strings.ContainsAny(a.Value, "\r\n") {
			e.add(path+".value", "the value must be one line")
		}
	case DoPriority:
		if _, ok := priorities[strings.ToLower(a.Priority)]; !ok {
			e.add(path+".priority", "priority must be one of highest, high, normal, low, lowest")
		}
		a.Priority = strings.ToLower(a.Priority)
	case DoFlags:
		if len(a.Flags) == 0 {
			e.add(path+".flags", `needs "flags", e.g. ["\\Flagged", "$Important"]`)
		}
		for i, f := range a.Flags {
			if err := checkFlag(f); err != nil {
				e.add(path+".flags["+strconv.Itoa(i)+"]", err.Error())
			}
		}
	}
	return a, len(e.list) == n
}

func readTextFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("cannot read text file: %v", unwrapPath(err))
	}
	if fi.Size() > MaxString {
		return "", fmt.Errorf("text file is larger than %d bytes", MaxString)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read text file: %v", unwrapPath(err))
	}
	return string(data), nil
}

// checkForwardAddress accepts one plain address. The seed's sms: and
// xmpp: targets are refused: Floe sends no SMS and speaks no XMPP.
func checkForwardAddress(to string) error {
	lt := strings.ToLower(to)
	switch {
	case to == "":
		return fmt.Errorf(`needs "to", the address to forward to`)
	case strings.HasPrefix(lt, "sms:"), strings.HasPrefix(lt, "xmpp:"):
		return fmt.Errorf("forwarding to %s targets is not supported (only email addresses)", lt[:strings.IndexByte(lt, ':')])
	case !isAddress(to):
		return fmt.Errorf("%q is not an email address", to)
	}
	return nil
}

// isAddress is a plausibility check of local@domain.
func isAddress(a string) bool {
	i := strings.LastIndexByte(a, '@')
	if i <= 0 || i == len(a)-1 || len(a) > 254 {
		return false
	}
	if strings.ContainsAny(a, " \t\r\n<>,;:\"()[]\\") {
		return false
	}
	d := a[i+1:]
	return !strings.HasPrefix(d, ".") && !strings.HasSuffix(d, ".") && !strings.Contains(d, "..")
}

func checkFolder(f string) error {
	switch {
	case strings.TrimSpace(f) == "":
		return fmt.Errorf(`needs "folder"`)
	case len(f) > 1000 || strings.ContainsAny(f, "\r\n\x00*"):
		return fmt.Errorf("invalid folder name")
	case strings.HasPrefix(f, "/") || strings.HasSuffix(f, "/") || strings.Contains(f, "//"):
		return fmt.Errorf(`invalid folder name (levels are separated by single "/")`)
	case ForeignFolder(f):
		return fmt.Errorf("%q: names starting with ~ or # are other accounts' and public folders (~owner@domain/..., #public/...); a rule files into the account's own folders", f)
	case strings.Contains(f, "%%"):
		// Variables: the expanded name is made safe when the rule runs
		// (FolderName; a ~ or # first level then files into INBOX).
	case strings.Contains(f, "%"):
		return fmt.Errorf(`invalid folder name ("%%" is an IMAP wildcard)`)
	case FolderName(f) != f:
		return fmt.Errorf(`invalid folder name (no "." or ".." levels, no spaces around "/", at most %d levels of %d bytes)`, MaxFolderLevels, maxFolderLevel)
	}
	return nil
}

// ForeignFolder reports whether a folder name (after variables are
// expanded) names no folder of the recipient's own tree: a name starting
// with "~" (another account's folders, "~owner@domain/Path") or "#" (the
// shared namespace, "#public/Path"). IMAP reserves both prefixes (CREATE
// refuses them), so a rule must not file into, or create, such a folder in
// the recipient's tree, where it would shadow the real one; delivery files
// the message into INBOX instead.
func ForeignFolder(name string) bool {
	name = strings.TrimSpace(name)
	return strings.HasPrefix(name, "~") || strings.HasPrefix(name, "#")
}

var systemFlags = map[string]bool{`\seen`: true, `\answered`: true, `\flagged`: true, `\draft`: true, `\deleted`: true}

// checkFlag accepts a system flag or an IMAP keyword (an atom).
func checkFlag(f string) error {
	if strings.HasPrefix(f, `\`) {
		if !systemFlags[strings.ToLower(f)] {
			return fmt.Errorf(`%q: system flags are \Seen, \Answered, \Flagged, \Draft and \Deleted`, f)
		}
		return nil
	}
	if f == "" || len(f) > 100 {
		return fmt.Errorf("invalid keyword")
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return fmt.Errorf("%q is not a valid keyword (RFC 9051 atom)", f)
		}
	}
	return nil
}

func compileForwarder(e *errs, f *Forwarder) *Forwarder {
	if len(f.To) == 0 {
		e.add("forwarder.to", "needs at least one address")
	}
	if len(f.To) > 100 {
		e.add("forwarder.to", "more than 100 addresses")
	}
	out := &Forwarder{KeepCopy: f.KeepCopy}
	for i, to := range f.To {
		to = strings.TrimSpace(to)
		if err := checkForwardAddress(to); err != nil {
			e.add("forwarder.to["+strconv.Itoa(i)+"]", err.Error())
		}
		out.To = append(out.To, to)
	}
	return out
}

func compileResponder(e *errs, r *Responder) *cresponder {
	c := &cresponder{Responder: *r}
	switch r.Mode {
	case ModeDisabled, ModeAlways, ModeOnce:
		if r.AgainAfterDays != 0 {
			e.add("responder.again_after_days", `belongs to mode = "again_after"`)
		}
	case ModeAgainAfter:
		if r.AgainAfterDays <= 0 || r.AgainAfterDays > 3650 {
			e.add("responder.again_after_days", "needs a number of days from 1 to 3650")
		}
	default:
		e.add("responder.mode", `mode must be "disabled", "always", "once" or "again_after"`)
	}
	var err error
	if c.from, err = checkDate(r.FromDate); err != nil {
		e.add("responder.from_date", err.Error())
	}
	if c.to, err = checkDate(r.ToDate); err != nil {
		e.add("responder.to_date", err.Error())
	}
	if c.from != "" && c.to != "" && c.from > c.to {
		e.add("responder.to_date", "to_date is before from_date")
	}
	if r.Timezone != "" {
		loc, err := time.LoadLocation(r.Timezone)
		if err != nil || strings.HasPrefix(r.Timezone, "/") {
			e.add("responder.timezone", fmt.Sprintf("unknown time zone %q", r.Timezone))
		}
		c.loc = loc
	}
	for i, x := range r.Exclude {
		x = strings.ToLower(strings.TrimSpace(x))
		if x == "" || strings.ContainsAny(x, " \t\r\n") {
			e.add("responder.exclude["+strconv.Itoa(i)+"]", "an address or a domain")
			continue
		}
		c.exclude = append(c.exclude, x)
	}
	if r.Mode != ModeDisabled && strings.TrimSpace(r.Text) == "" {
		e.add("responder.text", "needs the text of the reply")
	}
	if strings.ContainsAny(r.From, "\r\n") || strings.ContainsAny(r.Subject, "\r\n") {
		e.add("responder", "from and subject must be one line")
	}
	if r.From != "" && !isAddress(r.From) {
		e.add("responder.from", fmt.Sprintf("%q is not an email address", r.From))
	}
	return c
}
