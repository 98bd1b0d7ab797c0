package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/orderitem"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// OrderItemInput is one payInfo or productInfo line as a client sends it.
type OrderItemInput struct {
	TokenID string        `json:"tokenId"`
	Amount  money.Decimal `json:"amount"`
	PayType *string       `json:"payType,omitempty"`
}

// CreatePaymentOrderInput is the token checkout's order creation.
type CreatePaymentOrderInput struct {
	ClientOrderID  *string          `json:"clientOrderId,omitempty"`
	PayerUserID    int64            `json:"payerUserId"`
	PayeeUserID    int64            `json:"payeeUserId"`
	PayInfo        []OrderItemInput `json:"payInfo"`
	ProductInfo    []OrderItemInput `json:"productInfo,omitempty"`
	Desc           *string          `json:"desc,omitempty"`
	ExtendInfo     *string          `json:"extendInfo,omitempty"`
	ExpiresAt      *time.Time       `json:"expiresAt,omitempty"`
	AppID          *int64           `json:"appId,omitempty"`
	IdempotencyKey *string          `json:"-"` // not part of the fingerprint: the header may carry it instead
}

// PayInput is the token checkout's pay.
type PayInput struct {
	OrderID           int64        `json:"orderId"`
	VerifyCodeOrderID *CodeOrderID `json:"verifyCodeOrderId,omitempty"`
	VerifyCode        *string      `json:"verifyCode,omitempty"`
	IdempotencyKey    *string      `json:"-"` // not part of the fingerprint
}

// CodeOrderID is pay's verifyCodeOrderId. The token checkout lets a GA payer leave it
// out or send 0, so unlike other IDs "0" is accepted; it means none.
type CodeOrderID int64

// UnmarshalGQL reads a decimal string or an integer, 0 or more.
func (c *CodeOrderID) UnmarshalGQL(v any) error {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = string(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case int:
		s = strconv.Itoa(v)
	default:
		return fmt.Errorf("%v is not a valid ID", v)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a valid ID", s)
	}
	*c = CodeOrderID(n)
	return nil
}

// MarshalGQL writes it as an ID string.
func (c CodeOrderID) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(strconv.FormatInt(int64(c), 10)))
}

// ID returns the id, or nil for none (absent or 0).
func (c *CodeOrderID) ID() *int64 {
	if c == nil || *c == 0 {
		return nil
	}
	n := int64(*c)
	return &n
}

// Limits on token checkout input.
const (
	maxItems       = 20
	maxDescLen     = 1000
	maxExtendLen   = 4096
	maxClientID    = 64
	maxExpiresIn   = 30 * 24 * time.Hour
	payTypeDefault = "PAY"
)

// ErrUserNotFound is returned for a payer or payee that does not exist.
var ErrUserNotFound = apperr.New(apperr.NotFound, "user not found").WithLegacy(7)

// AppFor returns the app an order is created for: a SERVICE's own app, or
// for an ADMIN the one named (default app 1).
//
// Errors: FORBIDDEN for a SERVICE naming another app, NOT_FOUND.
func (s *Service) AppFor(ctx context.Context, appID *int64) (int64, error) {
	p, err := auth.Require(ctx, role.Service, role.Admin)
	if err != nil {
		return 0, err
	}
	id, err := access.AppOf(ctx, appID)
	if err != nil || p.Role == role.Service {
		return id, err
	}
	if ok, err := s.Client.App.Query().Where(app.ID(id)).Exist(ctx); err != nil {
		return 0, fmt.Errorf("finding app: %w", err)
	} else if !ok {
		return 0, apperr.Input("appId", "app %d not found", id)
	}
	return id, nil
}

type parsedItem struct {
	asset   money.Asset
	amount  int64
	payType string
}

func (s *Service) parseItems(field string, in []OrderItemInput) ([]parsedItem, error) {
	if len(in) > maxItems {
		return nil, apperr.Input(field, "at most %d lines", maxItems)
	}
	out := make([]parsedItem, len(in))
	for i, it := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		a, n, err := s.Ledger.Assets().Positive(f+".tokenId", f+".amount", it.TokenID, it.Amount)
		if err != nil {
			return nil, err
		}
		pt := payTypeDefault
		if it.PayType != nil && *it.PayType != "" {
			pt = *it.PayType
			if len(pt) > 32 {
				return nil, apperr.Input(f+".payType", "payType is longer than 32 characters")
			}
		}
		out[i] = parsedItem{a, n, pt}
	}
	return out, nil
}

