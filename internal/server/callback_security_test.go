package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygraph/paygraph/ent/callbackevent"
	"github.com/paygraph/paygraph/internal/provider/epay"
	sandboxpingpp "github.com/paygraph/paygraph/internal/sandbox/pingpp"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// signedEpayNotify is a notify signed with the merchant key the tests
// configure: what the gateway would send for orderNo.
func signedEpayNotify(orderNo, tradeNo, money string) url.Values {
	p := epay.Params{"pid": "1000", "trade_no": tradeNo, "out_trade_no": orderNo, "type": "alipay", "name": "x",
		"money": money, "trade_status": "TRADE_SUCCESS"}
	v := p.Values()
	v.Set("sign", epay.SignMD5(p, epayKey))
	v.Set("sign_type", "MD5")
	return v
}

type anyOrder struct {
	ID, OrderNo, Type, Status string
	PaidAt                    *string
}

const anyOrderFields = `id orderNo type status paidAt`

func (w *epayWorld) orderByID(t *testing.T, id string) anyOrder {
	t.Helper()
	var out struct{ Order anyOrder }
	w.admin.Do(t, `query($id:ID!){order(id:$id){`+anyOrderFields+`}}`, map[string]any{"id": id}).Decode(t, &out)
	return out.Order
}

// lastCallback is the newest stored callback.
func (w *epayWorld) lastCallback(t *testing.T) (verdict, errText string) {
	t.Helper()
	ev, err := w.srv.DB.Ent.CallbackEvent.Query().Order(callbackevent.ByID()).All(t.Context())
	if err != nil || len(ev) == 0 {
		t.Fatalf("no callback stored: %v", err)
	}
	last := ev[len(ev)-1]
	return string(last.Verdict), last.Error
}

// TestSignedNotifyMovesOnlyOrdersHandedToEpay: a correctly signed epay
// notify names orders of every other kind — a token checkout order, an app
// store order paid from the wallet, a withdrawal, a game order, a wallet
// deal — and each is stored REJECTED, answered fail, and nothing moves.
func TestSignedNotifyMovesOnlyOrdersHandedToEpay(t *testing.T) {
	w := newEpayWorld(t, "MD5", testutil.Env{"PAYGRAPH_CALLBACK_REJECTS_PER_MINUTE": "1000"}, server.Options{})
	sellerID, sellerTok := w.c.NewUser(t, "seller")
	seller := w.c.As(sellerTok)
	for _, u := range []string{w.buyerID, sellerID} {
		w.admin.Do(t, `mutation($u:ID!){credit(input:{userId:$u, asset:"CNY", amount:"500.00", withdrawable:true}){id}}`,
			map[string]any{"u": u}).Decode(t, &struct{}{})
	}
	orders := map[string]string{} // type → id
	var pay struct{ CreatePaymentOrder struct{ ID string } }
	w.admin.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": map[string]any{
		"payerUserId": w.buyerID, "payeeUserId": sellerID, "payInfo": []map[string]any{{"tokenId": "CNY", "amount": "10.00"}},
	}}).Decode(t, &pay)
	orders["PAYMENT"] = pay.CreatePaymentOrder.ID

	w.goods(t, "g1", "10.00")
	res := w.initOrder(t, w.buyer, map[string]any{"title": "t", "type": "CONSUME", "priceTotal": "10.00", "money": "10.00",
		"payWayName": "wallet", "goods": []map[string]any{{"goodsId": "g1", "num": 1}}})
	orders["CONSUME"] = res.Order.ID

	seller.Do(t, `mutation{setPayPassword(newPassword:"seller-pw"){id}}`, nil).Decode(t, &struct{}{})
	var wd struct{ Withdraw struct{ ID string } }
	seller.Do(t, `mutation{withdraw(input:{amount:"10.00",payPassword:"seller-pw",alipayNo:"s@x.cn",alipayName:"S"}){id}}`, nil).Decode(t, &wd)
	orders["WITHDRAWAL"] = wd.Withdraw.ID

	w.admin.Do(t, `mutation{upsertGoods(input:{id:"sword", item:"sword", singlePrice:"10.00"}){id}}`, nil).Decode(t, &struct{}{})
	var g struct {
		CreateGoodsOrder struct{ Order struct{ ID string } }
	}
	w.buyer.Do(t, `mutation($u:ID!){createGoodsOrder(input:{userId:$u, item:"sword", itemId:"sword", singlePrice:"10.00"}){order{id}}}`,
		map[string]any{"u": w.buyerID}).Decode(t, &g)
	orders["GOODS"] = g.CreateGoodsOrder.Order.ID

	var deal struct {
		InitDealOrder struct{ Order struct{ ID string } }
	}
	w.buyer.Do(t, `mutation($s:ID!){initDealOrder(input:{subject:"s", amount:"10.00", receiverId:$s, channel:WALLET}){order{id}}}`,
		map[string]any{"s": sellerID}).Decode(t, &deal)
	orders["DEAL"] = deal.InitDealOrder.Order.ID

	balances := func() string {
		a1, e1 := wallet(t, w.buyer, "CNY")
		a2, e2 := wallet(t, seller, "CNY")
		return a1 + "/" + e1 + "/" + a2 + "/" + e2
	}
	before := balances()
	for typ, id := range orders {
		t.Run(typ, func(t *testing.T) {
			o := w.orderByID(t, id)
			if o.Type != typ {
				t.Fatalf("fixture: %+v", o)
			}
			if reply := w.notify(t, signedEpayNotify(o.OrderNo, "2026120200001", "10.00")); reply != "fail" {
				t.Fatalf("reply %q", reply)
			}
			if verdict, reason := w.lastCallback(t); verdict != "REJECTED" || !strings.Contains(reason, "not handed to epay") {
				t.Fatalf("stored %s %q", verdict, reason)
			}
			if cur := w.orderByID(t, id); cur != o {
				t.Fatalf("order moved: %+v → %+v", o, cur)
			}
		})
	}
	if after := balances(); after != before {
		t.Fatalf("balances %s → %s", before, after)
	}
	w.srv.AssertLedger(t)
}

