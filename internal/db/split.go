package db

import (
	"context"
	stdsql "database/sql"
	"errors"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// splitDriver sends SQLite's writes to a pool of one connection and its
// reads to a pool of several. SQLite runs one writer at a time: with one
// write connection, writers queue in Go (first come, first served) instead
// of sleeping in SQLite's busy handler, which would cost latency and risk
// SQLITE_BUSY; readers go on beside the writer thanks to WAL.
type splitDriver struct {
	w, r *entsql.Driver
}

var _ dialect.Driver = splitDriver{}

func isWrite(query string) bool {
	q := strings.TrimSpace(query)
	if len(q) > 7 {
		q = q[:7]
	}
	q = strings.ToUpper(q)
	return !strings.HasPrefix(q, "SELECT") && !strings.HasPrefix(q, "WITH")
}

// Exec runs a statement on the write connection.
func (d splitDriver) Exec(ctx context.Context, query string, args, v any) error {
	return d.w.Exec(ctx, query, args, v)
}

// Query runs a read on the read pool, and anything that writes
// (INSERT … RETURNING) on the write connection.
func (d splitDriver) Query(ctx context.Context, query string, args, v any) error {
	if isWrite(query) {
		return d.w.Query(ctx, query, args, v)
	}
	return d.r.Query(ctx, query, args, v)
}

// ExecContext is database/sql's Exec on the write connection.
func (d splitDriver) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	return d.w.ExecContext(ctx, query, args...)
}

// QueryContext is database/sql's Query, routed like Query.
func (d splitDriver) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	if isWrite(query) {
		return d.w.QueryContext(ctx, query, args...)
	}
	return d.r.QueryContext(ctx, query, args...)
}

// Tx starts a transaction on the write connection: every transaction may write.
func (d splitDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.w.Tx(ctx) }

// BeginTx starts a transaction with options on the write connection.
func (d splitDriver) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (dialect.Tx, error) {
	return d.w.BeginTx(ctx, opts)
}

// Close closes both pools.
func (d splitDriver) Close() error { return errors.Join(d.w.Close(), d.r.Close()) }

// Dialect is SQLite.
func (d splitDriver) Dialect() string { return dialect.SQLite }