// CreatePaymentOrder creates a PAYMENT order for a payer to pay a payee
// (token checkout). Only SERVICE and ADMIN callers create orders.
//
// Errors: BAD_USER_INPUT, ErrUserNotFound, FORBIDDEN, idempotency errors.
func (s *Service) CreatePaymentOrder(ctx context.Context, in CreatePaymentOrderInput) (*ent.Order, error) {
	appID, err := s.AppFor(ctx, in.AppID)
	if err != nil {
		return nil, err
	}
	if len(in.PayInfo) == 0 {
		return nil, apperr.Input("payInfo", "payInfo needs at least one line")
	}
	pay, err := s.parseItems("payInfo", in.PayInfo)
	if err != nil {
		return nil, err
	}
	product, err := s.parseItems("productInfo", in.ProductInfo)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, it := range pay {
		if it.asset.Code != pay[0].asset.Code {
			return nil, apperr.Input("payInfo", "every payInfo line must be in the same token")
		}
		total += it.amount
		if total < 0 {
			return nil, apperr.Input("payInfo", "total is too large")
		}
	}
	if in.PayerUserID == in.PayeeUserID {
		return nil, apperr.Input("payeeUserId", "payer and payee must differ")
	}
	if in.ClientOrderID != nil && (*in.ClientOrderID == "" || len(*in.ClientOrderID) > maxClientID) {
		return nil, apperr.Input("clientOrderId", "clientOrderId must be 1 to %d characters", maxClientID)
	}
	if in.Desc != nil && utf8.RuneCountInString(*in.Desc) > maxDescLen {
		return nil, apperr.Input("desc", "desc is longer than %d characters", maxDescLen)
	}
	if in.ExtendInfo != nil && (len(*in.ExtendInfo) > maxExtendLen || !json.Valid([]byte(*in.ExtendInfo))) {
		return nil, apperr.Input("extendInfo", "extendInfo must be a JSON document of at most %d bytes", maxExtendLen)
	}
	now := s.Clock.Now()
	expires := now.Add(s.OrderTTL)
	if in.ExpiresAt != nil {
		if !in.ExpiresAt.After(now) || in.ExpiresAt.Sub(now) > maxExpiresIn {
			return nil, apperr.Input("expiresAt", "expiresAt must be in the future and within 30 days")
		}
		expires = *in.ExpiresAt
	}
	n, err := s.Client.User.Query().Where(user.IDIn(in.PayerUserID, in.PayeeUserID)).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding payer and payee: %w", err)
	}
	if n != 2 {
		return nil, ErrUserNotFound
	}

	return s.keyed(ctx, "createPaymentOrder", in.IdempotencyKey, in, nil, func(tx *txn.Tx) (*ent.Order, error) {
		oid := idgen.Next()
		c := tx.Order.Create().SetID(oid).SetOrderNo(strconv.FormatInt(oid, 10)).
			SetType(order.TypePAYMENT).SetAppID(appID).SetPayerID(in.PayerUserID).SetPayeeID(in.PayeeUserID).
			SetAmount(total).SetAsset(pay[0].asset.Code).SetExpiresAt(expires).
			SetNillableClientOrderID(in.ClientOrderID).SetNillableDesc(in.Desc).SetNillableExtendInfo(in.ExtendInfo).
			SetCreatedAt(now).SetUpdatedAt(now)
		o, err := c.Save(ctx)
		if ent.IsConstraintError(err) {
			return nil, apperr.Input("clientOrderId", "clientOrderId is already used by another order of this app")
		}
		if err != nil {
			return nil, fmt.Errorf("creating order: %w", err)
		}
		items := make([]*ent.OrderItemCreate, 0, len(pay)+len(product))
		for i, it := range pay {
			items = append(items, tx.OrderItem.Create().SetOrderID(o.ID).SetKind(orderitem.KindPAY).SetPosition(i).
				SetPayType(it.payType).SetTokenID(it.asset.Code).SetAmount(it.amount))
		}
		for i, it := range product {
			items = append(items, tx.OrderItem.Create().SetOrderID(o.ID).SetKind(orderitem.KindPRODUCT).SetPosition(i).
				SetPayType(it.payType).SetTokenID(it.asset.Code).SetAmount(it.amount))
		}
		lines, err := tx.OrderItem.CreateBulk(items...).Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("creating order lines: %w", err)
		}
		s.Events.Lines(ctx, tx, o.ID, lines)
		return o, s.RecordCreated(ctx, tx, o, Actor(ctx))
	})
}

