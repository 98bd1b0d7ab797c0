package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

type initResult struct {
	Order         epayOrder
	ChargeOrder   *epayOrder
	ChargeOrderSn *string
	PayParams     *string
	PayOrderSn    *string
}

var initOrderMutation = `mutation($in:InitOrderInput!){initOrder(input:$in){order{` + epayOrderFields + `}
  chargeOrder{` + epayOrderFields + `} chargeOrderSn payParams payOrderSn}}`

func (w *epayWorld) initOrder(t *testing.T, c *testutil.Client, in map[string]any) initResult {
	t.Helper()
	var out struct{ InitOrder initResult }
	c.Do(t, initOrderMutation, map[string]any{"in": in}).Decode(t, &out)
	return out.InitOrder
}

func (w *epayWorld) goods(t *testing.T, id, price string) {
	t.Helper()
	w.admin.Do(t, `mutation($in:UpsertGoodsInput!){upsertGoods(input:$in){id}}`,
		map[string]any{"in": map[string]any{"id": id, "item": id, "title": "goods " + id, "singlePrice": price}}).Decode(t, &struct{}{})
}

// payCharge pays a charge order the way a client does with payParams: it
// submits the signed form to the gateway, lands on the cashier and presses Pay.
func (w *epayWorld) payCharge(t *testing.T, payParams string) {
	t.Helper()
	var pp struct {
		Action string
		Method string
		Params map[string]string
		PayURL string `json:"payUrl"`
	}
	if err := json.Unmarshal([]byte(payParams), &pp); err != nil {
		t.Fatalf("payParams %s: %v", payParams, err)
	}
	form := url.Values{}
	for k, v := range pp.Params {
		form.Set(k, v)
	}
	resp, err := w.noRedirectHC.PostForm(pp.Action, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/sandbox/epay/cashier/") {
		t.Fatalf("submitting payParams: %d %s", resp.StatusCode, loc)
	}
	// The GET form of the same parameters reaches the same trade.
	resp, err = w.noRedirectHC.Get(pp.PayURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Location") != loc {
		t.Fatalf("payUrl leads to %s, the form to %s", resp.Header.Get("Location"), loc)
	}
	if !w.sandboxPay(t, loc[strings.LastIndex(loc, "/")+1:], "success") {
		t.Fatal("the recharge notify was not acknowledged")
	}
}

func (w *epayWorld) mutateOrder(t *testing.T, c *testutil.Client, m string, vars map[string]any) epayOrder {
	t.Helper()
	var out map[string]epayOrder
	c.Do(t, m, vars).Decode(t, &out)
	for _, o := range out {
		return o
	}
	t.Fatal("no order")
	return epayOrder{}
}

