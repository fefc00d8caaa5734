package imap

// ESORT, CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267):
//
//   - SORT and UID SORT take RETURN options like SEARCH (ESORT, RFC 5267
//     3.1) and then answer with ESEARCH: MIN and MAX are the first and last
//     message in the requested order, ALL lists the messages in that order
//     (ranges only where the numbers ascend, 3.2), COUNT as for SEARCH.
//   - PARTIAL lo:hi returns the lo-th to hi-th results (4.4); one PARTIAL or
//     one ALL per command.
//   - CONTEXT is a hint and is ignored (4.2).
//   - UPDATE keeps the result up to date: whenever unilateral responses
//     may be sent (flushUpdates, at the end of a command, during IDLE and,
//     with NOTIFY, between commands), messages that joined the result are
//     sent as ADDTO and messages that left it as REMOVEFROM (4.3), with
//     their sequence numbers or UIDs as the command used. REMOVEFROM of
//     expunged messages precedes their EXPUNGE, ADDTO of new messages
//     follows their EXISTS and any FETCH (RFC 5267 4.3.3-4, RFC 5465 5.1).
//     For SEARCH the context position is 0 (mailbox order, 4.3.3); for SORT
//     it is the position in the sorted result, so the client keeps the
//     order. Sequence numbers and "$" in the criteria are taken at the time
//     of the command (4.3). CANCELUPDATE ends contexts; leaving the mailbox
//     ends all. A session keeps at most maxUpdateContexts; beyond that the
//     command answers without updates and says so with NO [NOUPDATE "tag"]
//     (4.3.1).
//
// Evaluation: a context remembers its result (UIDs). The change stream
// marks the messages that may have changed membership (new, flags
// changed); at the next flush only those are evaluated against the
// context's criteria (one storage read for them), so a large mailbox is
// not searched again for every change. A sorted context whose result
// gains messages is sorted again to find their positions.

import (
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/floemail/floe/storage"
)

// maxUpdateContexts bounds the UPDATE contexts of one session.
const maxUpdateContexts = 16

// partialRange is a PARTIAL range lo:hi (1-based, lo <= hi); zero: none.
type partialRange struct{ lo, hi uint32 }

// parseContextReturn reads the RFC 5267 return options after their name
// (atom): PARTIAL SP partial-range, UPDATE, CONTEXT. ok is false for an
// option it does not know.
func parseContextReturn(d *decoder, r *searchReturn, atom string) (ok bool, err error) {
	switch strings.ToUpper(atom) {
	case "UPDATE":
		r.update = true
	case "CONTEXT":
		r.context = true
	case "PARTIAL":
		if r.partial.lo != 0 {
			return true, errBad("syntax error: PARTIAL given twice")
		}
		if err := d.SP(); err != nil {
			return true, err
		}
		s, err := d.readWhile(func(c byte) bool { return isDigit(c) || c == ':' }, "partial range")
		if err != nil {
			return true, err
		}
		pr, err := parsePartialRange(s)
		if err != nil {
			return true, err
		}
		r.partial = pr
	default:
		return false, nil
	}
	return true, nil
}

// parsePartialRange parses partial-range = nz-number ":" nz-number (RFC
// 5267 5; "500:400" is "400:500", "*" is not allowed).
func parsePartialRange(s string) (partialRange, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return partialRange{}, errBad("syntax error: PARTIAL needs a range lo:hi")
	}
	lo, err1 := parseNZ(a)
	hi, err2 := parseNZ(b)
	if err1 != nil || err2 != nil {
		return partialRange{}, errBad("syntax error: invalid PARTIAL range")
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return partialRange{lo: lo, hi: hi}, nil
}

