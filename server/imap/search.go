package imap

// Evaluation of SEARCH criteria (RFC 9051 6.4.4, RFC 3501 6.4.4) over the
// selected view. The criteria are go-imap's imap.SearchCriteria, produced by
// the parser in cmd_search.go; this file knows nothing about the wire.
//
// Matching rules:
//   - Header criteria (FROM, TO, CC, BCC, SUBJECT, HEADER) are evaluated here:
//     case-insensitive substring matching over the field values of the
//     stored raw header, unfolded and RFC 2047-decoded (as Dovecot does;
//     "FROM alice@example" matches "From: Alice <alice@example.org>").
//     An empty string matches every message having the field.
//   - TEXT and BODY use the full-text index (store.SearchText): the whole
//     string is matched as a substring, case- and diacritic-insensitively
//     ("bar" finds "Foobar"; "body 2 x" finds only that phrase), as RFC
//     9051 6.4.4 asks, answered from the trigram index.
//   - BEFORE/ON/SINCE compare the date of the internal date and
//     SENTBEFORE/SENTON/SENTSINCE the date of the Date header, each in the
//     message's own time zone (RFC 9051 6.4.4); a message without a usable
//     Date header uses its internal date (as RFC 5256 2.2 does for SORT).
//   - RECENT, NEW and OLD use the session's \Recent messages (recent.go);
//     a view without that notion (tests) has none.
//
// The evaluation makes at most one store.Messages call, loading only the
// Fields the criteria need, plus one store.SearchText call per distinct
// TEXT/BODY string; criteria that need nothing beyond UIDs, sequence numbers
// and the text index are answered without loading messages at all.

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// searchView is what evaluation needs from the selected view: sequence
// numbers map 1:1 to UIDs in ascending order.
type searchView interface {
	Count() uint32
	UIDAt(seq uint32) storage.UID
	SeqOf(uid storage.UID) (uint32, bool)
}

// searchHit is one matching message.
type searchHit struct {
	Seq uint32
	Msg storage.Message
}

// ftsKey identifies one full-text lookup: field "" (TEXT) or "body" (BODY).
type ftsKey struct{ field, value string }

// matcher evaluates criteria against messages of one view.
type matcher struct {
	maxSeq    uint32
	maxUID    storage.UID
	searchRes []storage.UID // sorted: the saved result ($, RFC 5182)
	text      map[ftsKey][]storage.UID
	// lowered caches lower-cased needles.
	lowered map[string]string
	// recent reports \Recent (nil: no message is recent).
	recent func(storage.UID) bool
}

// recentView is a searchView that knows which messages are \Recent.
type recentView interface {
	IsRecent(uid storage.UID) bool
}

// flagMatch reports whether msg has flag f; \Recent is the session's.
func (m *matcher) flagMatch(msg *storage.Message, f string) bool {
	if strings.EqualFold(f, `\Recent`) {
		return m.recent != nil && m.recent(msg.UID)
	}
	return hasFlag(msg.Flags, f)
}

// searchNeeds reports which storage fields the criteria need and whether
// any criterion needs per-message metadata at all (flags, dates, sizes,
// modseq, headers).
func searchNeeds(c *imap.SearchCriteria) (f storage.Fields, meta bool) {
	if !c.Since.IsZero() || !c.Before.IsZero() || c.Larger != 0 || c.Smaller != 0 ||
		len(c.Flag) > 0 || len(c.NotFlag) > 0 || c.ModSeq != nil {
		meta = true
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		f |= storage.FieldEnvelope
		meta = true
	}
	if len(c.Header) > 0 {
		// All header criteria read the stored raw header: scanning it is
		// several times cheaper than decoding the JSON envelope.
		f |= storage.FieldHeader
		meta = true
	}
	for i := range c.Not {
		sf, sm := searchNeeds(&c.Not[i])
		f |= sf
		meta = meta || sm
	}
	for i := range c.Or {
		for j := range 2 {
			sf, sm := searchNeeds(&c.Or[i][j])
			f |= sf
			meta = meta || sm
		}
	}
	return f, meta
}