// TestStoreFlow is the app store end to end: pay ways, quote, a CONSUME order
// paid through an epay recharge at the embedded gateway, payOrder from
// the wallet, delivery, a return refunded to the wallet, and the recharge
// refunded through the gateway.
func TestStoreFlow(t *testing.T) {
	for _, signType := range []string{"MD5", "RSA"} {
		t.Run(signType, func(t *testing.T) {
			w := newEpayWorld(t, signType, nil, server.Options{})
			svcToken := subCreateApp(t, w.admin, "store")
			w.goods(t, "vip", "30.00")
			w.goods(t, "coin", "0.50")

			var ways struct {
				PayWays []struct{ Name, Title string }
			}
			w.c.Do(t, `{payWays{name title}}`, nil).Decode(t, &ways)
			if len(ways.PayWays) != 4 || ways.PayWays[0].Name != "alipay" || ways.PayWays[0].Title != "支付宝" ||
				ways.PayWays[3].Name != "wallet" || ways.PayWays[3].Title != "余额" {
				t.Fatalf("pay ways %+v", ways.PayWays)
			}
			lines := []map[string]any{{"goodsId": "vip", "num": 1}, {"goodsId": "coin", "num": 4}}
			var q struct {
				Quote struct{ PriceTotal, Asset string }
			}
			w.buyer.Do(t, `query($g:[GoodsLineInput!]!){quote(goods:$g){priceTotal asset}}`, map[string]any{"g": lines}).Decode(t, &q)
			if q.Quote.PriceTotal != "32.00" || q.Quote.Asset != "CNY" {
				t.Fatalf("quote %+v", q.Quote)
			}

			res := w.initOrder(t, w.buyer, map[string]any{"title": "会员购买", "type": "CONSUME", "priceTotal": "32.00", "money": "32.00",
				"imei": "860000000000001", "payWayName": "alipay", "goods": lines})
			if res.ChargeOrderSn == nil || res.PayOrderSn == nil || res.PayParams == nil || res.ChargeOrder == nil ||
				res.Order.OrderNo != *res.PayOrderSn || res.ChargeOrder.OrderNo != *res.ChargeOrderSn ||
				res.Order.Type != "CONSUME" || res.ChargeOrder.Type != "RECHARGE" || res.Order.Amount != "32.00" ||
				res.ChargeOrder.Amount != "32.00" || *res.Order.LegacyStatus != 0 {
				t.Fatalf("init %+v", res)
			}
			if strings.Contains(*res.PayParams, epayKey) || strings.Contains(*res.PayParams, "PRIVATE") {
				t.Fatal("payParams carry a key")
			}
			if !strings.Contains(*res.PayParams, `"sign"`) {
				t.Fatalf("payParams are not signed: %s", *res.PayParams)
			}

			// Paying the consume order before the recharge arrives fails and changes nothing.
			payOrder := `mutation($sn:String!){payOrder(orderSn:$sn){` + epayOrderFields + `}}`
			if r := w.buyer.Do(t, payOrder, map[string]any{"sn": *res.PayOrderSn}); r.Code() != "INSUFFICIENT_FUNDS" {
				t.Fatalf("pay before recharge: %+v", r.Errors)
			}

			w.payCharge(t, *res.PayParams)
			if c := w.order(t, w.buyer, *res.ChargeOrderSn, false); c.Status != "PAID" || *c.LegacyStatus != 2 {
				t.Fatalf("recharge %+v", c)
			}
			if a, _ := wallet(t, w.buyer, "CNY"); a != "32.00" {
				t.Fatalf("wallet after recharge %s", a)
			}
			paid := w.mutateOrder(t, w.buyer, payOrder, map[string]any{"sn": *res.PayOrderSn})
			if paid.Status != "PAID" || *paid.LegacyStatus != 2 || paid.PaidAt == nil {
				t.Fatalf("paid %+v", paid)
			}
			if a, _ := wallet(t, w.buyer, "CNY"); a != "0.00" {
				t.Fatalf("wallet after pay %s", a)
			}
			if r := w.buyer.Do(t, payOrder, map[string]any{"sn": *res.PayOrderSn}); r.Code() != "INVALID_TRANSITION" {
				t.Fatalf("paying twice: %+v", r.Errors)
			}

			var goods struct {
				Order struct {
					Goods []struct {
						GoodsID, Item, SinglePrice, Amount string
						Num                                int
					}
					ExtendInfo string
				}
			}
			w.buyer.Do(t, `query($no:String!){order(orderNo:$no){extendInfo goods{goodsId item num singlePrice amount}}}`,
				map[string]any{"no": *res.PayOrderSn}).Decode(t, &goods)
			if g := goods.Order.Goods; len(g) != 2 || g[1].GoodsID != "coin" || g[1].Num != 4 || g[1].SinglePrice != "0.50" || g[1].Amount != "2.00" ||
				!strings.Contains(goods.Order.ExtendInfo, "860000000000001") || !strings.Contains(goods.Order.ExtendInfo, *res.ChargeOrderSn) {
				t.Fatalf("goods %+v", goods.Order)
			}

			// The app's server delivers; another app's cannot.
			store := w.c.As(svcToken)
			if r := store.Do(t, `mutation($id:ID!){markDelivered(orderId:$id){id}}`, map[string]any{"id": paid.ID}); r.Code() != "FORBIDDEN" {
				t.Fatalf("another app delivers: %+v", r.Errors)
			}
			done := w.mutateOrder(t, w.admin, `mutation($id:ID!){markDelivered(orderId:$id){`+epayOrderFields+`}}`, map[string]any{"id": paid.ID})
			if done.Status != "COMPLETED" || *done.LegacyStatus != 4 {
				t.Fatalf("delivered %+v", done)
			}

			// A return is refunded to the wallet.
			ret := w.mutateOrder(t, w.buyer, `mutation($sn:String!){requestReturn(orderSn:$sn,reason:"不想要了"){`+epayOrderFields+`}}`,
				map[string]any{"sn": *res.PayOrderSn})
			if ret.Status != "REFUND_REQUESTED" || *ret.LegacyStatus != 5 {
				t.Fatalf("return %+v", ret)
			}
			if r := w.buyer.Do(t, `mutation($id:ID!){approveRefund(orderId:$id){id}}`, map[string]any{"id": paid.ID}); r.Code() != "FORBIDDEN" {
				t.Fatalf("buyer approves: %+v", r.Errors)
			}
			ref := w.mutateOrder(t, w.admin, `mutation($id:ID!){approveRefund(orderId:$id){`+epayOrderFields+`}}`, map[string]any{"id": paid.ID})
			if ref.Status != "REFUNDED" || *ref.LegacyStatus != 7 {
				t.Fatalf("refunded %+v", ref)
			}
			if a, _ := wallet(t, w.buyer, "CNY"); a != "32.00" {
				t.Fatalf("wallet after refund %s", a)
			}

			// The recharge itself goes back through the gateway.
			w.mutateOrder(t, w.buyer, `mutation($sn:String!){requestReturn(orderSn:$sn,reason:"退款"){id}}`, map[string]any{"sn": *res.ChargeOrderSn})
			rc := w.mutateOrder(t, w.admin, `mutation($id:ID!){approveRefund(orderId:$id){`+epayOrderFields+`}}`, map[string]any{"id": res.ChargeOrder.ID})
			if rc.Status != "REFUNDED" || *rc.LegacyStatus != 7 {
				t.Fatalf("recharge refunded %+v", rc)
			}
			if a, e := wallet(t, w.buyer, "CNY"); a != "0.00" || e != "0.00" {
				t.Fatalf("wallet after the recharge refund %s/%s", a, e)
			}
			if s := w.order(t, w.buyer, *res.ChargeOrderSn, true); !s.Synced || s.ProviderInfo.Status != 2 {
				t.Fatalf("the gateway does not show the refund: %+v", s.ProviderInfo)
			}
			w.srv.AssertLedger(t)
		})
	}
}

