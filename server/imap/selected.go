package imap

import (
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// selected is the session's view of its selected mailbox (RFC 9051 2.3.1):
// sequence number n (1-based) is uids[n-1]. The view changes only when the
// session tells the client (flushUpdates), so sessions on one mailbox agree
// with storage at the points the protocol allows.
type selected struct {
	mbox storage.Mailbox
	// readOnly: the selection is read-only (READ-ONLY): EXAMINE, or the
	// user may not insert, expunge or change a shared flag (RFC 4314 5.2).
	// examined: the client asked for read-only access (EXAMINE); then no
	// flag changes at all. A SELECT that is read-only by rights still
	// keeps the user's own \Seen when it has "s" (STORE, FETCH of a body),
	// as Dovecot does: the view checks each flag's right.
	readOnly bool
	examined bool
	// name is the mailbox's name for the user ("~jane@example.test/Box"
	// for someone else's); own is true for the user's own mailbox; rights
	// are the user's rights on it, refreshed at every command
	// (rightsStillHeld).
	name   string
	own    bool
	rights acl.Rights

	uids   []storage.UID
	modseq []storage.ModSeq // per message: the last change the client knows of
	// maxUID is the highest UID the view has ever held: an "added" change
	// at or below it is an echo of what SELECT already loaded.
	maxUID storage.UID
	// announced is the message count the client knows (EXISTS minus EXPUNGE).
	announced int
	// highestModSeq is the highest modseq seen in the view.
	highestModSeq storage.ModSeq
	// keywords in use (for FLAGS / PERMANENTFLAGS): lower-cased name ->
	// the spelling first seen (keywords compare case-insensitively, RFC
	// 9051 2.3.2, but are listed as the client stored them).
	keywords map[string]string

	// Pending unilateral updates.
	expunged map[storage.UID]struct{} // still in uids until reported
	// goneFlags: the last flags of messages another session expunged (from
	// the change), for the FETCH responses that still name them.
	goneFlags    map[storage.UID][]string
	fetches      []pendingFetch
	flagsChanged bool // a new keyword: send FLAGS again
	// deleted: another session deleted the selected mailbox.
	deleted bool
	// recent: the UIDs (sorted) whose \Recent this session owns, or, read-
	// only, saw unclaimed (recent.go).
	recent []storage.UID
	// updates: the SEARCH/SORT RETURN (UPDATE) contexts (esearch_context.go).
	updates *searchUpdates
}

// errSelectedDeleted ends a session whose selected mailbox another session
// deleted, after "* BYE" (as Dovecot does: the client reconnects and sees
// the new folder list).
var errSelectedDeleted = errors.New("selected mailbox deleted")

type pendingFetch struct {
	uid    storage.UID
	modseq storage.ModSeq
	flags  []string
}

func newSelected(mb storage.Mailbox, readOnly bool, msgs []storage.Message) *selected {
	v := &selected{
		mbox:          mb,
		readOnly:      readOnly,
		uids:          make([]storage.UID, len(msgs)),
		modseq:        make([]storage.ModSeq, len(msgs)),
		keywords:      map[string]string{},
		expunged:      map[storage.UID]struct{}{},
		highestModSeq: mb.HighestModSeq,
	}
	for i, m := range msgs {
		v.uids[i] = m.UID
		v.modseq[i] = m.ModSeq
		v.addKeywords(m.Flags)
		v.highestModSeq = max(v.highestModSeq, m.ModSeq)
	}
	if len(v.uids) > 0 {
		v.maxUID = v.uids[len(v.uids)-1]
	}
	if mb.UIDNext > 0 {
		v.maxUID = max(v.maxUID, mb.UIDNext-1)
	}
	v.announced = len(v.uids)
	return v
}

// addKeywords records keywords; it reports whether one was new.
func (v *selected) addKeywords(flags []string) bool {
	added := false
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			continue
		}
		k := strings.ToLower(f)
		if _, ok := v.keywords[k]; !ok {
			v.keywords[k] = f
			added = true
		}
	}
	return added
}

