package escrow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/dealrefund"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/provider/pingpp"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// ApplyRefund is the buyer's refund request (an admin may ask for the
// buyer): from a paid deal whose money is in escrow, or from a confirmed
// one within the refund window. The seller or an admin then decides with
// approveRefund / rejectRefund; until then the deal is not auto-confirmed.
//
// Errors: ErrOrderNotFound, ErrNotBuyer, BAD_USER_INPUT, INVALID_TRANSITION
// (including a window that has closed).
func (s *Service) ApplyRefund(ctx context.Context, orderID int64, reason string) (*ent.Order, error) {
	reason, err := text("reason", reason, 1, 255)
	if err != nil {
		return nil, err
	}
	o, err := s.order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Type != order.TypeDEAL {
		return nil, errWrongType("applyRefund", "DEAL")
	}
	return s.Payments.RequestRefundOf(ctx, o, reason, nil)
}

// MayRequest admits a deal's refund request from its buyer (or an ADMIN),
// up to RefundWindow after confirmation.
func (r Refunds) MayRequest(ctx context.Context, o *ent.Order) error {
	p, err := auth.Require(ctx, role.User, role.Admin)
	if err != nil {
		return err
	}
	if p.Role == role.User && o.PayerID != p.Subject {
		return ErrNotBuyer
	}
	if o.Status == payment.Completed && o.CompletedAt != nil && !r.S.Clock.Now().Before(o.CompletedAt.Add(r.S.RefundWindow)) {
		return apperr.New(apperr.InvalidTransition, "refunds may be asked up to %s after confirmation; this deal was confirmed at %s",
			r.S.RefundWindow, o.CompletedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Refunds is the payment.RefundHandler of DEAL orders. Deals are
// refunded whole only (it implements no payment.PartialRefunder): a deal
// buys one service; a refund undoes the deal, and what is in escrow is
// either the buyer's again or the seller's, never split by a refund.
// A buyer and seller who agree on less settle by confirming the deal and
// a new one, not by a refund.
type Refunds struct{ S *Service }

// MayDecide: the seller or an ADMIN (decider).
func (r Refunds) MayDecide(ctx context.Context, o *ent.Order) error { return r.S.decider(ctx, o) }

// source says where a deal's money is: still in escrow, or with the seller.
func source(o *ent.Order) dealrefund.Source {
	if o.CompletedAt != nil {
		return dealrefund.SourceSELLER
	}
	return dealrefund.SourceESCROW
}

// takeBack is the posting that takes the deal's money from where it is.
func takeBack(o *ent.Order, src dealrefund.Source) ledger.Posting {
	if src == dealrefund.SourceSELLER {
		return ledger.Posting{UserID: o.PayeeID, Bucket: ledger.Available, Amount: -o.Amount, Withdrawable: -o.Amount}
	}
	return ledger.Posting{UserID: o.PayeeID, Bucket: ledger.Escrow, Amount: -o.Amount}
}

// decider checks that the caller may decide a deal's refund request: the
// seller, whose escrow or earnings it is, or an ADMIN (payment.OwnerOrAdmin).
// The buyer asked; a SERVICE never decides.
func (s *Service) decider(ctx context.Context, o *ent.Order) error {
	_, err := payment.MaySpend(ctx, o.PayeeID, payment.OwnerOrAdmin, ErrNotSeller)
	return err
}

// decide records the decision on o's refund request; a second decision
// (or one while a Ping++ refund is under way) is refused.
func decide(ctx context.Context, tx *txn.Tx, o *ent.Order, state dealrefund.State, src dealrefund.Source) error {
	err := tx.DealRefund.Create().SetOrderID(o.ID).SetState(state).SetSource(src).SetAmount(o.Amount).Exec(ctx)
	if ent.IsConstraintError(err) {
		return ErrInFlight
	}
	if err != nil {
		return fmt.Errorf("recording refund decision of order %d: %w", o.ID, err)
	}
	return nil
}

var errSellerShort = apperr.New(apperr.InsufficientFunds,
	"the seller no longer holds this deal's earnings (withdrawn); the refund cannot be taken back from the seller's balance").WithLegacy(10)

// Approve gives the buyer's money back. A deal paid from the wallet is
// refunded at once into the buyer's available balance; one paid through
// Ping++ is refunded through Ping++, and becomes REFUNDED when Ping++
// confirms (at once in the sandbox, otherwise by the refund.succeeded
// webhook). The money comes from escrow, or from the seller's withdrawable
// balance if the deal was already confirmed.
//
// Who: the seller or an ADMIN (decider): the money comes out of the
// seller's escrow or balance.
//
// Errors: FORBIDDEN (neither the seller nor an admin), INVALID_TRANSITION,
// INSUFFICIENT_FUNDS (the seller withdrew the earnings), ErrInFlight,
// PROVIDER_ERROR.
func (r Refunds) Approve(ctx context.Context, o *ent.Order, rf payment.Refund) (*ent.Order, error) {
	s := r.S
	if err := s.decider(ctx, o); err != nil {
		return nil, err
	}
	if o.Status != payment.RefundRequested {
		return nil, payment.InvalidTransition(o.Status, payment.Refunded)
	}
	src := source(o)
	if o.Channel == channelPingpp {
		return s.refundThroughPingpp(ctx, o, src)
	}
	var out *ent.Order
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		if err := decide(ctx, tx, o, dealrefund.StateSUCCEEDED, src); err != nil {
			return err
		}
		var err error
		if out, err = s.Payments.SettleRefund(ctx, tx, o, rf, payment.Actor(ctx), "refund approved"); err != nil {
			return err
		}
		_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: o.Asset, Kind: "REFUND", OrderID: o.ID, Postings: []ledger.Posting{
			takeBack(o, src),
			{UserID: o.PayerID, Bucket: ledger.Available, Amount: o.Amount},
		}})
		return err
	})
	if isInsufficient(err) {
		return nil, errSellerShort
	}
	return out, err
}

