package imap

// NOTIFY (RFC 5465): the client says which events of which mailboxes it
// wants to hear about, and the server then sends them as they happen, also
// between commands (the client "listens all the time", RFC 5465 3.1).
//
//	notify = "NOTIFY" SP ("NONE" / "SET" [SP "STATUS"] SP event-group *(SP event-group))
//	event-group = "(" filter-mailboxes SP events ")"
//	filter-mailboxes = "SELECTED" / "SELECTED-DELAYED" / "INBOXES" / "PERSONAL" /
//	                   "SUBSCRIBED" / "SUBTREE" SP one-or-more-mailbox /
//	                   "MAILBOXES" SP one-or-more-mailbox
//	events = "(" event *(SP event) ")" / "NONE"
//
// Events and how they are told (RFC 5465 5):
//   - the selected mailbox (SELECTED, SELECTED-DELAYED, 6.1): MessageNew,
//     MessageExpunge, FlagChange as EXISTS, EXPUNGE/VANISHED and FETCH,
//     sent at once, also between commands and in IDLE; with
//     SELECTED-DELAYED expunges wait for a command that allows them
//     (6.1.2). MessageNew may name fetch attributes, sent in a FETCH after
//     the EXISTS. Without SELECTED the selected mailbox is served as
//     without NOTIFY: its updates come at the end of commands only.
//   - other mailboxes: MessageNew and MessageExpunge as STATUS (MESSAGES
//     UIDNEXT), FlagChange as STATUS (UIDVALIDITY UNSEEN), each with
//     HIGHESTMODSEQ once CONDSTORE or QRESYNC is enabled; one STATUS per
//     mailbox per batch of changes.
//   - MailboxName (create, delete, rename) and SubscriptionChange as LIST
//     responses with accurate attributes (\NonExistent for a deleted
//     mailbox, OLDNAME for a renamed one, the direct parent of a created
//     or deleted mailbox too, 5.4, 5.5); MailboxMetadataChange and
//     ServerMetadataChange as "* METADATA mailbox entry" (5.6, 5.7).
//     Changes this session made itself are not echoed (5: SHOULD).
//   - AnnotationChange (RFC 5257 annotations) is not supported: NO
//     [BADEVENT (...)] with the supported events (3.1).
//
// Deviation: RFC 5465 5 wants BAD when MessageNew comes without
// MessageExpunge or FlagChange without both; Floe says BAD for the
// selected mailbox only and takes any combination for other mailboxes
// (as Dovecot 2.3, whose behaviour imaptest's NOTIFY script checks).
//
// Which groups apply: for a mailbox, the groups whose filter matches it,
// in order; a matching group with NONE excludes the mailbox from the
// groups after it; otherwise their events add up. INBOXES is PERSONAL
// (6.3: rules can file mail into any folder). Names that do not exist are
// kept, so a mailbox created later under such a name is watched.
//
// STATUS indicator (3.1): before the tagged OK, one STATUS per matching
// mailbox other than the selected one with MESSAGES, UIDNEXT and
// UIDVALIDITY for MessageNew, MESSAGES for MessageExpunge, UIDVALIDITY
// and HIGHESTMODSEQ for FlagChange.
//
// Mailboxes are the folders the user's view lists (storage/view): its own
// and those shared with it ("~owner/..." and "#public/..." names). PERSONAL
// and INBOXES are the own ones; SUBSCRIBED, SUBTREE and MAILBOXES take any.
// Sources of events, opened by NOTIFY SET and closed when it is replaced:
// the account's change stream (storage.Subscribe) for its own folders,
// and one view.Watch (the viewer's stream of one folder, with its own
// \Seen) per shared folder some group asks message or metadata events of,
// at most maxNotifyWatches (beyond, NO [NOTIFICATIONOVERFLOW]). A shared
// folder the user can no longer read stops being watched at the next
// NOTIFY SET (RFC 5465 5.9 asks for more: ACL changes are not followed).
//
// Overflow (5.8): a batch that would need more than srv.notifyLimit
// responses for other mailboxes is replaced by "* OK
// [NOTIFICATIONOVERFLOW]" and NOTIFY is then off, as after NOTIFY NONE.

