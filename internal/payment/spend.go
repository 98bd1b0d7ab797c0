package payment

import (
	"context"

	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
)

// Spender says who may move a user's money in a flow. The rule of contract §2: money leaves a user's wallet, and money
// held for a user is released, only on that user's own request or an
// ADMIN's. A SERVICE creates orders for users and reads its own app's
// orders; it never spends for a user, not even on its own app's orders.
type Spender int

// The spenders.
const (
	// OwnerOnly is the owner's own USER token: the move needs a secret
	// only the owner has (a second factor, the pay password).
	OwnerOnly Spender = iota
	// OwnerOrAdmin is the owner, or an ADMIN acting for the owner (the
	// order's history names the admin).
	OwnerOrAdmin
)

// Refusals of MaySpend.
var (
	ErrServiceSpends = apperr.New(apperr.Forbidden,
		"a SERVICE may create orders for a user but never moves a user's money: the user (or an admin) does")
	ErrAdminSpends = apperr.New(apperr.Forbidden,
		"only the user may do this: it needs the user's own second factor or pay password")
)

// MaySpend is the one check, made by every service method that takes money
// out of a user's wallet or releases money held for one, that the caller may
// move ownerID's money. notOwner is the refusal for another USER (the flow's
// own wording: not the payer, not the buyer, …).
//
// Errors: UNAUTHENTICATED, ErrServiceSpends, ErrAdminSpends, notOwner (all
// FORBIDDEN but the first).
func MaySpend(ctx context.Context, ownerID int64, who Spender, notOwner error) (auth.Principal, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return p, err
	}
	switch p.Role {
	case role.User:
		if p.Subject == ownerID {
			return p, nil
		}
		return p, notOwner
	case role.Admin:
		if who == OwnerOrAdmin {
			return p, nil
		}
		return p, ErrAdminSpends
	}
	return p, ErrServiceSpends
}
