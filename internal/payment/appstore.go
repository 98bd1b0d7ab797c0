package payment

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/goods"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/orderline"
	"github.com/paygraph/paygraph/ent/payway"
	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/catalog"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// PayWayWallet is the pay way that settles from the wallet; every other
// pay way is an epay payment type.
const PayWayWallet = "wallet"

// PayWayView is one way an app's users may pay.
type PayWayView struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

// DefaultPayWays are offered by an app that configured none.
var DefaultPayWays = []PayWayView{
	{"alipay", "支付宝"}, {"wechat", "微信"}, {"qq", "QQ钱包"}, {PayWayWallet, "余额"},
}

func defaultPayWays() []*PayWayView {
	out := make([]*PayWayView, len(DefaultPayWays))
	for i := range DefaultPayWays {
		w := DefaultPayWays[i]
		out[i] = &w
	}
	return out
}

// PayWays lists the pay ways an app offers (the app store's order/payWay), in
// its order; a SERVICE reads its own app's, others name one (default 1).
func (s *Epay) PayWays(ctx context.Context, appID *int64) ([]*PayWayView, error) {
	id, err := access.AppOf(ctx, appID)
	if err != nil {
		return nil, err
	}
	return s.payWays(ctx, id)
}

func (s *Epay) payWays(ctx context.Context, appID int64) ([]*PayWayView, error) {
	rows, err := s.Client.PayWay.Query().Where(payway.AppID(appID)).
		Order(ent.Asc(payway.FieldPosition), ent.Asc(payway.FieldName)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading pay ways: %w", err)
	}
	if len(rows) == 0 {
		return defaultPayWays(), nil
	}
	out := []*PayWayView{}
	for _, r := range rows {
		if r.Enabled {
			out = append(out, &PayWayView{Name: r.Name, Title: r.Title})
		}
	}
	return out, nil
}

// PayWayInput is one pay way an admin configures.
type PayWayInput struct {
	Name    string `json:"name"`
	Title   string `json:"title"`
	Enabled *bool  `json:"enabled,omitempty"`
}

