package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Files: the file folders of SPEC §6 ("Files", typed `file`).
//
// A file is two things at once, kept in one row and one message:
//
//   - its content, one content-addressed blob (File.Content), so the same
//     bytes stored under many names or by many accounts take one copy;
//   - a message in its folder (File.UID), Kolab style, so IMAP clients see
//     it. The message of a file stored with PutFile is a composite blob:
//     a small head (headers, a text part, the file part's header), the
//     content rendered in base64 on the fly with a fixed line layout
//     (FileLineBytes input bytes per line), and a tail (the closing
//     boundary). OpenBlob of a composite returns a reader over that
//     composition (NewCompositeBlob), so the message costs no second copy
//     of the content; ReadAt maps offsets arithmetically, so IMAP partial
//     fetches never decode more than they return.
//
// A message that reaches a file folder by Deliver with Target.File set
// (IMAP APPEND of a message with an attachment) is stored as it came and
// its file content is the decoded attachment, stored as its own blob.
//
// Updating a file replaces its message (new UID), as for every groupware
// item; expunging the message over IMAP removes the file. Dead properties
// (WebDAV) belong to the file, not the message: they survive overwrite,
// and follow the file on move and copy.

// File folder type: the METADATA entry naming a folder's type (Kolab) and
// the value of file folders. A folder is a file folder when it or one of
// its ancestors carries FolderTypeFile.
const (
	FolderTypeEntry        = "/shared/vendor/kolab/folder-type"
	FolderTypePrivateEntry = "/private/vendor/kolab/folder-type"
	FolderTypeFile         = "file"
	// DefaultFilesFolder is every account's default file folder.
	DefaultFilesFolder = "Files"
	// AttachmentsOfEntry, on a file folder holding the attachments of
	// groupware items (storage/ingest, SmartAttach for items), is the
	// decimal MailboxID of the item folder whose items they belong to:
	// whoever may read that folder may read these files (webdav/files).
	AttachmentsOfEntry = "/shared/vendor/floe/attachments-of"
)

// Limits on file names and properties.
const (
	// MaxFileName is the longest file (or folder path element) name, in
	// bytes of its NFC form.
	MaxFileName = 255
	// MaxDeadProps is the most dead properties one file or folder carries;
	// MaxDeadPropsSize bounds the sum of their values.
	MaxDeadProps     = 64
	MaxDeadPropsSize = 64 << 10
)

// DeadProp is one dead property (RFC 4918 4.3) of a file or folder: a
// name (namespace and local name) and its value, an opaque byte string
// (WebDAV stores the property's XML element, as the client sent it).
type DeadProp struct {
	Space string `json:"s"`
	Local string `json:"l"`
	Value []byte `json:"v"`
}

// File is a file of a file folder.
type File struct {
	Mailbox MailboxID
	// UID is the file's message in Mailbox; a new one after every update.
	UID  UID
	Name string // NFC, see NormalizeFileName
	// Content is the file's bytes; Size their length.
	Content     BlobID
	Size        int64
	ContentType string
	// ETag changes whenever the content changes (RFC 9110 8.8.3): a strong
	// validator, quoted.
	ETag     string
	Created  time.Time
	Modified time.Time
	Props    []DeadProp
}

// FileWrite is the request of PutFile.
type FileWrite struct {
	Mailbox MailboxID
	Name    string // normalized by the backend (NormalizeFileName)
	// Content was stored with PutBlob; the caller follows PutFile with
	// DiscardBlob when PutFile fails, as after Deliver.
	Content     BlobRef
	ContentType string
	Modified    time.Time // zero: now
	// Message is the file's IMAP message, from ComposeFileMessage with the
	// same name, content type and size.
	Message *FileMessage
	// Props replaces the dead properties when SetProps is true; otherwise
	// an overwritten file keeps its own (a new file has none).
	Props    []DeadProp
	SetProps bool
	// NoReplace fails with ErrExists when a file of that name exists.
	NoReplace bool
	// IfMatch and IfNoneMatch are the conditions of an HTTP conditional
	// write (RFC 9110 13.1.1, 13.1.2), checked inside the write's
	// transaction so that racing writers cannot both pass a check made
	// before it: IfMatch lists ETags of which the file of that name must
	// have one ("*": a file of that name must exist); IfNoneMatch lists
	// ETags it must have none of ("*": no file of that name may exist).
	// ErrPrecondition when they do not hold. Nil: no condition.
	IfMatch, IfNoneMatch []string
}

