package payment

import (
	"context"
	"fmt"
	"strings"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/txn"
)

// RefundHandler decides refunds of one order type: each flow (app store,
// escrow deals, …) registers its own, and approveRefund / rejectRefund
// dispatch to it by the order's type.
type RefundHandler interface {
	// Approve gives r.Amount back and records it with SettleRefund: the
	// order becomes REFUNDED when r is Whole, else keeps its status.
	Approve(ctx context.Context, o *ent.Order, r Refund) (*ent.Order, error)
	// Reject moves the order to REFUND_REJECTED with the reason.
	Reject(ctx context.Context, o *ent.Order, reason string) (*ent.Order, error)
}

// Refund is one approved refund for a handler to carry out.
type Refund struct {
	// Amount is what goes back, in minor units of the order's asset.
	Amount int64
	// Whole says Amount is all that is left: the order becomes REFUNDED.
	Whole bool
	// Seq numbers the order's refunds (1, 2, …), for the per-refund number
	// a provider deduplicates retries by.
	Seq int
}

// RefundDecider is implemented by every refund handler: it checks that
// the caller decides o's refunds, before anything about the amount or the
// status is said (rejecting a waiting partial request goes through it).
type RefundDecider interface {
	MayDecide(ctx context.Context, o *ent.Order) error
}

// PartialRefunder is implemented by the refund handlers of order types
// that may be refunded in parts (an amount below what is left, several
// times); the others are refunded whole only.
type PartialRefunder interface {
	// MayRefundPart returns nil if o may be refunded in parts, or an
	// error saying why not (a gateway with no partial refunds).
	MayRefundPart(o *ent.Order) error
}

// RefundsUnderWay is implemented by the refund handlers whose approved
// refunds may still be under way at a provider: a waiting partial request
// is not rejected while its approved refund is being made.
type RefundsUnderWay interface {
	// UnderWay returns an error if a refund of o is under way, inside tx
	// (which holds o's row lock).
	UnderWay(ctx context.Context, tx *txn.Tx, o *ent.Order) error
}

// ErrNoRefunds is returned for an order type that has no refunds.
var ErrNoRefunds = apperr.New(apperr.InvalidTransition, "orders of this type cannot be refunded")

// wholeOnly refuses an amount for an order refunded whole only.
func wholeOnly(why string) error {
	return apperr.Input("amount", "%s are refunded whole only: leave the amount out", why)
}

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

// mayRefundPart returns nil if h refunds o in parts.
func mayRefundPart(h RefundHandler, o *ent.Order) error {
	p, ok := h.(PartialRefunder)
	if !ok {
		return wholeOnly(strings.ToLower(string(o.Type)) + " orders")
	}
	return p.MayRefundPart(o)
}

// refundAmount converts a client's refund amount of o to minor units:
// greater than zero, within the asset's scale, at most what is left.
func (s *Service) refundAmount(o *ent.Order, d money.Decimal) (int64, error) {
	a, err := s.Ledger.Assets().Get("amount", o.Asset)
	if err != nil {
		return 0, err
	}
	x, err := a.Minor(d)
	if err != nil {
		return 0, apperr.Input("amount", "%s", err)
	}
	if x <= 0 {
		return 0, apperr.Input("amount", "a refund must be greater than zero")
	}
	if left := o.Amount - o.RefundedAmount; x > left {
		return 0, apperr.Input("amount", "%s %s is more than is left to refund (%s of %s %s refunded so far)",
			a.Decimal(x), o.Asset, a.Decimal(o.RefundedAmount), a.Decimal(o.Amount), o.Asset)
	}
	return x, nil
}

// ApproveRefundInput is the input of approveRefund.
type ApproveRefundInput struct {
	OrderID int64
	// Amount is nil for the waiting partial request's amount, else all
	// that is left.
	Amount         *money.Decimal
	IdempotencyKey *string `json:"-"`
}

