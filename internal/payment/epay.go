package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/refundattempt"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/provider/epay"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// ChannelEpay is the channel (and outside-world ledger account) of orders
// paid through 易支付.
const ChannelEpay = "epay"

// PointsAsset is the asset points orders credit.
const PointsAsset = "POINTS"

// Epay holds the flows paid through 易支付: points orders (the points flow) and the
// app store (the app store), with their refunds.
type Epay struct {
	*Service
	Gateway *epay.Client
	// PublicURL returns the base of the notify and return URLs handed to
	// the gateway.
	PublicURL func() string
	Log       *slog.Logger
	// SyncEvery is how long the gateway's answer about an order is reused
	// by Sync before the gateway is asked again.
	SyncEvery time.Duration

	syncs syncCache
}

// Errors of the epay flows.
var (
	ErrRefundInProgress = apperr.New(apperr.InvalidTransition, "a refund of this order is already being processed; try again in a minute")
	ErrNotEpay          = apperr.Input("orderNo", "this order is not paid through epay")
)

func (s *Epay) notifyURL() string { return s.PublicURL() + "/payment/notify" }
func (s *Epay) returnURL() string { return s.PublicURL() + "/payment/return" }

// epayType maps a pay way name to the gateway's payment type.
func epayType(payWay string) string {
	switch payWay {
	case "wechat", "weixin":
		return "wxpay"
	case "qq":
		return "qqpay"
	}
	return payWay
}

var payWayName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// payWayAliases are the spellings the source documents (and gateways)
// use for the pay ways paygraph names alipay, wechat, qq and wallet.
var payWayAliases = map[string]string{
	"alipay": "alipay", "zfb": "alipay", "支付宝": "alipay",
	"wechat": "wechat", "wx": "wechat", "wxpay": "wechat", "weixin": "wechat", "微信": "wechat",
	"qq": "qq", "qqpay": "qq",
	"wallet": PayWayWallet, "balance": PayWayWallet, "余额": PayWayWallet,
}

// CanonicalPayWay is the one name of a pay way given in any of the
// documents' spellings, in any case (WX, wxpay and WECHAT are wechat);
// other names are only lower-cased.
func CanonicalPayWay(s string) string {
	l := strings.ToLower(strings.TrimSpace(s))
	if c, ok := payWayAliases[l]; ok {
		return c
	}
	return l
}

// gatewayErr turns a failed gateway call into PROVIDER_ERROR with the
// gateway's message.
func gatewayErr(err error) error {
	var e *epay.Error
	if errors.As(err, &e) {
		return apperr.New(apperr.ProviderError, "%s", e.Error())
	}
	return apperr.New(apperr.ProviderError, "epay: the gateway call failed")
}

// checkReturnURL validates a frontend return URL.
func checkReturnURL(field string, u *string) error {
	if u == nil || *u == "" {
		return nil
	}
	p, err := url.Parse(*u)
	if len(*u) > 1024 || err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return apperr.Input(field, "%s must be an http(s) URL of at most 1024 characters", field)
	}
	return nil
}

type clientIPKey struct{}

// WithClientIP returns ctx carrying the caller's IP address, which the
// gateway wants with an API payment.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

func clientIP(ctx context.Context) string {
	if ip, _ := ctx.Value(clientIPKey{}).(string); ip != "" {
		return ip
	}
	return "127.0.0.1"
}

// payer returns the user an order is made for: a USER itself; a SERVICE
// or ADMIN names the user.
func payer(ctx context.Context, userID *int64) (auth.Principal, int64, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return p, 0, err
	}
	if p.IsUser() {
		if userID != nil && *userID != p.Subject {
			return p, 0, auth.ErrOtherUser
		}
		return p, p.Subject, nil
	}
	if userID == nil {
		return p, 0, apperr.Input("userId", "a %s names the user (userId)", p.Role)
	}
	return p, *userID, nil
}

