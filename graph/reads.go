package graph

import (
	"context"

	"entgo.io/contrib/entgql"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/orderitem"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/role"
)

// Page sizes of every connection (contract §2).
const (
	defaultPage = 20
	maxPage     = 100
)

// page applies the connection limits: first and last at most 100, and 20
// when neither is given.
func page(first, last *int) (*int, *int, error) {
	for _, n := range []*int{first, last} {
		if n != nil && (*n < 0 || *n > maxPage) {
			return nil, nil, apperr.Input("first", "first and last must be between 0 and %d", maxPage)
		}
	}
	if first == nil && last == nil {
		d := defaultPage
		first = &d
	}
	return first, last, nil
}

func (r *Resolver) amount(asset string, minor int64) *money.Decimal {
	d := r.Assets.Format(asset, minor)
	return &d
}

func (r *Resolver) orders(ctx context.Context, after *entgql.Cursor[int64], first *int, before *entgql.Cursor[int64], last *int, orderBy *ent.OrderOrder, where *ent.OrderWhereInput) (*ent.OrderConnection, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	if first, last, err = page(first, last); err != nil {
		return nil, err
	}
	return r.Client.Order.Query().Where(access.Orders(p)).
		Paginate(ctx, after, first, before, last, ent.WithOrderOrder(orderBy), ent.WithOrderFilter(where.Filter))
}

func (r *Resolver) walletEntries(ctx context.Context, after *entgql.Cursor[int64], first *int, before *entgql.Cursor[int64], last *int, orderBy *ent.WalletEntryOrder, where *ent.WalletEntryWhereInput) (*ent.WalletEntryConnection, error) {
	p, err := auth.Require(ctx, role.User, role.Admin)
	if err != nil {
		return nil, err
	}
	if first, last, err = page(first, last); err != nil {
		return nil, err
	}
	q := r.Client.WalletEntry.Query()
	if p.Role == role.User {
		q = q.Where(access.WalletEntries(p.Subject))
	}
	return q.Paginate(ctx, after, first, before, last, ent.WithWalletEntryOrder(orderBy), ent.WithWalletEntryFilter(where.Filter))
}

func (r *Resolver) callbackEvents(ctx context.Context, after *entgql.Cursor[int64], first *int, before *entgql.Cursor[int64], last *int, orderBy *ent.CallbackEventOrder, where *ent.CallbackEventWhereInput) (*ent.CallbackEventConnection, error) {
	first, last, err := page(first, last)
	if err != nil {
		return nil, err
	}
	return r.Client.CallbackEvent.Query().Paginate(ctx, after, first, before, last,
		ent.WithCallbackEventOrder(orderBy), ent.WithCallbackEventFilter(where.Filter))
}

func (r *Resolver) wallets(ctx context.Context, userID *int64) ([]*ent.Wallet, error) {
	id, err := access.Target(ctx, userID)
	if err != nil {
		return nil, err
	}
	return r.Ledger.Wallets(ctx, id)
}

func (r *Resolver) orderItems(ctx context.Context, o *ent.Order, kind orderitem.Kind) ([]*ent.OrderItem, error) {
	return r.Client.OrderItem.Query().
		Where(orderitem.OrderID(o.ID), orderitem.KindEQ(kind)).
		Order(ent.Asc(orderitem.FieldPosition)).All(ctx)
}

func (r *Resolver) order(ctx context.Context, id *int64, orderNo *string, sync *bool) (*ent.Order, error) {
	q := r.Client.Order.Query()
	switch {
	case id != nil:
		q = q.Where(order.ID(*id))
	case orderNo != nil:
		q = q.Where(order.OrderNo(*orderNo))
	default:
		return nil, apperr.Input("id", "give id or orderNo")
	}
	o, err := r.Payments.Load(ctx, q)
	if err != nil || sync == nil || !*sync || r.Epay == nil {
		return o, err
	}
	return r.syncOrder(ctx, o), nil
}

func (r *Resolver) apps(ctx context.Context, after *entgql.Cursor[int64], first *int, before *entgql.Cursor[int64], last *int, orderBy *ent.AppOrder, where *ent.AppWhereInput) (*ent.AppConnection, error) {
	first, last, err := page(first, last)
	if err != nil {
		return nil, err
	}
	return r.Client.App.Query().Paginate(ctx, after, first, before, last, ent.WithAppOrder(orderBy), ent.WithAppFilter(where.Filter))
}

func (r *Resolver) users(ctx context.Context, after *entgql.Cursor[int64], first *int, before *entgql.Cursor[int64], last *int, orderBy *ent.UserOrder, where *ent.UserWhereInput) (*ent.UserConnection, error) {
	first, last, err := page(first, last)
	if err != nil {
		return nil, err
	}
	return r.Client.User.Query().Paginate(ctx, after, first, before, last, ent.WithUserOrder(orderBy), ent.WithUserFilter(where.Filter))
}
