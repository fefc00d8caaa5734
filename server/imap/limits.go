package imap

import (
	"context"
	"strconv"
	"strings"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/connsrv"
	"github.com/floemail/floe/storage"
)

// admitLogin asks the connection registry to count this connection as p's
// from its address; over [imap] max_connections_per_user_ip the login is
// refused with NO [LIMIT] (RFC 5530 3: "the operation ran up against an
// implementation limit ... such as the number of simultaneous
// connections") and the session stays not authenticated.
func (s *session) admitLogin(p *auth.Principal) error {
	if connsrv.LoggedIn(s.raw, p.Address) {
		return nil
	}
	s.log.Warn("login refused: too many connections for this account from this address",
		"user", p.Address, "limit", s.srv.config().IMAP.MaxConnectionsPerUserIP)
	return errNo("LIMIT", "too many connections for this account from your address")
}

// Per-account growth limits ([limits] in the config): each refusal is a
// tagged NO with a response code that says why (RFC 5530 LIMIT, RFC 5464
// METADATA TOOMANY), logged at info level (a client's doing, not a fault).

// maxKeywordLen is the longest keyword the store keeps (storage/sqlite
// refuses longer ones with ErrInvalid).
const maxKeywordLen = 250

// checkKeywordLengths refuses a keyword longer than the store keeps, saying
// so (instead of the generic NO [CANNOT] of storage.ErrInvalid).
func checkKeywordLengths(flags []string) error {
	for _, f := range flags {
		if len(f) > maxKeywordLen && !strings.HasPrefix(f, `\`) {
			return errNo("LIMIT", "keyword too long: at most "+strconv.Itoa(maxKeywordLen)+" bytes")
		}
	}
	return nil
}

// checkKeywordCount refuses a STORE that would bring the keywords in use in
// the selected mailbox above [limits] max_keywords_per_mailbox (each new
// keyword makes every later STORE and FLAGS response larger).
func (s *session) checkKeywordCount(flags []string) error {
	v := s.sel
	if v == nil {
		return nil
	}
	limit := s.srv.config().Limits.MaxKeywordsPerMailbox
	if limit <= 0 {
		return nil
	}
	n := len(v.keywords)
	seen := map[string]bool{}
	for _, f := range flags {
		k := strings.ToLower(f)
		if strings.HasPrefix(f, `\`) || seen[k] {
			continue
		}
		seen[k] = true
		if _, ok := v.keywords[k]; !ok {
			n++
		}
	}
	if n > limit {
		s.log.Info("STORE refused: too many keywords in the mailbox", "limit", limit)
		return errNo("LIMIT", "too many keywords in this mailbox (at most "+strconv.Itoa(limit)+")")
	}
	return nil
}

// checkMailboxCount refuses a CREATE beyond [limits]
// max_mailboxes_per_account.
func (s *session) checkMailboxCount() error {
	limit := s.srv.config().Limits.MaxMailboxesPerAccount
	if limit <= 0 {
		return nil
	}
	boxes, err := s.store.Mailboxes(s.ctx, s.user.Account)
	if err != nil {
		return s.storageError(err)
	}
	if len(boxes) >= limit {
		s.log.Info("CREATE refused: too many mailboxes", "limit", limit)
		return errNo("LIMIT", "too many mailboxes (at most "+strconv.Itoa(limit)+")")
	}
	return nil
}

// metadataSizer is implemented by stores that can tell the total size of
// an account's METADATA entries (storage/sqlite).
type metadataSizer interface {
	MetadataSize(ctx context.Context, acct storage.AccountID) (int64, error)
}

// checkMetadataTotal refuses a SETMETADATA that would bring the account's
// entries (names and values) above [limits] max_metadata_per_account.
// Deletions (nil values) and replacements are counted as if the entries
// were added, which errs on the side of the limit by at most this command.
func (s *session) checkMetadataTotal(entries []storage.MetadataEntry) error {
	limit := int64(s.srv.config().Limits.MaxMetadataPerAccount)
	ms, ok := s.store.(metadataSizer)
	if limit <= 0 || !ok {
		return nil
	}
	var add int64
	for _, e := range entries {
		if e.Value != nil {
			add += int64(len(e.Name) + len(e.Value))
		}
	}
	if add == 0 {
		return nil
	}
	cur, err := ms.MetadataSize(s.ctx, s.user.Account)
	if err != nil {
		return s.storageError(err)
	}
	if cur+add > limit {
		s.log.Info("SETMETADATA refused: account metadata limit", "limit", limit, "size", cur)
		return errNo("METADATA TOOMANY", "metadata of this account would exceed "+strconv.FormatInt(limit, 10)+" bytes")
	}
	return nil
}

// appendQuotaCheck returns the check APPEND runs on its literal's size
// before the "+" continuation of a synchronising literal (decoder.litCheck):
// a message that cannot fit in the quota of the destination mailbox's
// account is refused with NO [OVERQUOTA] (RFC 9208 5.1) before the client
// uploads it. Non-synchronising literals come anyway; the same answer then
// follows their upload. The quota is checked again when the message is
// stored (other deliveries may come in between).
func (s *session) appendQuotaCheck(mb storage.Mailbox) func(n int64) error {
	return func(n int64) error {
		a, err := s.store.AccountByID(s.ctx, mb.Account)
		if err != nil || (a.QuotaBytes <= 0 && a.QuotaMessages <= 0) {
			return nil // the store decides
		}
		u, err := s.store.Usage(s.ctx, a.ID)
		if err != nil {
			return nil
		}
		if (a.QuotaBytes > 0 && u.Bytes+n > a.QuotaBytes) || (a.QuotaMessages > 0 && u.Messages+1 > a.QuotaMessages) {
			return errNo("OVERQUOTA", "the message does not fit in the quota")
		}
		return nil
	}
}
