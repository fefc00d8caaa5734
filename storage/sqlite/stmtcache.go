package sqlite

import (
	"database/sql"
)

// stmtCache keeps the writer's prepared statements: SQLite compiles a
// statement in about as much time as it takes to run a small one, and a
// delivery runs some twenty. It belongs to the writer goroutine (no
// locking). The writer's only connection is held by the batch transaction
// while statements run, so a statement is prepared between batches: a
// query run unprepared is noted (want), and prepareWanted, called before
// each transaction begins, prepares the queries seen at least twice, up to
// maxCachedStmts (queries built with a variable number of parameters stay
// unprepared once the cache is full).
type stmtCache struct {
	db    *sql.DB
	stmts map[string]*sql.Stmt
	want  map[string]int
	// failed remembers queries that would not prepare outside a
	// transaction, so they are not tried again.
	failed map[string]bool
}

const maxCachedStmts = 256

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, want: map[string]int{}, failed: map[string]bool{}}
}

// get returns the prepared statement of query, or nil (and notes the query)
// when there is none yet.
func (c *stmtCache) get(query string) *sql.Stmt {
	if st := c.stmts[query]; st != nil {
		return st
	}
	if len(c.stmts) < maxCachedStmts && !c.failed[query] {
		c.want[query]++
	}
	return nil
}

// prepareWanted prepares the queries noted twice or more. It must run
// while no transaction holds the connection.
func (c *stmtCache) prepareWanted() {
	for q, n := range c.want {
		if n < 2 {
			continue
		}
		delete(c.want, q)
		if len(c.stmts) >= maxCachedStmts {
			continue
		}
		st, err := c.db.Prepare(q)
		if err != nil {
			c.failed[q] = true
			continue
		}
		c.stmts[q] = st
	}
	if len(c.want) > 4*maxCachedStmts {
		clear(c.want)
	}
}

// txStmts is the batch transaction's view of the cache: each statement
// bound to the transaction once (sql.Tx.Stmt reuses the statement prepared
// on the connection).
type txStmts struct {
	tx    *sql.Tx
	cache *stmtCache
	bound map[string]*sql.Stmt
}

func (t *txStmts) stmt(query string) *sql.Stmt {
	if st := t.bound[query]; st != nil {
		return st
	}
	st := t.cache.get(query)
	if st == nil {
		return nil
	}
	if t.bound == nil {
		t.bound = map[string]*sql.Stmt{}
	}
	b := t.tx.Stmt(st)
	t.bound[query] = b
	return b
}