// searchUsesModSeq reports whether a MODSEQ criterion appears anywhere.
func searchUsesModSeq(c *imap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if searchUsesModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if searchUsesModSeq(&c.Or[i][0]) || searchUsesModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// ftsKeys collects the distinct full-text lookups of the criteria.
func ftsKeys(c *imap.SearchCriteria, into map[ftsKey][]storage.UID) {
	for _, s := range c.Text {
		into[ftsKey{"", s}] = nil
	}
	for _, s := range c.Body {
		into[ftsKey{"body", s}] = nil
	}
	for i := range c.Not {
		ftsKeys(&c.Not[i], into)
	}
	for i := range c.Or {
		ftsKeys(&c.Or[i][0], into)
		ftsKeys(&c.Or[i][1], into)
	}
}

// envelopeHeader reports whether a header criterion is answered from the
// envelope.
func envelopeHeader(key string) bool {
	switch strings.ToLower(key) {
	case "from", "to", "cc", "bcc", "subject":
		return true
	}
	return false
}

// topUIDRanges turns the top-level UID criteria into storage ranges to
// narrow the store query (nil: no narrowing).
func topUIDRanges(c *imap.SearchCriteria, maxUID storage.UID) storage.UIDSet {
	if len(c.UID) != 1 || imap.IsSearchRes(c.UID[0]) || len(c.UID[0]) > 64 {
		return nil
	}
	var out storage.UIDSet
	for _, r := range c.UID[0] {
		a, b := storage.UID(r.Start), storage.UID(r.Stop)
		if a == 0 {
			a = maxUID
		}
		if b == 0 {
			b = maxUID
		}
		if a > b {
			a, b = b, a
		}
		if b == 0 {
			// Empty mailbox: "*" is nothing; keep a range that matches none.
			a, b = 1, 1
		}
		out = append(out, storage.UIDRange{Start: a, Stop: b})
	}
	return out
}

// runSearch evaluates c over the view of mailbox mbox and returns the hits
// in sequence order. load asks for the messages' metadata plus the extra
// fields (SORT, THREAD); without load, when the criteria need no metadata,
// only UID and sequence number are filled.
// messageSource is what a search reads: the user's view of the store
// (storage/view: the user's \Seen, and the rights checked).
type messageSource interface {
	Messages(ctx context.Context, mbox storage.MailboxID, q storage.Query) ([]storage.Message, error)
	SearchText(ctx context.Context, mbox storage.MailboxID, field, query string) ([]storage.UID, error)
}

func runSearch(ctx context.Context, st messageSource, mbox storage.MailboxID, view searchView,
	c *imap.SearchCriteria, searchRes []storage.UID, load bool, extra storage.Fields) ([]searchHit, error) {
	hits, _, err := runSearchGone(ctx, st, mbox, view, c, searchRes, load, extra)
	return hits, err
}

// runSearchGone is runSearch that also reports whether messages of the
// view were missing from the store when it was read (expunged by another
// session, not yet reported to this one): they cannot be evaluated, and
// the command should say so with EXPUNGEISSUED (RFC 9051 7.1). It is exact
// when the store was read; when only the text index was asked (no
// metadata), gone is false and the caller relies on the change stream.
func runSearchGone(ctx context.Context, st messageSource, mbox storage.MailboxID, view searchView,
	c *imap.SearchCriteria, searchRes []storage.UID, load bool, extra storage.Fields) (hits []searchHit, gone bool, err error) {
	n := view.Count()
	if n == 0 {
		return nil, false, nil
	}
	m := &matcher{
		maxSeq:    n,
		maxUID:    view.UIDAt(n),
		searchRes: slices.Clone(searchRes),
		text:      make(map[ftsKey][]storage.UID),
	}
	if rv, ok := view.(recentView); ok {
		m.recent = rv.IsRecent
	}
	slices.Sort(m.searchRes)
	ftsKeys(c, m.text)
	for k := range m.text {
		uids, err := st.SearchText(ctx, mbox, k.field, k.value)
		if err != nil {
			return nil, false, err
		}
		slices.Sort(uids)
		m.text[k] = uids
	}
	fields, meta := searchNeeds(c)
	fields |= extra
	if !meta && !load {
		// Only UIDs, sequence numbers and the text index: no store read.
		for seq := uint32(1); seq <= n; seq++ {
			msg := storage.Message{Mailbox: mbox, UID: view.UIDAt(seq)}
			if m.match(c, seq, &msg) {
				hits = append(hits, searchHit{Seq: seq, Msg: msg})
			}
		}
		return hits, false, nil
	}
	ranges := topUIDRanges(c, m.maxUID)
	msgs, err := st.Messages(ctx, mbox, storage.Query{UIDs: ranges, Fields: fields})
	if err != nil {
		return nil, false, err
	}
	read := 0 // messages of the view the store returned
	for i := range msgs {
		seq, ok := view.SeqOf(msgs[i].UID)
		if !ok {
			continue // not yet announced to this session
		}
		read++
		if m.match(c, seq, &msgs[i]) {
			hits = append(hits, searchHit{Seq: seq, Msg: msgs[i]})
		}
	}
	// The view's messages the query covered, against those it returned.
	want := int(n)
	if ranges != nil {
		want = 0
		for seq := uint32(1); seq <= n; seq++ {
			if ranges.Contains(view.UIDAt(seq)) {
				want++
			}
		}
	}
	slices.SortFunc(hits, func(a, b searchHit) int { return int(a.Seq) - int(b.Seq) })
	return hits, read < want, nil
}

// inSorted reports whether uid is in the sorted slice s.
func inSorted(s []storage.UID, uid storage.UID) bool {
	_, ok := slices.BinarySearch(s, uid)
	return ok
}

// inRanges reports whether n is in the set of ranges, "*" (0) standing for
// max (RFC 9051 9: "n:*" and "*:n" both cover n..max, and "*" with an empty
// mailbox is nothing).
func inRanges[R imap.SeqRange | imap.UIDRange](rs []R, n, max uint32) bool {
	for _, r := range rs {
		var a, b uint32
		switch v := any(r).(type) {
		case imap.SeqRange:
			a, b = v.Start, v.Stop
		case imap.UIDRange:
			a, b = uint32(v.Start), uint32(v.Stop)
		}
		if a == 0 {
			a = max
		}
		if b == 0 {
			b = max
		}
		if a > b {
			a, b = b, a
		}
		if a <= n && n <= b {
			return true
		}
	}
	return false
}

// match reports whether msg (sequence number seq) satisfies every part of c.
func (m *matcher) match(c *imap.SearchCriteria, seq uint32, msg *storage.Message) bool {
	for _, set := range c.SeqNum {
		if !inRanges(set, seq, m.maxSeq) {
			return false
		}
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			if !inSorted(m.searchRes, msg.UID) {
				return false
			}
			continue
		}
		if !inRanges(set, uint32(msg.UID), uint32(m.maxUID)) {
			return false
		}
	}
	for _, s := range c.Text {
		if !inSorted(m.text[ftsKey{"", s}], msg.UID) {
			return false
		}
	}
	for _, s := range c.Body {
		if !inSorted(m.text[ftsKey{"body", s}], msg.UID) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !m.flagMatch(msg, string(f)) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if m.flagMatch(msg, string(f)) {
			return false
		}
	}
	if c.Larger != 0 && msg.Size <= c.Larger {
		return false
	}
	if c.Smaller != 0 && msg.Size >= c.Smaller {
		return false
	}
	if c.ModSeq != nil && uint64(msg.ModSeq) < c.ModSeq.ModSeq {
		return false
	}
	if !c.Since.IsZero() || !c.Before.IsZero() {
		if !dateInRange(dayOf(msg.InternalDate), c.Since, c.Before) {
			return false
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		if !dateInRange(dayOf(sentDate(msg)), c.SentSince, c.SentBefore) {
			return false
		}
	}
	for _, h := range c.Header {
		if !m.matchHeader(msg, h.Key, h.Value) {
			return false
		}
	}
	for i := range c.Not {
		if m.match(&c.Not[i], seq, msg) {
			return false
		}
	}
	for i := range c.Or {
		if !m.match(&c.Or[i][0], seq, msg) && !m.match(&c.Or[i][1], seq, msg) {
			return false
		}
	}
	return true
}

// hasFlag reports whether flags contains f, compared case-insensitively
// (keywords are case-insensitive, RFC 9051 2.3.2).
func hasFlag(flags []string, f string) bool {
	for _, g := range flags {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}

// dayOf returns a number that orders calendar days, for the date of t in
// t's own location (the message's zone).
func dayOf(t time.Time) int {
	y, mo, d := t.Date()
	return y*512 + int(mo)*32 + d
}

// dateInRange applies SINCE (day >= since) and BEFORE (day < before); the
// criterion dates are calendar dates (their own fields, whatever the zone).
func dateInRange(day int, since, before time.Time) bool {
	if !since.IsZero() && day < dayOf(since) {
		return false
	}
	if !before.IsZero() && day >= dayOf(before) {
		return false
	}
	return true
}

// sentDate is the Date header's time, or the internal date without one
// (RFC 5256 2.2).
func sentDate(msg *storage.Message) time.Time {
	if msg.Envelope != nil && !msg.Envelope.Date.IsZero() {
		return msg.Envelope.Date
	}
	return msg.InternalDate
}

func (m *matcher) lower(s string) string {
	if m.lowered == nil {
		m.lowered = make(map[string]string)
	}
	l, ok := m.lowered[s]
	if !ok {
		l = strings.ToLower(s)
		m.lowered[s] = l
	}
	return l
}

// containsFold reports whether hay contains needle (already lower-cased),
// ignoring case.
func containsFold(hay, lowNeedle string) bool {
	if lowNeedle == "" {
		return true
	}
	return strings.Contains(strings.ToLower(hay), lowNeedle)
}

// matchHeader evaluates FROM/TO/CC/BCC/SUBJECT (from the envelope) and
// HEADER field string (from the raw header).
func (m *matcher) matchHeader(msg *storage.Message, key, value string) bool {
	needle := m.lower(value)
	if msg.Header == nil && envelopeHeader(key) {
		// Without a stored header (never from storage/sqlite): the envelope.
		env := msg.Envelope
		if env == nil {
			return false
		}
		switch strings.ToLower(key) {
		case "subject":
			return containsFold(env.Subject, needle)
		case "from":
			return addrsContain(env.From, needle)
		case "to":
			return addrsContain(env.To, needle)
		case "cc":
			return addrsContain(env.Cc, needle)
		default:
			return addrsContain(env.Bcc, needle)
		}
	}
	addr := false
	switch strings.ToLower(key) {
	case "from", "to", "cc", "bcc":
		addr = true
	}
	found := false
	eachHeaderField(msg.Header, key, func(v string) bool {
		if value == "" || containsFold(mimeparse.DecodeHeaderValue(v), needle) ||
			// An address field also matches its addresses written
			// plainly, as `Name <mailbox@host>`: comments, folding and
			// routes inside the brackets do not hide an address
			// ("<user (c)@ (c) domain.org>" is user@domain.org).
			(addr && addrsContain(mimeparse.ParseAddressList(v), needle)) {
			found = true
			return false
		}
		return true
	})
	return found
}

// addrsContain matches needle against each address written as
// `Name <mailbox@host>` (RFC 9051: the string is searched in the envelope's
// field). An empty needle needs at least one address.
func addrsContain(as []storage.Address, needle string) bool {
	if len(as) == 0 {
		return false
	}
	for _, a := range as {
		var s string
		switch {
		case a.Host == "" && a.Mailbox != "":
			s = a.Mailbox // group name
		case a.Mailbox == "":
			continue
		default:
			s = a.Name + " <" + a.Mailbox + "@" + a.Host + ">"
		}
		if containsFold(s, needle) {
			return true
		}
	}
	return needle == ""
}

// eachHeaderField calls fn with the unfolded value of every field called
// name in the raw header section h, until fn returns false.
func eachHeaderField(h []byte, name string, fn func(v string) bool) {
	for len(h) > 0 {
		// One field: a line plus its continuation lines.
		end := 0
		for {
			i := bytes.IndexByte(h[end:], '\n')
			if i < 0 {
				end = len(h)
				break
			}
			end += i + 1
			if end >= len(h) || (h[end] != ' ' && h[end] != '\t') {
				break
			}
		}
		field := h[:end]
		h = h[end:]
		colon := bytes.IndexByte(field, ':')
		if colon < len(name) {
			continue // blank line, garbage or another (shorter) name
		}
		if !strings.EqualFold(string(bytes.TrimRight(field[:colon], " \t")), name) {
			continue
		}
		v := bytes.TrimSpace(field[colon+1:])
		if bytes.ContainsAny(v, "\r\n") {
			// Unfold (RFC 5322 2.2.3): drop the line breaks, keep the WSP.
			v = bytes.Map(func(r rune) rune {
				if r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, v)
		}
		if !fn(string(v)) {
			return
		}
	}
}

// andCriteria adds the criterion d to c (logical AND), keeping the
// semantics exact where imap.SearchCriteria.And would lose them.
func andCriteria(c, d *imap.SearchCriteria) {
	c.SeqNum = append(c.SeqNum, d.SeqNum...)
	c.UID = append(c.UID, d.UID...)
	c.Since = laterDate(c.Since, d.Since)
	c.SentSince = laterDate(c.SentSince, d.SentSince)
	c.Before = earlierDate(c.Before, d.Before)
	c.SentBefore = earlierDate(c.SentBefore, d.SentBefore)
	c.Header = append(c.Header, d.Header...)
	c.Body = append(c.Body, d.Body...)
	c.Text = append(c.Text, d.Text...)
	c.Flag = append(c.Flag, d.Flag...)
	c.NotFlag = append(c.NotFlag, d.NotFlag...)
	if d.Larger > c.Larger {
		c.Larger = d.Larger
	}
	if d.Smaller != 0 && (c.Smaller == 0 || d.Smaller < c.Smaller) {
		c.Smaller = d.Smaller
	}
	if d.ModSeq != nil {
		if c.ModSeq == nil || d.ModSeq.ModSeq > c.ModSeq.ModSeq {
			c.ModSeq = d.ModSeq
		}
	}
	c.Not = append(c.Not, d.Not...)
	c.Or = append(c.Or, d.Or...)
}

func laterDate(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.After(a)) {
		return b
	}
	return a
}

func earlierDate(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
