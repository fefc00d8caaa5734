package imap

// SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4) with ESEARCH
// (RFC 4731), SEARCHRES (RFC 5182) and the MODSEQ criterion (RFC 7162 3.1.5).

import (
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/floemail/floe/storage"
)

// maxSearchDepth bounds the nesting of NOT, OR and parenthesised lists;
// deeper criteria get BAD (the "SEARCH nesting is limited").
const maxSearchDepth = 32

// maxSearchKeys bounds the number of search keys of one command.
const maxSearchKeys = 1000

// badCharset is the response code for an unsupported CHARSET (RFC 9051 7.1).
const badCharset = "BADCHARSET (UTF-8 US-ASCII)"

// searchReturn holds the RETURN options (RFC 4731 3.1, RFC 5182).
type searchReturn struct {
	min, max, all, count, save bool
	// RFC 5267 4 (CONTEXT=SEARCH, CONTEXT=SORT; esearch_context.go):
	// PARTIAL lo:hi (zero when not asked), UPDATE, and the CONTEXT hint.
	partial         partialRange
	update, context bool
}

// searchArgs is a parsed SEARCH command.
type searchArgs struct {
	crit       imap.SearchCriteria
	ret        searchReturn
	esearch    bool // RETURN was given: answer with ESEARCH
	sorted     bool // SORT RETURN (ESORT, RFC 5267 3): hits are in the requested order
	badCharset bool // an unsupported CHARSET: NO [BADCHARSET] after parsing
}

// searchParser reads search keys from a decoder.
type searchParser struct {
	d       *decoder
	keys    int
	pending *imap.SearchCriteria // a key already read while looking for CHARSET/RETURN
}

// parseSearchCharset reads an optional "CHARSET" SP charset SP at the start
// of a search program; it reports whether the charset is unsupported.
func (p *searchParser) charset() (bad bool, err error) {
	c, err := p.d.Peek()
	if err != nil {
		return false, err
	}
	if c != 'C' && c != 'c' {
		return false, nil
	}
	atom, err := p.d.Atom()
	if err != nil {
		return false, err
	}
	if !strings.EqualFold(atom, "CHARSET") {
		// Not CHARSET: a search key starting with C (CC).
		k, err := p.keyAfterAtom(atom, 1)
		if err != nil {
			return false, err
		}
		p.pending = &k
		return false, nil
	}
	if err := p.d.SP(); err != nil {
		return false, err
	}
	cs, err := p.d.AString()
	if err != nil {
		return false, err
	}
	if err := p.d.SP(); err != nil {
		return false, err
	}
	return !supportedCharset(cs), nil
}

func supportedCharset(cs string) bool {
	return strings.EqualFold(cs, "UTF-8") || strings.EqualFold(cs, "US-ASCII")
}

// program reads search-key *(SP search-key) up to the end of the line
// (not consuming CRLF).
func (p *searchParser) program() (imap.SearchCriteria, error) {
	var c imap.SearchCriteria
	first := true
	for {
		if p.pending != nil {
			k := *p.pending
			p.pending = nil
			andCriteria(&c, &k)
		} else {
			if !first {
				if err := p.d.SP(); err != nil {
					return c, err
				}
			}
			k, err := p.key(1)
			if err != nil {
				return c, err
			}
			andCriteria(&c, &k)
		}
		first = false
		if p.d.EOL() {
			return c, nil
		}
	}
}