import (
	"errors"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// notifyEvent is a set of RFC 5465 events.
type notifyEvent uint16

const (
	evMessageNew notifyEvent = 1 << iota
	evMessageExpunge
	evFlagChange
	evAnnotationChange
	evMailboxName
	evSubscriptionChange
	evMailboxMetadataChange
	evServerMetadataChange

	// evUnknown stands for an event name the server does not know
	// (event-ext): NO [BADEVENT].
	evUnknown

	evMessage   = evMessageNew | evMessageExpunge | evFlagChange | evAnnotationChange
	evSupported = evMessageNew | evMessageExpunge | evFlagChange | evMailboxName |
		evSubscriptionChange | evMailboxMetadataChange | evServerMetadataChange
)

// notifyEventNames in RFC 5465 8 spelling and order.
var notifyEventNames = []struct {
	name string
	ev   notifyEvent
}{
	{"MessageNew", evMessageNew}, {"MessageExpunge", evMessageExpunge}, {"FlagChange", evFlagChange},
	{"AnnotationChange", evAnnotationChange}, {"MailboxName", evMailboxName},
	{"SubscriptionChange", evSubscriptionChange}, {"MailboxMetadataChange", evMailboxMetadataChange},
	{"ServerMetadataChange", evServerMetadataChange},
}

// Limits.
const (
	// maxNotifyNames bounds the mailbox names of one NOTIFY command.
	maxNotifyNames = 1000
	// defaultNotifyLimit bounds the responses one batch of changes may
	// need for mailboxes other than the selected one (NOTIFICATIONOVERFLOW).
	defaultNotifyLimit = 1000
	// maxNotifyWatches bounds the shared folders one session watches.
	maxNotifyWatches = 100
)

// filterKind is a filter-mailboxes other than the selected ones.
type filterKind int

const (
	filterPersonal filterKind = iota // PERSONAL, INBOXES
	filterSubscribed
	filterSubtree
	filterMailboxes
)

// notifyGroup is one event-group for mailboxes other than the selected one.
type notifyGroup struct {
	kind   filterKind
	names  []string // SUBTREE, MAILBOXES: canonical names
	events notifyEvent
	none   bool // events NONE
}

// notifySpec is what a NOTIFY SET asked for; the zero value is NOTIFY NONE.
type notifySpec struct {
	selected notifyEvent // for the selected mailbox
	delayed  bool        // SELECTED-DELAYED
	fetch    []fetchItem // MessageNew's fetch attributes (selected only)
	groups   []notifyGroup
	status   bool // the STATUS indicator
}

// active reports whether any event is asked for.
func (n *notifySpec) active() bool { return n.selected != 0 || len(n.groups) > 0 }

// notifyBox is what notification needs of one of the user's folders.
type notifyBox struct {
	name       string // as the user sees it
	subscribed bool
	own        bool // in the personal namespace
}

// statusNeed is the set of STATUS items a mailbox's changes need.
type statusNeed uint8

const (
	needMessages statusNeed = 1 << iota
	needUIDNext
	needUIDValidity
	needUnseen
	needHighestModSeq
)

// ownOp is a change this session made (not echoed, RFC 5465 5).
type ownOp struct {
	kind storage.ChangeKind
	name string // the mailbox name; ancestors and descendants match too
	mbox storage.MailboxID
}

// notifyState is a session's NOTIFY state.
type notifyState struct {
	spec  notifySpec
	boxes map[storage.MailboxID]*notifyBox

	// Sources (nil when no group asks for events): the account's stream
	// and the watches of shared folders; ready is signalled when one has
	// changes (forward), stop ends that.
	acctSub storage.Subscription
	watches []*view.Watch
	ready   chan struct{}
	stop    chan struct{}

	// Pending notifications for mailboxes other than the selected one.
	status      map[storage.MailboxID]statusNeed
	statusOrder []storage.MailboxID
	events      []storage.Change // mailbox, subscription and metadata changes, in order
	overflow    bool

	own []ownOp
}

// notifying reports whether NOTIFY asks for events now.
func (s *session) notifying() bool { return s.notify != nil && s.notify.spec.active() }

// close ends n's change streams. It is idempotent.
func (n *notifyState) close() {
	if n == nil {
		return
	}
	if n.stop != nil {
		close(n.stop)
		n.stop = nil
	}
	if n.acctSub != nil {
		n.acctSub.Close()
		n.acctSub = nil
	}
	for _, w := range n.watches {
		w.Close()
	}
	n.watches = nil
}

// endNotify ends NOTIFY (the session ends, or NOTIFY is replaced).
func (s *session) endNotify() {
	s.notify.close()
}

func init() {
	register("NOTIFY", command{fn: cmdNotify, states: authStates, expungeOK: true})
}

// cmdNotify: NOTIFY NONE / NOTIFY SET [STATUS] event-group... (RFC 5465 3.1).
// A successful NOTIFY SET is also an implicit NOOP: the loop sends the
// pending updates of the selected mailbox before the tagged OK.
func cmdNotify(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	spec, err := parseNotify(d)
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if bad := s.notifyUnsupported(spec); bad != "" {
		return errNo("BADEVENT ("+bad+")", "unsupported NOTIFY event")
	}
	// Changes that came before take the old rules.
	if s.notifying() {
		if err := s.flushUpdates(true); err != nil {
			return err
		}
	}
	n := &notifyState{spec: *spec, status: map[storage.MailboxID]statusNeed{}}
	if spec.active() {
		if err := s.loadNotifyBoxes(n); err != nil {
			n.close()
			return err
		}
	}
	s.endNotify()
	if n.acctSub != nil {
		n.forward(s.log)
	}
	s.notify = n
	if spec.status {
		if err := s.notifyInitialStatus(); err != nil {
			return err
		}
	}
	return nil
}

// notifyUnsupported returns the supported events (for BADEVENT) when spec
// asks for one the server does not support, else "".
func (s *session) notifyUnsupported(spec *notifySpec) string {
	all := spec.selected
	for _, g := range spec.groups {
		all |= g.events
	}
	if all&^evSupported == 0 {
		return ""
	}
	var names []string
	for _, e := range notifyEventNames {
		if e.ev&evSupported != 0 {
			names = append(names, e.name)
		}
	}
	return strings.Join(names, " ")
}

// parseNotify reads "NONE" / "SET" [SP "STATUS"] SP event-group... and
// checks what RFC 5465 requires a BAD for.
func parseNotify(d *decoder) (*notifySpec, error) {
	verb, err := d.Atom()
	if err != nil {
		return nil, err
	}
	spec := &notifySpec{}
	switch strings.ToUpper(verb) {
	case "NONE":
		return spec, nil
	case "SET":
	default:
		return nil, errBad("NOTIFY takes SET or NONE")
	}
	if err := d.SP(); err != nil {
		return nil, err
	}
	if !d.peekIs('(') {
		a, err := d.Atom()
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(a, "STATUS") {
			return nil, errBad("syntax error: expected STATUS or an event group")
		}
		spec.status = true
		if err := d.SP(); err != nil {
			return nil, err
		}
	}
	names := 0
	selectedSeen := false
	for {
		if err := d.Expect('('); err != nil {
			return nil, err
		}
		filter, err := d.Atom()
		if err != nil {
			return nil, err
		}
		var g notifyGroup
		isSelected := false
		switch strings.ToUpper(filter) {
		case "SELECTED", "SELECTED-DELAYED":
			// RFC 5465 6.1: only one of them.
			if selectedSeen {
				return nil, errBad("only one SELECTED or SELECTED-DELAYED filter")
			}
			selectedSeen, isSelected = true, true
			spec.delayed = strings.EqualFold(filter, "SELECTED-DELAYED")
		case "INBOXES", "PERSONAL":
			g.kind = filterPersonal
		case "SUBSCRIBED":
			g.kind = filterSubscribed
		case "SUBTREE", "MAILBOXES":
			g.kind = filterMailboxes
			if strings.EqualFold(filter, "SUBTREE") {
				g.kind = filterSubtree
			}
			if err := d.SP(); err != nil {
				return nil, err
			}
			if d.peekIs('(') {
				err = d.List(func() error {
					name, err := d.Mailbox()
					g.names = append(g.names, name)
					return err
				})
				if err == nil && len(g.names) == 0 {
					err = errBad("syntax error: empty mailbox list")
				}
			} else {
				var name string
				name, err = d.Mailbox()
				g.names = append(g.names, name)
			}
			if err != nil {
				return nil, err
			}
			if names += len(g.names); names > maxNotifyNames {
				return nil, errNo("NOTIFICATIONOVERFLOW", "too many mailbox names")
			}
		default:
			return nil, errBad("syntax error: unknown mailbox filter")
		}
		if err := d.SP(); err != nil {
			return nil, err
		}
		events, fetch, none, err := parseNotifyEvents(d, isSelected)
		if err != nil {
			return nil, err
		}
		if err := d.Expect(')'); err != nil {
			return nil, err
		}
		if isSelected {
			// RFC 5465 6.1: only message events for the selected mailbox.
			if events&^evMessage != 0 {
				return nil, errBad("SELECTED takes message events only")
			}
			spec.selected, spec.fetch = events, fetch
		} else {
			g.events, g.none = events, none
			spec.groups = append(spec.groups, g)
		}
		if !d.Accept(' ') {
			break
		}
	}
	return spec, nil
}

// parseNotifyEvents reads events = "(" event *(SP event) ")" / "NONE".
func parseNotifyEvents(d *decoder, selected bool) (notifyEvent, []fetchItem, bool, error) {
	if !d.peekIs('(') {
		a, err := d.Atom()
		if err != nil {
			return 0, nil, false, err
		}
		if !strings.EqualFold(a, "NONE") {
			return 0, nil, false, errBad("syntax error: expected an event list or NONE")
		}
		return 0, nil, true, nil
	}
	var events notifyEvent
	var fetch []fetchItem
	any := false
	// "(" event *(SP event) ")", where MessageNew may be followed by SP
	// "(" fetch-att... ")".
	err := func() error {
		if err := d.Expect('('); err != nil {
			return err
		}
		for !d.Accept(')') {
			a, err := d.Atom()
			if err != nil {
				return err
			}
			any = true
			ev := evUnknown
			for _, e := range notifyEventNames {
				if strings.EqualFold(a, e.name) {
					ev = e.ev
				}
			}
			events |= ev
			if d.Accept(')') {
				return nil
			}
			if err := d.SP(); err != nil {
				return err
			}
			if ev != evMessageNew || !d.peekIs('(') {
				continue
			}
			if !selected {
				return errBad("fetch attributes are for the selected mailbox only")
			}
			err = d.List(func() error {
				if len(fetch) >= maxFetchItems {
					return errBad("too many fetch items")
				}
				it, err := parseFetchAtt(d)
				fetch = append(fetch, it...)
				return err
			})
			if err != nil {
				return err
			}
			if len(fetch) == 0 {
				return errBad("syntax error: empty fetch attribute list")
			}
			if _, _, seen := fetchNeeds(fetch); seen {
				return errBad("NOTIFY fetch attributes must not set \\Seen (use BODY.PEEK)")
			}
			if !d.peekIs(')') {
				if err := d.SP(); err != nil {
					return err
				}
			}
		}
		return nil
	}()
	if err != nil {
		return 0, nil, false, err
	}
	if !any {
		return 0, nil, false, errBad("syntax error: empty event list")
	}
	// RFC 5465 5: MessageNew and MessageExpunge together; FlagChange and
	// AnnotationChange need both. Enforced for the selected mailbox, where
	// sequence numbers depend on it; for other mailboxes any combination
	// is taken (each event gives its STATUS items), as Dovecot 2.3 does
	// and as imaptest's NOTIFY script expects.
	if !selected {
		return events, fetch, false, nil
	}
	if (events&evMessageNew != 0) != (events&evMessageExpunge != 0) {
		return 0, nil, false, errBad("MessageNew and MessageExpunge go together")
	}
	if events&(evFlagChange|evAnnotationChange) != 0 && events&evMessageNew == 0 {
		return 0, nil, false, errBad("FlagChange and AnnotationChange need MessageNew and MessageExpunge")
	}
	return events, fetch, false, nil
}

// loadNotifyBoxes reads the user's folders into n and opens the change
// streams the groups need: the account's, and a watch per shared folder
// with events asked for.
func (s *session) loadNotifyBoxes(n *notifyState) error {
	folders, err := s.v.List(s.ctx)
	if err != nil {
		return s.storageError(err)
	}
	n.boxes = make(map[storage.MailboxID]*notifyBox, len(folders))
	for _, f := range folders {
		n.boxes[f.ID()] = &notifyBox{name: f.Name, subscribed: f.Subscribed, own: f.Own}
	}
	if len(n.spec.groups) == 0 {
		return nil
	}
	n.acctSub = s.store.Subscribe(s.user.Account)
	for _, f := range folders {
		if f.Own || n.eventsFor(n.boxes[f.ID()])&(evMessage|evMailboxMetadataChange|evMailboxName) == 0 {
			continue
		}
		if len(n.watches) >= maxNotifyWatches {
			return errNo("NOTIFICATIONOVERFLOW", "too many shared folders to watch")
		}
		w, err := s.v.Watch(s.ctx, f.ID())
		if err != nil {
			if errors.Is(err, storage.ErrPermission) || errors.Is(err, storage.ErrNoMailbox) {
				continue // no "r": nothing to tell (RFC 5465 5: "l" and "r")
			}
			return s.storageError(err)
		}
		n.watches = append(n.watches, w)
	}
	return nil
}

// eventsFor returns the events asked for a folder (not the selected
// one's message events): the events of the matching groups, up to a
// matching group with NONE.
func (n *notifyState) eventsFor(b *notifyBox) notifyEvent {
	var out notifyEvent
	for _, g := range n.spec.groups {
		if !g.matches(b) {
			continue
		}
		if g.none {
			break
		}
		out |= g.events
	}
	return out
}

func (g *notifyGroup) matches(b *notifyBox) bool {
	name := b.name
	switch g.kind {
	case filterPersonal:
		return b.own
	case filterSubscribed:
		return b.subscribed
	case filterSubtree:
		for _, n := range g.names {
			if name == n || strings.HasPrefix(name, n+"/") {
				return true
			}
		}
	case filterMailboxes:
		return slices.Contains(g.names, name)
	}
	return false
}

// anyEvent reports whether some group asks for ev at all.
func (n *notifyState) anyEvent(ev notifyEvent) bool {
	for _, g := range n.spec.groups {
		if g.events&ev != 0 {
			return true
		}
	}
	return false
}

// notifyInitialStatus writes the STATUS responses of the STATUS indicator
// (RFC 5465 3.1) for the mailboxes other than the selected one.
func (s *session) notifyInitialStatus() error {
	n := s.notify
	ids := make([]storage.MailboxID, 0, len(n.boxes))
	for id := range n.boxes {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b storage.MailboxID) int { return strings.Compare(n.boxes[a].name, n.boxes[b].name) })
	for _, id := range ids {
		if s.sel != nil && s.sel.mbox.ID == id {
			continue
		}
		b := n.boxes[id]
		ev := n.eventsFor(b)
		var need statusNeed
		if ev&evMessageNew != 0 {
			need |= needMessages | needUIDNext | needUIDValidity
		}
		if ev&evMessageExpunge != 0 {
			need |= needMessages
		}
		if ev&(evFlagChange|evAnnotationChange) != 0 {
			need |= needUIDValidity | needHighestModSeq
		}
		if need == 0 {
			continue
		}
		if err := s.writeNotifyStatus(id, need); err != nil {
			return err
		}
	}
	return nil
}

