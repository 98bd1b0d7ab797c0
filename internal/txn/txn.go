// Package txn runs a service's unit of work: one database transaction whose
// events are published only after it commits.
//
// On SQLite the runner commits in groups: units of work that arrive while
// another group is being written are run one after the other inside one
// transaction, each under its own SAVEPOINT, and committed together with a
// single fsync. A unit that fails is rolled back to its savepoint without
// touching the others; if the commit fails, every unit of the group fails.
// Each caller still sees exactly its own outcome, after it is durable.
//
// A unit of work must do all its writes through the *Tx it is given, and
// must not call Run itself: with SQLite's single write connection either
// would wait for itself.
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/events"
)

// Tx is a transaction that also collects the events its changes cause.
type Tx struct {
	*ent.Tx
	events []events.Event
	after  []func()
	before []func() error
	values map[any]any
}

// Emit records events to publish once the transaction commits.
func (t *Tx) Emit(evs ...events.Event) { t.events = append(t.events, evs...) }

// AfterCommit records f to run once the transaction has committed (never
// if it rolls back), in the caller's goroutine after Run's events are
// published: for what must only be said of durable work, such as the log
// line of a payment.
func (t *Tx) AfterCommit(f func()) { t.after = append(t.after, f) }

// BeforeCommit records f to run when the unit of work has done the rest
// of its work (its function returned nil), still inside its transaction:
// for what must see everything the unit wrote, such as the outbox rows
// that describe it. An error from f fails the unit, as the unit's own
// would.
func (t *Tx) BeforeCommit(f func() error) { t.before = append(t.before, f) }

// Value returns what SetValue stored under k in this unit of work.
func (t *Tx) Value(k any) any { return t.values[k] }

// SetValue stores v under k for the rest of this unit of work (helpers
// that gather what a unit does use it).
func (t *Tx) SetValue(k, v any) {
	if t.values == nil {
		t.values = map[any]any{}
	}
	t.values[k] = v
}

// finish runs fn and then the hooks it registered with BeforeCommit.
func finish(fn func(*Tx) error, tx *Tx) error {
	if err := fn(tx); err != nil {
		return err
	}
	for i := 0; i < len(tx.before); i++ { // a hook may add hooks
		if err := tx.before[i](); err != nil {
			return err
		}
	}
	return nil
}

// maxGroup bounds how many units share one commit.
const maxGroup = 128

// Runner starts transactions and publishes their events.
type Runner struct {
	Client *ent.Client
	Bus    events.Bus
	Log    *slog.Logger
	// Group turns on group commit (SQLite, where every commit is an fsync
	// of the one writer). PostgreSQL commits concurrently by itself.
	Group bool

	start  sync.Once
	mu     sync.RWMutex // guards closed and sending on queue
	closed bool
	queue  chan *unit
	exited chan struct{}
}

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("transaction runner closed")

type unit struct {
	ctx    context.Context
	fn     func(tx *Tx) error
	err    error
	panic  any
	events []events.Event
	after  []func()
	done   chan struct{}
}

// Run runs fn in a transaction: committed when fn returns nil, rolled back
// when it returns an error or panics. After the commit, and never before,
// the events fn emitted are published; a publishing failure is logged, not
// returned, because the change itself is durable (subscribers catch up from
// the database).
func (r *Runner) Run(ctx context.Context, fn func(tx *Tx) error) error {
	if !r.Group {
		return r.runAlone(ctx, fn)
	}
	r.start.Do(func() {
		r.queue = make(chan *unit, 4*maxGroup)
		r.exited = make(chan struct{})
		go r.writer()
	})
	u := &unit{ctx: ctx, fn: fn, done: make(chan struct{})}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return ErrClosed
	}
	r.queue <- u
	r.mu.RUnlock()
	// Wait even if ctx ends: once queued, the unit may commit, and the
	// caller must not report a failure for work that was done.
	<-u.done
	if u.panic != nil {
		panic(u.panic)
	}
	if u.err == nil {
		runAll(u.after)
	}
	return u.err
}

func runAll(fs []func()) {
	for _, f := range fs {
		f()
	}
}

func (r *Runner) runAlone(ctx context.Context, fn func(tx *Tx) error) (err error) {
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
	if err := finish(fn, tx); err != nil {
		if rerr := etx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return err
	}
	if err := etx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	r.publish(ctx, tx.events)
	runAll(tx.after)
	return nil
}

