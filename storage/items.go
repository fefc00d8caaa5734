package storage

import (
	"context"
	"time"
)

// Groupware items (SPEC §6, ARCHITECTURE decision 3). An item (event, task,
// journal entry or note, contact) is one message in a typed folder; its
// index (ItemIndex) is computed once from the content at delivery
// (storage/ingest with storage/item) and stored with the message's content
// in the same transaction, so that CalDAV/CardDAV, free/busy and the
// Global Address Book never parse every message.
//
// In a folder, the item of a UID is the newest message (highest IMAP UID)
// carrying that UID, as Kolab specifies; older duplicates (an IMAP client
// that appended the new version before expunging the old) stay visible to
// IMAP but not to Items. Each item UID of a folder has a resource name
// (the last path segment of its DAV URL), unique in the folder: the name a
// DAV client PUT it at, or a default derived from the UID
// (ItemIndex.DefaultName). A name outlives replacements of the item's
// message, so updates over IMAP keep the DAV URL.

// Folder types: the value of FolderTypeEntry (Kolab; FolderTypeFile is in
// files.go). A folder without the entry holds mail. The owner's private
// entry FolderTypePrivateEntry marks the account's default folder of a
// type ("event.default").
const (
	FolderTypeEvent   = "event"
	FolderTypeContact = "contact"
	FolderTypeTask    = "task"
	FolderTypeNote    = "note"
	FolderTypeJournal = "journal"
)

// GroupwareMailboxes are the typed folders every account has: created with
// the account and, for accounts created before they existed, by
// EnsureGroupwareMailboxes. Each is its account's default folder of its type.
var GroupwareMailboxes = []struct{ Name, Type string }{
	{"Calendar", FolderTypeEvent},
	{"Contacts", FolderTypeContact},
	{"Tasks", FolderTypeTask},
	{"Notes", FolderTypeNote},
	{"Journal", FolderTypeJournal},
	{"Files", FolderTypeFile},
}

// ItemKind is the kind of an item's payload.
type ItemKind string

const (
	ItemEvent   ItemKind = "event"   // VEVENT
	ItemTodo    ItemKind = "todo"    // VTODO
	ItemJournal ItemKind = "journal" // VJOURNAL (journal entries and notes)
	ItemContact ItemKind = "contact" // vCard
)

// Limits of an index row (longer values are cut; lists are capped).
// MaxItemData is the largest payload kept in the index (ItemIndex.Data).
const (
	MaxItemUID        = 1024
	MaxItemText       = 1024
	MaxItemListValues = 64
	MaxItemData       = 64 << 10
)

// ItemIndex is what an item's content says, computed once at delivery.
// Times are UTC. For an item with no time (a task without dates, a
// contact), Start and End are zero. For a recurring item, Start is the
// start of the first instance and End the end of the last one, or
// ItemEndless when the rule has no end.
type ItemIndex struct {
	Kind ItemKind
	UID  string
	// DefaultName is the resource name the item gets in a folder where no
	// client chose one ("<uid>.ics", or a hash when the UID is not a safe
	// path segment).
	DefaultName string
	Summary     string // SUMMARY; for a contact, FN
	Start, End  time.Time
	AllDay      bool
	// Floating: the item's times carry no time zone (DATE values, or
	// DATE-TIMEs with neither TZID nor "Z"). Start, End and the
	// recurrence's times are then wall-clock times written as UTC; a query
	// interprets them in a time zone of its choosing (RFC 4791 9.9: the
	// calendar's CALDAV:calendar-timezone).
	Floating    bool
	Recurring   bool
	Transparent bool   // TRANSP:TRANSPARENT
	Status      string // STATUS, upper case ("" when absent)
	// Recurrence is what expanding the item needs without reading the
	// message (rule, exceptions, overridden instances, time zone), encoded
	// by storage/item. Storage keeps it as opaque bytes.
	Recurrence []byte
	// Contacts: display and structured names, nicknames, organisation;
	// addresses; telephone numbers.
	Names  []string
	Emails []string
	Phones []string
	// Data is the payload (the iCalendar or vCard bytes, as the message
	// carries them and a DAV GET returns them) when it is at most
	// MaxItemData bytes, nil otherwise. It is stored with the index so
	// that REPORTs answering with calendar-data or address-data read it
	// in one query instead of opening each message; Items returns it only
	// when ItemQuery.Data asks.
	Data []byte
}

// ItemEndless is the End of a recurring item whose rule has no end.
var ItemEndless = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Item is one current item of a folder.
type Item struct {
	Mailbox MailboxID
	UID     UID // IMAP UID of the item's message
	ModSeq  ModSeq
	Name    string // resource name in the folder
	Blob    BlobID
	Size    int64 // of the whole message
	Index   ItemIndex
	// Structure and Header of the message, filled when the query asks
	// (ItemQuery.Content), so the payload can be read from the blob
	// without another query.
	Structure *Part
	Header    []byte
}

// ItemQuery selects items of one folder. Empty fields select everything;
// the conditions are and-ed.
type ItemQuery struct {
	Names []string // resource names
	UIDs  []string // item UIDs
	// Start and End, when not both zero, keep items whose [Start, End)
	// overlaps [Start, End) of the query (a zero query End is open),
	// recurring items when their whole series overlaps (the caller expands
	// them), and items with no time at all (the caller decides).
	Start, End time.Time
	// Content asks for Item.Structure and Item.Header.
	Content bool
	// Data asks for Item.Index.Data. An item whose payload the index does
	// not keep (larger than MaxItemData, or indexed before payloads were
	// kept) comes with Structure and Header instead, as with Content, so
	// the caller can read the payload from the message.
	Data bool
}

// ItemChanges is what changed in a folder since a sync point (RFC 6578).
type ItemChanges struct {
	Changed []Item   // items created or changed (or whose flags changed)
	Removed []string // resource names of items gone
	ModSeq  ModSeq   // the folder's highest modseq: the new sync point
}

// Items reads the groupware items of folders.
type Items interface {
	// Items returns the current items of mbox matching q, ordered by
	// resource name (ErrNoMailbox).
	Items(ctx context.Context, mbox MailboxID, q ItemQuery) ([]Item, error)
	// ItemChangesSince returns the items changed and removed since the
	// folder's modseq since (0: everything, nothing removed). The sync
	// point stays valid across restarts for the life of the folder
	// (ErrNoMailbox).
	ItemChangesSince(ctx context.Context, mbox MailboxID, since ModSeq) (ItemChanges, error)
	// EnsureGroupwareMailboxes creates the account's missing
	// GroupwareMailboxes with their type entries, in one transaction. An
	// existing folder of that name is left as it is (its content is the
	// user's). It returns the names created.
	EnsureGroupwareMailboxes(ctx context.Context, acct AccountID) ([]string, error)
	// FolderTypes returns the type of every typed folder of the account
	// (ErrNoAccount).
	FolderTypes(ctx context.Context, acct AccountID) (map[MailboxID]string, error)
}