// writeNotifyStatus writes "* STATUS name (...)" with the needed items, in
// a fixed order. A mailbox deleted meanwhile is skipped.
func (s *session) writeNotifyStatus(id storage.MailboxID, need statusNeed) error {
	b := s.notify.boxes[id]
	if b == nil {
		return nil
	}
	st, err := s.v.Status(s.ctx, id) // the user's \Seen in a shared folder
	if err != nil {
		if storageGone(err) {
			return nil
		}
		return s.storageError(err)
	}
	e := s.e
	e.Untagged().Atom("STATUS ").Mailbox(b.name).Atom(" (")
	sep := ""
	item := func(name string) *encoder {
		e.Atom(sep).Atom(name).SP()
		sep = " "
		return e
	}
	if need&needMessages != 0 {
		item("MESSAGES").Number(st.Messages)
	}
	if need&needUIDNext != 0 {
		item("UIDNEXT").Number(uint32(st.UIDNext))
	}
	if need&needUIDValidity != 0 {
		item("UIDVALIDITY").Number(st.UIDValidity)
	}
	if need&needUnseen != 0 {
		item("UNSEEN").Number(st.Unseen)
	}
	if need&needHighestModSeq != 0 {
		item("HIGHESTMODSEQ").Number64(uint64(st.HighestModSeq))
	}
	e.Byte(')').CRLF()
	return e.Err()
}