// parseSortReturn reads the optional "RETURN" SP "(" ... ")" SP of an
// extended SORT (RFC 5267 3); esearch reports whether it was there.
func parseSortReturn(d *decoder) (searchReturn, bool, error) {
	b, err := d.Peek()
	if err != nil || (b != 'R' && b != 'r') {
		return searchReturn{}, false, err
	}
	a, err := d.Atom()
	if err != nil {
		return searchReturn{}, false, err
	}
	if !strings.EqualFold(a, "RETURN") {
		return searchReturn{}, false, errBad("syntax error: expected RETURN or sort criteria")
	}
	if err := d.SP(); err != nil {
		return searchReturn{}, false, err
	}
	r, err := parseSearchReturn(d)
	if err != nil {
		return r, false, err
	}
	return r, true, d.SP()
}

// resultSet writes the numbers of a result as a sequence-set: in mailbox
// order, compacted (SEARCH); in the requested order with ranges only
// where numbers ascend by one (SORT, RFC 5267 3.2).
func resultSet(nums []uint32, sorted bool) string {
	if !sorted {
		return compactSet(nums)
	}
	return runSet(nums)
}

// writePartial writes " PARTIAL (lo:hi set)" or " PARTIAL (lo:hi NIL)"
// (RFC 5267 4.4): the lo-th to hi-th hits, in the command's order.
func (s *session) writePartial(p partialRange, hits []searchHit, num func(searchHit) uint32, sorted bool) {
	e := s.e
	e.SP().Atom("PARTIAL (").Number(p.lo).Byte(':').Number(p.hi).SP()
	if int(p.lo) > len(hits) {
		e.Atom("NIL)")
		return
	}
	hi := min(int(p.hi), len(hits))
	nums := make([]uint32, 0, hi-int(p.lo)+1)
	for _, h := range hits[p.lo-1 : hi] {
		nums = append(nums, num(h))
	}
	e.Atom(resultSet(nums, sorted)).Byte(')')
}

// searchContext is one RETURN (UPDATE) context (RFC 5267 4.3).
type searchContext struct {
	tag  string
	uid  bool      // results are UIDs (UID SEARCH, UID SORT)
	keys []sortKey // nil: SEARCH, mailbox order
	crit imap.SearchCriteria
	// result is the current result as the client knows it: ascending
	// UIDs for SEARCH, the requested order for SORT.
	result []storage.UID
}

// searchUpdates are the UPDATE contexts of the selected mailbox.
type searchUpdates struct {
	list []*searchContext
	// dirty are messages whose membership may have changed since the last
	// evaluation (new, or flags changed).
	dirty map[storage.UID]struct{}
}

// noteChange marks the message of a change to the selected mailbox for
// the next evaluation.
func (u *searchUpdates) noteChange(c storage.Change) {
	if u == nil || len(u.list) == 0 {
		return
	}
	switch c.Kind {
	case storage.ChangeMessageAdded, storage.ChangeFlags:
		u.dirty[c.UID] = struct{}{}
	}
}

// newSearchContext prepares the UPDATE context of a searching command
// before it runs (nil without UPDATE): a tag in use by a context is BAD
// (RFC 5267 4.3); the criteria are frozen (sequence numbers and "$" as
// they are now).
func (s *session) newSearchContext(tag string, uid bool, a *searchArgs, keys []sortKey) (*searchContext, error) {
	if !a.ret.update || s.sel == nil {
		return nil, nil
	}
	if u := s.sel.updates; u != nil {
		for _, c := range u.list {
			if c.tag == tag {
				return nil, errBad("tag already in use by a search context")
			}
		}
	}
	return &searchContext{tag: tag, uid: uid, keys: keys, crit: freezeCriteria(a.crit, s.sel, s.searchRes)}, nil
}

