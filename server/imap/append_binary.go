package imap

import (
	"bytes"
	"io"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// encodeBinaryParts stores, in place of the blob ref of a message APPENDed
// with a binary literal (RFC 3516 4.3), the message with its NUL-holding
// parts base64-encoded (mimeparse.EncodeBinaryParts): no FETCH BODY[] may
// send a NUL (RFC 9051 4.3), and converting once keeps BODY[],
// BODYSTRUCTURE and RFC822.SIZE consistent. BINARY[] decodes it again.
// A message without NUL keeps its blob.
func (s *session) encodeBinaryParts(ref storage.BlobRef) (storage.BlobRef, error) {
	b, err := s.store.OpenBlob(s.ctx, ref.ID)
	if err != nil {
		return ref, s.storageError(err)
	}
	raw, err := io.ReadAll(io.NewSectionReader(b, 0, ref.Size))
	b.Close()
	if err != nil {
		return ref, s.storageError(err)
	}
	out, changed, err := mimeparse.EncodeBinaryParts(raw)
	if err != nil {
		return ref, s.storageError(err)
	}
	if !changed {
		return ref, nil
	}
	nref, err := s.store.PutBlob(s.ctx, bytes.NewReader(out))
	if err != nil {
		return ref, s.storageError(err)
	}
	if err := s.store.DiscardBlob(s.ctx, ref.ID); err != nil {
		s.log.Warn("cannot discard the binary original of an APPEND", "err", err)
	}
	return nref, nil
}
