// Package live turns bus events into subscription streams: it filters them
// to what the subscriber may see and loads the rows they point to.
package live

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/event"
	"github.com/paygraph/paygraph/ent/orderevent"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/events"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/role"
)

// PostgresResumeOverlap is the ResumeOverlap for PostgreSQL: longer than a
// payment's transaction takes from making its step's id to committing,
// with room for the instances' clocks to differ.
const PostgresResumeOverlap = 10 * time.Second

// WalletEvent is a change to one of the subscriber's wallets.
type WalletEvent struct {
	Wallet *ent.Wallet
	Entry  *ent.WalletEntry
}

// Service streams live changes.
type Service struct {
	Client *ent.Client
	Bus    events.Bus
	Log    *slog.Logger
	// Limits caps how many subscriptions a connection and a principal may
	// hold at once.
	Limits Limits
	// ResumeOverlap is how far before its after id myOrderEvents(after)
	// replays too. Ids are made before a step commits, so where
	// transactions commit concurrently (PostgreSQL) a step can commit
	// after one with a higher id was streamed; the overlap sends such a
	// step on resume, and with it steps the client may already have. Zero
	// (SQLite: one writer, ids in commit order) replays only what follows.
	ResumeOverlap time.Duration

	limits limiter
	shared sharedSteps
	pace   pacer
	pushed pushWorkers
}

// OrderStatusChanged streams the history steps of one order the caller may
// see. With after (the id of a step of that order, or of its Event), it
// first replays the steps that followed it, in seq order, then goes live;
// a step is never sent twice.
//
// Errors: NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, RATE_LIMITED,
// BAD_USER_INPUT (after names no step of the order).
func (s *Service) OrderStatusChanged(ctx context.Context, orderID int64, after *int64) (<-chan *ent.OrderEvent, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.Client.Order.Get(ctx, orderID)
	if err == nil {
		err = access.CanView(ctx, o)
	}
	seq := -1 // no replay
	if err == nil && after != nil {
		seq, err = s.seqOf(ctx, orderID, *after)
	}
	if err != nil {
		release()
		return nil, err
	}
	match := func(e events.Event) bool { return e.Kind == events.KindOrder && e.OrderID == orderID }
	var st stream[ent.OrderEvent]
	if seq >= 0 {
		last := seq
		st.replay = func(ctx context.Context, send func(*ent.OrderEvent) bool) error {
			for {
				page, err := s.Client.OrderEvent.Query().Where(orderevent.OrderID(orderID), orderevent.SeqGT(last)).
					Order(orderevent.BySeq(), orderevent.ByID()).Limit(replayPage).All(ctx)
				if err != nil {
					return err
				}
				for _, ev := range page {
					last = ev.Seq
					if !send(ev) {
						return nil
					}
				}
				if len(page) < replayPage {
					return nil
				}
			}
		}
		// One order's steps commit one after another, numbered in order.
		st.seen = func(ev *ent.OrderEvent) bool { return ev.Seq != 0 && ev.Seq <= last }
	}
	return serve(ctx, s, match, release, s.loadOrderEvent, st), nil
}

// replayPage is how many missed steps a replay reads at a time.
const replayPage = 100

// seqOf is the seq of after, a step (or the Event of a step) of order
// orderID.
func (s *Service) seqOf(ctx context.Context, orderID, after int64) (int, error) {
	ev, err := s.Client.OrderEvent.Query().Where(orderevent.ID(after), orderevent.OrderID(orderID)).Only(ctx)
	if err == nil {
		return ev.Seq, nil
	}
	if !ent.IsNotFound(err) {
		return 0, err
	}
	e, err := s.Client.Event.Query().Where(event.ID(after), event.OrderID(orderID), event.TypeHasPrefix("order.")).Only(ctx)
	if err == nil {
		return e.Seq, nil
	}
	if !ent.IsNotFound(err) {
		return 0, err
	}
	return 0, apperr.Input("after", "after names no event of this order")
}