// refundThroughPingpp holds the money aside (world:pingpp-refunding), asks
// Ping++ for the refund outside any transaction, and settles when Ping++
// says it succeeded. Only a definite refusal gives the money back to where
// it was; when the answer is unknown the hold stays, and the webhook (or a
// later approval, after staleRefund) settles it.
func (s *Service) refundThroughPingpp(ctx context.Context, o *ent.Order, src dealrefund.Source) (*ent.Order, error) {
	if err := s.claimRefund(ctx, o, src); err != nil {
		return nil, err
	}
	rf, err := s.Pingpp.CreateRefund(ctx, o.ProviderTradeNo, o.Amount, o.RefundReason)
	switch {
	case err == nil && rf.Status == pingpp.RefundFailed:
		msg := "Ping++ refused the refund"
		if rf.FailureMsg != nil {
			msg += ": " + *rf.FailureMsg
		}
		return nil, s.unclaimRefund(ctx, o, src, apperr.New(apperr.ProviderError, "%s", msg))
	case err == nil:
		var out *ent.Order
		err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
			if rf.Status != pingpp.RefundSucceeded {
				return tx.DealRefund.Update().Where(dealrefund.OrderID(o.ID), dealrefund.StateEQ(dealrefund.StatePENDING)).
					SetProviderRefundID(rf.ID).Exec(ctx)
			}
			cur, err := tx.Order.Get(ctx, o.ID)
			if err != nil {
				return err
			}
			out, _, err = s.finishRefund(ctx, tx, cur, rf.ID, payment.Actor(ctx))
			return err
		})
		if err != nil {
			return nil, err
		}
		if out == nil {
			return s.order(ctx, o.ID)
		}
		return out, nil
	case pingpp.IsRefusal(err):
		// Refused: unless an earlier try already refunded the charge, the
		// money goes back to where it was.
		ch, gerr := s.Pingpp.GetCharge(ctx, o.ProviderTradeNo)
		if gerr != nil {
			return nil, gerr
		}
		if ch.AmountRefunded >= o.Amount {
			return nil, ErrInFlight
		}
		return nil, s.unclaimRefund(ctx, o, src, err)
	default:
		// No answer: the refund may have happened, and its webhook may
		// already have settled it.
		if cur, rerr := s.order(ctx, o.ID); rerr == nil && cur.Status == payment.Refunded {
			return cur, nil
		}
		return nil, err
	}
}

// claimRefund records the pending refund and holds its money, or takes
// over a claim whose holder never heard from Ping++.
func (s *Service) claimRefund(ctx context.Context, o *ent.Order, src dealrefund.Source) error {
	now := s.Clock.Now()
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		err := tx.DealRefund.Create().SetOrderID(o.ID).SetState(dealrefund.StatePENDING).SetSource(src).
			SetAmount(o.Amount).SetCreatedAt(now).SetUpdatedAt(now).Exec(ctx)
		if ent.IsConstraintError(err) {
			return errClaimed
		}
		if err != nil {
			return fmt.Errorf("claiming refund of order %d: %w", o.ID, err)
		}
		_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: o.Asset, Kind: "REFUND_HOLD", OrderID: o.ID, Postings: []ledger.Posting{
			takeBack(o, src),
			{World: worldRefunding, Bucket: ledger.World, Amount: o.Amount},
		}})
		return err
	})
	if isInsufficient(err) {
		return errSellerShort
	}
	if !errors.Is(err, errClaimed) {
		return err
	}
	// Someone claimed it: take over only a claim Ping++ never answered.
	dr, err := s.Client.DealRefund.Query().Where(dealrefund.OrderID(o.ID)).Only(ctx)
	if err != nil {
		return fmt.Errorf("reading refund of order %d: %w", o.ID, err)
	}
	if dr.State != dealrefund.StatePENDING || dr.ProviderRefundID != "" || now.Sub(dr.UpdatedAt) < staleRefund {
		return ErrInFlight
	}
	n, err := s.Client.DealRefund.Update().Where(dealrefund.ID(dr.ID), dealrefund.StateEQ(dealrefund.StatePENDING),
		dealrefund.UpdatedAt(dr.UpdatedAt)).SetUpdatedAt(now).Save(ctx)
	if err != nil {
		return fmt.Errorf("taking over refund of order %d: %w", o.ID, err)
	}
	if n != 1 {
		return ErrInFlight
	}
	return nil
}