// appOf returns the app an order belongs to: a SERVICE's own, otherwise
// the one named (default 1), which must exist.
func (s *Epay) appOf(ctx context.Context, p auth.Principal, appID *int64) (int64, error) {
	id, err := access.AppOf(ctx, appID)
	if err != nil || p.Role == role.Service {
		return id, err
	}
	ok, err := s.Client.App.Query().Where(app.ID(id)).Exist(ctx)
	if err != nil {
		return 0, fmt.Errorf("finding app: %w", err)
	}
	if !ok {
		return 0, apperr.Input("appId", "app %d not found", id)
	}
	return id, nil
}

// mayActAsPayer checks that the caller may act on an order for its payer
// in ways that move none of the payer's money (hand it to the gateway, ask
// for a return): the payer itself, the order's app (SERVICE) or an ADMIN.
// Spending the payer's money is MaySpend's to allow.
func mayActAsPayer(ctx context.Context, o *ent.Order) error {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return err
	}
	switch {
	case p.Role == role.Admin,
		p.Role == role.Service && p.AppID == o.AppID,
		p.IsUser() && p.Subject == o.PayerID:
		return nil
	}
	return apperr.New(apperr.Forbidden, "only the payer, the order's app or an ADMIN may do this")
}

// byOrderNo loads an order the caller may see by its number.
func (s *Epay) byOrderNo(ctx context.Context, field, no string) (*ent.Order, error) {
	if no == "" || len(no) > 64 {
		return nil, apperr.Input(field, "%s must be 1 to 64 characters", field)
	}
	return s.Load(ctx, s.Client.Order.Query().Where(order.OrderNo(no)))
}

// ---- sync ----

// ProviderInfo is the gateway's view of an order's payment.
type ProviderInfo struct {
	TradeNo    string
	APITradeNo string
	// Status is the gateway's: 0 unpaid, 1 paid, 2 refunded, 3 frozen.
	Status     int
	StatusText string
	Addtime    string
	Endtime    string
	Money      string
	Type       string
}

var gatewayStatusText = map[int]string{0: "待支付", 1: "已支付", 2: "已退款", 3: "已冻结"}

// Sync asks the gateway about an epay order and, when the gateway says it
// is paid and we have not heard, applies the payment exactly as a notify
// would. It returns the order as it now is and the gateway's view; a nil
// view means nothing was learned (not an epay order, or the gateway could
// not be asked: err says why). The gateway is asked at most once per order
// per SyncEvery; within it, the last answer is used again.
func (s *Epay) Sync(ctx context.Context, o *ent.Order) (*ent.Order, *ProviderInfo, error) {
	if o.Channel != ChannelEpay {
		return o, nil, nil
	}
	t, err := s.syncs.query(ctx, o, s.Clock.Now(), s.SyncEvery, func() (*epay.Trade, error) {
		return s.Gateway.Query(ctx, o.OrderNo)
	})
	if err != nil {
		return o, nil, gatewayErr(err)
	}
	info := &ProviderInfo{TradeNo: t.TradeNo, APITradeNo: t.APITradeNo, Status: t.Status, StatusText: gatewayStatusText[t.Status],
		Addtime: t.AddTime, Endtime: t.EndTime, Money: t.Money, Type: t.Type}
	if t.Status != epay.StatusPaid || !Unpaid(o.Status) {
		return o, info, nil
	}
	amount, err := money.ParseDecimal(t.Money)
	if err != nil {
		s.Log.WarnContext(ctx, "epay query: unreadable money", "order_no", o.OrderNo)
		return o, info, nil
	}
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		_, _, err := s.ApplyNotice(ctx, tx, Notice{Provider: ChannelEpay, OrderNo: o.OrderNo, ProviderTradeNo: t.TradeNo,
			Amount: amount, Outcome: OutcomePaid, OpenedTrade: true})
		return err
	})
	switch {
	case err == nil, apperr.CodeOf(err) == apperr.InvalidTransition:
		// applied now, or by a notify at the same moment
	case errors.Is(err, ErrNoticeAmount):
		s.Log.WarnContext(ctx, "epay query: the gateway reports a payment of another amount; not applied",
			"order_no", o.OrderNo, "money", t.Money)
		return o, info, nil
	default:
		return o, info, err
	}
	cur, err := s.Client.Order.Get(ctx, o.ID)
	if err != nil {
		return o, info, fmt.Errorf("re-reading order %d: %w", o.ID, err)
	}
	return cur, info, nil
}

