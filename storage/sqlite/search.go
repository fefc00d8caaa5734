package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode"

	"github.com/floemail/floe/storage"
)

// ftsField maps SearchText's field names to index columns ("" = all).
var ftsField = map[string]string{
	"":        "",
	"body":    "body",
	"subject": "subject",
	"from":    "addr_from",
	"to":      "addr_to",
	"cc":      "addr_cc",
	"bcc":     "addr_bcc",
	"header":  "header",
}

// maxSearchWords bounds the size of a full-text query.
const maxSearchWords = 32

// ftsTokens splits s the way the unicode61 tokenizer does: runs of letters,
// digits and combining marks; everything else separates tokens.
func ftsTokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r))
	})
}

// ftsQuery builds a MATCH expression requiring every whitespace-separated
// word of query. A word becomes a phrase of its tokens with the last token a
// prefix, so "foo" matches "foobar" and "john.doe" matches "john.doe@x".
// The phrases contain only letters, digits and marks inside double quotes,
// so user input can never be read as FTS syntax. It returns "" when query
// has no tokens.
//
// Semantics: IMAP SEARCH asks for substring matching; this is token-prefix
// matching (case- and diacritic-insensitive), so a search for "bar" does not
// find "foobar". Callers wanting exact IMAP substring semantics can filter
// the (smaller) result further.
func ftsQuery(query string, fts5 bool) (string, error) {
	words := strings.Fields(query)
	if len(words) > maxSearchWords {
		return "", fmt.Errorf("search: more than %d words: %w", maxSearchWords, storage.ErrInvalid)
	}
	var terms []string
	for _, w := range words {
		toks := ftsTokens(w)
		if len(toks) == 0 {
			continue
		}
		phrase := strings.Join(toks, " ")
		if fts5 {
			terms = append(terms, `"`+phrase+`" *`)
		} else {
			terms = append(terms, `"`+phrase+`*"`)
		}
	}
	if fts5 {
		return strings.Join(terms, " AND "), nil
	}
	return strings.Join(terms, " "), nil
}

// SearchText returns, in order, the UIDs of messages of mbox whose indexed
// text matches every word of query (see ftsQuery for the matching rules).
// field is "" (headers and body), "body", "subject", "from", "to", "cc",
// "bcc" or "header". A query without any letter or digit matches every
// message.
func (s *Store) SearchText(ctx context.Context, mbox storage.MailboxID, field, query string) ([]storage.UID, error) {
	col, ok := ftsField[strings.ToLower(field)]
	if !ok {
		return nil, fmt.Errorf("search field %q: %w", field, storage.ErrInvalid)
	}
	expr, err := ftsQuery(query, s.fts5)
	if err != nil {
		return nil, err
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("search", err)
	}
	defer tx.Rollback()
	if err := mailboxExists(tx, mbox); err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if expr == "" {
		rows, err = tx.QueryContext(ctx, "SELECT uid FROM messages WHERE mailbox = ? ORDER BY uid", mbox)
	} else {
		// A column on the left of MATCH restricts the match to it (FTS4
		// and FTS5 alike); col comes from the ftsField whitelist.
		lhs := "fts"
		if col != "" {
			lhs = col
		}
		rows, err = tx.QueryContext(ctx, `SELECT uid FROM messages WHERE mailbox = ?
			AND blob IN (SELECT rowid FROM fts WHERE `+lhs+` MATCH ?) ORDER BY uid`, mbox, expr)
	}
	if err != nil {
		return nil, dbErr("search", err)
	}
	defer rows.Close()
	var out []storage.UID
	for rows.Next() {
		var u storage.UID
		if err := rows.Scan(&u); err != nil {
			return nil, dbErr("search", err)
		}
		out = append(out, u)
	}
	return out, dbErr("search", rows.Err())
}
