package imap

import (
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9; RFC 3501 6.4.5), with BINARY
// (RFC 3516), CONDSTORE's MODSEQ and CHANGEDSINCE and QRESYNC's VANISHED
// (RFC 7162 3.1.4, 3.2.6). Metadata comes from one store.Messages call per
// command with only the fields the items need; bodies stream from the blob.

func init() {
	register("FETCH", command{fn: cmdFetch(false), states: []state{stateSelected}})
	register("UID FETCH", command{fn: cmdFetch(true), states: []state{stateSelected}, uid: true, expungeOK: true})
}

// fetchKind is one fetch-att (RFC 9051 9).
type fetchKind int

const (
	fetchUID fetchKind = iota
	fetchFlags
	fetchInternalDate
	fetchSize
	fetchEnvelope
	fetchBody          // BODY (non-extensible BODYSTRUCTURE)
	fetchBodyStructure // BODYSTRUCTURE
	fetchModSeq
	fetchSection    // BODY[...] and BODY.PEEK[...]
	fetchBinary     // BINARY[...] and BINARY.PEEK[...]
	fetchBinarySize // BINARY.SIZE[...]
	fetchRFC822     // = BODY[] under another name
	fetchRFC822Head // = BODY.PEEK[HEADER]
	fetchRFC822Text // = BODY[TEXT]
)

// fetchItem is one parsed fetch-att.
type fetchItem struct {
	kind    fetchKind
	sec     sectionSpec
	peek    bool
	partial bool
	off     int64 // partial origin
	count   int64 // partial length
}

// fetchArgs is a parsed FETCH command.
type fetchArgs struct {
	set          imap.NumSet
	items        []fetchItem
	changedSince uint64 // RFC 7162 3.1.4.1 CHANGEDSINCE; 0 = none
	vanished     bool   // RFC 7162 3.2.6 VANISHED modifier
}

// maxFetchItems bounds the number of items of one FETCH.
const maxFetchItems = 100