// Reconcile asks the gateway about epay orders still waiting for their
// payment whose expiry is near, so that a lost notify neither loses a
// payment nor lets the order expire under a payer who paid. It returns how
// many it asked about.
func (s *Epay) Reconcile(ctx context.Context, limit int) (int, error) {
	now := s.Clock.Now()
	due, err := s.Client.Order.Query().Where(
		order.Channel(ChannelEpay), order.StatusIn(Pending, Processing),
		order.ExpiresAtNotNil(), order.ExpiresAtLTE(now.Add(2*time.Minute)),
	).Order(ent.Asc(order.FieldExpiresAt)).Limit(limit).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("finding epay orders to reconcile: %w", err)
	}
	for _, o := range due {
		if _, _, err := s.Sync(ctx, o); err != nil && apperr.CodeOf(err) != apperr.ProviderError {
			return 0, err
		}
	}
	return len(due), nil
}

// ---- return ----

// ReturnTarget checks the signed parameters the gateway sends the browser
// back with and returns the order's frontend return URL with orderNo and
// status added, or "" when the order has none (the caller shows a page).
//
// Errors: BAD_USER_INPUT (a return the gateway did not sign), NOT_FOUND.
func (s *Epay) ReturnTarget(ctx context.Context, p epay.Params) (*ent.Order, string, error) {
	n, err := s.Gateway.VerifyNotify(p)
	if err != nil {
		return nil, "", apperr.New(apperr.BadUserInput, "this return was not signed by the gateway")
	}
	o, err := s.Client.Order.Query().Where(order.OrderNo(n.OutTradeNo)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, "", ErrOrderNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("finding order: %w", err)
	}
	if o.ReturnURL == "" {
		return o, "", nil
	}
	u, err := url.Parse(o.ReturnURL)
	if err != nil {
		return o, "", nil
	}
	q := u.Query()
	q.Set("orderNo", o.OrderNo)
	q.Set("status", string(o.Status))
	u.RawQuery = q.Encode()
	return o, u.String(), nil
}

// ---- refunds ----

// ByChannel dispatches the refunds of one order type by the order's
// channel: RECHARGE orders are paid through epay (the app store) or Ping++
// (the escrow marketplace), and each channel gives money back its own way.
type ByChannel map[string]RefundHandler

// MayRequest dispatches by o.Channel: a channel with no refunds has none.
func (b ByChannel) MayRequest(ctx context.Context, o *ent.Order) error {
	h := b[o.Channel]
	if h == nil {
		return ErrNoRefunds
	}
	if r, ok := h.(RefundRequester); ok {
		return r.MayRequest(ctx, o)
	}
	return nil
}

// Approve dispatches by o.Channel.
func (b ByChannel) Approve(ctx context.Context, o *ent.Order, r Refund) (*ent.Order, error) {
	if h := b[o.Channel]; h != nil {
		return h.Approve(ctx, o, r)
	}
	return nil, ErrNoRefunds
}

// MayDecide dispatches by o.Channel.
func (b ByChannel) MayDecide(ctx context.Context, o *ent.Order) error {
	if d, ok := b[o.Channel].(RefundDecider); ok {
		return d.MayDecide(ctx, o)
	}
	return ErrNoRefunds
}

// MayRefundPart dispatches by o.Channel.
func (b ByChannel) MayRefundPart(o *ent.Order) error {
	h := b[o.Channel]
	if h == nil {
		return ErrNoRefunds
	}
	return mayRefundPart(h, o)
}

// Reject dispatches by o.Channel.
func (b ByChannel) Reject(ctx context.Context, o *ent.Order, reason string) (*ent.Order, error) {
	if h := b[o.Channel]; h != nil {
		return h.Reject(ctx, o, reason)
	}
	return nil, ErrNoRefunds
}

