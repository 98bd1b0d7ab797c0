package payment

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/provider/epay"
	"github.com/paygraph/paygraph/internal/qrpng"
	"github.com/paygraph/paygraph/internal/txn"
)

// CreatePointsOrderInput is the points flow's create-order.
type CreatePointsOrderInput struct {
	// Amount is what the buyer pays, in CNY.
	Amount money.Decimal `json:"amount"`
	// Points is how many points the payment buys.
	Points int `json:"points"`
	// PaymentType is the epay payment type: alipay, wechat, qq, …
	PaymentType string `json:"paymentType"`
	// UserID is the buyer, named by a SERVICE or ADMIN.
	UserID *int64 `json:"userId,omitempty"`
	// Title is what the gateway shows the payer (default "N 积分").
	Title *string `json:"title,omitempty"`
	// ReturnURL is where the browser goes after paying.
	ReturnURL      *string `json:"returnUrl,omitempty"`
	IdempotencyKey *string `json:"-"`
}

// GetPayURLInput is the points flow's get-pay-url.
type GetPayURLInput struct {
	OrderNo string
	// Method is web (default), jump, jsapi, app, scan or applet.
	Method *string
	// Device is pc (default), mobile, qq, wechat or alipay (method web).
	Device *string
	// ReturnURL replaces the order's return URL.
	ReturnURL *string
	// ClientIP is the payer's address (default: the caller's).
	ClientIP *string
	// AuthCode is the buyer's payment code (method scan); SubOpenID and
	// SubAppID identify a WeChat buyer (method jsapi).
	AuthCode, SubOpenID, SubAppID *string
}

// PayURL is how to pay an order at the gateway.
type PayURL struct {
	TradeNo string
	// PayType: jump, html, qrcode, urlscheme, jsapi, app, scan, wxplugin, wxapp.
	PayType string
	PayInfo string
	OrderNo string
	// QrPng is a data: URL of a QR code of PayInfo, for PayType qrcode.
	QrPng *string
}

// legacyPoints adds the points flow's numbered error codes: -1 bad or missing
// parameter, -2 no permission, -3 server (here: the gateway).
func legacyPoints(err error) error {
	var e *apperr.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code {
	case apperr.BadUserInput:
		return e.WithLegacy(-1)
	case apperr.Forbidden, apperr.Unauthenticated:
		return e.WithLegacy(-2)
	case apperr.ProviderError:
		return e.WithLegacy(-3)
	}
	return err
}

// pointsOrderNo is the points flow's order number: ORDER, a 13-digit millisecond
// timestamp and 4 random digits.
func (s *Epay) pointsOrderNo() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(10000))
	return fmt.Sprintf("ORDER%013d%04d", s.Clock.Now().UnixMilli(), n.Int64())
}

// maxPoints bounds one order's points.
const maxPoints = 1_000_000_000

// CreatePointsOrder creates a POINTS order: the buyer pays Amount CNY
// through epay and, once the payment is confirmed, gets Points points.
//
// Errors (with the points flow's legacyCode): BAD_USER_INPUT (-1), FORBIDDEN
// (-2), idempotency errors.
func (s *Epay) CreatePointsOrder(ctx context.Context, in CreatePointsOrderInput) (*ent.Order, error) {
	o, err := s.createPointsOrder(ctx, in)
	return o, legacyPoints(err)
}

