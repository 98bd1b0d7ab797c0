package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// world is who takes part in a run: the admin, a new app's server
// (SERVICE), a buyer and a seller.
type world struct {
	suffix            string
	admin, svc        caller
	buyer, seller     caller
	buyerID, sellerID string
	buyerName         string
	appID, appName    string
}

// The catalogue of the run's app: app store goods and a game item.
const (
	vipPrice   = "30.00"
	coinPrice  = "0.50"
	swordItem  = "屠龙刀"
	swordPrice = "128.00"

	buyerPayPassword  = "246810"
	sellerPayPassword = "135790"
)

// all runs every flow in turn.
func (d *demo) all() {
	fmt.Fprintf(d.out, "paygraph demo against %s\n", d.cfg.URL)
	d.ready()
	w := d.accounts()
	d.tokenCheckout(w)
	d.appStore(w)
	d.points(w)
	d.escrow(w)
	d.gameGoods(w)
	d.ledgerCheck(w)
	fmt.Fprintf(d.out, "all flows work end to end (%.1fs)\n", time.Since(d.start).Seconds())
}

// ready waits briefly for /readyz, so a server that is still starting is
// not a failure.
func (d *demo) ready() {
	const step = "server: GET /readyz"
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(d.ctx, http.MethodGet, d.cfg.URL+"/readyz", nil)
		resp, err := d.hc.Do(req)
		var body []byte
		if err == nil {
			body, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				d.ok("server: GET /readyz → %s", strings.TrimSpace(string(body)))
				return
			}
			err = fmt.Errorf("HTTP %d %s", resp.StatusCode, snippet(body))
		}
		if time.Now().After(deadline) || d.ctx.Err() != nil {
			d.fail(step, "%v — is paygraph running there? Start it with `PAYGRAPH_ADMIN=%s make run`, or set PAYGRAPH_DEMO_URL", err, DefaultAdmin)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ---- accounts, the admin, the wallet, the app and its catalogue ----

func (d *demo) accounts() *world {
	// Names are new on every run: 3–32 characters, a UTC timestamp to the
	// millisecond.
	w := &world{suffix: strings.ReplaceAll(time.Now().UTC().Format("20060102-150405.000"), ".", "")}
	w.buyerName = "buyer-" + w.suffix
	sellerName := "seller-" + w.suffix
	anon := caller{who: "anonymous"}

	register := func(name string) string {
		var out struct{ Register struct{ ID, Username string } }
		d.gql("accounts: register "+name, anon, `mutation($in:RegisterInput!){register(input:$in){id username}}`,
			map[string]any{"in": map[string]any{"username": name, "password": "password-" + name}}, &out)
		d.ok("accounts: anonymous register → %s (user %s)", out.Register.Username, out.Register.ID)
		return out.Register.ID
	}
	w.buyerID, w.sellerID = register(w.buyerName), register(sellerName)

	login := func(name, password, hint string) (caller, string) {
		var out struct {
			Login struct {
				Token string
				User  struct{ ID, Role string }
			}
		}
		d.gqlHint("accounts: login "+name, hint, anon, `mutation($u:String!,$p:String!){login(username:$u,password:$p){token user{id role}}}`,
			map[string]any{"u": name, "p": password}, &out)
		return caller{token: out.Login.Token}, out.Login.User.Role
	}
	var role string
	w.buyer, role = login(w.buyerName, "password-"+w.buyerName, "")
	w.buyer.who = "buyer"
	d.ok("accounts: buyer login → %s token", role)
	w.seller, role = login(sellerName, "password-"+sellerName, "")
	w.seller.who = "seller"
	d.ok("accounts: seller login → %s token", role)

	hint := fmt.Sprintf("the demo signs in as the bootstrap admin %q (PAYGRAPH_DEMO_ADMIN, else PAYGRAPH_ADMIN, else %s): "+
		"start the server with `PAYGRAPH_ADMIN=%s make run`, or set PAYGRAPH_DEMO_ADMIN=username:password to the server's PAYGRAPH_ADMIN",
		d.cfg.AdminUser, DefaultAdmin, DefaultAdmin)
	w.admin, role = login(d.cfg.AdminUser, d.cfg.AdminPassword, hint)
	w.admin.who = "admin"
	if role != "ADMIN" {
		d.fail("accounts: admin login", "%q is a %s, not an ADMIN: %s", d.cfg.AdminUser, role, hint)
	}
	d.ok("accounts: admin login %q (the bootstrap admin, PAYGRAPH_ADMIN) → ADMIN token", d.cfg.AdminUser)

	var me struct {
		Viewer struct {
			Role string
			User struct{ ID, Username string }
		}
	}
	d.gql("accounts: viewer", w.buyer, `{viewer{role user{id username}}}`, nil, &me)
	if me.Viewer.Role != "USER" || me.Viewer.User.ID != w.buyerID {
		d.fail("accounts: viewer", "the buyer's token speaks for %+v", me.Viewer)
	}
	d.ok("accounts: buyer viewer → %s %s", me.Viewer.Role, me.Viewer.User.Username)

	// Fund the buyer's wallet: an admin credit is money from outside.
	for _, c := range []struct{ asset, amount string }{{"CNY", "200.00"}, {"USDT", "100.000000"}} {
		var out struct {
			Credit struct {
				Amount string
				Wallet struct{ Asset, Available string }
			}
		}
		d.gql("wallet: credit "+c.asset, w.admin, `mutation($in:CreditInput!){credit(input:$in){amount wallet{asset available}}}`,
			map[string]any{"in": map[string]any{"userId": w.buyerID, "asset": c.asset, "amount": c.amount, "memo": "make demo"}}, &out)
		d.ok("wallet: admin credit %s %s to the buyer → available %s %s", out.Credit.Amount, c.asset, out.Credit.Wallet.Available, out.Credit.Wallet.Asset)
	}

	// An app for this run, and its SERVICE token: the app's server.
	w.appName = "demo shop " + w.suffix
	var app struct {
		CreateApp struct {
			App          struct{ ID, Name string }
			ServiceToken string
		}
	}
	d.gql("app: createApp", w.admin, `mutation($n:String!){createApp(name:$n){app{id name} serviceToken}}`, map[string]any{"n": w.appName}, &app)
	w.appID = app.CreateApp.App.ID
	w.svc = caller{who: "SERVICE", token: app.CreateApp.ServiceToken}
	d.ok("app: admin createApp %q → app %s and its SERVICE token (shown once)", w.appName, w.appID)
	var v struct {
		Viewer struct {
			Role string
			App  struct{ ID string }
		}
	}
	d.gql("app: viewer", w.svc, `{viewer{role app{id}}}`, nil, &v)
	if v.Viewer.Role != "SERVICE" || v.Viewer.App.ID != w.appID {
		d.fail("app: viewer", "the SERVICE token speaks for %+v", v.Viewer)
	}
	d.ok("app: SERVICE viewer → %s of app %s", v.Viewer.Role, v.Viewer.App.ID)

	for _, g := range []struct{ id, item, title, price string }{
		{"vip", "vip", "会员月卡", vipPrice}, {"coin", "coin", "金币", coinPrice}, {"sword", swordItem, swordItem, swordPrice},
	} {
		d.gql("catalogue: upsertGoods "+g.id, w.admin, `mutation($in:UpsertGoodsInput!){upsertGoods(input:$in){id}}`,
			map[string]any{"in": map[string]any{"id": g.id, "appId": w.appID, "item": g.item, "title": g.title, "singlePrice": g.price}}, nil)
	}
	d.ok("catalogue: admin upsertGoods vip %s, coin %s, sword (%s) %s CNY in app %s", vipPrice, coinPrice, swordItem, swordPrice, w.appID)
	return w
}

// ---- token checkout ----

func (d *demo) tokenCheckout(w *world) {
	const flow = "token checkout: "
	// The buyer binds an authenticator app; the demo computes its codes.
	var setup struct{ SetupTotp struct{ Secret string } }
	d.gql(flow+"setupTotp", w.buyer, `mutation{setupTotp{secret otpauthUrl}}`, nil, &setup)
	code, err := totp(setup.SetupTotp.Secret, time.Now())
	if err != nil {
		d.fail(flow+"setupTotp", "%v", err)
	}
	var on struct {
		EnableTotp struct {
			BindGA   bool
			AuthType string
		}
	}
	d.gql(flow+"enableTotp", w.buyer, `mutation($c:String!){enableTotp(code:$c){bindGA authType}}`, map[string]any{"c": code}, &on)
	d.ok(flow+"buyer setupTotp + enableTotp (an authenticator's code) → second factor %s", on.EnableTotp.AuthType)

	var created struct {
		CreatePaymentOrder struct{ ID, Status, Amount, Asset string }
	}
	d.gql(flow+"createPaymentOrder", w.svc, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id status amount asset}}`,
		map[string]any{"in": map[string]any{
			"clientOrderId": "demo-" + w.suffix, "payerUserId": w.buyerID, "payeeUserId": w.sellerID, "desc": "make demo",
			"payInfo": []any{map[string]any{"tokenId": "USDT", "amount": "25"}},
		}}, &created)
	o := created.CreatePaymentOrder
	d.want(flow+"createPaymentOrder", o.Status, "PENDING")
	d.ok(flow+"SERVICE createPaymentOrder buyer → seller %s %s → %s (order %s)", o.Amount, o.Asset, o.Status, o.ID)

	var pd struct {
		PaymentData struct {
			Need2FA  bool
			AuthType string
			User     struct{ Source string }
		}
	}
	d.gql(flow+"paymentData", w.buyer, `query($id:ID!){paymentData(orderId:$id){need2FA authType user{source}}}`, map[string]any{"id": o.ID}, &pd)
	d.ok(flow+"buyer paymentData → need2FA %t, authType %s, from %q", pd.PaymentData.Need2FA, pd.PaymentData.AuthType, pd.PaymentData.User.Source)

	in := map[string]any{"orderId": o.ID}
	how := "without a code"
	if pd.PaymentData.Need2FA {
		if pd.PaymentData.AuthType != "GA" {
			d.fail(flow+"pay", "the buyer's second factor is %s; the demo answers GA only", pd.PaymentData.AuthType)
		}
		// The enabling code's step is spent; the next step's code is
		// accepted now (one step of clock skew each way).
		next, _ := totp(setup.SetupTotp.Secret, time.Now().Add(30*time.Second))
		in["verifyCodeOrderId"], in["verifyCode"] = "0", next
		how = "with the authenticator's code"
	}
	var paid struct {
		Pay struct {
			Status  string
			PayInfo []struct{ PaidAmount string }
		}
	}
	d.gql(flow+"pay", w.buyer, `mutation($in:PayInput!){pay(input:$in){status payInfo{paidAmount}}}`, map[string]any{"in": in}, &paid)
	d.want(flow+"pay", paid.Pay.Status, "PAID")
	b, _, _ := d.wallet(flow+"balances", w.buyer, "USDT")
	s, _, _ := d.wallet(flow+"balances", w.seller, "USDT")
	d.ok(flow+"buyer pay %s → %s (buyer %s USDT, seller %s USDT)", how, paid.Pay.Status, b, s)
}

// ---- app store (epay) ----

func (d *demo) appStore(w *world) {
	const flow = "app store: "
	var ways struct {
		PayWays []struct{ Name, Title string }
	}
	d.gql(flow+"payWays", caller{who: "anonymous"}, `query($a:ID){payWays(appId:$a){name title}}`, map[string]any{"a": w.appID}, &ways)
	names := make([]string, len(ways.PayWays))
	for i, p := range ways.PayWays {
		names[i] = p.Name + " " + p.Title
	}
	d.ok(flow+"anonymous payWays → %s", strings.Join(names, ", "))

	lines := []map[string]any{{"goodsId": "vip", "num": 1}, {"goodsId": "coin", "num": 4}}
	var q struct {
		Quote struct{ PriceTotal, Asset string }
	}
	d.gql(flow+"quote", w.buyer, `query($g:[GoodsLineInput!]!,$a:ID){quote(goods:$g,appId:$a){priceTotal asset}}`,
		map[string]any{"g": lines, "a": w.appID}, &q)
	d.ok(flow+"buyer quote vip×1 + coin×4 → %s %s", q.Quote.PriceTotal, q.Quote.Asset)

	var init struct {
		InitOrder struct {
			Order                 struct{ ID, OrderNo, Status string }
			ChargeOrder           struct{ ID, OrderNo, Status string }
			PayParams, PayOrderSn string
		}
	}
	d.gql(flow+"initOrder", w.buyer, `mutation($in:InitOrderInput!){initOrder(input:$in){order{id orderNo status} chargeOrder{id orderNo status} payParams payOrderSn}}`,
		map[string]any{"in": map[string]any{"appId": w.appID, "title": "会员购买", "type": "CONSUME", "priceTotal": q.Quote.PriceTotal,
			"money": q.Quote.PriceTotal, "imei": "860000000000001", "payWayName": "alipay", "goods": lines}}, &init)
	res := init.InitOrder
	d.ok(flow+"buyer initOrder CONSUME via alipay → %s %s, with the recharge %s to pay at epay", res.Order.OrderNo, res.Order.Status, res.ChargeOrder.OrderNo)

	// The client submits the signed form of payParams to the gateway, which
	// sends the browser to its cashier; there the payer presses Pay.
	var pp struct {
		Action, Method string
		Params         map[string]string
	}
	if err := json.Unmarshal([]byte(res.PayParams), &pp); err != nil || pp.Action == "" {
		d.fail(flow+"payParams", "payParams %s: %v", snippet([]byte(res.PayParams)), err)
	}
	form := url.Values{}
	for k, v := range pp.Params {
		form.Set(k, v)
	}
	resp, body := d.postForm(flow+"submit payParams", pp.Action, form, "")
	loc, err := resp.Location()
	if err != nil || resp.StatusCode != http.StatusFound {
		d.fail(flow+"submit payParams", "the gateway answered %d %s, not a redirect to its cashier", resp.StatusCode, snippet([]byte(body)))
	}
	d.ok(flow+"buyer submits payParams to epay (%s %s) → its cashier %s", pp.Method, pp.Action, loc.Path)
	d.epayPay(flow, loc.String())

	d.orderStatus(flow+"recharge", w.buyer, res.ChargeOrder.OrderNo, "PAID")
	cny, _, _ := d.wallet(flow+"wallet", w.buyer, "CNY")
	d.ok(flow+"recharge %s → PAID by the signed notify (buyer's wallet %s CNY)", res.ChargeOrder.OrderNo, cny)

	var po struct {
		PayOrder struct{ ID, OrderNo, Status string }
	}
	d.gql(flow+"payOrder", w.buyer, `mutation($sn:String!){payOrder(orderSn:$sn){id orderNo status}}`, map[string]any{"sn": res.PayOrderSn}, &po)
	d.want(flow+"payOrder", po.PayOrder.Status, "PAID")
	cny, _, _ = d.wallet(flow+"wallet", w.buyer, "CNY")
	d.ok(flow+"buyer payOrder → %s (%s; wallet %s CNY)", po.PayOrder.Status, po.PayOrder.OrderNo, cny)

	// A part first: the four coins go back, the order stays PAID.
	var part struct {
		ApproveRefund struct{ Status, RefundedAmount string }
	}
	d.gql(flow+"approveRefund (a part)", w.admin, `mutation($id:ID!,$k:String!){approveRefund(orderId:$id,amount:"2.00",idempotencyKey:$k){status refundedAmount}}`,
		map[string]any{"id": po.PayOrder.ID, "k": "demo-part-" + po.PayOrder.ID}, &part)
	d.want(flow+"approveRefund (a part)", part.ApproveRefund.Status, "PAID")
	d.want(flow+"approveRefund (a part)", part.ApproveRefund.RefundedAmount, "2.00")
	cny, _, _ = d.wallet(flow+"wallet", w.buyer, "CNY")
	d.ok(flow+"admin approveRefund of a part (the four coins, 2.00) → still %s, refundedAmount %s (wallet %s CNY)",
		part.ApproveRefund.Status, part.ApproveRefund.RefundedAmount, cny)

	var del struct{ MarkDelivered struct{ Status string } }
	d.gql(flow+"markDelivered", w.svc, `mutation($id:ID!){markDelivered(orderId:$id){status}}`, map[string]any{"id": po.PayOrder.ID}, &del)
	d.want(flow+"markDelivered", del.MarkDelivered.Status, "COMPLETED")
	d.ok(flow+"SERVICE markDelivered → %s", del.MarkDelivered.Status)

	var ret struct{ RequestReturn struct{ Status string } }
	d.gql(flow+"requestReturn", w.buyer, `mutation($sn:String!){requestReturn(orderSn:$sn,reason:"不想要了"){status}}`, map[string]any{"sn": res.PayOrderSn}, &ret)
	d.want(flow+"requestReturn", ret.RequestReturn.Status, "REFUND_REQUESTED")
	d.ok(flow+"buyer requestReturn → %s", ret.RequestReturn.Status)

	var ref struct {
		ApproveRefund struct{ Status, RefundedAmount string }
	}
	d.gql(flow+"approveRefund", w.admin, `mutation($id:ID!){approveRefund(orderId:$id){status refundedAmount}}`, map[string]any{"id": po.PayOrder.ID}, &ref)
	d.want(flow+"approveRefund", ref.ApproveRefund.Status, "REFUNDED")
	cny, _, _ = d.wallet(flow+"wallet", w.buyer, "CNY")
	d.ok(flow+"admin approveRefund of the rest → %s, refundedAmount %s (back in the wallet: %s CNY)", ref.ApproveRefund.Status, ref.ApproveRefund.RefundedAmount, cny)
}

// epayPay opens the epay sandbox's cashier page and presses its Pay
// button; the gateway sends its signed notify before it answers.
func (d *demo) epayPay(flow, cashierURL string) {
	step := flow + "epay cashier Pay"
	body := d.pressButton(step, cashierURL, "result", "success", "application/json")
	var out struct {
		Code     int
		Msg      string
		Notified bool
		TradeNo  string `json:"trade_no"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Code != 0 {
		d.fail(step, "the sandbox answered %s", snippet([]byte(body)))
	}
	if !out.Notified {
		d.fail(step, "the sandbox's notify for trade %s was not acknowledged with success (see the server's log)", out.TradeNo)
	}
	d.ok(flow+"payer presses Pay on the epay cashier → trade %s paid, signed notify acknowledged", out.TradeNo)
}

