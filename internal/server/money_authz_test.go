package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// authzWorld is a server with an admin, the SERVICE of app 1 (the app store's
// default app, which also holds the escrow marketplace's deals) and the
// SERVICE of a second app, "stranger game", that nobody below ever used.
type authzWorld struct {
	srv          *testutil.Server
	c, admin     *testutil.Client
	app1Svc      *testutil.Client
	foreignSvc   *testutil.Client
	foreignAppID string
	n            int
}

func newAuthzWorld(t *testing.T) *authzWorld {
	t.Helper()
	srv := testutil.StartWith(t, testutil.Base(t), server.Options{NoScheduler: true})
	c := srv.Client()
	w := &authzWorld{srv: srv, c: c, admin: c.As(c.AdminToken(t))}
	var app1 struct{ RotateServiceToken struct{ ServiceToken string } }
	w.admin.Do(t, `mutation{rotateServiceToken(appId:"1"){serviceToken}}`, nil).Decode(t, &app1)
	w.app1Svc = c.As(app1.RotateServiceToken.ServiceToken)
	var foreign struct {
		CreateApp struct {
			App          struct{ ID string }
			ServiceToken string
		}
	}
	w.admin.Do(t, `mutation{createApp(name:"stranger game"){app{id} serviceToken}}`, nil).Decode(t, &foreign)
	w.foreignAppID, w.foreignSvc = foreign.CreateApp.App.ID, c.As(foreign.CreateApp.ServiceToken)
	return w
}

// user registers a user with a fresh name.
func (w *authzWorld) user(t *testing.T, role string) (string, *testutil.Client) {
	t.Helper()
	w.n++
	id, tok := w.c.NewUser(t, fmt.Sprintf("%s%d", role, w.n))
	return id, w.c.As(tok)
}

