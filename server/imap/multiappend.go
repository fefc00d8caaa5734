package imap

import (
	"errors"
	"strconv"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/view"
)

// MULTIAPPEND (RFC 3502): one APPEND command may carry several messages.
// The server "MUST NOT append any of the messages unless all of them can be
// appended" (RFC 3502 6.3.11): each message is spooled into its own blob as
// it arrives, and when the line is complete all of them are committed by
// one view.AppendAll (ingest.DeliverAll), a single storage transaction; a refusal of any
// (over quota, mailbox gone, a bad message) leaves none stored and every
// spooled blob is discarded. The tagged OK carries APPENDUID with the UIDs
// of all the messages in order (RFC 4315 3).
//
// Limits: the parses of the messages are held until the commit (about the
// size of each message, at most storage.MaxStoredHeader plus
// storage.MaxIndexedText), so one command takes at most maxAppendMessages
// messages and at most maxAppendParsed bytes of such parses; beyond them
// the command is refused with NO [LIMIT] before the next message's
// continuation.

const (
	// maxAppendMessages bounds the messages of one APPEND command.
	maxAppendMessages = 1000
	// maxAppendParsed bounds the parses one APPEND command holds until
	// its commit (each counted as min(size, parsedCap)).
	maxAppendParsed = 64 << 20
	// parsedCap is the most a message's parse holds (header and text).
	parsedCap = storage.MaxStoredHeader + storage.MaxIndexedText
)

// appendBatch collects the messages of one APPEND command.
type appendBatch struct {
	s     *session
	mb    view.Folder
	mbErr error // the destination cannot be used (answered at the first message)

	items  []appendItem
	bytes  int64 // total size of the spooled messages
	parsed int64 // their parses' budget (see maxAppendParsed)
	done   bool  // committed (or handed to ingest, which discards itself)
}

// appendItem is one spooled message with its options.
type appendItem struct {
	ref   storage.BlobRef
	flags []string
	date  time.Time
}

// admitMessage refuses a message beyond maxAppendMessages before it is
// read.
func (b *appendBatch) admitMessage() error {
	if len(b.items) >= maxAppendMessages {
		return errNo("LIMIT", "too many messages in one APPEND (at most "+strconv.Itoa(maxAppendMessages)+")")
	}
	return nil
}

// litCheck runs before the continuation of a message's synchronising
// literal of n bytes (decoder.litCheck): the destination must exist, the
// command's parse budget and the account's quota must take the message
// with the ones before it. A non-synchronising literal is not checked
// here; commit counts it.
func (b *appendBatch) litCheck(n int64) error {
	if b.mbErr != nil {
		return b.destinationError()
	}
	if err := b.admitSize(n); err != nil {
		return err
	}
	return b.s.appendQuotaCheck(b.mb.Mailbox)(b.bytes + n)
}

// admitSize checks a message of n bytes against the command's parse
// budget.
func (b *appendBatch) admitSize(n int64) error {
	if b.parsed+min(n, parsedCap) > maxAppendParsed && len(b.items) > 0 {
		return errNo("LIMIT", "too much data in one APPEND: send the messages in several commands")
	}
	return nil
}

// add records a spooled message.
func (b *appendBatch) add(ref storage.BlobRef, flags []string, date time.Time) {
	b.items = append(b.items, appendItem{ref: ref, flags: flags, date: date})
	b.bytes += ref.Size
	b.parsed += min(ref.Size, parsedCap)
}

// discard removes the spooled blobs of a command that is not committed.
func (b *appendBatch) discard() {
	if b.done {
		return
	}
	for _, it := range b.items {
		ingest.Discard(b.s.ctx, b.s.store, it.ref.ID)
	}
	b.items = nil
}

// commit stores the messages, all or none, and sets the tagged OK with
// APPENDUID (RFC 4315 3: uid-set for several messages).
func (b *appendBatch) commit(tag string) error {
	s := b.s
	if b.mbErr != nil {
		return b.destinationError()
	}
	if len(b.items) == 0 {
		return errBad("syntax error: no message")
	}
	if b.parsed > maxAppendParsed && len(b.items) > 1 {
		return errNo("LIMIT", "too much data in one APPEND: send the messages in several commands")
	}
	b.done = true // the view and ingest discard what they do not store
	var uids []storage.UID
	if len(b.items) == 1 {
		// Through the user's view: flags the user may not set are dropped
		// (RFC 4314 4), the message counts against the folder owner's quota.
		it := b.items[0]
		res, err := s.v.Append(s.ctx, b.mb.ID(), it.ref, it.flags, it.date)
		if err != nil {
			return b.commitError(err)
		}
		uids = []storage.UID{res.UID}
	} else {
		msgs := make([]view.AppendMessage, len(b.items))
		for i, it := range b.items {
			msgs[i] = view.AppendMessage{Ref: it.ref, Flags: it.flags, Date: it.date}
		}
		res, err := s.v.AppendAll(s.ctx, b.mb.ID(), msgs)
		if err != nil {
			return b.commitError(err)
		}
		for _, r := range res {
			uids = append(uids, r.UID)
		}
	}
	s.tagged(tag, "OK", "APPENDUID "+strconv.FormatUint(uint64(b.mb.Mailbox.UIDValidity), 10)+" "+
		imapUIDSet(uids).String(), "APPEND completed")
	return nil
}

// commitError translates a refused commit: a mailbox deleted meanwhile is
// TRYCREATE as before the messages came.
func (b *appendBatch) commitError(err error) error {
	if errors.Is(err, storage.ErrNoMailbox) {
		return errNo("TRYCREATE", "no such mailbox")
	}
	return b.s.storageError(err)
}
