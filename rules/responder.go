package rules

import (
	"net/mail"
	"slices"
	"strings"
	"time"
)

// respond decides whether the responder answers m (RFC 3834) and builds
// the reply; otherwise it says why not.
func respond(r *cresponder, m *Message, c *Context, v *lazyVars) (*Reply, string) {
	if why := NoAutoReply(m, c); why != "" {
		return nil, why
	}
	day := c.Now.In(c.loc())
	if r.loc != nil {
		day = c.Now.In(r.loc)
	}
	d := day.Format("2006-01-02")
	if r.from != "" && d < r.from || r.to != "" && d > r.to {
		return nil, "outside the responder's dates"
	}
	sender := strings.ToLower(c.MailFrom)
	for _, x := range r.exclude {
		if excluded(sender, x) {
			return nil, "sender is on the exclusion list"
		}
	}
	subject := r.Subject
	if subject == "" {
		subject = "Re: %%Subject%%"
	}
	rep := &Reply{
		To:      c.MailFrom,
		From:    r.From,
		Subject: v.expand(subject, true),
		Text:    v.expand(r.Text, false),
	}
	if rep.From == "" {
		rep.From = c.Account
	}
	// RFC 3834 3.1.5: In-Reply-To and References name the subject message.
	id, refs := m.MessageID, m.References
	if id == "" {
		id = firstMsgID(m.Get("Message-ID"))
		refs = msgIDs(m.Get("References"))
	}
	if id != "" {
		rep.InReplyTo = id
		rep.References = append(append([]string(nil), refs...), id)
		if len(rep.References) > 20 { // keep the first and the last ones
			rep.References = append(rep.References[:1:1], rep.References[len(rep.References)-19:]...)
		}
	}
	switch r.Mode {
	case ModeOnce:
		rep.Once = true
	case ModeAgainAfter:
		rep.Once = true
		rep.Since = c.Now.Add(-time.Duration(r.AgainAfterDays) * 24 * time.Hour)
	}
	return rep, ""
}

// excluded matches a sender against an exclusion entry: an address, an
// address whose domain is cut short ("brad@x1solar" for
// brad@x1solar.com), or a domain ("example.org", "@example.org";
// subdomains included).
func excluded(sender, x string) bool {
	if strings.Contains(x, "@") && !strings.HasPrefix(x, "@") {
		return sender == x || strings.HasPrefix(sender, x+".")
	}
	d := strings.TrimPrefix(x, "@")
	at := strings.LastIndexByte(sender, '@')
	if at < 0 {
		return false
	}
	sd := sender[at+1:]
	return sd == d || strings.HasSuffix(sd, "."+d) || strings.HasPrefix(sd, d+".")
}

// NoAutoReply applies RFC 3834 section 2 to m: it returns why an automatic
// reply must not be sent, or "" when one may be.
//
//   - a null envelope sender (bounces) or one from MAILER-DAEMON,
//     LISTSERV, majordomo, owner-*, *-request (RFC 3834 2, 3.1.1);
//   - Auto-Submitted other than "no" (RFC 3834 5);
//   - Precedence bulk, list or junk (RFC 3834 2);
//   - any List-* field (RFC 2369, 2919: list mail);
//   - To and Cc that name none of the account's addresses (RFC 3834 2).
func NoAutoReply(m *Message, c *Context) string {
	from := strings.ToLower(c.MailFrom)
	at := strings.LastIndexByte(from, '@')
	if from == "" || at <= 0 {
		return "null envelope sender"
	}
	local := from[:at]
	switch {
	case local == "mailer-daemon", local == "listserv", local == "majordomo",
		strings.HasPrefix(local, "owner-"), strings.HasSuffix(local, "-request"):
		return "sender " + local + "@ is a list or mailer address"
	}
	if v := m.Get("Auto-Submitted"); v != "" {
		kw, _, _ := strings.Cut(v, ";")
		if !strings.EqualFold(strings.TrimSpace(kw), "no") {
			return "Auto-Submitted: " + strings.TrimSpace(kw)
		}
	}
	switch strings.ToLower(strings.TrimSpace(m.Get("Precedence"))) {
	case "bulk", "list", "junk":
		return "Precedence: " + strings.ToLower(strings.TrimSpace(m.Get("Precedence")))
	}
	for _, f := range m.Fields() {
		if len(f.Name) > 5 && strings.EqualFold(f.Name[:5], "list-") {
			return f.Name + " present (list mail)"
		}
	}
	if !addressedTo(m, c) {
		return "To and Cc do not name the account"
	}
	return ""
}

// addressedTo reports whether To or Cc name the recipient or one of the
// account's addresses (a "+tag" in the header's address counts too). The
// fields are parsed as address lists (RFC 5322 3.4), so an address that
// only appears in a display name ("mike@example.org" <other@example.net>)
// does not count; a field that does not parse is searched as text.
func addressedTo(m *Message, c *Context) bool {
	var mine []string
	for _, a := range append([]string{c.Recipient, c.Account}, c.AccountAddresses...) {
		if a != "" {
			mine = append(mine, stripTags(strings.ToLower(a)))
		}
	}
	for _, f := range m.Fields() {
		if !strings.EqualFold(f.Name, "to") && !strings.EqualFold(f.Name, "cc") {
			continue
		}
		list, err := mail.ParseAddressList(f.Value)
		if err != nil {
			h := stripTags(strings.ToLower(m.decode(f.Value)))
			for _, a := range mine {
				if containsAddress(h, a) {
					return true
				}
			}
			continue
		}
		for _, addr := range list {
			if slices.Contains(mine, stripTags(strings.ToLower(addr.Address))) {
				return true
			}
		}
	}
	return false
}

// stripTags removes "+tag" from every local part in s.
func stripTags(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '+')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexAny(s[i:], "@ <>,;\"")
		if j < 0 || s[i+j] != '@' {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		s = s[i+j:]
	}
}

// containsAddress finds addr in h with no address character on either
// side.
func containsAddress(h, addr string) bool {
	for off := 0; off < len(h); {
		i := strings.Index(h[off:], addr)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(addr)
		if (i == 0 || !isAddrChar(h[i-1])) && (end == len(h) || !isAddrChar(h[end]) || h[end] == '.' && (end+1 == len(h) || !isAddrChar(h[end+1]))) {
			return true
		}
		off = i + 1
	}
	return false
}

func isAddrChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80 || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.@", c) >= 0
}

// msgIDs extracts the <...> message IDs of a header value, at most 100.
func msgIDs(v string) []string {
	var out []string
	for len(out) < 100 {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		if id := v[i : i+j+1]; len(id) > 2 && !strings.ContainsAny(id, " \t") {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
	return out
}

func firstMsgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}