// Pay settles a PAYMENT order from the payer's wallet to the payee's
// (the token checkout): after the payer's second factor, if bound, the payInfo
// amounts move payer → payee in one transaction with the status change.
//
// Who: the payer's own USER token only (OwnerOnly). The SERVICE that
// created the order, the payee and an ADMIN are refused: the second
// factor is the payer's.
//
// Errors: ErrOrderNotFound, ErrNotPayer, ErrServiceSpends, ErrAdminSpends,
// INVALID_TRANSITION (already paid, expired, …), ErrOrderExpired,
// ledger.ErrInsufficientFunds, BAD_USER_INPUT (the payee's balance would
// pass the largest amount), second-factor errors, idempotency errors.
func (s *Service) Pay(ctx context.Context, in PayInput) (*ent.Order, error) {
	var (
		o   *ent.Order
		now time.Time
	)
	// Checks that need no lock run before the transaction; the conditional
	// status change inside it re-checks the status.
	prepare := func() error {
		var err error
		o, err = s.Client.Order.Get(ctx, in.OrderID)
		if ent.IsNotFound(err) {
			return ErrOrderNotFound
		}
		if err != nil {
			return fmt.Errorf("loading order %d: %w", in.OrderID, err)
		}
		if _, err := MaySpend(ctx, o.PayerID, OwnerOnly, ErrNotPayer); err != nil {
			return err
		}
		if o.Type != order.TypePAYMENT {
			return apperr.Input("orderId", "pay settles PAYMENT orders; this is a %s order", o.Type)
		}
		if o.Status != Pending {
			return InvalidTransition(o.Status, Paid)
		}
		now = s.Clock.Now()
		if o.ExpiresAt != nil && !now.Before(*o.ExpiresAt) {
			return ErrOrderExpired
		}
		if pc, ok := s.SecondFactor.(SecondFactorPrecheck); ok {
			return pc.Precheck(ctx, o.PayerID, o.ID, in.VerifyCodeOrderID.ID(), in.VerifyCode)
		}
		return nil
	}
	return s.keyed(ctx, "pay", in.IdempotencyKey, in, prepare, func(tx *txn.Tx) (*ent.Order, error) {
		if err := s.SecondFactor.Verify(ctx, tx, o.PayerID, o.ID, in.VerifyCodeOrderID.ID(), in.VerifyCode); err != nil {
			return nil, err
		}
		paid, err := s.Transition(ctx, tx, o, Paid, Actor(ctx), "paid", Changes{PaidAt: &now})
		if err != nil {
			return nil, err
		}
		if err := tx.OrderItem.Update().Where(orderitem.OrderID(o.ID), orderitem.KindEQ(orderitem.KindPAY)).
			Modify(func(u *sql.UpdateBuilder) {
				// Nothing is held back: the payee has the money at once (unlocked).
				u.Set(orderitem.FieldPaidAmount, sql.Expr(orderitem.FieldAmount)).
					Set(orderitem.FieldUnlockedAmount, sql.Expr(orderitem.FieldAmount))
			}).
			Exec(ctx); err != nil {
			return nil, fmt.Errorf("recording paid amounts: %w", err)
		}
		// The wallets last: on PostgreSQL the payee's row stays locked from
		// its UPDATE to COMMIT, and every payment to that payee waits for it.
		if _, err := s.Ledger.Post(ctx, tx, ledger.Journal{
			Asset: o.Asset, Kind: "PAYMENT", OrderID: o.ID,
			Postings: []ledger.Posting{
				{UserID: o.PayerID, Bucket: ledger.Available, Amount: -o.Amount},
				{UserID: o.PayeeID, Bucket: ledger.Available, Amount: o.Amount, Withdrawable: o.Amount},
			},
		}); err != nil {
			return nil, err
		}
		return paid, nil
	})
}

// PaymentRefunds decides refunds of token payments (PAYMENT orders): the
// payee, who has the money, gives it back from its balance to the payer.
type PaymentRefunds struct{ *Service }

// ErrNotPayee refuses a refund decision by anyone but the payee or an ADMIN.
var ErrNotPayee = apperr.New(apperr.Forbidden, "only the payee (or an ADMIN) decides a refund of a token payment: the money is the payee's")