// ErrPrecondition is returned by a write whose condition on the current
// state (FileWrite.IfMatch, IfNoneMatch) does not hold.
var ErrPrecondition = errors.New("precondition failed")

// CheckConditions evaluates w.IfMatch and w.IfNoneMatch against the file
// of that name, whose ETag is etag ("" when there is none): nil, or
// ErrPrecondition. Backends call it inside the write's transaction.
func (w FileWrite) CheckConditions(etag string) error {
	has := func(list []string) bool {
		for _, e := range list {
			if e == "*" && etag != "" || e != "" && e == etag {
				return true
			}
		}
		return false
	}
	if w.IfMatch != nil && !has(w.IfMatch) {
		return fmt.Errorf("file does not match If-Match: %w", ErrPrecondition)
	}
	if w.IfNoneMatch != nil && has(w.IfNoneMatch) {
		return fmt.Errorf("file matches If-None-Match: %w", ErrPrecondition)
	}
	return nil
}

// Files manages the files of file folders. Folders are mailboxes (see
// Mailboxes); whether a mailbox is a file folder is a question for its
// METADATA (FolderTypeEntry), asked by the protocol layer.
type Files interface {
	// Files lists the files of mailbox mbox, sorted by name (ErrNoMailbox).
	Files(ctx context.Context, mbox MailboxID) ([]File, error)
	// File returns one file (ErrNotFound; ErrNoMailbox).
	File(ctx context.Context, mbox MailboxID, name string) (File, error)
	// PutFile stores a file in one transaction: a new message (composite
	// of w.Message and the content) and its file row; the file of that name
	// it replaces, if any, is expunged in the same transaction. Quota is
	// checked for the growth (ErrOverQuota). It publishes
	// ChangeMessageAdded (and ChangeExpunged for the replaced message).
	// created is false when a file was replaced. Names are checked by
	// NormalizeFileName (ErrInvalid).
	PutFile(ctx context.Context, w FileWrite) (f File, created bool, err error)
	// DeleteFile expunges the file's message (ErrNotFound).
	DeleteFile(ctx context.Context, mbox MailboxID, name string) error
	// CopyFile copies a file to dst under dstName, sharing its content,
	// with a new message composed by msg (ComposeFileMessage for the new
	// name); the dead properties are copied. With move the source is
	// removed in the same transaction. An existing destination is replaced
	// unless noReplace (ErrExists). created is false when a file was
	// replaced.
	CopyFile(ctx context.Context, src MailboxID, name string, dst MailboxID, dstName string, msg *FileMessage, move, noReplace bool) (f File, created bool, err error)
	// SetFileProps sets (Value != nil) and removes (Value == nil) dead
	// properties of a file, or of the folder itself when name is "",
	// all or nothing (ErrInvalid beyond MaxDeadProps/MaxDeadPropsSize).
	// It changes no message.
	SetFileProps(ctx context.Context, mbox MailboxID, name string, props []DeadProp) error
	// FolderProps returns the dead properties of a folder.
	FolderProps(ctx context.Context, mbox MailboxID) ([]DeadProp, error)
}

// NormalizeFileName returns name in Unicode NFC, or ErrInvalid when it is
// empty, longer than MaxFileName bytes, not UTF-8, ".", "..", or contains
// "/", "\", NUL or another control character.
func NormalizeFileName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", ErrInvalid
	}
	n := norm.NFC.String(name)
	if n == "" || n == "." || n == ".." || len(n) > MaxFileName {
		return "", ErrInvalid
	}
	if strings.ContainsAny(n, "/\\") {
		return "", ErrInvalid
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f {
			return "", ErrInvalid
		}
	}
	return n, nil
}

// FileETag is the ETag of a file whose content is id: the content's hash
// names the representation, so equal bytes give equal validators.
func FileETag(id BlobID) string {
	s := string(id)
	if len(s) > 32 {
		s = s[:32]
	}
	return `"` + s + `"`
}

// PropsSize returns the number of bytes props take toward MaxDeadPropsSize.
func PropsSize(props []DeadProp) int {
	n := 0
	for _, p := range props {
		n += len(p.Space) + len(p.Local) + len(p.Value)
	}
	return n
}

// MergeProps applies changes (Value nil: remove) to props and returns the
// result sorted by name, or ErrInvalid beyond the limits.
func MergeProps(props, changes []DeadProp) ([]DeadProp, error) {
	out := append([]DeadProp(nil), props...)
	for _, c := range changes {
		i := 0
		for ; i < len(out); i++ {
			if out[i].Space == c.Space && out[i].Local == c.Local {
				break
			}
		}
		switch {
		case c.Value == nil && i < len(out):
			out = append(out[:i], out[i+1:]...)
		case c.Value != nil && i < len(out):
			out[i].Value = c.Value
		case c.Value != nil:
			out = append(out, c)
		}
	}
	if len(out) > MaxDeadProps || PropsSize(out) > MaxDeadPropsSize {
		return nil, ErrInvalid
	}
	sortProps(out)
	return out, nil
}

