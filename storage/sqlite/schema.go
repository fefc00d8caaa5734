package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// A migration moves the schema from version-1 to version. Migrations are
// applied in order, each in the same BEGIN IMMEDIATE transaction as the
// update of the migrations table, so that two processes opening the same
// database concurrently apply each exactly once.
type migration struct {
	version int
	name    string
	apply   func(tx *sql.Tx, fts5 bool) error
}

var migrations = []migration{
	{1, "initial schema", migrateInitial},
	{2, "metadata (RFC 5464)", migrateMetadata},
	{3, "outbound queue", migrateQueue},
	{4, "substring full-text index (FTS5 trigram)", migrateFTSTrigram},
	{5, "subscriptions that outlive their mailbox", migrateLostSubscriptions},
	{6, "files: composites, files, folder properties", migrateFiles},
	{7, "rules, responder state, quarantine", migrateRules},
	{8, "sharing: ACLs, groups, public folders, subscriptions, per-viewer \\Seen, send-as", migrateSharing},
	{9, "client activations and app passwords", migrateClients},
	{10, "groupware items", migrateItems},
	{11, "download links (SmartAttach)", migrateLinks},
	{12, "account display names, directory version", migrateAccountNames},
	{13, "item payloads in the index", migrateItemData},
	{14, "quota counts a file's size, not its message's", migrateCharge},
	{15, "rules version", migrateRulesVersion},
}

const schemaV1 = `
CREATE TABLE domains (
	name      TEXT PRIMARY KEY,
	catch_all TEXT NOT NULL DEFAULT '',
	source    TEXT NOT NULL DEFAULT 'db',
	created   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
	id             INTEGER PRIMARY KEY,
	address        TEXT NOT NULL UNIQUE,
	domain         TEXT NOT NULL REFERENCES domains(name),
	password_hash  TEXT NOT NULL DEFAULT '',
	quota_bytes    INTEGER NOT NULL DEFAULT 0,
	quota_messages INTEGER NOT NULL DEFAULT 0,
	disabled       INTEGER NOT NULL DEFAULT 0,
	source         TEXT NOT NULL DEFAULT 'db',
	created        INTEGER NOT NULL,
	-- usage counters, updated in the transactions that change messages
	used_bytes     INTEGER NOT NULL DEFAULT 0,
	used_messages  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX accounts_domain ON accounts(domain);

CREATE TABLE aliases (
	address TEXT PRIMARY KEY,
	target  TEXT NOT NULL,
	source  TEXT NOT NULL DEFAULT 'db'
) WITHOUT ROWID;
CREATE INDEX aliases_target ON aliases(target);

CREATE TABLE mailboxes (
	id             INTEGER PRIMARY KEY,
	account        INTEGER NOT NULL REFERENCES accounts(id),
	name           TEXT NOT NULL,
	special_use    TEXT NOT NULL DEFAULT '',
	uidvalidity    INTEGER NOT NULL,
	uidnext        INTEGER NOT NULL DEFAULT 1,
	highest_modseq INTEGER NOT NULL DEFAULT 1,
	subscribed     INTEGER NOT NULL DEFAULT 0,
	UNIQUE (account, name)
);

-- One row per distinct content (blob file). Everything parsed from the
-- content lives here, once, however many messages reference it.
CREATE TABLE blobs (
	id               INTEGER PRIMARY KEY, -- also the rowid of the fts row
	hash             TEXT NOT NULL UNIQUE, -- storage.BlobID
	size             INTEGER NOT NULL,
	refs             INTEGER NOT NULL,     -- number of messages rows
	envelope         TEXT NOT NULL,        -- JSON storage.Envelope
	structure        TEXT NOT NULL,        -- JSON storage.Part
	header           BLOB,
	header_truncated INTEGER NOT NULL DEFAULT 0,
	refs_ids         TEXT NOT NULL DEFAULT '', -- JSON []string (References)
	base_subject     TEXT NOT NULL DEFAULT '', -- RFC 5256 base subject
	-- denormalised SEARCH/SORT/THREAD keys
	sent_date        INTEGER NOT NULL DEFAULT 0,  -- Date header, unix seconds (0: none)
	sent_tz          INTEGER NOT NULL DEFAULT 0,
	subject          TEXT NOT NULL DEFAULT '',
	from_mailbox     TEXT NOT NULL DEFAULT '', -- first From addr-mailbox, lowercase (SORT FROM)
	from_display     TEXT NOT NULL DEFAULT '', -- display name or address, lowercase (SORT DISPLAYFROM)
	to_mailbox       TEXT NOT NULL DEFAULT '',
	to_display       TEXT NOT NULL DEFAULT '',
	cc_mailbox       TEXT NOT NULL DEFAULT '',
	message_id       TEXT NOT NULL DEFAULT '',
	in_reply_to      TEXT NOT NULL DEFAULT '',
	has_attachment   INTEGER NOT NULL DEFAULT 0,
	attachment_names TEXT NOT NULL DEFAULT ''  -- JSON []string
);
CREATE INDEX blobs_message_id ON blobs(message_id) WHERE message_id != '';

CREATE TABLE messages (
	id            INTEGER PRIMARY KEY,
	mailbox       INTEGER NOT NULL REFERENCES mailboxes(id),
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	sysflags      INTEGER NOT NULL DEFAULT 0, -- bit mask, see flags.go
	keywords      TEXT NOT NULL DEFAULT '',   -- JSON []string, '' when none
	internal_date INTEGER NOT NULL,           -- unix seconds
	internal_tz   INTEGER NOT NULL DEFAULT 0, -- zone offset in seconds
	size          INTEGER NOT NULL,
	blob          INTEGER NOT NULL REFERENCES blobs(id),
	UNIQUE (mailbox, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox, modseq);
CREATE INDEX messages_blob ON messages(blob);

-- Expunged UIDs with the modseq of their expunge (QRESYNC VANISHED).
CREATE TABLE expunged (
	mailbox INTEGER NOT NULL,
	uid     INTEGER NOT NULL,
	modseq  INTEGER NOT NULL,
	PRIMARY KEY (mailbox, uid)
) WITHOUT ROWID;

CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
`

