package rules

// The rule schema. The same structure is read from the config file
// ([[rules]] tables at server, domain and account level) and from TOML or
// JSON documents (the per-account rules stored in the database, `floe rules
// import|export`, the settings API). Keys are lowercase with underscores;
// see docs/rules.md for every key with an example.

// Settings is one scope's document: its rules in order, and for an account
// also its forwarder and responder.
type Settings struct {
	Rules     []Rule     `toml:"rules,omitempty" json:"rules,omitempty"`
	Forwarder *Forwarder `toml:"forwarder,omitempty" json:"forwarder,omitempty"`
	Responder *Responder `toml:"responder,omitempty" json:"responder,omitempty"`
}

// Rule is "where all conditions hold, do the actions".
type Rule struct {
	Title string `toml:"title,omitempty" json:"title,omitempty"`
	// Active defaults to true; an inactive rule is kept but never matches.
	Active *bool `toml:"active,omitempty" json:"active,omitempty"`
	// Scope, only for [[rules]] at the top level of the config file: ""
	// (the server), a domain name ("example.org") or an account address
	// ("john@example.org"). Rules inside a [[domain]] or [[account]] table
	// and rules stored for an account have no scope.
	Scope      string      `toml:"scope,omitempty" json:"scope,omitempty"`
	Conditions []Condition `toml:"conditions" json:"conditions"`
	Actions    []Action    `toml:"actions" json:"actions"`
}

// IsActive reports whether the rule is active (the default).
func (r *Rule) IsActive() bool { return r.Active == nil || *r.Active }

// Condition is one test of a rule. If names what is tested (the If*
// constants); Not negates the result. String conditions take exactly one
// of Contains, Regex, StartsWith, EndsWith, Equals or File, with the
// options MatchCase and WholeWord.
type Condition struct {
	If  string `toml:"if" json:"if"`
	Not bool   `toml:"not,omitempty" json:"not,omitempty"`

	// String tests. Contains, StartsWith, EndsWith and Equals take a
	// ";"-separated list (any item matches); Regex an RE2 expression; File
	// the path of a text file with one string per line (blank lines and
	// lines starting with "#" are ignored), read when the rule is compiled.
	Contains   string `toml:"contains,omitempty" json:"contains,omitempty"`
	Regex      string `toml:"regex,omitempty" json:"regex,omitempty"`
	StartsWith string `toml:"starts_with,omitempty" json:"starts_with,omitempty"`
	EndsWith   string `toml:"ends_with,omitempty" json:"ends_with,omitempty"`
	Equals     string `toml:"equals,omitempty" json:"equals,omitempty"`
	File       string `toml:"file,omitempty" json:"file,omitempty"`
	MatchCase  bool   `toml:"match_case,omitempty" json:"match_case,omitempty"`
	WholeWord  bool   `toml:"whole_word,omitempty" json:"whole_word,omitempty"`

	// Header names the header field of IfHeader.
	Header string `toml:"header,omitempty" json:"header,omitempty"`
	// Is is the priority of IfPriority: highest, high, normal, low, lowest.
	Is string `toml:"is,omitempty" json:"is,omitempty"`
	// Greater and Lower bound IfSize (in kB of 1024 bytes) and IfSpamScore.
	Greater *float64 `toml:"greater,omitempty" json:"greater,omitempty"`
	Lower   *float64 `toml:"lower,omitempty" json:"lower,omitempty"`

	// IfSenderIs / IfRecipientIs: Local true means the address's domain is
	// one of ours, false that it is not. Account "exists" or "missing"
	// (local addresses only) tests whether an account or alias takes the
	// address; MemberOfDomain and MemberOfGroup test membership.
	Local          *bool  `toml:"local,omitempty" json:"local,omitempty"`
	Account        string `toml:"account,omitempty" json:"account,omitempty"`
	MemberOfDomain string `toml:"member_of_domain,omitempty" json:"member_of_domain,omitempty"`
	MemberOfGroup  string `toml:"member_of_group,omitempty" json:"member_of_group,omitempty"`

	// IfLocalTime: any of Days ("mon".."sun"), Hours ("09:00-17:30", may
	// wrap past midnight), FromDate/ToDate ("2026-06-18", inclusive), in
	// Timezone (IANA name; the server's local time when empty).
	Days     []string `toml:"days,omitempty" json:"days,omitempty"`
	Hours    string   `toml:"hours,omitempty" json:"hours,omitempty"`
	FromDate string   `toml:"from_date,omitempty" json:"from_date,omitempty"`
	ToDate   string   `toml:"to_date,omitempty" json:"to_date,omitempty"`
	Timezone string   `toml:"timezone,omitempty" json:"timezone,omitempty"`
}