// ---- points (epay) ----

func (d *demo) points(w *world) {
	const flow = "points: "
	var created struct {
		CreatePointsOrder struct {
			ID, OrderNo, Status, Amount string
			Points                      int
		}
	}
	d.gql(flow+"createPointsOrder", w.buyer, `mutation($in:CreatePointsOrderInput!){createPointsOrder(input:$in){id orderNo status amount points}}`,
		map[string]any{"in": map[string]any{"amount": "10.00", "points": 100, "paymentType": "alipay"}}, &created)
	o := created.CreatePointsOrder
	d.want(flow+"createPointsOrder", o.Status, "PENDING")
	d.ok(flow+"buyer createPointsOrder %d points for %s CNY → %s (%s)", o.Points, o.Amount, o.Status, o.OrderNo)

	var pu struct {
		GetPayURL struct{ TradeNo, PayType, PayInfo string } `json:"getPayUrl"`
	}
	d.gql(flow+"getPayUrl", w.buyer, `mutation($in:GetPayUrlInput!){getPayUrl(input:$in){tradeNo payType payInfo}}`,
		map[string]any{"in": map[string]any{"orderNo": o.OrderNo}}, &pu)
	if pu.GetPayURL.PayType != "qrcode" && pu.GetPayURL.PayType != "jump" {
		d.fail(flow+"getPayUrl", "payType %s: the demo follows qrcode or jump URLs", pu.GetPayURL.PayType)
	}
	d.ok(flow+"buyer getPayUrl → %s trade %s, order PROCESSING", pu.GetPayURL.PayType, pu.GetPayURL.TradeNo)
	d.epayPay(flow, pu.GetPayURL.PayInfo)

	d.orderStatus(flow+"order", w.buyer, o.OrderNo, "PAID")
	pts, _, _ := d.wallet(flow+"wallet", w.buyer, "POINTS")
	d.ok(flow+"order %s → PAID by the notify (buyer has %s POINTS)", o.OrderNo, pts)

	var ref struct{ ApproveRefund struct{ Status string } }
	d.gql(flow+"approveRefund", w.admin, `mutation($id:ID!){approveRefund(orderId:$id){status}}`, map[string]any{"id": o.ID}, &ref)
	d.want(flow+"approveRefund", ref.ApproveRefund.Status, "REFUNDED")
	var synced struct {
		Order struct {
			Status       string
			Synced       bool
			ProviderInfo *struct {
				Status     int
				StatusText string
			}
		}
	}
	d.gql(flow+"order(sync)", w.buyer, `query($no:String!){order(orderNo:$no,sync:true){status synced providerInfo{status statusText}}}`,
		map[string]any{"no": o.OrderNo}, &synced)
	gw := "not asked"
	if p := synced.Order.ProviderInfo; synced.Order.Synced && p != nil {
		gw = fmt.Sprintf("%d %s", p.Status, p.StatusText)
	}
	pts, _, _ = d.wallet(flow+"wallet", w.buyer, "POINTS")
	d.ok(flow+"admin approveRefund → %s through the gateway (gateway status %s; buyer has %s POINTS)", ref.ApproveRefund.Status, gw, pts)
}