// MyOrderEvents streams the history steps of every order the caller is
// concerned by: a USER as payer or payee, a SERVICE its app's, an ADMIN all.
// With after (an id the stream sent), it first replays the steps made
// since, in id order (which is seq order within an order), then goes live;
// a step is never sent twice.
//
// Errors: UNAUTHENTICATED, RATE_LIMITED.
func (s *Service) MyOrderEvents(ctx context.Context, after *int64) (<-chan *ent.OrderEvent, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	var st stream[ent.OrderEvent]
	if after != nil {
		resumed := *after
		last := resumed
		if s.ResumeOverlap > 0 {
			last = min(last, idgen.First(idgen.Time(resumed).Add(-s.ResumeOverlap))-1)
		}
		replayed := map[int64]bool{}
		st.replay = func(ctx context.Context, send func(*ent.OrderEvent) bool) error {
			for {
				page, err := s.Client.OrderEvent.Query().
					Where(orderevent.IDGT(last), orderevent.IDNEQ(resumed), orderevent.HasOrderWith(access.Orders(p))).
					Order(orderevent.ByID()).Limit(replayPage).All(ctx)
				if err != nil {
					return err
				}
				for _, ev := range page {
					last = ev.ID
					if access.CanView(ctx, ev) != nil {
						continue
					}
					replayed[ev.ID] = true
					if !send(ev) {
						return nil
					}
				}
				if len(page) < replayPage {
					return nil
				}
			}
		}
		st.seen = func(ev *ent.OrderEvent) bool { return replayed[ev.ID] }
	}
	match := func(e events.Event) bool {
		if e.Kind != events.KindOrder {
			return false
		}
		switch p.Role {
		case role.Admin:
			return true
		case role.Service:
			return e.AppID == p.AppID
		}
		return slices.Contains(e.UserIDs, p.Subject)
	}
	return serve(ctx, s, match, release, s.loadOrderEvent, st), nil
}

