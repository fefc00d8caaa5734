package imap

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

func init() {
	register("SELECT", command{fn: cmdSelect, states: authStates, expungeOK: true})
	register("EXAMINE", command{fn: cmdExamine, states: authStates, expungeOK: true})
	register("CLOSE", command{fn: cmdClose, states: selStates, expungeOK: true})
	register("UNSELECT", command{fn: cmdUnselect, states: selStates, expungeOK: true})
	register("EXPUNGE", command{fn: cmdExpunge, states: selStates, expungeOK: true})
	register("UID EXPUNGE", command{fn: cmdUIDExpunge, states: selStates, uid: true, expungeOK: true})
	register("CHECK", command{fn: cmdCheck, states: selStates, expungeOK: true})
}

func cmdSelect(s *session, tag string, d *decoder) error  { return s.selectMailbox(tag, d, false) }
func cmdExamine(s *session, tag string, d *decoder) error { return s.selectMailbox(tag, d, true) }

// qresyncParams are the QRESYNC select parameters (RFC 7162 3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modSeq      storage.ModSeq
	knownUIDs   imap.UIDSet
}

// deselect leaves the selected state (RFC 9051 6.3.2: a failed SELECT also
// deselects). With QRESYNC or IMAP4rev2 the client is told with [CLOSED]
// (RFC 7162 3.2.11, RFC 9051 7.1).
func (s *session) deselect(announce bool) {
	if s.sel == nil {
		return
	}
	if s.watch != nil {
		s.watch.Close()
		s.watch = nil
	}
	s.sel = nil
	s.state = stateAuth
	if announce && (s.enabled.qresync || s.enabled.rev2) {
		s.e.Untagged().Atom("OK [CLOSED] previous mailbox closed").CRLF()
	}
}

