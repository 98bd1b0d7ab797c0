// Package twofactor is the second factor of the token checkout: TOTP
// authenticator apps (GA), one-time codes by SMS and email, the payer's
// choice among them, and the checks pay runs before money moves.
//
// A payer with authType NONE pays without a code. Once a factor is chosen
// (enableTotp binds GA, setAuthType picks MOBILE or EMAIL) every payment
// needs a valid code of that factor, and the factor can be changed only to
// another bound one, never back to NONE.
package twofactor

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// The rules for codes sent by SMS and email, and for GA codes.
const (
	// CodeTTL is how long a sent code is valid.
	CodeTTL = 5 * time.Minute
	// MaxAttempts wrong codes lock a sent code (and, for GA, the factor
	// for GALockout).
	MaxAttempts = 5
	// ResendEvery is the least time between two codes sent to one user.
	ResendEvery = time.Minute
	// DailyLimit is how many codes one user may be sent in 24 hours.
	DailyLimit = 10
	// GALockout is how long GA payments are refused after MaxAttempts wrong
	// GA codes in a row.
	GALockout = 15 * time.Minute
	// Issuer names paygraph in authenticator apps.
	Issuer = "paygraph"
)

// Errors of the second factor.
var (
	ErrCodeInvalid   = apperr.New(apperr.VerifyCodeInvalid, "wrong verification code")
	ErrCodeUsed      = apperr.New(apperr.VerifyCodeInvalid, "this verification code was already used")
	ErrCodeSpent     = apperr.New(apperr.VerifyCodeInvalid, "this code was already used, or a newer code was sent for this order")
	ErrCodeExpired   = apperr.New(apperr.VerifyCodeExpired, "the verification code has expired: request a new one")
	ErrCodeLocked    = apperr.New(apperr.Locked, "too many wrong codes: this code is locked, request a new one")
	ErrCodeNotFound  = apperr.New(apperr.VerifyCodeInvalid, "unknown verifyCodeOrderId: request a code with sendPaymentVerifyCode")
	ErrCodeElsewhere = apperr.New(apperr.VerifyCodeInvalid, "this code was sent for another order")
	ErrGABound       = apperr.Input("", "an authenticator (GA) is already bound to this account")
	ErrNoOutbox      = apperr.New(apperr.Forbidden, "verifyCodeOutbox is off: a real sender is configured (PAYGRAPH_SMTP_URL / PAYGRAPH_SMS_URL)")
)

// Service is the token checkout's second factor. It implements payment.SecondFactor
// and payment.SecondFactorPrecheck for pay.
type Service struct {
	Client   *ent.Client
	Tx       *txn.Runner
	Clock    clock.Clock
	Log      *slog.Logger
	Payments *payment.Service
	// Email and SMS deliver codes; nil means the channel has no sender.
	Email, SMS Notifier
	// Dev is the development sender, set only while no real sender is
	// configured; verifyCodeOutbox reads it.
	Dev *DevSender
	// BindTradePwd says whether a user has set a pay password (the escrow marketplace
	// owns that field); nil reports false.
	BindTradePwd func(*ent.User) bool
	// TOTP is the kind of code authenticator apps make (GA by default).
	TOTP TOTP

	keys *keys
}

// New returns the service; master is the key that seals TOTP secrets and
// hashes codes (at least 32 bytes).
func New(s Service, master []byte) (*Service, error) {
	k, err := newKeys(master)
	if err != nil {
		return nil, err
	}
	s.keys = k
	if s.TOTP.Period == 0 {
		s.TOTP = GA
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	return &s, nil
}

// sender returns the notifier of channel, or nil.
func (s *Service) sender(t user.AuthType) Notifier {
	switch t {
	case user.AuthTypeMOBILE:
		return s.SMS
	case user.AuthTypeEMAIL:
		return s.Email
	}
	return nil
}

// viewer returns the calling USER.
func (s *Service) viewer(ctx context.Context) (*ent.User, error) {
	p, err := auth.Require(ctx, role.User)
	if err != nil {
		return nil, err
	}
	u, err := s.Client.User.Get(ctx, p.Subject)
	if ent.IsNotFound(err) {
		return nil, auth.ErrTokenInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("loading user %d: %w", p.Subject, err)
	}
	return u, nil
}

// randomCode returns n random decimal digits.
func randomCode(n int) (string, error) {
	max := big.NewInt(int64(pow10[n]))
	v, err := rand.Int(rand.Reader, max)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", n, v.Int64()), nil
}

// Need2FA reports whether u must give a code to pay.
func Need2FA(u *ent.User) bool { return u.AuthType != user.AuthTypeNONE }