// GatewayRefunds refunds orders the payer paid at the epay gateway
// (RECHARGE and POINTS): what the payment put in the payer's wallet is
// taken back, then the gateway gives the money back.
type GatewayRefunds struct{ *Epay }

// WalletRefunds refunds CONSUME orders paid from the wallet: the money
// goes back to the wallet.
type WalletRefunds struct{ *Epay }

// refundLease is how long an approver holds a refund before another may
// take it over (its holder having died mid-way).
const refundLease = 2 * time.Minute

// hold is what a refund takes back from the payer's wallet.
func (s *Epay) hold(o *ent.Order) (string, int64, error) {
	if o.Type != order.TypePOINTS {
		return o.Asset, o.Amount, nil
	}
	a, err := s.Ledger.Assets().Get("asset", PointsAsset)
	if err != nil {
		return "", 0, err
	}
	var pts int64
	if o.Points != nil {
		pts = *o.Points
	}
	n, err := a.Minor(money.Decimal{Coef: pts})
	return a.Code, n, err
}

// Approve refunds r.Amount through the gateway. In one transaction it
// claims the refund and moves what the payment added to the payer's
// wallet (for a part of a recharge, that part) into its escrow bucket (so
// it cannot be spent meanwhile); then it calls the gateway with the
// refund's own number; then, in a second transaction, refundedAmount
// grows (the order becomes REFUNDED once it is whole) and the held money
// leaves the platform — or, if the gateway refused, the money is released
// and the order stays as it was. When the gateway's answer is lost the
// money stays held and approving again asks the gateway what happened
// before refunding; a V2 gateway refunds one refund number once, so the
// retry cannot refund twice.
//
// Who: the order's app or an ADMIN (decidesRefund). The money is taken
// out of the payer's wallet to go back to the payer's account at the
// gateway, as the payer asked.
//
// Errors: FORBIDDEN (not the order's app or an admin), INVALID_TRANSITION
// (also: an earlier refund's outcome is unknown and it was for another
// amount), INSUFFICIENT_FUNDS (the payment's money was spent),
// ErrRefundInProgress, PROVIDER_ERROR.
func (h GatewayRefunds) Approve(ctx context.Context, o *ent.Order, r Refund) (*ent.Order, error) {
	if err := decidesRefund(ctx, o); err != nil {
		return nil, err
	}
	if o.Status != RefundRequested && !refundable(o.Status) {
		return nil, InvalidTransition(o.Status, Refunded)
	}
	if o.Channel != ChannelEpay {
		return nil, ErrNoRefunds
	}
	asset, amount, err := h.hold(o)
	if err != nil {
		return nil, err
	}
	if o.Type != order.TypePOINTS {
		amount = r.Amount
	}
	a, askFirst, err := h.claimRefund(ctx, o, r, asset, amount)
	if errors.Is(err, ledger.ErrInsufficientFunds) {
		w, _ := h.Ledger.WalletFor(ctx, o.PayerID, asset)
		return nil, apperr.New(apperr.InsufficientFunds,
			"cannot refund: the payment added %s %s to the payer's wallet and only %s is left (it was partly spent); nothing was changed",
			h.Ledger.Assets().Format(asset, amount), asset, h.Ledger.Assets().Format(asset, w.Available))
	}
	if err != nil {
		return nil, err
	}
	cny := h.Ledger.Assets().Format(o.Asset, a.Amount).String()
	if askFirst {
		// A previous call's outcome is unknown: ask before refunding twice.
		if t, err := h.Gateway.Query(ctx, o.OrderNo); err == nil && h.refundedAtGateway(t, o, a) {
			return h.finishRefund(ctx, o, r, a, "")
		}
	}
	res, err := h.Gateway.Refund(ctx, epay.RefundArgs{TradeNo: o.ProviderTradeNo, OutTradeNo: o.OrderNo, Money: cny, OutRefundNo: a.OutRefundNo})
	var ge *epay.Error
	switch {
	case err == nil:
		return h.finishRefund(ctx, o, r, a, res.RefundNo)
	case errors.As(err, &ge) && ge.Rejected:
		if rerr := h.releaseRefund(ctx, a, ge.Msg); rerr != nil {
			return nil, rerr
		}
		return nil, gatewayErr(err)
	default:
		h.markUnknown(ctx, a, err)
		return nil, apperr.New(apperr.ProviderError,
			"%s; the refund's outcome is unknown: the money stays held, approve again to finish it", err.Error())
	}
}

