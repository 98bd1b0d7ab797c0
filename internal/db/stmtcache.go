package db

import (
	"context"
	"database/sql/driver"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// maxCached bounds the statements kept per connection; past it, new
// statements simply run uncached.
const maxCached = 512

// cachingDriver is go-sqlite3 with a prepared-statement cache per
// connection (sqliteConnector opens it). database/sql prepares, runs and
// finalizes every statement that is not explicitly prepared; on SQLite's
// single write connection the preparing is a good part of the time the
// write lock is held, and ent runs the same few statements over and over.
type cachingDriver struct{}

func (cachingDriver) Open(dsn string) (driver.Conn, error) {
	c, err := (&sqlite3.SQLiteDriver{}).Open(dsn)
	if err != nil {
		return nil, err
	}
	// Savepoint and statement journals in memory: group commit opens a
	// savepoint per unit, and on disk each group made, wrote and unlinked
	// a temporary file (most of a payment's writes).
	if _, err := c.(*sqlite3.SQLiteConn).Exec("PRAGMA temp_store = MEMORY", nil); err != nil {
		c.Close()
		return nil, err
	}
	return &cachingConn{SQLiteConn: c.(*sqlite3.SQLiteConn), stmts: map[string]*cachedStmt{}}, nil
}

type cachedStmt struct {
	st *sqlite3.SQLiteStmt
	// busy is set while rows of the statement are open: a second use of
	// the same query then runs uncached instead of resetting the first.
	busy bool
}

// cachingConn is used by one goroutine at a time (database/sql's rule), so
// its cache needs no lock.
type cachingConn struct {
	*sqlite3.SQLiteConn
	stmts map[string]*cachedStmt
	// count, when not nil, counts the statements run under pool.
	count *Statements
	pool  string
	// uncancellable runs statements without their context's cancellation:
	// go-sqlite3 starts a goroutine per statement to watch a cancellable
	// context, which on the single writer was a good part of a payment's
	// serial time. The writer's statements are short, and a group's
	// transaction belongs to no single caller anyway (txn.Runner).
	uncancellable bool
}

func (c *cachingConn) cached(ctx context.Context, query string) *cachedStmt {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil
		}
		return s
	}
	// Only single statements can be prepared once and reused.
	if len(c.stmts) >= maxCached || strings.Contains(strings.TrimRight(query, "; \t\n"), ";") {
		return nil
	}
	st, err := c.SQLiteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil // the uncached path reports the error
	}
	s := &cachedStmt{st: st.(*sqlite3.SQLiteStmt)}
	c.stmts[query] = s
	return s
}

// ExecContext runs query with a cached statement when it can.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.count.add(c.pool, query)
	if c.uncancellable {
		ctx = context.WithoutCancel(ctx)
	}
	s := c.cached(ctx, query)
	if s == nil {
		return c.SQLiteConn.ExecContext(ctx, query, args)
	}
	return s.st.ExecContext(ctx, args)
}

// QueryContext runs query with a cached statement when it can.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.count.add(c.pool, query)
	if c.uncancellable {
		ctx = context.WithoutCancel(ctx)
	}
	s := c.cached(ctx, query)
	if s == nil {
		return c.SQLiteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.st.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{SQLiteRows: rows.(*sqlite3.SQLiteRows), s: s}, nil
}

// BeginTx starts a transaction, counted when statements are.
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.SQLiteConn.BeginTx(ctx, opts)
	if err != nil || c.count == nil {
		return tx, err
	}
	c.count.add(c.pool, "BEGIN")
	return countingTx{Tx: tx, c: c}, nil
}

// Close finalizes the cached statements and closes the connection.
func (c *cachingConn) Close() error {
	for _, s := range c.stmts {
		_ = s.st.Close()
	}
	c.stmts = nil
	return c.SQLiteConn.Close()
}

type cachedRows struct {
	*sqlite3.SQLiteRows
	s *cachedStmt
}

// Close resets the statement for its next use.
func (r *cachedRows) Close() error {
	err := r.SQLiteRows.Close()
	r.s.busy = false
	return err
}
