// Package txn runs a service's unit of work: one database transaction whose
// events are published only after it commits.
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/events"
)

// Tx is a transaction that also collects the events its changes cause.
type Tx struct {
	*ent.Tx
	events []events.Event
}

// Emit records events to publish once the transaction commits.
func (t *Tx) Emit(evs ...events.Event) { t.events = append(t.events, evs...) }

// Runner starts transactions and publishes their events.
type Runner struct {
	Client *ent.Client
	Bus    events.Bus
	Log    *slog.Logger
}

// Run runs fn in a transaction: committed when fn returns nil, rolled back
// when it returns an error or panics. After a commit, and never before, the
// events fn emitted are published; a publishing failure is logged, not
// returned, because the change itself is durable (subscribers catch up from
// the database).
func (r *Runner) Run(ctx context.Context, fn func(tx *Tx) error) (err error) {
	etx, err := r.Client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("starting transaction: %w", err)
	}
	tx := &Tx{Tx: etx}
	defer func() {
		if v := recover(); v != nil {
			_ = etx.Rollback()
			panic(v)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := etx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return err
	}
	if err := etx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	if len(tx.events) > 0 && r.Bus != nil {
		if err := r.Bus.Publish(context.WithoutCancel(ctx), tx.events...); err != nil && r.Log != nil {
			r.Log.WarnContext(ctx, "publishing events after commit", "err", err, "events", len(tx.events))
		}
	}
	return nil
}