// refundedAtGateway reports whether the gateway's trade shows attempt a
// made: the trade refunded whole, or refunded at least what o had
// refunded before a plus a.
func (h GatewayRefunds) refundedAtGateway(t *epay.Trade, o *ent.Order, a *ent.RefundAttempt) bool {
	if t.Status == epay.StatusRefunded {
		return true
	}
	d, err := money.ParseDecimal(t.RefundMoney)
	if err != nil {
		return false
	}
	as, err := h.Ledger.Assets().Get("asset", o.Asset)
	if err != nil {
		return false
	}
	got, err := as.Minor(d)
	return err == nil && got > 0 && got >= o.RefundedAmount+a.Amount
}

// MayRefundPart: a recharge through a V2 gateway may be refunded in parts.
// A V1 gateway has no partial refunds (its refund call has no refund
// number, so a part could not be retried safely either), and a points
// order gives back the points it bought, which do not split exactly.
func (h GatewayRefunds) MayRefundPart(o *ent.Order) error {
	if o.Type == order.TypePOINTS {
		return wholeOnly("points orders (the points bought are taken back whole)")
	}
	if h.Gateway.Version() != epay.V2 {
		return apperr.Input("amount", "the epay gateway is configured with the V1 protocol, which has no partial refunds: refund the whole (leave the amount out)")
	}
	return nil
}

// errEarlierRefund refuses a refund while an earlier one of another
// amount has an unknown outcome: that one is finished first.
func (h GatewayRefunds) errEarlierRefund(o *ent.Order, a *ent.RefundAttempt) error {
	f := h.Ledger.Assets().Format(o.Asset, a.Amount)
	return apperr.New(apperr.InvalidTransition,
		"an earlier refund of %s %s through the gateway has an unknown outcome: approve %s (the amount it was for) to finish it first", f, o.Asset, f)
}