// WalletChanged streams changes to the caller's own wallets.
//
// Errors: UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED.
func (s *Service) WalletChanged(ctx context.Context) (<-chan *WalletEvent, error) {
	p, err := auth.Require(ctx, role.User, role.Admin)
	if err != nil {
		return nil, err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	match := func(e events.Event) bool {
		return e.Kind == events.KindWallet && slices.Contains(e.UserIDs, p.Subject)
	}
	return serve(ctx, s, match, release, func(ctx context.Context, e events.Event) (*WalletEvent, error) {
		w, err := s.Client.Wallet.Get(ctx, e.WalletID)
		if err != nil {
			return nil, err
		}
		if w.UserID != p.Subject { // the bus said so, but the row decides
			return nil, nil
		}
		out := &WalletEvent{Wallet: w}
		if e.ID != 0 {
			if out.Entry, err = s.Client.WalletEntry.Get(ctx, e.ID); err != nil {
				return nil, err
			}
		}
		return out, nil
	}, stream[WalletEvent]{}), nil
}

// loadOrderEvent loads the step an event names, with its order, once for
// every subscriber it reaches (shared), and shows it to this subscriber if
// the order is one it may see (access.CanViewStep, decided from the order
// at hand rather than by a query per subscriber).
func (s *Service) loadOrderEvent(ctx context.Context, e events.Event) (*ent.OrderEvent, error) {
	ev, err := s.shared.load(e.ID, func(lctx context.Context) (*ent.OrderEvent, error) {
		return s.Client.OrderEvent.Query().Where(orderevent.ID(e.ID)).WithOrder().Only(lctx)
	})
	if err != nil {
		return nil, err
	}
	if access.CanViewStep(ctx, ev) != nil {
		return nil, nil
	}
	return ev, nil
}

// stream is what a subscription sends before going live: replay sends
// what the subscriber missed (stopping when send returns false), and seen
// tells which live values the replay already sent.
type stream[T any] struct {
	replay func(ctx context.Context, send func(*T) bool) error
	seen   func(*T) bool
}

// serve listens for the events match accepts, sends the replay of st, if
// any, then loads each event and forwards it until the subscription or the
// bus ends; then it closes the output, which ends the GraphQL
// subscription, and gives the subscription's room back (release). A nil
// result is skipped. It listens before the replay starts, so that nothing
// committed meanwhile is missed; events arriving during the replay wait in
// the bus's queue, and a subscriber whose replay outlasts it is cut off
// like any slow one, resuming from the last id it got.
//
// The bus hands events over (Bus.Handle) on a goroutine that runs only
// while some wait, so a live subscription costs no goroutine of its own
// beyond its transport's; only a replay runs on one, until it is done. A
// subscription whose transport gave it a Push (graphql-transport-ws) costs
// none at all: its results are executed and written by whoever sends
// them, the few pushWorkers for live events.
func serve[T any](ctx context.Context, s *Service, match func(events.Event) bool, release func(), load func(context.Context, events.Event) (*T, error), st stream[T]) <-chan *T {
	// With a Push, the transport takes each value as it is sent, on the
	// goroutine that sent it (see Push): no goroutine of its own waits on
	// out, and the bus's delivery writes the result itself.
	push := takePush(ctx)
	out := make(chan *T, 1)
	finish := func() {
		close(out)
		release()
		if push != nil {
			push.notify()
		}
	}
	// send hands v over; false if ctx ended first.
	send := func(ctx context.Context, v *T) bool {
		select {
		case out <- v:
		case <-ctx.Done():
			return false
		}
		if push != nil {
			push.notify()
		}
		return true
	}
	forward := func(ctx context.Context, e events.Event) {
		if !s.pace.acquire(ctx) {
			return
		}
		held := true
		defer func() {
			if held {
				s.pace.release()
			}
		}()
		v, err := load(ctx, e)
		if err != nil {
			if ctx.Err() == nil {
				s.Log.WarnContext(ctx, "subscription: loading event", "kind", e.Kind, "id", e.ID, "err", err)
			}
			return
		}
		if v == nil || (st.seen != nil && st.seen(v)) {
			return
		}
		if push != nil {
			// out is empty: every value sent was taken by its Notify. The
			// slot is held while the transport writes the result, which
			// paces the fan-out's writes as well as its loads; then the
			// delivery yields before giving the slot back, which would
			// hand it to the next delivery ahead of any other work (the
			// payment waiting to answer, say).
			if send(ctx, v) {
				s.pace.yield()
			}
			return
		}
		select {
		case out <- v:
			s.pace.yield()
			return
		default: // busy with its previous result: wait without the slot
		}
		held = false
		s.pace.release()
		select {
		case out <- v:
		case <-ctx.Done():
		}
	}
	if st.replay == nil && push != nil {
		q := &pushQueue{ctx: ctx, finish: finish, forward: func(e events.Event) {
			v, err := load(ctx, e)
			if err != nil {
				if ctx.Err() == nil {
					s.Log.WarnContext(ctx, "subscription: loading event", "kind", e.Kind, "id", e.ID, "err", err)
				}
				return
			}
			if v != nil {
				send(ctx, v)
			}
		}}
		s.Bus.Handle(ctx, match, func(e events.Event) { s.pushed.add(q, e) }, func() { s.pushed.end(q) })
		return out
	}
	if st.replay == nil {
		s.Bus.Handle(ctx, match, func(e events.Event) { forward(ctx, e) }, finish)
		return out
	}

	// A failed replay ends the subscription (cancel): the subscriber must
	// not believe it has caught up.
	ctx, cancel := context.WithCancel(ctx)
	replayed := make(chan struct{}) // closed when the replay has returned
	var failed bool                 // set before replayed is closed
	s.Bus.Handle(ctx, match, func(e events.Event) {
		select {
		case <-replayed:
		case <-ctx.Done():
			return
		}
		if !failed {
			forward(ctx, e)
		}
	}, func() {
		select {
		case <-replayed:
			cancel()
			finish()
		default: // out is the replay's until it returns
			go func() {
				<-replayed
				cancel()
				finish()
			}()
		}
	})
	go func() {
		defer close(replayed)
		err := st.replay(ctx, func(v *T) bool { return send(ctx, v) })
		if err != nil {
			if ctx.Err() == nil {
				s.Log.WarnContext(ctx, "subscription: replaying events", "err", err)
			}
			failed = true
			cancel()
		}
	}()
	return out
}