// SetPayWays replaces an app's pay ways (in the order given). An empty
// list brings back the defaults.
//
// Errors: FORBIDDEN (not an admin), BAD_USER_INPUT.
func (s *Epay) SetPayWays(ctx context.Context, appID int64, in []*PayWayInput) ([]*PayWayView, error) {
	p, err := auth.Require(ctx, role.Service, role.Admin)
	if err != nil {
		return nil, err
	}
	if _, err := s.appOf(ctx, p, &appID); err != nil {
		return nil, err
	}
	if len(in) > 20 {
		return nil, apperr.Input("payWays", "at most 20 pay ways")
	}
	seen := map[string]bool{}
	for i, w := range in {
		f := fmt.Sprintf("payWays[%d]", i)
		if w == nil {
			return nil, apperr.Input(f, "a pay way is null")
		}
		w.Name = CanonicalPayWay(w.Name)
		if !payWayName.MatchString(w.Name) {
			return nil, apperr.Input(f+".name", "name must be 1 to 32 lower-case letters, digits or _, starting with a letter")
		}
		if n := utf8.RuneCountInString(w.Title); n == 0 || n > 64 {
			return nil, apperr.Input(f+".title", "title must be 1 to 64 characters")
		}
		if seen[w.Name] {
			return nil, apperr.Input(f+".name", "pay way %s is listed twice", w.Name)
		}
		seen[w.Name] = true
	}
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		if _, err := tx.PayWay.Delete().Where(payway.AppID(appID)).Exec(ctx); err != nil {
			return fmt.Errorf("clearing pay ways: %w", err)
		}
		for i, w := range in {
			enabled := w.Enabled == nil || *w.Enabled
			if err := tx.PayWay.Create().SetAppID(appID).SetName(w.Name).SetTitle(w.Title).
				SetPosition(i).SetEnabled(enabled).Exec(ctx); err != nil {
				return fmt.Errorf("saving pay way %s: %w", w.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.payWays(ctx, appID)
}

// GoodsLineInput is one line of goods a client asks for.
type GoodsLineInput struct {
	GoodsID string `json:"goodsId"`
	Num     int    `json:"num"`
}

// Quote is the server's price of a list of goods.
type Quote struct {
	PriceTotal money.Decimal
	Asset      string
}

type pricedLine struct {
	g      *ent.Goods
	num    int
	amount int64
}

// Limits on app store input.
const (
	maxGoodsLines = 50
	maxGoodsNum   = 100000
)

// price prices goods from an app's catalogue: every line in one asset,
// every goods active.
func (s *Epay) price(ctx context.Context, appID int64, in []*GoodsLineInput) ([]pricedLine, money.Asset, int64, error) {
	if len(in) == 0 {
		return nil, money.Asset{}, 0, apperr.Input("goods", "goods needs at least one line")
	}
	if len(in) > maxGoodsLines {
		return nil, money.Asset{}, 0, apperr.Input("goods", "at most %d lines", maxGoodsLines)
	}
	ids := make([]string, len(in))
	for i, l := range in {
		if l == nil {
			return nil, money.Asset{}, 0, apperr.Input("goods", "a goods line is null")
		}
		if l.GoodsID == "" || len(l.GoodsID) > 64 {
			return nil, money.Asset{}, 0, apperr.Input(fmt.Sprintf("goods[%d].goodsId", i), "goodsId must be 1 to 64 characters")
		}
		if l.Num <= 0 || l.Num > maxGoodsNum {
			return nil, money.Asset{}, 0, apperr.Input(fmt.Sprintf("goods[%d].num", i), "num must be from 1 to %d", maxGoodsNum)
		}
		ids[i] = l.GoodsID
	}
	rows, err := s.Client.Goods.Query().Where(goods.AppID(appID), goods.GoodsIDIn(ids...)).All(ctx)
	if err != nil {
		return nil, money.Asset{}, 0, fmt.Errorf("reading goods: %w", err)
	}
	byID := map[string]*ent.Goods{}
	for _, g := range rows {
		byID[g.GoodsID] = g
	}
	var (
		out   []pricedLine
		asset money.Asset
		total int64
	)
	for i, l := range in {
		g := byID[l.GoodsID]
		if g == nil || !g.Active {
			e := *catalog.ErrGoodsNotFound
			e.Message = fmt.Sprintf("goods %q not found in app %d", l.GoodsID, appID)
			e.Field = fmt.Sprintf("goods[%d].goodsId", i)
			return nil, money.Asset{}, 0, &e
		}
		a, err := s.Ledger.Assets().Get("goods", g.Asset)
		if err != nil {
			return nil, money.Asset{}, 0, err
		}
		if i > 0 && a.Code != asset.Code {
			return nil, money.Asset{}, 0, apperr.Input("goods", "every goods of one order must be priced in the same asset")
		}
		asset = a
		if g.SinglePrice > (1<<62)/int64(l.Num) {
			return nil, money.Asset{}, 0, apperr.Input("goods", "the total is too large")
		}
		amt := g.SinglePrice * int64(l.Num)
		total += amt
		if total > 1<<62 {
			return nil, money.Asset{}, 0, apperr.Input("goods", "the total is too large")
		}
		out = append(out, pricedLine{g: g, num: l.Num, amount: amt})
	}
	return out, asset, total, nil
}

// Quote prices goods (the app store's submitGoodsOrder): a SERVICE quotes its own
// app's catalogue, others name one (default 1).
//
// Errors: BAD_USER_INPUT, NOT_FOUND (goods not sold by the app).
func (s *Epay) Quote(ctx context.Context, appID *int64, in []*GoodsLineInput) (*Quote, error) {
	id, err := access.AppOf(ctx, appID)
	if err != nil {
		return nil, err
	}
	_, a, total, err := s.price(ctx, id, in)
	if err != nil {
		return nil, err
	}
	return &Quote{PriceTotal: a.Decimal(total), Asset: a.Code}, nil
}

// InitOrderInput is the app store's order/init.
type InitOrderInput struct {
	AppID  *int64 `json:"appId,omitempty"`
	UserID *int64 `json:"userId,omitempty"`
	Title  string `json:"title"`
	// Type is RECHARGE (money into the wallet through a channel) or
	// CONSUME (goods, settled from the wallet).
	Type order.Type `json:"type"`
	// PriceTotal and Money are what the client believes the order costs;
	// given, they must equal the server's price.
	PriceTotal     *money.Decimal    `json:"priceTotal,omitempty"`
	Money          *money.Decimal    `json:"money,omitempty"`
	Imei           *string           `json:"imei,omitempty"`
	PayWayName     string            `json:"payWayName"`
	Goods          []*GoodsLineInput `json:"goods,omitempty"`
	ReturnURL      *string           `json:"returnUrl,omitempty"`
	IdempotencyKey *string           `json:"-"`
}

// InitOrderResult is what initOrder returns.
type InitOrderResult struct {
	// Order is the order the client follows: the CONSUME order, or the
	// RECHARGE order of a recharge.
	Order *ent.Order
	// ChargeOrder is the recharge paid through the channel, if any.
	ChargeOrder   *ent.Order
	ChargeOrderSn *string
	// PayParams is a JSON document of server-signed parameters for paying
	// the charge order at the channel.
	PayParams  *string
	PayOrderSn *string
}

// appStoreInfo is the extendInfo of app store orders: the device and the
// link between a charge order and the order it pays for.
type appStoreInfo struct {
	Imei          string `json:"imei,omitempty"`
	ChargeOrderSn string `json:"chargeOrderSn,omitempty"`
	PayOrderSn    string `json:"payOrderSn,omitempty"`
}

// InitOrder creates app store orders. A RECHARGE is one order paid through
// the chosen channel (epay); once paid, its money is in the wallet. A
// CONSUME order is priced by the server from the catalogue; with the
// wallet pay way it is paid with payOrder at once, with a channel a
// recharge order of the same amount comes with it: the client pays the
// recharge (payParams), then calls payOrder.
//
// Errors: BAD_USER_INPUT, AMOUNT_MISMATCH (the client's priceTotal or
// money differs from the server's price), NOT_FOUND, FORBIDDEN,
// idempotency errors.
func (s *Epay) InitOrder(ctx context.Context, in InitOrderInput) (*InitOrderResult, error) {
	p, buyer, err := payer(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	appID, err := s.appOf(ctx, p, in.AppID)
	if err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(in.Title); n == 0 || n > 64 {
		return nil, apperr.Input("title", "title must be 1 to 64 characters")
	}
	ways, err := s.payWays(ctx, appID)
	if err != nil {
		return nil, err
	}
	in.PayWayName = CanonicalPayWay(in.PayWayName)
	offered := false
	for _, w := range ways {
		offered = offered || w.Name == in.PayWayName
	}
	if !offered {
		return nil, apperr.Input("payWayName", "app %d does not offer the pay way %q", appID, in.PayWayName)
	}
	if in.Imei != nil && utf8.RuneCountInString(*in.Imei) > 64 {
		return nil, apperr.Input("imei", "imei is longer than 64 characters")
	}
	if err := checkReturnURL("returnUrl", in.ReturnURL); err != nil {
		return nil, err
	}
	var (
		lines  []pricedLine
		asset  money.Asset
		amount int64
	)
	// check compares a client amount with the server's.
	check := func(field string, d *money.Decimal) error {
		if d == nil {
			return nil
		}
		n, err := asset.Minor(*d)
		if err != nil {
			return apperr.Input(field, "%s", err)
		}
		if n != amount {
			return apperr.New(apperr.AmountMismatch, "%s %s differs from the price %s", field, d, asset.Decimal(amount))
		}
		return nil
	}
	switch in.Type {
	case order.TypeRECHARGE:
		if in.PayWayName == PayWayWallet {
			return nil, apperr.Input("payWayName", "a recharge is paid through a channel, not the wallet")
		}
		if len(in.Goods) > 0 {
			return nil, apperr.Input("goods", "a recharge has no goods")
		}
		m := in.Money
		if m == nil {
			m = in.PriceTotal
		}
		if m == nil {
			return nil, apperr.Input("money", "a recharge needs money")
		}
		if asset, amount, err = s.Ledger.Assets().Positive("asset", "money", "CNY", *m); err != nil {
			return nil, err
		}
		if err := check("priceTotal", in.PriceTotal); err != nil {
			return nil, err
		}
	case order.TypeCONSUME:
		if lines, asset, amount, err = s.price(ctx, appID, in.Goods); err != nil {
			return nil, err
		}
		if err := check("priceTotal", in.PriceTotal); err != nil {
			return nil, err
		}
		if err := check("money", in.Money); err != nil {
			return nil, err
		}
		if in.PayWayName != PayWayWallet && asset.Code != "CNY" {
			return nil, apperr.Input("payWayName", "goods priced in %s are paid from the wallet", asset.Code)
		}
	default:
		return nil, apperr.Input("type", "type must be RECHARGE or CONSUME")
	}
	if ok, err := s.Client.User.Query().Where(user.ID(buyer)).Exist(ctx); err != nil {
		return nil, fmt.Errorf("finding buyer: %w", err)
	} else if !ok {
		return nil, ErrUserNotFound
	}

	var res *InitOrderResult
	id, replayed, err := s.Idem.Do(ctx, "initOrder", in.IdempotencyKey, in, func(mark idempotency.Mark) (int64, error) {
		err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
			now := s.Clock.Now()
			base := func(t order.Type, oid int64, no, channel string, info appStoreInfo) (*ent.Order, error) {
				ext, _ := json.Marshal(info)
				o, err := tx.Order.Create().SetID(oid).SetOrderNo(no).
					SetType(t).SetAppID(appID).SetPayerID(buyer).SetAmount(amount).SetAsset(asset.Code).
					SetTitle(in.Title).SetPayWay(in.PayWayName).SetChannel(channel).SetExtendInfo(string(ext)).
					SetNillableReturnURL(emptyNil(in.ReturnURL)).
					SetExpiresAt(now.Add(s.OrderTTL)).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
				if err != nil {
					return nil, fmt.Errorf("creating order: %w", err)
				}
				return o, s.RecordCreated(ctx, tx, o, Actor(ctx))
			}
			res = &InitOrderResult{}
			imei := deref(in.Imei)
			// Numbers are chosen first so that the two orders can name each other.
			var consumeID, chargeID int64
			var consumeNo, chargeNo string
			if in.Type == order.TypeCONSUME {
				consumeID = idgen.Next()
				consumeNo = "C" + strconv.FormatInt(consumeID, 10)
			}
			if in.PayWayName != PayWayWallet {
				chargeID = idgen.Next()
				chargeNo = "R" + strconv.FormatInt(chargeID, 10)
				r, err := base(order.TypeRECHARGE, chargeID, chargeNo, ChannelEpay, appStoreInfo{Imei: imei, PayOrderSn: consumeNo})
				if err != nil {
					return err
				}
				res.ChargeOrder = detach(r)
				res.Order = res.ChargeOrder
				res.ChargeOrderSn = &r.OrderNo
			}
			if in.Type == order.TypeCONSUME {
				c, err := base(order.TypeCONSUME, consumeID, consumeNo, PayWayWallet, appStoreInfo{Imei: imei, ChargeOrderSn: chargeNo})
				if err != nil {
					return err
				}
				items := make([]*ent.OrderLineCreate, len(lines))
				for i, l := range lines {
					items[i] = tx.OrderLine.Create().SetOrderID(c.ID).SetPosition(i).SetGoodsID(l.g.GoodsID).
						SetItem(l.g.Item).SetTitle(l.g.Title).SetNum(l.num).SetSinglePrice(l.g.SinglePrice).
						SetAmount(l.amount).SetAsset(l.g.Asset)
				}
				if err := tx.OrderLine.CreateBulk(items...).Exec(ctx); err != nil {
					return fmt.Errorf("creating goods lines: %w", err)
				}
				res.Order = detach(c)
				res.PayOrderSn = &c.OrderNo
			}
			return mark(ctx, tx.Tx, res.Order.ID)
		})
		if err != nil {
			return 0, err
		}
		return res.Order.ID, nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		if res, err = s.initResult(ctx, id); err != nil {
			return nil, err
		}
	}
	if res.ChargeOrder != nil {
		pp, err := s.payParams(res.ChargeOrder)
		if err != nil {
			return nil, err
		}
		res.PayParams = &pp
	}
	return res, nil
}

// initResult rebuilds initOrder's result from its orders (a replay).
func (s *Epay) initResult(ctx context.Context, id int64) (*InitOrderResult, error) {
	o, err := s.Client.Order.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("reading order %d: %w", id, err)
	}
	res := &InitOrderResult{Order: o}
	var info appStoreInfo
	_ = json.Unmarshal([]byte(o.ExtendInfo), &info)
	switch {
	case o.Type == order.TypeRECHARGE:
		res.ChargeOrder = o
	case info.ChargeOrderSn != "":
		if res.ChargeOrder, err = s.Client.Order.Query().Where(order.OrderNo(info.ChargeOrderSn)).Only(ctx); err != nil {
			return nil, fmt.Errorf("reading charge order: %w", err)
		}
	}
	if res.ChargeOrder != nil {
		res.ChargeOrderSn = &res.ChargeOrder.OrderNo
	}
	if o.Type == order.TypeCONSUME {
		res.PayOrderSn = &o.OrderNo
	}
	return res, nil
}

// payParams are the client's parameters for paying a charge order at the
// gateway: the signed page-payment form (never a key), its URL, and the
// pay way. A client may instead ask getPayUrl for an API payment.
func (s *Epay) payParams(o *ent.Order) (string, error) {
	action, params, err := s.Gateway.PageForm(s.pageArgs(o))
	if err != nil {
		return "", fmt.Errorf("signing pay params: %w", err)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b, err := json.Marshal(map[string]any{
		"channel": ChannelEpay, "payWay": o.PayWay, "type": epayType(o.PayWay),
		"orderSn": o.OrderNo, "money": s.Ledger.Assets().Format(o.Asset, o.Amount).String(),
		"method": "POST", "action": action, "params": params,
		"payUrl": action + "?" + params.Values().Encode(),
	})
	return string(b), err
}

// PayOrderInput is the app store's order/pay.
type PayOrderInput struct {
	OrderSn        string  `json:"orderSn"`
	IdempotencyKey *string `json:"-"`
}

// PayOrder settles a CONSUME order from the payer's wallet: the money goes
// to the app's sales account, in one transaction with the status change.
//
// Who: the payer, or an ADMIN for the payer (OwnerOrAdmin). The order's
// app may create the order for the payer (initOrder with userId) but not
// settle it: that would spend the payer's wallet without the payer.
//
// Errors: NOT_FOUND, FORBIDDEN (ErrServiceSpends, ErrNotPayer),
// BAD_USER_INPUT, INVALID_TRANSITION, ORDER_EXPIRED, INSUFFICIENT_FUNDS,
// idempotency errors.
func (s *Epay) PayOrder(ctx context.Context, in PayOrderInput) (*ent.Order, error) {
	o, err := s.byOrderNo(ctx, "orderSn", in.OrderSn)
	if err != nil {
		return nil, err
	}
	if _, err := MaySpend(ctx, o.PayerID, OwnerOrAdmin, ErrNotPayer); err != nil {
		return nil, err
	}
	if o.Type != order.TypeCONSUME {
		return nil, apperr.Input("orderSn", "payOrder settles CONSUME orders; this is a %s order", o.Type)
	}
	var now time.Time
	prepare := func() error {
		if o.Status != Pending {
			return InvalidTransition(o.Status, Paid)
		}
		now = s.Clock.Now()
		if o.ExpiresAt != nil && !now.Before(*o.ExpiresAt) {
			return ErrOrderExpired
		}
		return nil
	}
	return s.keyed(ctx, "payOrder", in.IdempotencyKey, in, prepare, func(tx *txn.Tx) (*ent.Order, error) {
		p, err := s.Transition(ctx, tx, o, Paid, Actor(ctx), "paid from the wallet", Changes{PaidAt: &now})
		if err != nil {
			return nil, err
		}
		if _, err := s.Ledger.Post(ctx, tx, ledger.Journal{Asset: o.Asset, Kind: "CONSUME", OrderID: o.ID, Memo: o.Title,
			Postings: []ledger.Posting{
				{UserID: o.PayerID, Bucket: ledger.Available, Amount: -o.Amount},
				{World: appWorld(o.AppID), Bucket: ledger.World, Amount: o.Amount},
			}}); err != nil {
			return nil, err
		}
		return p, nil
	})
}

func checkReason(reason string) error {
	if n := utf8.RuneCountInString(reason); n == 0 || n > 255 {
		return apperr.Input("reason", "reason must be 1 to 255 characters")
	}
	return nil
}

// RequestReturn asks for a refund of a paid order (the app store's order/cancel):
// REFUND_REQUESTED, until an admin approves or rejects it.
//
// Errors: NOT_FOUND, FORBIDDEN, BAD_USER_INPUT, INVALID_TRANSITION.
func (s *Epay) RequestReturn(ctx context.Context, orderSn, reason string) (*ent.Order, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	o, err := s.byOrderNo(ctx, "orderSn", orderSn)
	if err != nil {
		return nil, err
	}
	return s.RequestRefundOf(ctx, o, reason, nil)
}

// deliverable loads a CONSUME order its app (or an admin) reports on.
func (s *Epay) deliverable(ctx context.Context, orderID int64) (*ent.Order, error) {
	o, err := s.Load(ctx, s.Client.Order.Query().Where(order.ID(orderID)))
	if err != nil {
		return nil, err
	}
	p, err := auth.Require(ctx, role.Service, role.Admin)
	if err != nil {
		return nil, err
	}
	if p.Role == role.Service && p.AppID != o.AppID {
		return nil, auth.ErrOtherApp
	}
	if o.Type != order.TypeCONSUME {
		return nil, apperr.Input("orderId", "only CONSUME orders are delivered; this is a %s order", o.Type)
	}
	return o, nil
}

// MarkDelivered records that the app delivered a paid CONSUME order:
// COMPLETED (交易完成).
//
// Errors: NOT_FOUND, FORBIDDEN, BAD_USER_INPUT, INVALID_TRANSITION.
func (s *Epay) MarkDelivered(ctx context.Context, orderID int64) (*ent.Order, error) {
	o, err := s.deliverable(ctx, orderID)
	if err != nil {
		return nil, err
	}
	var out *ent.Order
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		now := s.Clock.Now()
		var err error
		out, err = s.Transition(ctx, tx, o, Completed, Actor(ctx), "delivered", Changes{CompletedAt: &now})
		return err
	})
	return out, err
}

// MarkDeliveryFailed records that the app could not deliver a paid
// CONSUME order: DELIVERY_FAILED (发货失败); the payer may then ask for a
// refund.
//
// Errors: as MarkDelivered, and BAD_USER_INPUT for an empty reason.
func (s *Epay) MarkDeliveryFailed(ctx context.Context, orderID int64, reason string) (*ent.Order, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	o, err := s.deliverable(ctx, orderID)
	if err != nil {
		return nil, err
	}
	var out *ent.Order
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		var err error
		out, err = s.Transition(ctx, tx, o, DeliveryFailed, Actor(ctx), reason, Changes{})
		return err
	})
	return out, err
}

// OrderLines returns an app store order's goods lines.
func (s *Epay) OrderLines(ctx context.Context, o *ent.Order) ([]*ent.OrderLine, error) {
	return s.Client.OrderLine.Query().Where(orderline.OrderID(o.ID)).Order(ent.Asc(orderline.FieldPosition)).All(ctx)
}