// claimRefund takes the refund of o for this call and holds the money.
// An order has one attempt row, taken over by each new refund once the
// previous one is done or refused, with the next refund number. askFirst
// says a previous attempt's outcome is unknown: the gateway must be asked
// before refunding again.
func (h GatewayRefunds) claimRefund(ctx context.Context, o *ent.Order, r Refund, asset string, amount int64) (out *ent.RefundAttempt, askFirst bool, err error) {
	err = h.Tx.Run(ctx, func(tx *txn.Tx) error {
		askFirst = false
		now := h.Clock.Now()
		a, err := tx.RefundAttempt.Query().Where(refundattempt.OrderID(o.ID)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			a, err = tx.RefundAttempt.Create().SetOrderID(o.ID).SetProvider(ChannelEpay).
				SetOutRefundNo("RF" + o.OrderNo).SetAmount(r.Amount).SetHoldAsset(asset).SetHold(amount).
				SetState(refundattempt.StatePENDING).SetStartedAt(now).Save(ctx)
			if ent.IsConstraintError(err) {
				return ErrRefundInProgress
			}
			if err != nil {
				return fmt.Errorf("claiming refund: %w", err)
			}
		case err != nil:
			return fmt.Errorf("reading refund: %w", err)
		case a.State == refundattempt.StatePENDING && now.Sub(a.StartedAt) < refundLease:
			return ErrRefundInProgress
		case a.State == refundattempt.StateDONE || a.State == refundattempt.StateFAILED:
			cur, err := tx.Order.Get(ctx, o.ID)
			if err != nil {
				return fmt.Errorf("re-reading order %d: %w", o.ID, err)
			}
			if cur.RefundedAmount >= cur.Amount {
				return InvalidTransition(Refunded, Refunded)
			}
			if r.Amount > cur.Amount-cur.RefundedAmount {
				return errRefundExceeds(h.Service, cur) // a refund decided meanwhile took part of it
			}
			// A new refund: the next number, so the gateway never takes
			// it for the one before.
			num := a.Number + 1
			no := fmt.Sprintf("RF%s-%d", o.OrderNo, num)
			n, err := tx.RefundAttempt.Update().Where(refundattempt.ID(a.ID), refundattempt.StateEQ(a.State),
				refundattempt.StartedAt(a.StartedAt)).SetState(refundattempt.StatePENDING).SetStartedAt(now).
				SetNumber(num).SetOutRefundNo(no).SetAmount(r.Amount).SetHold(amount).SetHeld(false).
				ClearError().ClearProviderRefundNo().Save(ctx)
			if err != nil {
				return fmt.Errorf("starting refund: %w", err)
			}
			if n != 1 {
				return ErrRefundInProgress
			}
			a.State, a.StartedAt, a.Number, a.OutRefundNo, a.Amount, a.Hold, a.Held = refundattempt.StatePENDING, now, num, no, r.Amount, amount, false
		default:
			// Resumed: an earlier call died or lost the gateway's answer.
			if a.Amount != r.Amount {
				return h.errEarlierRefund(o, a)
			}
			n, err := tx.RefundAttempt.Update().Where(refundattempt.ID(a.ID), refundattempt.StateEQ(a.State),
				refundattempt.StartedAt(a.StartedAt)).SetState(refundattempt.StatePENDING).SetStartedAt(now).Save(ctx)
			if err != nil {
				return fmt.Errorf("taking over refund: %w", err)
			}
			if n != 1 {
				return ErrRefundInProgress
			}
			askFirst = true
			a.State, a.StartedAt = refundattempt.StatePENDING, now
		}
		if !a.Held {
			if _, err := h.Ledger.Post(ctx, tx, ledger.Journal{Asset: a.HoldAsset, Kind: "REFUND_HOLD", OrderID: o.ID,
				Memo: "held while the gateway refunds", Postings: []ledger.Posting{
					{UserID: o.PayerID, Bucket: ledger.Available, Amount: -a.Hold},
					{UserID: o.PayerID, Bucket: ledger.Escrow, Amount: a.Hold},
				}}); err != nil {
				return err
			}
			if err := tx.RefundAttempt.UpdateOneID(a.ID).SetHeld(true).Exec(ctx); err != nil {
				return fmt.Errorf("recording the hold: %w", err)
			}
			a.Held = true
		}
		out = a
		return nil
	})
	return out, askFirst, err
}

// finishRefund records a refund the gateway made.
func (h GatewayRefunds) finishRefund(ctx context.Context, o *ent.Order, r Refund, a *ent.RefundAttempt, refundNo string) (*ent.Order, error) {
	r.Amount = a.Amount // what this attempt asked of the gateway
	var done *ent.Order
	err := h.Tx.Run(ctx, func(tx *txn.Tx) error {
		cur, err := tx.Order.Get(ctx, o.ID)
		if err != nil {
			return fmt.Errorf("re-reading order %d: %w", o.ID, err)
		}
		done, err = h.SettleRefund(ctx, tx, cur, r, Actor(ctx), "refunded through epay")
		if err != nil {
			return err
		}
		if _, err := h.Ledger.Post(ctx, tx, ledger.Journal{Asset: a.HoldAsset, Kind: "REFUND", OrderID: o.ID,
			Memo: "refunded through epay", Postings: []ledger.Posting{
				{UserID: o.PayerID, Bucket: ledger.Escrow, Amount: -a.Hold},
				{World: o.Channel, Bucket: ledger.World, Amount: a.Hold},
			}}); err != nil {
			return err
		}
		u := tx.RefundAttempt.UpdateOneID(a.ID).SetState(refundattempt.StateDONE).SetHeld(false).ClearError()
		if refundNo != "" {
			u.SetProviderRefundNo(refundNo)
		}
		return u.Exec(ctx)
	})
	if err != nil {
		h.Log.ErrorContext(ctx, "epay refunded an order but recording it failed; the money stays held, approve again to finish",
			"order_id", o.ID, "err", err)
		h.markUnknown(ctx, a, err)
		return nil, err
	}
	return done, nil
}

