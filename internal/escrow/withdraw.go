package escrow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/paypass"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// WithdrawInput is the escrow marketplace's withdrawCash.
type WithdrawInput struct {
	Amount         money.Decimal `json:"amount"`
	PayPassword    string        `json:"-"` // checked, never part of the fingerprint
	AlipayNo       string        `json:"alipayNo"`
	AlipayName     string        `json:"alipayName"`
	IdempotencyKey *string       `json:"-"`
}

// Payee is where a withdrawal is sent, kept in the order's extendInfo.
type Payee struct {
	AlipayNo   string `json:"alipayNo"`
	AlipayName string `json:"alipayName"`
}

// WithdrawalPayee reads the payee of a WITHDRAWAL order (nil for others).
func WithdrawalPayee(o *ent.Order) *Payee {
	if o.Type != order.TypeWITHDRAWAL || o.ExtendInfo == "" {
		return nil
	}
	var p Payee
	if json.Unmarshal([]byte(o.ExtendInfo), &p) != nil {
		return nil
	}
	return &p
}

var errWithdrawShort = apperr.New(apperr.InsufficientFunds, "the amount is more than your withdrawable balance").WithLegacy(10)

// Withdraw asks for withdrawable money to be sent to an Alipay account.
// After the pay password, the money leaves the wallet at once (held in
// world:withdrawal-pending) and the WITHDRAWAL order waits, PROCESSING,
// for an admin's completeWithdrawal or rejectWithdrawal.
//
// Who: the user, for its own money, with its USER token and pay password;
// there is no withdrawing for someone else (not by a SERVICE, not by an
// ADMIN).
//
// Errors: BAD_USER_INPUT, the pay password's errors, INSUFFICIENT_FUNDS
// (more than withdrawable, legacyCode 10), idempotency errors.
func (s *Service) Withdraw(ctx context.Context, in WithdrawInput) (*ent.Order, error) {
	p, err := auth.Require(ctx, role.User)
	if err != nil {
		return nil, err
	}
	amount, err := s.cny("amount", in.Amount)
	if err != nil {
		return nil, err
	}
	no, err := text("alipayNo", in.AlipayNo, 1, 100)
	if err != nil {
		return nil, err
	}
	name, err := text("alipayName", in.AlipayName, 1, 64)
	if err != nil {
		return nil, err
	}
	payee, _ := json.Marshal(Payee{AlipayNo: no, AlipayName: name})
	var out *ent.Order
	id, replayed, err := s.Idem.Do(ctx, "withdraw", in.IdempotencyKey, in, func(mark idempotency.Mark) (int64, error) {
		if err := s.Guard.Check(ctx, p.Subject, paypass.Pay, in.PayPassword); err != nil {
			return 0, err
		}
		err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
			o, err := s.createIn(ctx, tx, order.TypeWITHDRAWAL, p.Subject, "提现", amount, string(payee))
			if err != nil {
				return err
			}
			if o, err = s.Payments.Transition(ctx, tx, o, payment.Processing, payment.Actor(ctx), "withdrawal asked; waiting for review", payment.Changes{}); err != nil {
				return err
			}
			if _, err := s.Ledger.Post(ctx, tx, ledger.Journal{Asset: Asset, Kind: "WITHDRAWAL_HOLD", OrderID: o.ID, Postings: []ledger.Posting{
				{UserID: p.Subject, Bucket: ledger.Available, Amount: -amount, Withdrawable: -amount},
				{World: worldWithdrawalPending, Bucket: ledger.World, Amount: amount},
			}}); err != nil {
				return err
			}
			out = o
			return mark(ctx, tx.Tx, o.ID)
		})
		if isInsufficient(err) {
			return 0, errWithdrawShort
		}
		if err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.order(ctx, id)
	}
	return out, nil
}

// createIn writes a new PENDING order of the flow inside tx, with no expiry.
func (s *Service) createIn(ctx context.Context, tx *txn.Tx, t order.Type, payer int64, title string, amount int64, extend string) (*ent.Order, error) {
	now := s.Clock.Now()
	id := nextID()
	o, err := tx.Order.Create().SetID(id).SetOrderNo(orderNo(id)).SetType(t).SetAppID(defaultApp).
		SetPayerID(payer).SetTitle(title).SetAmount(amount).SetAsset(Asset).SetPayWay("ALIPAY").SetChannel("alipay").
		SetExtendInfo(extend).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("creating order: %w", err)
	}
	return o, s.Payments.RecordCreated(ctx, tx, o, payment.Actor(ctx))
}