func (w *authzWorld) credit(t *testing.T, userID, asset, amount string, withdrawable bool) {
	t.Helper()
	w.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`, map[string]any{"in": map[string]any{
		"userId": userID, "asset": asset, "amount": amount, "withdrawable": withdrawable}}).Decode(t, &struct{}{})
}

// snapshot is what the users and the order look like to an admin: every
// balance of every watched user, the order's status, times and history.
func (w *authzWorld) snapshot(t *testing.T, orderID string, users ...string) string {
	t.Helper()
	var b strings.Builder
	if orderID != "" {
		r := w.admin.Do(t, `query($id:ID!){order(id:$id){status paidAt completedAt providerTradeNo refundReason
			events{from to actor reason}}}`, map[string]any{"id": orderID})
		if len(r.Errors) > 0 {
			t.Fatalf("reading order %s: %+v", orderID, r.Errors)
		}
		b.Write(r.Data)
	}
	for _, u := range users {
		r := w.admin.Do(t, `query($u:ID){wallets(userId:$u){asset available escrow withdrawable}}`, map[string]any{"u": u})
		if len(r.Errors) > 0 {
			t.Fatalf("reading wallets of %s: %+v", u, r.Errors)
		}
		b.WriteString("\n" + u + " ")
		b.Write(r.Data)
	}
	return b.String()
}

// attempt is one money-moving mutation tried against a victim.
type attempt struct {
	query string
	vars  map[string]any
	// order is the order the mutation would change; users are everyone
	// whose balances it would move.
	order string
	users []string
	// attackers are callers that must be refused (besides both SERVICEs,
	// or besides app 1's alone when ownApp: the order's app decides).
	attackers map[string]*testutil.Client
	ownApp    bool
	// rightful is who may do it; want is the order's status afterwards.
	rightful *testutil.Client
	want     string
}

// refuseThenAllow tries a as both SERVICEs and every attacker, each
// FORBIDDEN with nothing changed, then as the rightful caller, which works.
func (w *authzWorld) refuseThenAllow(t *testing.T, a attempt) {
	t.Helper()
	before := w.snapshot(t, a.order, a.users...)
	attackers := map[string]*testutil.Client{"app 1's SERVICE": w.app1Svc, "another app's SERVICE": w.foreignSvc}
	if a.ownApp {
		delete(attackers, "another app's SERVICE")
	}
	for k, v := range a.attackers {
		attackers[k] = v
	}
	for who, c := range attackers {
		r := c.Do(t, a.query, a.vars)
		if r.Code() != "FORBIDDEN" {
			t.Fatalf("as %s: want FORBIDDEN, got %+v (data %s)", who, r.Errors, r.Data)
		}
		if after := w.snapshot(t, a.order, a.users...); after != before {
			t.Fatalf("as %s: refused but changed\n%s\nto\n%s", who, before, after)
		}
	}
	w.srv.AssertLedger(t)
	r := a.rightful.Do(t, a.query, a.vars)
	if len(r.Errors) > 0 {
		t.Fatalf("rightful caller refused: %+v", r.Errors)
	}
	if a.order != "" {
		var out struct{ Order struct{ Status string } }
		w.admin.Do(t, `query($id:ID!){order(id:$id){status}}`, map[string]any{"id": a.order}).Decode(t, &out)
		if out.Order.Status != a.want {
			t.Fatalf("after the rightful call the order is %s, want %s", out.Order.Status, a.want)
		}
	}
	if w.snapshot(t, a.order, a.users...) == before {
		t.Fatal("the rightful call changed nothing")
	}
	w.srv.AssertLedger(t)
}

func firstField(t *testing.T, r *testutil.Response) map[string]any {
	t.Helper()
	var out map[string]map[string]any
	r.Decode(t, &out)
	for _, v := range out {
		return v
	}
	t.Fatal("empty answer")
	return nil
}

const consumeInit = `mutation($in:InitOrderInput!){initOrder(input:$in){order{id orderNo status}}}`

// walletConsume creates a CONSUME order paid by the wallet pay way, as c.
func (w *authzWorld) walletConsume(t *testing.T, c *testutil.Client, in map[string]any) (id, orderNo string) {
	t.Helper()
	base := map[string]any{"title": "gems", "type": "CONSUME", "payWayName": "wallet"}
	for k, v := range in {
		base[k] = v
	}
	o := firstField(t, c.Do(t, consumeInit, map[string]any{"in": base}))["order"].(map[string]any)
	return o["id"].(string), o["orderNo"].(string)
}

// TestServiceCannotSpendAStrangersWallet is the attack as reported: the
// SERVICE of an app the victim never used orders goods from its own
// catalogue for the victim with the wallet pay way and settles the order
// with payOrder. Creating the order is allowed (a SERVICE creates orders for
// users); settling it is not: 1000.00 stays with the victim.
func TestServiceCannotSpendAStrangersWallet(t *testing.T) {
	w := newAuthzWorld(t)
	victim, victimC := w.user(t, "victim")
	_, other := w.user(t, "other")
	w.credit(t, victim, "CNY", "1000.00", false)
	w.admin.Do(t, `mutation($in:UpsertGoodsInput!){upsertGoods(input:$in){id}}`, map[string]any{"in": map[string]any{
		"id": "gem", "appId": w.foreignAppID, "item": "gem", "singlePrice": "1000.00"}}).Decode(t, &struct{}{})

	id, no := w.walletConsume(t, w.foreignSvc, map[string]any{"userId": victim, "goods": []any{map[string]any{"goodsId": "gem", "num": 1}}})
	pay := `mutation($sn:String!){payOrder(orderSn:$sn){id status}}`
	w.refuseThenAllow(t, attempt{
		query: pay, vars: map[string]any{"sn": no}, order: id, users: []string{victim},
		attackers: map[string]*testutil.Client{"another user": other},
		rightful:  victimC, want: "PAID",
	})
	if a, _ := wallet(t, victimC, "CNY"); a != "0.00" {
		t.Fatalf("victim has %s after paying", a)
	}
}

// TestPayOrderIsTheBuyersOrAnAdmins covers payOrder on the buyer's own order
// in app 1 (its own SERVICE is refused too) and an ADMIN paying for the
// buyer, which works and is recorded as the admin's act.
func TestPayOrderIsTheBuyersOrAnAdmins(t *testing.T) {
	w := newAuthzWorld(t)
	buyer, buyerC := w.user(t, "buyer")
	_, other := w.user(t, "other")
	w.credit(t, buyer, "CNY", "20.00", false)
	w.admin.Do(t, `mutation($in:UpsertGoodsInput!){upsertGoods(input:$in){id}}`, map[string]any{"in": map[string]any{
		"id": "vip", "item": "vip", "singlePrice": "5.00"}}).Decode(t, &struct{}{})
	goods := []any{map[string]any{"goodsId": "vip", "num": 1}}
	pay := `mutation($sn:String!){payOrder(orderSn:$sn){id status}}`

	id, no := w.walletConsume(t, buyerC, map[string]any{"goods": goods})
	w.refuseThenAllow(t, attempt{
		query: pay, vars: map[string]any{"sn": no}, order: id, users: []string{buyer},
		attackers: map[string]*testutil.Client{"another user": other},
		rightful:  buyerC, want: "PAID",
	})

	// An ADMIN may settle it for the buyer; the history names the admin.
	id, no = w.walletConsume(t, w.app1Svc, map[string]any{"userId": buyer, "goods": goods})
	if r := w.app1Svc.Do(t, pay, map[string]any{"sn": no}); r.Code() != "FORBIDDEN" {
		t.Fatalf("the SERVICE that created the order pays it: %+v", r.Errors)
	}
	var me struct{ Me struct{ ID string } }
	w.admin.Do(t, `{me{id}}`, nil).Decode(t, &me)
	w.admin.Do(t, pay, map[string]any{"sn": no}).Decode(t, &struct{}{})
	var out struct {
		Order struct {
			Status string
			Events []struct{ To, Actor string }
		}
	}
	w.admin.Do(t, `query($id:ID!){order(id:$id){status events{to actor}}}`, map[string]any{"id": id}).Decode(t, &out)
	if ev := out.Order.Events; out.Order.Status != "PAID" || len(ev) != 2 || ev[0].Actor != "service:1" ||
		ev[1].To != "PAID" || ev[1].Actor != "admin:"+me.Me.ID {
		t.Fatalf("order paid by the admin: %+v", out.Order)
	}
	if a, _ := wallet(t, buyerC, "CNY"); a != "10.00" {
		t.Fatalf("buyer has %s", a)
	}
	w.srv.AssertLedger(t)
}

// TestTokenCheckoutPayIsThePayersOnly: pay and quickPay move money only on
// the payer's own token; the SERVICE that created the order, another app's,
// another user, the payee and an ADMIN (who has not the payer's second
// factor) are refused.
func TestTokenCheckoutPayIsThePayersOnly(t *testing.T) {
	w := newAuthzWorld(t)
	payer, payerC := w.user(t, "payer")
	payee, payeeC := w.user(t, "payee")
	_, other := w.user(t, "other")
	w.credit(t, payer, "CNY", "10.00", false)
	for _, m := range []string{
		`mutation($id:ID!){pay(input:{orderId:$id}){id status}}`,
		`mutation($id:ID!){quickPay(input:{orderId:$id}){processIsEnd order{id status}}}`,
	} {
		var created struct{ CreatePaymentOrder struct{ ID string } }
		w.foreignSvc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": map[string]any{
			"payerUserId": payer, "payeeUserId": payee, "payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "4.00"}},
		}}).Decode(t, &created)
		w.refuseThenAllow(t, attempt{
			query: m, vars: map[string]any{"id": created.CreatePaymentOrder.ID}, order: created.CreatePaymentOrder.ID,
			users:     []string{payer, payee},
			attackers: map[string]*testutil.Client{"another user": other, "the payee": payeeC, "an admin": w.admin},
			rightful:  payerC, want: "PAID",
		})
	}
	if a, _ := wallet(t, payerC, "CNY"); a != "2.00" {
		t.Fatalf("payer has %s", a)
	}
}

// escrowDeal makes a WALLET deal of buyer with seller, paid when pay is set.
func (w *authzWorld) escrowDeal(t *testing.T, buyerC *testutil.Client, seller, amount string, pay bool) string {
	t.Helper()
	o := firstField(t, buyerC.Do(t, `mutation($in:InitDealOrderInput!){initDealOrder(input:$in){order{id}}}`, map[string]any{"in": map[string]any{
		"subject": "a lesson", "amount": amount, "receiverId": seller, "channel": "WALLET"}}))["order"].(map[string]any)
	id := o["id"].(string)
	if pay {
		buyerC.Do(t, `mutation($id:ID!){payByWallet(orderId:$id,payPassword:"123456"){id}}`, map[string]any{"id": id}).Decode(t, &struct{}{})
	}
	return id
}

// TestEscrowMoneyMovesOnlyForItsOwner covers the escrow marketplace: paying a
// deal from the wallet, releasing the escrow (confirmOrder), the seller
// giving earnings back (approveRefund after confirmation), releasing the
// escrow by rejecting a refund, and withdrawals.
func TestEscrowMoneyMovesOnlyForItsOwner(t *testing.T) {
	w := newAuthzWorld(t)
	buyer, buyerC := w.user(t, "buyer")
	seller, sellerC := w.user(t, "seller")
	_, other := w.user(t, "other")
	for _, c := range []*testutil.Client{buyerC, sellerC, other} {
		setPayPassword(t, c, "123456")
	}
	w.credit(t, buyer, "CNY", "100.00", false)
	users := []string{buyer, seller}

	t.Run("payByWallet", func(t *testing.T) {
		id := w.escrowDeal(t, buyerC, seller, "10.00", false)
		w.refuseThenAllow(t, attempt{
			query: `mutation($id:ID!){payByWallet(orderId:$id,payPassword:"123456"){id status}}`,
			vars:  map[string]any{"id": id}, order: id, users: users,
			attackers: map[string]*testutil.Client{"another user knowing the password": other, "the seller": sellerC},
			rightful:  buyerC, want: "PAID",
		})
	})
	t.Run("confirmOrder", func(t *testing.T) {
		id := w.escrowDeal(t, buyerC, seller, "10.00", true)
		w.refuseThenAllow(t, attempt{
			query: `mutation($id:ID!){confirmOrder(orderId:$id){id status}}`,
			vars:  map[string]any{"id": id}, order: id, users: users,
			attackers: map[string]*testutil.Client{"another user": other, "the seller": sellerC},
			rightful:  buyerC, want: "COMPLETED",
		})
	})
	t.Run("confirmOrder by an admin for the buyer", func(t *testing.T) {
		id := w.escrowDeal(t, buyerC, seller, "1.00", true)
		var me struct{ Me struct{ ID string } }
		w.admin.Do(t, `{me{id}}`, nil).Decode(t, &me)
		w.admin.Do(t, `mutation($id:ID!){confirmOrder(orderId:$id){id}}`, map[string]any{"id": id}).Decode(t, &struct{}{})
		var out struct {
			Order struct {
				Status string
				Events []struct{ To, Actor, Reason string }
			}
		}
		w.admin.Do(t, `query($id:ID!){order(id:$id){status events{to actor reason}}}`, map[string]any{"id": id}).Decode(t, &out)
		last := out.Order.Events[len(out.Order.Events)-1]
		if out.Order.Status != "COMPLETED" || last.To != "COMPLETED" || last.Actor != "admin:"+me.Me.ID ||
			last.Reason != "confirmed by an admin for the buyer" {
			t.Fatalf("confirmed by the admin: %+v", out.Order)
		}
		w.srv.AssertLedger(t)
	})
	t.Run("approveRefund from the seller's balance", func(t *testing.T) {
		id := w.escrowDeal(t, buyerC, seller, "10.00", true)
		buyerC.Do(t, `mutation($id:ID!){confirmOrder(orderId:$id){id}}`, map[string]any{"id": id}).Decode(t, &struct{}{})
		buyerC.Do(t, `mutation($id:ID!){applyRefund(orderId:$id,reason:"not given"){id}}`, map[string]any{"id": id}).Decode(t, &struct{}{})
		w.refuseThenAllow(t, attempt{
			query: `mutation($id:ID!){approveRefund(orderId:$id){id status}}`,
			vars:  map[string]any{"id": id}, order: id, users: users,
			attackers: map[string]*testutil.Client{"another user": other, "the buyer": buyerC},
			rightful:  sellerC, want: "REFUNDED",
		})
	})
	t.Run("rejectRefund releasing the escrow", func(t *testing.T) {
		id := w.escrowDeal(t, buyerC, seller, "10.00", true)
		buyerC.Do(t, `mutation($id:ID!){applyRefund(orderId:$id,reason:"not given"){id}}`, map[string]any{"id": id}).Decode(t, &struct{}{})
		w.refuseThenAllow(t, attempt{
			query: `mutation($id:ID!){rejectRefund(orderId:$id,reason:"it was given"){id status}}`,
			vars:  map[string]any{"id": id}, order: id, users: users,
			attackers: map[string]*testutil.Client{"another user": other, "the buyer": buyerC},
			rightful:  sellerC, want: "REFUND_REJECTED",
		})
	})
	t.Run("withdraw", func(t *testing.T) {
		w.credit(t, seller, "CNY", "5.00", true)
		w.refuseThenAllow(t, attempt{
			query: `mutation{withdraw(input:{amount:"5.00",payPassword:"123456",alipayNo:"seller@example.com",alipayName:"Seller"}){id status}}`,
			users: users, rightful: sellerC,
		})
	})
	t.Run("completeWithdrawal", func(t *testing.T) {
		w.credit(t, seller, "CNY", "3.00", true)
		o := firstField(t, sellerC.Do(t, `mutation{withdraw(input:{amount:"3.00",payPassword:"123456",alipayNo:"s@example.com",alipayName:"S"}){id}}`, nil))
		id := o["id"].(string)
		w.refuseThenAllow(t, attempt{
			query: `mutation($id:ID!){completeWithdrawal(orderId:$id){id status}}`,
			vars:  map[string]any{"id": id}, order: id, users: users,
			attackers: map[string]*testutil.Client{"another user": other, "the one withdrawing": sellerC},
			rightful:  w.admin, want: "COMPLETED",
		})
	})
}

// TestStoreRefundIsTheAppsDecision: giving a CONSUME order's money back
// moves the app's own sales to the buyer, who asked for it: the order's
// app (its SERVICE) or an ADMIN decides; another app, the buyer and other
// users cannot.
func TestStoreRefundIsTheAppsDecision(t *testing.T) {
	w := newAuthzWorld(t)
	buyer, buyerC := w.user(t, "buyer")
	_, other := w.user(t, "other")
	w.credit(t, buyer, "CNY", "8.00", false)
	w.admin.Do(t, `mutation($in:UpsertGoodsInput!){upsertGoods(input:$in){id}}`, map[string]any{"in": map[string]any{
		"id": "gem", "appId": w.foreignAppID, "item": "gem", "singlePrice": "8.00"}}).Decode(t, &struct{}{})
	id, no := w.walletConsume(t, w.foreignSvc, map[string]any{"userId": buyer, "goods": []any{map[string]any{"goodsId": "gem", "num": 1}}})
	buyerC.Do(t, `mutation($sn:String!){payOrder(orderSn:$sn){id}}`, map[string]any{"sn": no}).Decode(t, &struct{}{})
	buyerC.Do(t, `mutation($sn:String!){requestReturn(orderSn:$sn,reason:"broken"){id}}`, map[string]any{"sn": no}).Decode(t, &struct{}{})
	w.refuseThenAllow(t, attempt{
		query: `mutation($id:ID!){approveRefund(orderId:$id){id status}}`,
		vars:  map[string]any{"id": id}, order: id, users: []string{buyer},
		attackers: map[string]*testutil.Client{"another user": other, "the buyer": buyerC},
		ownApp:    true, rightful: w.foreignSvc, want: "REFUNDED",
	})
	if a, _ := wallet(t, buyerC, "CNY"); a != "8.00" {
		t.Fatalf("buyer has %s after the refund", a)
	}
}
