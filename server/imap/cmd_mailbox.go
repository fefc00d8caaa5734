package imap

import (
	"errors"
	"slices"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// This file implements the mailbox commands: CREATE (with USE, RFC 6154),
// DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (RFC 9051 6.3.9 with
// LIST-EXTENDED, RFC 5258, LIST-STATUS, RFC 5819, and SPECIAL-USE, RFC 6154),
// LSUB (RFC 3501 6.3.9), NAMESPACE (RFC 2342) and STATUS (RFC 9051 6.3.11).
//
// Hierarchy: the delimiter is "/"; superior names need not exist. CREATE and
// RENAME create missing superiors (RFC 9051 6.3.4, 6.3.6). DELETE of a
// mailbox with inferiors deletes only that mailbox and keeps the inferiors
// (RFC 9051 6.3.5); LIST then shows the name as \NonExistent (\Noselect for
// IMAP4rev1 clients) with \HasChildren.
//
// Every command naming a mailbox goes through the user's view
// (storage/view), the authorization point: names in the other users'
// ("~owner@domain/...") and shared ("#public/...") namespaces are folders of
// other accounts, with the rights of RFC 4314 4 ("k" to create in a tree,
// "x" to delete or rename away, "l" to see at all).

func init() {
	authSel := []state{stateAuth, stateSelected}
	register("CREATE", command{fn: cmdCreate, states: authSel, expungeOK: true})
	register("DELETE", command{fn: cmdDelete, states: authSel, expungeOK: true})
	register("RENAME", command{fn: cmdRename, states: authSel, expungeOK: true})
	register("SUBSCRIBE", command{fn: cmdSubscribe(true), states: authSel, expungeOK: true})
	register("UNSUBSCRIBE", command{fn: cmdSubscribe(false), states: authSel, expungeOK: true})
	register("LIST", command{fn: cmdList, states: authSel, expungeOK: true})
	register("LSUB", command{fn: cmdLsub, states: authSel, expungeOK: true})
	register("NAMESPACE", command{fn: cmdNamespace, states: authSel, expungeOK: true})
	register("STATUS", command{fn: cmdStatus, states: authSel, expungeOK: true})
}

// useAttrs are the SPECIAL-USE attributes CREATE accepts (RFC 6154 2); \All
// is not: it would name a virtual mailbox Floe does not have.
var useAttrs = []string{`\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`}

// cmdCreate: CREATE mailbox [SP "(" "USE" SP "(" use-attrs ")" ")"]
// (RFC 9051 6.3.4, RFC 4466 create-param, RFC 6154 5.2).
func cmdCreate(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	name, err := d.Mailbox()
	if err != nil {
		return err
	}
	problem := d.nameProblem
	var use []string
	if !d.EOL() {
		if err := d.SP(); err != nil {
			return err
		}
		err := d.List(func() error {
			p, err := d.Atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(p, "USE") {
				return errBad("unknown CREATE parameter")
			}
			if err := d.SP(); err != nil {
				return err
			}
			return d.List(func() error {
				f, err := d.Flag()
				use = append(use, f)
				return err
			})
		})
		if err != nil {
			return err
		}
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	// A trailing delimiter declares a name for inferiors (RFC 9051 6.3.4);
	// Floe needs no such declaration and creates a plain mailbox.
	name = canonicalMailbox(strings.TrimSuffix(name, "/"))
	if name == "INBOX" {
		return errNo("ALREADYEXISTS", "INBOX always exists")
	}
	if err := newNameAllowed(name, problem); err != nil {
		return err
	}
	su := ""
	switch {
	case len(use) > 1:
		return errNo("USEATTR", "only one special-use attribute per mailbox")
	case len(use) == 1:
		i := slices.IndexFunc(useAttrs, func(a string) bool { return strings.EqualFold(a, use[0]) })
		if i < 0 {
			return errNo("USEATTR", "unsupported special-use attribute")
		}
		su = useAttrs[i]
	}
	if err := s.checkMailboxCount(); err != nil { // limits.go
		return err
	}
	s.notifyOwn(storage.ChangeMailboxCreated, name, 0) // not echoed to NOTIFY
	// The view creates the missing superiors too (RFC 9051 6.3.4: "the
	// server SHOULD create any superior hierarchical names that are
	// needed").
	if _, err := s.v.Create(s.ctx, name, su); err != nil {
		switch {
		case errors.Is(err, storage.ErrInvalid):
			return errNo("CANNOT", "invalid mailbox name")
		case errors.Is(err, storage.ErrNoMailbox):
			// A tree the user cannot see: as if it may not create there,
			// whether or not the owner exists.
			return errNo("NOPERM", "permission denied")
		}
		return s.storageError(err)
	}
	return nil
}

// newNameAllowed refuses, with NO, a name CREATE or RENAME must not give a
// mailbox: one the decoder flagged (problem), or one starting with "#"
// other than "#public/" (reserved for namespaces, RFC 9051 5.1.2, RFC
// 2342). "~owner@domain/..." and "#public/..." name folders of other
// accounts' trees, created there when the user may (the view checks "k").
func newNameAllowed(name, problem string) error {
	if problem != "" {
		return errNo("CANNOT", problem)
	}
	if strings.HasPrefix(name, "#") && !(len(name) > len(view.PublicPrefix) && strings.EqualFold(name[:len(view.PublicPrefix)], view.PublicPrefix)) {
		return errNo("CANNOT", `names starting with "#" are reserved for other namespaces`)
	}
	return nil
}

// cmdDelete: DELETE mailbox (RFC 9051 6.3.5). INBOX cannot be deleted;
// inferiors stay.
func cmdDelete(s *session, tag string, d *decoder) error {
	name, err := d.mailboxArg()
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return errNo("CANNOT", "INBOX cannot be deleted")
	}
	mb, err := s.mailbox(name)
	if err != nil {
		return s.storageError(err)
	}
	s.notifyOwn(storage.ChangeMailboxDeleted, mb.Mailbox.Name, mb.ID())
	if err := s.v.Delete(s.ctx, mb.ID()); err != nil {
		if errors.Is(err, storage.ErrInvalid) {
			return errNo("CANNOT", "INBOX cannot be deleted")
		}
		return s.storageError(err)
	}
	s.srv.recent.forget(keyOf(mb.Mailbox))
	return nil
}

// cmdRename: RENAME existing new (RFC 9051 6.3.6). Inferiors are renamed
// along; renaming INBOX moves its messages to the new mailbox and leaves
// INBOX empty (storage does both).
func cmdRename(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	from, err := d.Mailbox()
	if err != nil {
		return err
	}
	to, err := d.mailboxArg()
	if err != nil {
		return err
	}
	to = canonicalMailbox(strings.TrimSuffix(to, "/"))
	if to == "INBOX" {
		return errNo("ALREADYEXISTS", "INBOX always exists")
	}
	if err := newNameAllowed(to, d.nameProblem); err != nil {
		return err
	}
	mb, err := s.mailbox(from)
	if err != nil {
		return s.storageError(err)
	}
	s.notifyOwn(storage.ChangeMailboxRenamed, mb.Mailbox.Name, mb.ID())
	s.notifyOwn(storage.ChangeMailboxCreated, to, 0) // its superiors (and a new INBOX)
	// The view checks "x" on the mailbox and "k" where it goes, refuses a
	// move into another account's tree (CANNOT, whether or not that tree
	// exists) and creates the new name's missing superiors.
	if _, err := s.v.Rename(s.ctx, mb.ID(), to); err != nil {
		switch {
		case errors.Is(err, storage.ErrInvalid):
			return errNo("CANNOT", "cannot rename to that name")
		case errors.Is(err, storage.ErrNoMailbox):
			return errNo("NOPERM", "permission denied")
		}
		return s.storageError(err)
	}
	return nil
}

// cmdSubscribe handles SUBSCRIBE and UNSUBSCRIBE (RFC 9051 6.3.7, 6.3.8).
// Subscriptions are the user's own list of names: SUBSCRIBE needs a mailbox
// the user can see ("l"); UNSUBSCRIBE always succeeds (declining a shared
// folder, dropping a name whose mailbox is gone). A subscription outlives
// its mailbox (RFC 9051 6.3.7).
func cmdSubscribe(on bool) func(s *session, tag string, d *decoder) error {
	return func(s *session, tag string, d *decoder) error {
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
		s.notifyOwn(storage.ChangeMailboxSubscribed, name, 0) // not echoed to NOTIFY
		if !on {
			return s.storageError(s.v.Unsubscribe(s.ctx, canonicalMailbox(name)))
		}
		_, err = s.v.Subscribe(s.ctx, canonicalMailbox(name))
		return s.storageError(err)
	}
}

// listOptions are LIST's selection and return options (RFC 5258 3).
type listOptions struct {
	extended bool // LIST-EXTENDED syntax was used

	// selection options
	subscribed, remote, recursive, specialUse bool
	// return options
	retSubscribed, retChildren, retSpecialUse bool
	status                                    []string // LIST-STATUS items (RFC 5819)
}

// cmdList: LIST [SP list-select-opts] SP mailbox SP mbox-or-pat
// [SP list-return-opts] (RFC 9051 6.3.9, RFC 5258 3).
func cmdList(s *session, tag string, d *decoder) error {
	var o listOptions
	if err := d.SP(); err != nil {
		return err
	}
	if d.peekIs('(') {
		o.extended = true
		err := d.List(func() error {
			a, err := d.Atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "SUBSCRIBED":
				o.subscribed = true
			case "REMOTE":
				o.remote = true
			case "RECURSIVEMATCH":
				o.recursive = true
			case "SPECIAL-USE":
				o.specialUse = true // RFC 6154 3
			default:
				return errBad("unknown LIST selection option")
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		// RFC 5258 3: RECURSIVEMATCH needs another option that is not
		// REMOTE.
		if o.recursive && !o.subscribed && !o.specialUse {
			return errBad("RECURSIVEMATCH needs a selection option such as SUBSCRIBED")
		}
	}
	ref, err := d.Mailbox()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	var patterns []string
	if d.peekIs('(') {
		o.extended = true
		err = d.List(func() error {
			p, err := d.ListMailbox()
			patterns = append(patterns, p)
			return err
		})
	} else {
		var p string
		p, err = d.ListMailbox()
		patterns = append(patterns, p)
	}
	if err != nil {
		return err
	}
	if !d.EOL() {
		if err := d.SP(); err != nil {
			return err
		}
		a, err := d.Atom()
		if err != nil {
			return err
		}
		if !strings.EqualFold(a, "RETURN") {
			return errBad("syntax error: expected RETURN")
		}
		if err := d.SP(); err != nil {
			return err
		}
		o.extended = true
		err = d.List(func() error {
			a, err := d.Atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "SUBSCRIBED":
				o.retSubscribed = true
			case "CHILDREN":
				o.retChildren = true
			case "SPECIAL-USE":
				o.retSpecialUse = true
			case "STATUS":
				if err := d.SP(); err != nil {
					return err
				}
				o.status, err = statusItems(d)
				return err
			default:
				return errBad("unknown LIST return option")
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
	// RFC 9051 6.3.9: an empty pattern asks for the delimiter and the root
	// of the reference.
	if len(patterns) == 1 && patterns[0] == "" && !o.extended {
		s.e.Untagged().Atom(`LIST (\Noselect) "/" `).String(rootOf(ref)).CRLF()
		return nil
	}
	for i, p := range patterns {
		if len(p) > maxListPattern {
			return errBad("mailbox pattern too long")
		}
		patterns[i] = listName(ref, p)
	}
	if o.subscribed {
		o.retSubscribed = true // RFC 5258 3.1: SUBSCRIBED implies the return option
	}
	return s.list(patterns, &o, "LIST")
}

// rootOf returns the root of a reference for LIST with an empty pattern: its
// first hierarchy level including the delimiter, or "".
func rootOf(ref string) string {
	if i := strings.IndexByte(ref, delimiter); i >= 0 {
		return ref[:i+1]
	}
	return ""
}

// listEntry is one name LIST may show: an existing mailbox or a superior
// name that does not exist.
type listEntry struct {
	name     string
	mb       *storage.Mailbox // nil: does not exist (for the user)
	children bool             // some mailbox exists below it
	subChild bool             // some subscribed name is below it
	// subscribed: the user is subscribed to the name; subOnly: only a
	// subscription (or a superior of one) names it, no mailbox or
	// superior of one: LIST shows it only when selecting SUBSCRIBED.
	subscribed, subOnly bool
	specialUse          string // of the user's own mailboxes only
}

// listEntries returns the mailboxes the user sees (its own and those shared
// with it, named as it names them), their missing superiors and, when subs
// is not nil, the subscribed names that are not among folders, INBOX
// first, then sorted by name.
func listEntries(folders []view.Folder, subs []string) []*listEntry {
	byName := map[string]*listEntry{}
	get := func(n string, subOnly bool) *listEntry {
		e := byName[n]
		if e == nil {
			e = &listEntry{name: n, subOnly: subOnly}
			byName[n] = e
		} else if !subOnly {
			e.subOnly = false
		}
		return e
	}
	for i := range folders {
		f := &folders[i]
		e := get(f.Name, false)
		e.mb = &f.Mailbox
		e.subscribed = f.Subscribed
		if f.Own {
			e.specialUse = f.Mailbox.SpecialUse
		}
		for _, a := range ancestors(f.Name) {
			get(a, false).children = true
		}
	}
	for _, n := range subs {
		get(n, true).subscribed = true
		for _, a := range ancestors(n) {
			get(a, true).subChild = true
		}
	}
	out := make([]*listEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *listEntry) int {
		ai, bi := a.name == "INBOX", b.name == "INBOX"
		switch {
		case ai && !bi:
			return -1
		case bi && !ai:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

// userEntries lists what the user sees, for LIST and LSUB; with subs, the
// subscribed names without a mailbox too (one more read, only for what
// shows subscriptions).
func (s *session) userEntries(subs bool) ([]*listEntry, error) {
	folders, err := s.v.ListWith(s.ctx, view.ListOptions{NoSubscriptions: !subs})
	if err != nil {
		return nil, err
	}
	var names []string
	if subs {
		if names, err = s.v.Subscriptions(s.ctx); err != nil {
			return nil, err
		}
	}
	return listEntries(folders, names), nil
}

// list writes the LIST (or LSUB) responses for patterns.
func (s *session) list(patterns []string, o *listOptions, verb string) error {
	entries, err := s.userEntries(o.subscribed || o.retSubscribed)
	if err != nil {
		return s.storageError(err)
	}
	matches := func(n string) bool {
		for _, p := range patterns {
			if matchPattern(p, n) {
				return true
			}
		}
		return false
	}
	// RFC 5258 3.5: RECURSIVEMATCH gives CHILDINFO to a name having a
	// subscribed descendant that is not returned itself (it does not match
	// the patterns); one that is listed needs no CHILDINFO on its parent.
	var hiddenSubChild map[string]bool
	if o.recursive && o.subscribed {
		hiddenSubChild = map[string]bool{}
		for _, le := range entries {
			if le.subscribed && !matches(le.name) {
				for _, a := range ancestors(le.name) {
					hiddenSubChild[a] = true
				}
			}
		}
	}
	for _, le := range entries {
		if !matches(le.name) {
			continue
		}
		if le.subOnly && !o.subscribed {
			continue
		}
		selected := true
		switch {
		case o.subscribed:
			selected = le.subscribed
		case o.specialUse:
			selected = le.specialUse != ""
		}
		// RFC 5258 3.5: with RECURSIVEMATCH, a name with a descendant
		// meeting the selection criteria is returned with CHILDINFO.
		childInfo := hiddenSubChild[le.name]
		if !selected && !childInfo {
			continue
		}
		attrs := s.listAttrs(le, o)
		s.e.Untagged().Atom(verb).SP().Byte('(').Atom(strings.Join(attrs, " ")).Byte(')').SP().Atom(`"/"`).SP().Mailbox(le.name)
		if childInfo {
			s.e.Atom(` ("CHILDINFO" ("SUBSCRIBED"))`)
		}
		s.e.CRLF()
		// RFC 5819: STATUS for the mailboxes LIST returns, never for
		// \NonExistent or \Noselect ones.
		if len(o.status) > 0 && le.mb != nil {
			st, err := s.v.Status(s.ctx, le.mb.ID)
			if err != nil {
				if errors.Is(err, storage.ErrNoMailbox) || errors.Is(err, storage.ErrPermission) {
					continue // deleted meanwhile, or visible ("l") but not readable ("r")
				}
				return s.storageError(err)
			}
			if err := s.writeStatus(le.name, &st, o.status); err != nil {
				return s.storageError(err)
			}
		}
	}
	return nil
}

// listAttrs returns the mailbox attributes of a LIST response (RFC 9051
// 7.3.1, RFC 5258 3.4, RFC 6154 2).
func (s *session) listAttrs(le *listEntry, o *listOptions) []string {
	var attrs []string
	if le.mb == nil {
		// RFC 5258: \NonExistent implies \Noselect; IMAP4rev1 clients
		// using the basic LIST know only \Noselect.
		if o.extended || s.enabled.rev2 {
			attrs = append(attrs, `\NonExistent`)
		} else {
			attrs = append(attrs, `\Noselect`)
		}
	}
	// Children attributes are cheap here: always sent (RFC 3348, RFC 9051).
	if le.children {
		attrs = append(attrs, `\HasChildren`)
	} else {
		attrs = append(attrs, `\HasNoChildren`)
	}
	// RFC 5258 3.1: \Subscribed also on a subscribed name that does not
	// exist (\NonExistent \Subscribed).
	if o.retSubscribed && le.subscribed {
		attrs = append(attrs, `\Subscribed`)
	}
	// RFC 6154 2: the server MAY always return special-use attributes;
	// another account's \Sent is not the user's, so only own mailboxes
	// carry them.
	if le.mb != nil && le.specialUse != "" {
		attrs = append(attrs, le.specialUse)
	}
	return attrs
}

// cmdLsub: LSUB reference mailbox (RFC 3501 6.3.9). A superior name with
// subscribed inferiors that matches a "%" pattern is returned \Noselect.
func cmdLsub(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	ref, err := d.Mailbox()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	pat, err := d.ListMailbox()
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if len(pat) > maxListPattern {
		return errBad("mailbox pattern too long")
	}
	pattern := listName(ref, pat)
	entries, err := s.userEntries(true)
	if err != nil {
		return s.storageError(err)
	}
	for _, le := range entries {
		if !matchPattern(pattern, le.name) {
			continue
		}
		var attrs []string
		switch {
		case le.subscribed:
			// A subscribed name without a mailbox stays listed (RFC 3501
			// 6.3.9), as \Noselect.
			if le.mb == nil {
				attrs = append(attrs, `\Noselect`)
			} else if le.specialUse != "" {
				attrs = append(attrs, le.specialUse)
			}
		case le.subChild && strings.Contains(pattern, "%"):
			attrs = append(attrs, `\Noselect`)
		default:
			continue
		}
		s.e.Untagged().Atom("LSUB (").Atom(strings.Join(attrs, " ")).Atom(`) "/" `).Mailbox(le.name).CRLF()
	}
	return nil
}

// cmdNamespace: NAMESPACE (RFC 2342 5, RFC 9051 6.3.10).
func cmdNamespace(s *session, tag string, d *decoder) error {
	if err := d.CRLF(); err != nil {
		return err
	}
	personal, other, shared := s.namespaces()
	s.e.Untagged().Atom("NAMESPACE")
	for _, list := range [][]namespace{personal, other, shared} {
		s.e.SP()
		if len(list) == 0 {
			s.e.NIL()
			continue
		}
		s.e.Byte('(')
		for _, ns := range list {
			s.e.Byte('(').Mailbox(ns.prefix).SP().String(string(ns.delim)).Byte(')')
		}
		s.e.Byte(')')
	}
	s.e.CRLF()
	return nil
}

// statusItems reads "(" status-att *(SP status-att) ")" (RFC 9051 6.3.11),
// returning the items upper-cased.
func statusItems(d *decoder) ([]string, error) {
	var items []string
	err := d.List(func() error {
		a, err := d.Atom()
		if err != nil {
			return err
		}
		a = strings.ToUpper(a)
		switch a {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "APPENDLIMIT", "RECENT":
		default:
			return errBad("unknown STATUS item")
		}
		if !slices.Contains(items, a) {
			items = append(items, a)
		}
		return nil
	})
	if err == nil && len(items) == 0 {
		err = errBad("STATUS needs at least one item")
	}
	return items, err
}

// cmdStatus: STATUS mailbox (items) (RFC 9051 6.3.11): one storage call.
func cmdStatus(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	name, err := d.Mailbox()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	items, err := statusItems(d)
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	mb, err := s.mailbox(name)
	if err != nil {
		return s.storageError(err)
	}
	st, err := s.v.Status(s.ctx, mb.ID())
	if err != nil {
		return s.storageError(err)
	}
	if err := s.writeStatus(mb.Name, &st, items); err != nil {
		return s.storageError(err)
	}
	return nil
}

// writeStatus writes "* STATUS name (item value ...)". Asking for
// HIGHESTMODSEQ enables CONDSTORE (RFC 7162 3.1). It fails (writing
// nothing) only when counting RECENT fails.
func (s *session) writeStatus(name string, st *storage.MailboxStatus, items []string) error {
	var recent uint32
	if slices.Contains(items, "RECENT") {
		n, err := s.recentCount(s.ctx, st)
		if err != nil {
			return err
		}
		recent = n
	}
	s.e.Untagged().Atom("STATUS ").Mailbox(name).Atom(" (")
	for i, it := range items {
		if i > 0 {
			s.e.SP()
		}
		s.e.Atom(it).SP()
		switch it {
		case "MESSAGES":
			s.e.Number(st.Messages)
		case "UIDNEXT":
			s.e.Number(uint32(st.UIDNext))
		case "UIDVALIDITY":
			s.e.Number(st.UIDValidity)
		case "UNSEEN":
			s.e.Number(st.Unseen)
		case "DELETED":
			s.e.Number(st.Deleted)
		case "SIZE":
			s.e.Number64(uint64(max(st.Size, 0)))
		case "HIGHESTMODSEQ":
			s.e.Number64(uint64(st.HighestModSeq))
			s.enableCondstore()
		case "APPENDLIMIT":
			// RFC 7889 4: the limit for this mailbox.
			if n := s.appendLimit(); n > 0 {
				s.e.Number64(uint64(n))
			} else {
				s.e.NIL()
			}
		case "RECENT":
			s.e.Number(recent) // RFC 3501 2.3.2 (recent.go)
		}
	}
	s.e.Byte(')').CRLF()
	return nil
}

// delimiter is Floe's hierarchy delimiter (SPEC §5).
const delimiter = '/'

// maxListPattern bounds a LIST pattern's length (the matcher is
// O(len(pattern) * len(name))).
const maxListPattern = 1024

// matchPattern reports whether a mailbox name matches a LIST pattern (RFC
// 9051 6.3.9): "*" matches zero or more characters, "%" zero or more
// characters but not the hierarchy delimiter. INBOX is case-insensitive, also
// as the first level of a hierarchy (RFC 9051 5.1): when name is INBOX or
// below it, its first five characters match case-insensitively (so "inbox",
// "in*" and "Inbox/%" all match INBOX names).
//
// The matcher keeps the set of name positions reachable after each pattern
// character, so it runs in O(len(pattern) * len(name)) without
// backtracking, whatever the input.
func matchPattern(pattern, name string) bool {
	inbox := name == "INBOX" || strings.HasPrefix(name, "INBOX/")
	// cur[i]: the pattern read so far can match name[:i].
	cur := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	cur[0] = true
	for pi := 0; pi < len(pattern); pi++ {
		pc := pattern[pi]
		clear(next)
		alive := false
		switch pc {
		case '*', '%':
			// Reachable positions extend to the right over any character
			// ('*') or any but the delimiter ('%').
			on := false
			for i := 0; i <= len(name); i++ {
				if cur[i] {
					on = true
				}
				if on {
					next[i] = true
					alive = true
				}
				if i < len(name) && pc == '%' && name[i] == delimiter {
					on = false
				}
			}
		default:
			for i := 0; i < len(name); i++ {
				if !cur[i] {
					continue
				}
				c := name[i]
				if c == pc || (inbox && i < 5 && lowerASCII(c) == lowerASCII(pc)) {
					next[i+1] = true
					alive = true
				}
			}
		}
		if !alive {
			return false
		}
		cur, next = next, cur
	}
	return cur[len(name)]
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// listName combines LIST's reference and pattern (RFC 9051 6.3.9): the
// reference is a prefix of the pattern. A pattern starting with the
// delimiter is taken as absolute when the reference ends with one, so that
// "Foo/" + "/Bar" does not produce an empty level.
func listName(ref, pattern string) string {
	if ref == "" {
		return pattern
	}
	if strings.HasSuffix(ref, "/") && strings.HasPrefix(pattern, "/") {
		return ref + pattern[1:]
	}
	return ref + pattern
}

// A namespace is one entry of a NAMESPACE response (RFC 2342 5).
type namespace struct {
	prefix string
	delim  byte
}

// namespaces returns the personal, other users' and shared namespaces of
// the session (RFC 2342, RFC 9051 6.3.10, SPEC §5): "" for the user's own
// folders, "~" for other accounts' ("~jane@example.test/Calendar"),
// "#public/" for the public folders of the user's domain. The view
// (storage/view) resolves every name in them.
func (s *session) namespaces() (personal, other, shared []namespace) {
	return []namespace{{"", delimiter}}, []namespace{{view.OtherPrefix, delimiter}}, []namespace{{view.PublicPrefix, delimiter}}
}

// ancestors returns the superior names of a mailbox name, outermost first
// ("a/b/c" -> "a", "a/b").
func ancestors(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == delimiter {
			out = append(out, name[:i])
		}
	}
	return out
}

// mailboxArg reads the arguments of a command that takes one mailbox:
// SP mailbox CRLF.
func (d *decoder) mailboxArg() (string, error) {
	if err := d.SP(); err != nil {
		return "", err
	}
	name, err := d.Mailbox()
	if err != nil {
		return "", err
	}
	return name, d.CRLF()
}