// key reads one search-key at nesting depth depth.
func (p *searchParser) key(depth int) (imap.SearchCriteria, error) {
	var c imap.SearchCriteria
	if depth > maxSearchDepth {
		return c, errBad("search criteria nested too deeply")
	}
	p.keys++
	if p.keys > maxSearchKeys {
		return c, errBad("too many search keys")
	}
	b, err := p.d.Peek()
	if err != nil {
		return c, err
	}
	switch {
	case b == '(':
		first := true
		err := p.d.List(func() error {
			k, err := p.key(depth + 1)
			if err != nil {
				return err
			}
			andCriteria(&c, &k)
			first = false
			return nil
		})
		if err == nil && first {
			return c, errBad("syntax error: empty search key list")
		}
		return c, err
	case isDigit(b) || b == '*' || b == '$':
		set, err := p.d.NumSet(false)
		if err != nil {
			return c, err
		}
		addNumSet(&c, set)
		return c, nil
	}
	atom, err := p.d.Atom()
	if err != nil {
		return c, err
	}
	return p.keyAfterAtom(atom, depth)
}

// addNumSet adds a sequence set ("$" goes with the UIDs: the saved result
// is a set of messages, RFC 5182 2.1).
func addNumSet(c *imap.SearchCriteria, set imap.NumSet) {
	switch s := set.(type) {
	case imap.UIDSet:
		c.UID = append(c.UID, s)
	case imap.SeqSet:
		c.SeqNum = append(c.SeqNum, s)
	}
}

