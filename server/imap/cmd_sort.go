package imap

// SORT and THREAD, with their UID forms (RFC 5256), plus SORT=DISPLAY's
// DISPLAYFROM and DISPLAYTO keys (RFC 5957). The thread algorithms are in
// thread.go.

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
)

// sortKey is one SORT criterion.
type sortKey struct {
	name    string // ARRIVAL CC DATE DISPLAYFROM DISPLAYTO FROM SIZE SUBJECT TO
	reverse bool
}

// sortFields says which stored fields the sort keys need.
func sortFields(keys []sortKey) storage.Fields {
	var f storage.Fields
	for _, k := range keys {
		switch k.name {
		case "SUBJECT":
			f |= storage.FieldThreading | storage.FieldEnvelope
		case "ARRIVAL", "SIZE":
		default:
			f |= storage.FieldEnvelope
		}
	}
	return f
}

// parseSortCriteria reads "(" sort-criterion *(SP sort-criterion) ")"
// (RFC 5256 4).
func parseSortCriteria(d *decoder) ([]sortKey, error) {
	var keys []sortKey
	reverse := false
	err := d.List(func() error {
		for {
			a, err := d.Atom()
			if err != nil {
				return err
			}
			a = strings.ToUpper(a)
			if a == "REVERSE" && !reverse {
				reverse = true
				if err := d.SP(); err != nil {
					return err
				}
				continue
			}
			switch a {
			case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
			default:
				return errBad("syntax error: unknown sort key " + strconv.Quote(a))
			}
			keys = append(keys, sortKey{name: a, reverse: reverse})
			reverse = false
			return nil
		}
	})
	if err == nil && len(keys) == 0 {
		err = errBad("syntax error: empty sort criteria")
	}
	return keys, err
}

// sortValues are the precomputed values of one message's sort keys.
type sortValues struct {
	seq     uint32
	arrival time.Time
	date    time.Time
	size    int64
	strs    map[string]string // CC FROM TO SUBJECT DISPLAYFROM DISPLAYTO
}

// firstAddr returns the first address of a list: a group's start marker
// (Mailbox the group name, Host empty) counts, its addr-mailbox being the
// group name (RFC 5256 2.2 takes the first address as the ENVELOPE lists
// it; Dovecot does the same); end markers are skipped.
func firstAddr(as []storage.Address) (storage.Address, bool) {
	for _, a := range as {
		if a.Mailbox != "" {
			return a, true
		}
	}
	return storage.Address{}, false
}

// asciiUpper maps a-z to A-Z and nothing else: the i;ascii-casemap
// collation SORT uses (RFC 5256 2.2, RFC 4790 9.2), under which "[" and "_"
// sort after the letters.
func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// sortString computes a string key (RFC 5256 2.2, RFC 5957 2) compared with
// i;ascii-casemap (asciiUpper, then byte order).
func sortString(name string, m *storage.Message) string {
	env := m.Envelope
	if env == nil {
		env = &storage.Envelope{}
	}
	addr := func(as []storage.Address) string {
		a, _ := firstAddr(as)
		return asciiUpper(a.Mailbox)
	}
	display := func(as []storage.Address) string {
		a, ok := firstAddr(as)
		if !ok {
			return ""
		}
		switch {
		case a.Name != "":
			return asciiUpper(a.Name)
		case a.Host == "":
			return asciiUpper(a.Mailbox) // a group: its name
		}
		return asciiUpper(a.Mailbox + "@" + a.Host)
	}
	switch name {
	case "CC":
		return addr(env.Cc)
	case "FROM":
		return addr(env.From)
	case "TO":
		return addr(env.To)
	case "DISPLAYFROM":
		return display(env.From)
	case "DISPLAYTO":
		return display(env.To)
	case "SUBJECT":
		base := m.BaseSubject
		if base == "" && env.Subject != "" {
			base = newThreadMsg(0, 0, m).base
		}
		return asciiUpper(base)
	}
	return ""
}