// approval decides what an approval of o refunds, before anything moves.
func (s *Service) approval(o *ent.Order, h RefundHandler, amount *money.Decimal) (Refund, error) {
	left := o.Amount - o.RefundedAmount
	if left <= 0 || !refundable(o.Status) && o.Status != RefundRequested {
		return Refund{}, InvalidTransition(o.Status, Refunded)
	}
	asked := o.RefundRequestedAmount != nil && o.Status != RefundRequested
	x := left
	switch {
	case amount != nil:
		var err error
		if x, err = s.refundAmount(o, *amount); err != nil {
			return Refund{}, err
		}
		if asked && x > *o.RefundRequestedAmount {
			return Refund{}, apperr.Input("amount", "the payer asked for %s %s; approve at most that",
				s.Ledger.Assets().Format(o.Asset, *o.RefundRequestedAmount), o.Asset)
		}
	case asked:
		x = min(*o.RefundRequestedAmount, left)
	}
	r := Refund{Amount: x, Whole: x == left, Seq: s.refundSeq(o)}
	switch {
	case o.Status == RefundRequested && !r.Whole:
		return Refund{}, apperr.Input("amount", "the payer asked for all that is left (%s %s): approve it whole or reject it",
			s.Ledger.Assets().Format(o.Asset, left), o.Asset)
	case !asked && o.Status != RefundRequested:
		// A refund nobody asked for: from PAID only, as the status
		// machine allows REFUNDED from PAID.
		if err := CanTransition(o.Status, Refunded); err != nil {
			return Refund{}, err
		}
	}
	if !r.Whole {
		if err := mayRefundPart(h, o); err != nil {
			return Refund{}, err
		}
	}
	return r, nil
}

// refundSeq is the number of the next refund of o: a partial refund is
// a step with from = to, and refunds are the only such steps besides
// requests and rejections, so the step number is unique per refund.
func (s *Service) refundSeq(o *ent.Order) int { return o.EventSeq + 1 }

// refundable reports whether an order in status st may be asked to
// refund (REFUND_REQUESTED is reachable from it).
func refundable(st Status) bool { return CanTransition(st, RefundRequested) == nil }

type markKey struct{}

// SettleRefund records, inside tx, a refund a handler made: a partial one
// is a step that keeps the order's status and grows refundedAmount; a
// whole one moves the order to REFUNDED, through REFUND_REQUESTED when the
// payer had asked for a partial refund from a status that cannot go to
// REFUNDED directly (COMPLETED, DELIVERY_FAILED). Either way a waiting
// partial request is dropped, and the caller's idempotency key completes
// in tx. refundedAmount grows conditionally (Changes.Refund): a refund
// that no longer fits is BAD_USER_INPUT and the caller's tx rolls back.
func (s *Service) SettleRefund(ctx context.Context, tx *txn.Tx, o *ent.Order, r Refund, actor, reason string) (*ent.Order, error) {
	// Whether this refund completes the whole is decided on the order as
	// it is now: another refund may have been made since o was read. The
	// no-op update takes the order's row lock first (PostgreSQL; SQLite's
	// transactions are serial anyway), so concurrent refunds of one order
	// queue here instead of retrying their steps.
	if err := tx.Order.Update().Where(order.ID(o.ID)).SetUpdatedAt(s.Clock.Now()).Exec(ctx); err != nil {
		return nil, fmt.Errorf("locking order %d: %w", o.ID, err)
	}
	o, err := tx.Order.Get(ctx, o.ID)
	if err != nil {
		return nil, fmt.Errorf("re-reading order: %w", err)
	}
	if left := o.Amount - o.RefundedAmount; r.Amount > left {
		return nil, errRefundExceeds(s, o)
	}
	r.Whole = r.Amount == o.Amount-o.RefundedAmount
	ch := Changes{Refund: r.Amount, ClearRefundRequest: o.RefundRequestedAmount != nil}
	var out *ent.Order
	switch {
	case !r.Whole:
		a := s.Ledger.Assets()
		why := fmt.Sprintf("partial refund of %s %s (%s of %s refunded)", a.Format(o.Asset, r.Amount), o.Asset,
			a.Format(o.Asset, o.RefundedAmount+r.Amount), a.Format(o.Asset, o.Amount))
		if reason != "" {
			why += ": " + reason
		}
		if out, err = s.Step(ctx, tx, o, actor, why, ch); err == nil && out.RefundedAmount == out.Amount {
			// A concurrent refund committed between the read and the step
			// (PostgreSQL): this one took the rest after all.
			out, err = s.finishWhole(ctx, tx, out, actor, reason, Changes{})
		}
	default:
		out, err = s.finishWhole(ctx, tx, o, actor, reason, ch)
	}
	if err != nil {
		return nil, err
	}
	if m, ok := ctx.Value(markKey{}).(*refundMark); ok && !m.done {
		if err := m.mark(ctx, tx.Tx, o.ID); err != nil {
			return nil, err
		}
		tx.AfterCommit(func() { m.done = true })
	}
	return out, nil
}

