package escrow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/dealrefund"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/orderevent"
	"github.com/paygraph/paygraph/ent/predicate"
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

// Refunds is the payment.RefundHandler of DEAL orders. A deal is refunded
// as its buyer asks (applyRefund / requestRefund, the buyer or an ADMIN
// for the buyer): whole, or in parts (payment.PartialRefunder), each part
// approved by the seller or an ADMIN. While the deal is in escrow a part
// comes out of escrow and the rest stays there for the seller, who
// receives amount − refunded on confirmation; after confirmation a part
// comes out of the seller's withdrawable balance. A deal paid through
// Ping++ is refunded through Ping++, one refund at a time, each with its
// own number (RF<orderNo>-N) so a retry is recognised and not made twice.
type Refunds struct{ S *Service }

// MayDecide: the seller or an ADMIN (decider).
func (r Refunds) MayDecide(ctx context.Context, o *ent.Order) error { return r.S.decider(ctx, o) }

// MayRefundPart: deals refund in parts, from the wallet and through Ping++.
func (Refunds) MayRefundPart(*ent.Order) error { return nil }

// UnderWay refuses to drop a waiting partial request while its approved
// refund is being made through Ping++ (payment.RefundsUnderWay).
func (r Refunds) UnderWay(ctx context.Context, tx *txn.Tx, o *ent.Order) error {
	busy, err := tx.DealRefund.Query().Where(dealrefund.OrderID(o.ID), dealrefund.StateEQ(dealrefund.StatePENDING)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("reading refund of order %d: %w", o.ID, err)
	}
	if busy {
		return ErrInFlight
	}
	return nil
}

// source says where a deal's money is: still in escrow, or with the seller.
func source(o *ent.Order) dealrefund.Source {
	if o.CompletedAt != nil {
		return dealrefund.SourceSELLER
	}
	return dealrefund.SourceESCROW
}

// takeBack is the posting that takes amount of the deal's money from
// where it is.
func takeBack(o *ent.Order, src dealrefund.Source, amount int64) ledger.Posting {
	if src == dealrefund.SourceSELLER {
		return ledger.Posting{UserID: o.PayeeID, Bucket: ledger.Available, Amount: -amount, Withdrawable: -amount}
	}
	return ledger.Posting{UserID: o.PayeeID, Bucket: ledger.Escrow, Amount: -amount}
}

// decider checks that the caller may decide a deal's refund request: the
// seller, whose escrow or earnings it is, or an ADMIN (payment.OwnerOrAdmin).
// The buyer asked; a SERVICE never decides.
func (s *Service) decider(ctx context.Context, o *ent.Order) error {
	_, err := payment.MaySpend(ctx, o.PayeeID, payment.OwnerOrAdmin, ErrNotSeller)
	return err
}

// lock takes o's row lock in tx (PostgreSQL; SQLite's transactions are
// serial anyway) and returns the order as it is now: refund claims,
// decisions and releases of one deal queue on it.
func (s *Service) lock(ctx context.Context, tx *txn.Tx, o *ent.Order) (*ent.Order, error) {
	if err := tx.Order.Update().Where(order.ID(o.ID)).SetUpdatedAt(s.Clock.Now()).Exec(ctx); err != nil {
		return nil, fmt.Errorf("locking order %d: %w", o.ID, err)
	}
	cur, err := tx.Order.Get(ctx, o.ID)
	if err != nil {
		return nil, fmt.Errorf("re-reading order %d: %w", o.ID, err)
	}
	return cur, nil
}

// asked checks that o (as it is now) still has a refund request amount
// answers: a request for all that is left, or a waiting partial request
// of at least amount. A deal is refunded only as its buyer asked, and one
// request is refunded once even when approvals race.
func asked(o *ent.Order, amount int64) error {
	switch {
	case o.Status == payment.RefundRequested && amount == o.Amount-o.RefundedAmount:
		return nil
	case o.Status != payment.RefundRequested && o.RefundRequestedAmount != nil && amount <= *o.RefundRequestedAmount:
		return nil
	}
	return apperr.New(apperr.InvalidTransition, "no refund request of this deal waits for that amount (it was decided meanwhile); read the order again")
}

