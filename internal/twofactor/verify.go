package twofactor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/ent/verifycode"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/txn"
)

// How pay checks a code, and why in two steps.
//
// Precheck runs before pay's transaction, in a unit of work of its own: it
// judges the code and, when it is wrong, counts the attempt and commits
// that count. Counting inside pay's transaction would not work, because a
// wrong code makes pay fail and its transaction roll back, taking the count
// with it. Precheck first takes the row's write lock (an UPDATE of the code
// or user row), so concurrent guesses are judged one after another and at
// most MaxAttempts wrong codes are ever weighed.
//
// Verify runs inside pay's transaction: it checks the code again and
// consumes it with a conditional UPDATE (a sent code: used_at IS NULL; GA:
// totp_last_step below the accepted step). The consumption commits only
// with the payment: if pay fails afterwards (insufficient funds, the order
// was paid meanwhile) the code is still unused. Of two pays racing with one
// valid code, the conditional UPDATE lets exactly one through; the other
// gets VERIFY_CODE_INVALID (or INVALID_TRANSITION from the order's own
// conditional status change).

// verdict is what a check decided about a code.
type verdict struct {
	err error
	// wrong: the code was weighed and found wrong (counted by Precheck).
	wrong bool
	step  int64 // GA: the accepted step
}

func normalize(code *string) string {
	if code == nil {
		return ""
	}
	return strings.ReplaceAll(strings.TrimSpace(*code), " ", "")
}

func codeRequired(t user.AuthType) error {
	return apperr.Input("verifyCode", "this payer pays with a second factor (%s): verifyCode is required", t)
}

// Precheck judges a payer's code before pay's transaction and records a
// wrong one. It returns nil when the payer needs no code or the code is
// right (the code is not consumed here).
//
// Errors: BAD_USER_INPUT (verifyCodeOrderId missing),
// VERIFY_CODE_INVALID, VERIFY_CODE_EXPIRED, LOCKED.
func (s *Service) Precheck(ctx context.Context, userID, orderID int64, verifyCodeOrderID *int64, code *string) error {
	c := normalize(code)
	if c == "" {
		return nil // nothing to weigh; Verify refuses a missing code where one is needed
	}
	if t, err := authType(ctx, s.Client.User.Query(), userID); err != nil || t == user.AuthTypeNONE {
		return err
	}
	u, err := s.Client.User.Get(ctx, userID)
	if err != nil {
		return fmt.Errorf("loading payer %d: %w", userID, err)
	}
	var v verdict
	switch u.AuthType {
	case user.AuthTypeGA:
		err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
			v, _, err = s.weighGA(ctx, tx, userID, c)
			return err
		})
	default:
		id, ok := codeID(verifyCodeOrderID)
		if !ok {
			return apperr.Input("verifyCodeOrderId", "this payer pays with a %s code: give the verifyCodeOrderId sendPaymentVerifyCode returned", u.AuthType)
		}
		err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
			n, err := tx.VerifyCode.Update().Where(verifycode.ID(id), verifycode.UserID(userID)).AddAttempts(0).Save(ctx)
			if err != nil {
				return fmt.Errorf("locking code %d: %w", id, err)
			}
			if n == 0 {
				v.err = ErrCodeNotFound
				return nil
			}
			vc, err := tx.VerifyCode.Get(ctx, id)
			if err != nil {
				return err
			}
			if v = s.judgeCode(u, vc, orderID, c, s.Clock.Now()); !v.wrong {
				return nil
			}
			attempts := vc.Attempts + 1
			if attempts >= MaxAttempts {
				v.err = ErrCodeLocked
			} else {
				v.err = wrongCode(MaxAttempts - attempts)
			}
			return tx.VerifyCode.UpdateOneID(id).SetAttempts(attempts).Exec(ctx)
		})
	}
	if err != nil {
		return err
	}
	return v.err
}

// weighGA judges a GA code of userID inside tx and counts a wrong one
// (locking GA after MaxAttempts). The row is write-locked first, so
// guesses queue. The caller commits tx even when v.err is set: the count
// must stay.
func (s *Service) weighGA(ctx context.Context, tx *txn.Tx, userID int64, c string) (verdict, *ent.User, error) {
	if err := tx.User.UpdateOneID(userID).AddTotpFailures(0).Exec(ctx); err != nil {
		return verdict{}, nil, fmt.Errorf("locking user %d: %w", userID, err)
	}
	u, err := tx.User.Get(ctx, userID)
	if err != nil {
		return verdict{}, nil, err
	}
	now := s.Clock.Now()
	v, err := s.judgeGA(u, c, now)
	if err != nil || !v.wrong {
		return v, u, err
	}
	upd := tx.User.UpdateOneID(userID)
	if f := u.TotpFailures + 1; f >= MaxAttempts {
		upd.SetTotpFailures(0).SetTotpLockedUntil(now.Add(GALockout))
		v.err = gaLocked(now.Add(GALockout))
	} else {
		upd.SetTotpFailures(f)
		v.err = wrongCode(MaxAttempts - f)
	}
	return v, u, upd.Exec(ctx)
}

