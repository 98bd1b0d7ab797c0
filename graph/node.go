package graph

import (
	"context"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/ent/callbackevent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/orderevent"
	"github.com/paygraph/paygraph/ent/orderitem"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/ent/wallet"
	"github.com/paygraph/paygraph/ent/walletentry"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
)

type nodeTable struct {
	table  string
	exists func(context.Context, int64) (bool, error)
}

// nodeTables lists, for node(id), how to tell which table holds an id. Ids
// are unique across tables (idgen), so at most one answers; the likeliest
// tables come first.
func (r *Resolver) nodeTables() []nodeTable {
	c := r.Client
	return []nodeTable{
		{order.Table, func(ctx context.Context, id int64) (bool, error) {
			return c.Order.Query().Where(order.ID(id)).Exist(ctx)
		}},
		{user.Table, func(ctx context.Context, id int64) (bool, error) { return c.User.Query().Where(user.ID(id)).Exist(ctx) }},
		{wallet.Table, func(ctx context.Context, id int64) (bool, error) {
			return c.Wallet.Query().Where(wallet.ID(id)).Exist(ctx)
		}},
		{walletentry.Table, func(ctx context.Context, id int64) (bool, error) {
			return c.WalletEntry.Query().Where(walletentry.ID(id)).Exist(ctx)
		}},
		{orderevent.Table, func(ctx context.Context, id int64) (bool, error) {
			return c.OrderEvent.Query().Where(orderevent.ID(id)).Exist(ctx)
		}},
		{orderitem.Table, func(ctx context.Context, id int64) (bool, error) {
			return c.OrderItem.Query().Where(orderitem.ID(id)).Exist(ctx)
		}},
		{callbackevent.Table, func(ctx context.Context, id int64) (bool, error) {
			return c.CallbackEvent.Query().Where(callbackevent.ID(id)).Exist(ctx)
		}},
		{app.Table, func(ctx context.Context, id int64) (bool, error) { return c.App.Query().Where(app.ID(id)).Exist(ctx) }},
	}
}

var errNodeNotFound = apperr.New(apperr.NotFound, "no node with this id")

func (r *Resolver) nodeType(ctx context.Context, id int64) (string, error) {
	for _, t := range r.nodeTables() {
		ok, err := t.exists(ctx, id)
		if err != nil {
			return "", err
		}
		if ok {
			return t.table, nil
		}
	}
	return "", errNodeNotFound
}

func (r *Resolver) node(ctx context.Context, id int64) (ent.Noder, error) {
	n, err := r.Client.Noder(ctx, id, ent.WithNodeType(r.nodeType))
	if err != nil {
		if ent.IsNotFound(err) {
			return nil, errNodeNotFound
		}
		return nil, err
	}
	if err := access.CanView(ctx, n); err != nil {
		return nil, err
	}
	return n, nil
}

// nodes resolves up to a page of ids, each under the same visibility rule.
func (r *Resolver) nodes(ctx context.Context, ids []int64) ([]ent.Noder, error) {
	if len(ids) > maxPage {
		return nil, apperr.Input("ids", "at most %d ids", maxPage)
	}
	out := make([]ent.Noder, len(ids))
	for i, id := range ids {
		n, err := r.node(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}