// TestNotifyOfAnotherTradeIsRejected: an epay order that was handed trade
// A is not paid by a signed notify of trade B.
func TestNotifyOfAnotherTradeIsRejected(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")
	u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo})
	if reply := w.notify(t, signedEpayNotify(o.OrderNo, u.TradeNo+"9", "10.00")); reply != "fail" {
		t.Fatalf("reply %q", reply)
	}
	if verdict, reason := w.lastCallback(t); verdict != "REJECTED" || !strings.Contains(reason, "is not the trade") {
		t.Fatalf("stored %s %q", verdict, reason)
	}
	if cur := w.order(t, w.buyer, o.OrderNo, false); cur.Status != "PROCESSING" {
		t.Fatalf("status %s", cur.Status)
	}
	if a, _ := wallet(t, w.buyer, "POINTS"); a != "0" {
		t.Fatalf("points %s", a)
	}
	// The trade it was handed pays it.
	if reply := w.notify(t, signedEpayNotify(o.OrderNo, u.TradeNo, "10.00")); reply != "success" {
		t.Fatalf("genuine notify: %q", reply)
	}
	w.srv.AssertLedger(t)
}

// TestProviderAmountsAreExact: epay's money is read as written, and its
// digest is lower-case hex.
func TestProviderAmountsAreExact(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")
	u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo})
	for _, money := range []string{"010.00", "-10.00", "10.000", " 10.00", "1e1", "10,00"} {
		if reply := w.notify(t, signedEpayNotify(o.OrderNo, u.TradeNo, money)); reply != "fail" {
			t.Fatalf("money %q: %q", money, reply)
		}
	}
	upper := signedEpayNotify(o.OrderNo, u.TradeNo, "10.00")
	upper.Set("sign", strings.ToUpper(upper.Get("sign")))
	if reply := w.notify(t, upper); reply != "fail" {
		t.Fatalf("upper-case sign: %q", reply)
	}
	if cur := w.order(t, w.buyer, o.OrderNo, false); cur.Status != "PROCESSING" {
		t.Fatalf("status %s", cur.Status)
	}
	w.srv.AssertLedger(t)
}