func (s *Epay) createPointsOrder(ctx context.Context, in CreatePointsOrderInput) (*ent.Order, error) {
	p, buyer, err := payer(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	appID, err := s.appOf(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	a, amount, err := s.Ledger.Assets().Positive("asset", "amount", "CNY", in.Amount)
	if err != nil {
		return nil, err
	}
	if in.Points <= 0 || in.Points > maxPoints {
		return nil, apperr.Input("points", "points must be a whole number from 1 to %d", maxPoints)
	}
	if _, err := s.Ledger.Assets().Get("points", PointsAsset); err != nil {
		return nil, apperr.Input("points", "the %s asset is not configured", PointsAsset)
	}
	in.PaymentType = CanonicalPayWay(in.PaymentType)
	if !payWayName.MatchString(in.PaymentType) {
		return nil, apperr.Input("paymentType", "paymentType must be an epay payment type such as alipay, wechat or qq")
	}
	if err := checkReturnURL("returnUrl", in.ReturnURL); err != nil {
		return nil, err
	}
	title := fmt.Sprintf("%d 积分", in.Points)
	if in.Title != nil && *in.Title != "" {
		if len([]rune(*in.Title)) > 64 {
			return nil, apperr.Input("title", "title is longer than 64 characters")
		}
		title = *in.Title
	}
	if ok, err := s.Client.User.Query().Where(user.ID(buyer)).Exist(ctx); err != nil {
		return nil, fmt.Errorf("finding buyer: %w", err)
	} else if !ok {
		return nil, ErrUserNotFound
	}
	var created *ent.Order
	id, replayed, err := s.Idem.Do(ctx, "createPointsOrder", in.IdempotencyKey, in, func(mark idempotency.Mark) (int64, error) {
		for attempt := 0; ; attempt++ {
			err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
				now := s.Clock.Now()
				pts := int64(in.Points)
				o, err := tx.Order.Create().SetID(idgen.Next()).SetOrderNo(s.pointsOrderNo()).
					SetType(order.TypePOINTS).SetAppID(appID).SetPayerID(buyer).
					SetAmount(amount).SetAsset(a.Code).SetPoints(pts).SetTitle(title).
					SetPayWay(in.PaymentType).SetChannel(ChannelEpay).SetNillableReturnURL(emptyNil(in.ReturnURL)).
					SetExpiresAt(now.Add(s.OrderTTL)).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
				if err != nil {
					return err
				}
				if err := s.RecordCreated(ctx, tx, o, Actor(ctx)); err != nil {
					return err
				}
				created = detach(o) // its edges load after commit
				return mark(ctx, tx.Tx, o.ID)
			})
			if ent.IsConstraintError(err) && attempt < 3 {
				continue // the order number was taken in the same millisecond
			}
			if err != nil {
				return 0, err
			}
			return created.ID, nil
		}
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.Client.Order.Get(ctx, id)
	}
	return created, nil
}

func emptyNil(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

var (
	payMethods = map[string]bool{"web": true, "jump": true, "jsapi": true, "app": true, "scan": true, "applet": true}
	payDevices = map[string]bool{"pc": true, "mobile": true, "qq": true, "wechat": true, "alipay": true}
)

// GetPayURL hands an epay order (POINTS, or an app store recharge) to the
// gateway's API and returns how to pay it; the order becomes PROCESSING.
// Asking again returns a way to pay the same trade (or a new one if the
// last attempt failed). If the gateway is down or slow the order stays as
// it was and may be paid later.
//
// Errors (with the points flow's legacyCode): BAD_USER_INPUT (-1), FORBIDDEN (-2),
// PROVIDER_ERROR (-3), NOT_FOUND, INVALID_TRANSITION, ORDER_EXPIRED.
func (s *Epay) GetPayURL(ctx context.Context, in GetPayURLInput) (*PayURL, error) {
	u, err := s.getPayURL(ctx, in)
	return u, legacyPoints(err)
}

func (s *Epay) getPayURL(ctx context.Context, in GetPayURLInput) (*PayURL, error) {
	method, device := "web", "pc"
	if in.Method != nil && *in.Method != "" {
		method = *in.Method
	}
	if in.Device != nil && *in.Device != "" {
		device = *in.Device
	}
	if !payMethods[method] {
		return nil, apperr.Input("method", "method must be web, jump, jsapi, app, scan or applet")
	}
	if !payDevices[device] {
		return nil, apperr.Input("device", "device must be pc, mobile, qq, wechat or alipay")
	}
	if s.Gateway.Version() == epay.V1 && method != "web" && method != "jump" {
		return nil, apperr.Input("method", "method %s needs the gateway's V2 interface (PAYGRAPH_EPAY_SIGN_TYPE=RSA)", method)
	}
	authCode := deref(in.AuthCode)
	if method == "scan" && authCode == "" {
		return nil, apperr.Input("authCode", "method scan needs the buyer's payment code (authCode)")
	}
	for f, v := range map[string]*string{"authCode": in.AuthCode, "subOpenId": in.SubOpenID, "subAppId": in.SubAppID, "clientIp": in.ClientIP} {
		if v != nil && len(*v) > 128 {
			return nil, apperr.Input(f, "%s is longer than 128 characters", f)
		}
	}
	if err := checkReturnURL("returnUrl", in.ReturnURL); err != nil {
		return nil, err
	}
	o, err := s.byOrderNo(ctx, "orderNo", in.OrderNo)
	if err != nil {
		return nil, err
	}
	if err := mayActAsPayer(ctx, o); err != nil {
		return nil, err
	}
	if o.Channel != ChannelEpay || (o.Type != order.TypePOINTS && o.Type != order.TypeRECHARGE) {
		return nil, ErrNotEpay
	}
	if !Unpaid(o.Status) {
		return nil, InvalidTransition(o.Status, Processing)
	}
	if o.ExpiresAt != nil && !s.Clock.Now().Before(*o.ExpiresAt) {
		return nil, ErrOrderExpired
	}
	ip := deref(in.ClientIP)
	if ip == "" {
		ip = clientIP(ctx)
	}
	res, err := s.Gateway.Create(ctx, epay.PayArgs{
		Type: epayType(o.PayWay), OutTradeNo: o.OrderNo, NotifyURL: s.notifyURL(), ReturnURL: s.returnURL(),
		Name: o.Title, Money: s.Ledger.Assets().Format(o.Asset, o.Amount).String(), ClientIP: ip,
		Method: method, Device: device, AuthCode: authCode, SubOpenID: deref(in.SubOpenID), SubAppID: deref(in.SubAppID),
	})
	if err != nil {
		s.Log.WarnContext(ctx, "epay create failed", "order_no", o.OrderNo, "err", err)
		return nil, gatewayErr(err)
	}
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		cur, err := tx.Order.Get(ctx, o.ID)
		if err != nil {
			return fmt.Errorf("re-reading order %d: %w", o.ID, err)
		}
		switch cur.Status {
		case Pending:
			_, err = s.Transition(ctx, tx, cur, Processing, Actor(ctx), "handed to epay ("+method+")",
				Changes{ProviderTradeNo: &res.TradeNo})
		case Processing:
			err = tx.Order.Update().Where(order.ID(cur.ID), order.StatusEQ(Processing)).
				SetProviderTradeNo(res.TradeNo).SetUpdatedAt(s.Clock.Now()).Exec(ctx)
		case Paid, Completed:
			// paid meanwhile (a payment code is charged at once)
		default:
			return InvalidTransition(cur.Status, Processing)
		}
		if err != nil {
			return err
		}
		if in.ReturnURL != nil && *in.ReturnURL != "" {
			return tx.Order.UpdateOneID(cur.ID).SetReturnURL(*in.ReturnURL).Exec(ctx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &PayURL{TradeNo: res.TradeNo, PayType: res.PayType, PayInfo: res.PayInfo, OrderNo: o.OrderNo}
	if res.PayType == "qrcode" {
		if png, err := qrpng.DataURL(res.PayInfo); err == nil {
			out.QrPng = &png
		}
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// SettlePoints is the OnPaid of POINTS orders: the points bought enter
// the buyer's wallet (asset POINTS) from the outside-world account of the
// order's channel, in the transaction that marks the order PAID.
func (s *Epay) SettlePoints(ctx context.Context, tx *txn.Tx, o *ent.Order) (*ent.Order, error) {
	asset, n, err := s.hold(o)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("points order %d has no points", o.ID)
	}
	if _, err := s.Ledger.Post(ctx, tx, ledger.Journal{
		Asset: asset, Kind: "POINTS", OrderID: o.ID, Memo: o.Title,
		Postings: []ledger.Posting{
			{World: o.Channel, Bucket: ledger.World, Amount: -n},
			{UserID: o.PayerID, Bucket: ledger.Available, Amount: n},
		},
	}); err != nil {
		return nil, fmt.Errorf("crediting points of order %d: %w", o.ID, err)
	}
	return o, nil
}