// parseFetchArgs reads SP sequence-set SP (macro / fetch-att / "(" fetch-att
// *(SP fetch-att) ")") [SP "(" fetch-modifier *(SP fetch-modifier) ")"],
// without the final CRLF.
func parseFetchArgs(d *decoder, uid bool) (*fetchArgs, error) {
	a := &fetchArgs{}
	if err := d.SP(); err != nil {
		return nil, err
	}
	set, err := d.NumSet(uid)
	if err != nil {
		return nil, err
	}
	a.set = set
	if err := d.SP(); err != nil {
		return nil, err
	}
	if c, err := d.Peek(); err != nil {
		return nil, err
	} else if c == '(' {
		err := d.List(func() error {
			if len(a.items) >= maxFetchItems {
				return errBad("too many fetch items")
			}
			it, err := parseFetchAtt(d)
			a.items = append(a.items, it...)
			return err
		})
		if err != nil {
			return nil, err
		}
	} else {
		it, err := parseFetchAtt(d)
		if err != nil {
			return nil, err
		}
		a.items = it
	}
	if d.EOL() {
		return a, nil
	}
	if err := d.SP(); err != nil {
		return nil, err
	}
	err = d.List(func() error {
		name, err := d.Atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(name) {
		case "CHANGEDSINCE": // RFC 7162 3.1.4.1
			if err := d.SP(); err != nil {
				return err
			}
			v, err := d.Number64()
			if err != nil {
				return err
			}
			a.changedSince = v
			// RFC 7162 3.1.4.1: CHANGEDSINCE implies the MODSEQ item.
			a.items = append(a.items, fetchItem{kind: fetchModSeq})
		case "VANISHED": // RFC 7162 3.2.6
			a.vanished = true
		default:
			return errBad("unknown FETCH modifier")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if a.vanished && (!uid || a.changedSince == 0) {
		// RFC 7162 3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE.
		return nil, errBad("VANISHED requires UID FETCH and CHANGEDSINCE")
	}
	return a, nil
}

// parseFetchAtt reads one fetch-att or macro (RFC 9051 9, RFC 3501 6.4.5).
func parseFetchAtt(d *decoder) ([]fetchItem, error) {
	name, err := d.Atom()
	if err != nil {
		return nil, err
	}
	up := strings.ToUpper(name)
	simple := func(k ...fetchKind) []fetchItem {
		its := make([]fetchItem, len(k))
		for i := range k {
			its[i].kind = k[i]
		}
		return its
	}
	switch up {
	case "ALL":
		return simple(fetchFlags, fetchInternalDate, fetchSize, fetchEnvelope), nil
	case "FAST":
		return simple(fetchFlags, fetchInternalDate, fetchSize), nil
	case "FULL":
		return simple(fetchFlags, fetchInternalDate, fetchSize, fetchEnvelope, fetchBody), nil
	case "UID":
		return simple(fetchUID), nil
	case "FLAGS":
		return simple(fetchFlags), nil
	case "INTERNALDATE":
		return simple(fetchInternalDate), nil
	case "RFC822.SIZE":
		return simple(fetchSize), nil
	case "ENVELOPE":
		return simple(fetchEnvelope), nil
	case "BODY":
		return simple(fetchBody), nil
	case "BODYSTRUCTURE":
		return simple(fetchBodyStructure), nil
	case "MODSEQ":
		return simple(fetchModSeq), nil
	case "RFC822":
		return simple(fetchRFC822), nil
	case "RFC822.HEADER":
		return simple(fetchRFC822Head), nil
	case "RFC822.TEXT":
		return simple(fetchRFC822Text), nil
	}
	var it fetchItem
	var rest string
	switch {
	case strings.HasPrefix(up, "BODY["):
		it.kind, rest = fetchSection, name[len("BODY["):]
	case strings.HasPrefix(up, "BODY.PEEK["):
		it.kind, it.peek, rest = fetchSection, true, name[len("BODY.PEEK["):]
	case strings.HasPrefix(up, "BINARY["):
		it.kind, rest = fetchBinary, name[len("BINARY["):]
	case strings.HasPrefix(up, "BINARY.PEEK["):
		it.kind, it.peek, rest = fetchBinary, true, name[len("BINARY.PEEK["):]
	case strings.HasPrefix(up, "BINARY.SIZE["):
		it.kind, rest = fetchBinarySize, name[len("BINARY.SIZE["):]
	default:
		return nil, errBad("unknown FETCH item")
	}
	sec, err := parseSectionText(rest, it.kind == fetchSection)
	if err != nil {
		return nil, err
	}
	if sec.Spec == specFields || sec.Spec == specFieldsNot {
		// header-list = "(" header-fld-name *(SP header-fld-name) ")"
		if err := d.SP(); err != nil {
			return nil, err
		}
		err := d.List(func() error {
			f, err := d.AString()
			if err != nil {
				return err
			}
			if f == "" || strings.ContainsAny(f, ": \t\r\n") {
				return errBad("invalid header field name")
			}
			if len(sec.Fields) >= maxFetchItems {
				return errBad("too many header fields")
			}
			sec.Fields = append(sec.Fields, f)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(sec.Fields) == 0 {
			return nil, errBad("empty header list")
		}
	}
	it.sec = sec
	if err := d.Expect(']'); err != nil {
		return nil, err
	}
	if it.kind != fetchBinarySize && d.Accept('<') {
		// partial = "<" number64 "." nz-number64 ">" (RFC 9051 9)
		off, err := d.Number64()
		if err != nil {
			return nil, err
		}
		if err := d.Expect('.'); err != nil {
			return nil, err
		}
		n, err := d.Number64()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errBad("partial length must not be zero")
		}
		if err := d.Expect('>'); err != nil {
			return nil, err
		}
		it.partial, it.off, it.count = true, int64(off), int64(n)
	}
	return []fetchItem{it}, nil
}

// parseSectionText parses the inside of "[...]" up to a header list:
// section-part ["." section-msgtext / "." "MIME"] or section-msgtext
// (RFC 9051 9). Binary sections have a part only.
func parseSectionText(s string, body bool) (sectionSpec, error) {
	var sec sectionSpec
	for s != "" {
		i := strings.IndexByte(s, '.')
		tok := s
		if i >= 0 {
			tok = s[:i]
		}
		if tok == "" || tok[0] < '0' || tok[0] > '9' {
			break
		}
		n, err := strconv.ParseUint(tok, 10, 31)
		if err != nil || n == 0 || tok[0] == '0' {
			return sec, errBad("invalid section part number")
		}
		if len(sec.Path) >= 100 {
			return sec, errBad("section nested too deep")
		}
		sec.Path = append(sec.Path, int(n))
		if i < 0 {
			s = ""
			break
		}
		s = s[i+1:]
		if s == "" {
			return sec, errBad("invalid section")
		}
	}
	if s == "" {
		return sec, nil
	}
	if !body {
		return sec, errBad("invalid binary section")
	}
	switch spec := strings.ToUpper(s); spec {
	case specHeader, specFields, specFieldsNot, specText:
		sec.Spec = spec
	case specMIME:
		if len(sec.Path) == 0 {
			return sec, errBad("MIME needs a part number")
		}
		sec.Spec = spec
	default:
		return sec, errBad("invalid section")
	}
	return sec, nil
}

// sectionName formats section for the response: "1.2.HEADER.FIELDS (A B)".
func (sec *sectionSpec) name() string {
	var b strings.Builder
	for i, n := range sec.Path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	if sec.Spec != "" {
		if len(sec.Path) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(sec.Spec)
	}
	if len(sec.Fields) > 0 {
		b.WriteString(" (")
		for i, f := range sec.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			if isAtomWord(f) {
				b.WriteString(f)
			} else {
				b.Write(appendIString(nil, f, false))
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// isAtomWord reports whether s can be written as an atom.
func isAtomWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// fetchNeeds returns the storage fields the items need, and whether the blob
// must be opened and whether the items mark messages \Seen.
func fetchNeeds(items []fetchItem) (f storage.Fields, blob, seen bool) {
	for _, it := range items {
		switch it.kind {
		case fetchEnvelope:
			f |= storage.FieldEnvelope
		case fetchBody, fetchBodyStructure:
			f |= storage.FieldStructure
		case fetchSection:
			blob = true
			seen = seen || !it.peek
			switch {
			case len(it.sec.Path) == 0 && it.sec.Spec == specNone:
			case len(it.sec.Path) == 0 && it.sec.Spec != specText:
				// Header sections: the stored header, the structure
				// only in case the stored header was cut.
				f |= storage.FieldHeader | storage.FieldStructure
			default:
				f |= storage.FieldStructure
			}
		case fetchBinary, fetchBinarySize:
			blob = true
			seen = seen || (it.kind == fetchBinary && !it.peek)
			if len(it.sec.Path) > 0 {
				f |= storage.FieldStructure
			}
		case fetchRFC822:
			blob, seen = true, true
		case fetchRFC822Head:
			blob = true
			f |= storage.FieldHeader | storage.FieldStructure
		case fetchRFC822Text:
			blob, seen = true, true
			f |= storage.FieldStructure
		}
	}
	return f, blob, seen
}

// fromIMAPUIDSet converts a client's UID set ("*" = 0 = to the end).
func fromIMAPUIDSet(set imap.UIDSet) storage.UIDSet {
	out := make(storage.UIDSet, 0, len(set))
	for _, r := range set {
		start, stop := storage.UID(r.Start), storage.UID(r.Stop)
		if start == 0 { // "*:n" is "n:*"
			start, stop = stop, 0
		}
		if stop != 0 && stop < start {
			start, stop = stop, start
		}
		if start == 0 {
			start = 1
		}
		out = append(out, storage.UIDRange{Start: start, Stop: stop})
	}
	return out
}

func cmdFetch(uid bool) func(s *session, tag string, d *decoder) error {
	return func(s *session, tag string, d *decoder) error {
		a, err := parseFetchArgs(d, uid)
		if err != nil {
			return err
		}
		if err := d.CRLF(); err != nil {
			return err
		}
		return s.fetch(tag, a, uid)
	}
}

// internalDateLayout is date-time of RFC 9051 9 (date-day-fixed is SP DIGIT
// or 2DIGIT).
const internalDateLayout = "_2-Jan-2006 15:04:05 -0700"

func (s *session) fetch(tag string, a *fetchArgs, uid bool) error {
	v := s.sel
	if uid {
		// RFC 9051 6.4.9: UID FETCH always returns the UID.
		a.items = append([]fetchItem{{kind: fetchUID}}, a.items...)
	}
	wantModSeq := false
	for _, it := range a.items {
		if it.kind == fetchModSeq {
			wantModSeq = true
		}
	}
	if wantModSeq || a.changedSince > 0 {
		s.enableCondstore() // RFC 7162 3.1: CONDSTORE enabling command
	}
	if a.vanished && !s.enabled.qresync {
		return errBad("VANISHED requires ENABLE QRESYNC")
	}
	uids, err := s.resolve(a.set)
	if err != nil {
		return err
	}

	// RFC 7162 3.2.6: VANISHED (EARLIER) comes before the FETCH responses.
	if a.vanished {
		set, _ := a.set.(imap.UIDSet)
		gone, err := s.v.Vanished(s.ctx, v.mbox.ID, storage.ModSeq(a.changedSince), fromIMAPUIDSet(set))
		if err != nil {
			return s.storageError(err)
		}
		if len(gone) > 0 {
			s.e.Untagged().Atom("VANISHED (EARLIER) ").Atom(imapUIDSet(gone).String()).CRLF()
		}
	}
	if len(uids) == 0 {
		return nil
	}

	fields, needBlob, marksSeen := fetchNeeds(a.items)
	msgs, err := s.v.Messages(s.ctx, v.mbox.ID, storage.Query{
		UIDs: uidRanges(uids), ChangedSince: storage.ModSeq(a.changedSince), Fields: fields,
	})
	if err != nil {
		return s.storageError(err)
	}

	// Non-PEEK body items set \Seen (RFC 9051 6.4.5), in one StoreFlags
	// call, before the responses so that they carry the new flags; only
	// for a user that may keep its \Seen ("s", RFC 4314 4).
	seenSet := map[storage.UID]bool{}
	if marksSeen && !v.examined && v.rights.Has(acl.Of(acl.Seen)) {
		var unseen []storage.UID
		for i := range msgs {
			if !hasFlag(msgs[i].Flags, storage.FlagSeen) {
				if _, ok := v.SeqOf(msgs[i].UID); ok {
					unseen = append(unseen, msgs[i].UID)
				}
			}
		}
		if len(unseen) > 0 {
			res, err := s.v.StoreFlags(s.ctx, v.mbox.ID, storage.FlagUpdate{
				UIDs: uidRanges(unseen), Op: storage.FlagsAdd, Flags: []string{storage.FlagSeen},
			})
			if err != nil {
				return s.storageError(err)
			}
			upd := make(map[storage.UID]*storage.Message, len(res.Updated))
			for i := range res.Updated {
				upd[res.Updated[i].UID] = &res.Updated[i]
			}
			for i := range msgs {
				if u, ok := upd[msgs[i].UID]; ok {
					msgs[i].Flags, msgs[i].ModSeq = u.Flags, u.ModSeq
					seenSet[u.UID] = true
					s.noteOwnChange(u.UID, u.ModSeq)
				}
			}
		}
	}

	utf8 := s.e.utf8
	var buf []byte
	wantFlags := len(seenSet) > 0
	for _, it := range a.items {
		if it.kind == fetchFlags {
			wantFlags = true
		}
	}
	// Messages of the view that another session expunged (absent from
	// msgs, or whose body went before it was opened) still get a FETCH
	// response, with empty data (RFC 2180 4.1.3, as Dovecot does), and the
	// command succeeds with EXPUNGEISSUED (RFC 9051 7.1). With
	// CHANGEDSINCE an absent message is one that did not change.
	gone := 0
	j := 0
	for _, u := range uids {
		seq, ok := v.SeqOf(u)
		if !ok {
			continue // not yet announced to this client
		}
		for j < len(msgs) && msgs[j].UID < u {
			j++
		}
		if j < len(msgs) && msgs[j].UID == u {
			m := &msgs[j]
			if wantFlags {
				s.announceKeywords(m.Flags)
			}
			err := s.fetchOne(seq, m, a.items, needBlob, seenSet[m.UID], utf8, &buf)
			if errors.Is(err, errBodyGone) {
				s.log.Debug("message body gone during FETCH", "uid", m.UID)
				gone++
				err = s.fetchExpunged(seq, u, a.items, m.Flags, wantFlags)
			}
			if err != nil {
				return err
			}
		} else if a.changedSince == 0 {
			gone++
			if gone == 1 {
				// Learn the expunge (and the message's last flags) now.
				s.applyChanges()
			}
			if err := s.fetchExpunged(seq, u, a.items, v.goneFlags[u], wantFlags); err != nil {
				return err
			}
		}
		if err := s.e.Err(); err != nil {
			return err
		}
	}
	if gone > 0 {
		s.tagged(tag, "OK", "EXPUNGEISSUED", "some messages were expunged by another session")
	}
	return nil
}

// fetchResponse writes one FETCH response (RFC 9051 7.5.2): its items
// separated by SP, and UID, FLAGS and MODSEQ at most once each, though a
// request may name them twice and FETCH adds FLAGS and MODSEQ after
// setting \Seen (RFC 9051 6.4.5, RFC 7162 3.1.4).
type fetchResponse struct {
	s                              *session
	items                          int
	sentUID, sentFlags, sentModSeq bool
}

// startFetch writes "* seq FETCH (" and returns the response to add the
// items to.
func (s *session) startFetch(seq uint32) fetchResponse {
	s.e.Untagged().Number(seq).Atom(" FETCH (")
	return fetchResponse{s: s}
}

// sp starts an item: SP before every item but the first.
func (r *fetchResponse) sp() {
	if r.items > 0 {
		r.s.e.SP()
	}
	r.items++
}

// uid writes "UID uid" unless it was written.
func (r *fetchResponse) uid(uid storage.UID) {
	if r.sentUID {
		return
	}
	r.sentUID = true
	r.sp()
	r.s.e.Atom("UID ").Number(uint32(uid))
}

// flags writes the message's flags (with \Recent where the session shows
// it) unless they were written.
func (r *fetchResponse) flags(uid storage.UID, flags []string) {
	if r.sentFlags {
		return
	}
	r.sentFlags = true
	r.sp()
	r.s.e.Atom("FLAGS ").Flags(r.s.flagsOut(uid, flags))
}

// modSeq writes "MODSEQ (modseq)" unless it was written.
func (r *fetchResponse) modSeq(modseq storage.ModSeq) {
	if r.sentModSeq {
		return
	}
	r.sentModSeq = true
	r.sp()
	r.s.e.Atom("MODSEQ (").Number64(uint64(modseq)).Byte(')')
}

// end closes the response; its error is the encoder's.
func (r *fetchResponse) end() error {
	r.s.e.Byte(')').CRLF()
	return r.s.e.Err()
}

// Data of a message expunged by another session (RFC 2180 4.1.3 "NIL
// FETCH responses"; the values Dovecot sends, which clients and imaptest
// recognise as such).
const (
	expungedInternalDate = `"01-Jan-1970 00:00:00 +0000"`
	expungedEnvelope     = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
	expungedBody         = `("text" "plain" NIL NIL NIL "7bit" 0 0)`
)

// fetchExpunged writes the FETCH response of message uid (sequence number
// seq) that another session expunged: its UID, its last known flags and
// modseq, and empty data for everything else.
func (s *session) fetchExpunged(seq uint32, uid storage.UID, items []fetchItem, flags []string, wantFlags bool) error {
	if wantFlags {
		s.announceKeywords(flags)
	}
	r := s.startFetch(seq)
	e, sp := s.e, r.sp
	for _, it := range items {
		switch it.kind {
		case fetchUID:
			r.uid(uid)
		case fetchFlags:
			r.flags(uid, flags)
		case fetchInternalDate:
			sp()
			e.Atom("INTERNALDATE " + expungedInternalDate)
		case fetchSize:
			sp()
			e.Atom("RFC822.SIZE 0")
		case fetchEnvelope:
			sp()
			e.Atom("ENVELOPE " + expungedEnvelope)
		case fetchBody:
			sp()
			e.Atom("BODY " + expungedBody)
		case fetchBodyStructure:
			sp()
			e.Atom("BODYSTRUCTURE " + expungedBody)
		case fetchModSeq:
			r.modSeq(s.sel.ModSeqOf(uid))
		case fetchSection:
			sp()
			e.Atom("BODY[").Atom(it.sec.name()).Byte(']')
			if it.partial {
				e.Byte('<').Number64(uint64(it.off)).Byte('>')
			}
			e.SP().NIL()
		case fetchRFC822:
			sp()
			e.Atom("RFC822 ").NIL()
		case fetchRFC822Head:
			sp()
			e.Atom("RFC822.HEADER ").NIL()
		case fetchRFC822Text:
			sp()
			e.Atom("RFC822.TEXT ").NIL()
		case fetchBinary:
			sp()
			e.Atom("BINARY[").Atom(it.sec.name()).Byte(']')
			if it.partial {
				e.Byte('<').Number64(uint64(it.off)).Byte('>')
			}
			e.SP().NIL()
		case fetchBinarySize:
			sp()
			e.Atom("BINARY.SIZE[").Atom(it.sec.name()).Atom("] 0")
		}
	}
	return r.end()
}

// errBodyGone: the message's body was removed (its last copy expunged)
// after the metadata was read.
var errBodyGone = errors.New("message body gone")

// fetchOne writes the FETCH response of one message.
func (s *session) fetchOne(seq uint32, m *storage.Message, items []fetchItem, needBlob, seenChanged, utf8 bool, buf *[]byte) (err error) {
	var blob storage.Blob
	if needBlob {
		blob, err = s.v.OpenBlob(s.ctx, s.sel.mbox.ID, m.Blob)
		if errors.Is(err, storage.ErrNotFound) {
			return errBodyGone
		}
		if err != nil {
			return s.storageError(err)
		}
		defer blob.Close()
	}
	// Prepare the sections first: an error (UNKNOWN-CTE) must not leave a
	// response half written.
	datas := make([]*sectionData, len(items))
	for i, it := range items {
		var d *sectionData
		var ok bool
		switch it.kind {
		case fetchSection:
			d, ok, err = bodySection(blob, m.Size, m.Structure, storedHeader(m.Header), it.sec)
		case fetchRFC822:
			d, ok, err = bodySection(blob, m.Size, m.Structure, nil, sectionSpec{})
		case fetchRFC822Head:
			d, ok, err = bodySection(blob, m.Size, m.Structure, storedHeader(m.Header), sectionSpec{Spec: specHeader})
		case fetchRFC822Text:
			d, ok, err = bodySection(blob, m.Size, m.Structure, nil, sectionSpec{Spec: specText})
		case fetchBinary, fetchBinarySize:
			d, ok, err = binarySection(blob, m.Size, m.Structure, it.sec.Path)
		default:
			continue
		}
		if err == errUnknownCTE {
			return errNo("UNKNOWN-CTE", "cannot decode the part's content-transfer-encoding")
		}
		if err != nil {
			return s.storageError(err)
		}
		if ok {
			datas[i] = d
		}
	}

	r := s.startFetch(seq)
	e, sp := s.e, r.sp
	for i, it := range items {
		switch it.kind {
		case fetchUID:
			r.uid(m.UID)
		case fetchFlags:
			r.flags(m.UID, m.Flags)
		case fetchInternalDate:
			sp()
			e.Atom(`INTERNALDATE "`).Atom(m.InternalDate.Format(internalDateLayout)).Byte('"')
		case fetchSize:
			sp()
			e.Atom("RFC822.SIZE ").Number64(uint64(m.Size))
		case fetchEnvelope:
			sp()
			*buf = appendEnvelope(append((*buf)[:0], "ENVELOPE "...), m.Envelope, utf8)
			e.Atom(string(*buf))
		case fetchBody, fetchBodyStructure:
			sp()
			name := "BODY "
			if it.kind == fetchBodyStructure {
				name = "BODYSTRUCTURE "
			}
			root := m.Structure
			if root == nil {
				root = &storage.Part{Type: "text", Subtype: "plain", BodyStart: 0, End: m.Size}
			}
			*buf = appendBodyStructure(append((*buf)[:0], name...), root, it.kind == fetchBodyStructure, utf8)
			e.Atom(string(*buf))
		case fetchModSeq:
			r.modSeq(m.ModSeq)
		case fetchSection, fetchRFC822, fetchRFC822Head, fetchRFC822Text:
			sp()
			switch it.kind {
			case fetchSection:
				e.Atom("BODY[").Atom(it.sec.name()).Byte(']')
				if it.partial {
					e.Byte('<').Number64(uint64(it.off)).Byte('>')
				}
			case fetchRFC822:
				e.Atom("RFC822")
			case fetchRFC822Head:
				e.Atom("RFC822.HEADER")
			case fetchRFC822Text:
				e.Atom("RFC822.TEXT")
			}
			e.SP()
			writeSection(e, datas[i], it, false)
		case fetchBinary:
			sp()
			e.Atom("BINARY[").Atom(it.sec.name()).Byte(']')
			if it.partial {
				e.Byte('<').Number64(uint64(it.off)).Byte('>')
			}
			e.SP()
			writeSection(e, datas[i], it, true)
		case fetchBinarySize:
			sp()
			e.Atom("BINARY.SIZE[").Atom(it.sec.name()).Atom("] ")
			if datas[i] == nil {
				e.NIL()
			} else {
				e.Number64(uint64(datas[i].Size))
			}
		}
	}
	// RFC 9051 6.4.5: when \Seen was set, the new flags are returned; with
	// CONDSTORE the response to a change carries MODSEQ (RFC 7162 3.1.4).
	if seenChanged {
		r.flags(m.UID, m.Flags)
	}
	if seenChanged && s.enabled.condstore {
		r.modSeq(m.ModSeq)
	}
	return r.end()
}

// writeSection writes a section's content as a literal (literal8 for
// binary content with NUL, RFC 3516 4.2), or NIL when it does not exist.
func writeSection(e *encoder, d *sectionData, it fetchItem, binary bool) {
	if d == nil {
		e.NIL()
		return
	}
	off, count := int64(0), int64(-1)
	if it.partial {
		off, count = it.off, it.count
	}
	r, n, err := d.Reader(off, count)
	if err != nil {
		// A read error of the blob: the encoder's sticky error ends the
		// connection, as a half-written literal cannot be recovered.
		e.Literal(errReader{err}, 1, false)
		return
	}
	e.Literal(r, n, binary && d.NUL)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