func TestStoreRechargeOnly(t *testing.T) {
	w := newEpayWorld(t, "", nil, server.Options{})
	res := w.initOrder(t, w.buyer, map[string]any{"title": "充值", "type": "RECHARGE", "money": "50.00", "payWayName": "wechat"})
	if res.Order.Type != "RECHARGE" || res.PayOrderSn != nil || res.ChargeOrderSn == nil || *res.ChargeOrderSn != res.Order.OrderNo ||
		!strings.Contains(*res.PayParams, `"type":"wxpay"`) {
		t.Fatalf("recharge %+v %s", res, *res.PayParams)
	}
	// A recharge may also be paid through the API, like a points order.
	u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": res.Order.OrderNo, "method": "web", "device": "mobile"})
	if u.PayType != "jump" {
		t.Fatalf("pay url %+v", u)
	}
	w.sandboxPay(t, u.TradeNo, "success")
	if a, _ := wallet(t, w.buyer, "CNY"); a != "50.00" {
		t.Fatalf("wallet %s", a)
	}
	w.srv.AssertLedger(t)
}

// TestStoreAmountChecks: the server prices CONSUME orders; a client price
// that disagrees is AMOUNT_MISMATCH, bad input BAD_USER_INPUT, and neither
// creates anything.
func TestStoreAmountChecks(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	w.goods(t, "vip", "30.00")
	lines := []map[string]any{{"goodsId": "vip", "num": 2}}
	base := func(k string, v any) map[string]any {
		in := map[string]any{"title": "t", "type": "CONSUME", "payWayName": "alipay", "goods": lines}
		if k != "" {
			in[k] = v
		}
		return in
	}
	for name, tc := range map[string]struct {
		in   map[string]any
		code string
	}{
		"client price too low":   {base("priceTotal", "59.99"), "AMOUNT_MISMATCH"},
		"client money too high":  {base("money", "61.00"), "AMOUNT_MISMATCH"},
		"too many decimals":      {base("priceTotal", "60.001"), "BAD_USER_INPUT"},
		"money as a JSON number": {base("money", 60), "BAD_USER_INPUT"},
		"unknown goods":          {base("goods", []map[string]any{{"goodsId": "nope", "num": 1}}), "NOT_FOUND"},
		"no goods":               {base("goods", []map[string]any{}), "BAD_USER_INPUT"},
		"zero num":               {base("goods", []map[string]any{{"goodsId": "vip", "num": 0}}), "BAD_USER_INPUT"},
		"pay way not offered":    {base("payWayName", "paypal"), "BAD_USER_INPUT"},
		"other type":             {base("type", "DEAL"), "BAD_USER_INPUT"},
		"no title":               {base("title", ""), "BAD_USER_INPUT"},
		"recharge from wallet":   {map[string]any{"title": "t", "type": "RECHARGE", "payWayName": "wallet", "money": "1.00"}, "BAD_USER_INPUT"},
		"recharge of nothing":    {map[string]any{"title": "t", "type": "RECHARGE", "payWayName": "alipay"}, "BAD_USER_INPUT"},
		"recharge mismatch":      {map[string]any{"title": "t", "type": "RECHARGE", "payWayName": "alipay", "money": "1.00", "priceTotal": "2.00"}, "AMOUNT_MISMATCH"},
		"recharge 3 decimals":    {map[string]any{"title": "t", "type": "RECHARGE", "payWayName": "alipay", "money": "1.005"}, "BAD_USER_INPUT"},
	} {
		if r := w.buyer.Do(t, initOrderMutation, map[string]any{"in": tc.in}); r.Code() != tc.code {
			t.Errorf("%s: %+v", name, r.Errors)
		}
	}
	var orders struct{ Orders struct{ TotalCount int } }
	w.admin.Do(t, `{orders{totalCount}}`, nil).Decode(t, &orders)
	if orders.Orders.TotalCount != 0 {
		t.Fatalf("%d orders were created", orders.Orders.TotalCount)
	}
	// Trailing zeros are the same amount.
	if res := w.initOrder(t, w.buyer, base("priceTotal", "60.000")); res.Order.Amount != "60.00" {
		t.Fatalf("%+v", res.Order)
	}
}