// ---- escrow marketplace (wallet, Ping++, withdrawals) ----

func (d *demo) escrow(w *world) {
	const flow = "escrow: "
	for _, p := range []struct {
		c  caller
		pw string
	}{{w.buyer, buyerPayPassword}, {w.seller, sellerPayPassword}} {
		var out struct{ SetPayPassword struct{ HasPayPassword bool } }
		d.gql(flow+p.c.who+" setPayPassword", p.c, `mutation($p:String!){setPayPassword(newPassword:$p){hasPayPassword}}`, map[string]any{"p": p.pw}, &out)
		if !out.SetPayPassword.HasPayPassword {
			d.fail(flow+p.c.who+" setPayPassword", "hasPayPassword is still false")
		}
	}
	d.ok(flow + "buyer and seller setPayPassword → hasPayPassword true")

	// A deal paid from the wallet waits in the seller's escrow until the
	// buyer confirms it.
	deal := d.initDeal(flow, w, "30.00", "room-"+w.suffix)
	d.payByWallet(flow, w, deal)
	d.ok(flow+"buyer payByWallet → PAID (seller: %s)", d.cash(flow, w.seller))
	d.dealMutation(flow, w.buyer, "confirmOrder", deal, "", "COMPLETED")
	d.ok(flow+"buyer confirmOrder → COMPLETED (seller: %s)", d.cash(flow, w.seller))

	// Another deal, refunded before confirmation.
	deal2 := d.initDeal(flow, w, "10.00", "")
	d.payByWallet(flow, w, deal2)
	d.dealMutation(flow, w.buyer, "applyRefund", deal2, `,reason:"服务没有完成"`, "REFUND_REQUESTED")
	d.ok(flow + "buyer applyRefund on a second deal → REFUND_REQUESTED")
	d.dealMutation(flow, w.seller, "approveRefund", deal2, "", "REFUNDED")
	d.ok(flow+"seller approveRefund → REFUNDED (buyer: %s)", d.cash(flow, w.buyer))

	// A third deal paid through Ping++: the sandbox's cashier, then its
	// signed charge.succeeded webhook.
	deal3 := d.initDeal(flow, w, "12.34", "")
	var ch struct {
		PayByChannel struct {
			Order  struct{ Status string }
			Charge struct{ ID, Channel, Amount, CashierURL string }
		}
	}
	d.gql(flow+"payByChannel", w.buyer, `mutation($id:ID!){payByChannel(orderId:$id,channel:ALIPAY){order{status} charge{id channel amount cashierUrl}}}`,
		map[string]any{"id": deal3}, &ch)
	c := ch.PayByChannel.Charge
	d.ok(flow+"buyer payByChannel ALIPAY → order %s, Ping++ charge %s of %s", ch.PayByChannel.Order.Status, c.ID, c.Amount)
	// The sandbox's cashier, at the address the demo reaches the server
	// by. (charge.cashierUrl is built from PAYGRAPH_PUBLIC_URL as
	// configured, not the address the server ended up listening on, so it
	// is wrong when that differs, e.g. with PAYGRAPH_ADDR=127.0.0.1:0.)
	cashier := d.cfg.URL + "/sandbox/pingpp/pay/" + url.PathEscape(c.ID)
	reply := strings.TrimSpace(d.pressButton(flow+"Ping++ cashier Pay", cashier, "result", "success", ""))
	if !strings.Contains(reply, "webhook answered 200") {
		d.fail(flow+"Ping++ cashier Pay", "the sandbox answered %q", reply)
	}
	d.ok(flow+"payer presses Pay on the Ping++ cashier → %s", reply)
	d.dealStatus(flow+"deal paid by webhook", w.buyer, deal3, "PAID")
	d.dealMutation(flow, w.buyer, "confirmOrder", deal3, "", "COMPLETED")
	d.ok(flow+"deal → PAID by the webhook, buyer confirmOrder → COMPLETED (seller: %s)", d.cash(flow, w.seller))

	// The seller withdraws earnings; an admin pays them out.
	var wd struct {
		Withdraw struct{ ID, Status, Amount string }
	}
	d.gql(flow+"withdraw", w.seller, `mutation($in:WithdrawInput!){withdraw(input:$in){id status amount}}`,
		map[string]any{"in": map[string]any{"amount": "40.00", "payPassword": sellerPayPassword, "alipayNo": "13800000000", "alipayName": "张三"}}, &wd)
	d.want(flow+"withdraw", wd.Withdraw.Status, "PROCESSING")
	d.ok(flow+"seller withdraw %s to Alipay → %s (seller: %s)", wd.Withdraw.Amount, wd.Withdraw.Status, d.cash(flow, w.seller))
	d.dealMutation(flow, w.admin, "completeWithdrawal", wd.Withdraw.ID, "", "COMPLETED")
	d.ok(flow + "admin completeWithdrawal → COMPLETED")
}

