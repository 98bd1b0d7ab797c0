// Package access decides which entities a caller may read. Node lookups,
// connections and services go through it, so the rule for each kind of
// entity lives here once.
package access

import (
	"context"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/predicate"
	"github.com/paygraph/paygraph/ent/wallet"
	"github.com/paygraph/paygraph/ent/walletentry"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
)

// CanView returns nil if the caller may read v, and UNAUTHENTICATED or
// FORBIDDEN otherwise.
func CanView(ctx context.Context, v any) error {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return err
	}
	if p.Role == role.Admin {
		return nil
	}
	ok := false
	switch n := v.(type) {
	case *ent.User:
		return auth.ActFor(ctx, n.ID)
	case *ent.App:
		ok = p.Role == role.Service && p.AppID == n.ID
	case *ent.Order:
		ok = p.Role == role.Service && n.AppID == p.AppID ||
			p.Role == role.User && (n.PayerID == p.Subject || n.PayeeID == p.Subject)
	case *ent.OrderEvent:
		o, err := n.Order(ctx)
		if err != nil {
			return err
		}
		return CanView(ctx, o)
	case *ent.OrderItem:
		o, err := n.QueryOrder().Only(ctx)
		if err != nil {
			return err
		}
		return CanView(ctx, o)
	case *ent.Wallet:
		return auth.ActFor(ctx, n.UserID)
	case *ent.WalletEntry:
		if n.WalletID == 0 {
			return auth.ErrForbidden // outside-world postings are for admins
		}
		w, err := n.Wallet(ctx)
		if err != nil {
			return err
		}
		return auth.ActFor(ctx, w.UserID)
	}
	if !ok {
		return auth.ErrForbidden
	}
	return nil
}

// Orders is the same rule as a query filter: a USER sees the orders it pays
// or is paid by, a SERVICE its app's, an ADMIN all.
func Orders(p auth.Principal) predicate.Order {
	switch p.Role {
	case role.Admin:
		return order.IDGT(0)
	case role.Service:
		return order.AppID(p.AppID)
	}
	return order.Or(order.PayerID(p.Subject), order.PayeeID(p.Subject))
}

// WalletEntries filters postings to those of userID's wallets.
func WalletEntries(userID int64) predicate.WalletEntry {
	return walletentry.HasWalletWith(wallet.UserID(userID))
}