// finishWhole moves o to REFUNDED with ch (the refund that completes
// it), through REFUND_REQUESTED from a status that cannot go to REFUNDED
// directly: only a payer's partial request gets there (approval checks).
func (s *Service) finishWhole(ctx context.Context, tx *txn.Tx, o *ent.Order, actor, reason string, ch Changes) (*ent.Order, error) {
	var err error
	if o.Status != Paid && o.Status != RefundRequested {
		if o, err = s.Transition(ctx, tx, o, RefundRequested, actor, "the rest of a partial refund request", Changes{}); err != nil {
			return nil, err
		}
	}
	return s.Transition(ctx, tx, o, Refunded, actor, reason, ch)
}

type refundMark struct {
	mark idempotency.Mark
	done bool
}

// ApproveRefund approves a refund of an order the caller may see: all
// that is left, or part of it (in.Amount). The order type's handler
// checks who may approve and moves the money. Under an idempotency key
// a retry replays the first result instead of refunding again.
//
// Errors: ErrOrderNotFound, FORBIDDEN, ErrNoRefunds, BAD_USER_INPUT (the
// amount: not above zero, too many decimals, more than is left or than
// the payer asked, a part of an order refunded whole only),
// INVALID_TRANSITION, IDEMPOTENCY_*, the handler's errors.
func (s *Service) ApproveRefund(ctx context.Context, in ApproveRefundInput) (*ent.Order, error) {
	var out *ent.Order
	id, replayed, err := s.Idem.Do(ctx, "approveRefund", in.IdempotencyKey, in, func(mark idempotency.Mark) (int64, error) {
		o, h, err := s.refundHandler(ctx, in.OrderID)
		if err != nil {
			return 0, err
		}
		if d, ok := h.(RefundDecider); ok {
			if err := d.MayDecide(ctx, o); err != nil {
				return 0, err
			}
		}
		r, err := s.approval(o, h, in.Amount)
		if err != nil {
			return 0, err
		}
		m := &refundMark{mark: mark}
		if out, err = h.Approve(context.WithValue(ctx, markKey{}, m), o, r); err != nil {
			return 0, err
		}
		if !m.done {
			// Settled elsewhere (a provider's webhook will): complete the key now.
			if err := s.Tx.Run(ctx, func(tx *txn.Tx) error { return mark(ctx, tx.Tx, o.ID) }); err != nil {
				return 0, err
			}
		}
		return o.ID, nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.Client.Order.Get(ctx, id)
	}
	return out, nil
}

// RejectRefund rejects a refund request with a reason: an order in
// REFUND_REQUESTED becomes REFUND_REJECTED (the handler decides); a
// waiting partial request is dropped and the order keeps its status.
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
	if o.Status == RefundRequested || o.RefundRequestedAmount == nil {
		return h.Reject(ctx, o, reason)
	}
	d, ok := h.(RefundDecider)
	if !ok {
		return h.Reject(ctx, o, reason)
	}
	if err := d.MayDecide(ctx, o); err != nil {
		return nil, err
	}
	var out *ent.Order
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		if u, ok := h.(RefundsUnderWay); ok {
			// The order's row lock first, as a provider refund's claim
			// takes it: the two exclude each other.
			if err := tx.Order.Update().Where(order.ID(o.ID)).SetUpdatedAt(s.Clock.Now()).Exec(ctx); err != nil {
				return fmt.Errorf("locking order %d: %w", o.ID, err)
			}
			if err := u.UnderWay(ctx, tx, o); err != nil {
				return err
			}
		}
		why := fmt.Sprintf("partial refund request of %s %s rejected: %s",
			s.Ledger.Assets().Format(o.Asset, *o.RefundRequestedAmount), o.Asset, reason)
		var err error
		out, err = s.Step(ctx, tx, o, Actor(ctx), why, Changes{ClearRefundRequest: true})
		return err
	})
	return out, err
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
// refunds. For all that is left (amount nil, or equal to it) the order
// becomes REFUND_REQUESTED until whoever decides that type's refunds
// approves or rejects it (approveRefund / rejectRefund). For less (a
// partial refund) the order keeps its status and the amount waits as
// refundRequestedAmount, one request at a time. The documented
// requestReturn (app store, points) and applyRefund (escrow marketplace)
// are this same request.
//
// Who: the payer, the SERVICE of the order's app (for its payer), an ADMIN.
//
// Errors: BAD_USER_INPUT (reason, amount), ErrOrderNotFound, FORBIDDEN,
// ErrNoRefunds, INVALID_TRANSITION (also: a partial request already
// waits), the handler's MayRequest errors.
func (s *Service) RequestRefund(ctx context.Context, orderID int64, reason string, amount *money.Decimal) (*ent.Order, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	o, err := s.Load(ctx, s.Client.Order.Query().Where(order.ID(orderID)))
	if err != nil {
		return nil, err
	}
	return s.RequestRefundOf(ctx, o, reason, amount)
}