func (d *demo) initDeal(flow string, w *world, amount, chatID string) string {
	in := map[string]any{"subject": "代练服务 " + amount, "amount": amount, "receiverId": w.sellerID, "channel": "WALLET", "skillId": "skill-1"}
	if chatID != "" {
		in["chatId"] = chatID
	}
	var out struct {
		InitDealOrder struct {
			Order struct{ ID, OrderNo, Status, Amount string }
		}
	}
	d.gql(flow+"initDealOrder", w.buyer, `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{id orderNo status amount} charge{id}}}`,
		map[string]any{"in": in}, &out)
	o := out.InitDealOrder.Order
	d.want(flow+"initDealOrder", o.Status, "PENDING")
	d.ok(flow+"buyer initDealOrder %s CNY with the seller → %s (deal %s)", o.Amount, o.Status, o.OrderNo)
	return o.ID
}

func (d *demo) payByWallet(flow string, w *world, id string) {
	var out struct{ PayByWallet struct{ Status string } }
	d.gql(flow+"payByWallet", w.buyer, `mutation($id:ID!,$p:String!){payByWallet(orderId:$id,payPassword:$p){status}}`,
		map[string]any{"id": id, "p": buyerPayPassword}, &out)
	d.want(flow+"payByWallet", out.PayByWallet.Status, "PAID")
}

