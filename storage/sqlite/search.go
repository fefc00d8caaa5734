package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

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

// maxSearchText bounds the length in bytes of a full-text query.
const maxSearchText = 1024

// ftsPhrase quotes query as one FTS5 string: with the trigram tokenizer a
// string matches where the text contains it as a substring (its trigrams
// in a row), case- and diacritic-insensitively. Inside double quotes
// nothing is FTS syntax; a double quote is written twice.
func ftsPhrase(query string) string {
	return `"` + strings.ReplaceAll(query, `"`, `""`) + `"`
}

// SearchText returns, in order, the UIDs of messages of mbox whose indexed
// text contains query as a substring, ignoring case (RFC 9051 6.4.4: "TEXT
// string", "BODY string"). field is "" (headers and body), "body",
// "subject", "from", "to", "cc", "bcc" or "header". An empty query matches
// every message.
//
// With the FTS5 trigram index (migration 4) a query of three characters or
// more is answered from the index and also ignores diacritics ("cafe"
// finds "café"). Shorter queries, and databases with an FTS4 index (a
// binary built without FTS5), scan the indexed text of the mailbox.
func (s *Store) SearchText(ctx context.Context, mbox storage.MailboxID, field, query string) ([]storage.UID, error) {
	col, ok := ftsField[strings.ToLower(field)]
	if !ok {
		return nil, fmt.Errorf("search field %q: %w", field, storage.ErrInvalid)
	}
	if len(query) > maxSearchText {
		return nil, fmt.Errorf("search: text longer than %d bytes: %w", maxSearchText, storage.ErrInvalid)
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("search", err)
	}
	defer tx.Rollback()
	if err := mailboxExists(tx, mbox); err != nil {
		return nil, err
	}
	switch {
	case query == "":
		return queryUIDs(ctx, tx, "SELECT uid FROM messages WHERE mailbox = ? ORDER BY uid", mbox)
	case s.trigram && utf8.RuneCountInString(query) >= 3 && !strings.ContainsRune(query, 0):
		// (FTS5 reads its query as a C string: one with NUL is scanned.)
		// A column on the left of MATCH restricts the match to it; col
		// comes from the ftsField whitelist.
		lhs := "fts"
		if col != "" {
			lhs = col
		}
		return queryUIDs(ctx, tx, `SELECT uid FROM messages WHERE mailbox = ?
			AND blob IN (SELECT rowid FROM fts WHERE `+lhs+` MATCH ?) ORDER BY uid`, mbox, ftsPhrase(query))
	}
	return s.scanText(ctx, tx, mbox, col, query)
}

// foldText lower-cases s and removes diacritics (the combining marks of its
// canonical decomposition), as the trigram index compares text.
func foldText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, norm.NFD.String(strings.ToLower(s)))
}

// scanText is SearchText without the index: it reads the indexed text of
// every message of mbox and keeps those containing query (folded by
// foldText).
func (s *Store) scanText(ctx context.Context, tx *sql.Tx, mbox storage.MailboxID, col, query string) ([]storage.UID, error) {
	cols := ftsColumns
	if col != "" {
		cols = []string{col}
	}
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = "coalesce(f." + c + ", '')"
	}
	rows, err := tx.QueryContext(ctx, `SELECT m.uid, `+strings.Join(sel, ", ")+`
		FROM messages m JOIN fts f ON f.rowid = m.blob WHERE m.mailbox = ? ORDER BY m.uid`, mbox)
	if err != nil {
		return nil, dbErr("search", err)
	}
	defer rows.Close()
	needle := foldText(query)
	vals := make([]string, len(cols))
	dest := make([]any, len(cols)+1)
	var uid storage.UID
	dest[0] = &uid
	for i := range vals {
		dest[i+1] = &vals[i]
	}
	var out []storage.UID
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, dbErr("search", err)
		}
		for _, v := range vals {
			if strings.Contains(foldText(v), needle) {
				out = append(out, uid)
				break
			}
		}
	}
	return out, dbErr("search", rows.Err())
}

// queryUIDs runs a query returning one UID per row.
func queryUIDs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]storage.UID, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
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