func (s *Service) withdrawal(ctx context.Context, orderID int64) (*ent.Order, error) {
	if _, err := auth.Require(ctx, role.Admin); err != nil {
		return nil, err
	}
	o, err := s.order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Type != order.TypeWITHDRAWAL {
		return nil, errWrongType("this", "WITHDRAWAL")
	}
	return o, nil
}

// CompleteWithdrawal is the admin saying the money was sent: the held
// amount leaves the platform (world:withdrawal) and the order is COMPLETED.
//
// Who: an ADMIN only (withdrawal); not the user who asked, not a SERVICE.
//
// Errors: FORBIDDEN, ErrOrderNotFound, BAD_USER_INPUT, INVALID_TRANSITION.
func (s *Service) CompleteWithdrawal(ctx context.Context, orderID int64) (*ent.Order, error) {
	o, err := s.withdrawal(ctx, orderID)
	if err != nil {
		return nil, err
	}
	var out *ent.Order
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		now := s.Clock.Now()
		actor := payment.Actor(ctx)
		paid, err := s.Payments.Transition(ctx, tx, o, payment.Paid, actor, "paid out", payment.Changes{PaidAt: &now})
		if err != nil {
			return err
		}
		if out, err = s.Payments.Transition(ctx, tx, paid, payment.Completed, actor, "withdrawal completed", payment.Changes{CompletedAt: &now}); err != nil {
			return err
		}
		_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: o.Asset, Kind: "WITHDRAWAL", OrderID: o.ID, Postings: []ledger.Posting{
			{World: worldWithdrawalPending, Bucket: ledger.World, Amount: -o.Amount},
			{World: worldWithdrawal, Bucket: ledger.World, Amount: o.Amount},
		}})
		return err
	})
	return out, err
}

// RejectWithdrawal refuses a withdrawal with a reason: the order FAILS and
// the money returns to the user's withdrawable balance.
//
// Who: an ADMIN only (withdrawal).
//
// Errors: FORBIDDEN, ErrOrderNotFound, BAD_USER_INPUT, INVALID_TRANSITION.
func (s *Service) RejectWithdrawal(ctx context.Context, orderID int64, reason string) (*ent.Order, error) {
	reason, err := text("reason", reason, 1, 255)
	if err != nil {
		return nil, err
	}
	o, err := s.withdrawal(ctx, orderID)
	if err != nil {
		return nil, err
	}
	var out *ent.Order
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		if out, err = s.Payments.Transition(ctx, tx, o, payment.Failed, payment.Actor(ctx), reason, payment.Changes{}); err != nil {
			return err
		}
		_, err = s.Ledger.Post(ctx, tx, ledger.Journal{Asset: o.Asset, Kind: "WITHDRAWAL_RETURN", OrderID: o.ID, Postings: []ledger.Posting{
			{World: worldWithdrawalPending, Bucket: ledger.World, Amount: -o.Amount},
			{UserID: o.PayerID, Bucket: ledger.Available, Amount: o.Amount, Withdrawable: o.Amount},
		}})
		return err
	})
	return out, err
}

// Cash is the escrow marketplace's getCash: the wallet in CNY.
type Cash struct {
	// Cash may be spent (available).
	Cash money.Decimal
	// WithdrawCash is the part of Cash that may be withdrawn.
	WithdrawCash money.Decimal
	// Pending is money from deals not yet confirmed (escrow).
	Pending money.Decimal
}

// Cash returns a user's CNY balances: the caller's, or for ADMIN and
// SERVICE the named user's.
//
// Errors: FORBIDDEN, BAD_USER_INPUT (a SERVICE names no user).
func (s *Service) Cash(ctx context.Context, userID *int64) (*Cash, error) {
	id, err := access.Target(ctx, userID)
	if err != nil {
		return nil, err
	}
	w, err := s.Ledger.WalletFor(ctx, id, Asset)
	if err != nil {
		return nil, fmt.Errorf("reading wallet: %w", err)
	}
	a := s.Ledger.Assets()
	return &Cash{Cash: a.Format(Asset, w.Available), WithdrawCash: a.Format(Asset, w.Withdrawable), Pending: a.Format(Asset, w.Escrow)}, nil
}
