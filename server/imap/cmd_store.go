package imap

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// STORE and UID STORE (RFC 9051 6.4.6, 6.4.9), with .SILENT and CONDSTORE's
// UNCHANGEDSINCE / MODIFIED (RFC 7162 3.1.3). One StoreFlags call per
// command.

func init() {
	register("STORE", command{fn: cmdStore(false), states: []state{stateSelected}})
	register("UID STORE", command{fn: cmdStore(true), states: []state{stateSelected}, uid: true, expungeOK: true})
}

// storeArgs is a parsed STORE command.
type storeArgs struct {
	set            imap.NumSet
	op             storage.FlagOp
	silent         bool
	flags          []string
	unchanged      bool   // UNCHANGEDSINCE given
	unchangedSince uint64 // its value (0 is valid: always fails, RFC 7162 3.1.3)
}

// maxStoreFlags bounds the flags of one STORE.
const maxStoreFlags = 100

// parseStoreArgs reads SP sequence-set SP ["(" "UNCHANGEDSINCE" SP
// mod-sequence-valzer ")" SP] (["+" / "-"] "FLAGS" [".SILENT"]) SP
// (flag-list / (flag *(SP flag))), without the final CRLF (RFC 9051 9,
// RFC 7162 7).
func parseStoreArgs(d *decoder, uid bool) (*storeArgs, error) {
	a := &storeArgs{}
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
			name, err := d.Atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(name, "UNCHANGEDSINCE") || a.unchanged {
				return errBad("unknown STORE modifier")
			}
			if err := d.SP(); err != nil {
				return err
			}
			v, err := d.Number64()
			if err != nil {
				return err
			}
			a.unchanged, a.unchangedSince = true, v
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := d.SP(); err != nil {
			return nil, err
		}
	}
	item, err := d.Atom()
	if err != nil {
		return nil, err
	}
	item = strings.ToUpper(item)
	switch {
	case strings.HasPrefix(item, "+"):
		a.op, item = storage.FlagsAdd, item[1:]
	case strings.HasPrefix(item, "-"):
		a.op, item = storage.FlagsRemove, item[1:]
	default:
		a.op = storage.FlagsReplace
	}
	switch item {
	case "FLAGS":
	case "FLAGS.SILENT":
		a.silent = true
	default:
		return nil, errBad("unknown STORE item")
	}
	if err := d.SP(); err != nil {
		return nil, err
	}
	addFlag := func() error {
		f, err := d.Flag()
		if err != nil {
			return err
		}
		if len(a.flags) >= maxStoreFlags {
			return errBad("too many flags")
		}
		a.flags = append(a.flags, f)
		return nil
	}
	if c, err := d.Peek(); err != nil {
		return nil, err
	} else if c == '(' {
		if err := d.List(addFlag); err != nil {
			return nil, err
		}
	} else {
		for {
			if err := addFlag(); err != nil {
				return nil, err
			}
			if d.EOL() {
				break
			}
			if err := d.SP(); err != nil {
				return nil, err
			}
		}
	}
	if err := checkStoreFlags(a.flags); err != nil {
		return nil, err
	}
	return a, nil
}

