// Package storage defines Floe's storage API: domains, accounts, aliases,
// mailboxes, messages, blobs and change events. It speaks in these terms only,
// never in a protocol's types, so that backends other than SQLite can be added
// (storage/sqlite is the embedded default). Every backend must pass the
// conformance suite in storage/storagetest.
//
// Errors are the sentinel errors below (wrapped with context where useful);
// protocol layers translate them once, at their boundary.
package storage

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Backends wrap them (fmt.Errorf("...: %w", ErrX)); callers
// test with errors.Is.
var (
	ErrNotFound    = errors.New("not found")
	ErrNoDomain    = errors.New("no such domain")
	ErrNoAccount   = errors.New("no such account")
	ErrNoMailbox   = errors.New("no such mailbox")
	ErrNoMessage   = errors.New("no such message")
	ErrExists      = errors.New("already exists")
	ErrOverQuota   = errors.New("over quota")
	ErrPermission  = errors.New("permission denied")
	ErrInvalid     = errors.New("invalid argument")
	ErrConfigOwned = errors.New("managed by the config file")
	ErrNotEmpty    = errors.New("not empty")
	ErrClosed      = errors.New("storage closed")
	// ErrStorageFull is returned when the disk or database cannot take more
	// data; SMTP maps it to 452 4.3.1 (temporary), never to a lost message.
	ErrStorageFull = errors.New("storage full")
)

// IDs.
type (
	AccountID int64
	MailboxID int64
	UID       uint32
	ModSeq    uint64
	// BlobID is the lowercase hex SHA-256 of the blob's content.
	BlobID string
)

// Source says who declared a directory entry. Entries declared in the config
// file are owned by it: the CLI refuses to change them (ErrConfigOwned) and a
// reload re-synchronises them. Entries added by the CLI are owned by the database.
type Source string

const (
	SourceDB     Source = "db"
	SourceConfig Source = "config"
)

// Domain is a local domain.
type Domain struct {
	Name string // lowercase ASCII (A-labels)
	// CatchAll, when not empty, is the account address that receives mail for
	// unknown local parts of this domain.
	CatchAll string
	Source   Source
	Created  time.Time
}

// Account is a mailbox owner that can log in.
type Account struct {
	ID      AccountID
	Address string // lowercase local@domain
	// Name is the display name ("Jane Doe"): UTF-8 without control
	// characters, at most MaxDisplayName bytes, "" when none (ErrInvalid
	// otherwise). The Global Address Book, autodiscover answers and the
	// information mails show it.
	Name         string
	PasswordHash string // argon2id or bcrypt, in PHC/modular crypt format
	// Quotas; 0 means unlimited.
	QuotaBytes    int64
	QuotaMessages int64
	Disabled      bool
	Source        Source
	Created       time.Time
}

// MaxDisplayName bounds Account.Name, in bytes.
const MaxDisplayName = 256