func sortProps(p []DeadProp) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && (p[j].Space < p[j-1].Space || p[j].Space == p[j-1].Space && p[j].Local < p[j-1].Local); j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// FolderStore is what IsFileFolder needs of a store.
type FolderStore interface {
	Mailbox(ctx context.Context, acct AccountID, name string) (Mailbox, error)
	GetMetadata(ctx context.Context, acct AccountID, mbox MailboxID, prefixes []string, depth int) ([]MetadataEntry, error)
}

// IsFileFolder reports whether mb is a file folder: it or one of its
// ancestors has FolderTypeEntry "file" (or "file.<subtype>").
func IsFileFolder(ctx context.Context, st FolderStore, mb Mailbox) (bool, error) {
	name := mb.Name
	id := mb.ID
	for {
		es, err := st.GetMetadata(ctx, mb.Account, id, []string{FolderTypeEntry}, 0)
		if err != nil {
			return false, err
		}
		for _, e := range es {
			v := strings.ToLower(string(e.Value))
			if v == FolderTypeFile || strings.HasPrefix(v, FolderTypeFile+".") {
				return true, nil
			}
		}
		i := strings.LastIndexByte(name, '/')
		if i <= 0 {
			return false, nil
		}
		name = name[:i]
		parent, err := st.Mailbox(ctx, mb.Account, name)
		if err != nil {
			if errors.Is(err, ErrNoMailbox) {
				return false, nil
			}
			return false, err
		}
		id = parent.ID
	}
}

// FolderMaker is what EnsureFileFolder needs of a store.
type FolderMaker interface {
	FolderStore
	CreateMailbox(ctx context.Context, acct AccountID, name, specialUse string) (Mailbox, error)
	SetMetadata(ctx context.Context, acct AccountID, mbox MailboxID, entries []MetadataEntry) error
}

// EnsureFileFolder returns acct's file folder name ("Files" or
// "Files/Attachments"), creating it and its missing parents: each new
// folder is typed file, and the account's default Files folder also
// file.default (Kolab). An existing folder on the path that is not a file
// folder (nor below one) gives ErrNoMailbox: it is left alone. Concurrent
// callers are safe (a folder another one created is used).
func EnsureFileFolder(ctx context.Context, st FolderMaker, acct AccountID, name string) (Mailbox, error) {
	var mb Mailbox
	path := ""
	for seg := range strings.SplitSeq(name, "/") {
		if path != "" {
			path += "/"
		}
		path += seg
		m, err := st.Mailbox(ctx, acct, path)
		if errors.Is(err, ErrNoMailbox) {
			m, err = st.CreateMailbox(ctx, acct, path, "")
			if err == nil {
				entries := []MetadataEntry{{Name: FolderTypeEntry, Value: []byte(FolderTypeFile)}}
				if path == DefaultFilesFolder {
					entries = append(entries, MetadataEntry{Name: FolderTypePrivateEntry, Value: []byte(FolderTypeFile + ".default")})
				}
				if err := st.SetMetadata(ctx, acct, m.ID, entries); err != nil {
					return Mailbox{}, err
				}
			} else if errors.Is(err, ErrExists) {
				m, err = st.Mailbox(ctx, acct, path)
			}
		}
		if err != nil {
			return Mailbox{}, err
		}
		mb = m
	}
	ok, err := IsFileFolder(ctx, st, mb)
	if err != nil {
		return Mailbox{}, err
	}
	if !ok {
		return Mailbox{}, fmt.Errorf("%q is no file folder: %w", mb.Name, ErrNoMailbox)
	}
	return mb, nil
}

// SuffixedFileName returns name for i <= 1, else name with " (i)" before
// its extension ("report (2).pdf"; an extension of more than 16 bytes is
// taken as part of the name), kept within MaxFileName bytes: the choice
// of a free name when name is taken.
func SuffixedFileName(name string, i int) string {
	if i <= 1 {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > 16 || ext == name {
		ext = ""
	}
	cand := fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), i, ext)
	if len(cand) > MaxFileName {
		cand = fmt.Sprintf("file (%d)%s", i, ext)
	}
	return cand
}
