package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
)

// The outbound queue. An entry references its body by blob hash (the blob
// may have no blobs row at all: a message only sent out is never parsed or
// indexed). A blob file is kept while a blobs row or a queue entry refers
// to it: releaseBlob and DeleteQueueEntry delete the file only when the
// other side does not reference it, and Orphans counts queue references.
const schemaQueue = `
CREATE TABLE queue (
	id             INTEGER PRIMARY KEY,
	blob           TEXT NOT NULL,       -- storage.BlobID
	size           INTEGER NOT NULL,
	mail_from      TEXT NOT NULL,       -- '' is the null sender
	envid          TEXT NOT NULL DEFAULT '',
	ret            TEXT NOT NULL DEFAULT '',
	utf8           INTEGER NOT NULL DEFAULT 0,
	account        INTEGER NOT NULL DEFAULT 0, -- submitter (no foreign key: the entry outlives the account)
	created        INTEGER NOT NULL,    -- unix milliseconds
	attempts       INTEGER NOT NULL DEFAULT 0,
	next_attempt   INTEGER NOT NULL,    -- unix milliseconds
	last_error     TEXT NOT NULL DEFAULT '',
	delay_notified INTEGER NOT NULL DEFAULT 0,
	recipients     TEXT NOT NULL        -- JSON []queueRcpt
);
CREATE INDEX queue_next ON queue(next_attempt);
CREATE INDEX queue_blob ON queue(blob);
`

func migrateQueue(tx *sql.Tx, _ bool) error {
	_, err := tx.Exec(schemaQueue)
	return err
}

// queueRcpt is the stored form of a storage.QueueRecipient.
type queueRcpt struct {
	Address     string `json:"a"`
	ORcpt       string `json:"o,omitempty"`
	Notify      string `json:"n,omitempty"`
	Status      string `json:"s"`
	Error       string `json:"e,omitempty"`
	RemoteReply string `json:"r,omitempty"`
	RemoteMTA   string `json:"m,omitempty"`
}