// keyAfterAtom parses the rest of a search key named by atom.
func (p *searchParser) keyAfterAtom(atom string, depth int) (imap.SearchCriteria, error) {
	var c imap.SearchCriteria
	d := p.d
	name := strings.ToUpper(atom)
	// Keys without arguments.
	switch name {
	case "ALL":
		return c, nil
	case "ANSWERED":
		c.Flag = []imap.Flag{imap.FlagAnswered}
		return c, nil
	case "DELETED":
		c.Flag = []imap.Flag{imap.FlagDeleted}
		return c, nil
	case "DRAFT":
		c.Flag = []imap.Flag{imap.FlagDraft}
		return c, nil
	case "FLAGGED":
		c.Flag = []imap.Flag{imap.FlagFlagged}
		return c, nil
	case "SEEN":
		c.Flag = []imap.Flag{imap.FlagSeen}
		return c, nil
	case "RECENT":
		c.Flag = []imap.Flag{`\Recent`}
		return c, nil
	case "NEW": // RFC 3501: RECENT UNSEEN
		c.Flag = []imap.Flag{`\Recent`}
		c.NotFlag = []imap.Flag{imap.FlagSeen}
		return c, nil
	case "OLD":
		c.NotFlag = []imap.Flag{`\Recent`}
		return c, nil
	case "UNANSWERED":
		c.NotFlag = []imap.Flag{imap.FlagAnswered}
		return c, nil
	case "UNDELETED":
		c.NotFlag = []imap.Flag{imap.FlagDeleted}
		return c, nil
	case "UNDRAFT":
		c.NotFlag = []imap.Flag{imap.FlagDraft}
		return c, nil
	case "UNFLAGGED":
		c.NotFlag = []imap.Flag{imap.FlagFlagged}
		return c, nil
	case "UNSEEN":
		c.NotFlag = []imap.Flag{imap.FlagSeen}
		return c, nil
	}
	if err := d.SP(); err != nil {
		return c, errBad("syntax error: search key " + name + " needs an argument")
	}
	switch name {
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		v, err := d.AString()
		if err != nil {
			return c, err
		}
		c.Header = []imap.SearchCriteriaHeaderField{{Key: headerKeyName(name), Value: v}}
	case "HEADER":
		k, err := d.AString()
		if err != nil {
			return c, err
		}
		if err := d.SP(); err != nil {
			return c, err
		}
		v, err := d.AString()
		if err != nil {
			return c, err
		}
		c.Header = []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}
	case "BODY":
		v, err := d.AString()
		if err != nil {
			return c, err
		}
		c.Body = []string{v}
	case "TEXT":
		v, err := d.AString()
		if err != nil {
			return c, err
		}
		c.Text = []string{v}
	case "KEYWORD", "UNKEYWORD":
		f, err := d.Flag()
		if err != nil {
			return c, err
		}
		if name == "KEYWORD" {
			c.Flag = []imap.Flag{imap.Flag(f)}
		} else {
			c.NotFlag = []imap.Flag{imap.Flag(f)}
		}
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		t, err := d.Date()
		if err != nil {
			return c, err
		}
		next := t.AddDate(0, 0, 1)
		switch name {
		case "BEFORE":
			c.Before = t
		case "ON":
			c.Since, c.Before = t, next
		case "SINCE":
			c.Since = t
		case "SENTBEFORE":
			c.SentBefore = t
		case "SENTON":
			c.SentSince, c.SentBefore = t, next
		case "SENTSINCE":
			c.SentSince = t
		}
	case "LARGER", "SMALLER":
		n, err := d.Number64()
		if err != nil {
			return c, err
		}
		switch {
		case name == "LARGER" && n == 0:
			// size > 0: NOT SMALLER 1 (0 means "unset" in the struct).
			c.Not = []imap.SearchCriteria{{Smaller: 1}}
		case name == "LARGER":
			c.Larger = int64(n)
		case n == 0:
			// size < 0: nothing; NOT ALL.
			c.Not = []imap.SearchCriteria{{}}
		default:
			c.Smaller = int64(n)
		}
	case "UID":
		set, err := d.NumSet(true)
		if err != nil {
			return c, err
		}
		addNumSet(&c, set)
	case "NOT":
		k, err := p.key(depth + 1)
		if err != nil {
			return c, err
		}
		c.Not = []imap.SearchCriteria{k}
	case "OR":
		a, err := p.key(depth + 1)
		if err != nil {
			return c, err
		}
		if err := d.SP(); err != nil {
			return c, err
		}
		b, err := p.key(depth + 1)
		if err != nil {
			return c, err
		}
		c.Or = [][2]imap.SearchCriteria{{a, b}}
	case "MODSEQ":
		// RFC 7162 3.1.5: MODSEQ [SP entry-name SP entry-type-req] SP
		// mod-sequence-valzer.
		ms := &imap.SearchCriteriaModSeq{}
		if b, err := d.Peek(); err == nil && b == '"' {
			name, err := d.String()
			if err != nil {
				return c, err
			}
			if err := d.SP(); err != nil {
				return c, err
			}
			typ, err := d.Atom()
			if err != nil {
				return c, err
			}
			switch t := imap.SearchCriteriaMetadataType(strings.ToLower(typ)); t {
			case imap.SearchCriteriaMetadataAll, imap.SearchCriteriaMetadataPrivate, imap.SearchCriteriaMetadataShared:
				ms.MetadataName, ms.MetadataType = name, t
			default:
				return c, errBad("syntax error: invalid MODSEQ entry type")
			}
			if err := d.SP(); err != nil {
				return c, err
			}
		}
		n, err := d.Number64()
		if err != nil {
			return c, err
		}
		ms.ModSeq = n
		c.ModSeq = ms
	default:
		return c, errBad("syntax error: unknown search key " + strconv.Quote(atom))
	}
	return c, nil
}

// headerKeyName spells the envelope header keys as header field names.
func headerKeyName(key string) string {
	switch key {
	case "BCC":
		return "Bcc"
	case "CC":
		return "Cc"
	case "FROM":
		return "From"
	case "TO":
		return "To"
	}
	return "Subject"
}

// parseSearchReturn reads "(" [search-return-opt *(SP search-return-opt)] ")"
// after "RETURN" SP (RFC 4731 3.1). An empty list means ALL.
func parseSearchReturn(d *decoder) (searchReturn, error) {
	var r searchReturn
	any := false
	err := d.List(func() error {
		a, err := d.Atom()
		if err != nil {
			return err
		}
		any = true
		switch strings.ToUpper(a) {
		case "MIN":
			r.min = true
		case "MAX":
			r.max = true
		case "ALL":
			r.all = true
		case "COUNT":
			r.count = true
		case "SAVE":
			r.save = true
		default:
			if ok, err := parseContextReturn(d, &r, a); ok || err != nil {
				return err
			}
			return errBad("syntax error: unknown RETURN option " + strconv.Quote(a))
		}
		return nil
	})
	if !any {
		r.all = true
	}
	if err == nil && r.all && r.partial.lo != 0 {
		// RFC 5267 4.4: one PARTIAL or one ALL, not both.
		err = errBad("syntax error: PARTIAL and ALL together")
	}
	return r, err
}