// errPayeeShort refuses a refund whose money the payee no longer has.
var errPayeeShort = apperr.New(apperr.InsufficientFunds,
	"the payee no longer has this payment's money as withdrawable earnings (it was withdrawn or spent); nothing was changed")

// Approve gives a paid token payment's money back, r.Amount of it: the
// payee's available (and withdrawable) balance → the payer's available.
// The lines' refundedAmount grows by the same total, first line first:
// each payInfo line (in its order) is refunded up to what it paid before
// the next gets any, so a whole refund leaves every line refunded what it
// paid and the lines always add up to the order's refundedAmount.
//
// Who: the payee, or an ADMIN for it (MaySpend): the money leaves the
// payee's wallet. Never a SERVICE.
//
// Errors: ErrNotPayee, FORBIDDEN, INVALID_TRANSITION, INSUFFICIENT_FUNDS,
// BAD_USER_INPUT (another refund took what was left meanwhile).
func (h PaymentRefunds) Approve(ctx context.Context, o *ent.Order, r Refund) (*ent.Order, error) {
	if err := h.MayDecide(ctx, o); err != nil {
		return nil, err
	}
	var out *ent.Order
	err := h.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		if out, err = h.SettleRefund(ctx, tx, o, r, Actor(ctx), "refunded by the payee"); err != nil {
			return err
		}
		_, err = h.Ledger.Post(ctx, tx, ledger.Journal{Asset: o.Asset, Kind: "REFUND", OrderID: o.ID, Postings: []ledger.Posting{
			{UserID: o.PayeeID, Bucket: ledger.Available, Amount: -r.Amount, Withdrawable: -r.Amount},
			{UserID: o.PayerID, Bucket: ledger.Available, Amount: r.Amount},
		}})
		if errors.Is(err, ledger.ErrInsufficientFunds) {
			return errPayeeShort
		}
		if err != nil {
			return err
		}
		return refundLines(ctx, tx, o.ID, r.Amount)
	})
	return out, err
}

// refundLines spreads a refund of x over an order's payInfo lines, first
// line first (see PaymentRefunds.Approve). Each line's update is
// conditional on staying within what it paid; the order's own conditional
// update in the same transaction already guarantees the total fits.
func refundLines(ctx context.Context, tx *txn.Tx, orderID, x int64) error {
	lines, err := tx.OrderItem.Query().Where(orderitem.OrderID(orderID), orderitem.KindEQ(orderitem.KindPAY)).
		Order(orderitem.ByPosition()).All(ctx)
	if err != nil {
		return fmt.Errorf("reading the lines of order %d: %w", orderID, err)
	}
	for _, l := range lines {
		if x == 0 {
			break
		}
		add := min(x, l.PaidAmount-l.RefundedAmount)
		if add <= 0 {
			continue
		}
		n, err := tx.OrderItem.Update().Where(orderitem.ID(l.ID), orderitem.RefundedAmount(l.RefundedAmount)).
			AddRefundedAmount(add).Save(ctx)
		if err != nil {
			return fmt.Errorf("recording the refund of line %d: %w", l.ID, err)
		}
		if n != 1 {
			return fmt.Errorf("line %d of order %d changed during its refund", l.ID, orderID)
		}
		x -= add
	}
	if x != 0 {
		return fmt.Errorf("order %d: its lines paid less than the refund", orderID)
	}
	return nil
}

// MayDecide: the payee, or an ADMIN for it (MaySpend).
func (h PaymentRefunds) MayDecide(ctx context.Context, o *ent.Order) error {
	_, err := MaySpend(ctx, o.PayeeID, OwnerOrAdmin, ErrNotPayee)
	return err
}

// MayRefundPart: a token payment may be given back in parts.
func (h PaymentRefunds) MayRefundPart(*ent.Order) error { return nil }

// Reject refuses a refund of a token payment with the reason.
//
// Errors: ErrNotPayee, FORBIDDEN, INVALID_TRANSITION.
func (h PaymentRefunds) Reject(ctx context.Context, o *ent.Order, reason string) (*ent.Order, error) {
	if _, err := MaySpend(ctx, o.PayeeID, OwnerOrAdmin, ErrNotPayee); err != nil {
		return nil, err
	}
	var out *ent.Order
	err := h.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		out, err = h.Transition(ctx, tx, o, RefundRejected, Actor(ctx), reason, Changes{})
		return err
	})
	return out, err
}