// RequestRefundOf is RequestRefund of an order already loaded (by a
// flow's own order number).
func (s *Service) RequestRefundOf(ctx context.Context, o *ent.Order, reason string, amount *money.Decimal) (*ent.Order, error) {
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
	if !refundable(o.Status) {
		return nil, InvalidTransition(o.Status, RefundRequested)
	}
	x := o.Amount - o.RefundedAmount
	if amount != nil {
		var err error
		if x, err = s.refundAmount(o, *amount); err != nil {
			return nil, err
		}
	}
	partial := x < o.Amount-o.RefundedAmount
	if partial {
		if err := mayRefundPart(h, o); err != nil {
			return nil, err
		}
		if o.RefundRequestedAmount != nil {
			return nil, apperr.New(apperr.InvalidTransition, "a partial refund request of %s %s already waits for a decision",
				s.Ledger.Assets().Format(o.Asset, *o.RefundRequestedAmount), o.Asset)
		}
	}
	var out *ent.Order
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		if partial {
			// Under the order's row lock, read again: of concurrent
			// requests one waits, the others are refused.
			if err := tx.Order.Update().Where(order.ID(o.ID)).SetUpdatedAt(s.Clock.Now()).Exec(ctx); err != nil {
				return fmt.Errorf("locking order %d: %w", o.ID, err)
			}
			cur, err := tx.Order.Get(ctx, o.ID)
			if err != nil {
				return fmt.Errorf("re-reading order %d: %w", o.ID, err)
			}
			if cur.RefundRequestedAmount != nil {
				return apperr.New(apperr.InvalidTransition, "a partial refund request of %s %s already waits for a decision",
					s.Ledger.Assets().Format(o.Asset, *cur.RefundRequestedAmount), o.Asset)
			}
			if x >= cur.Amount-cur.RefundedAmount {
				return errRefundExceeds(s, cur)
			}
			why := fmt.Sprintf("partial refund of %s %s requested: %s", s.Ledger.Assets().Format(o.Asset, x), o.Asset, reason)
			out, err = s.Step(ctx, tx, cur, Actor(ctx), why, Changes{RefundReason: &reason, RefundRequested: &x})
			return err
		}
		out, err = s.Transition(ctx, tx, o, RefundRequested, Actor(ctx), reason,
			Changes{RefundReason: &reason, ClearRefundRequest: o.RefundRequestedAmount != nil})
		return err
	})
	return out, err
}
