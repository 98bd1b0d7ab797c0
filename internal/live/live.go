// Package live turns bus events into subscription streams: it filters them
// to what the subscriber may see and loads the rows they point to.
package live

import (
	"context"
	"log/slog"
	"slices"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/events"
	"github.com/paygraph/paygraph/internal/role"
)

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

	limits limiter
}

// OrderStatusChanged streams the history steps of one order the caller may
// see.
//
// Errors: NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, RATE_LIMITED.
func (s *Service) OrderStatusChanged(ctx context.Context, orderID int64) (<-chan *ent.OrderEvent, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.Client.Order.Get(ctx, orderID)
	if err == nil {
		err = access.CanView(ctx, o)
	}
	if err != nil {
		release()
		return nil, err
	}
	sub := s.Bus.Subscribe(ctx, func(e events.Event) bool { return e.Kind == events.KindOrder && e.OrderID == orderID })
	return pump(ctx, s, sub, release, s.loadOrderEvent), nil
}

// MyOrderEvents streams the history steps of every order the caller is
// concerned by: a USER as payer or payee, a SERVICE its app's, an ADMIN all.
//
// Errors: UNAUTHENTICATED, RATE_LIMITED.
func (s *Service) MyOrderEvents(ctx context.Context) (<-chan *ent.OrderEvent, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	sub := s.Bus.Subscribe(ctx, func(e events.Event) bool {
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
	})
	return pump(ctx, s, sub, release, s.loadOrderEvent), nil
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
	sub := s.Bus.Subscribe(ctx, func(e events.Event) bool {
		return e.Kind == events.KindWallet && slices.Contains(e.UserIDs, p.Subject)
	})
	return pump(ctx, s, sub, release, func(ctx context.Context, e events.Event) (*WalletEvent, error) {
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
	}), nil
}

func (s *Service) loadOrderEvent(ctx context.Context, e events.Event) (*ent.OrderEvent, error) {
	ev, err := s.Client.OrderEvent.Get(ctx, e.ID)
	if err != nil {
		return nil, err
	}
	if access.CanView(ctx, ev) != nil {
		return nil, nil
	}
	return ev, nil
}

// pump loads each event and forwards it until the subscription or the bus
// ends; then it closes the output, which ends the GraphQL subscription,
// and gives the subscription's room back (release). A nil result is
// skipped.
func pump[T any](ctx context.Context, s *Service, in <-chan events.Event, release func(), load func(context.Context, events.Event) (*T, error)) <-chan *T {
	out := make(chan *T, 1)
	go func() {
		defer release()
		defer close(out)
		for e := range in {
			v, err := load(ctx, e)
			if err != nil {
				if ctx.Err() == nil {
					s.Log.WarnContext(ctx, "subscription: loading event", "kind", e.Kind, "id", e.ID, "err", err)
				}
				continue
			}
			if v == nil {
				continue
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
