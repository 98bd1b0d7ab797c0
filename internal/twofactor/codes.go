package twofactor

import (
	"context"
	"fmt"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/ent/verifycode"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// CodeSent is what sendPaymentVerifyCode returns.
type CodeSent struct {
	// VerifyCodeOrderID goes into pay's verifyCodeOrderId.
	VerifyCodeOrderID int64
	Channel           user.AuthType
	// To is the masked address the code went to.
	To        string
	ExpiresAt time.Time
}

// payableOrder loads an order the caller (a USER) is about to pay and checks
// what pay would check before its transaction.
//
// Errors: payment.ErrOrderNotFound, payment.ErrNotPayer, BAD_USER_INPUT for
// another type of order, INVALID_TRANSITION, payment.ErrOrderExpired.
func (s *Service) payableOrder(ctx context.Context, userID, orderID int64) (*ent.Order, error) {
	o, err := s.Client.Order.Get(ctx, orderID)
	if ent.IsNotFound(err) {
		return nil, payment.ErrOrderNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading order %d: %w", orderID, err)
	}
	if o.PayerID != userID {
		return nil, payment.ErrNotPayer
	}
	if o.Type != order.TypePAYMENT {
		return nil, apperr.Input("orderId", "this is a %s order, not a PAYMENT order", o.Type)
	}
	if o.Status != payment.Pending {
		return nil, payment.InvalidTransition(o.Status, payment.Paid)
	}
	if o.ExpiresAt != nil && !s.Clock.Now().Before(*o.ExpiresAt) {
		return nil, payment.ErrOrderExpired
	}
	return o, nil
}

// SendPaymentVerifyCode sends the payer a 6-digit code for one order by the
// payer's authType (MOBILE or EMAIL). The code is valid for CodeTTL, once,
// for this order and payer only; a new code for the same order replaces the
// previous one. A user is sent at most one code per ResendEvery and
// DailyLimit codes in 24 hours (a rolling window).
//
// Errors: as payableOrder; BAD_USER_INPUT when the payer's authType is NONE
// or GA; RATE_LIMITED; PROVIDER_ERROR when the code could not be delivered
// (it still counts against the limits).
func (s *Service) SendPaymentVerifyCode(ctx context.Context, orderID int64) (*CodeSent, error) {
	u, err := s.viewer(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.payableOrder(ctx, u.ID, orderID)
	if err != nil {
		return nil, err
	}
	var to string
	switch u.AuthType {
	case user.AuthTypeNONE:
		return nil, apperr.Input("orderId", "this payer has no second factor: pay needs no code")
	case user.AuthTypeGA:
		return nil, apperr.Input("orderId", "this payer pays with GA: use the code of the authenticator app, nothing is sent")
	case user.AuthTypeMOBILE:
		to = u.Mobile
	case user.AuthTypeEMAIL:
		to = u.Email
	}
	if to == "" {
		return nil, apperr.Input("orderId", "the account has no address for %s codes: choose another authType", u.AuthType)
	}
	n := s.sender(u.AuthType)
	if n == nil {
		return nil, apperr.New(apperr.ProviderError, "no %s sender is configured", u.AuthType)
	}
	code, err := randomCode(6)
	if err != nil {
		return nil, fmt.Errorf("drawing a code: %w", err)
	}
	id := idgen.Next()
	now := s.Clock.Now()
	sent := &CodeSent{VerifyCodeOrderID: id, Channel: u.AuthType, To: mask(u.AuthType, to), ExpiresAt: now.Add(CodeTTL)}
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		// The conditional update is the once-a-minute rule, and its row lock
		// makes concurrent requests of one user take turns for the daily count.
		n, err := tx.User.Update().
			Where(user.ID(u.ID), user.Or(user.VerifyCodeSentAtIsNil(), user.VerifyCodeSentAtLTE(now.Add(-ResendEvery)))).
			SetVerifyCodeSentAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("claiming a send for user %d: %w", u.ID, err)
		}
		if n == 0 {
			return apperr.New(apperr.RateLimited, "a code was sent less than a minute ago: wait before asking again")
		}
		count, err := tx.VerifyCode.Query().Where(verifycode.UserID(u.ID), verifycode.CreatedAtGT(now.Add(-24*time.Hour))).Count(ctx)
		if err != nil {
			return fmt.Errorf("counting codes of user %d: %w", u.ID, err)
		}
		if count >= DailyLimit {
			return apperr.New(apperr.RateLimited, "at most %d codes are sent in 24 hours: try again later", DailyLimit)
		}
		if err := tx.VerifyCode.Update().
			Where(verifycode.UserID(u.ID), verifycode.OrderID(o.ID), verifycode.UsedAtIsNil()).
			SetUsedAt(now).Exec(ctx); err != nil {
			return fmt.Errorf("retiring older codes: %w", err)
		}
		return tx.VerifyCode.Create().SetID(id).SetUserID(u.ID).SetOrderID(o.ID).
			SetChannel(verifycode.Channel(u.AuthType)).SetDestination(sent.To).
			SetCodeHash(s.keys.hashCode(id, code)).SetExpiresAt(sent.ExpiresAt).SetCreatedAt(now).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	// Delivery talks to the outside world: after the commit, and not
	// cancelled by a client that hangs up.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := n.Send(sendCtx, Message{
		Channel: string(u.AuthType), To: to, NationalCode: u.NationalCode, Code: code,
		OrderID: o.ID, VerifyCodeOrderID: id, ExpiresAt: sent.ExpiresAt,
	}); err != nil {
		s.Log.ErrorContext(ctx, "sending a verification code failed", "channel", u.AuthType, "user", u.ID, "err", err)
		return nil, apperr.New(apperr.ProviderError, "the code could not be sent: try again in a minute")
	}
	return sent, nil
}

// Outbox returns the newest codes the development sender kept (ADMIN).
//
// Errors: FORBIDDEN for others, ErrNoOutbox when a real sender is
// configured, BAD_USER_INPUT for first outside 1–100.
func (s *Service) Outbox(ctx context.Context, first *int) ([]*OutboxEntry, error) {
	if _, err := auth.Require(ctx, role.Admin); err != nil {
		return nil, err
	}
	if s.Dev == nil {
		return nil, ErrNoOutbox
	}
	n := 20
	if first != nil {
		n = *first
	}
	if n < 1 || n > 100 {
		return nil, apperr.Input("first", "first must be between 1 and 100")
	}
	return s.Dev.Latest(n), nil
}

// PurgeCodes deletes sent codes older than two days (they no longer count
// against any limit) and returns how many.
func (s *Service) PurgeCodes(ctx context.Context) (int, error) {
	var n int
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		n, err = tx.VerifyCode.Delete().Where(verifycode.CreatedAtLT(s.Clock.Now().Add(-48 * time.Hour))).Exec(ctx)
		return err
	})
	return n, err
}