// startSearchContext keeps c with the command's result (hits, in the
// command's order), or says NO [NOUPDATE] when the session has too many.
func (s *session) startSearchContext(c *searchContext, hits []searchHit) {
	if c == nil {
		return
	}
	v := s.sel
	if v.updates == nil {
		v.updates = &searchUpdates{dirty: map[storage.UID]struct{}{}}
	}
	if len(v.updates.list) >= maxUpdateContexts {
		// RFC 5267 4.3.1.
		s.e.Untagged().Atom("NO [NOUPDATE ").String(c.tag).Atom("] too many search contexts").CRLF()
		return
	}
	c.result = make([]storage.UID, len(hits))
	for i, h := range hits {
		c.result[i] = h.Msg.UID
	}
	v.updates.list = append(v.updates.list, c)
}

// freezeCriteria returns a copy of c in which sequence-number sets and
// "$" are replaced by the UIDs they name now.
func freezeCriteria(c imap.SearchCriteria, v *selected, searchRes []storage.UID) imap.SearchCriteria {
	out := c
	out.SeqNum = nil
	out.UID = nil
	for _, set := range c.SeqNum {
		out.UID = append(out.UID, seqSetUIDs(set, v))
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			var uids []storage.UID
			for _, u := range searchRes {
				if _, ok := v.SeqOf(u); ok {
					uids = append(uids, u)
				}
			}
			slices.Sort(uids)
			out.UID = append(out.UID, frozenSet(uids))
			continue
		}
		out.UID = append(out.UID, set)
	}
	out.Not = make([]imap.SearchCriteria, len(c.Not))
	for i := range c.Not {
		out.Not[i] = freezeCriteria(c.Not[i], v, searchRes)
	}
	out.Or = make([][2]imap.SearchCriteria, len(c.Or))
	for i := range c.Or {
		out.Or[i] = [2]imap.SearchCriteria{freezeCriteria(c.Or[i][0], v, searchRes), freezeCriteria(c.Or[i][1], v, searchRes)}
	}
	return out
}

// seqSetUIDs is the UID set of the messages a sequence set names now
// ("*" is the last message; numbers beyond the end name nothing).
func seqSetUIDs(set imap.SeqSet, v *selected) imap.UIDSet {
	n := v.Count()
	var uids []storage.UID
	for seq := uint32(1); seq <= n; seq++ {
		if inRanges(set, seq, n) {
			uids = append(uids, v.UIDAt(seq))
		}
	}
	return frozenSet(uids)
}

// frozenSet is the imap.UIDSet of sorted uids; an empty one matches no
// message (UID 0 never exists).
func frozenSet(uids []storage.UID) imap.UIDSet {
	if len(uids) == 0 {
		return imap.UIDSet{{Start: 0xFFFFFFFF, Stop: 0xFFFFFFFF}}
	}
	return imapUIDSet(uids)
}

// contextsExpunge writes REMOVEFROM for messages about to be reported
// expunged (the first known messages of the view that are in
// v.expunged), before their EXPUNGE, with their current sequence numbers
// (RFC 5267 4.3.4).
func (s *session) contextsExpunge(known int) {
	v := s.sel
	u := v.updates
	if u == nil || len(u.list) == 0 {
		return
	}
	for uid := range v.expunged {
		delete(u.dirty, uid)
	}
	for _, c := range u.list {
		var removed []storage.UID
		keep := c.result[:0]
		for _, uid := range c.result {
			if _, gone := v.expunged[uid]; gone {
				if seq, ok := v.SeqOf(uid); ok && int(seq) <= known {
					removed = append(removed, uid)
					continue
				}
			}
			keep = append(keep, uid)
		}
		if len(removed) == 0 {
			continue
		}
		s.writeRemovals(c, c.result, removed)
		c.result = keep
	}
}

