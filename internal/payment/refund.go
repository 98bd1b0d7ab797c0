package payment

import (
	"context"
	"fmt"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/txn"
)

// RefundHandler decides refunds of one order type: each flow (app store,
// escrow deals, …) registers its own, and approveRefund / rejectRefund
// dispatch to it by the order's type.
type RefundHandler interface {
	// Approve gives the money back and moves the order to REFUNDED.
	Approve(ctx context.Context, o *ent.Order) (*ent.Order, error)
	// Reject moves the order to REFUND_REJECTED with the reason.
	Reject(ctx context.Context, o *ent.Order, reason string) (*ent.Order, error)
}

// ErrNoRefunds is returned for an order type that has no refunds.
var ErrNoRefunds = apperr.New(apperr.InvalidTransition, "orders of this type cannot be refunded")

func (s *Service) refundHandler(ctx context.Context, orderID int64) (*ent.Order, RefundHandler, error) {
	o, err := s.Load(ctx, s.Client.Order.Query().Where(order.ID(orderID)))
	if err != nil {
		return nil, nil, err
	}
	h := s.Refunds[o.Type]
	if h == nil {
		return nil, nil, ErrNoRefunds
	}
	return o, h, nil
}

// ApproveRefund approves a refund of an order the caller may see; the
// order type's handler checks who may approve and moves the money.
//
// Errors: ErrOrderNotFound, FORBIDDEN, ErrNoRefunds, the handler's errors.
func (s *Service) ApproveRefund(ctx context.Context, orderID int64) (*ent.Order, error) {
	o, h, err := s.refundHandler(ctx, orderID)
	if err != nil {
		return nil, err
	}
	return h.Approve(ctx, o)
}

// RejectRefund rejects a refund request with a reason.
//
// Errors: as ApproveRefund, and BAD_USER_INPUT for an empty reason.
func (s *Service) RejectRefund(ctx context.Context, orderID int64, reason string) (*ent.Order, error) {
	if reason == "" || len([]rune(reason)) > 255 {
		return nil, apperr.Input("reason", "reason must be 1 to 255 characters")
	}
	o, h, err := s.refundHandler(ctx, orderID)
	if err != nil {
		return nil, err
	}
	return h.Reject(ctx, o, reason)
}

// SettleRecharge is the OnPaid of RECHARGE orders (the app store and the escrow marketplace): the
// money a provider collected enters the payer's wallet from the outside
// world account named after the order's channel.
func (s *Service) SettleRecharge(ctx context.Context, tx *txn.Tx, o *ent.Order) (*ent.Order, error) {
	world := o.Channel
	if world == "" {
		world = "provider"
	}
	if _, err := s.Ledger.Post(ctx, tx, ledger.Journal{
		Asset: o.Asset, Kind: "RECHARGE", OrderID: o.ID,
		Postings: []ledger.Posting{
			{World: world, Bucket: ledger.World, Amount: -o.Amount},
			{UserID: o.PayerID, Bucket: ledger.Available, Amount: o.Amount},
		},
	}); err != nil {
		return nil, fmt.Errorf("crediting recharge %d: %w", o.ID, err)
	}
	return o, nil
}

// RefundRequester is implemented by the refund handlers of flows that add
// their own conditions to a refund request (a channel, a refund window,
// who may ask).
type RefundRequester interface {
	MayRequest(ctx context.Context, o *ent.Order) error
}

// RequestRefund asks for a refund of a paid order of any type that has
// refunds: REFUND_REQUESTED, until whoever decides that type's refunds
// approves or rejects it (approveRefund / rejectRefund). The documented
// requestReturn (app store, points) and applyRefund (escrow marketplace)
// are this same request.
//
// Who: the payer, the SERVICE of the order's app (for its payer), an ADMIN.
//
// Errors: BAD_USER_INPUT (reason), ErrOrderNotFound, FORBIDDEN,
// ErrNoRefunds, INVALID_TRANSITION, the handler's MayRequest errors.
func (s *Service) RequestRefund(ctx context.Context, orderID int64, reason string) (*ent.Order, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	o, err := s.Load(ctx, s.Client.Order.Query().Where(order.ID(orderID)))
	if err != nil {
		return nil, err
	}
	return s.RequestRefundOf(ctx, o, reason)
}

// RequestRefundOf is RequestRefund of an order already loaded (by a
// flow's own order number).
func (s *Service) RequestRefundOf(ctx context.Context, o *ent.Order, reason string) (*ent.Order, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	h := s.Refunds[o.Type]
	if h == nil {
		return nil, ErrNoRefunds
	}
	if r, ok := h.(RefundRequester); ok {
		if err := r.MayRequest(ctx, o); err != nil {
			return nil, err
		}
	}
	if err := mayActAsPayer(ctx, o); err != nil {
		return nil, err
	}
	var out *ent.Order
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		out, err = s.Transition(ctx, tx, o, RefundRequested, Actor(ctx), reason, Changes{RefundReason: &reason})
		return err
	})
	return out, err
}
