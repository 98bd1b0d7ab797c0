package db

import (
	"context"
	"database/sql/driver"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Statements counts the SQL statements a database ran, by pool and text.
// It is a measuring aid (PAYGRAPH_DEBUG_ADDR serves it at /debug/sql):
// how many statements one payment costs, and which. Nil counts nothing.
type Statements struct {
	mu sync.Mutex
	n  map[statementKey]int64
	// commits counts the single SQLite writer's COMMITs by how long they
	// took (the fsync of the log included), by CommitBoundsMs.
	commits [len(CommitBoundsMs) + 1]int64
	// slow are the latest commits over SlowCommitMs, oldest first.
	slow []SlowCommit
}

// SlowCommitMs is how long a commit of the writer takes to be listed
// among the slow ones (SlowCommits).
const SlowCommitMs = 10

// maxSlow bounds the slow commits kept.
const maxSlow = 256

// SlowCommit is one of the writer's commits that took SlowCommitMs or more.
type SlowCommit struct {
	// AtMs is when it ended, in Unix milliseconds.
	AtMs int64 `json:"atMs"`
	// Ms is how long it took.
	Ms float64 `json:"ms"`
}

// CommitBoundsMs are the upper bounds, in milliseconds, of the buckets
// CommitTimes counts the writer's commits in; the last bucket is above
// them all.
var CommitBoundsMs = [...]float64{0.5, 1, 2, 5, 10, 20, 50, 100, 250}

type statementKey struct{ pool, text string }

func newStatements() *Statements { return &Statements{n: map[statementKey]int64{}} }

func (s *Statements) add(pool, text string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.n[statementKey{pool, text}]++
	s.mu.Unlock()
}

func (s *Statements) commitTook(d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	i := 0
	for i < len(CommitBoundsMs) && ms > CommitBoundsMs[i] {
		i++
	}
	s.mu.Lock()
	s.commits[i]++
	if ms >= SlowCommitMs {
		if len(s.slow) == maxSlow {
			s.slow = append(s.slow[:0], s.slow[1:]...)
		}
		s.slow = append(s.slow, SlowCommit{AtMs: time.Now().UnixMilli(), Ms: ms})
	}
	s.mu.Unlock()
}

// SlowCommits returns the latest of the writer's commits that took
// SlowCommitMs or more (at most 256), oldest first.
func (s *Statements) SlowCommits() []SlowCommit {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SlowCommit(nil), s.slow...)
}

// CommitTimes returns how many of the SQLite writer's commits so far
// took up to each of CommitBoundsMs, and (last) longer.
func (s *Statements) CommitTimes() []int64 {
	if s == nil {
		return make([]int64, len(CommitBoundsMs)+1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.commits[:]...)
}

// Counts returns how many times each statement ran so far, keyed
// "pool: text"; with SQLite the pool is "write" (the single writer
// connection) or "read", with PostgreSQL "pg". BEGIN, COMMIT and
// ROLLBACK are counted too.
func (s *Statements) Counts() map[string]int64 {
	out := map[string]int64{}
	if s == nil {
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.n {
		out[k.pool+": "+k.text] = v
	}
	return out
}

// sqliteConnector opens paygraph's caching SQLite connections, counting
// their statements under pool when count is not nil.
type sqliteConnector struct {
	dsn, pool string
	count     *Statements
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := cachingDriver{}.Open(c.dsn)
	if err != nil {
		return conn, err
	}
	cc := conn.(*cachingConn)
	cc.uncancellable = c.pool == "write"
	cc.count, cc.pool = c.count, c.pool
	return cc, nil
}

func (sqliteConnector) Driver() driver.Driver { return cachingDriver{} }

// countingTx counts the end of a counted SQLite transaction.
type countingTx struct {
	driver.Tx
	c *cachingConn
}

func (t countingTx) Commit() error {
	t.c.count.add(t.c.pool, "COMMIT")
	start := time.Now()
	err := t.Tx.Commit()
	if t.c.pool == "write" {
		t.c.count.commitTook(time.Since(start))
	}
	return err
}

func (t countingTx) Rollback() error {
	t.c.count.add(t.c.pool, "ROLLBACK")
	return t.Tx.Rollback()
}

// pgTracer counts the statements of a PostgreSQL pool (BEGIN and COMMIT
// are statements there).
type pgTracer struct{ count *Statements }

func (t pgTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	t.count.add("pg", d.SQL)
	return ctx
}

func (pgTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