// Verify checks the payer's code inside pay's transaction and consumes it
// there (see the comment at the top of this file).
func (s *Service) Verify(ctx context.Context, tx *txn.Tx, userID, orderID int64, verifyCodeOrderID *int64, code *string) error {
	// Read again inside the transaction: a factor chosen since Precheck counts.
	if t, err := authType(ctx, tx.User.Query(), userID); err != nil || t == user.AuthTypeNONE {
		return err
	}
	u, err := tx.User.Get(ctx, userID)
	if err != nil {
		return fmt.Errorf("loading payer %d: %w", userID, err)
	}
	c := normalize(code)
	if c == "" {
		return codeRequired(u.AuthType)
	}
	now := s.Clock.Now()
	if u.AuthType == user.AuthTypeGA {
		v, err := s.judgeGA(u, c, now)
		if err != nil {
			return err
		}
		if v.err != nil {
			return v.err
		}
		n, err := tx.User.Update().Where(user.ID(userID), user.TotpLastStepLT(v.step)).
			SetTotpLastStep(v.step).SetTotpFailures(0).Save(ctx)
		if err != nil {
			return fmt.Errorf("consuming GA step of user %d: %w", userID, err)
		}
		if n == 0 {
			return ErrCodeUsed
		}
		return nil
	}
	id, ok := codeID(verifyCodeOrderID)
	if !ok {
		return apperr.Input("verifyCodeOrderId", "give the verifyCodeOrderId sendPaymentVerifyCode returned")
	}
	vc, err := tx.VerifyCode.Query().Where(verifycode.ID(id), verifycode.UserID(userID)).Only(ctx)
	if ent.IsNotFound(err) {
		return ErrCodeNotFound
	}
	if err != nil {
		return fmt.Errorf("loading code %d: %w", id, err)
	}
	if v := s.judgeCode(u, vc, orderID, c, now); v.err != nil {
		return v.err
	}
	n, err := tx.VerifyCode.Update().
		Where(verifycode.ID(id), verifycode.UserID(userID), verifycode.OrderID(orderID), verifycode.UsedAtIsNil(),
			verifycode.AttemptsLT(MaxAttempts), verifycode.ExpiresAtGT(now)).
		SetUsedAt(now).Save(ctx)
	if err != nil {
		return fmt.Errorf("consuming code %d: %w", id, err)
	}
	if n == 0 {
		return ErrCodeUsed
	}
	return nil
}

// authType reads only a user's auth_type.
func authType(ctx context.Context, q *ent.UserQuery, userID int64) (user.AuthType, error) {
	v, err := q.Where(user.ID(userID)).Select(user.FieldAuthType).String(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the factor of payer %d: %w", userID, err)
	}
	return user.AuthType(v), nil
}

func codeID(p *int64) (int64, bool) {
	if p == nil || *p <= 0 {
		return 0, false
	}
	return *p, true
}

func wrongCode(left int) error {
	return apperr.New(apperr.VerifyCodeInvalid, "wrong verification code (%d more wrong tries lock it)", left)
}

func gaLocked(until time.Time) error {
	return apperr.New(apperr.Locked, "too many wrong GA codes: GA payments are locked until %s", until.UTC().Format(time.RFC3339))
}

// judgeGA checks a GA code of u at now. A non-nil error is a failure to
// check; v.err is the verdict for the client.
func (s *Service) judgeGA(u *ent.User, code string, now time.Time) (verdict, error) {
	if u.TotpLockedUntil != nil && now.Before(*u.TotpLockedUntil) {
		return verdict{err: gaLocked(*u.TotpLockedUntil)}, nil
	}
	if !u.BindGa || u.TotpSecret == "" {
		return verdict{}, fmt.Errorf("user %d has authType GA but no bound secret", u.ID)
	}
	secret, err := s.keys.open(u.TotpSecret, u.ID)
	if err != nil {
		return verdict{}, err
	}
	step, ok, replayed := s.TOTP.Match(secret, code, now, u.TotpLastStep)
	switch {
	case ok:
		return verdict{step: step}, nil
	case replayed:
		return verdict{err: ErrCodeUsed}, nil
	}
	return verdict{err: ErrCodeInvalid, wrong: true}, nil
}

// judgeCode checks a sent code for paying orderID as u. Only a code that
// is the payer's, for this order, unused, unlocked and unexpired is weighed.
func (s *Service) judgeCode(u *ent.User, vc *ent.VerifyCode, orderID int64, code string, now time.Time) verdict {
	switch {
	case vc.UserID != u.ID:
		return verdict{err: ErrCodeNotFound}
	case vc.OrderID != orderID:
		return verdict{err: ErrCodeElsewhere}
	case string(vc.Channel) != string(u.AuthType):
		return verdict{err: apperr.New(apperr.VerifyCodeInvalid, "this code was sent by %s but the payer's authType is now %s: request a new code", vc.Channel, u.AuthType)}
	case vc.UsedAt != nil:
		return verdict{err: ErrCodeSpent}
	case vc.Attempts >= MaxAttempts:
		return verdict{err: ErrCodeLocked}
	case !now.Before(vc.ExpiresAt):
		return verdict{err: ErrCodeExpired}
	case !s.keys.codeMatches(vc.ID, code, vc.CodeHash):
		return verdict{err: ErrCodeInvalid, wrong: true}
	}
	return verdict{}
}