// parseSearchArgs reads the arguments of SEARCH: [SP "RETURN" SP "(" ...
// ")"] SP search-program, up to but not including CRLF. The decoder is
// positioned just after the command name.
func parseSearchArgs(d *decoder) (*searchArgs, error) {
	a := &searchArgs{}
	if err := d.SP(); err != nil {
		return nil, err
	}
	p := &searchParser{d: d}
	b, err := d.Peek()
	if err != nil {
		return nil, err
	}
	if b == 'R' || b == 'r' {
		atom, err := d.Atom()
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(atom, "RETURN") {
			if err := d.SP(); err != nil {
				return nil, err
			}
			if a.ret, err = parseSearchReturn(d); err != nil {
				return nil, err
			}
			a.esearch = true
			if err := d.SP(); err != nil {
				return nil, err
			}
		} else {
			k, err := p.keyAfterAtom(atom, 1)
			if err != nil {
				return nil, err
			}
			p.pending = &k
		}
	}
	if p.pending == nil {
		if a.badCharset, err = p.charset(); err != nil {
			return nil, err
		}
	}
	if a.crit, err = p.program(); err != nil {
		return nil, err
	}
	return a, nil
}

// cmdSearch handles SEARCH and UID SEARCH.
func cmdSearch(uid bool) func(s *session, tag string, d *decoder) error {
	return func(s *session, tag string, d *decoder) error {
		a, err := parseSearchArgs(d)
		if err == nil {
			err = d.CRLF()
		}
		if err != nil {
			if a != nil && a.ret.save {
				s.searchRes = nil
			}
			return err
		}
		if a.badCharset {
			if a.ret.save {
				s.searchRes = nil
			}
			return errNo(badCharset, "unsupported charset")
		}
		if searchUsesModSeq(&a.crit) {
			s.enableCondstore() // RFC 7162 3.1: implicit CONDSTORE enabling
		}
		upd, err := s.newSearchContext(tag, uid, a, nil) // RETURN (UPDATE), esearch_context.go
		if err != nil {
			return err
		}
		hits, gone, err := runSearchGone(s.ctx, s.v, s.sel.mbox.ID, s.sel, &a.crit, s.searchRes, false, 0)
		if err != nil {
			if a.ret.save {
				s.searchRes = nil
			}
			return s.storageError(err)
		}
		s.writeSearchResult(tag, uid, a, hits)
		s.startSearchContext(upd, hits)
		s.expungeIssued(tag, gone)
		return nil
	}
}

// expungeIssued ends a SEARCH, SORT or THREAD with OK [EXPUNGEISSUED]
// (RFC 9051 7.1) when messages of the view were gone from the store while
// it ran (gone), or when the change stream says another session expunged
// messages this session has not been told of yet: those were not
// evaluated (their text index entries and metadata are gone), so the
// result may lack them. Clients (imaptest among them) then know why.
func (s *session) expungeIssued(tag string, gone bool) {
	s.applyChanges()
	if gone || (s.sel != nil && len(s.sel.expunged) > 0) {
		s.tagged(tag, "OK", "EXPUNGEISSUED", "some messages were expunged by another session")
	}
}