// ValidDisplayName reports whether name may be an Account.Name: at most
// MaxDisplayName bytes of valid UTF-8 without control characters, not
// starting or ending with white space.
func ValidDisplayName(name string) bool {
	if len(name) > MaxDisplayName || !utf8.ValidString(name) || strings.TrimSpace(name) != name {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Alias maps an extra address to an account.
type Alias struct {
	Address string // lowercase local@domain
	Target  string // an account address
	Source  Source
}

// Usage is an account's current storage use: what its quota counts. Bytes
// is the sum of its messages' sizes, except that the message a backend
// composes for a file (Files.PutFile, CopyFile: a composite of the file's
// content in base64) counts the file's size, not the message's, wherever
// IMAP COPY or MOVE takes it: a file costs what the user stored. Quota
// checks of every write count the same way.
type Usage struct {
	Bytes    int64
	Messages int64
}

// Default folders created with every account, with their SPECIAL-USE attribute
// (RFC 6154). INBOX has none.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{"INBOX", ""},
	{"Sent", `\Sent`},
	{"Drafts", `\Drafts`},
	{"Trash", `\Trash`},
	{"Junk", `\Junk`},
	{"Archive", `\Archive`},
}

// Mailbox is a folder of an account. Names are UTF-8 with "/" as the hierarchy
// delimiter; "INBOX" is always spelled in upper case.
type Mailbox struct {
	ID            MailboxID
	Account       AccountID
	Name          string
	SpecialUse    string // `\Sent`, `\Drafts`, ... or ""
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq ModSeq
	// Subscribed is the owner's subscription to the mailbox under its own
	// name (see Sharing.Subscriptions for every viewer's).
	Subscribed bool
}

// MailboxStatus is the counted state of a mailbox (IMAP STATUS, POP3 STAT)
// as one viewer sees it: Unseen counts that viewer's \Seen (see Viewer).
type MailboxStatus struct {
	Mailbox
	Messages uint32
	Unseen   uint32
	Deleted  uint32
	Size     int64
}

// System flags as stored. Keywords are stored as given (case preserved,
// compared case-insensitively).
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Address is one mailbox of an address list, as IMAP ENVELOPE needs it.
// A group is encoded as in RFC 3501: a start marker with Host == "" and
// Mailbox == group name, and an end marker with both empty.
type Address struct {
	Name    string `json:"n,omitempty"` // display name, decoded to UTF-8
	Mailbox string `json:"m,omitempty"` // local part
	Host    string `json:"h,omitempty"` // domain
	// Route is an obsolete source route ("@a,@b", RFC 5322 4.4), the
	// ENVELOPE's adl (RFC 3501 7.4.2); usually empty.
	Route string `json:"r,omitempty"`
}

// Envelope is the parsed RFC 5322 envelope of a message (IMAP ENVELOPE).
type Envelope struct {
	Date      time.Time `json:"d,omitempty"`
	RawDate   string    `json:"rd,omitempty"` // the Date header as written
	Subject   string    `json:"s,omitempty"`  // decoded to UTF-8
	From      []Address `json:"f,omitempty"`
	Sender    []Address `json:"se,omitempty"`
	ReplyTo   []Address `json:"r,omitempty"`
	To        []Address `json:"t,omitempty"`
	Cc        []Address `json:"c,omitempty"`
	Bcc       []Address `json:"b,omitempty"`
	InReplyTo string    `json:"i,omitempty"`
	MessageID string    `json:"m,omitempty"`
}

// Part is one node of a message's MIME structure (IMAP BODYSTRUCTURE), with
// byte offsets into the raw message so that BODY[section] can be served from
// the blob without parsing it again.
type Part struct {
	Type        string            `json:"t"`            // lowercase, e.g. "text"
	Subtype     string            `json:"st"`           // lowercase, e.g. "plain"
	Params      map[string]string `json:"p,omitempty"`  // keys lowercase
	ID          string            `json:"id,omitempty"` // Content-ID
	Description string            `json:"de,omitempty"`
	Encoding    string            `json:"e,omitempty"` // Content-Transfer-Encoding, lowercase; "" = 7bit
	Disposition string            `json:"di,omitempty"`
	DispParams  map[string]string `json:"dp,omitempty"`
	Language    []string          `json:"l,omitempty"`
	Location    string            `json:"lo,omitempty"`
	MD5         string            `json:"md,omitempty"`

	// Offsets in the raw message: the part's header starts at HeaderStart,
	// its body at BodyStart and ends at End (exclusive). For the top-level
	// part HeaderStart is 0.
	HeaderStart int64 `json:"hs"`
	BodyStart   int64 `json:"bs"`
	End         int64 `json:"en"`
	// Lines is the number of lines in the body (text/* and message/rfc822).
	Lines int64 `json:"ln,omitempty"`

	Children []Part `json:"c,omitempty"` // multipart/*
	// For message/rfc822 (and message/global): the encapsulated message.
	Message *EncapsulatedMessage `json:"m,omitempty"`
}

// EncapsulatedMessage is the content of a message/rfc822 part.
type EncapsulatedMessage struct {
	Envelope Envelope `json:"e"`
	Body     Part     `json:"b"`
}

// Parsed is everything Floe needs from a message, computed once at delivery
// (storage/mimeparse produces it). FETCH ENVELOPE/BODYSTRUCTURE, most SEARCH
// keys, SORT, THREAD and rules read it instead of the blob.
type Parsed struct {
	Envelope  Envelope
	Structure Part
	// Header is the raw top-level header section, including the blank line,
	// capped at MaxStoredHeader bytes (HeaderTruncated is then true).
	Header          []byte
	HeaderTruncated bool
	// References lists the message IDs of the References header, in order
	// (THREAD=REFERENCES).
	References []string
	// BaseSubject is the RFC 5256 base subject (SORT SUBJECT, THREAD).
	BaseSubject string
	// HasAttachment is true when some part has Content-Disposition
	// attachment or a filename.
	HasAttachment   bool
	AttachmentNames []string
	// Text is the decoded text of the text/* parts (HTML stripped to text),
	// capped at MaxIndexedText bytes, for the full-text index.
	Text string
	// Item is the groupware index of an item message (storage/item), nil
	// for mail. It is stored with the content, in the same transaction.
	Item *ItemIndex
}

// Limits on what is kept from a parsed message.
const (
	MaxStoredHeader = 256 << 10
	MaxIndexedText  = 1 << 20
)

// Message is a message's metadata. Which fields are filled depends on the
// Fields mask of the query that returned it.
type Message struct {
	Mailbox      MailboxID
	UID          UID
	ModSeq       ModSeq
	Flags        []string // system flags and keywords, sorted
	InternalDate time.Time
	Size         int64
	Blob         BlobID

	Envelope  *Envelope // FieldEnvelope
	Structure *Part     // FieldStructure
	Header    []byte    // FieldHeader
	// References and BaseSubject are filled with FieldThreading.
	References  []string
	BaseSubject string
}

// Fields selects what Messages returns beyond UID, ModSeq, Flags,
// InternalDate, Size and Blob, which always come.
type Fields uint8

const (
	FieldEnvelope Fields = 1 << iota
	FieldStructure
	FieldHeader
	FieldThreading
)

// UIDRange is an inclusive range of UIDs. Stop == 0 means "to the end" (*).
type UIDRange struct{ Start, Stop UID }

// UIDSet is a set of ranges; an empty set means every message.
type UIDSet []UIDRange

// Contains reports whether uid is in the set. An empty set contains all.
func (s UIDSet) Contains(uid UID) bool {
	if len(s) == 0 {
		return true
	}
	for _, r := range s {
		if uid >= r.Start && (r.Stop == 0 || uid <= r.Stop) {
			return true
		}
	}
	return false
}

// Viewer semantics of \Seen (ARCHITECTURE decision 5). Every call that
// reads or writes flags names the account acting, the viewer; 0 means the
// mailbox's owner. The owner's \Seen is stored with the message; every
// other viewer (someone the mailbox is shared with, or anybody in a public
// folder) has its own \Seen per message, which only it sees and changes.
// The other flags and keywords are shared. A change of a viewer's own
// \Seen takes a new ModSeq for the message like any flag change (so
// CONDSTORE stays exact for that viewer; other viewers see a ModSeq move
// without a flag change, which RFC 7162 allows) and is published as a
// ChangeFlags with Viewer set.

// Query selects messages of one mailbox.
type Query struct {
	UIDs UIDSet // empty: all
	// ChangedSince, when not 0, returns only messages with ModSeq > ChangedSince.
	ChangedSince ModSeq
	Fields       Fields
	// Viewer is the account whose \Seen Flags shows (0: the owner's).
	Viewer AccountID
}

// FlagOp says how StoreFlags combines the given flags with the current ones.
type FlagOp int

const (
	FlagsAdd FlagOp = iota
	FlagsRemove
	FlagsReplace
)

// FlagUpdate is the request of StoreFlags.
type FlagUpdate struct {
	UIDs  UIDSet
	Op    FlagOp
	Flags []string
	// UnchangedSince, when not 0, skips messages whose ModSeq is greater
	// (RFC 7162 UNCHANGEDSINCE); they are returned in Result.Modified.
	UnchangedSince ModSeq
	// Viewer is the account acting (0: the owner). A \Seen in Flags
	// changes that viewer's \Seen; Updated shows its view.
	Viewer AccountID
	// Keep lists classes of flags the update leaves as they are whatever
	// Op and Flags say (a viewer without the right to change them, RFC
	// 4314 4: STORE changes the flags it may and ignores the others).
	Keep FlagKeep
}

// FlagKeep is a set of classes of flags (FlagUpdate.Keep).
type FlagKeep uint8

const (
	KeepSeen    FlagKeep = 1 << iota // \Seen (right "s")
	KeepDeleted                      // \Deleted (right "t")
	KeepOther                        // every other flag and keyword (right "w")
)

// FlagResult is what StoreFlags did.
type FlagResult struct {
	Updated  []Message // new flags and ModSeq of changed messages
	Modified []UID     // skipped because of UnchangedSince
}

// Target is one copy of a delivered message.
type Target struct {
	Account AccountID
	// Mailbox by ID, or by Name when ID is 0 ("INBOX" by default).
	Mailbox      MailboxID
	MailboxName  string
	Flags        []string
	InternalDate time.Time // zero: now
	// IgnoreQuota skips the quota check (used for bounces to the admin).
	IgnoreQuota bool

	// For an item (Parsed.Item set), written over DAV:
	// ItemName is the resource name the client chose ("" keeps the item's
	// current name or gives the default). Replace is the IMAP UID of the
	// message the new one replaces (0: none); it is expunged in the same
	// transaction, and the target fails with ErrNoMessage when it is no
	// longer the item's current message (a concurrent change: HTTP 412).
	// With ItemName or Replace set, the target fails with ErrExists when
	// another resource of the folder holds the item's UID or the name
	// (CalDAV/CardDAV no-uid-conflict).
	ItemName string
	Replace  UID
	// Viewer is the account storing the message (0: the mailbox's owner).
	// A \Seen in Flags is kept as that viewer's own \Seen.
	Viewer AccountID
	// File, when set, makes this copy also a file of its folder (a file
	// folder, see Files): the write path sets it for a message that
	// reaches a file folder with an attachment. A name already taken in
	// the folder gets a " (2)", " (3)", ... suffix before its extension.
	File *FileSpec
}

// FileSpec is the file a delivered message carries (Target.File): its
// name, its content (the decoded attachment, stored with PutBlob) and
// content type.
type FileSpec struct {
	Name        string
	Content     BlobRef
	ContentType string
}

// Delivered is the outcome for one Target.
type Delivered struct {
	Mailbox MailboxID
	UID     UID
	ModSeq  ModSeq
	Err     error // ErrOverQuota, ErrNoMailbox, ... for this target only
}

// Delivery is one message of Store.DeliverAll: a blob stored with PutBlob,
// its parse, and where it goes.
type Delivery struct {
	Ref     BlobRef
	Parsed  *Parsed
	Targets []Target
}

// DeliveryError is DeliverAll's error when one target refused the
// message: Delivery and Target index the failing one, Err is its reason
// (ErrOverQuota, ErrNoMailbox, ErrInvalid flags, ...), which errors.Is sees
// through.
type DeliveryError struct {
	Delivery, Target int
	Err              error
}

func (e *DeliveryError) Error() string {
	return "delivery " + strconv.Itoa(e.Delivery) + " target " + strconv.Itoa(e.Target) + ": " + e.Err.Error()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// BlobRef identifies a durably stored blob.
type BlobRef struct {
	ID   BlobID
	Size int64
}

// Blob is an open blob.
type Blob interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	io.Closer
	Size() int64
}

// CopyResult maps source UIDs to new UIDs in the destination (COPYUID).
type CopyResult struct {
	UIDValidity uint32
	Source      []UID
	Dest        []UID
}

// ChangeKind says what a Change is about.
type ChangeKind int

const (
	ChangeMessageAdded ChangeKind = iota + 1
	ChangeFlags
	ChangeExpunged
	ChangeMailboxCreated
	ChangeMailboxDeleted
	ChangeMailboxRenamed
	ChangeMailboxSubscribed
	// ChangeMetadata: a METADATA entry (RFC 5464) of Mailbox (0: a server
	// entry) was set or deleted; Name is the entry name ("/shared/comment").
	// A "/private/..." entry concerns only the account that set it.
	ChangeMetadata
)

// Change is one committed change, published to the account's subscribers
// and to the mailbox's subscribers in commit order after the transaction
// commits. Account is the mailbox's owner, except for
// ChangeMailboxSubscribed, whose Account is the subscriber and Name the
// name it subscribed to or unsubscribed from.
type Change struct {
	Kind    ChangeKind
	Account AccountID
	Mailbox MailboxID
	UID     UID
	ModSeq  ModSeq
	// Flags (ChangeMessageAdded, ChangeFlags; ChangeExpunged: the last
	// flags) are as the owner sees them, or as Viewer sees them when
	// Viewer is set.
	Flags []string
	// Viewer, on a ChangeFlags, says the change is that viewer's own \Seen
	// (see Query.Viewer); such a change concerns nobody else.
	Viewer  AccountID
	Name    string // mailbox events: the (new) name
	OldName string // ChangeMailboxRenamed
}

// Subscription receives changes (of one account, or of one mailbox).
type Subscription interface {
	// Ready is signalled (non-blocking, coalesced) when changes are waiting.
	Ready() <-chan struct{}
	// Next returns and removes the waiting changes, in commit order.
	Next() []Change
	// Close stops the subscription.
	Close()
}

// Directory manages domains, accounts and aliases.
type Directory interface {
	Domains(ctx context.Context) ([]Domain, error)
	Domain(ctx context.Context, name string) (Domain, error)
	PutDomain(ctx context.Context, d Domain) error // insert or update
	// DeleteDomain fails with ErrNotEmpty while accounts of the domain exist.
	DeleteDomain(ctx context.Context, name string) error

	Accounts(ctx context.Context) ([]Account, error)
	Account(ctx context.Context, address string) (Account, error)
	AccountByID(ctx context.Context, id AccountID) (Account, error)
	// CreateAccount creates the account and its default mailboxes; the
	// domain must exist (ErrNoDomain).
	CreateAccount(ctx context.Context, a Account) (Account, error)
	// UpdateAccount changes display name, password hash, quotas, disabled
	// flag and source.
	UpdateAccount(ctx context.Context, a Account) error
	// DeleteAccount removes the account with its mailboxes and messages.
	DeleteAccount(ctx context.Context, address string) error

	Aliases(ctx context.Context) ([]Alias, error)
	Alias(ctx context.Context, address string) (Alias, error)
	PutAlias(ctx context.Context, a Alias) error
	DeleteAlias(ctx context.Context, address string) error

	Usage(ctx context.Context, acct AccountID) (Usage, error)

	// DirectoryVersion returns a number that changes whenever the
	// directory as an address book shows it changes: a domain or an
	// account is created or removed, an account's address, display name
	// or disabled flag changes, a group or a group's members change. It
	// sees changes other processes made to the same store (the CLI), so
	// followers of the directory (the Global Address Book) can poll it.
	DirectoryVersion(ctx context.Context) (uint64, error)
}

// ReservedMailboxName reports whether name (a path in an account's tree)
// starts with "~" or "#": the prefixes of other accounts' folders
// ("~owner@domain/Path") and of public folders ("#public/Path") in IMAP
// (NAMESPACE), DAV and rules. No backend creates or renames a folder to
// such a name.
func ReservedMailboxName(name string) bool {
	return strings.HasPrefix(name, "~") || strings.HasPrefix(name, "#")
}

// Mailboxes manages an account's folders.
type Mailboxes interface {
	Mailboxes(ctx context.Context, acct AccountID) ([]Mailbox, error)
	Mailbox(ctx context.Context, acct AccountID, name string) (Mailbox, error)
	MailboxByID(ctx context.Context, id MailboxID) (Mailbox, error)
	// Status counts the mailbox as viewer sees it (0: the owner).
	Status(ctx context.Context, id MailboxID, viewer AccountID) (MailboxStatus, error)
	// CreateMailbox creates a mailbox. A name whose first level starts
	// with "~" or "#" is ErrInvalid (ReservedMailboxName): those are the
	// other users' and the shared namespaces as every protocol presents
	// them, and a folder of such a name would shadow them.
	CreateMailbox(ctx context.Context, acct AccountID, name, specialUse string) (Mailbox, error)
	// DeleteMailbox removes the mailbox and its messages (INBOX: ErrInvalid).
	DeleteMailbox(ctx context.Context, id MailboxID) error
	// RenameMailbox renames the mailbox and its children. Renaming INBOX
	// moves its messages to a new mailbox and leaves INBOX empty (RFC 9051).
	// A reserved new name (ReservedMailboxName) is ErrInvalid.
	RenameMailbox(ctx context.Context, id MailboxID, newName string) error
	// SetSubscribed is SetSubscription for the mailbox's owner and its
	// name.
	SetSubscribed(ctx context.Context, id MailboxID, subscribed bool) error
}

// Messages reads and changes messages.
type Messages interface {
	// PutBlob stores r and returns its reference. The blob is made durable
	// (content and directory entry fsynced) by the Deliver that references
	// it, before that Deliver's commit, together with the other blobs of the
	// same group commit. An unreferenced blob is garbage-collected later.
	// Content is shared: the caller follows each PutBlob with a Deliver or
	// a DiscardBlob, and until then the blob survives the expunge of other
	// messages holding the same content.
	PutBlob(ctx context.Context, r io.Reader) (BlobRef, error)
	OpenBlob(ctx context.Context, id BlobID) (Blob, error)
	// DiscardBlob removes a blob that PutBlob stored but nothing will
	// reference (a message refused after it was spooled). A blob that some
	// message or queue entry references is left alone.
	DiscardBlob(ctx context.Context, id BlobID) error

	// Deliver adds one message, already stored as a blob and parsed, to every
	// target in one transaction shared with other concurrent deliveries
	// (group commit). It returns after the commit is durable; the per-target
	// outcome is in Delivered.Err. The returned error is for the whole call.
	// It publishes ChangeMessageAdded for each stored copy.
	Deliver(ctx context.Context, ref BlobRef, p *Parsed, targets []Target) ([]Delivered, error)
	// DeliverAll stores several messages, each already stored as a blob
	// and parsed, with their targets in one transaction, all or nothing
	// (IMAP MULTIAPPEND, RFC 3502): when any target of any delivery
	// fails, nothing is stored and the error names the first failure
	// (a *DeliveryError wrapping ErrOverQuota, ErrNoMailbox, ...). On
	// success the result has one entry per delivery, each with one
	// Delivered per target, in order, all with a nil Err; the commit is
	// durable when DeliverAll returns, and ChangeMessageAdded is
	// published for every copy, in order. It shares the group commit
	// with concurrent deliveries like Deliver.
	DeliverAll(ctx context.Context, ds []Delivery) ([][]Delivered, error)

	// Messages returns the messages of a mailbox matching q, in UID order.
	Messages(ctx context.Context, mbox MailboxID, q Query) ([]Message, error)
	// StoreFlags changes flags; it publishes ChangeFlags per changed message.
	StoreFlags(ctx context.Context, mbox MailboxID, u FlagUpdate) (FlagResult, error)
	// Expunge removes the given messages (all of them when uids is empty is
	// NOT allowed: pass the UIDs) and publishes ChangeExpunged for each.
	Expunge(ctx context.Context, mbox MailboxID, uids []UID) ([]UID, error)
	// Copy copies messages to dst (COPY); Move moves them (MOVE). viewer
	// is the account acting (0: src's owner): the copies carry the flags
	// as it sees them in src, and its \Seen is its own in dst (see
	// Query.Viewer). The copies count against dst's owner's quota.
	Copy(ctx context.Context, src MailboxID, uids UIDSet, dst MailboxID, viewer AccountID) (CopyResult, error)
	Move(ctx context.Context, src MailboxID, uids UIDSet, dst MailboxID, viewer AccountID) (CopyResult, error)
	// Vanished returns UIDs expunged with a ModSeq greater than since
	// (QRESYNC VANISHED).
	Vanished(ctx context.Context, mbox MailboxID, since ModSeq, uids UIDSet) ([]UID, error)
	// SearchText returns UIDs of messages whose indexed text matches every
	// word of query; field is "" (headers and body), "body", "subject",
	// "from", "to", "cc", "bcc" or "header".
	SearchText(ctx context.Context, mbox MailboxID, field, query string) ([]UID, error)
}

// MetadataEntry is an RFC 5464 annotation. Mailbox 0 means a server entry.
// Name is the full entry name, e.g. "/private/comment" or
// "/shared/vendor/kolab/folder-type", compared case-insensitively and stored
// lowercased. Private entries ("/private/...") belong to Owner, the acting
// account; shared entries ("/shared/...") have Owner 0.
type MetadataEntry struct {
	Mailbox MailboxID
	Owner   AccountID
	Name    string
	Value   []byte
}

// Metadata limits enforced by backends (protocol layers may be stricter).
const (
	// MaxMetadataValue is the largest entry value in bytes.
	MaxMetadataValue = 64 << 10
	// MaxMetadataEntries is the most entries one mailbox (or the server
	// entries of one account) may carry, private and shared together.
	MaxMetadataEntries = 256
)

// Metadata stores RFC 5464 annotations of mailboxes and of the server.
// Entries of a mailbox are removed with it.
type Metadata interface {
	// GetMetadata returns the entries of mailbox mbox (0: server entries)
	// visible to acct (its private entries and the shared ones) whose names
	// equal one of prefixes or, with depth 1, are one level below it, or
	// with depth -1 (infinity), any level below it. Names in prefixes are
	// full entry names ("/private/comment"). The result is sorted by name;
	// a private entry and a shared entry never share a name.
	GetMetadata(ctx context.Context, acct AccountID, mbox MailboxID, prefixes []string, depth int) ([]MetadataEntry, error)
	// SetMetadata sets the entries in one transaction; a nil Value deletes.
	// It publishes ChangeMetadata for each entry, to the account whose
	// entries they are.
	// Owner in entries is ignored: private entries are stored for acct.
	// Names must start with "/private/" or "/shared/" (ErrInvalid); values
	// are limited by MaxMetadataValue and the number of entries by
	// MaxMetadataEntries (ErrOverQuota, nothing changed). The mailbox must
	// exist (ErrNoMailbox).
	SetMetadata(ctx context.Context, acct AccountID, mbox MailboxID, entries []MetadataEntry) error
}

// Store is a storage backend.
type Store interface {
	Directory
	Mailboxes
	Messages
	Metadata
	Queue
	Items
	Groups
	Sharing
	Rules
	Quarantine
	Files
	Clients
	Links

	// Subscribe returns a subscription to the changes of an account's
	// mailboxes (and its ChangeMailboxSubscribed).
	Subscribe(acct AccountID) Subscription
	// SubscribeMailbox returns a subscription to the changes of one
	// mailbox, whoever owns it (a session that selects a shared folder).
	SubscribeMailbox(mbox MailboxID) Subscription

	Close() error
}

// Optional interfaces. A backend implements those it can; the server and
// the CLI type-assert them and say clearly when the configured backend
// lacks one. Each is covered by storagetest when implemented.

// Checker verifies a backend's integrity (floe check).
type Checker interface {
	// Check verifies integrity: every referenced blob exists and matches
	// its hash, counters agree with the rows. It returns the problems
	// found, in human-readable form (none: healthy).
	Check(ctx context.Context) ([]string, error)
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	ID      BlobID
	Size    int64
	ModTime time.Time
}

// OrphanAge is the minimum age at which orphaned blobs are removed (floe
// check --repair, a backend's own sweep): younger ones may belong to a
// delivery in progress.
const OrphanAge = time.Hour

// OrphanRemover lists and removes orphaned blobs: blobs stored (PutBlob)
// that no message or queue entry references, left by a crash between
// spooling and commit or by a refused message that could not be
// discarded. A young orphan may belong to a delivery in progress, so
// callers pass a minimum age (an hour or more when removing).
type OrphanRemover interface {
	// Orphans lists the orphaned blobs last modified more than minAge ago.
	Orphans(ctx context.Context, minAge time.Duration) ([]BlobInfo, error)
	// RemoveOrphans deletes the orphaned blobs last modified more than
	// minAge ago, re-checking each against concurrent deliveries, and
	// returns how many it removed.
	RemoveOrphans(ctx context.Context, minAge time.Duration) (int, error)
}

// Outbound queue.

// QueueID identifies an outbound queue entry.
type QueueID int64

// Recipient states of a queue entry.
const (
	RcptPending   = "pending"
	RcptDelivered = "delivered"
	RcptFailed    = "failed"
)

// QueueRecipient is one recipient of a queue entry with its RFC 3461 DSN
// parameters and its delivery state.
type QueueRecipient struct {
	Address string
	ORcpt   string // ORCPT, e.g. "rfc822;user@example.org"; "" when not given
	Notify  string // NOTIFY, e.g. "FAILURE,DELAY" or "NEVER"; "" = default
	Status  string // RcptPending, RcptDelivered or RcptFailed
	// Error is the last problem (a temporary one while pending, the
	// permanent one when failed); RemoteReply the remote server's reply
	// text when there was one, and RemoteMTA the host that gave it.
	Error       string
	RemoteReply string
	RemoteMTA   string
}

// QueueEntry is a message waiting in the outbound queue. The entry holds a
// reference on its blob: the body is kept until the entry is deleted.
type QueueEntry struct {
	ID      QueueID
	Blob    BlobID
	Size    int64
	From    string // envelope sender; "" is the null sender (a DSN)
	EnvID   string // ENVID
	Ret     string // RET: "FULL", "HDRS" or ""
	UTF8    bool   // SMTPUTF8 is needed
	Account AccountID
	Created time.Time
	// Attempts counts delivery attempts; NextAttempt is when the next is
	// due; LastError describes the last temporary failure.
	Attempts      int
	NextAttempt   time.Time
	LastError     string
	DelayNotified bool
	Recipients    []QueueRecipient
}

// Queue is the persistent outbound queue.
type Queue interface {
	// Enqueue stores e (ID, Created are set when zero; Recipients with an
	// empty Status are pending) referencing the blob e.Blob, which must
	// have been stored with PutBlob. The blob is made durable before the
	// commit, and Enqueue returns after the commit is durable.
	Enqueue(ctx context.Context, e QueueEntry) (QueueID, error)
	// QueueEntries lists every entry, oldest first.
	QueueEntries(ctx context.Context) ([]QueueEntry, error)
	// QueueEntry returns one entry (ErrNotFound).
	QueueEntry(ctx context.Context, id QueueID) (QueueEntry, error)
	// UpdateQueueEntry replaces the mutable state of the entry: attempts,
	// next attempt, last error, delay notified and the recipients
	// (ErrNotFound).
	UpdateQueueEntry(ctx context.Context, e QueueEntry) error
	// DeleteQueueEntry removes the entry and drops its blob reference
	// (ErrNotFound).
	DeleteQueueEntry(ctx context.Context, id QueueID) error
	// DueQueueEntries returns up to limit entries whose NextAttempt is not
	// after now, earliest first.
	DueQueueEntries(ctx context.Context, now time.Time, limit int) ([]QueueEntry, error)
	// RescheduleQueue sets NextAttempt to at for the entry id, or for every
	// entry when id is 0 (floe queue retry / flush).
	RescheduleQueue(ctx context.Context, id QueueID, at time.Time) error
}
