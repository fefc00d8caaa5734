// Package sqlite is Floe's embedded storage backend: metadata in one SQLite
// database (<dir>/floe.db, WAL mode, synchronous=FULL) and message bodies in
// a content-addressed blob store (<dir>/blobs, package storage/blob). It is
// the only importer of github.com/mattn/go-sqlite3.
//
// Concurrency: reads use a pool of connections; every write goes through one
// writer goroutine owning one connection. The writer takes all waiting
// requests (up to Options.MaxBatch), runs each inside its own SAVEPOINT of one
// BEGIN IMMEDIATE transaction, commits once (one fsync for the whole batch:
// group commit), then publishes the committed changes in commit order and
// wakes the callers. Commit order is therefore publish order.
//
// Crash safety: a blob is written, fsynced and its directory entry made
// durable (storage/blob) before the transaction referencing it commits, and
// callers are answered after the commit. A kill -9 at any moment leaves a
// consistent database and at worst unreferenced blob files (orphans), which
// Orphans/RemoveOrphans report and remove.
//
// Other processes (the floe CLI) may write the same database while a server
// runs: writers use BEGIN IMMEDIATE and every connection a busy timeout.
//
// Full-text search uses FTS5 when the binary is built with -tags sqlite_fts5
// and falls back to FTS4 (same tokenizer and columns) otherwise. The index is
// keyed by blob (content), not by message: a message delivered to 100
// mailboxes, or copied, is indexed once.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/blob"
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Logger receives warnings and informational messages; nil discards.
	Logger *slog.Logger
	// MaxBlobSize is the largest blob PutBlob accepts (0: unlimited).
	MaxBlobSize int64
	// BusyTimeout is how long a connection waits for a lock held by another
	// process (default 10s).
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool (default 2*GOMAXPROCS, min 4).
	ReadConns int
	// MaxBatch bounds how many write requests share one transaction
	// (default 256).
	MaxBatch int
	// DisableFTS5 forces the FTS4 fallback even when FTS5 is compiled in
	// (for tests of the fallback).
	DisableFTS5 bool
	// MaintenanceInterval is how often the store removes orphan blobs
	// (older than OrphanAge) and restores its disk-full reserve
	// (reserve.go); 0 means every 10 minutes, negative never.
	MaintenanceInterval time.Duration
}

// Store is the SQLite storage backend. It implements storage.Store and the
// optional storage.Checker and storage.OrphanRemover.
type Store struct {
	dir   string
	log   *slog.Logger
	blobs *blob.Store
	wdb   *sql.DB // one connection, used only by the writer goroutine
	rdb   *sql.DB // read pool
	fts5  bool    // the index is an FTS5 table (else FTS4)
	// trigram: the FTS5 index uses the trigram tokenizer (substring
	// queries from the index; migration 4).
	trigram bool
	// readDSN opens a read-only connection (Check uses a fresh one).
	readDSN string

	maxBatch int
	ops      chan *op
	closeMu  sync.RWMutex
	closed   bool
	quit     chan struct{}
	done     chan struct{}

	hub hub

	// stmts are the writer's prepared statements (writer goroutine only).
	stmts *stmtCache
}

var (
	_ storage.Store         = (*Store)(nil)
	_ storage.Checker       = (*Store)(nil)
	_ storage.OrphanRemover = (*Store)(nil)
)

