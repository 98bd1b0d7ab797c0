package db

import (
	"context"
	"database/sql"
	"time"
)

// readinessTable holds one row that /readyz rewrites to prove the database
// still commits writes. It is not an ent schema: nothing reads it, and its
// single row keeps the database from growing.
const readinessTable = "paygraph_readiness"

// createReadinessTable creates the table if it is missing; migrate calls it.
func (d *DB) createReadinessTable(ctx context.Context) error {
	_, err := d.Ent.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+readinessTable+
		" (id INTEGER PRIMARY KEY, checked_at BIGINT NOT NULL)")
	return err
}

// Execer runs a statement: an ent transaction, for instance.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// WriteReadiness rewrites the readiness row through x. Run in a
// transaction that commits, it shows that a write reaches the disk (SQLite:
// through the single writer, so a stuck writer or a full disk shows).
func WriteReadiness(ctx context.Context, x Execer, now time.Time) error {
	_, err := x.ExecContext(ctx, "INSERT INTO "+readinessTable+" (id, checked_at) VALUES (1, $1)"+
		" ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at", now.UnixMilli())
	return err
}