// Conditions (Condition.If), seed Appendix A.
const (
	IfFrom           = "from"            // From: header matches
	IfTo             = "to"              // To: header matches
	IfSubject        = "subject"         // Subject: header matches
	IfCc             = "cc"              // Cc: header matches
	IfReplyTo        = "reply_to"        // Reply-To: header matches
	IfDate           = "date"            // Date: header matches
	IfPriority       = "priority"        // message priority is
	IfSpam           = "spam"            // message is spam
	IfSpamScore      = "spam_score"      // spam score greater/lower
	IfSize           = "size"            // message size greater/lower (kB)
	IfBody           = "body"            // body (decoded text parts) matches
	IfHeader         = "header"          // custom header matches
	IfAnyHeader      = "any_header"      // any header matches
	IfAttachmentName = "attachment_name" // an attachment's name matches
	IfHasAttachment  = "has_attachment"  // message contains an attachment
	IfSender         = "sender"          // envelope sender matches
	IfRecipient      = "recipient"       // envelope recipient matches
	IfSenderIs       = "sender_is"       // sender is local/remote
	IfRecipientIs    = "recipient_is"    // recipient is local/remote
	IfIP             = "ip"              // sender's IP address matches
	IfRDNS           = "rdns"            // rDNS (PTR) matches
	IfTrustedIP      = "trusted_ip"      // sender's IP address is trusted
	IfSMTPAuth       = "smtp_auth"       // SMTP AUTH was used
	IfLocalTime      = "local_time"      // local time meets criteria
	IfAll            = "all"             // all messages
)

// Action is one thing a matching rule does. Do names it (the Do*
// constants); the other fields are its parameters. Texts may use the
// variables (%%Subject%% ...; see Expand).
type Action struct {
	Do string `toml:"do" json:"do"`

	// DoReject: the SMTP reply text (optional). DoSend: the message text.
	Text string `toml:"text,omitempty" json:"text,omitempty"`
	// DoSend: read the text from this file when the rule is compiled.
	TextFile string `toml:"text_file,omitempty" json:"text_file,omitempty"`
	// DoForward, DoSend: the address; DoSend also From and Subject.
	To      string `toml:"to,omitempty" json:"to,omitempty"`
	From    string `toml:"from,omitempty" json:"from,omitempty"`
	Subject string `toml:"subject,omitempty" json:"subject,omitempty"`
	// DoMove, DoCopy: the folder ("%%Extension%%" allowed).
	Folder string `toml:"folder,omitempty" json:"folder,omitempty"`
	// DoAddHeader, DoEditHeader, DoDeleteHeader: the field name; Value the
	// new value (not for delete).
	Header string `toml:"header,omitempty" json:"header,omitempty"`
	Value  string `toml:"value,omitempty" json:"value,omitempty"`
	// DoPriority: highest, high, normal, low, lowest.
	Priority string `toml:"priority,omitempty" json:"priority,omitempty"`
	// DoFlags: system flags (\Seen, \Flagged, \Answered, \Draft) and
	// keywords ($Label1, Important ...).
	Flags []string `toml:"flags,omitempty" json:"flags,omitempty"`
}