var errClaimed = errors.New("refund already claimed")

// unclaimRefund gives held money back after Ping++ refused, and returns cause.
func (s *Service) unclaimRefund(ctx context.Context, o *ent.Order, src dealrefund.Source, cause error) error {
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		n, err := tx.DealRefund.Delete().Where(dealrefund.OrderID(o.ID), dealrefund.StateEQ(dealrefund.StatePENDING),
			dealrefund.ProviderRefundIDIsNil()).Exec(ctx)
		if err != nil || n != 1 {
			return errors.Join(err, fmt.Errorf("refund of order %d is no longer pending", o.ID))
		}
		back := takeBack(o, src)
		back.Amount, back.Withdrawable = -back.Amount, -back.Withdrawable
		_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: o.Asset, Kind: "REFUND_HOLD_RETURN", OrderID: o.ID, Postings: []ledger.Posting{
			{World: worldRefunding, Bucket: ledger.World, Amount: -o.Amount},
			back,
		}})
		return err
	})
	if err != nil {
		s.Log.ErrorContext(ctx, "returning the hold of a refused refund", "order_id", o.ID, "err", err)
	}
	return cause
}

// finishRefund settles a pending Ping++ refund: the held money leaves to
// Ping++ and the order becomes REFUNDED. It is a no-op (AlreadyApplied) for
// a refund already settled, so the webhook and the immediate answer may
// both arrive.
func (s *Service) finishRefund(ctx context.Context, tx *txn.Tx, o *ent.Order, refundID, actor string) (*ent.Order, payment.Result, error) {
	n, err := tx.DealRefund.Update().Where(dealrefund.OrderID(o.ID), dealrefund.StateEQ(dealrefund.StatePENDING)).
		SetState(dealrefund.StateSUCCEEDED).SetProviderRefundID(refundID).Save(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("settling refund of order %d: %w", o.ID, err)
	}
	if n == 0 {
		done, err := tx.DealRefund.Query().Where(dealrefund.OrderID(o.ID), dealrefund.StateEQ(dealrefund.StateSUCCEEDED)).Exist(ctx)
		if err != nil {
			return nil, "", err
		}
		if !done {
			return o, "", apperr.New(apperr.InvalidTransition, "no refund of this order was asked of Ping++")
		}
		return o, payment.AlreadyApplied, nil
	}
	whole := payment.Refund{Amount: o.Amount - o.RefundedAmount, Whole: true}
	out, err := s.Payments.SettleRefund(ctx, tx, o, whole, actor, "refunded through Ping++ ("+refundID+")")
	if err != nil {
		return nil, "", err
	}
	_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: o.Asset, Kind: "REFUND", OrderID: o.ID, Postings: []ledger.Posting{
		{World: worldRefunding, Bucket: ledger.World, Amount: -o.Amount},
		{World: WorldPingpp, Bucket: ledger.World, Amount: o.Amount},
	}})
	if err != nil {
		return nil, "", err
	}
	return out, payment.Applied, nil
}

// OnRefunded is the payment.OnRefunded of DEAL orders: Ping++'s
// refund.succeeded settles the refund asked by Approve.
func (s *Service) OnRefunded(ctx context.Context, tx *txn.Tx, o *ent.Order, n payment.Notice) (*ent.Order, payment.Result, error) {
	return s.finishRefund(ctx, tx, o, n.ProviderTradeNo, "callback:"+n.Provider)
}

// Reject refuses the buyer's request. A deal still in escrow is then
// settled for the seller, as a confirmation would (REFUND_REJECTED is
// final); a confirmed deal's money simply stays with the seller.
//
// Who: the seller or an ADMIN (decider), as for Approve.
//
// Errors: FORBIDDEN, INVALID_TRANSITION, ErrInFlight.
func (r Refunds) Reject(ctx context.Context, o *ent.Order, reason string) (*ent.Order, error) {
	s := r.S
	if err := s.decider(ctx, o); err != nil {
		return nil, err
	}
	if o.Status != payment.RefundRequested {
		return nil, payment.InvalidTransition(o.Status, payment.RefundRejected)
	}
	var out *ent.Order
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		src := source(o)
		if err := decide(ctx, tx, o, dealrefund.StateREJECTED, src); err != nil {
			return err
		}
		ch := payment.Changes{}
		now := s.Clock.Now()
		if src == dealrefund.SourceESCROW {
			ch.CompletedAt = &now
		}
		var err error
		if out, err = s.Payments.Transition(ctx, tx, o, payment.RefundRejected, payment.Actor(ctx), reason, ch); err != nil {
			return err
		}
		if src == dealrefund.SourceESCROW {
			return s.release(ctx, tx, out)
		}
		return nil
	})
	return out, err
}