// TestLedgerCheckFindsPaidOrdersWithoutMoney: an order marked paid whose
// payment was never posted makes the check fail and is named.
func TestLedgerCheckFindsPaidOrdersWithoutMoney(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")
	check := func() (bool, []string) {
		var out struct {
			LedgerCheck struct {
				OK             bool
				UnbackedOrders []string
			}
		}
		w.admin.Do(t, `{ledgerCheck{ok unbackedOrders}}`, nil).Decode(t, &out)
		return out.LedgerCheck.OK, out.LedgerCheck.UnbackedOrders
	}
	if ok, un := check(); !ok || len(un) != 0 {
		t.Fatalf("before: %v %v", ok, un)
	}
	// What the old notify hole did: PAID, with no posting.
	id, err := strconv.ParseInt(o.ID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.srv.DB.Ent.Order.UpdateOneID(id).SetStatus("PAID").SetPaidAt(w.srv.Clock.Now()).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ok, un := check(); ok || len(un) != 1 || un[0] != o.ID {
		t.Fatalf("after: %v %v", ok, un)
	}
}

// TestForgedCallbacksCannotFillTheDatabase: 60 unsigned 1 MB bodies are
// refused at the protocol's size, and what is stored of them is bounded.
func TestForgedCallbacksCannotFillTheDatabase(t *testing.T) {
	w := newEpayWorld(t, "MD5", testutil.Env{"PAYGRAPH_CALLBACK_REJECTS_PER_MINUTE": "20"}, server.Options{})
	big := bytes.Repeat([]byte("a"), 1<<20)
	for i, path := range []string{"/payment/notify", "/api/pay/callback", "/callbacks/pingpp"} {
		for j := 0; j < 20; j++ {
			body := append([]byte(fmt.Sprintf("out_trade_no=%d&money=", i*100+j)), big...)
			resp, err := w.noRedirectHC.Post(w.srv.URL+path, "application/x-www-form-urlencoded", bytes.NewReader(body))
			if err != nil {
				// The server may close the connection once the cap is read.
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && path == "/payment/notify" {
				continue // epay is answered "fail" with 200
			}
		}
	}
	evs, err := w.srv.DB.Ent.CallbackEvent.Query().All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, ev := range evs {
		if ev.Verdict != callbackevent.VerdictREJECTED {
			t.Fatalf("verdict %s", ev.Verdict)
		}
		stored += len(ev.Body)
	}
	// 20 per address per minute, each at most ~2 KB.
	if len(evs) > 20 || stored > 20*2200 {
		t.Fatalf("%d callbacks, %d bytes stored", len(evs), stored)
	}
}

// pingppCharge is a charge.succeeded event for orderNo, signed with the
// sandbox's key (which the server trusts), naming charge chargeID.
func pingppCharge(e *escrowEnv, chargeID, orderNo string, fen int64) ([]byte, string) {
	body := fmt.Sprintf(`{"id":"evt_%s","object":"event","type":"charge.succeeded","created":1,"data":{"object":`+
		`{"id":"%s","object":"charge","paid":true,"app":"%s","channel":"alipay","order_no":"%s","amount":%d,"currency":"cny"}}}`,
		chargeID, chargeID, e.srv.PingppSandbox.AppID, orderNo, fen)
	return []byte(body), sandboxpingpp.Sign([]byte(body))
}

// TestPingppWebhookMovesOnlyItsCharge: a signed charge.succeeded moves a
// deal only by the charge Ping++ opened for it; a wallet deal, or another
// charge id, is refused and nothing moves.
func TestPingppWebhookMovesOnlyItsCharge(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "100.00")
	o, ch := e.initDeal(t, e.buyer, "12.34", "ALIPAY", nil)
	w, _ := e.initDeal(t, e.buyer, "12.34", "WALLET", nil)
	for name, c := range map[string]struct{ charge, orderNo string }{
		"another charge": {"ch_forged000000000000000", o.OrderNo},
		"a wallet deal":  {"ch_forged000000000000001", w.OrderNo},
	} {
		body, sig := pingppCharge(e, c.charge, c.orderNo, 1234)
		if _, reply := e.webhook(t, body, sig); reply == "success" {
			t.Fatalf("%s: answered success", name)
		}
	}
	if got := e.order(t, e.buyer, o.ID); got.Status != "PROCESSING" {
		t.Fatalf("charged deal: %s", got.Status)
	}
	if got := e.order(t, e.buyer, w.ID); got.Status != "PENDING" {
		t.Fatalf("wallet deal: %s", got.Status)
	}
	wantCash(t, e.seller, "0.00", "0.00", "0.00")
	// Its own charge pays it.
	body, sig := pingppCharge(e, ch.ID, o.OrderNo, 1234)
	if _, reply := e.webhook(t, body, sig); reply != "success" {
		t.Fatalf("genuine: %q", reply)
	}
	wantCash(t, e.seller, "0.00", "0.00", "12.34")
	e.srv.AssertLedger(t)
}

// TestGameCallbackAmountIsExact: rmb_yuan is read as written.
func TestGameCallbackAmountIsExact(t *testing.T) {
	g := newGame(t, gameEnv(t))
	o := g.sword(t)
	for _, amt := range []string{"0128.00", "128.000", "-128.00"} {
		if r := g.postJSON(t, g.signed(notice(o.OrderNo, "GY-"+amt, amt, time.Now()))); r.Result != "fail" {
			t.Fatalf("rmb_yuan %s: %+v", amt, r)
		}
	}
	f := g.signed(notice(o.OrderNo, "GY-upper", "128.00", time.Now()))
	f["sign"] = strings.ToUpper(f["sign"])
	if r := g.postJSON(t, f); r.Result != "fail" {
		t.Fatalf("upper-case sign: %+v", r)
	}
	if s := g.state(t, o.OrderNo); s.Status != "PENDING" {
		t.Fatalf("status %s", s.Status)
	}
}