// sortHits orders hits by the keys, ties by sequence number (RFC 5256 3).
func sortHits(hits []searchHit, keys []sortKey) []searchHit {
	vals := make([]sortValues, len(hits))
	for i := range hits {
		m := &hits[i].Msg
		v := sortValues{seq: hits[i].Seq, arrival: m.InternalDate, date: sentDate(m), size: m.Size}
		for _, k := range keys {
			switch k.name {
			case "ARRIVAL", "DATE", "SIZE":
			default:
				if v.strs == nil {
					v.strs = make(map[string]string, len(keys))
				}
				v.strs[k.name] = sortString(k.name, m)
			}
		}
		vals[i] = v
	}
	idx := make([]int, len(hits))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		a, b := &vals[x], &vals[y]
		for _, k := range keys {
			var c int
			switch k.name {
			case "ARRIVAL":
				c = a.arrival.Compare(b.arrival)
			case "DATE":
				c = a.date.Compare(b.date)
			case "SIZE":
				c = cmpInt64(a.size, b.size)
			default:
				c = strings.Compare(a.strs[k.name], b.strs[k.name])
			}
			if k.reverse {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return int(a.seq) - int(b.seq)
	})
	out := make([]searchHit, len(hits))
	for i, j := range idx {
		out[i] = hits[j]
	}
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseCharsetProgram reads charset SP search-key *(SP search-key), the
// tail of SORT and THREAD (charset is mandatory there).
func parseCharsetProgram(d *decoder) (*searchArgs, error) {
	cs, err := d.AString()
	if err != nil {
		return nil, err
	}
	if err := d.SP(); err != nil {
		return nil, err
	}
	a := &searchArgs{badCharset: !supportedCharset(cs)}
	p := &searchParser{d: d}
	if a.crit, err = p.program(); err != nil {
		return nil, err
	}
	return a, nil
}

// cmdSort handles SORT and UID SORT (RFC 5256 3).
func cmdSort(uid bool) func(s *session, tag string, d *decoder) error {
	return func(s *session, tag string, d *decoder) error {
		if err := d.SP(); err != nil {
			return err
		}
		// RFC 5267 3: extended-sort = ["UID" SP] "SORT" search-return-opts
		// SP sort-criteria SP search-criteria (ESORT, CONTEXT=SORT).
		ret, esearch, err := parseSortReturn(d)
		if err != nil {
			return err
		}
		keys, err := parseSortCriteria(d)
		if err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		a, err := parseCharsetProgram(d)
		if err != nil {
			return err
		}
		if err := d.CRLF(); err != nil {
			return err
		}
		if a.badCharset {
			return errNo(badCharset, "unsupported charset")
		}
		a.ret, a.esearch, a.sorted = ret, esearch, true
		modseq := searchUsesModSeq(&a.crit)
		if modseq {
			s.enableCondstore()
		}
		upd, err := s.newSearchContext(tag, uid, a, keys)
		if err != nil {
			return err
		}
		hits, gone, err := runSearchGone(s.ctx, s.v, s.sel.mbox.ID, s.sel, &a.crit, s.searchRes, true, sortFields(keys))
		if err != nil {
			return s.storageError(err)
		}
		hits = sortHits(hits, keys)
		if esearch {
			s.writeSearchResult(tag, uid, a, hits)
			s.startSearchContext(upd, hits)
			s.expungeIssued(tag, gone)
			return nil
		}
		e := s.e
		e.Untagged().Atom("SORT")
		var highest storage.ModSeq
		for _, h := range hits {
			if uid {
				e.SP().Number(uint32(h.Msg.UID))
			} else {
				e.SP().Number(h.Seq)
			}
			highest = max(highest, h.Msg.ModSeq)
		}
		if modseq && len(hits) > 0 {
			// RFC 7162 3.1.5 applies to SORT too.
			e.SP().Atom("(MODSEQ ").Number64(uint64(highest)).Byte(')')
		}
		e.CRLF()
		s.expungeIssued(tag, gone)
		return nil
	}
}

// cmdThread handles THREAD and UID THREAD (RFC 5256 3).
func cmdThread(uid bool) func(s *session, tag string, d *decoder) error {
	return func(s *session, tag string, d *decoder) error {
		if err := d.SP(); err != nil {
			return err
		}
		alg, err := d.Atom()
		if err != nil {
			return err
		}
		alg = strings.ToUpper(alg)
		if alg != "REFERENCES" && alg != "ORDEREDSUBJECT" {
			return errBad("unsupported threading algorithm")
		}
		if err := d.SP(); err != nil {
			return err
		}
		a, err := parseCharsetProgram(d)
		if err != nil {
			return err
		}
		if err := d.CRLF(); err != nil {
			return err
		}
		if a.badCharset {
			return errNo(badCharset, "unsupported charset")
		}
		if searchUsesModSeq(&a.crit) {
			s.enableCondstore()
		}
		hits, gone, err := runSearchGone(s.ctx, s.v, s.sel.mbox.ID, s.sel, &a.crit, s.searchRes,
			true, storage.FieldEnvelope|storage.FieldThreading)
		if err != nil {
			return s.storageError(err)
		}
		s.e.Untagged().Atom("THREAD")
		if len(hits) > 0 {
			s.e.SP().Atom(formatThreads(threadHits(hits, alg, uid)))
		}
		s.e.CRLF()
		s.expungeIssued(tag, gone)
		return nil
	}
}

// threadHits runs the named algorithm over hits (in sequence order).
func threadHits(hits []searchHit, alg string, uid bool) []*threadNode {
	msgs := make([]threadMsg, len(hits))
	for i := range hits {
		num := hits[i].Seq
		if uid {
			num = uint32(hits[i].Msg.UID)
		}
		msgs[i] = newThreadMsg(hits[i].Seq, num, &hits[i].Msg)
	}
	if alg == "ORDEREDSUBJECT" {
		return threadOrderedSubject(msgs)
	}
	return threadReferences(msgs)
}

func init() {
	// Like SEARCH: the sequence-number forms must not be followed by
	// EXPUNGE responses (RFC 9051 7.5.1), the UID forms may.
	register("SORT", command{fn: cmdSort(false), states: selStates})
	register("UID SORT", command{fn: cmdSort(true), states: selStates, uid: true, expungeOK: true})
	register("THREAD", command{fn: cmdThread(false), states: selStates})
	register("UID THREAD", command{fn: cmdThread(true), states: selStates, uid: true, expungeOK: true})
}
