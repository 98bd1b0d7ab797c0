package payment

import (
	"context"
	"fmt"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/txn"
)

// Outcome is what a provider says happened to a payment.
type Outcome string

// The outcomes a provider callback may report.
const (
	OutcomePaid   Outcome = "PAID"
	OutcomeFailed Outcome = "FAILED"
	// OutcomeRefunded: the provider gave the money back (Ping++
	// refund.succeeded); the order type's OnRefunded hook applies it.
	OutcomeRefunded Outcome = "REFUNDED"
)

// Notice is a verified provider callback about one of our orders.
type Notice struct {
	Provider string
	// OrderNo is our order number as the provider echoes it.
	OrderNo string
	// ProviderTradeNo is the provider's own number for the payment.
	ProviderTradeNo string
	// Amount is what the provider says was paid (or, for a refund, given
	// back), in major units.
	Amount  money.Decimal
	Outcome Outcome
	// Description is the provider's copy of the description we gave a
	// refund (Ping++), which starts with our refund number.
	Description string
	// OpenedTrade says the provider opens ProviderTradeNo at our request
	// (an epay trade, a Ping++ charge) before it is paid: then an order
	// that was handed a trade may be moved only by a notice of that trade.
	// A provider that numbers a payment only when it is made (the game
	// provider) leaves it false.
	OpenedTrade bool
}

// Result says what applying a notice did.
type Result string

// Results of ApplyNotice.
const (
	// Applied: the order moved forward.
	Applied Result = "APPLIED"
	// AlreadyApplied: the order was already there; nothing changed.
	AlreadyApplied Result = "DUPLICATE"
	// NeedsRefund: money arrived for an order that can no longer be paid
	// (cancelled, expired, failed); nothing changed, an admin must refund.
	NeedsRefund Result = "NEEDS_REFUND"
)

// OnPaid settles an order of one type once its payment has arrived (points
// credited, a recharge put in the wallet, …). It runs in the transaction
// that marks the order PAID.
type OnPaid func(ctx context.Context, tx *txn.Tx, o *ent.Order) (*ent.Order, error)

// OnRefunded applies a provider's confirmation of a refund to an order of
// one type, in the callback's transaction. It returns AlreadyApplied for a
// refund it has already applied.
type OnRefunded func(ctx context.Context, tx *txn.Tx, o *ent.Order, n Notice) (*ent.Order, Result, error)

// Errors of ApplyNotice.
var (
	ErrNoticeAmount = apperr.New(apperr.AmountMismatch, "the notified amount differs from the order amount")
)

// handedTo is the one rule of which orders a provider's callback may move:
// an order handed to that provider (its channel is the provider's), and,
// where the provider opened a trade for the order, by that trade. A
// signed notice about any other order — paid from a wallet, a withdrawal,
// another provider's — is refused and changes nothing, however valid its
// signature.
//
// Errors: FORBIDDEN.
func handedTo(o *ent.Order, n Notice) error {
	if o.Channel != n.Provider {
		return apperr.New(apperr.Forbidden, "order %s was not handed to %s (its channel is %q)", o.OrderNo, n.Provider, o.Channel)
	}
	if n.OpenedTrade && n.Outcome != OutcomeRefunded && o.ProviderTradeNo != "" && n.ProviderTradeNo != o.ProviderTradeNo {
		return apperr.New(apperr.Forbidden, "trade %q is not the trade %s opened for order %s", n.ProviderTradeNo, n.Provider, o.OrderNo)
	}
	return nil
}

// ApplyNotice moves an order forward on a verified provider callback, in
// tx. Only forward moves happen: a notice for an order already past it is
// AlreadyApplied, a payment for an order that can no longer be paid (or a
// second payment, under another provider trade number, of an order already
// paid) is NeedsRefund.
//
// Errors: ErrOrderNotFound, FORBIDDEN (the order was not handed to that
// provider by that trade: handedTo), ErrNoticeAmount; all leave the order
// as it was.
func (s *Service) ApplyNotice(ctx context.Context, tx *txn.Tx, n Notice) (*ent.Order, Result, error) {
	o, err := tx.Order.Query().Where(order.OrderNo(n.OrderNo)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, "", ErrOrderNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("finding order %q: %w", n.OrderNo, err)
	}
	if err := handedTo(o, n); err != nil {
		return o, "", err
	}
	asset, err := s.Ledger.Assets().Get("asset", o.Asset)
	if err != nil {
		return nil, "", err
	}
	amount, err := asset.Minor(n.Amount)
	if n.Outcome == OutcomeRefunded {
		// A refund may be a part: at most the order's amount, and the
		// order type's hook checks it is the refund it asked for.
		if err != nil || amount <= 0 || amount > o.Amount {
			return o, "", ErrNoticeAmount
		}
		h := s.OnRefunded[o.Type]
		if h == nil {
			return o, "", ErrNoRefunds
		}
		return h(ctx, tx, o, n)
	}
	if err != nil || amount != o.Amount {
		return o, "", ErrNoticeAmount
	}
	actor := "callback:" + n.Provider
	switch {
	case n.Outcome == OutcomeFailed && Unpaid(o.Status):
		o, err = s.Transition(ctx, tx, o, Failed, actor, "provider reported failure", Changes{})
		return o, Applied, err
	case n.Outcome == OutcomeFailed:
		return o, AlreadyApplied, nil
	case !Unpaid(o.Status) && o.Status != Failed && o.Status != Expired && o.Status != Cancelled:
		if o.ProviderTradeNo != "" && n.ProviderTradeNo != "" && o.ProviderTradeNo != n.ProviderTradeNo {
			// A second, different payment for an order already paid: the
			// buyer paid twice and the second payment must be given back.
			return o, NeedsRefund, nil
		}
		return o, AlreadyApplied, nil // paid already, by this notice or another path
	case !Unpaid(o.Status):
		return o, NeedsRefund, nil
	}
	now := s.Clock.Now()
	ch := Changes{PaidAt: &now}
	if n.ProviderTradeNo != "" {
		ch.ProviderTradeNo = &n.ProviderTradeNo
	}
	o, err = s.Transition(ctx, tx, o, Paid, actor, "provider confirmed payment", ch)
	if err != nil {
		return nil, "", err
	}
	if settle := s.OnPaid[o.Type]; settle != nil {
		if o, err = settle(ctx, tx, o); err != nil {
			return nil, "", err
		}
	}
	return o, Applied, nil
}
