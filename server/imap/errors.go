package imap

import (
	"errors"
	"log/slog"

	"github.com/floemail/floe/storage"
)

// respError is an error a command handler returns to make the command loop
// answer with a tagged NO or BAD. The text is sent to the client, so it must
// never carry internal error text.
type respError struct {
	kind, code, text string
	// close makes the loop close the connection after the tagged response
	// (e.g. a non-synchronising literal over the limit, RFC 7888 4).
	close bool
}

func (e *respError) Error() string {
	if e.code != "" {
		return e.kind + " [" + e.code + "] " + e.text
	}
	return e.kind + " " + e.text
}

// errNo returns a tagged NO with an optional response code (without brackets).
func errNo(code, text string) error { return &respError{kind: "NO", code: code, text: text} }

// errBad returns a tagged BAD (RFC 9051 7.1: protocol-level error).
func errBad(text string) error { return &respError{kind: "BAD", text: text} }

// errBadCode returns a tagged BAD with a response code.
func errBadCode(code, text string) error { return &respError{kind: "BAD", code: code, text: text} }

// errServer is the error handlers return for unexpected failures; it has
// been logged already.
var errInternal = &respError{kind: "NO", code: "SERVERBUG", text: "internal error"}

// storageError translates a storage sentinel error into a tagged NO with a
// response code (RFC 5530). Unknown errors are logged and become
// NO [SERVERBUG]; their text never reaches the client.
func (s *session) storageError(err error) error {
	var re *respError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return re
	case errors.Is(err, storage.ErrNoMailbox):
		return errNo("NONEXISTENT", "no such mailbox")
	case errors.Is(err, storage.ErrExists):
		return errNo("ALREADYEXISTS", "mailbox already exists")
	case errors.Is(err, storage.ErrOverQuota):
		return errNo("OVERQUOTA", "quota exceeded")
	case errors.Is(err, storage.ErrPermission), errors.Is(err, storage.ErrConfigOwned):
		return errNo("NOPERM", "permission denied")
	case errors.Is(err, storage.ErrInvalid):
		return errNo("CANNOT", "operation not permitted")
	case errors.Is(err, storage.ErrStorageFull):
		return errNo("LIMIT", "storage full, try again later")
	case errors.Is(err, storage.ErrNoMessage):
		return errNo("", "no such message")
	case errors.Is(err, storage.ErrNotEmpty):
		return errNo("CANNOT", "not empty")
	case errors.Is(err, storage.ErrNoAccount), errors.Is(err, storage.ErrNotFound):
		return errNo("NONEXISTENT", "not found")
	case errors.Is(err, storage.ErrClosed):
		return errNo("UNAVAILABLE", "server shutting down")
	}
	if s.ctx.Err() == nil {
		s.log.Error("storage error", slog.Any("error", err))
	}
	return errInternal
}