// TestRefundOfPartlySpentRecharge: a recharge whose money was partly spent
// cannot be refunded through the gateway: a clear error, nothing moves,
// nothing is lost; once the spending is refunded, it can.
func TestRefundOfPartlySpentRecharge(t *testing.T) {
	w := newEpayWorld(t, "RSA", nil, server.Options{})
	w.goods(t, "vip", "30.00")
	rc := w.initOrder(t, w.buyer, map[string]any{"title": "充值", "type": "RECHARGE", "money": "50.00", "payWayName": "alipay"})
	w.payCharge(t, *rc.PayParams)
	c := w.initOrder(t, w.buyer, map[string]any{"title": "会员", "type": "CONSUME", "payWayName": "wallet", "goods": []map[string]any{{"goodsId": "vip", "num": 1}}})
	if c.ChargeOrderSn != nil || c.PayParams != nil {
		t.Fatalf("a wallet order has a charge: %+v", c)
	}
	w.mutateOrder(t, w.buyer, `mutation($sn:String!){payOrder(orderSn:$sn){id}}`, map[string]any{"sn": *c.PayOrderSn})

	w.mutateOrder(t, w.buyer, `mutation($sn:String!){requestReturn(orderSn:$sn,reason:"r"){id}}`, map[string]any{"sn": rc.Order.OrderNo})
	r := w.admin.Do(t, `mutation($id:ID!){approveRefund(orderId:$id){id}}`, map[string]any{"id": rc.Order.ID})
	if r.Code() != "INSUFFICIENT_FUNDS" || !strings.Contains(r.Errors[0].Message, "partly spent") || !strings.Contains(r.Errors[0].Message, "20.00") {
		t.Fatalf("refund of a spent recharge: %+v", r.Errors)
	}
	if a, e := wallet(t, w.buyer, "CNY"); a != "20.00" || e != "0.00" {
		t.Fatalf("wallet %s/%s", a, e)
	}
	if s := w.order(t, w.buyer, rc.Order.OrderNo, true); s.Status != "REFUND_REQUESTED" || s.ProviderInfo.Status != 1 {
		t.Fatalf("recharge %s, gateway status %d", s.Status, s.ProviderInfo.Status)
	}
	w.srv.AssertLedger(t)

	// Refund what it paid for, then the recharge goes back whole.
	w.mutateOrder(t, w.buyer, `mutation($sn:String!){requestReturn(orderSn:$sn,reason:"r"){id}}`, map[string]any{"sn": *c.PayOrderSn})
	w.mutateOrder(t, w.admin, `mutation($id:ID!){approveRefund(orderId:$id){id}}`, map[string]any{"id": c.Order.ID})
	if o := w.mutateOrder(t, w.admin, `mutation($id:ID!){approveRefund(orderId:$id){`+epayOrderFields+`}}`, map[string]any{"id": rc.Order.ID}); o.Status != "REFUNDED" {
		t.Fatalf("recharge %+v", o)
	}
	if a, e := wallet(t, w.buyer, "CNY"); a != "0.00" || e != "0.00" {
		t.Fatalf("wallet %s/%s", a, e)
	}
	if r := w.admin.Do(t, `mutation($id:ID!){approveRefund(orderId:$id){id}}`, map[string]any{"id": rc.Order.ID}); r.Code() != "INVALID_TRANSITION" {
		t.Fatalf("refunding twice: %+v", r.Errors)
	}
	w.srv.AssertLedger(t)
}

