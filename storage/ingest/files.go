package ingest

import (
	"context"
	"errors"
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
// expunged, unless w.NoReplace). w.Content and w.Message are set here;
// w.Name is normalized. On failure the content blob is discarded unless
// something else holds it.
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
	return PutFileBlob(ctx, st, w, ref)
}

// PutFileBlob is PutFile for content already spooled (Spool) as ref: a
// caller that looks at the content before it names the file (SmartAttach
// reusing a file with the same content). On failure ref is discarded
// unless something else holds it.
func PutFileBlob(ctx context.Context, st storage.Store, w storage.FileWrite, ref storage.BlobRef) (storage.File, bool, error) {
	name, err := storage.NormalizeFileName(w.Name)
	if err != nil {
		discard(ctx, st, ref.ID)
		return storage.File{}, false, fmt.Errorf("file name: %w", err)
	}
	w.Name = name
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

// PutNewFile stores the spooled content ref as a new file of w.Mailbox:
// named w.Name, or, when that is taken, the first free of "name (2)",
// "name (3)", ... (storage.SuffixedFileName); it never replaces a file.
// With reuse, a file of one of those names that holds the same content is
// returned instead (created false), and nothing is stored. On failure ref
// is discarded unless something else holds it.
func PutNewFile(ctx context.Context, st storage.Store, w storage.FileWrite, ref storage.BlobRef, reuse bool) (storage.File, bool, error) {
	name, err := storage.NormalizeFileName(w.Name)
	if err != nil {
		name = "attachment"
	}
	w.NoReplace = true
	if w.Modified.IsZero() {
		w.Modified = time.Now()
	}
	for i := 1; i <= maxFreeNameTries; i++ {
		n := storage.SuffixedFileName(name, i)
		f, err := st.File(ctx, w.Mailbox, n)
		switch {
		case err == nil && reuse && f.Content == ref.ID:
			discard(ctx, st, ref.ID) // spared: the file holds it
			return f, false, nil
		case err == nil:
			continue
		case !errors.Is(err, storage.ErrNotFound):
			discard(ctx, st, ref.ID)
			return storage.File{}, false, err
		}
		w.Name, w.Content = n, ref
		w.Message = storage.ComposeFileMessage(n, w.ContentType, ref, w.Modified)
		f, created, err := st.PutFile(ctx, w)
		if errors.Is(err, storage.ErrExists) {
			continue // taken meanwhile
		}
		if err != nil {
			discard(ctx, st, ref.ID)
			return storage.File{}, false, err
		}
		return f, created, nil
	}
	discard(ctx, st, ref.ID)
	return storage.File{}, false, fmt.Errorf("no free name for %q in %d tries: %w", name, maxFreeNameTries, storage.ErrExists)
}

// maxFreeNameTries bounds the suffixes PutNewFile tries.
const maxFreeNameTries = 1000

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
		mb, err := targetMailbox(ctx, st, t)
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
			spec = &storage.FileSpec{Name: AttachmentName(part), Content: ref,
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

// AttachmentName is the file name of an attachment part: its
// Content-Disposition filename or Content-Type name parameter (RFC 2231
// and encoded words decoded), without any directory, normalized
// (storage.NormalizeFileName); "attachment" when it has none that is a
// valid file name.
func AttachmentName(p *storage.Part) string {
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
