package ingest

import (
	"context"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// PutFile is the write path of a file (WebDAV PUT, a managed attachment):
// it streams r into a content blob (Spool), composes the file's message
// around it (storage.ComposeFileMessage: nothing is copied or encoded
// now) and stores both with one storage.Store.PutFile call (one group
// commit; an existing file of that name is replaced, its message
// expunged). w.Content and w.Message are set here; w.Name is normalized.
// On failure the content blob is discarded unless something else holds it.
func PutFile(ctx context.Context, st storage.Store, w storage.FileWrite, r io.Reader) (storage.File, bool, error) {
	name, err := storage.NormalizeFileName(w.Name)
	if err != nil {
		return storage.File{}, false, fmt.Errorf("file name: %w", err)
	}
	w.Name = name
	ref, err := Spool(ctx, st, r)
	if err != nil {
		return storage.File{}, false, err
	}
	if w.Modified.IsZero() {
		w.Modified = time.Now()
	}
	w.Content = ref
	w.Message = storage.ComposeFileMessage(name, w.ContentType, ref, w.Modified)
	f, created, err := st.PutFile(ctx, w)
	if err != nil {
		discard(ctx, st, ref.ID)
		return storage.File{}, false, err
	}
	return f, created, nil
}

// FileMessage composes the message for an existing file's content under a
// new name (WebDAV COPY and MOVE: storage.Store.CopyFile).
func FileMessage(f storage.File, newName string) *storage.FileMessage {
	return storage.ComposeFileMessage(newName, f.ContentType, storage.BlobRef{ID: f.Content, Size: f.Size}, f.Modified)
}

// fileTargets sets Target.File for the targets that are file folders: the
// message's first attachment is decoded from the blob into its own
// content blob (the file's bytes), named by its filename. It returns the
// content blobs it stored, for discarding when the delivery fails. Only a
// message with an attachment costs anything (the folder type lookups).
func fileTargets(ctx context.Context, st storage.Store, blob storage.Blob, parsed *storage.Parsed, targets []storage.Target) ([]storage.BlobID, error) {
	if !parsed.HasAttachment {
		return nil, nil
	}
	var spooled []storage.BlobID
	var spec *storage.FileSpec
	for i, t := range targets {
		if t.File != nil {
			continue
		}
		var mb storage.Mailbox
		var err error
		if t.Mailbox != 0 {
			mb, err = st.MailboxByID(ctx, t.Mailbox)
		} else {
			name := t.MailboxName
			if name == "" {
				name = "INBOX"
			}
			mb, err = st.Mailbox(ctx, t.Account, name)
		}
		if err != nil {
			continue // Deliver reports the target's error
		}
		isFile, err := storage.IsFileFolder(ctx, st, mb)
		if err != nil {
			return spooled, err
		}
		if !isFile {
			continue
		}
		if spec == nil {
			part := firstAttachment(&parsed.Structure)
			if part == nil {
				return spooled, nil
			}
			ref, err := Spool(ctx, st, mimeparse.DecodedReader(part, blob))
			if err != nil {
				return spooled, fmt.Errorf("file content: %w", err)
			}
			spooled = append(spooled, ref.ID)
			spec = &storage.FileSpec{Name: attachmentName(part), Content: ref,
				ContentType: mime.FormatMediaType(part.Type+"/"+part.Subtype, nil)}
		}
		targets[i].File = spec
	}
	return spooled, nil
}

// firstAttachment returns the first leaf part with a filename or an
// attachment disposition (depth first), or nil.
func firstAttachment(p *storage.Part) *storage.Part {
	if len(p.Children) > 0 {
		for i := range p.Children {
			if a := firstAttachment(&p.Children[i]); a != nil {
				return a
			}
		}
		return nil
	}
	if p.Message != nil {
		return nil
	}
	if p.Disposition == "attachment" || mimeparse.ParamValue(p.DispParams, "filename") != "" || mimeparse.ParamValue(p.Params, "name") != "" {
		return p
	}
	return nil
}

func attachmentName(p *storage.Part) string {
	n := mimeparse.ParamValue(p.DispParams, "filename")
	if n == "" {
		n = mimeparse.ParamValue(p.Params, "name")
	}
	n = strings.TrimSpace(n)
	if i := strings.LastIndexAny(n, "/\\"); i >= 0 {
		n = n[i+1:]
	}
	if n, err := storage.NormalizeFileName(n); err == nil {
		return n
	}
	return "attachment"
}
