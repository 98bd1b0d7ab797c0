package payment

import (
	"context"
	"fmt"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/txn"
)

// CancelOrderInput names the order to cancel by its number and payer.
type CancelOrderInput struct {
	UserID int64
	Order  string
}

// ErrWithdrawalNotCancellable refuses cancelling a withdrawal: its money is
// held for an ADMIN's decision (completeWithdrawal / rejectWithdrawal).
var ErrWithdrawalNotCancellable = apperr.New(apperr.InvalidTransition,
	"a withdrawal is not cancelled: an ADMIN completes or rejects it (rejectWithdrawal gives the money back)")

// CancelOrder cancels an unpaid order (PENDING or PROCESSING) of any type
// but WITHDRAWAL: no money has moved, so none moves back. A paid order is
// INVALID_TRANSITION (a payment that arrives after the cancel is kept for
// refund by the callback shim, NEEDS_REFUND); an order already cancelled is
// returned unchanged, so a retried cancel succeeds, and so does the loser
// of two cancels at once.
//
// Who: the payer, the SERVICE of the order's app, an ADMIN (the order must
// be one the caller sees, of payer in.UserID).
//
// Errors: ErrOrderNotFound, INVALID_TRANSITION, ErrWithdrawalNotCancellable,
// UNAUTHENTICATED/FORBIDDEN.
func (s *Service) CancelOrder(ctx context.Context, in CancelOrderInput) (*ent.Order, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if err := auth.ActFor(ctx, in.UserID); err != nil {
		return nil, err
	}
	o, err := s.Client.Order.Query().
		Where(access.Orders(p), order.OrderNo(in.Order), order.PayerID(in.UserID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrOrderNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading order %q: %w", in.Order, err)
	}
	if o.Type == order.TypeWITHDRAWAL {
		return nil, ErrWithdrawalNotCancellable
	}
	if o.Status == Cancelled {
		return o, nil
	}
	var done *ent.Order
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		d, err := s.Transition(ctx, tx, o, Cancelled, Actor(ctx), "cancelled", Changes{})
		done = d
		return err
	})
	if apperr.CodeOf(err) == apperr.InvalidTransition {
		// Moved meanwhile: cancelled by a concurrent call is the answer a
		// retry would get; paid (or expired) stays the refusal.
		cur, rerr := s.Client.Order.Get(ctx, o.ID)
		if rerr != nil {
			return nil, fmt.Errorf("re-reading order %d: %w", o.ID, rerr)
		}
		if cur.Status == Cancelled {
			return cur, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return done, nil
}