func (r *Runner) publish(ctx context.Context, evs []events.Event) {
	if len(evs) == 0 || r.Bus == nil {
		return
	}
	if err := r.Bus.Publish(context.WithoutCancel(ctx), evs...); err != nil && r.Log != nil {
		r.Log.WarnContext(ctx, "publishing events after commit", "err", err, "events", len(evs))
	}
}

// Close stops the group writer after the units already queued; later
// calls to Run return ErrClosed.
func (r *Runner) Close() {
	r.start.Do(func() {}) // a runner never used has no writer
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	if r.queue != nil {
		close(r.queue)
	}
	r.mu.Unlock()
	if r.exited != nil {
		<-r.exited
	}
}

// writer takes whatever units are waiting and commits them as one group,
// until Close.
func (r *Runner) writer() {
	defer close(r.exited)
	for first := range r.queue {
		group := r.commitGroup(r.join([]*unit{first}))
		for _, u := range group {
			if u.err == nil && u.panic == nil {
				r.publish(u.ctx, u.events)
			}
			close(u.done)
		}
	}
}

// commitGroup runs the units of group in one transaction and commits it,
// and returns the group as it ended: units that arrive while the group's
// units run join it, up to maxGroup, instead of waiting for its commit
// and the next group's. Commits (fsyncs) per unit fall most where groups
// are small (a steady load below the peak), and the late units are
// answered one commit sooner.
func (r *Runner) commitGroup(group []*unit) []*unit {
	// The group's transaction belongs to no single caller: a caller whose
	// context ends must not roll back the others.
	ctx := context.Background()
	fail := func(err error) {
		for _, u := range group {
			if u.err == nil && u.panic == nil {
				u.err = err
			}
		}
	}
	etx, err := r.Client.Tx(ctx)
	if err != nil {
		fail(fmt.Errorf("starting transaction: %w", err))
		return group
	}
	ok := 0
	for i := 0; i < len(group); i++ {
		if !r.runUnit(ctx, etx, group[i], i, len(group) == 1) {
			fail(group[i].err)
			return group
		}
		if group[i].err == nil && group[i].panic == nil {
			ok++
		} else if len(group) == 1 {
			_ = etx.Rollback() // it was alone: nothing else to keep
			return group
		}
		if i == len(group)-1 {
			group = r.join(group)
		}
	}
	if ok == 0 {
		_ = etx.Rollback()
		return group
	}
	if err := etx.Commit(); err != nil {
		fail(fmt.Errorf("committing: %w", err))
	}
	return group
}

// runUnit runs u, the group's i-th unit, in etx. Alone so far, it runs
// without a savepoint: the transaction is its own, and the caller rolls
// it all back if u fails (units join only after one that succeeded).
// Otherwise a failure rolls back to u's savepoint, leaving the others'
// work. It returns false when the transaction itself is lost.
func (r *Runner) runUnit(ctx context.Context, etx *ent.Tx, u *unit, i int, alone bool) bool {
	if err := u.ctx.Err(); err != nil {
		u.err = err
		return true
	}
	tx := &Tx{Tx: etx}
	if alone {
		if u.err, u.panic = call(u.fn, tx); u.err == nil && u.panic == nil {
			u.events, u.after = tx.events, tx.after
		}
		return true // a failure: the caller rolls back
	}
	sp := fmt.Sprintf("u%d", i)
	if _, err := etx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
		u.err = fmt.Errorf("savepoint: %w", err)
		return true
	}
	u.err, u.panic = call(u.fn, tx)
	if u.err != nil || u.panic != nil {
		if _, err := etx.ExecContext(ctx, "ROLLBACK TO "+sp); err != nil {
			_ = etx.Rollback()
			u.err = fmt.Errorf("rolling back a unit: %w", err)
			return false
		}
	} else {
		u.events, u.after = tx.events, tx.after
	}
	if _, err := etx.ExecContext(ctx, "RELEASE "+sp); err != nil {
		_ = etx.Rollback()
		u.err = fmt.Errorf("releasing savepoint: %w", err)
		return false
	}
	return true
}

// join adds to group the units queued meanwhile, up to maxGroup.
func (r *Runner) join(group []*unit) []*unit {
	for len(group) < maxGroup {
		select {
		case u, ok := <-r.queue:
			if !ok {
				return group
			}
			group = append(group, u)
		default:
			return group
		}
	}
	return group
}

// call runs fn, turning a panic into a value for the caller to re-raise.
func call(fn func(*Tx) error, tx *Tx) (err error, panicked any) {
	defer func() {
		if v := recover(); v != nil {
			panicked = v
		}
	}()
	return finish(fn, tx), nil
}
