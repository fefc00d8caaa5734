package imap

import (
	"errors"
	"slices"
	"strconv"

	"github.com/floemail/floe/storage"
)

// COPY, MOVE and their UID forms (RFC 9051 6.4.7, 6.4.8, 6.4.9; RFC 6851
// MOVE; RFC 4315 COPYUID). The destination is resolved through s.mailbox
// and the copy made by the user's view (RFC 4314 4: "r" on the source, "i"
// on the destination; MOVE also "t" and "e" on the source).

func init() {
	register("COPY", command{fn: cmdCopy(false, false), states: []state{stateSelected}, expungeOK: true})
	register("UID COPY", command{fn: cmdCopy(true, false), states: []state{stateSelected}, uid: true, expungeOK: true})
	// RFC 6851 3.3: MOVE sends EXPUNGE (or VANISHED) before its tagged OK.
	register("MOVE", command{fn: cmdCopy(false, true), states: []state{stateSelected}, expungeOK: true})
	register("UID MOVE", command{fn: cmdCopy(true, true), states: []state{stateSelected}, uid: true, expungeOK: true})
}

func cmdCopy(uid, move bool) func(s *session, tag string, d *decoder) error {
	return func(s *session, tag string, d *decoder) error {
		// copy = "COPY" SP sequence-set SP mailbox
		if err := d.SP(); err != nil {
			return err
		}
		set, err := d.NumSet(uid)
		if err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		name, err := d.Mailbox()
		if err != nil {
			return err
		}
		if err := d.CRLF(); err != nil {
			return err
		}
		v := s.sel
		if move && v.readOnly {
			return errNo("", "mailbox is read-only")
		}
		uids, err := s.resolve(set)
		if err != nil {
			return err
		}
		dst, err := s.mailbox(name)
		if errors.Is(err, storage.ErrNoMailbox) {
			// RFC 9051 6.4.7: TRYCREATE when the destination does not exist.
			return errNo("TRYCREATE", "no such mailbox")
		}
		if err != nil {
			return s.storageError(err)
		}
		if err := s.v.CanAppend(s.ctx, dst.ID()); err != nil {
			return s.storageError(err)
		}
		if len(uids) == 0 {
			return nil
		}
		var res storage.CopyResult
		if move {
			res, err = s.v.Move(s.ctx, v.mbox.ID, uidRanges(uids), dst.ID())
		} else {
			res, err = s.v.Copy(s.ctx, v.mbox.ID, uidRanges(uids), dst.ID())
		}
		if err != nil {
			return s.storageError(err)
		}
		code := copyUID(res)
		verb := "COPY"
		if move {
			verb = "MOVE"
			// RFC 6851 4.3 / RFC 4315: with MOVE the COPYUID goes in an
			// untagged OK before the expunges, which the command loop
			// writes (expungeOK) before the tagged OK.
			if code != "" {
				s.e.Untagged().Atom("OK [").Atom(code).Atom("] moved").CRLF()
			}
			s.noteExpunged(res.Source)
			return s.e.Err()
		}
		if code != "" {
			s.tagged(tag, "OK", code, verb+" completed")
		}
		return nil
	}
}

// copyUID formats the COPYUID response code (RFC 4315 3): the UID validity
// of the destination, the source UIDs and the new UIDs in the same order.
// Both sets are written in ascending source order; new UIDs are assigned
// in that order, so compact ranges keep the correspondence.
func copyUID(res storage.CopyResult) string {
	if len(res.Source) == 0 || len(res.Source) != len(res.Dest) {
		return ""
	}
	type pair struct{ src, dst storage.UID }
	ps := make([]pair, len(res.Source))
	for i := range res.Source {
		ps[i] = pair{res.Source[i], res.Dest[i]}
	}
	slices.SortFunc(ps, func(a, b pair) int { return cmpUID(a.src, b.src) })
	var src, dst []byte
	for i := 0; i < len(ps); {
		j := i + 1
		for j < len(ps) && ps[j].src == ps[j-1].src+1 && ps[j].dst == ps[j-1].dst+1 {
			j++
		}
		src = appendRange(src, ps[i].src, ps[j-1].src)
		dst = appendRange(dst, ps[i].dst, ps[j-1].dst)
		i = j
	}
	return "COPYUID " + strconv.FormatUint(uint64(res.UIDValidity), 10) + " " + string(src) + " " + string(dst)
}

func appendRange(b []byte, a, z storage.UID) []byte {
	if len(b) > 0 {
		b = append(b, ',')
	}
	b = strconv.AppendUint(b, uint64(a), 10)
	if z != a {
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(z), 10)
	}
	return b
}