// decide records the decision on o's refund request inside tx (which
// holds o's row lock), over the row of an earlier refund that is done; a
// second decision, or one while a Ping++ refund is under way, is refused.
func decide(ctx context.Context, tx *txn.Tx, o *ent.Order, state dealrefund.State, src dealrefund.Source, amount int64) error {
	dr, err := tx.DealRefund.Query().Where(dealrefund.OrderID(o.ID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		err = tx.DealRefund.Create().SetOrderID(o.ID).SetState(state).SetSource(src).SetAmount(amount).Exec(ctx)
		if ent.IsConstraintError(err) {
			return ErrInFlight
		}
	case err != nil:
	case dr.State != dealrefund.StateSUCCEEDED:
		return ErrInFlight
	default:
		var n int
		n, err = tx.DealRefund.Update().Where(dealrefund.ID(dr.ID), dealrefund.StateEQ(dealrefund.StateSUCCEEDED)).
			SetState(state).SetSource(src).SetAmount(amount).ClearProviderRefundID().Save(ctx)
		if err == nil && n != 1 {
			return ErrInFlight
		}
	}
	if err != nil {
		return fmt.Errorf("recording refund decision of order %d: %w", o.ID, err)
	}
	return nil
}

var errSellerShort = apperr.New(apperr.InsufficientFunds,
	"the seller no longer holds this deal's earnings (withdrawn); the refund cannot be taken back from the seller's balance").WithLegacy(10)

// Approve gives the buyer rf.Amount back: all that is left of a deal in
// REFUND_REQUESTED, or (at most) the waiting partial request. A deal paid
// from the wallet is refunded at once into the buyer's available balance;
// one paid through Ping++ is refunded through Ping++, and the refund is
// recorded when Ping++ confirms (at once in the sandbox, otherwise by the
// refund.succeeded webhook). The money comes from escrow, or from the
// seller's withdrawable balance if the deal was already confirmed. A part
// keeps the deal's status; the part that reaches the whole makes it
// REFUNDED (payment.SettleRefund).
//
// Who: the seller or an ADMIN (decider): the money comes out of the
// seller's escrow or balance.
//
// Errors: FORBIDDEN (neither the seller nor an admin), INVALID_TRANSITION
// (no request asks for it: deals are refunded only as their buyer asked),
// INSUFFICIENT_FUNDS (the seller withdrew the earnings), ErrInFlight,
// PROVIDER_ERROR.
func (r Refunds) Approve(ctx context.Context, o *ent.Order, rf payment.Refund) (*ent.Order, error) {
	s := r.S
	if err := s.decider(ctx, o); err != nil {
		return nil, err
	}
	if o.Status != payment.RefundRequested && o.RefundRequestedAmount == nil {
		return nil, payment.InvalidTransition(o.Status, payment.Refunded)
	}
	if o.Channel == channelPingpp {
		return s.refundThroughPingpp(ctx, o, rf.Amount)
	}
	var out *ent.Order
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		cur, err := s.lock(ctx, tx, o)
		if err != nil {
			return err
		}
		if err := asked(cur, rf.Amount); err != nil {
			return err
		}
		src := source(cur)
		if cur.Status == payment.RefundRequested {
			// The decision on a request for all that is left excludes its rejection.
			if err := decide(ctx, tx, cur, dealrefund.StateSUCCEEDED, src, rf.Amount); err != nil {
				return err
			}
		}
		if out, err = s.Payments.SettleRefund(ctx, tx, cur, rf, payment.Actor(ctx), "refund approved"); err != nil {
			return err
		}
		_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: cur.Asset, Kind: "REFUND", OrderID: cur.ID, Postings: []ledger.Posting{
			takeBack(cur, src, rf.Amount),
			{UserID: cur.PayerID, Bucket: ledger.Available, Amount: rf.Amount},
		}})
		return err
	})
	if isInsufficient(err) {
		return nil, errSellerShort
	}
	return out, err
}

// refundNo is the number of a deal's nth refund through Ping++, with
// which its description starts.
func refundNo(o *ent.Order, n int) string { return fmt.Sprintf("RF%s-%d", o.OrderNo, n) }

// isOurs reports whether the Ping++ refund rf is the one dr asked for.
// Refunds asked before refunds were numbered (number 0) are known by
// their amount.
func isOurs(o *ent.Order, dr *ent.DealRefund, description string, amount int64) bool {
	if amount != dr.Amount {
		return false
	}
	if dr.Number == 0 {
		return true
	}
	no := refundNo(o, dr.Number)
	return description == no || strings.HasPrefix(description, no+" ")
}