// checkStoreFlags refuses flags a client cannot store: \Recent (RFC 3501
// 2.3.2) and unknown system flags (flag-extension); keywords are allowed
// (PERMANENTFLAGS includes \*).
func checkStoreFlags(flags []string) error {
	if err := checkKeywordLengths(flags); err != nil { // limits.go
		return err
	}
	for _, f := range flags {
		if !strings.HasPrefix(f, `\`) {
			continue
		}
		switch f {
		case storage.FlagSeen, storage.FlagAnswered, storage.FlagFlagged, storage.FlagDeleted, storage.FlagDraft:
		case `\Recent`:
			return errBad(`\Recent cannot be stored`)
		default:
			return errBad("unknown system flag")
		}
	}
	return nil
}

func cmdStore(uid bool) func(s *session, tag string, d *decoder) error {
	return func(s *session, tag string, d *decoder) error {
		a, err := parseStoreArgs(d, uid)
		if err != nil {
			return err
		}
		if err := d.CRLF(); err != nil {
			return err
		}
		return s.storeFlags(tag, a, uid)
	}
}

func (s *session) storeFlags(tag string, a *storeArgs, uid bool) error {
	v := s.sel
	// EXAMINE changes no flag; a SELECT that is read-only by rights goes
	// on, and the view changes only the flags the user has rights for
	// (its own \Seen with "s").
	if v.examined || v.readOnly && !v.rights.Has(acl.Of(acl.Seen)) {
		return errNo("", "mailbox is read-only")
	}
	if a.unchanged {
		s.enableCondstore() // RFC 7162 3.1: CONDSTORE enabling command
	}
	uids, err := s.resolve(a.set)
	if err != nil {
		return err
	}
	if a.op != storage.FlagsRemove {
		if err := s.checkKeywordCount(a.flags); err != nil { // limits.go
			return err
		}
	}
	var res storage.FlagResult
	switch {
	case len(uids) == 0:
	case a.unchanged && a.unchangedSince == 0:
		// RFC 7162 3.1.3: UNCHANGEDSINCE 0 fails for every message.
		res.Modified = uids
	default:
		// The view changes only the flags the user may change (RFC 4314
		// 4: "s" \Seen, "t" \Deleted, "w" the others) and answers NOPERM
		// when it may change none of those named.
		res, err = s.v.StoreFlags(s.ctx, v.mbox.ID, storage.FlagUpdate{
			UIDs: uidRanges(uids), Op: a.op, Flags: a.flags,
			UnchangedSince: storage.ModSeq(a.unchangedSince),
		})
		if err != nil {
			return s.storageError(err)
		}
	}

	// RFC 9051 6.4.6: the server SHOULD send the flags of every message of
	// the set unless .SILENT, also of those the STORE did not change; their
	// flags come from one metadata query (no body fields).
	if !a.silent && len(uids) > 0 && len(res.Updated)+len(res.Modified) < len(uids) {
		done := make(map[storage.UID]bool, len(res.Updated)+len(res.Modified))
		for _, m := range res.Updated {
			done[m.UID] = true
		}
		for _, u := range res.Modified {
			done[u] = true
		}
		var rest []storage.UID
		for _, u := range uids {
			if !done[u] {
				rest = append(rest, u)
			}
		}
		same, err := s.v.Messages(s.ctx, v.mbox.ID, storage.Query{UIDs: uidRanges(rest)})
		if err != nil {
			return s.storageError(err)
		}
		res.Updated = append(res.Updated, same...)
		slices.SortFunc(res.Updated, func(x, y storage.Message) int { return cmpUID(x.UID, y.UID) })
	}

	// RFC 9051 6.4.6: untagged FETCH with the new flags unless .SILENT;
	// RFC 7162 3.1.3: with CONDSTORE the FETCH carries MODSEQ and is sent
	// even with .SILENT (then without FLAGS).
	e := s.e
	for i := range res.Updated {
		s.announceKeywords(res.Updated[i].Flags)
	}
	for i := range res.Updated {
		m := &res.Updated[i]
		seq, ok := v.SeqOf(m.UID)
		if !ok {
			continue
		}
		s.noteOwnChange(m.UID, m.ModSeq)
		if a.silent && !s.enabled.condstore {
			continue
		}
		e.Untagged().Number(seq).Atom(" FETCH (")
		if !a.silent {
			e.Atom("FLAGS ").Flags(s.flagsOut(m.UID, m.Flags)).SP()
		}
		e.Atom("UID ").Number(uint32(m.UID))
		if s.enabled.condstore {
			e.Atom(" MODSEQ (").Number64(uint64(m.ModSeq)).Byte(')')
		}
		e.Byte(')').CRLF()
	}
	if err := e.Err(); err != nil {
		return err
	}
	if len(res.Modified) > 0 {
		// RFC 7162 3.1.3: MODIFIED lists the messages that failed the
		// UNCHANGEDSINCE test, as UIDs for UID STORE, else as numbers.
		slices.Sort(res.Modified)
		var set string
		if uid {
			set = imapUIDSet(res.Modified).String()
		} else {
			var ss imap.SeqSet
			for _, u := range res.Modified {
				if seq, ok := v.SeqOf(u); ok {
					ss.AddNum(seq)
				}
			}
			set = ss.String()
		}
		if set != "" {
			s.tagged(tag, "OK", "MODIFIED "+set, "conditional STORE failed")
		}
	}
	return nil
}

func cmpUID(a, b storage.UID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
