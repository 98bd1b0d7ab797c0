// Package admintest prepares, through the public GraphQL API and the
// embedded epay sandbox only, the things an operator finds in the console:
// an order paid through epay whose payer asked for a refund, a wallet-paid
// order whose payer asked for part of its money back, a withdrawal
// waiting for review, an unpaid order, a payment the gateway took for a
// cancelled order (a NEEDS_REFUND callback) and a forged notify (a
// REJECTED callback). The console's tests use it: the browser test
// (tests/browser) and the role test of its documents.
package admintest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/testutil"
)

// Admin is the bootstrap admin of testutil.Base.
const (
	AdminUsername = "admin"
	AdminPassword = "admin-password"
)

// World is a server with the fixture's data.
type World struct {
	Srv   *testutil.Server
	Anon  *testutil.Client
	Admin *testutil.Client

	BuyerID, BuyerToken string
	// Refund is a RECHARGE paid at the epay sandbox, REFUND_REQUESTED.
	Refund Order
	// WithdrawerID asked for Withdrawal (PROCESSING) out of 80.00 CNY of
	// withdrawable money.
	WithdrawerID, WithdrawerToken string
	Withdrawal                    Order
	// Pending is the buyer's unpaid POINTS order.
	Pending Order
	// Cancelled is a POINTS order cancelled while at the gateway and then
	// paid there: its callback is NEEDS_REFUND.
	Cancelled Order
	// Paid orders of the buyer waiting for the next step: an app store
	// order to deliver (Consume), an escrow deal with the seller (the
	// withdrawer) to release (Deal), game goods to verify (Goods, of item
	// GoodsItem).
	Consume, Deal, Goods Order
	GoodsItem            string
	// Partial is an app store order of 30.00 CNY paid from the buyer's
	// wallet, PAID, whose buyer asked for 10.00 of it back
	// (refundRequestedAmount).
	Partial Order
}

// Order is what the fixture knows of an order.
type Order struct {
	ID      string `json:"id"`
	OrderNo string `json:"orderNo"`
	Status  string `json:"status"`
}

