package twofactor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/url"
	"strconv"
	"strings"

	"github.com/pquerna/otp"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// TotpSetup is a new authenticator secret, shown once, before enableTotp.
type TotpSetup struct {
	// Secret is base32, as authenticator apps take it by hand.
	Secret string
	// OtpauthURL is the otpauth://totp/… URL the QR code holds.
	OtpauthURL string
	// QrPng is the QR code as a data:image/png;base64 URL.
	QrPng string
}

// SetupTotp makes a new TOTP secret for the caller and keeps it, sealed,
// until enableTotp proves the authenticator app has it. Calling it again
// replaces the pending secret.
//
// Errors: ErrGABound once GA is bound.
func (s *Service) SetupTotp(ctx context.Context) (*TotpSetup, error) {
	u, err := s.viewer(ctx)
	if err != nil {
		return nil, err
	}
	if u.BindGa {
		return nil, ErrGABound
	}
	raw := make([]byte, 20)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("drawing a secret: %w", err)
	}
	sealed, err := s.keys.seal(raw, u.ID)
	if err != nil {
		return nil, fmt.Errorf("sealing a secret: %w", err)
	}
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		n, err := tx.User.Update().Where(user.ID(u.ID), user.BindGa(false)).SetTotpPendingSecret(sealed).Save(ctx)
		if err != nil {
			return fmt.Errorf("keeping the pending secret of user %d: %w", u.ID, err)
		}
		if n == 0 {
			return ErrGABound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	link := s.otpauthURL(u.Username, secret)
	qr, err := qrDataURL(link)
	if err != nil {
		return nil, err
	}
	return &TotpSetup{Secret: secret, OtpauthURL: link, QrPng: qr}, nil
}

func (s *Service) otpauthURL(account, secret string) string {
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", Issuer)
	q.Set("algorithm", string(s.TOTP.Algorithm))
	q.Set("digits", strconv.Itoa(s.TOTP.Digits))
	q.Set("period", strconv.Itoa(int(s.TOTP.Period.Seconds())))
	label := url.PathEscape(Issuer) + ":" + url.PathEscape(account)
	return "otpauth://totp/" + label + "?" + q.Encode()
}