// flagList is the FLAGS response: system flags and the keywords in use.
func (v *selected) flagList() []string {
	out := []string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`}
	kw := make([]string, 0, len(v.keywords))
	for _, k := range v.keywords {
		kw = append(kw, k)
	}
	sort.Slice(kw, func(i, j int) bool { return strings.ToLower(kw[i]) < strings.ToLower(kw[j]) })
	return append(out, kw...)
}

// announceKeywords makes sure the client knows every keyword of flags
// before a FETCH carrying them is written: a keyword not yet in the view's
// FLAGS is added and FLAGS (and PERMANENTFLAGS for a read-write view) are
// sent at once (RFC 9051 7.3.5: FLAGS lists the flags applicable to the
// mailbox; clients such as imaptest check that every fetched keyword was
// announced). Pending FLAGS from the change stream are sent too.
func (s *session) announceKeywords(flags []string) {
	v := s.sel
	if v == nil {
		return
	}
	if v.addKeywords(flags) {
		v.flagsChanged = true
	}
	if v.flagsChanged {
		s.writeFlags()
	}
}

// writeFlags sends FLAGS and, for a read-write view, PERMANENTFLAGS.
func (s *session) writeFlags() {
	v := s.sel
	v.flagsChanged = false
	fl := v.flagList()
	e := s.e
	e.Untagged().Atom("FLAGS ").Flags(fl).CRLF()
	if !v.readOnly {
		e.Untagged().Atom("OK [PERMANENTFLAGS ").Flags(v.permanentFlags(fl)).Atom("] flags").CRLF()
	}
}

// permanentFlags returns the flags of fl the user may change for good
// (RFC 4314 4: "s" for \Seen, "t" for \Deleted, "w" for the others and
// new keywords, \*).
func (v *selected) permanentFlags(fl []string) []string {
	if v.rights == acl.All {
		return append(fl, `\*`)
	}
	out := make([]string, 0, len(fl)+1)
	for _, f := range fl {
		switch {
		case strings.EqualFold(f, storage.FlagSeen):
			if v.rights.Has(acl.Of(acl.Seen)) {
				out = append(out, f)
			}
		case strings.EqualFold(f, storage.FlagDeleted):
			if v.rights.Has(acl.Of(acl.DeleteMessages)) {
				out = append(out, f)
			}
		case v.rights.Has(acl.Of(acl.Write)):
			out = append(out, f)
		}
	}
	if v.rights.Has(acl.Of(acl.Write)) {
		out = append(out, `\*`)
	}
	return out
}

// Count is the number of messages in the view (the last EXISTS).
func (v *selected) Count() uint32 { return uint32(len(v.uids)) }

// UIDAt returns the UID of sequence number seq (1-based); 0 when out of range.
func (v *selected) UIDAt(seq uint32) storage.UID {
	if seq == 0 || int(seq) > len(v.uids) {
		return 0
	}
	return v.uids[seq-1]
}

// SeqOf returns the sequence number of uid.
func (v *selected) SeqOf(uid storage.UID) (uint32, bool) {
	i, ok := slices.BinarySearch(v.uids, uid)
	if !ok {
		return 0, false
	}
	return uint32(i + 1), true
}

// ModSeqOf returns the last modseq of uid the client was told of.
func (v *selected) ModSeqOf(uid storage.UID) storage.ModSeq {
	i, ok := slices.BinarySearch(v.uids, uid)
	if !ok {
		return 0
	}
	return v.modseq[i]
}

// UIDs returns the view's UIDs in order (do not modify).
func (v *selected) UIDs() []storage.UID { return v.uids }

// Expunged reports whether uid was expunged but not yet reported.
func (v *selected) Expunged(uid storage.UID) bool {
	_, ok := v.expunged[uid]
	return ok
}

// uidRanges compresses sorted UIDs into a storage.UIDSet for a query. An
// empty input gives nil, which storage reads as "all": callers must check
// for no UIDs first.
func uidRanges(uids []storage.UID) storage.UIDSet {
	var set storage.UIDSet
	for _, u := range uids {
		if n := len(set); n > 0 && set[n-1].Stop+1 == u {
			set[n-1].Stop = u
			continue
		}
		set = append(set, storage.UIDRange{Start: u, Stop: u})
	}
	return set
}

// imapUIDSet converts sorted UIDs to an imap.UIDSet (for responses such as
// VANISHED, COPYUID, APPENDUID: use its String method).
func imapUIDSet(uids []storage.UID) imap.UIDSet {
	var set imap.UIDSet
	for _, u := range uids {
		if n := len(set); n > 0 && set[n-1].Stop+1 == imap.UID(u) {
			set[n-1].Stop = imap.UID(u)
			continue
		}
		set = append(set, imap.UIDRange{Start: imap.UID(u), Stop: imap.UID(u)})
	}
	return set
}

// resolve turns a sequence set, UID set or "$" into the UIDs of the view
// (sorted, unique). "*" is the last message (RFC 9051 6.4.8); UIDs not in
// the view are ignored (RFC 9051 6.4.9); sequence numbers out of range are
// BAD. "$" is the saved search result (RFC 5182) restricted to the view.
func (s *session) resolve(set imap.NumSet) ([]storage.UID, error) {
	v := s.sel
	if v == nil {
		return nil, errBad("no mailbox selected")
	}
	if imap.IsSearchRes(set) {
		var out []storage.UID
		for _, u := range s.searchRes {
			if _, ok := v.SeqOf(u); ok {
				out = append(out, u)
			}
		}
		return out, nil
	}
	var out []storage.UID
	switch set := set.(type) {
	case imap.SeqSet:
		n := uint32(len(v.uids))
		for _, r := range set {
			start, stop := r.Start, r.Stop
			if start == 0 {
				start = n
			}
			if stop == 0 {
				stop = n
			}
			if start > stop {
				start, stop = stop, start
			}
			if n == 0 && r.Stop == 0 {
				continue // "*" in an empty mailbox selects nothing
			}
			if start == 0 || stop > n {
				return nil, errBad("invalid message sequence number")
			}
			out = append(out, v.uids[start-1:stop]...)
		}
	case imap.UIDSet:
		if len(v.uids) == 0 {
			return nil, nil
		}
		last := v.uids[len(v.uids)-1]
		for _, r := range set {
			start, stop := storage.UID(r.Start), storage.UID(r.Stop)
			if start == 0 {
				start = last
			}
			if stop == 0 {
				stop = last
			}
			if start > stop {
				start, stop = stop, start
			}
			i, _ := slices.BinarySearch(v.uids, start)
			j, found := slices.BinarySearch(v.uids, stop)
			if found {
				j++
			}
			if i < j {
				out = append(out, v.uids[i:j]...)
			}
		}
	default:
		return nil, errBad("invalid message set")
	}
	if len(out) > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out, nil
}

// noteOwnChange tells the view that the client was told of uid's flags at
// modseq (by a STORE/FETCH response), so the echo from the change stream is
// not reported again.
func (s *session) noteOwnChange(uid storage.UID, modseq storage.ModSeq) {
	v := s.sel
	if v == nil {
		return
	}
	if i, ok := slices.BinarySearch(v.uids, uid); ok && modseq > v.modseq[i] {
		v.modseq[i] = modseq
	}
	v.highestModSeq = max(v.highestModSeq, modseq)
}

// noteExpunged tells the view that these messages are gone (EXPUNGE, MOVE,
// CLOSE): the EXPUNGE/VANISHED responses are written by flushUpdates when
// allowed.
func (s *session) noteExpunged(uids []storage.UID) {
	v := s.sel
	if v == nil {
		return
	}
	for _, u := range uids {
		if _, ok := v.SeqOf(u); ok {
			v.expunged[u] = struct{}{}
		}
	}
}

// applyChanges takes the waiting changes of the selected mailbox into the
// view (the watch gives them with the flags as the user sees them). A
// change stream that fails (a storage error while reading back the user's
// \Seen) ends the session like a deleted mailbox: the client resynchronises
// on reconnection.
func (s *session) applyChanges() {
	if s.watch == nil {
		return
	}
	changes, err := s.watch.Next(s.ctx)
	v := s.sel
	if v == nil {
		return
	}
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Error("reading the selected mailbox's changes failed", slog.Any("error", err))
		}
		v.deleted = true
		return
	}
	for _, c := range changes {
		if c.Mailbox != v.mbox.ID {
			continue
		}
		v.updates.noteChange(c)
		v.highestModSeq = max(v.highestModSeq, c.ModSeq)
		switch c.Kind {
		case storage.ChangeMessageAdded:
			if c.UID <= v.maxUID {
				continue
			}
			v.maxUID = c.UID
			v.uids = append(v.uids, c.UID)
			v.modseq = append(v.modseq, c.ModSeq)
			s.addRecent(c.UID)
			if v.addKeywords(c.Flags) {
				v.flagsChanged = true
			}
		case storage.ChangeFlags:
			i, ok := slices.BinarySearch(v.uids, c.UID)
			if !ok || c.ModSeq <= v.modseq[i] {
				continue
			}
			v.modseq[i] = c.ModSeq
			v.fetches = append(v.fetches, pendingFetch{uid: c.UID, modseq: c.ModSeq, flags: c.Flags})
			if v.addKeywords(c.Flags) {
				v.flagsChanged = true
			}
		case storage.ChangeExpunged:
			if _, ok := v.SeqOf(c.UID); ok {
				v.expunged[c.UID] = struct{}{}
				if v.goneFlags == nil {
					v.goneFlags = map[storage.UID][]string{}
				}
				v.goneFlags[c.UID] = c.Flags
			}
		case storage.ChangeMailboxDeleted:
			v.deleted = true
			s.srv.recent.forget(keyOf(v.mbox))
		}
	}
}

// flushUpdates writes the pending unilateral responses (RFC 9051 7.5.1,
// RFC 7162 3.2.10): FLAGS when a new keyword appeared, EXPUNGE (or VANISHED
// with QRESYNC) when allowExpunge, EXISTS when the count changed, and
// FETCH (UID FLAGS [MODSEQ]) for flag changes the client has not seen. It
// does not flush the encoder.
func (s *session) flushUpdates(allowExpunge bool) error {
	s.applyChanges()
	v := s.sel
	if v == nil {
		if err := s.flushNotify(); err != nil {
			return err
		}
		return s.e.Err()
	}
	if v.deleted {
		s.bye("selected mailbox was deleted, please reconnect")
		return errSelectedDeleted
	}
	e := s.e
	if v.flagsChanged {
		s.writeFlags()
	}
	if allowExpunge && len(v.expunged) > 0 {
		// Only messages the client was told of (by EXISTS) are reported;
		// one that came and went since the last EXISTS is dropped silently
		// (its sequence number would be beyond what the client knows).
		known := min(v.announced, len(v.uids))
		gone := make([]storage.UID, 0, len(v.expunged))
		s.contextsExpunge(known) // REMOVEFROM before EXPUNGE (RFC 5267 4.3.4)
		if s.enabled.qresync {
			for _, u := range v.uids[:known] {
				if _, ok := v.expunged[u]; ok {
					gone = append(gone, u)
				}
			}
			if len(gone) > 0 {
				// RFC 7162 3.2.10: VANISHED instead of EXPUNGE.
				e.Untagged().Atom("VANISHED ").Atom(imapUIDSet(gone).String()).CRLF()
			}
		} else {
			// Highest sequence number first, so that each number is valid
			// when the client reads it (RFC 9051 7.5.1).
			for i := known - 1; i >= 0; i-- {
				if _, ok := v.expunged[v.uids[i]]; ok {
					e.Untagged().Number(uint32(i + 1)).Atom(" EXPUNGE").CRLF()
					gone = append(gone, v.uids[i])
				}
			}
		}
		keep := 0
		for i, u := range v.uids {
			if _, ok := v.expunged[u]; ok {
				continue
			}
			v.uids[keep], v.modseq[keep] = u, v.modseq[i]
			keep++
		}
		v.uids, v.modseq = v.uids[:keep], v.modseq[:keep]
		v.recent = slices.DeleteFunc(v.recent, func(u storage.UID) bool {
			_, gone := v.expunged[u]
			return gone
		})
		v.announced -= len(gone)
		clear(v.expunged)
		v.goneFlags = nil
	}
	newFrom, newTo := uint32(v.announced+1), uint32(len(v.uids))
	if len(v.uids) != v.announced {
		e.Untagged().Number(uint32(len(v.uids))).Atom(" EXISTS").CRLF()
		if !s.enabled.rev2 {
			// RFC 3501 7.3.2: the number of \Recent messages changes
			// with new ones (recent.go).
			e.Untagged().Number(uint32(len(v.recent))).Atom(" RECENT").CRLF()
		}
		v.announced = len(v.uids)
	}
	if len(v.fetches) > 0 && !s.holdFetches {
		// The last pending change of a message wins.
		last := make(map[storage.UID]int, len(v.fetches))
		for i, f := range v.fetches {
			last[f.uid] = i
		}
		for i, f := range v.fetches {
			if last[f.uid] != i {
				continue
			}
			if _, gone := v.expunged[f.uid]; gone {
				continue // its EXPUNGE follows; the flags do not matter
			}
			seq, ok := v.SeqOf(f.uid)
			if !ok {
				continue
			}
			e.Untagged().Number(seq).Atom(" FETCH (UID ").Number(uint32(f.uid)).Atom(" FLAGS ").Flags(s.flagsOut(f.uid, f.flags))
			if s.enabled.condstore {
				e.Atom(" MODSEQ (").Number64(uint64(f.modseq)).Byte(')')
			}
			e.Byte(')').CRLF()
		}
		v.fetches = v.fetches[:0]
	}
	if err := s.notifyFetchNew(newFrom, newTo); err != nil { // NOTIFY MessageNew fetch-att
		return err
	}
	if err := s.flushContexts(); err != nil { // ADDTO/REMOVEFROM (RFC 5267 4.3)
		return err
	}
	if err := s.flushNotify(); err != nil { // NOTIFY: other mailboxes
		return err
	}
	return e.Err()
}