// ftsColumns are the columns of the full-text index, in order.
var ftsColumns = []string{"subject", "addr_from", "addr_to", "addr_cc", "addr_bcc", "header", "body"}

func ftsCreate(fts5 bool) string {
	cols := strings.Join(ftsColumns, ", ")
	if fts5 {
		return "CREATE VIRTUAL TABLE fts USING fts5(" + cols + ", tokenize = 'unicode61 remove_diacritics 2')"
	}
	return "CREATE VIRTUAL TABLE fts USING fts4(" + cols + `, tokenize=unicode61 "remove_diacritics=2")`
}

// ftsTrigramCreate is the FTS5 index since migration 4: the trigram
// tokenizer answers case- and diacritic-insensitive substring queries
// (IMAP SEARCH TEXT/BODY, RFC 9051 6.4.4) from the index.
func ftsTrigramCreate(table string) string {
	return "CREATE VIRTUAL TABLE " + table + " USING fts5(" + strings.Join(ftsColumns, ", ") +
		", tokenize = 'trigram case_sensitive 0 remove_diacritics 1')"
}

// migrateFTSTrigram rebuilds an FTS5 index with the trigram tokenizer,
// copying the indexed text (an FTS4 index, for a binary without FTS5, is
// kept: SearchText scans it).
func migrateFTSTrigram(tx *sql.Tx, _ bool) error {
	var ftsSQL string
	if err := tx.QueryRow("SELECT sql FROM sqlite_master WHERE name = 'fts'").Scan(&ftsSQL); err != nil {
		return err
	}
	low := strings.ToLower(ftsSQL)
	if !strings.Contains(low, "using fts5") || strings.Contains(low, "trigram") {
		return nil
	}
	cols := strings.Join(ftsColumns, ", ")
	for _, q := range []string{
		ftsTrigramCreate("fts_trigram"),
		"INSERT INTO fts_trigram(rowid, " + cols + ") SELECT rowid, " + cols + " FROM fts",
		"DROP TABLE fts",
		"ALTER TABLE fts_trigram RENAME TO fts",
	} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	return nil
}

func migrateInitial(tx *sql.Tx, fts5 bool) error {
	if _, err := tx.Exec(schemaV1); err != nil {
		return err
	}
	_, err := tx.Exec(ftsCreate(fts5))
	return err
}

func (s *Store) migrate(ctx context.Context, haveFTS5 bool) error {
	// The writer connection opens transactions with BEGIN IMMEDIATE.
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("migrate: begin", err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS migrations (
		version INTEGER PRIMARY KEY,
		name    TEXT NOT NULL,
		applied INTEGER NOT NULL)`); err != nil {
		return dbErr("migrate", err)
	}
	var cur int
	if err := tx.QueryRow("SELECT coalesce(max(version), 0) FROM migrations").Scan(&cur); err != nil {
		return dbErr("migrate", err)
	}
	if cur > migrations[len(migrations)-1].version {
		return fmt.Errorf("sqlite: database schema version %d is newer than this floe (%d)", cur, migrations[len(migrations)-1].version)
	}
	// Every migration not recorded is applied, in order (normally those
	// above cur; also one whose row is missing below it).
	applied := map[int]bool{}
	rows, err := tx.Query("SELECT version FROM migrations")
	if err != nil {
		return dbErr("migrate", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return dbErr("migrate", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbErr("migrate", err)
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		if err := m.apply(tx, haveFTS5); err != nil {
			return dbErr(fmt.Sprintf("migration %d (%s)", m.version, m.name), err)
		}
		if _, err := tx.Exec("INSERT INTO migrations(version, name, applied) VALUES (?, ?, ?)", m.version, m.name, time.Now().Unix()); err != nil {
			return dbErr("migrate", err)
		}
		s.log.Info("applied schema migration", "version", m.version, "name", m.name)
	}
	var ftsSQL string
	if err := tx.QueryRow("SELECT sql FROM sqlite_master WHERE name = 'fts'").Scan(&ftsSQL); err != nil {
		return dbErr("migrate: fts", err)
	}
	s.fts5 = strings.Contains(strings.ToLower(ftsSQL), "using fts5")
	s.trigram = s.fts5 && strings.Contains(strings.ToLower(ftsSQL), "trigram")
	if s.fts5 && !haveFTS5 {
		return fmt.Errorf("sqlite: the database's full-text index needs FTS5: build floe with -tags sqlite_fts5")
	}
	if err := tx.Commit(); err != nil {
		return dbErr("migrate: commit", err)
	}
	return nil
}