// RFC 9051 6.3.2 SELECT, 6.3.3 EXAMINE; RFC 7162 3.1.8 (CONDSTORE) and
// 3.2.5 (QRESYNC) parameters.
func (s *session) selectMailbox(tag string, d *decoder, readOnly bool) error {
	verb := "SELECT"
	if readOnly {
		verb = "EXAMINE"
	}
	if err := d.SP(); err != nil {
		return err
	}
	name, err := d.Mailbox()
	if err != nil {
		return err
	}
	var condstore bool
	var qr *qresyncParams
	if d.Accept(' ') {
		err := d.List(func() error {
			p, err := d.Atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(p) {
			case "CONDSTORE":
				condstore = true
			case "QRESYNC":
				if err := d.SP(); err != nil {
					return err
				}
				qr, err = parseQresync(d)
				return err
			default:
				return errBad("unknown select parameter")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if qr != nil && !s.enabled.qresync {
		return errBad("QRESYNC is not enabled") // RFC 7162 3.2.5
	}
	s.deselect(true)
	if condstore {
		s.enabled.condstore = true // RFC 7162 3.1: a CONDSTORE-enabling command
	}
	f, err := s.mailbox(name)
	if err != nil {
		return s.storageError(err)
	}
	mb := f.Mailbox
	// Watch first, then read: nothing committed in between is missed (a
	// change repeating what the read returned is recognised as an echo).
	w, err := s.v.Watch(s.ctx, mb.ID)
	if err != nil {
		return s.storageError(err)
	}
	msgs, err := s.v.Messages(s.ctx, mb.ID, storage.Query{})
	if err != nil {
		w.Close()
		return s.storageError(err)
	}
	// RFC 4314 5.2: read-only unless the user may insert, expunge or
	// change a shared flag ("s" changes only the user's own \Seen).
	examined := readOnly
	if !f.Rights.Any(acl.Of(acl.Insert, acl.Expunge, acl.Write, acl.DeleteMessages)) {
		readOnly = true
	}
	v := newSelected(mb, readOnly, msgs)
	v.name, v.own, v.rights, v.examined = f.Name, f.Own, f.Rights, examined
	uidNext := mb.UIDNext
	if v.maxUID >= uidNext {
		uidNext = v.maxUID + 1
	}
	// RFC 3501 2.3.2: a read-write SELECT claims the messages no session
	// has seen as recent; EXAMINE only sees them (recent.go).
	v.recent = s.srv.recent.claim(keyOf(mb), v.uids, v.maxUID, !readOnly)

	e := s.e
	fl := v.flagList()
	e.Untagged().Atom("FLAGS ").Flags(fl).CRLF()
	e.Untagged().Number(v.Count()).Atom(" EXISTS").CRLF()
	if !s.enabled.rev2 {
		e.Untagged().Number(uint32(len(v.recent))).Atom(" RECENT").CRLF() // RFC 3501 7.3.2; removed in rev2
		for i, m := range msgs {
			if !slices.Contains(m.Flags, storage.FlagSeen) {
				e.Untagged().Atom("OK [UNSEEN ").Number(uint32(i + 1)).Atom("] first unseen").CRLF()
				break
			}
		}
	}
	e.Untagged().Atom("OK [UIDVALIDITY ").Number(mb.UIDValidity).Atom("] UIDs valid").CRLF()
	e.Untagged().Atom("OK [UIDNEXT ").Number(uint32(uidNext)).Atom("] predicted next UID").CRLF()
	if pf := v.permanentFlags(fl); examined || len(pf) == 0 {
		e.Untagged().Atom("OK [PERMANENTFLAGS ()] read-only mailbox").CRLF()
	} else {
		// Read-only by rights with "s": the user's own \Seen.
		e.Untagged().Atom("OK [PERMANENTFLAGS ").Flags(pf).Atom("] flags permitted").CRLF()
	}
	if s.enabled.condstore {
		e.Untagged().Atom("OK [HIGHESTMODSEQ ").Number64(uint64(v.highestModSeq)).Atom("] highest").CRLF()
	}
	if s.enabled.rev2 {
		// RFC 9051 6.3.2: the mailbox's LIST data.
		e.Untagged().Atom(`LIST () "/" `).Mailbox(f.Name).CRLF()
	}
	s.sel = v
	s.watch = w
	s.state = stateSelected
	if qr != nil && qr.uidValidity == mb.UIDValidity {
		if err := s.qresync(qr); err != nil {
			return err
		}
	}
	if readOnly {
		s.tagged(tag, "OK", "READ-ONLY", verb+" completed")
	} else {
		s.tagged(tag, "OK", "READ-WRITE", verb+" completed")
	}
	return nil
}

// enableCondstore turns CONDSTORE on for a CONDSTORE-enabling command
// (RFC 7162 3.1). The first time, with a mailbox selected, the client is
// told the mailbox's HIGHESTMODSEQ, as SELECT would have done (RFC 7162
// 3.1.2.1 / 3.1.6).
func (s *session) enableCondstore() {
	if s.enabled.condstore {
		return
	}
	s.enabled.condstore = true
	if s.sel != nil {
		s.e.Untagged().Atom("OK [HIGHESTMODSEQ ").Number64(uint64(s.sel.highestModSeq)).Atom("] highest").CRLF()
	}
}

// parseQresync reads "(" uidvalidity SP mod-sequence-value [SP known-uids]
// [SP seq-match-data] ")" (RFC 7162 3.2.5 and 7).
func parseQresync(d *decoder) (*qresyncParams, error) {
	if err := d.Expect('('); err != nil {
		return nil, err
	}
	var qr qresyncParams
	var err error
	if qr.uidValidity, err = d.Number(); err != nil {
		return nil, err
	}
	if err := d.SP(); err != nil {
		return nil, err
	}
	ms, err := d.Number64()
	if err != nil {
		return nil, err
	}
	qr.modSeq = storage.ModSeq(ms)
	if d.Accept(' ') {
		if !d.peekIs('(') {
			set, err := d.NumSet(true)
			if err != nil {
				return nil, err
			}
			if imap.IsSearchRes(set) {
				return nil, errBad("$ not allowed here")
			}
			qr.knownUIDs = set.(imap.UIDSet)
			if !d.Accept(' ') {
				return &qr, d.Expect(')')
			}
		}
		// seq-match-data = "(" known-sequence-set SP known-uid-set ")".
		// It only lets a server shorten VANISHED (EARLIER); we send the
		// full answer, which RFC 7162 3.2.5.2 allows, so it is parsed and
		// not used.
		if err := d.Expect('('); err != nil {
			return nil, err
		}
		if _, err := d.NumSet(false); err != nil {
			return nil, err
		}
		if err := d.SP(); err != nil {
			return nil, err
		}
		if _, err := d.NumSet(true); err != nil {
			return nil, err
		}
		if err := d.Expect(')'); err != nil {
			return nil, err
		}
	}
	return &qr, d.Expect(')')
}

// toStorageUIDs converts an imap.UIDSet to a storage.UIDSet ("*" = to the end).
func toStorageUIDs(set imap.UIDSet) storage.UIDSet {
	out := make(storage.UIDSet, 0, len(set))
	for _, r := range set {
		start, stop := storage.UID(r.Start), storage.UID(r.Stop)
		if start == 0 {
			start = 1
		}
		out = append(out, storage.UIDRange{Start: start, Stop: stop})
	}
	return out
}

// qresync sends what changed since the client's modseq (RFC 7162 3.2.5.1):
// VANISHED (EARLIER) for expunged UIDs and FETCH for changed messages.
func (s *session) qresync(qr *qresyncParams) error {
	v := s.sel
	known := toStorageUIDs(qr.knownUIDs)
	gone, err := s.v.Vanished(s.ctx, v.mbox.ID, qr.modSeq, known)
	if err != nil {
		return s.storageError(err)
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		s.e.Untagged().Atom("VANISHED (EARLIER) ").Atom(imapUIDSet(gone).String()).CRLF()
	}
	changed, err := s.v.Messages(s.ctx, v.mbox.ID, storage.Query{ChangedSince: qr.modSeq, UIDs: known})
	if err != nil {
		return s.storageError(err)
	}
	for _, m := range changed {
		seq, ok := v.SeqOf(m.UID)
		if !ok {
			continue
		}
		s.e.Untagged().Number(seq).Atom(" FETCH (UID ").Number(uint32(m.UID)).Atom(" FLAGS ").Flags(m.Flags).
			Atom(" MODSEQ (").Number64(uint64(m.ModSeq)).Atom("))").CRLF()
	}
	return nil
}

// deletedIn returns the UIDs of uids (all of the view when nil) that have
// \Deleted, per storage.
func (s *session) deletedIn(uids []storage.UID, all bool) ([]storage.UID, error) {
	v := s.sel
	q := storage.Query{}
	if !all {
		if len(uids) == 0 {
			return nil, nil
		}
		q.UIDs = uidRanges(uids)
	}
	msgs, err := s.v.Messages(s.ctx, v.mbox.ID, q)
	if err != nil {
		return nil, err
	}
	var out []storage.UID
	for _, m := range msgs {
		if _, inView := v.SeqOf(m.UID); inView && slices.Contains(m.Flags, storage.FlagDeleted) {
			out = append(out, m.UID)
		}
	}
	return out, nil
}

// RFC 9051 6.4.1: CLOSE expunges \Deleted messages silently unless the
// mailbox is read-only or the user lacks "e" (RFC 4314 4: CLOSE then just
// closes).
func cmdClose(s *session, tag string, d *decoder) error {
	if err := d.CRLF(); err != nil {
		return err
	}
	if !s.sel.readOnly && s.sel.rights.Has(acl.Of(acl.Expunge)) {
		del, err := s.deletedIn(nil, true)
		if err != nil {
			return s.storageError(err)
		}
		if len(del) > 0 {
			if _, err := s.v.Expunge(s.ctx, s.sel.mbox.ID, del); err != nil {
				return s.storageError(err)
			}
		}
	}
	s.deselect(false)
	return nil
}

// RFC 3691 UNSELECT: leave without expunging.
func cmdUnselect(s *session, tag string, d *decoder) error {
	if err := d.CRLF(); err != nil {
		return err
	}
	s.deselect(false)
	return nil
}

// RFC 9051 6.4.3.
func cmdExpunge(s *session, tag string, d *decoder) error {
	if err := d.CRLF(); err != nil {
		return err
	}
	return s.expunge(tag, nil, true)
}

// RFC 4315 2.1 UID EXPUNGE.
func cmdUIDExpunge(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	set, err := d.NumSet(true)
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	uids, err := s.resolve(set)
	if err != nil {
		return err
	}
	return s.expunge(tag, uids, false)
}

func (s *session) expunge(tag string, uids []storage.UID, all bool) error {
	v := s.sel
	if v.readOnly {
		return errNo("READ-ONLY", "mailbox is read-only")
	}
	del, err := s.deletedIn(uids, all)
	if err != nil {
		return s.storageError(err)
	}
	if len(del) > 0 {
		gone, err := s.v.Expunge(s.ctx, v.mbox.ID, del)
		if err != nil {
			return s.storageError(err)
		}
		s.noteExpunged(gone)
	}
	if s.enabled.condstore {
		// RFC 7162 3.2.10 / 3.1.8: HIGHESTMODSEQ in the tagged OK.
		f, err := s.v.Folder(s.ctx, v.mbox.ID)
		if err == nil {
			hm := max(f.Mailbox.HighestModSeq, v.highestModSeq)
			s.tagged(tag, "OK", "HIGHESTMODSEQ "+uitoa(uint64(hm)), "EXPUNGE completed")
		}
	}
	return nil
}

// RFC 3501 6.4.1 CHECK: nothing to do; data is always durable.
func cmdCheck(s *session, tag string, d *decoder) error { return d.CRLF() }
