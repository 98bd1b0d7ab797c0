package escrow

import (
	"context"
	"errors"
	"fmt"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/dealrefund"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/clientip"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/paypass"
	"github.com/paygraph/paygraph/internal/provider/pingpp"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// InitDealOrderInput is the escrow marketplace's initOrder.
type InitDealOrderInput struct {
	Subject        string        `json:"subject"`
	Amount         money.Decimal `json:"amount"`
	ReceiverID     int64         `json:"receiverId"`
	ChatID         *string       `json:"chatId,omitempty"`
	SkillID        *string       `json:"skillId,omitempty"`
	Channel        Channel       `json:"channel"`
	IdempotencyKey *string       `json:"-"` // not part of the fingerprint
}

// OrderPayload is an order and, when it is paid through Ping++, its charge.
type OrderPayload struct {
	Order  *ent.Order
	Charge *Charge
}

// InitDealOrder creates a DEAL order for the caller to buy from
// receiverId. With channel WALLET it waits for payByWallet and carries no
// charge; with ALIPAY or WX a Ping++ charge is created at once (the order
// becomes PROCESSING) and returned for the client SDK.
//
// Errors: BAD_USER_INPUT (legacyCode 2), NOT_FOUND for the seller
// (legacyCode 7), PROVIDER_ERROR (the order is then cancelled), idempotency
// errors.
func (s *Service) InitDealOrder(ctx context.Context, in InitDealOrderInput) (*OrderPayload, error) {
	p, err := auth.Require(ctx, role.User)
	if err != nil {
		return nil, err
	}
	subject, err := text("subject", in.Subject, 1, 256)
	if err != nil {
		return nil, err
	}
	amount, err := s.cny("amount", in.Amount)
	if err != nil {
		return nil, err
	}
	var chatID, skillID string
	if in.ChatID != nil {
		if chatID, err = text("chatId", *in.ChatID, 0, 64); err != nil {
			return nil, err
		}
	}
	if in.SkillID != nil {
		if skillID, err = text("skillId", *in.SkillID, 0, 64); err != nil {
			return nil, err
		}
	}
	if in.Channel != Wallet && in.Channel != Alipay && in.Channel != Wx {
		return nil, input("channel", "channel is WALLET, ALIPAY or WX")
	}
	if in.ReceiverID == p.Subject {
		return nil, ErrSelf
	}
	if ok, err := s.Client.User.Query().Where(user.ID(in.ReceiverID)).Exist(ctx); err != nil {
		return nil, fmt.Errorf("finding seller: %w", err)
	} else if !ok {
		return nil, payment.ErrUserNotFound
	}

	var out *OrderPayload
	id, replayed, err := s.Idem.Do(ctx, "initDealOrder", in.IdempotencyKey, in, func(mark idempotency.Mark) (int64, error) {
		o, err := s.create(ctx, order.TypeDEAL, p.Subject, in.ReceiverID, subject, amount, in.Channel, func(c *ent.OrderCreate) {
			if chatID != "" {
				c.SetChatID(chatID)
			}
			if skillID != "" {
				c.SetSkillID(skillID)
			}
		}, in.Channel == Wallet, mark)
		if err != nil {
			return 0, err
		}
		out = &OrderPayload{Order: o}
		if in.Channel != Wallet {
			if out, err = s.firstCharge(ctx, o, in.Channel, mark); err != nil {
				return 0, err
			}
		}
		return o.ID, nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.replay(ctx, id)
	}
	return out, nil
}

// create writes a new PENDING order of the flow, marking the idempotency
// key with it when markNow.
func (s *Service) create(ctx context.Context, t order.Type, payer, payee int64, title string, amount int64,
	ch Channel, more func(*ent.OrderCreate), markNow bool, mark idempotency.Mark) (*ent.Order, error) {
	now := s.Clock.Now()
	var o *ent.Order
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		id := nextID()
		c := tx.Order.Create().SetID(id).SetOrderNo(orderNo(id)).SetType(t).SetAppID(defaultApp).
			SetPayerID(payer).SetTitle(title).SetAmount(amount).SetAsset(Asset).SetPayWay(string(ch)).
			SetExpiresAt(now.Add(s.OrderTTL)).SetCreatedAt(now).SetUpdatedAt(now)
		if payee != 0 {
			c.SetPayeeID(payee)
		}
		if more != nil {
			more(c)
		}
		var err error
		if o, err = c.Save(ctx); err != nil {
			return fmt.Errorf("creating order: %w", err)
		}
		if err := s.Payments.RecordCreated(ctx, tx, o, payment.Actor(ctx)); err != nil {
			return err
		}
		if markNow {
			return mark(ctx, tx.Tx, o.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// firstCharge hands a new order to Ping++; if that fails the order is
// cancelled, so nothing is left waiting for a payment that cannot come.
func (s *Service) firstCharge(ctx context.Context, o *ent.Order, ch Channel, mark idempotency.Mark) (*OrderPayload, error) {
	out, err := s.charge(ctx, o, ch, mark)
	if err == nil {
		return out, nil
	}
	cerr := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		_, err := s.Payments.Transition(ctx, tx, o, payment.Cancelled, "system", "the Ping++ charge could not be created", payment.Changes{})
		return err
	})
	if cerr != nil && apperr.CodeOf(cerr) != apperr.InvalidTransition {
		s.Log.ErrorContext(ctx, "cancelling an order whose charge failed", "order_id", o.ID, "err", cerr)
	}
	return nil, err
}

// replay answers a repeated keyed call: the order as it is now, with its
// current charge.
func (s *Service) replay(ctx context.Context, id int64) (*OrderPayload, error) {
	o, err := s.order(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &OrderPayload{Order: o}
	if o.Channel == channelPingpp && o.ProviderTradeNo != "" {
		c, err := s.Pingpp.GetCharge(ctx, o.ProviderTradeNo)
		if err != nil {
			return nil, err
		}
		out.Charge = s.view(c)
	}
	return out, nil
}

// charge creates a Ping++ charge for o (PENDING, or PROCESSING with a
// charge that can no longer be paid) and records it on the order, which
// becomes PROCESSING. The HTTP call happens outside any transaction.
func (s *Service) charge(ctx context.Context, o *ent.Order, ch Channel, mark idempotency.Mark) (*OrderPayload, error) {
	pch, ok := ch.pingpp()
	if !ok {
		return nil, input("channel", "channel is ALIPAY or WX")
	}
	body := o.Title
	if body == "" {
		body = "paygraph " + o.OrderNo
	}
	req := pingpp.ChargeRequest{
		OrderNo: o.OrderNo, Channel: pch, Amount: o.Amount, Currency: "cny",
		ClientIP: clientip.From(ctx), Subject: body, Body: body,
	}
	if o.ExpiresAt != nil {
		req.TimeExpire = *o.ExpiresAt
	}
	c, err := s.Pingpp.CreateCharge(ctx, req)
	if err != nil {
		return nil, err
	}
	var out *ent.Order
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		if o.Status == payment.Pending {
			out, err = s.Payments.Transition(ctx, tx, o, payment.Processing, payment.Actor(ctx), "handed to Ping++ ("+pch+")",
				payment.Changes{ProviderTradeNo: &c.ID})
			if err != nil {
				return err
			}
		} else {
			// A new charge replaces one that can no longer be paid.
			n, err := tx.Order.Update().Where(order.ID(o.ID), order.StatusEQ(payment.Processing),
				order.ProviderTradeNo(o.ProviderTradeNo)).SetProviderTradeNo(c.ID).Save(ctx)
			if err != nil {
				return fmt.Errorf("recording charge of order %d: %w", o.ID, err)
			}
			if n == 0 {
				return apperr.New(apperr.InvalidTransition, "the order changed meanwhile; read it again")
			}
			cp := *o
			cp.ProviderTradeNo = c.ID
			out = &cp
		}
		if err := tx.Order.UpdateOneID(o.ID).SetChannel(channelPingpp).SetPayWay(string(ch)).Exec(ctx); err != nil {
			return fmt.Errorf("recording channel of order %d: %w", o.ID, err)
		}
		out.Channel, out.PayWay = channelPingpp, string(ch)
		s.Payments.Events.Refresh(tx, out)
		if mark != nil {
			return mark(ctx, tx.Tx, o.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &OrderPayload{Order: out, Charge: s.view(c)}, nil
}

// PayByChannel pays a DEAL (or RECHARGE) order through Ping++ and returns
// the charge. An order already handed to Ping++ gets its open charge back
// (a different channel is refused while it is open); a charge that failed
// or expired is replaced. Of concurrent calls one hands the order to
// Ping++ and the others get its charge, as a retried call would.
//
// Who: the payer's own USER token (payment.OwnerOnly).
//
// Errors: ErrOrderNotFound, ErrNotPayer and the other refusals of
// payment.MaySpend (FORBIDDEN), INVALID_TRANSITION, ErrOrderExpired,
// BAD_USER_INPUT, PROVIDER_ERROR.
func (s *Service) PayByChannel(ctx context.Context, orderID int64, ch Channel) (*OrderPayload, error) {
	if _, ok := ch.pingpp(); !ok {
		return nil, input("channel", "channel is ALIPAY or WX")
	}
	o, err := s.order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if _, err := payment.MaySpend(ctx, o.PayerID, payment.OwnerOnly, payment.ErrNotPayer); err != nil {
		return nil, err
	}
	switch {
	case o.Type != order.TypeDEAL && o.Type != order.TypeRECHARGE:
		return nil, errWrongType("payByChannel", "DEAL", "RECHARGE")
	case !payment.Unpaid(o.Status):
		return nil, payment.InvalidTransition(o.Status, payment.Processing)
	}
	if out, err := s.openCharge(ctx, o, ch); out != nil || err != nil {
		return out, err
	}
	if o.ExpiresAt != nil && !s.Clock.Now().Before(*o.ExpiresAt) {
		return nil, payment.ErrOrderExpired
	}
	out, err := s.charge(ctx, o, ch, nil)
	if apperr.CodeOf(err) != apperr.InvalidTransition {
		return out, err
	}
	// Another call handed the order to Ping++ first: its charge is the
	// answer (the one this call made is never shown, so never paid).
	cur, rerr := s.order(ctx, orderID)
	if rerr != nil {
		return nil, rerr
	}
	if open, oerr := s.openCharge(ctx, cur, ch); open != nil || oerr != nil {
		return open, oerr
	}
	return nil, err
}

// openCharge returns o's charge if o was handed to Ping++ and the charge
// may still be paid (or was paid), nil if a new charge is needed. A charge
// through another channel than ch is refused while it is open.
func (s *Service) openCharge(ctx context.Context, o *ent.Order, ch Channel) (*OrderPayload, error) {
	if o.Status != payment.Processing || o.ProviderTradeNo == "" {
		return nil, nil
	}
	cur, err := s.Pingpp.GetCharge(ctx, o.ProviderTradeNo)
	if err != nil {
		return nil, err
	}
	if !cur.Paid && cur.Closed(s.Clock.Now()) {
		return nil, nil
	}
	if want, _ := ch.pingpp(); cur.Channel != want && !cur.Paid {
		return nil, input("channel", "a charge through %s is open for this order; pay it or let it expire", cur.Channel)
	}
	return &OrderPayload{Order: o, Charge: s.view(cur)}, nil
}

// PayByWalletInput is payByWallet's fingerprint (the password is never stored).
type PayByWalletInput struct {
	OrderID int64 `json:"orderId"`
}

// PayByWallet pays a PENDING deal from the buyer's wallet after checking
// the pay password: the money leaves the buyer's available balance and
// waits in the seller's escrow until the deal is confirmed.
//
// Who: the buyer's own USER token only (payment.OwnerOnly): the pay
// password is the buyer's. The seller, another user (even one who knows
// the password), any SERVICE and an ADMIN are refused.
//
// Errors: ErrOrderNotFound, ErrNotPayer and the other refusals of
// payment.MaySpend (FORBIDDEN), BAD_USER_INPUT, INVALID_TRANSITION (already
// paid, or handed to Ping++), ErrOrderExpired, the pay password's errors
// (WRONG_PASSWORD legacyCode 4, LOCKED), ledger.ErrInsufficientFunds
// (legacyCode 10), idempotency errors.
func (s *Service) PayByWallet(ctx context.Context, orderID int64, payPassword string, key *string) (*ent.Order, error) {
	var paid *ent.Order
	id, replayed, err := s.Idem.Do(ctx, "payByWallet", key, PayByWalletInput{orderID}, func(mark idempotency.Mark) (int64, error) {
		o, err := s.order(ctx, orderID)
		if err != nil {
			return 0, err
		}
		if _, err := payment.MaySpend(ctx, o.PayerID, payment.OwnerOnly, payment.ErrNotPayer); err != nil {
			return 0, err
		}
		switch {
		case o.Type != order.TypeDEAL:
			return 0, errWrongType("payByWallet", "DEAL")
		case o.Status == payment.Processing:
			return 0, apperr.New(apperr.InvalidTransition, "this order was handed to Ping++; pay its charge or let it expire")
		case o.Status != payment.Pending:
			return 0, payment.InvalidTransition(o.Status, payment.Paid)
		}
		now := s.Clock.Now()
		if o.ExpiresAt != nil && !now.Before(*o.ExpiresAt) {
			return 0, payment.ErrOrderExpired
		}
		// The password is checked (and a wrong try counted) in its own
		// units of work, before and whatever the payment does.
		if err := s.Guard.Check(ctx, o.PayerID, paypass.Pay, payPassword); err != nil {
			return 0, err
		}
		err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
			o, err := s.Payments.Transition(ctx, tx, o, payment.Paid, payment.Actor(ctx), "paid from the wallet",
				payment.Changes{PaidAt: &now})
			if err != nil {
				return err
			}
			if _, err := s.Ledger.Post(ctx, tx, ledger.Journal{
				Asset: o.Asset, Kind: "ESCROW_HOLD", OrderID: o.ID, Postings: []ledger.Posting{
					{UserID: o.PayerID, Bucket: ledger.Available, Amount: -o.Amount},
					{UserID: o.PayeeID, Bucket: ledger.Escrow, Amount: o.Amount},
				},
			}); err != nil {
				return err
			}
			if o, err = s.escrowed(ctx, tx, o, channelWallet); err != nil {
				return err
			}
			paid = o
			return mark(ctx, tx.Tx, o.ID)
		})
		if err != nil {
			return 0, err
		}
		return paid.ID, nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.order(ctx, id)
	}
	return paid, nil
}

// escrowed records on a deal just paid how it was paid and when it
// releases by itself.
func (s *Service) escrowed(ctx context.Context, tx *txn.Tx, o *ent.Order, channel string) (*ent.Order, error) {
	at := s.Clock.Now().Add(s.AutoConfirm)
	u := tx.Order.UpdateOneID(o.ID).SetAutoConfirmAt(at)
	if channel == channelWallet {
		u.SetChannel(channel).SetPayWay(string(Wallet))
	}
	if err := u.Exec(ctx); err != nil {
		return nil, fmt.Errorf("recording escrow of order %d: %w", o.ID, err)
	}
	cp := *o
	cp.AutoConfirmAt = &at
	if channel == channelWallet {
		cp.Channel, cp.PayWay = channel, string(Wallet)
	}
	s.Payments.Events.Refresh(tx, &cp)
	return &cp, nil
}

// SettleDeal is the OnPaid of DEAL orders paid through a provider: the
// money the provider collected waits in the seller's escrow.
func (s *Service) SettleDeal(ctx context.Context, tx *txn.Tx, o *ent.Order) (*ent.Order, error) {
	world := o.Channel
	if world == "" {
		world = WorldPingpp
	}
	if _, err := s.Ledger.Post(ctx, tx, ledger.Journal{
		Asset: o.Asset, Kind: "ESCROW_HOLD", OrderID: o.ID, Postings: []ledger.Posting{
			{World: world, Bucket: ledger.World, Amount: -o.Amount},
			{UserID: o.PayeeID, Bucket: ledger.Escrow, Amount: o.Amount},
		},
	}); err != nil {
		return nil, fmt.Errorf("holding deal %d in escrow: %w", o.ID, err)
	}
	return s.escrowed(ctx, tx, o, world)
}

// release moves what is left of a deal's money in escrow to the seller's
// withdrawable balance: the amount less what parts refunded before, and
// less a part being refunded through Ping++ (its money is held aside
// already, and goes to the buyer or, refused, to the seller).
func (s *Service) release(ctx context.Context, tx *txn.Tx, o *ent.Order) error {
	cur, err := tx.Order.Get(ctx, o.ID)
	if err != nil {
		return fmt.Errorf("re-reading deal %d: %w", o.ID, err)
	}
	x := cur.Amount - cur.RefundedAmount
	dr, err := tx.DealRefund.Query().Where(dealrefund.OrderID(o.ID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading refund of deal %d: %w", o.ID, err)
	case dr.State == dealrefund.StatePENDING && dr.Source == dealrefund.SourceESCROW:
		x -= dr.Amount
	}
	if x < 0 {
		return fmt.Errorf("deal %d: refunds and holds (%d) exceed its amount (%d)", o.ID, cur.Amount-x, cur.Amount)
	}
	if x == 0 {
		return nil
	}
	_, err = s.Ledger.Post(ctx, tx, ledger.Journal{
		Asset: o.Asset, Kind: "ESCROW_RELEASE", OrderID: o.ID, Postings: []ledger.Posting{
			{UserID: o.PayeeID, Bucket: ledger.Escrow, Amount: -x},
			{UserID: o.PayeeID, Bucket: ledger.Available, Amount: x, Withdrawable: x},
		},
	})
	if err != nil {
		return fmt.Errorf("releasing deal %d: %w", o.ID, err)
	}
	return nil
}

// ConfirmOrder is the buyer's confirmation of a paid deal: the escrowed
// money goes to the seller's withdrawable balance and the order is
// COMPLETED.
//
// Who: the buyer, whose money the escrow holds, or an ADMIN for the buyer
// (payment.OwnerOrAdmin); never the seller or a SERVICE. The scheduler's
// AutoConfirmDue releases deals whose time has come.
//
// Errors: ErrOrderNotFound, ErrNotBuyer and the other refusals of
// payment.MaySpend (FORBIDDEN), BAD_USER_INPUT, INVALID_TRANSITION.
func (s *Service) ConfirmOrder(ctx context.Context, orderID int64) (*ent.Order, error) {
	o, err := s.order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	p, err := payment.MaySpend(ctx, o.PayerID, payment.OwnerOrAdmin, ErrNotBuyer)
	if err != nil {
		return nil, err
	}
	if o.Type != order.TypeDEAL {
		return nil, errWrongType("confirmOrder", "DEAL")
	}
	reason := "confirmed by the buyer"
	if p.Role == role.Admin {
		reason = "confirmed by an admin for the buyer"
	}
	return s.complete(ctx, o, payment.Actor(ctx), reason, false)
}

// errRequestWaits skips, in AutoConfirmDue, a deal whose partial refund
// request arrived after it was found due.
var errRequestWaits = apperr.New(apperr.InvalidTransition, "a partial refund request waits for the seller's decision")

// complete confirms a deal and releases its escrow. auto (the 24-hour
// confirmation) leaves a deal alone whose partial refund request waits,
// checked again under the transition's row lock.
func (s *Service) complete(ctx context.Context, o *ent.Order, actor, reason string, auto bool) (*ent.Order, error) {
	var out *ent.Order
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		now := s.Clock.Now()
		var err error
		if out, err = s.Payments.Transition(ctx, tx, o, payment.Completed, actor, reason, payment.Changes{CompletedAt: &now}); err != nil {
			return err
		}
		if auto {
			cur, err := tx.Order.Get(ctx, o.ID)
			if err != nil {
				return fmt.Errorf("re-reading deal %d: %w", o.ID, err)
			}
			if cur.RefundRequestedAmount != nil {
				return errRequestWaits
			}
		}
		return s.release(ctx, tx, out)
	})
	return out, err
}

// AutoConfirmDue releases deals whose auto-confirm time has passed and
// returns how many. Each release is a conditional transition, so several
// instances running it at once release each deal once, and a deal its
// buyer confirmed or disputed meanwhile is left alone. A deal with a
// partial refund request waiting waits too, as one asked to be refunded
// whole does: the seller decides the request first.
func (s *Service) AutoConfirmDue(ctx context.Context, limit int) (int, error) {
	due, err := s.Client.Order.Query().
		Where(order.StatusEQ(payment.Paid), order.TypeEQ(order.TypeDEAL), order.AutoConfirmAtNotNil(),
			order.AutoConfirmAtLTE(s.Clock.Now()), order.RefundRequestedAmountIsNil()).
		Order(ent.Asc(order.FieldAutoConfirmAt)).Limit(limit).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("finding deals to confirm: %w", err)
	}
	n := 0
	for _, o := range due {
		_, err := s.complete(ctx, o, "system", "confirmed automatically", true)
		if apperr.CodeOf(err) == apperr.InvalidTransition {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// RechargeInput is recharge's fingerprint.
type RechargeInput struct {
	Amount  money.Decimal `json:"amount"`
	Channel Channel       `json:"channel"`
}

// Recharge creates a RECHARGE order paid through Ping++ and returns its
// charge; once Ping++ confirms it, the money is the caller's available
// (not withdrawable) cash.
//
// Errors: BAD_USER_INPUT, PROVIDER_ERROR, idempotency errors.
func (s *Service) Recharge(ctx context.Context, amount money.Decimal, ch Channel, key *string) (*OrderPayload, error) {
	p, err := auth.Require(ctx, role.User)
	if err != nil {
		return nil, err
	}
	n, err := s.cny("amount", amount)
	if err != nil {
		return nil, err
	}
	if _, ok := ch.pingpp(); !ok {
		return nil, input("channel", "channel is ALIPAY or WX")
	}
	var out *OrderPayload
	id, replayed, err := s.Idem.Do(ctx, "recharge", key, RechargeInput{amount, ch}, func(mark idempotency.Mark) (int64, error) {
		o, err := s.create(ctx, order.TypeRECHARGE, p.Subject, 0, "充值", n, ch, nil, false, mark)
		if err != nil {
			return 0, err
		}
		if out, err = s.firstCharge(ctx, o, ch, mark); err != nil {
			return 0, err
		}
		return o.ID, nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.replay(ctx, id)
	}
	return out, nil
}

// isInsufficient reports whether err is the ledger's refusal of a debit.
func isInsufficient(err error) bool { return errors.Is(err, ledger.ErrInsufficientFunds) }