// dealMutation runs field(orderId: id …) as c and wants status.
func (d *demo) dealMutation(flow string, c caller, field, id, args, status string) {
	var out map[string]struct{ Status string }
	d.gql(flow+c.who+" "+field, c, `mutation($id:ID!){`+field+`(orderId:$id`+args+`){status}}`, map[string]any{"id": id}, &out)
	d.want(flow+c.who+" "+field, out[field].Status, status)
}

func (d *demo) dealStatus(step string, c caller, id, want string) {
	var out struct{ Order struct{ Status string } }
	d.gql(step, c, `query($id:ID!){order(id:$id){status}}`, map[string]any{"id": id}, &out)
	d.want(step, out.Order.Status, want)
}

// cash is a user's escrow marketplace balances, for printing.
func (d *demo) cash(flow string, c caller) string {
	var out struct {
		Cash struct{ Cash, WithdrawCash, Pending string }
	}
	d.gql(flow+c.who+" cash", c, `{cash{cash withdrawCash pending}}`, nil, &out)
	return fmt.Sprintf("cash %s, withdrawable %s, pending %s", out.Cash.Cash, out.Cash.WithdrawCash, out.Cash.Pending)
}

// ---- game goods ----

func (d *demo) gameGoods(w *world) {
	const flow = "game goods: "
	var g struct {
		Goods struct{ ID, Item, SinglePrice string }
	}
	d.gql(flow+"goods", w.svc, `{goods(id:"sword"){id item singlePrice}}`, nil, &g)
	d.ok(flow+"SERVICE goods(sword) → %s %s CNY", g.Goods.Item, g.Goods.SinglePrice)

	var created struct {
		CreateGoodsOrder struct {
			OrderNo string
			Order   struct{ Status string }
		}
	}
	d.gql(flow+"createGoodsOrder", w.svc, `mutation($in:CreateGoodsOrderInput!){createGoodsOrder(input:$in){orderNo order{status}}}`,
		map[string]any{"in": map[string]any{"userId": w.buyerID, "item": g.Goods.Item, "itemId": g.Goods.ID, "singlePrice": g.Goods.SinglePrice}}, &created)
	no := created.CreateGoodsOrder.OrderNo
	d.want(flow+"createGoodsOrder", created.CreateGoodsOrder.Order.Status, "PENDING")
	d.ok(flow+"SERVICE createGoodsOrder for the buyer → %s (%s)", created.CreateGoodsOrder.Order.Status, no)

	var cb struct {
		SendGameTestCallback struct {
			Status        int
			Result, State string
		}
	}
	d.gql(flow+"sendGameTestCallback", w.admin, `mutation($in:SendGameTestCallbackInput!){sendGameTestCallback(input:$in){status result state}}`,
		map[string]any{"in": map[string]any{"order": no}}, &cb)
	if cb.SendGameTestCallback.Result != "success" {
		d.fail(flow+"sendGameTestCallback", "the callback was answered %d %s: %s", cb.SendGameTestCallback.Status, cb.SendGameTestCallback.Result, cb.SendGameTestCallback.State)
	}
	d.orderStatus(flow+"order", w.svc, no, "PAID")
	d.ok(flow+"admin sendGameTestCallback (a signed POST /api/pay/callback) → %s; order PAID", cb.SendGameTestCallback.Result)

	for i, want := range []bool{true, false} {
		var v struct {
			VerifyOrder struct {
				Verified, FirstDelivery bool
				Order                   *struct{ Status string }
			}
		}
		d.gql(flow+"verifyOrder", w.svc, `mutation($in:VerifyOrderInput!){verifyOrder(input:$in){verified firstDelivery order{status}}}`,
			map[string]any{"in": map[string]any{"userId": w.buyerID, "item": g.Goods.Item, "itemId": g.Goods.ID, "order": no}}, &v)
		r := v.VerifyOrder
		if !r.Verified || r.FirstDelivery != want || r.Order == nil || r.Order.Status != "COMPLETED" {
			d.fail(flow+"verifyOrder", "answer %+v, want verified, firstDelivery %t, COMPLETED", r, want)
		}
		what := "hand the item out"
		if i > 0 {
			what = "already delivered: do not hand it out again"
		}
		d.ok(flow+"SERVICE verifyOrder → verified %t, firstDelivery %t, %s (%s)", r.Verified, r.FirstDelivery, r.Order.Status, what)
	}
}

