package imap

import (
	"bytes"
	"io"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/mimeparse"
)

// encodeBinaryParts replaces the spooled blob ref of a message APPENDed with
// a binary literal (RFC 3516 4.3) by the message with its NUL-holding parts
// base64-encoded (mimeparse.EncodeBinaryParts): no FETCH BODY[] may send a
// NUL (RFC 9051 4.3), and converting once keeps BODY[], BODYSTRUCTURE and
// RFC822.SIZE consistent; BINARY[] decodes it again. A message without NUL
// keeps its blob. The blob it does not return is discarded.
func (s *session) encodeBinaryParts(ref storage.BlobRef) (storage.BlobRef, error) {
	b, err := s.store.OpenBlob(s.ctx, ref.ID)
	if err != nil {
		ingest.Discard(s.ctx, s.store, ref.ID)
		return ref, s.storageError(err)
	}
	raw, err := io.ReadAll(io.NewSectionReader(b, 0, ref.Size))
	b.Close()
	var out []byte
	changed := false
	if err == nil {
		out, changed, err = mimeparse.EncodeBinaryParts(raw)
	}
	if err != nil {
		ingest.Discard(s.ctx, s.store, ref.ID)
		return ref, s.storageError(err)
	}
	if !changed {
		return ref, nil
	}
	nref, err := ingest.Spool(s.ctx, s.store, bytes.NewReader(out))
	ingest.Discard(s.ctx, s.store, ref.ID)
	if err != nil {
		return nref, s.storageError(err)
	}
	return nref, nil
}
