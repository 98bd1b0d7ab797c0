package graph

import (
	"context"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/ent/callbackevent"
	"github.com/paygraph/paygraph/ent/event"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/orderevent"
	"github.com/paygraph/paygraph/ent/orderitem"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/ent/wallet"
	"github.com/paygraph/paygraph/ent/walletentry"
	"github.com/paygraph/paygraph/ent/webhookdelivery"
	"github.com/paygraph/paygraph/ent/webhookendpoint"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
)

// nodeTables are the tables whose rows node(id) resolves. Ids are unique
// across tables (idgen), so at most one holds an id.
var nodeTables = []string{order.Table, user.Table, wallet.Table, walletentry.Table, orderevent.Table,
	orderitem.Table, callbackevent.Table, app.Table, event.Table, webhookendpoint.Table, webhookdelivery.Table}

var errNodeNotFound = apperr.New(apperr.NotFound, "no node with this id")

// nodeType finds the table holding id with one query.
func (r *Resolver) nodeType(ctx context.Context, id int64) (string, error) {
	arg := "?1"
	if r.Dialect == dialect.Postgres {
		arg = "$1"
	}
	parts := make([]string, len(nodeTables))
	for i, t := range nodeTables {
		parts[i] = fmt.Sprintf("SELECT '%s' FROM %s WHERE id = %s", t, t, arg)
	}
	rows, err := r.Client.QueryContext(ctx, strings.Join(parts, " UNION ALL ")+" LIMIT 1", id)
	if err != nil {
		return "", fmt.Errorf("finding node %d: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", err
		}
		return "", errNodeNotFound
	}
	var table string
	if err := rows.Scan(&table); err != nil {
		return "", err
	}
	return table, rows.Err()
}

// node resolves an id the caller may see. An id the caller may not see is
// answered as one that does not exist, so scanning ids tells nothing.
func (r *Resolver) node(ctx context.Context, id int64) (ent.Noder, error) {
	n, err := r.Client.Noder(ctx, id, ent.WithNodeType(r.nodeType))
	if err != nil {
		if ent.IsNotFound(err) || apperr.CodeOf(err) == apperr.NotFound {
			return nil, errNodeNotFound
		}
		return nil, err
	}
	if err := access.CanView(ctx, n); err != nil {
		if apperr.CodeOf(err) == apperr.Forbidden {
			return nil, errNodeNotFound
		}
		return nil, err
	}
	return n, nil
}

// nodes resolves up to a page of ids, each under the same rule: an id that
// does not resolve gives null and an error naming its index; the others
// are answered.
func (r *Resolver) nodes(ctx context.Context, ids []int64) ([]ent.Noder, error) {
	if len(ids) > maxPage {
		return nil, apperr.Input("ids", "at most %d ids", maxPage)
	}
	out := make([]ent.Noder, len(ids))
	for i, id := range ids {
		n, err := r.node(ctx, id)
		if err != nil {
			if apperr.CodeOf(err) == apperr.Internal {
				return nil, err
			}
			addIndexError(ctx, i, err)
			continue
		}
		out[i] = n
	}
	return out, nil
}