// findAtPingpp returns the deal's charge and, if Ping++ lists it, the
// refund of dr that did not fail.
func (s *Service) findAtPingpp(ctx context.Context, o *ent.Order, dr *ent.DealRefund) (*pingpp.Charge, *pingpp.Refund, error) {
	ch, err := s.Pingpp.GetCharge(ctx, o.ProviderTradeNo)
	if err != nil {
		return nil, nil, err
	}
	for i := range ch.Refunds.Data {
		if rf := &ch.Refunds.Data[i]; isOurs(o, dr, rf.Description, rf.Amount) && rf.Status != pingpp.RefundFailed {
			return ch, rf, nil
		}
	}
	return ch, nil, nil
}

// refundThroughPingpp holds the money aside (world:pingpp-refunding), asks
// Ping++ for the refund outside any transaction, and settles when Ping++
// says it succeeded. Only a definite refusal gives the money back to where
// it was; when the answer is unknown the hold stays, and the webhook (or a
// later approval of the same amount, after staleRefund, which first looks
// for the refund at Ping++ by its number) settles it.
func (s *Service) refundThroughPingpp(ctx context.Context, o *ent.Order, amount int64) (*ent.Order, error) {
	dr, askFirst, err := s.claimRefund(ctx, o, amount)
	if err != nil {
		return nil, err
	}
	if askFirst {
		// An earlier try may have reached Ping++: find it before asking again.
		ch, rf, err := s.findAtPingpp(ctx, o, dr)
		if err != nil {
			return nil, err
		}
		if rf != nil {
			return s.answered(ctx, o, dr, rf)
		}
		if ch.Refunds.HasMore {
			return nil, ErrInFlight // not on the page Ping++ embeds: asking again could refund twice
		}
	}
	desc := refundNo(o, dr.Number)
	if o.RefundReason != "" {
		desc += " " + o.RefundReason
	}
	rf, err := s.Pingpp.CreateRefund(ctx, o.ProviderTradeNo, dr.Amount, desc)
	switch {
	case err == nil && rf.Status == pingpp.RefundFailed:
		msg := "Ping++ refused the refund"
		if rf.FailureMsg != nil {
			msg += ": " + *rf.FailureMsg
		}
		return nil, s.unclaimRefund(ctx, o, dr, apperr.New(apperr.ProviderError, "%s", msg))
	case err == nil:
		return s.answered(ctx, o, dr, rf)
	case pingpp.IsRefusal(err):
		// Refused: unless an earlier try already made this refund, the
		// money goes back to where it was.
		ch, rf, gerr := s.findAtPingpp(ctx, o, dr)
		if gerr != nil {
			return nil, gerr
		}
		if rf != nil && dr.Number > 0 {
			return s.answered(ctx, o, dr, rf)
		}
		if (dr.Number == 0 && ch.AmountRefunded >= o.Amount) || ch.Refunds.HasMore {
			return nil, ErrInFlight // it may have happened: keep the hold
		}
		return nil, s.unclaimRefund(ctx, o, dr, err)
	default:
		// No answer: the refund may have happened, and its webhook may
		// already have settled it.
		if cur, rerr := s.Client.DealRefund.Get(ctx, dr.ID); rerr == nil && cur.State == dealrefund.StateSUCCEEDED && cur.Number == dr.Number {
			return s.order(ctx, o.ID)
		}
		return nil, err
	}
}

// answered records Ping++'s answer to the refund dr asked for: settled
// when it succeeded, else its id, for the webhook to settle.
func (s *Service) answered(ctx context.Context, o *ent.Order, dr *ent.DealRefund, rf *pingpp.Refund) (*ent.Order, error) {
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		if rf.Status != pingpp.RefundSucceeded && !rf.Succeed {
			return tx.DealRefund.Update().Where(dealrefund.ID(dr.ID), dealrefund.StateEQ(dealrefund.StatePENDING),
				dealrefund.Number(dr.Number)).SetProviderRefundID(rf.ID).Exec(ctx)
		}
		_, _, err := s.finishRefund(ctx, tx, o, rf.ID, rf.Description, rf.Amount, payment.Actor(ctx))
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.order(ctx, o.ID)
}