func TestStoreWalletOrders(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	svcToken := subCreateApp(t, w.admin, "store")
	w.goods(t, "vip", "30.00")
	one := []map[string]any{{"goodsId": "vip", "num": 1}}
	payOrder := `mutation($sn:String!){payOrder(orderSn:$sn){` + epayOrderFields + `}}`

	c := w.initOrder(t, w.buyer, map[string]any{"title": "会员", "type": "CONSUME", "payWayName": "wallet", "goods": one})
	w.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`,
		map[string]any{"in": map[string]any{"userId": w.buyerID, "asset": "CNY", "amount": "40.00"}}).Decode(t, &struct{}{})

	// Five concurrent payOrders: one pays, the wallet is charged once.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		okN  int
		errs []string
	)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := w.buyer.Post(payOrder, map[string]any{"sn": *c.PayOrderSn})
			mu.Lock()
			defer mu.Unlock()
			if err == nil && len(r.Errors) == 0 {
				okN++
			} else if err == nil {
				errs = append(errs, r.Code())
			}
		}()
	}
	wg.Wait()
	if okN != 1 {
		t.Fatalf("%d payments succeeded (%v)", okN, errs)
	}
	for _, e := range errs {
		if e != "INVALID_TRANSITION" {
			t.Fatalf("loser got %s", e)
		}
	}
	if a, _ := wallet(t, w.buyer, "CNY"); a != "10.00" {
		t.Fatalf("wallet %s", a)
	}
	// A stranger may not pay or return someone else's order.
	_, strangerTok := w.c.NewUser(t, "stranger")
	c2 := w.initOrder(t, w.buyer, map[string]any{"title": "会员", "type": "CONSUME", "payWayName": "wallet", "goods": one})
	if r := w.c.As(strangerTok).Do(t, payOrder, map[string]any{"sn": *c2.PayOrderSn}); r.Code() != "FORBIDDEN" {
		t.Fatalf("stranger pays: %+v", r.Errors)
	}
	if r := w.buyer.Do(t, payOrder, map[string]any{"sn": *c2.PayOrderSn}); r.Code() != "INSUFFICIENT_FUNDS" {
		t.Fatalf("short wallet: %+v", r.Errors)
	}

	// The admin's app delivers, or reports failure; a rejected return keeps the money where it is.
	failed := w.mutateOrder(t, w.admin, `mutation($id:ID!){markDeliveryFailed(orderId:$id,reason:"out of stock"){`+epayOrderFields+`}}`,
		map[string]any{"id": c.Order.ID})
	if failed.Status != "DELIVERY_FAILED" || *failed.LegacyStatus != 3 {
		t.Fatalf("delivery failed %+v", failed)
	}
	if r := w.c.As(svcToken).Do(t, `mutation($id:ID!){markDelivered(orderId:$id){id}}`, map[string]any{"id": c.Order.ID}); r.Code() != "FORBIDDEN" {
		t.Fatalf("another app: %+v", r.Errors)
	}
	w.mutateOrder(t, w.buyer, `mutation($sn:String!){requestReturn(orderSn:$sn,reason:"没收到"){id}}`, map[string]any{"sn": *c.PayOrderSn})
	rej := w.mutateOrder(t, w.admin, `mutation($id:ID!){rejectRefund(orderId:$id,reason:"已发货"){`+epayOrderFields+`}}`, map[string]any{"id": c.Order.ID})
	if rej.Status != "REFUND_REJECTED" || *rej.LegacyStatus != 6 {
		t.Fatalf("rejected %+v", rej)
	}
	if a, _ := wallet(t, w.buyer, "CNY"); a != "10.00" {
		t.Fatalf("wallet %s", a)
	}

	// Pay ways are configured per app.
	if r := w.buyer.Do(t, `mutation{setPayWays(appId:"1",payWays:[{name:"wallet",title:"余额"}]){name}}`, nil); r.Code() != "FORBIDDEN" {
		t.Fatalf("user sets pay ways: %+v", r.Errors)
	}
	var set struct {
		SetPayWays []struct{ Name, Title string }
	}
	w.admin.Do(t, `mutation{setPayWays(appId:"1",payWays:[{name:"wallet",title:"余额"},{name:"alipay",title:"支付宝",enabled:false}]){name title}}`, nil).Decode(t, &set)
	if len(set.SetPayWays) != 1 || set.SetPayWays[0].Name != "wallet" {
		t.Fatalf("pay ways %+v", set.SetPayWays)
	}
	if r := w.buyer.Do(t, initOrderMutation, map[string]any{"in": map[string]any{"title": "t", "type": "RECHARGE", "payWayName": "alipay", "money": "1.00"}}); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("a disabled pay way: %+v", r.Errors)
	}
	var other struct{ PayWays []struct{ Name string } }
	w.c.As(svcToken).Do(t, `{payWays{name}}`, nil).Decode(t, &other)
	if len(other.PayWays) != 4 {
		t.Fatalf("another app's pay ways changed: %+v", other.PayWays)
	}
	w.srv.AssertLedger(t)
}

// TestAppRefundsARechargeOnlyWhenAsked: the app decides a refund its payer
// asked for; a paid recharge the payer did not ask about stays in the
// payer's wallet whatever the app says.
func TestAppRefundsARechargeOnlyWhenAsked(t *testing.T) {
	w := newEpayWorld(t, "RSA", nil, server.Options{})
	var tok struct{ RotateServiceToken struct{ ServiceToken string } }
	w.admin.Do(t, `mutation{rotateServiceToken(appId:"1"){serviceToken}}`, nil).Decode(t, &tok)
	app := w.c.As(tok.RotateServiceToken.ServiceToken)
	rc := w.initOrder(t, w.buyer, map[string]any{"title": "充值", "type": "RECHARGE", "money": "50.00", "payWayName": "alipay"})
	w.payCharge(t, *rc.PayParams)
	approve := `mutation($id:ID!){approveRefund(orderId:$id){id status}}`
	if r := app.Do(t, approve, map[string]any{"id": rc.Order.ID}); r.Code() != "FORBIDDEN" {
		t.Fatalf("unasked refund by the app: %+v", r.Errors)
	}
	if a, _ := wallet(t, w.buyer, "CNY"); a != "50.00" {
		t.Fatalf("wallet after a refused refund %s", a)
	}
	w.mutateOrder(t, w.buyer, `mutation($sn:String!){requestReturn(orderSn:$sn,reason:"r"){id}}`, map[string]any{"sn": rc.Order.OrderNo})
	if o := w.mutateOrder(t, app, approve, map[string]any{"id": rc.Order.ID}); o.Status != "REFUNDED" {
		t.Fatalf("asked refund by the app: %+v", o)
	}
	if a, e := wallet(t, w.buyer, "CNY"); a != "0.00" || e != "0.00" {
		t.Fatalf("wallet after the refund %s/%s", a, e)
	}
	w.srv.AssertLedger(t)
}