// Actions (Action.Do), seed Appendix B.
const (
	DoAccept       = "accept"        // deliver; process no more rules
	DoReject       = "reject"        // 550 on port 25, else a DSN
	DoDelete       = "delete"        // discard (logged)
	DoSpam         = "spam"          // mark as spam: file into Junk
	DoQuarantine   = "quarantine"    // hold for the administrator
	DoStop         = "stop"          // process no more rules
	DoForward      = "forward"       // forward to an address
	DoMove         = "move"          // file into a folder
	DoCopy         = "copy"          // file a copy into a folder
	DoSend         = "send"          // send a message
	DoAddHeader    = "add_header"    // add a header field
	DoEditHeader   = "edit_header"   // replace a header field (add if missing)
	DoDeleteHeader = "delete_header" // delete a header field
	DoPriority     = "priority"      // set the message priority
	DoFlags        = "flags"         // set flags and keywords
	DoEncrypt      = "encrypt"       // encrypt to the account's S/MIME certificate
)

// Forwarder sends every message on to other addresses (seed: Forwarder).
type Forwarder struct {
	// To is one or more addresses.
	To []string `toml:"to" json:"to"`
	// KeepCopy keeps the message in the mailbox too ("Leave a copy").
	KeepCopy bool `toml:"keep_copy,omitempty" json:"keep_copy,omitempty"`
}

// Responder answers incoming mail (seed: Responder).
type Responder struct {
	// Mode: "disabled", "always", "once" (once per sender) or
	// "again_after" (again after AgainAfterDays days).
	Mode           string `toml:"mode" json:"mode"`
	AgainAfterDays int    `toml:"again_after_days,omitempty" json:"again_after_days,omitempty"`
	// FromDate and ToDate ("2018-06-18", inclusive) limit when it answers.
	FromDate string `toml:"from_date,omitempty" json:"from_date,omitempty"`
	ToDate   string `toml:"to_date,omitempty" json:"to_date,omitempty"`
	// Timezone of the dates (IANA name; the server's when empty).
	Timezone string `toml:"timezone,omitempty" json:"timezone,omitempty"`
	// Exclude lists senders never answered: an address, an address with
	// its domain cut short ("brad@x1solar" matches brad@x1solar.com), or a
	// domain ("example.org" or "@example.org", subdomains included).
	Exclude []string `toml:"exclude,omitempty" json:"exclude,omitempty"`
	// From of the reply (the account's address when empty), Subject
	// ("Re: %%Subject%%" when empty) and Text, with variables.
	From    string `toml:"from,omitempty" json:"from,omitempty"`
	Subject string `toml:"subject,omitempty" json:"subject,omitempty"`
	Text    string `toml:"text" json:"text"`
}

// Responder modes.
const (
	ModeDisabled   = "disabled"
	ModeAlways     = "always"
	ModeOnce       = "once"
	ModeAgainAfter = "again_after"
)

// CloneRules returns a deep copy of rs.
func CloneRules(rs []Rule) []Rule {
	if rs == nil {
		return nil
	}
	out := make([]Rule, len(rs))
	for i, r := range rs {
		if r.Active != nil {
			a := *r.Active
			r.Active = &a
		}
		r.Conditions = cloneSlice(r.Conditions)
		for j := range r.Conditions {
			c := &r.Conditions[j]
			c.Greater, c.Lower, c.Local = clonePtr(c.Greater), clonePtr(c.Lower), clonePtr(c.Local)
			c.Days = cloneSlice(c.Days)
		}
		r.Actions = cloneSlice(r.Actions)
		for j := range r.Actions {
			r.Actions[j].Flags = cloneSlice(r.Actions[j].Flags)
		}
		out[i] = r
	}
	return out
}

// Clone returns a deep copy of f (nil for nil).
func (f *Forwarder) Clone() *Forwarder {
	if f == nil {
		return nil
	}
	n := *f
	n.To = cloneSlice(f.To)
	return &n
}

// Clone returns a deep copy of r (nil for nil).
func (r *Responder) Clone() *Responder {
	if r == nil {
		return nil
	}
	n := *r
	n.Exclude = cloneSlice(r.Exclude)
	return &n
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}