// storageGone reports a mailbox that no longer exists.
func storageGone(err error) bool {
	return err != nil && (errors.Is(err, storage.ErrNoMailbox) || errors.Is(err, storage.ErrNotFound) ||
		errors.Is(err, storage.ErrPermission))
}

// notifyOwn records a change this session is making (CREATE, DELETE,
// RENAME, SUBSCRIBE, SETMETADATA), so that its echo from the change
// stream is not notified (RFC 5465 5). The record lasts until the
// updates at the end of the command.
func (s *session) notifyOwn(kind storage.ChangeKind, name string, mbox storage.MailboxID) {
	if s.notifying() {
		s.notify.own = append(s.notify.own, ownOp{kind: kind, name: name, mbox: mbox})
	}
}

// isOwn reports whether c is the echo of a change recorded by notifyOwn.
func (n *notifyState) isOwn(c storage.Change) bool {
	related := func(a, b string) bool {
		return a != "" && b != "" && (a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/"))
	}
	for _, o := range n.own {
		if o.kind != c.Kind {
			continue
		}
		if o.kind == storage.ChangeMetadata {
			if o.mbox == c.Mailbox {
				return true
			}
			continue
		}
		if related(c.Name, o.name) || related(c.OldName, o.name) {
			return true
		}
	}
	return false
}

// notifyChanges takes changes from a change stream into the pending
// notifications for mailboxes other than the selected one (the selected
// mailbox's message events stay with the view, applyChanges). It also
// keeps the mailbox names up to date.
func (s *session) notifyChanges(changes []storage.Change) {
	if !s.notifying() || len(changes) == 0 {
		return
	}
	n := s.notify
	var selID storage.MailboxID
	if s.sel != nil {
		selID = s.sel.mbox.ID
	}
	condstore := s.enabled.condstore || s.enabled.qresync
	for _, c := range changes {
		switch c.Kind {
		case storage.ChangeMessageAdded, storage.ChangeExpunged, storage.ChangeFlags:
			if c.Mailbox == selID {
				continue
			}
			b := n.boxes[c.Mailbox]
			if b == nil {
				continue
			}
			ev := n.eventsFor(b)
			var need statusNeed
			switch {
			case c.Kind == storage.ChangeMessageAdded && ev&evMessageNew != 0:
				need = needMessages | needUIDNext | needUnseen
				if condstore {
					need |= needHighestModSeq
				}
			case c.Kind == storage.ChangeExpunged && ev&evMessageExpunge != 0:
				need = needMessages | needUIDNext | needUnseen
				if s.enabled.qresync {
					need |= needHighestModSeq
				}
			case c.Kind == storage.ChangeFlags && ev&evFlagChange != 0:
				need = needUIDValidity | needUnseen
				if condstore {
					need |= needHighestModSeq
				}
			}
			if need == 0 {
				continue
			}
			if _, ok := n.status[c.Mailbox]; !ok {
				n.statusOrder = append(n.statusOrder, c.Mailbox)
			}
			n.status[c.Mailbox] |= need
		case storage.ChangeMailboxCreated:
			if c.Account != s.user.Account {
				continue // another account's new folder: not visible by that alone
			}
			n.boxes[c.Mailbox] = &notifyBox{name: c.Name, own: true}
			if c.Name == "INBOX" {
				continue // RFC 5465 5.4: the INBOX a RENAME INBOX leaves is no event
			}
			n.queueEvent(c, evMailboxName)
		case storage.ChangeMailboxDeleted:
			b := n.boxes[c.Mailbox]
			if b == nil {
				continue
			}
			c.Name = b.name
			n.queueEvent(c, evMailboxName)
			delete(n.boxes, c.Mailbox)
			delete(n.status, c.Mailbox)
		case storage.ChangeMailboxRenamed:
			b := n.boxes[c.Mailbox]
			if b == nil {
				continue
			}
			if !b.own {
				// Names in another account's tree: as the user sees them.
				if f, err := s.v.Folder(s.ctx, c.Mailbox); err == nil {
					c.OldName, c.Name = b.name, f.Name
				} else {
					continue
				}
			}
			b.name = c.Name
			// RFC 5465 5.4: no events for the children a RENAME takes along.
			if slices.ContainsFunc(n.events, func(p storage.Change) bool {
				return p.Kind == storage.ChangeMailboxRenamed && strings.HasPrefix(c.OldName, p.OldName+"/")
			}) {
				continue
			}
			n.queueEvent(c, evMailboxName)
		case storage.ChangeMailboxSubscribed:
			if c.Account != s.user.Account {
				continue
			}
			subs, err := s.v.Subscriptions(s.ctx)
			if err == nil {
				for _, b := range n.boxes {
					_, b.subscribed = slices.BinarySearch(subs, b.name)
				}
			}
			n.queueEvent(c, evSubscriptionChange)
		case storage.ChangeMetadata:
			if c.Account != s.user.Account && strings.HasPrefix(c.Name, "/private/") {
				continue // in someone else's folder a private entry may be anybody's
			}
			if c.Mailbox == 0 {
				if n.anyEvent(evServerMetadataChange) && !n.isOwn(c) {
					n.events = append(n.events, c)
				}
				continue
			}
			n.queueEvent(c, evMailboxMetadataChange)
		}
		if len(n.status)+len(n.events) > s.srv.notifyLimit {
			n.overflow = true
		}
	}
}

// queueEvent queues a mailbox-level change when a group asks for ev on
// the mailbox (by its new or old name) and it is not this session's own.
func (n *notifyState) queueEvent(c storage.Change, ev notifyEvent) {
	name := c.Name
	if c.Kind == storage.ChangeMetadata {
		b := n.boxes[c.Mailbox]
		if b == nil {
			return
		}
		if n.eventsFor(b)&ev == 0 || n.isOwn(c) {
			return
		}
		n.events = append(n.events, c)
		return
	}
	box := &notifyBox{name: name, own: !strings.HasPrefix(name, "~") && !strings.HasPrefix(name, "#")}
	for _, b := range n.boxes {
		if b.name == name {
			box = b
		}
	}
	old := *box
	old.name = c.OldName
	if n.eventsFor(box)&ev == 0 && (c.OldName == "" || n.eventsFor(&old)&ev == 0) {
		return
	}
	if n.isOwn(c) {
		return
	}
	n.events = append(n.events, c)
}

// flushNotify writes the pending notifications for mailboxes other than
// the selected one (called at the end of flushUpdates), or the overflow
// notice. It does not flush the encoder.
func (s *session) flushNotify() error {
	n := s.notify
	if n == nil {
		return nil
	}
	if err := s.notifyPull(); err != nil {
		return err
	}
	n.own = n.own[:0]
	if n.overflow {
		// RFC 5465 5.8: tell the client and behave as after NOTIFY NONE.
		s.e.Untagged().Atom("OK [NOTIFICATIONOVERFLOW] too many changes; NOTIFY is off").CRLF()
		s.log.Info("NOTIFY overflow", slog.Int("limit", s.srv.notifyLimit))
		s.endNotify()
		s.notify = &notifyState{}
		return s.e.Err()
	}
	if len(n.events) > 0 {
		if err := s.writeNotifyEvents(n.events); err != nil {
			return err
		}
		n.events = n.events[:0]
	}
	for _, id := range n.statusOrder {
		if err := s.writeNotifyStatus(id, n.status[id]); err != nil {
			return err
		}
	}
	clear(n.status)
	n.statusOrder = n.statusOrder[:0]
	return s.e.Err()
}

// writeNotifyEvents writes LIST responses for mailbox and subscription
// changes and METADATA responses for metadata changes (RFC 5465 5.4-5.7).
func (s *session) writeNotifyEvents(events []storage.Change) error {
	var entries map[string]*listEntry
	load := func() error {
		if entries != nil {
			return nil
		}
		all, err := s.userEntries(true)
		if err != nil {
			return s.storageError(err)
		}
		entries = map[string]*listEntry{}
		for _, le := range all {
			entries[le.name] = le
		}
		return nil
	}
	o := &listOptions{extended: true, retSubscribed: true}
	e := s.e
	list := func(name, oldName string) {
		le := entries[name]
		if le == nil {
			le = &listEntry{name: name}
		}
		e.Untagged().Atom("LIST (").Atom(strings.Join(s.listAttrs(le, o), " ")).Atom(`) "/" `).Mailbox(name)
		if oldName != "" {
			e.Atom(` ("OLDNAME" (`).Mailbox(oldName).Atom("))")
		}
		e.CRLF()
	}
	for _, c := range events {
		switch c.Kind {
		case storage.ChangeMetadata:
			e.Untagged().Atom("METADATA ")
			if c.Mailbox == 0 {
				e.String("")
			} else if b := s.notify.boxes[c.Mailbox]; b != nil {
				e.Mailbox(b.name)
			} else {
				continue
			}
			e.SP().String(c.Name).CRLF()
			continue
		}
		if err := load(); err != nil {
			return err
		}
		switch c.Kind {
		case storage.ChangeMailboxRenamed:
			list(c.Name, c.OldName)
		case storage.ChangeMailboxCreated, storage.ChangeMailboxDeleted:
			list(c.Name, "")
			// RFC 5465 5.4: the direct parent is affected too.
			if i := strings.LastIndexByte(c.Name, '/'); i > 0 {
				list(c.Name[:i], "")
			}
		default: // ChangeMailboxSubscribed
			list(c.Name, "")
		}
	}
	return e.Err()
}

// notifyFetchNew sends the FETCH responses MessageNew's fetch attributes
// ask for (RFC 5465 5.2), for the messages first..last of the view just
// announced by EXISTS.
func (s *session) notifyFetchNew(first, last uint32) error {
	if !s.notifying() || len(s.notify.spec.fetch) == 0 || first > last || s.sel == nil {
		return nil
	}
	v := s.sel
	var set []storage.UID
	for seq := first; seq <= last; seq++ {
		if u := v.UIDAt(seq); u != 0 && !v.Expunged(u) {
			set = append(set, u)
		}
	}
	if len(set) == 0 {
		return nil
	}
	// The fetch must not change the tagged answer of the command running.
	tagSet, kind, code, text := s.tagSet, s.tagKind, s.tagCode, s.tagText
	err := s.fetch("*", &fetchArgs{set: imapUIDSet(set), items: slices.Clone(s.notify.spec.fetch)}, true)
	s.tagSet, s.tagKind, s.tagCode, s.tagText = tagSet, kind, code, text
	if re, ok := err.(*respError); ok && re.kind != "" {
		return nil // e.g. a message expunged meanwhile: nothing to tell
	}
	return err
}

// pushUpdates sends what NOTIFY asks for while no command runs (between
// commands) or during IDLE (inIdle): the notifications for other
// mailboxes, and the selected mailbox's updates when SELECTED or
// SELECTED-DELAYED asks for them (expunges during IDLE, or at once with
// SELECTED; flag changes only with FlagChange). Without them the selected
// mailbox's updates stay pending for the end of the next command.
func (s *session) pushUpdates(inIdle bool) error {
	n := s.notify
	ev := n.spec.selected
	if s.sel == nil || ev == 0 {
		s.applyChanges()
		return s.flushNotify()
	}
	allowExpunge := inIdle || !n.spec.delayed
	s.holdFetches = ev&evFlagChange == 0
	err := s.flushUpdates(allowExpunge)
	s.holdFetches = false
	return err
}

// notifyPull takes the waiting changes of NOTIFY's streams into the
// pending notifications.
func (s *session) notifyPull() error {
	n := s.notify
	if n == nil {
		return nil
	}
	if n.acctSub != nil {
		s.notifyChanges(n.acctSub.Next())
	}
	for _, w := range n.watches {
		cs, err := w.Next(s.ctx)
		if err != nil {
			return s.storageError(err)
		}
		s.notifyChanges(cs)
	}
	return nil
}

// forward starts the goroutine that signals n.ready (coalesced) whenever
// one of NOTIFY's streams has changes, until close. One channel for the
// session's waits (between commands, IDLE), however many streams.
func (n *notifyState) forward(log *slog.Logger) {
	n.ready = make(chan struct{}, 1)
	n.stop = make(chan struct{})
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(n.stop)}}
	if n.acctSub != nil {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(n.acctSub.Ready())})
	}
	for _, w := range n.watches {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.Ready())})
	}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				log.Error("panic in NOTIFY forwarder", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			}
		}()
		for {
			if i, _, _ := reflect.Select(cases); i == 0 {
				return
			}
			select {
			case n.ready <- struct{}{}:
			default:
			}
		}
	}()
}