// New starts a server and prepares the data.
func New(t testing.TB) *World {
	t.Helper()
	srv := testutil.Start(t, testutil.Base(t))
	c := srv.Client()
	w := &World{Srv: srv, Anon: c, Admin: c.As(c.Login(t, AdminUsername, AdminPassword))}
	w.BuyerID, w.BuyerToken = c.NewUser(t, "buyer")
	buyer := c.As(w.BuyerToken)

	// A recharge paid through the epay sandbox, then a refund asked.
	var init struct {
		InitOrder struct{ Order Order }
	}
	buyer.Do(t, `mutation($in:InitOrderInput!){initOrder(input:$in){order{id orderNo status}}}`, map[string]any{"in": map[string]any{
		"title": "充值", "type": "RECHARGE", "money": "50.00", "payWayName": "alipay"}}).Decode(t, &init)
	w.Refund = init.InitOrder.Order
	w.PayAtGateway(t, buyer, w.Refund.OrderNo)
	var ret struct{ RequestReturn Order }
	buyer.Do(t, `mutation($sn:String!){requestReturn(orderSn:$sn,reason:"充错了"){id orderNo status}}`,
		map[string]any{"sn": w.Refund.OrderNo}).Decode(t, &ret)
	w.Refund = ret.RequestReturn

	// Withdrawable money, and a withdrawal of part of it.
	w.WithdrawerID, w.WithdrawerToken = c.NewUser(t, "seller")
	seller := c.As(w.WithdrawerToken)
	w.Admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`, map[string]any{"in": map[string]any{
		"userId": w.WithdrawerID, "asset": "CNY", "amount": "80.00", "withdrawable": true, "memo": "earnings"}}).Decode(t, &struct{}{})
	seller.Do(t, `mutation{setPayPassword(newPassword:"pay-password"){id}}`, nil).Decode(t, &struct{}{})
	var wd struct{ Withdraw Order }
	seller.Do(t, `mutation($in:WithdrawInput!){withdraw(input:$in){id orderNo status}}`, map[string]any{"in": map[string]any{
		"amount": "30.00", "payPassword": "pay-password", "alipayNo": "seller@example.com", "alipayName": "王五"}}).Decode(t, &wd)
	w.Withdrawal = wd.Withdraw

	w.Pending = w.points(t, buyer, "1.00", 100)

	// Paid orders of the other flows, from the buyer's wallet and the
	// game provider's (test) callback.
	w.Admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`, map[string]any{"in": map[string]any{
		"userId": w.BuyerID, "asset": "CNY", "amount": "100.00", "memo": "deposit"}}).Decode(t, &struct{}{})
	buyer.Do(t, `mutation{setPayPassword(newPassword:"buyer-pay-pw"){id}}`, nil).Decode(t, &struct{}{})
	w.Admin.Do(t, `mutation{upsertGoods(input:{id:"vip",item:"vip",title:"VIP 月卡",singlePrice:"30.00"}){id}}`, nil).Decode(t, &struct{}{})
	var consume struct {
		InitOrder struct{ PayOrderSn string }
	}
	buyer.Do(t, `mutation{initOrder(input:{title:"会员",type:CONSUME,payWayName:"wallet",goods:[{goodsId:"vip",num:1}]}){payOrderSn}}`, nil).Decode(t, &consume)
	var paid struct{ PayOrder Order }
	buyer.Do(t, `mutation($sn:String!){payOrder(orderSn:$sn){id orderNo status}}`, map[string]any{"sn": consume.InitOrder.PayOrderSn}).Decode(t, &paid)
	w.Consume = paid.PayOrder
	buyer.Do(t, `mutation{initOrder(input:{title:"会员",type:CONSUME,payWayName:"wallet",goods:[{goodsId:"vip",num:1}]}){payOrderSn}}`, nil).Decode(t, &consume)
	buyer.Do(t, `mutation($sn:String!){payOrder(orderSn:$sn){id orderNo status}}`, map[string]any{"sn": consume.InitOrder.PayOrderSn}).Decode(t, &paid)
	var part struct{ RequestRefund Order }
	buyer.Do(t, `mutation($id:ID!){requestRefund(orderId:$id,reason:"少发了一件",amount:"10.00"){id orderNo status}}`,
		map[string]any{"id": paid.PayOrder.ID}).Decode(t, &part)
	w.Partial = part.RequestRefund
	var deal struct {
		InitDealOrder struct{ Order Order }
	}
	buyer.Do(t, `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{id orderNo status}}}`, map[string]any{"in": map[string]any{
		"subject": "陪玩一小时", "amount": "20.00", "receiverId": w.WithdrawerID, "channel": "WALLET"}}).Decode(t, &deal)
	var dealPaid struct{ PayByWallet Order }
	buyer.Do(t, `mutation($id:ID!){payByWallet(orderId:$id,payPassword:"buyer-pay-pw"){id orderNo status}}`,
		map[string]any{"id": deal.InitDealOrder.Order.ID}).Decode(t, &dealPaid)
	w.Deal = dealPaid.PayByWallet
	w.GoodsItem = "sword"
	w.Admin.Do(t, `mutation{upsertGoods(input:{id:"sword-1",item:"sword",title:"屠龙刀",singlePrice:"6.00"}){id}}`, nil).Decode(t, &struct{}{})
	var goods struct {
		CreateGoodsOrder struct{ Order Order }
	}
	buyer.Do(t, `mutation($in:CreateGoodsOrderInput!){createGoodsOrder(input:$in){order{id orderNo status}}}`, map[string]any{"in": map[string]any{
		"userId": w.BuyerID, "item": "sword", "itemId": "sword-1", "singlePrice": "6.00"}}).Decode(t, &goods)
	w.Admin.Do(t, `mutation($no:String!){sendGameTestCallback(input:{order:$no}){result}}`, map[string]any{"no": goods.CreateGoodsOrder.Order.OrderNo}).Decode(t, &struct{}{})
	w.Goods = goods.CreateGoodsOrder.Order
	w.Goods.Status = w.Status(t, w.Goods.ID)

	// Cancelled while the payer was at the gateway, then paid there.
	w.Cancelled = w.points(t, buyer, "2.00", 200)
	trade := w.PayURL(t, buyer, w.Cancelled.OrderNo)
	var cancel struct{ CancelOrder Order }
	buyer.Do(t, `mutation($in:CancelOrderInput!){cancelOrder(input:$in){id orderNo status}}`, map[string]any{"in": map[string]any{
		"userId": w.BuyerID, "order": w.Cancelled.OrderNo}}).Decode(t, &cancel)
	w.Cancelled = cancel.CancelOrder
	w.SandboxPay(t, trade)

	// A notify nobody signed.
	resp, err := srv.HTTP.Client().Get(srv.URL + "/payment/notify?" + url.Values{
		"pid": {"1000"}, "out_trade_no": {w.Pending.OrderNo}, "trade_no": {"FORGED1"}, "type": {"alipay"},
		"name": {"x"}, "money": {"1.00"}, "trade_status": {"TRADE_SUCCESS"}, "sign": {"00000000000000000000000000000000"}, "sign_type": {"MD5"},
	}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return w
}

func (w *World) points(t testing.TB, c *testutil.Client, amount string, points int) Order {
	t.Helper()
	var out struct{ CreatePointsOrder Order }
	c.Do(t, `mutation($in:CreatePointsOrderInput!){createPointsOrder(input:$in){id orderNo status}}`, map[string]any{"in": map[string]any{
		"amount": amount, "points": points, "paymentType": "alipay"}}).Decode(t, &out)
	return out.CreatePointsOrder
}

// PayURL hands an epay order to the gateway and returns its trade number.
func (w *World) PayURL(t testing.TB, c *testutil.Client, orderNo string) string {
	t.Helper()
	var out struct {
		GetPayURL struct{ TradeNo string } `json:"getPayUrl"`
	}
	c.Do(t, `mutation($in:GetPayUrlInput!){getPayUrl(input:$in){tradeNo}}`, map[string]any{"in": map[string]any{"orderNo": orderNo}}).Decode(t, &out)
	return out.GetPayURL.TradeNo
}

// PayAtGateway pays an epay order at the sandbox, as its payer would.
func (w *World) PayAtGateway(t testing.TB, c *testutil.Client, orderNo string) {
	t.Helper()
	w.SandboxPay(t, w.PayURL(t, c, orderNo))
}

// SandboxPay presses Pay on the sandbox's cashier page for a trade.
func (w *World) SandboxPay(t testing.TB, tradeNo string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.Srv.URL+"/sandbox/epay/pay/"+tradeNo, strings.NewReader(url.Values{"result": {"success"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Notified bool }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || !out.Notified {
		t.Fatalf("sandbox pay %s: %d %+v %v", tradeNo, resp.StatusCode, out, err)
	}
}

// Status is an order's status now, as the admin sees it.
func (w *World) Status(t testing.TB, id string) string {
	t.Helper()
	var out struct{ Order Order }
	w.Admin.Do(t, `query($id:ID!){order(id:$id){id orderNo status}}`, map[string]any{"id": id}).Decode(t, &out)
	return out.Order.Status
}