// claimRefund records the pending refund of amount and holds its money,
// or takes over a claim of the same amount whose holder never heard from
// Ping++ (askFirst: Ping++ must be asked whether it was made). A deal has
// one refund row: a new refund takes it over once the one before it
// succeeded, with the next number. The claim re-checks, under the order's
// row lock, that a request still asks for amount: concurrent approvals of
// one request claim it once.
func (s *Service) claimRefund(ctx context.Context, o *ent.Order, amount int64) (dr *ent.DealRefund, askFirst bool, err error) {
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		askFirst = false
		now := s.Clock.Now()
		cur, err := s.lock(ctx, tx, o)
		if err != nil {
			return err
		}
		src := source(cur)
		dr, err = tx.DealRefund.Query().Where(dealrefund.OrderID(o.ID)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			if err := asked(cur, amount); err != nil {
				return err
			}
			dr, err = tx.DealRefund.Create().SetOrderID(o.ID).SetState(dealrefund.StatePENDING).SetSource(src).
				SetAmount(amount).SetNumber(1).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
			if ent.IsConstraintError(err) {
				return ErrInFlight
			}
			if err != nil {
				return fmt.Errorf("claiming refund of order %d: %w", o.ID, err)
			}
		case err != nil:
			return fmt.Errorf("reading refund of order %d: %w", o.ID, err)
		case dr.State == dealrefund.StateSUCCEEDED:
			if err := asked(cur, amount); err != nil {
				return err
			}
			if dr, err = tx.DealRefund.UpdateOne(dr).SetState(dealrefund.StatePENDING).SetSource(src).SetAmount(amount).
				SetNumber(dr.Number + 1).ClearProviderRefundID().SetUpdatedAt(now).Save(ctx); err != nil {
				return fmt.Errorf("claiming refund of order %d: %w", o.ID, err)
			}
		case dr.State == dealrefund.StatePENDING && dr.ProviderRefundID == "" && now.Sub(dr.UpdatedAt) >= staleRefund:
			// Someone claimed it and never heard from Ping++: take it over,
			// for the same amount only; its money is held already.
			if dr.Amount != amount {
				f := s.Ledger.Assets().Format(o.Asset, dr.Amount)
				return apperr.New(apperr.InvalidTransition,
					"an earlier refund of %s %s through Ping++ has an unknown outcome: approve %s (the amount it was for) to finish it first", f, o.Asset, f)
			}
			if dr, err = tx.DealRefund.UpdateOne(dr).SetUpdatedAt(now).Save(ctx); err != nil {
				return fmt.Errorf("taking over refund of order %d: %w", o.ID, err)
			}
			askFirst = true
			return nil
		default:
			return ErrInFlight
		}
		_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: cur.Asset, Kind: "REFUND_HOLD", OrderID: cur.ID, Postings: []ledger.Posting{
			takeBack(cur, src, amount),
			{World: worldRefunding, Bucket: ledger.World, Amount: amount},
		}})
		return err
	})
	if isInsufficient(err) {
		return nil, false, errSellerShort
	}
	return dr, askFirst, err
}

// unclaimRefund gives held money back after Ping++ refused, and returns
// cause. Money held from escrow goes back to escrow, or to the seller's
// withdrawable balance if the deal was released meanwhile.
func (s *Service) unclaimRefund(ctx context.Context, o *ent.Order, dr *ent.DealRefund, cause error) error {
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		cur, err := s.lock(ctx, tx, o)
		if err != nil {
			return err
		}
		q := []predicate.DealRefund{dealrefund.ID(dr.ID), dealrefund.StateEQ(dealrefund.StatePENDING),
			dealrefund.Number(dr.Number), dealrefund.ProviderRefundIDIsNil()}
		var n int
		if dr.Number <= 1 {
			n, err = tx.DealRefund.Delete().Where(q...).Exec(ctx)
		} else {
			// The row of the refunds before this one: done.
			n, err = tx.DealRefund.Update().Where(q...).SetState(dealrefund.StateSUCCEEDED).Save(ctx)
		}
		if err != nil || n != 1 {
			return errors.Join(err, fmt.Errorf("refund of order %d is no longer pending", o.ID))
		}
		back := takeBack(cur, dr.Source, dr.Amount)
		if dr.Source == dealrefund.SourceESCROW && cur.CompletedAt != nil {
			back = takeBack(cur, dealrefund.SourceSELLER, dr.Amount)
		}
		back.Amount, back.Withdrawable = -back.Amount, -back.Withdrawable
		_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: cur.Asset, Kind: "REFUND_HOLD_RETURN", OrderID: cur.ID, Postings: []ledger.Posting{
			{World: worldRefunding, Bucket: ledger.World, Amount: -dr.Amount},
			back,
		}})
		return err
	})
	if err != nil {
		s.Log.ErrorContext(ctx, "returning the hold of a refused refund", "order_id", o.ID, "err", err)
	}
	return cause
}