// notifyReady is signalled when NOTIFY's streams have changes (nil
// without NOTIFY streams: never).
func (s *session) notifyReady() <-chan struct{} {
	if s.notify == nil {
		return nil
	}
	return s.notify.ready
}

// awaitNotifying waits for the next command while NOTIFY is on, sending
// notifications as changes come (RFC 5465 3.1: the client listens all the
// time). A short-lived goroutine waits for the command's first byte (it
// alone touches the reader meanwhile); this goroutine writes. It returns
// false when the session must end.
func (s *session) awaitNotifying() bool {
	type peeked struct{ err error }
	got := make(chan peeked, 1)
	go func() {
		var p peeked
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic in NOTIFY reader", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				p.err = errInternal
			}
			got <- p
		}()
		_, p.err = s.r.Peek(1)
	}()
	for {
		var selected <-chan struct{}
		if s.watch != nil {
			selected = s.watch.Ready()
		}
		select {
		case p := <-got:
			if p.err != nil {
				s.d.ioErr = p.err // the command loop ends the session
			}
			return true
		case <-selected:
		case <-s.notifyReady():
		}
		ferr := s.pushUpdates(false)
		if err := s.e.Flush(); err != nil || ferr != nil {
			s.raw.Close() // unblocks the reader
			<-got
			return false
		}
		if !s.notifying() {
			// Overflow turned NOTIFY off: wait for the command only.
			p := <-got
			if p.err != nil {
				s.d.ioErr = p.err
			}
			return true
		}
	}
}

// idleUpdates sends the updates IDLE pushes when changes come: with
// NOTIFY on, exactly what NOTIFY asks for (RFC 5465 4), else every
// pending update of the selected mailbox.
func (s *session) idleUpdates() error {
	if s.notifying() {
		return s.pushUpdates(true)
	}
	return s.flushUpdates(true)
}
