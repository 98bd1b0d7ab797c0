package graph

import (
	"context"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
)

// nodeTables lists, for node(id), how to tell which table holds an id. Ids
// are unique across tables (idgen), so at most one answers.
func (r *Resolver) nodeTables() []struct {
	table  string
	exists func(context.Context, int64) (bool, error)
} {
	c := r.Client
	return []struct {
		table  string
		exists func(context.Context, int64) (bool, error)
	}{
		{user.Table, func(ctx context.Context, id int64) (bool, error) { return c.User.Query().Where(user.ID(id)).Exist(ctx) }},
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
