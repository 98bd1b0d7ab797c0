package db

import (
	"context"
	stdsql "database/sql"
	"errors"
	"sync"

	"entgo.io/ent/dialect"
)

// lastingDriver lets what a transaction returned outlive it. ent binds an
// entity to the driver that loaded it: an order read or written inside a
// transaction keeps that transaction, and once the transaction has
// committed every edge of the order (its items, history, payer, app) fails
// with "transaction has already been committed or rolled back". Services
// return such entities from their unit of work (the refunded order, the
// paid order), and GraphQL resolves the edges a client selects afterwards.
// Rather than every service remembering to re-bind what it returns, the
// transaction itself hands its reads to the driver once it is finished:
// reads after the end run outside it (they see the committed data), and
// writes after the end still fail, as they must.
type lastingDriver struct {
	dialect.Driver
}

// Tx starts a transaction whose reads outlive it.
func (d lastingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &lastingTx{tx: tx, drv: d.Driver}, nil
}

// BeginTx starts a transaction with options whose reads outlive it.
func (d lastingDriver) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (dialect.Tx, error) {
	b, ok := d.Driver.(interface {
		BeginTx(context.Context, *stdsql.TxOptions) (dialect.Tx, error)
	})
	if !ok {
		return nil, errors.New("the driver cannot begin transactions with options")
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &lastingTx{tx: tx, drv: d.Driver}, nil
}

// ExecContext is database/sql's Exec on the driver (migrations, raw SQL).
func (d lastingDriver) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	ex, ok := d.Driver.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	})
	if !ok {
		return nil, errors.New("the driver does not support ExecContext")
	}
	return ex.ExecContext(ctx, query, args...)
}

// QueryContext is database/sql's Query on the driver.
func (d lastingDriver) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	q, ok := d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	})
	if !ok {
		return nil, errors.New("the driver does not support QueryContext")
	}
	return q.QueryContext(ctx, query, args...)
}

// lastingTx is a transaction that, once committed or rolled back, sends
// reads to the driver.
type lastingTx struct {
	tx  dialect.Tx
	drv dialect.Driver

	mu   sync.RWMutex
	done bool
}

// ended reports whether the transaction is over.
func (t *lastingTx) ended() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.done
}

func (t *lastingTx) end() {
	t.mu.Lock()
	t.done = true
	t.mu.Unlock()
}

// Exec runs a statement in the transaction (after its end, the
// transaction's own error: a write must never escape it).
func (t *lastingTx) Exec(ctx context.Context, query string, args, v any) error {
	return t.tx.Exec(ctx, query, args, v)
}

// Query reads in the transaction, or after its end through the driver.
func (t *lastingTx) Query(ctx context.Context, query string, args, v any) error {
	if t.ended() && !isWrite(query) {
		return t.drv.Query(ctx, query, args, v)
	}
	return t.tx.Query(ctx, query, args, v)
}

// ExecContext is the transaction's database/sql Exec.
func (t *lastingTx) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	ex, ok := t.tx.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	})
	if !ok {
		return nil, errors.New("the transaction does not support ExecContext")
	}
	return ex.ExecContext(ctx, query, args...)
}

// QueryContext is the transaction's database/sql Query, or after its end
// the driver's for a read.
func (t *lastingTx) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	if t.ended() && !isWrite(query) {
		return lastingDriver{t.drv}.QueryContext(ctx, query, args...)
	}
	q, ok := t.tx.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	})
	if !ok {
		return nil, errors.New("the transaction does not support QueryContext")
	}
	return q.QueryContext(ctx, query, args...)
}

// Commit commits the transaction; from then on reads go to the driver.
func (t *lastingTx) Commit() error {
	err := t.tx.Commit()
	t.end()
	return err
}

// Rollback rolls the transaction back; from then on reads go to the driver.
func (t *lastingTx) Rollback() error {
	err := t.tx.Rollback()
	t.end()
	return err
}