// flushContexts evaluates the changed messages against every context and
// writes ADDTO/REMOVEFROM (after EXISTS and FETCH responses).
func (s *session) flushContexts() error {
	v := s.sel
	u := v.updates
	if u == nil || len(u.dirty) == 0 {
		return nil
	}
	var changed []storage.UID
	for uid := range u.dirty {
		if _, ok := v.SeqOf(uid); ok && !v.Expunged(uid) {
			changed = append(changed, uid)
		}
	}
	clear(u.dirty)
	if len(changed) == 0 {
		return nil
	}
	slices.Sort(changed)
	for _, c := range u.list {
		match, err := s.matchUIDs(&c.crit, changed)
		if err != nil {
			return err
		}
		var added, removed []storage.UID
		for _, uid := range changed {
			in := match[uid]
			was := slices.Contains(c.result, uid)
			switch {
			case in && !was:
				added = append(added, uid)
			case !in && was:
				removed = append(removed, uid)
			}
		}
		if len(removed) > 0 {
			s.writeRemovals(c, c.result, removed)
			c.result = slices.DeleteFunc(c.result, func(uid storage.UID) bool { return slices.Contains(removed, uid) })
		}
		if len(added) > 0 {
			if err := s.writeAdditions(c, added); err != nil {
				return err
			}
		}
	}
	return s.e.Err()
}

// number is the number of uid in c's responses: the UID or its current
// sequence number.
func (s *session) number(c *searchContext, uid storage.UID) uint32 {
	if c.uid {
		return uint32(uid)
	}
	seq, _ := s.sel.SeqOf(uid)
	return seq
}

// writeRemovals writes REMOVEFROM for removed (members of old). SEARCH:
// one pair at position 0, in mailbox order. SORT: one pair per run of
// consecutive positions, from the end of the result to its start, so
// each position is valid when the client applies it.
func (s *session) writeRemovals(c *searchContext, old, removed []storage.UID) {
	e := s.e
	e.Untagged().Atom("ESEARCH (TAG ").String(c.tag).Byte(')')
	if c.uid {
		e.SP().Atom("UID")
	}
	e.SP().Atom("REMOVEFROM (")
	if c.keys == nil {
		nums := make([]uint32, len(removed))
		for i, uid := range removed {
			nums[i] = s.number(c, uid)
		}
		e.Atom("0 ").Atom(compactSet(nums))
	} else {
		gone := make(map[storage.UID]bool, len(removed))
		for _, uid := range removed {
			gone[uid] = true
		}
		first := true
		for i := len(old) - 1; i >= 0; {
			if !gone[old[i]] {
				i--
				continue
			}
			j := i
			for j > 0 && gone[old[j-1]] {
				j--
			}
			nums := make([]uint32, 0, i-j+1)
			for k := j; k <= i; k++ {
				nums = append(nums, s.number(c, old[k]))
			}
			if !first {
				e.SP()
			}
			first = false
			e.Number(uint32(j + 1)).SP().Atom(resultSet(nums, true))
			i = j - 1
		}
	}
	e.Byte(')').CRLF()
}

// writeAdditions adds the messages to c and writes ADDTO. SEARCH: at
// position 0 in mailbox order. SORT: the result is sorted again and each
// run of new messages is inserted at its position, from the start.
func (s *session) writeAdditions(c *searchContext, added []storage.UID) error {
	e := s.e
	if c.keys == nil {
		c.result = append(c.result, added...)
		slices.Sort(c.result)
		nums := make([]uint32, len(added))
		for i, uid := range added {
			nums[i] = s.number(c, uid)
		}
		e.Untagged().Atom("ESEARCH (TAG ").String(c.tag).Byte(')')
		if c.uid {
			e.SP().Atom("UID")
		}
		e.SP().Atom("ADDTO (0 ").Atom(compactSet(nums)).Byte(')').CRLF()
		return nil
	}
	members := append(slices.Clone(c.result), added...)
	slices.Sort(members)
	ordered, err := s.sortUIDs(members, c.keys)
	if err != nil {
		return err
	}
	isNew := make(map[storage.UID]bool, len(added))
	for _, uid := range added {
		isNew[uid] = true
	}
	e.Untagged().Atom("ESEARCH (TAG ").String(c.tag).Byte(')')
	if c.uid {
		e.SP().Atom("UID")
	}
	e.SP().Atom("ADDTO (")
	first := true
	for i := 0; i < len(ordered); {
		if !isNew[ordered[i]] {
			i++
			continue
		}
		j := i
		for j+1 < len(ordered) && isNew[ordered[j+1]] {
			j++
		}
		nums := make([]uint32, 0, j-i+1)
		for k := i; k <= j; k++ {
			nums = append(nums, s.number(c, ordered[k]))
		}
		if !first {
			e.SP()
		}
		first = false
		e.Number(uint32(i + 1)).SP().Atom(resultSet(nums, true))
		i = j + 1
	}
	e.Byte(')').CRLF()
	c.result = ordered
	return nil
}