func encodeRcpts(rs []storage.QueueRecipient) (string, error) {
	out := make([]queueRcpt, len(rs))
	for i, r := range rs {
		st := r.Status
		switch st {
		case "":
			st = storage.RcptPending
		case storage.RcptPending, storage.RcptDelivered, storage.RcptFailed:
		default:
			return "", fmt.Errorf("queue: recipient %q: status %q: %w", r.Address, r.Status, storage.ErrInvalid)
		}
		out[i] = queueRcpt{r.Address, r.ORcpt, r.Notify, st, r.Error, r.RemoteReply, r.RemoteMTA}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeRcpts(s string) ([]storage.QueueRecipient, error) {
	var in []queueRcpt
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("sqlite: queue recipients: %w", err)
	}
	out := make([]storage.QueueRecipient, len(in))
	for i, r := range in {
		out[i] = storage.QueueRecipient{Address: r.Address, ORcpt: r.ORcpt, Notify: r.Notify, Status: r.Status,
			Error: r.Error, RemoteReply: r.RemoteReply, RemoteMTA: r.RemoteMTA}
	}
	return out, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// Enqueue implements storage.Queue. The blob is made durable by the writer
// (shared fsync round) before the commit.
func (s *Store) Enqueue(ctx context.Context, e storage.QueueEntry) (storage.QueueID, error) {
	if len(e.Recipients) == 0 {
		return 0, fmt.Errorf("queue: no recipients: %w", storage.ErrInvalid)
	}
	rcpts, err := encodeRcpts(e.Recipients)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	if e.Created.IsZero() {
		e.Created = now
	}
	if e.NextAttempt.IsZero() {
		e.NextAttempt = now
	}
	var id storage.QueueID
	err = s.writeBlobs(ctx, "enqueue", []storage.BlobID{e.Blob}, func(w *wtx) error {
		// Blob files are deleted only by the writer, after commit, so the
		// file checked here stays until this transaction commits; o.created
		// keeps a deletion scheduled earlier in the same batch from
		// removing it.
		size, err := w.s.blobs.Stat(e.Blob)
		if err != nil {
			return fmt.Errorf("queue: blob %s is not stored: %w", e.Blob, err)
		}
		if e.Size == 0 {
			e.Size = size
		}
		if size != e.Size {
			return fmt.Errorf("queue: blob %s has %d bytes, not %d: %w", e.Blob, size, e.Size, storage.ErrInvalid)
		}
		err = w.queryRow(`INSERT INTO queue(blob, size, mail_from, envid, ret, utf8, account, created, attempts,
				next_attempt, last_error, delay_notified, recipients)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			string(e.Blob), e.Size, e.From, e.EnvID, e.Ret, boolInt(e.UTF8), int64(e.Account), ms(e.Created), e.Attempts,
			ms(e.NextAttempt), e.LastError, boolInt(e.DelayNotified), rcpts).Scan(&id)
		if err != nil {
			return dbErr("enqueue", err)
		}
		w.o.created = append(w.o.created, e.Blob)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

const queueCols = `id, blob, size, mail_from, envid, ret, utf8, account, created, attempts, next_attempt, last_error, delay_notified, recipients`

func scanQueue(r scanner) (storage.QueueEntry, error) {
	var e storage.QueueEntry
	var blob, rcpts string
	var utf8, dn int
	var created, next, acct int64
	if err := r.Scan(&e.ID, &blob, &e.Size, &e.From, &e.EnvID, &e.Ret, &utf8, &acct, &created, &e.Attempts, &next, &e.LastError, &dn, &rcpts); err != nil {
		return e, err
	}
	e.Blob, e.UTF8, e.Account, e.DelayNotified = storage.BlobID(blob), utf8 != 0, storage.AccountID(acct), dn != 0
	e.Created, e.NextAttempt = fromMS(created), fromMS(next)
	var err error
	e.Recipients, err = decodeRcpts(rcpts)
	return e, err
}

func (s *Store) queryQueue(ctx context.Context, op, where string, args ...any) ([]storage.QueueEntry, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+queueCols+" FROM queue "+where, args...)
	return scanAll(op, rows, err, scanQueue)
}

// QueueEntries implements storage.Queue.
func (s *Store) QueueEntries(ctx context.Context) ([]storage.QueueEntry, error) {
	return s.queryQueue(ctx, "queue entries", "ORDER BY id")
}

// QueueEntry implements storage.Queue.
func (s *Store) QueueEntry(ctx context.Context, id storage.QueueID) (storage.QueueEntry, error) {
	e, err := scanQueue(s.rdb.QueryRowContext(ctx, "SELECT "+queueCols+" FROM queue WHERE id = ?", id))
	if err != nil {
		return e, dbErr(fmt.Sprintf("queue entry %d", id), err)
	}
	return e, nil
}

// DueQueueEntries implements storage.Queue.
func (s *Store) DueQueueEntries(ctx context.Context, now time.Time, limit int) ([]storage.QueueEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	return s.queryQueue(ctx, "due queue entries", "WHERE next_attempt <= ? ORDER BY next_attempt, id LIMIT ?", ms(now), limit)
}

// UpdateQueueEntry implements storage.Queue.
func (s *Store) UpdateQueueEntry(ctx context.Context, e storage.QueueEntry) error {
	rcpts, err := encodeRcpts(e.Recipients)
	if err != nil {
		return err
	}
	return s.write(ctx, "update queue entry", func(w *wtx) error {
		res, err := w.exec(`UPDATE queue SET attempts = ?, next_attempt = ?, last_error = ?, delay_notified = ?, recipients = ?
			WHERE id = ?`, e.Attempts, ms(e.NextAttempt), e.LastError, boolInt(e.DelayNotified), rcpts, e.ID)
		return affected(res, err, "update queue entry", e.ID)
	})
}

// RescheduleQueue implements storage.Queue.
func (s *Store) RescheduleQueue(ctx context.Context, id storage.QueueID, at time.Time) error {
	return s.write(ctx, "reschedule queue", func(w *wtx) error {
		if id == 0 {
			_, err := w.exec("UPDATE queue SET next_attempt = ? WHERE next_attempt > ?", ms(at), ms(at))
			return dbErr("reschedule queue", err)
		}
		res, err := w.exec("UPDATE queue SET next_attempt = ? WHERE id = ?", ms(at), id)
		return affected(res, err, "reschedule queue", id)
	})
}

// DeleteQueueEntry implements storage.Queue. The blob file goes when no
// message and no other entry references it (deleted by the writer after
// the commit).
func (s *Store) DeleteQueueEntry(ctx context.Context, id storage.QueueID) error {
	return s.write(ctx, "delete queue entry", func(w *wtx) error {
		var blob string
		if err := w.queryRow("DELETE FROM queue WHERE id = ? RETURNING blob", id).Scan(&blob); err != nil {
			return dbErr(fmt.Sprintf("delete queue entry %d", id), err)
		}
		var n int
		if err := w.queryRow(blobUsers, blob).Scan(&n); err != nil {
			return dbErr("delete queue entry", err)
		}
		if n == 0 {
			w.o.deleted = append(w.o.deleted, storage.BlobID(blob))
		}
		return nil
	})
}

func affected(res sql.Result, err error, op string, id storage.QueueID) error {
	if err != nil {
		return dbErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s %d: %w", op, id, storage.ErrNotFound)
	}
	return nil
}

// queuedBlob reports, inside a write, whether a queue or quarantine entry references the
// blob hash (releaseBlob keeps the file then).
func (w *wtx) queuedBlob(hash string) (bool, error) {
	var n int
	if err := w.queryRow("SELECT (SELECT count(*) FROM queue WHERE blob = ?1) + (SELECT count(*) FROM quarantine WHERE blob = ?1)", hash).Scan(&n); err != nil {
		return false, dbErr("queued blob", err)
	}
	return n > 0, nil
}

// checkQueue adds the problems of the queue to Check's list: every entry's
// blob file must exist with the recorded size.
func (s *Store) checkQueue(ctx context.Context, add func(string, ...any)) error {
	entries, err := s.QueueEntries(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		size, err := s.blobs.Stat(e.Blob)
		switch {
		case err != nil:
			add("queue entry %d: blob %s: %s", e.ID, e.Blob, strings.TrimPrefix(err.Error(), "blob: "))
		case size != e.Size:
			add("queue entry %d: blob %s has %d bytes, queue says %d", e.ID, e.Blob, size, e.Size)
		}
	}
	return nil
}