// writeSearchResult saves (SEARCHRES) and writes the result: ESEARCH when
// RETURN was given or IMAP4rev2 is enabled (RFC 9051 7.3.4), else SEARCH.
func (s *session) writeSearchResult(tag string, uid bool, a *searchArgs, hits []searchHit) {
	num := func(h searchHit) uint32 {
		if uid {
			return uint32(h.Msg.UID)
		}
		return h.Seq
	}
	modseq := searchUsesModSeq(&a.crit)
	highest := func(hs ...searchHit) uint64 {
		var m storage.ModSeq
		for _, h := range hs {
			m = max(m, h.Msg.ModSeq)
		}
		return uint64(m)
	}
	r := a.ret
	if !a.esearch && s.enabled.rev2 {
		r = searchReturn{all: true}
	}
	// RFC 5182 2.4: with only MIN and/or MAX, SAVE keeps those messages.
	if r.save {
		var saved []storage.UID
		switch {
		case len(hits) == 0:
		case (r.min || r.max) && !r.all && !r.count:
			if r.min {
				saved = append(saved, hits[0].Msg.UID)
			}
			if r.max && (!r.min || len(hits) > 1) {
				saved = append(saved, hits[len(hits)-1].Msg.UID)
			}
		default:
			saved = make([]storage.UID, len(hits))
			for i, h := range hits {
				saved[i] = h.Msg.UID
			}
		}
		s.searchRes = saved
	}
	e := s.e
	if !a.esearch && !s.enabled.rev2 {
		// RFC 3501 7.2.5: * SEARCH n... [(MODSEQ n)] (RFC 7162 3.1.5).
		e.Untagged().Atom("SEARCH")
		for _, h := range hits {
			e.SP().Number(num(h))
		}
		if modseq && len(hits) > 0 {
			e.SP().Atom("(MODSEQ ").Number64(highest(hits...)).Byte(')')
		}
		e.CRLF()
		return
	}
	// RFC 4731 3.1 / RFC 5182: SAVE alone produces no ESEARCH response.
	if r.save && !r.min && !r.max && !r.all && !r.count && r.partial.lo == 0 {
		return
	}
	e.Untagged().Atom("ESEARCH (TAG ").String(tag).Byte(')')
	if uid {
		e.SP().Atom("UID")
	}
	if len(hits) > 0 {
		if r.min {
			e.SP().Atom("MIN ").Number(num(hits[0]))
		}
		if r.max {
			e.SP().Atom("MAX ").Number(num(hits[len(hits)-1]))
		}
	}
	if r.count {
		e.SP().Atom("COUNT ").Number(uint32(len(hits)))
	}
	if r.all && len(hits) > 0 {
		nums := make([]uint32, len(hits))
		for i, h := range hits {
			nums[i] = num(h)
		}
		e.SP().Atom("ALL ").Atom(resultSet(nums, a.sorted))
	}
	if r.partial.lo != 0 {
		s.writePartial(r.partial, hits, num, a.sorted)
	}
	if modseq && len(hits) > 0 {
		// RFC 7162 3.1.5: the highest mod-sequence of the returned messages.
		var m uint64
		// With only MIN and/or MAX, those are the messages returned.
		if r.all || r.count {
			m = highest(hits...)
		} else {
			if r.min {
				m = highest(hits[0])
			}
			if r.max {
				m = max(m, highest(hits[len(hits)-1]))
			}
		}
		e.SP().Atom("MODSEQ ").Number64(m)
	}
	e.CRLF()
}

// compactSet writes numbers as a sequence-set, ascending and without
// repeats: "1:3,5,7:9".
func compactSet(nums []uint32) string {
	nums = slices.Clone(nums)
	slices.Sort(nums)
	return runSet(slices.Compact(nums))
}

// runSet writes numbers as a sequence-set in their order, with a range
// where they ascend by one: "7:9,1:3,5".
func runSet(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

func init() {
	// RFC 9051 7.5.1: no EXPUNGE responses after SEARCH (sequence numbers);
	// UID SEARCH may have them.
	register("SEARCH", command{fn: cmdSearch(false), states: selStates})
	register("UID SEARCH", command{fn: cmdSearch(true), states: selStates, uid: true, expungeOK: true})
}
