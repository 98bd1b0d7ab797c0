package twofactor

import (
	"context"
	"fmt"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/role"
)

var errNotPayerData = apperr.New(apperr.Forbidden, "only the payer, an ADMIN or the order's app may read its payment data")

// UserInfo is the payer as the token checkout's load_pay_data shows it.
type UserInfo struct {
	UserID int64
	// RegisterType: 2 the account has an email address, 1 only a mobile
	// number, 0 neither.
	RegisterType int
	// Mobile and Email are masked (186****0001, z********n@163.com).
	Mobile       *string
	NationalCode *string
	Email        *string
	BindGA       bool
	BindTradePwd bool
	// UserType: 1 an end user (USER), 2 an administrator (ADMIN).
	UserType int
	// VerifyStatus: 0 nothing to verify with, 1 a mobile number or email
	// address on file but no second factor chosen, 2 a second factor in use.
	VerifyStatus int
	// Source is the name of the app the order comes from (paygraph keeps no
	// registration source).
	Source *string
}

// PaymentData is the token checkout's load_pay_data: the order, its payer and the
// second factor pay will ask for.
type PaymentData struct {
	Order    *ent.Order
	User     *UserInfo
	Need2FA  bool
	AuthType user.AuthType
}

// PaymentData returns what a payment page shows. The payer, an ADMIN and
// the SERVICE of the order's app may read it; the payee may not (it would
// see the payer's contacts).
//
// Errors: payment.ErrOrderNotFound, FORBIDDEN, BAD_USER_INPUT for an order
// without a payer.
func (s *Service) PaymentData(ctx context.Context, orderID int64) (*PaymentData, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.Client.Order.Get(ctx, orderID)
	if ent.IsNotFound(err) {
		return nil, payment.ErrOrderNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading order %d: %w", orderID, err)
	}
	if p.Role == role.User && o.PayerID != p.Subject {
		return nil, errNotPayerData
	}
	if err := access.CanView(ctx, o); err != nil {
		return nil, err
	}
	if o.PayerID == 0 {
		return nil, payment.ErrUserNotFound
	}
	u, err := s.Client.User.Get(ctx, o.PayerID)
	if err != nil {
		return nil, fmt.Errorf("loading payer %d: %w", o.PayerID, err)
	}
	info := &UserInfo{
		UserID: u.ID, BindGA: u.BindGa, UserType: 1,
		Mobile: maskPtr(access.MaskMobile(u.Mobile)), Email: maskPtr(access.MaskEmail(u.Email)), NationalCode: maskPtr(u.NationalCode),
	}
	if s.BindTradePwd != nil {
		info.BindTradePwd = s.BindTradePwd(u)
	}
	if u.Role == role.Admin {
		info.UserType = 2
	}
	switch {
	case u.Email != "":
		info.RegisterType = 2
	case u.Mobile != "":
		info.RegisterType = 1
	}
	switch {
	case Need2FA(u):
		info.VerifyStatus = 2
	case u.Email != "" || u.Mobile != "":
		info.VerifyStatus = 1
	}
	if a, err := s.Client.App.Get(ctx, o.AppID); err == nil {
		info.Source = &a.Name
	}
	return &PaymentData{Order: o, User: info, Need2FA: Need2FA(u), AuthType: u.AuthType}, nil
}

// QuickPayResult is the token checkout's quick_pay answer.
type QuickPayResult struct {
	// ProcessIsEnd: the order is paid.
	ProcessIsEnd bool
	// Need2FA: nothing was paid; pay again with the payer's second factor.
	Need2FA bool
	Order   *ent.Order
}

// QuickPay pays without a code where the payer's policy allows it: a payer
// with no second factor (authType NONE) is paid through at once. A payer
// with a factor is paid when the input carries a code (checked exactly as
// pay checks it, wrong codes counted); without one nothing happens and the
// answer says a code is needed (processIsEnd false, need2FA true).
//
// Errors: those of pay.
func (s *Service) QuickPay(ctx context.Context, in payment.PayInput) (*QuickPayResult, error) {
	u, err := s.viewer(ctx)
	if err != nil {
		return nil, err
	}
	if Need2FA(u) && normalize(in.VerifyCode) == "" {
		o, err := s.payableOrder(ctx, u.ID, in.OrderID)
		if err != nil {
			return nil, err
		}
		return &QuickPayResult{Need2FA: true, Order: o}, nil
	}
	o, err := s.Payments.Pay(ctx, in)
	if err != nil {
		return nil, err
	}
	return &QuickPayResult{ProcessIsEnd: true, Order: o}, nil
}

func maskPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func mask(t user.AuthType, to string) string {
	if t == user.AuthTypeMOBILE {
		return access.MaskMobile(to)
	}
	return access.MaskEmail(to)
}