// finishRefund settles the pending Ping++ refund that refundID (of amount
// fen, with that description) is: the held money leaves to Ping++ and
// the order's refundedAmount grows by it, the order becoming REFUNDED
// when that is the whole. It is a no-op (AlreadyApplied) for a refund
// already settled, so the webhook and the immediate answer may both
// arrive, in any order.
func (s *Service) finishRefund(ctx context.Context, tx *txn.Tx, o *ent.Order, refundID, description string, amount int64, actor string) (*ent.Order, payment.Result, error) {
	cur, err := s.lock(ctx, tx, o)
	if err != nil {
		return nil, "", err
	}
	dr, err := tx.DealRefund.Query().Where(dealrefund.OrderID(o.ID)).Only(ctx)
	if ent.IsNotFound(err) {
		return cur, "", apperr.New(apperr.InvalidTransition, "no refund of this order was asked of Ping++")
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading refund of order %d: %w", o.ID, err)
	}
	// Settled already: this refund's id is on the row, or in the step that
	// recorded it (a later refund has taken the row over since).
	done := dr.State == dealrefund.StateSUCCEEDED && dr.ProviderRefundID == refundID
	if !done && refundID != "" {
		if done, err = tx.OrderEvent.Query().Where(orderevent.OrderID(o.ID), orderevent.ReasonContains("("+refundID+")")).Exist(ctx); err != nil {
			return nil, "", err
		}
	}
	if done {
		return cur, payment.AlreadyApplied, nil
	}
	if dr.State != dealrefund.StatePENDING || (dr.ProviderRefundID != "" && dr.ProviderRefundID != refundID) ||
		(dr.ProviderRefundID == "" && !isOurs(cur, dr, description, amount)) {
		return cur, "", apperr.New(apperr.InvalidTransition, "refund %s is not the refund of this order under way at Ping++", refundID)
	}
	n, err := tx.DealRefund.Update().Where(dealrefund.ID(dr.ID), dealrefund.StateEQ(dealrefund.StatePENDING), dealrefund.Number(dr.Number)).
		SetState(dealrefund.StateSUCCEEDED).SetProviderRefundID(refundID).Save(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("settling refund of order %d: %w", o.ID, err)
	}
	if n != 1 {
		return nil, "", fmt.Errorf("refund of order %d changed while settling", o.ID)
	}
	out, err := s.Payments.SettleRefund(ctx, tx, cur, payment.Refund{Amount: dr.Amount}, actor, "refunded through Ping++ ("+refundID+")")
	if err != nil {
		return nil, "", err
	}
	_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: cur.Asset, Kind: "REFUND", OrderID: cur.ID, Postings: []ledger.Posting{
		{World: worldRefunding, Bucket: ledger.World, Amount: -dr.Amount},
		{World: WorldPingpp, Bucket: ledger.World, Amount: dr.Amount},
	}})
	if err != nil {
		return nil, "", err
	}
	return out, payment.Applied, nil
}

// OnRefunded is the payment.OnRefunded of DEAL orders: Ping++'s
// refund.succeeded settles the refund asked by Approve.
func (s *Service) OnRefunded(ctx context.Context, tx *txn.Tx, o *ent.Order, n payment.Notice) (*ent.Order, payment.Result, error) {
	a, err := s.Ledger.Assets().Get("asset", o.Asset)
	if err != nil {
		return nil, "", err
	}
	amount, err := a.Minor(n.Amount)
	if err != nil {
		return o, "", payment.ErrNoticeAmount
	}
	return s.finishRefund(ctx, tx, o, n.ProviderTradeNo, n.Description, amount, "callback:"+n.Provider)
}

// Reject refuses the buyer's request for all that is left. A deal still
// in escrow is then settled for the seller, as a confirmation would
// (REFUND_REJECTED is final): the seller receives what earlier parts did
// not refund. A confirmed deal's money simply stays with the seller.
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
		cur, err := s.lock(ctx, tx, o)
		if err != nil {
			return err
		}
		if cur.Status != payment.RefundRequested {
			return payment.InvalidTransition(cur.Status, payment.RefundRejected)
		}
		src := source(cur)
		if err := decide(ctx, tx, cur, dealrefund.StateREJECTED, src, cur.Amount-cur.RefundedAmount); err != nil {
			return err
		}
		ch := payment.Changes{}
		now := s.Clock.Now()
		if src == dealrefund.SourceESCROW {
			ch.CompletedAt = &now
		}
		if out, err = s.Payments.Transition(ctx, tx, cur, payment.RefundRejected, payment.Actor(ctx), reason, ch); err != nil {
			return err
		}
		if src == dealrefund.SourceESCROW {
			return s.release(ctx, tx, out)
		}
		return nil
	})
	return out, err
}