// Open opens (creating if needed) the store in dir: <dir>/floe.db and
// <dir>/blobs/. It applies pending schema migrations.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
	}
	bs, err := blob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	bs.SetMaxSize(opts.MaxBlobSize)

	dbPath := filepath.Join(dir, DatabaseFile)
	dsn := func(txlock string, queryOnly bool) string {
		q := url.Values{}
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_foreign_keys", "on")
		q.Set("_busy_timeout", fmt.Sprint(opts.BusyTimeout.Milliseconds()))
		q.Set("_txlock", txlock)
		if queryOnly {
			q.Set("_query_only", "on")
		}
		return "file:" + (&url.URL{Path: dbPath}).EscapedPath() + "?" + q.Encode()
	}
	wdb, err := sql.Open("sqlite3", dsn("immediate", false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	s := &Store{
		dir:      dir,
		log:      opts.Logger,
		blobs:    bs,
		wdb:      wdb,
		maxBatch: opts.MaxBatch,
		ops:      make(chan *op, 4*opts.MaxBatch),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		stmts:    newStmtCache(wdb),
	}
	s.hub.init()

	haveFTS5 := false
	if !opts.DisableFTS5 {
		haveFTS5, err = compiledWith(ctx, wdb, "ENABLE_FTS5")
		if err != nil {
			wdb.Close()
			return nil, err
		}
	}
	if err := s.migrate(ctx, haveFTS5); err != nil {
		wdb.Close()
		return nil, err
	}
	if !s.fts5 {
		s.log.Warn("SQLite FTS5 is not available: full-text search uses FTS4 (slower, larger); build floe with -tags sqlite_fts5")
	}

	s.readDSN = dsn("deferred", true)
	rdb, err := sql.Open("sqlite3", s.readDSN)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	rdb.SetMaxOpenConns(opts.ReadConns)
	rdb.SetMaxIdleConns(opts.ReadConns)
	rdb.SetConnMaxIdleTime(0)
	s.rdb = rdb

	go s.writer()
	if !s.ensureReserve() { // reserve.go
		s.log.Warn("disk full: no room for the reserve that keeps deletions possible", "dir", dir)
	}
	if opts.MaintenanceInterval >= 0 {
		if opts.MaintenanceInterval == 0 {
			opts.MaintenanceInterval = 10 * time.Minute
		}
		go s.maintain(opts.MaintenanceInterval, OrphanAge)
	}
	return s, nil
}

// DatabaseFile is the name of the database in the store's directory.
const DatabaseFile = "floe.db"

// OrphanAge is how old an unreferenced blob file must be before the
// maintenance loop removes it (storage.OrphanAge).
const OrphanAge = storage.OrphanAge

func compiledWith(ctx context.Context, db *sql.DB, opt string) (bool, error) {
	rows, err := db.QueryContext(ctx, "PRAGMA compile_options")
	if err != nil {
		return false, dbErr("compile options", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return false, dbErr("compile options", err)
		}
		if strings.EqualFold(o, opt) {
			return true, nil
		}
	}
	return false, dbErr("compile options", rows.Err())
}

// FTS5 reports whether the full-text index is an FTS5 table (else FTS4).
func (s *Store) FTS5() bool { return s.fts5 }

// Blobs returns the blob store (for backup and check tooling).
func (s *Store) Blobs() *blob.Store { return s.blobs }

// Close stops accepting writes, lets the writer finish what was queued, and
// closes the databases. Subscriptions stay valid but receive nothing more.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	s.closeMu.Unlock()
	<-s.done
	err1 := s.rdb.Close()
	// Checkpoint so that the WAL does not have to be replayed at next open.
	_, _ = s.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	err2 := s.wdb.Close()
	return errors.Join(err1, err2)
}

// dbErr wraps a database error for the error chain, adding the storage
// sentinel it corresponds to. The SQLite text stays in the chain for logs;
// protocol layers only look at the sentinels.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, sql.ErrConnDone) || err.Error() == "sql: database is closed" {
		return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrClosed, err)
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrFull:
			return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrStorageFull, err)
		case sqlite3.ErrConstraint:
			switch se.ExtendedCode {
			case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
				return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrExists, err)
			}
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, storage.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// scanner is a row to scan: *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanAll reads every row of a query's result with scan and closes it;
// qerr is the query's error. Errors are dbErr(op, ...).
func scanAll[T any](op string, rows *sql.Rows, qerr error, scan func(scanner) (T, error)) ([]T, error) {
	if qerr != nil {
		return nil, dbErr(op, qerr)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, x)
	}
	return out, dbErr(op, rows.Err())
}

// unixTime converts a stored (seconds, zone offset) pair to a time.
func unixTime(sec int64, tz int64) time.Time {
	if sec == 0 && tz == 0 {
		return time.Time{}
	}
	t := time.Unix(sec, 0)
	if tz == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(tz)))
}

func zoneOffset(t time.Time) int64 {
	_, off := t.Zone()
	return int64(off)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