// matchUIDs evaluates c against the messages uids (sorted, all in the
// view) and reports which match: one storage read of those messages, plus
// the full-text lookups the criteria need.
func (s *session) matchUIDs(c *imap.SearchCriteria, uids []storage.UID) (map[storage.UID]bool, error) {
	v := s.sel
	n := v.Count()
	m := &matcher{
		maxSeq: n,
		maxUID: v.UIDAt(n),
		text:   make(map[ftsKey][]storage.UID),
		recent: v.IsRecent,
	}
	ftsKeys(c, m.text)
	for k := range m.text {
		hits, err := s.v.SearchText(s.ctx, v.mbox.ID, k.field, k.value)
		if err != nil {
			return nil, s.storageError(err)
		}
		slices.Sort(hits)
		m.text[k] = hits
	}
	fields, _ := searchNeeds(c)
	msgs, err := s.v.Messages(s.ctx, v.mbox.ID, storage.Query{UIDs: uidRanges(uids), Fields: fields})
	if err != nil {
		return nil, s.storageError(err)
	}
	out := make(map[storage.UID]bool, len(uids))
	for i := range msgs {
		seq, ok := v.SeqOf(msgs[i].UID)
		if !ok {
			continue
		}
		if m.match(c, seq, &msgs[i]) {
			out[msgs[i].UID] = true
		}
	}
	return out, nil
}

// sortUIDs orders the messages uids (sorted, in the view) by keys, as SORT
// does.
func (s *session) sortUIDs(uids []storage.UID, keys []sortKey) ([]storage.UID, error) {
	v := s.sel
	msgs, err := s.v.Messages(s.ctx, v.mbox.ID, storage.Query{UIDs: uidRanges(uids), Fields: sortFields(keys)})
	if err != nil {
		return nil, s.storageError(err)
	}
	hits := make([]searchHit, 0, len(msgs))
	for _, m := range msgs {
		if seq, ok := v.SeqOf(m.UID); ok {
			hits = append(hits, searchHit{Seq: seq, Msg: m})
		}
	}
	hits = sortHits(hits, keys)
	out := make([]storage.UID, len(hits))
	for i, h := range hits {
		out[i] = h.Msg.UID
	}
	return out, nil
}

func init() {
	register("CANCELUPDATE", command{fn: cmdCancelUpdate, states: selStates, expungeOK: true})
}

// cmdCancelUpdate: CANCELUPDATE 1*(SP quoted) (RFC 5267 4.3.5) ends the
// named contexts; a tag that names none is NO (as Dovecot).
func cmdCancelUpdate(s *session, tag string, d *decoder) error {
	var tags []string
	for d.Accept(' ') {
		t, err := d.quoted()
		if err != nil {
			return err
		}
		tags = append(tags, t)
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if len(tags) == 0 {
		return errBad("CANCELUPDATE needs the tags of the searches")
	}
	u := s.sel.updates
	for _, t := range tags {
		i := -1
		if u != nil {
			i = slices.IndexFunc(u.list, func(c *searchContext) bool { return c.tag == t })
		}
		if i < 0 {
			return errNo("", "no search context with tag "+strconv.Quote(t))
		}
		u.list = slices.Delete(u.list, i, i+1)
	}
	return nil
}