func qrDataURL(link string) (string, error) {
	key, err := otp.NewKeyFromURL(link)
	if err != nil {
		return "", fmt.Errorf("otpauth URL: %w", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return "", fmt.Errorf("drawing the QR code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return "", fmt.Errorf("encoding the QR code: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

// EnableTotp binds the pending secret once code proves the authenticator
// app makes its codes. The step of that code is spent (it cannot pay), and
// a payer whose authType was NONE now pays with GA.
//
// Errors: ErrGABound, BAD_USER_INPUT without setupTotp first,
// VERIFY_CODE_INVALID.
func (s *Service) EnableTotp(ctx context.Context, code string) (*ent.User, error) {
	u, err := s.viewer(ctx)
	if err != nil {
		return nil, err
	}
	c := strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	var out *ent.User
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		u, err := tx.User.Get(ctx, u.ID)
		if err != nil {
			return err
		}
		if u.BindGa {
			return ErrGABound
		}
		if u.TotpPendingSecret == "" {
			return apperr.Input("code", "call setupTotp first")
		}
		secret, err := s.keys.open(u.TotpPendingSecret, u.ID)
		if err != nil {
			return err
		}
		step, ok, _ := s.TOTP.Match(secret, c, s.Clock.Now(), u.TotpLastStep)
		if !ok {
			return ErrCodeInvalid
		}
		upd := tx.User.UpdateOneID(u.ID).SetTotpSecret(u.TotpPendingSecret).ClearTotpPendingSecret().
			SetBindGa(true).SetTotpLastStep(step).SetTotpFailures(0).ClearTotpLockedUntil()
		if u.AuthType == user.AuthTypeNONE {
			upd.SetAuthType(user.AuthTypeGA)
		}
		out, err = upd.Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetAuthType chooses the factor pay asks for among those the caller has:
// GA once bound, MOBILE with a mobile number and an SMS sender, EMAIL with
// an email address and an email sender. NONE is accepted only while no
// factor was chosen: a second factor cannot be switched off.
//
// Errors: BAD_USER_INPUT for a factor the caller does not have.
func (s *Service) SetAuthType(ctx context.Context, t user.AuthType) (*ent.User, error) {
	u, err := s.viewer(ctx)
	if err != nil {
		return nil, err
	}
	switch t {
	case user.AuthTypeNONE:
		if u.AuthType != user.AuthTypeNONE {
			return nil, apperr.Input("authType", "a second factor cannot be switched off: choose GA, MOBILE or EMAIL")
		}
		return u, nil
	case user.AuthTypeGA:
		if !u.BindGa {
			return nil, apperr.Input("authType", "GA is not bound: call setupTotp and enableTotp first")
		}
	case user.AuthTypeMOBILE:
		if u.Mobile == "" {
			return nil, apperr.Input("authType", "the account has no mobile number")
		}
		if s.SMS == nil {
			return nil, apperr.Input("authType", "codes cannot be sent by SMS here (no SMS sender is configured)")
		}
	case user.AuthTypeEMAIL:
		if u.Email == "" {
			return nil, apperr.Input("authType", "the account has no email address")
		}
		if s.Email == nil {
			return nil, apperr.Input("authType", "codes cannot be sent by email here (no email sender is configured)")
		}
	default:
		return nil, apperr.Input("authType", "unknown authType %q", t)
	}
	var out *ent.User
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		out, err = tx.User.UpdateOneID(u.ID).SetAuthType(t).Save(ctx)
		return err
	})
	return out, err
}

// DisableTotp unbinds the caller's authenticator app once a current code
// of it proves the caller holds it (wrong codes are counted and lock GA,
// as at pay). The code's step is spent. A payer who paid with GA then pays
// with no second factor until it chooses another (setAuthType).
//
// Errors: BAD_USER_INPUT when no authenticator is bound,
// VERIFY_CODE_INVALID, LOCKED.
func (s *Service) DisableTotp(ctx context.Context, code string) (*ent.User, error) {
	u, err := s.viewer(ctx)
	if err != nil {
		return nil, err
	}
	if !u.BindGa {
		return nil, apperr.Input("code", "no authenticator app is bound")
	}
	c := strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	var (
		out *ent.User
		v   verdict
	)
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var cur *ent.User
		var err error
		if v, cur, err = s.weighGA(ctx, tx, u.ID, c); err != nil || v.err != nil {
			return err // a wrong code's count is kept
		}
		upd := tx.User.UpdateOneID(u.ID).SetBindGa(false).ClearTotpSecret().ClearTotpPendingSecret().
			SetTotpLastStep(v.step).SetTotpFailures(0).ClearTotpLockedUntil()
		if cur.AuthType == user.AuthTypeGA {
			upd.SetAuthType(user.AuthTypeNONE)
		}
		out, err = upd.Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if v.err != nil {
		return nil, v.err
	}
	return out, nil
}

// ResetSecondFactor removes every second factor of a user who lost theirs
// (an authenticator, a phone): an ADMIN's act, after checking who asks
// outside paygraph. The user then pays without a second factor until it
// binds or chooses one again.
//
// Errors: FORBIDDEN (not an ADMIN), NOT_FOUND.
func (s *Service) ResetSecondFactor(ctx context.Context, userID int64) (*ent.User, error) {
	if _, err := auth.Require(ctx, role.Admin); err != nil {
		return nil, err
	}
	var out *ent.User
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		out, err = tx.User.UpdateOneID(userID).SetBindGa(false).ClearTotpSecret().ClearTotpPendingSecret().
			SetTotpFailures(0).ClearTotpLockedUntil().SetAuthType(user.AuthTypeNONE).Save(ctx)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.NotFound, "user not found")
		}
		return err
	})
	return out, err
}