// releaseRefund gives the held money back after the gateway refused.
func (h GatewayRefunds) releaseRefund(ctx context.Context, a *ent.RefundAttempt, reason string) error {
	o, err := h.Client.Order.Get(ctx, a.OrderID)
	if err != nil {
		return fmt.Errorf("re-reading order %d: %w", a.OrderID, err)
	}
	return h.Tx.Run(ctx, func(tx *txn.Tx) error {
		if a.Held {
			if _, err := h.Ledger.Post(ctx, tx, ledger.Journal{Asset: a.HoldAsset, Kind: "REFUND_RELEASE", OrderID: a.OrderID,
				Memo: "the gateway refused the refund", Postings: []ledger.Posting{
					{UserID: o.PayerID, Bucket: ledger.Escrow, Amount: -a.Hold},
					{UserID: o.PayerID, Bucket: ledger.Available, Amount: a.Hold},
				}}); err != nil {
				return err
			}
		}
		if len(reason) > 250 {
			reason = reason[:250]
		}
		return tx.RefundAttempt.UpdateOneID(a.ID).SetState(refundattempt.StateFAILED).SetHeld(false).SetError(reason).Exec(ctx)
	})
}

func (h GatewayRefunds) markUnknown(ctx context.Context, a *ent.RefundAttempt, cause error) {
	msg := cause.Error()
	if len(msg) > 250 {
		msg = msg[:250]
	}
	err := h.Tx.Run(context.WithoutCancel(ctx), func(tx *txn.Tx) error {
		return tx.RefundAttempt.UpdateOneID(a.ID).SetState(refundattempt.StateUNKNOWN).SetError(msg).Exec(ctx)
	})
	if err != nil {
		h.Log.ErrorContext(ctx, "recording an unknown refund outcome", "order_id", a.OrderID, "err", err)
	}
}

// MayRequest admits refund requests of orders paid at the epay gateway.
func (h GatewayRefunds) MayRequest(_ context.Context, o *ent.Order) error {
	if o.Channel != ChannelEpay {
		return ErrNoRefunds
	}
	return nil
}

// decidesRefund checks that the caller may decide a refund of an app
// store or points order: the order's app (its SERVICE) or an ADMIN. The
// payer asked for the refund (requestReturn), so the money it moves out
// of the payer's wallet (back to the payer's account at the gateway)
// moves at the payer's request; the payer does not decide it.
func decidesRefund(ctx context.Context, o *ent.Order) error {
	p, err := auth.Require(ctx, role.Service, role.Admin)
	if err != nil {
		return err
	}
	if p.Role == role.Service {
		if p.AppID != o.AppID {
			return auth.ErrOtherApp
		}
		// Taking money out of the payer's wallet unasked is an ADMIN's act.
		if o.Type != order.TypeCONSUME && o.Status != RefundRequested && o.RefundRequestedAmount == nil {
			return errUnaskedRefund
		}
	}
	return nil
}

var errUnaskedRefund = apperr.New(apperr.Forbidden,
	"an app decides refunds its payer asked for (requestReturn); refunding an order the payer did not ask about takes money out of the payer's wallet: an ADMIN's act")

// MayDecide: the order's app or an ADMIN (decidesRefund).
func (h GatewayRefunds) MayDecide(ctx context.Context, o *ent.Order) error {
	return decidesRefund(ctx, o)
}

// MayDecide: the order's app or an ADMIN (decidesRefund).
func (h WalletRefunds) MayDecide(ctx context.Context, o *ent.Order) error {
	return decidesRefund(ctx, o)
}

// MayRefundPart: a wallet payment may be given back in parts.
func (h WalletRefunds) MayRefundPart(*ent.Order) error { return nil }

// Reject refuses a refund request.
//
// Errors: FORBIDDEN (not the order's app or an admin), INVALID_TRANSITION.
func (h GatewayRefunds) Reject(ctx context.Context, o *ent.Order, reason string) (*ent.Order, error) {
	return h.reject(ctx, o, reason)
}

