package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/payment"
)

// syncStore keeps, for one operation, what order(sync: true) learned from
// the gateway, so that the order's providerInfo and synced fields can show
// it.
type syncStore struct {
	mu sync.Mutex
	m  map[int64]*payment.ProviderInfo
}

type syncKey struct{}

// withSyncStore gives each operation its own store.
func withSyncStore(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(context.WithValue(ctx, syncKey{}, &syncStore{m: map[int64]*payment.ProviderInfo{}}))
}

// syncedInfo is what this operation learned about an order, or nil.
func syncedInfo(ctx context.Context, orderID int64) *payment.ProviderInfo {
	s, _ := ctx.Value(syncKey{}).(*syncStore)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[orderID]
}

// syncOrder re-queries the gateway about o. A gateway that cannot be asked
// leaves the order as read, with synced false.
func (r *Resolver) syncOrder(ctx context.Context, o *ent.Order) *ent.Order {
	cur, info, err := r.Epay.Sync(ctx, o)
	if err != nil {
		r.Epay.Log.WarnContext(ctx, "order sync with the gateway failed", "order_id", o.ID, "err", err)
	}
	if info != nil {
		if s, _ := ctx.Value(syncKey{}).(*syncStore); s != nil {
			s.mu.Lock()
			s.m[cur.ID] = info
			s.mu.Unlock()
		}
	}
	return cur
}