// ---- the ledger ----

func (d *demo) ledgerCheck(w *world) {
	const step = "ledger: ledgerCheck"
	var out struct {
		LedgerCheck struct {
			OK                 bool
			Assets             []struct{ Asset, Sum string }
			NegativeWallets    []struct{ ID string }
			MismatchedWallets  []struct{ ID string }
			UnbalancedJournals []string
			UnbackedOrders     []string
		}
	}
	d.gql(step, w.admin, `{ledgerCheck{ok assets{asset sum} negativeWallets{id} mismatchedWallets{id} unbalancedJournals unbackedOrders}}`, nil, &out)
	l := out.LedgerCheck
	sums := make([]string, len(l.Assets))
	for i, a := range l.Assets {
		sums[i] = a.Asset + " " + a.Sum
	}
	if !l.OK {
		d.fail(step, "ok false: sums %s; negative wallets %v, mismatched wallets %v, unbalanced journals %v, unbacked orders %v",
			strings.Join(sums, ", "), l.NegativeWallets, l.MismatchedWallets, l.UnbalancedJournals, l.UnbackedOrders)
	}
	d.ok("ledger: admin ledgerCheck → ok %t (every asset sums to zero: %s)", l.OK, strings.Join(sums, ", "))
}

// ---- helpers ----

// want fails step unless the status is the one wanted.
func (d *demo) want(step, got, want string) {
	if got != want {
		d.fail(step, "status %s, want %s", got, want)
	}
}

func (d *demo) orderStatus(step string, c caller, orderNo, want string) {
	var out struct{ Order struct{ Status string } }
	d.gql(step, c, `query($no:String!){order(orderNo:$no){status}}`, map[string]any{"no": orderNo}, &out)
	d.want(step, out.Order.Status, want)
}

// wallet returns c's balances in asset ("0" without a wallet).
func (d *demo) wallet(step string, c caller, asset string) (available, escrow, withdrawable string) {
	var out struct {
		Wallets []struct{ Asset, Available, Escrow, Withdrawable string }
	}
	d.gql(step, c, `{wallets{asset available escrow withdrawable}}`, nil, &out)
	for _, w := range out.Wallets {
		if w.Asset == asset {
			return w.Available, w.Escrow, w.Withdrawable
		}
	}
	return "0", "0", "0"
}