func (s *Epay) reject(ctx context.Context, o *ent.Order, reason string) (*ent.Order, error) {
	if err := decidesRefund(ctx, o); err != nil {
		return nil, err
	}
	var out *ent.Order
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		out, err = s.Transition(ctx, tx, o, RefundRejected, Actor(ctx), reason, Changes{})
		return err
	})
	return out, err
}

// Approve gives a CONSUME order's money (r.Amount of it) back to the
// payer's wallet.
//
// Who: the order's app or an ADMIN (decidesRefund); the money leaves the
// app's own sales, so the payer does not decide it.
//
// Errors: FORBIDDEN (not the order's app or an admin), INVALID_TRANSITION,
// BAD_USER_INPUT (another refund took what was left meanwhile).
func (h WalletRefunds) Approve(ctx context.Context, o *ent.Order, r Refund) (*ent.Order, error) {
	if err := decidesRefund(ctx, o); err != nil {
		return nil, err
	}
	var out *ent.Order
	err := h.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		if out, err = h.SettleRefund(ctx, tx, o, r, Actor(ctx), "refunded to the wallet"); err != nil {
			return err
		}
		_, err = h.Ledger.Post(ctx, tx, ledger.Journal{Asset: o.Asset, Kind: "REFUND", OrderID: o.ID, Postings: []ledger.Posting{
			{World: appWorld(o.AppID), Bucket: ledger.World, Amount: -r.Amount},
			{UserID: o.PayerID, Bucket: ledger.Available, Amount: r.Amount},
		}})
		return err
	})
	return out, err
}

// Reject refuses a refund request.
func (h WalletRefunds) Reject(ctx context.Context, o *ent.Order, reason string) (*ent.Order, error) {
	return h.reject(ctx, o, reason)
}

// appWorld is the outside-world account of an app's sales.
func appWorld(appID int64) string { return "app:" + strconv.FormatInt(appID, 10) }

// pageArgs are the gateway arguments of a page payment of o.
func (s *Epay) pageArgs(o *ent.Order) epay.PayArgs {
	return epay.PayArgs{
		Type: epayType(o.PayWay), OutTradeNo: o.OrderNo, NotifyURL: s.notifyURL(), ReturnURL: s.returnURL(),
		Name: o.Title, Money: s.Ledger.Assets().Format(o.Asset, o.Amount).String(),
	}
}

// syncCache keeps the gateway's last answer about each order for a short
// while, and lets concurrent syncs of one order share one gateway query, so
// no number of requests makes more than one query per order per interval.
// An answer is reused only while the order is as it was when asked (the
// same updatedAt): once a notify or another path changed it, the gateway
// is asked afresh.
type syncCache struct {
	flight singleflight.Group
	mu     sync.Mutex
	last   map[int64]syncAnswer
}

type syncAnswer struct {
	at, version time.Time
	trade       *epay.Trade
}

// maxSyncAnswers bounds the answers kept; older ones are dropped first.
const maxSyncAnswers = 10_000

func (c *syncCache) query(ctx context.Context, o *ent.Order, now time.Time, every time.Duration, ask func() (*epay.Trade, error)) (*epay.Trade, error) {
	c.mu.Lock()
	if a, ok := c.last[o.ID]; ok && now.Sub(a.at) < every && a.version.Equal(o.UpdatedAt) {
		c.mu.Unlock()
		return a.trade, nil
	}
	c.mu.Unlock()
	key := strconv.FormatInt(o.ID, 10) + "@" + strconv.FormatInt(o.UpdatedAt.UnixNano(), 10)
	v, err, _ := c.flight.Do(key, func() (any, error) {
		t, err := ask()
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.last == nil {
			c.last = map[int64]syncAnswer{}
		}
		if len(c.last) >= maxSyncAnswers {
			for id, a := range c.last {
				if now.Sub(a.at) >= every || len(c.last) >= maxSyncAnswers {
					delete(c.last, id)
				}
			}
		}
		c.last[o.ID] = syncAnswer{at: now, version: o.UpdatedAt, trade: t}
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*epay.Trade), nil
}
