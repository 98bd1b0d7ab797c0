package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// refundState is what a partial refund changes on an order.
type refundState struct {
	ID, Status            string
	RefundedAmount        string
	RefundRequestedAmount *string
	PayInfo               []struct{ PaidAmount, RefundedAmount string }
	Events                []struct {
		From   *string
		To     string
		Reason *string
	}
}

const refundFields = `id status refundedAmount refundRequestedAmount payInfo{paidAmount refundedAmount} events{from to reason}`

// twoLineOrder is a paid token payment of 3.00 + 7.00 CNY.
func twoLineOrder(t *testing.T, m *money) string {
	t.Helper()
	var out struct{ CreatePaymentOrder struct{ ID string } }
	m.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`,
		map[string]any{"in": map[string]any{
			"payerUserId": m.payerID, "payeeUserId": m.payeeID,
			"payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "3.00"}, map[string]any{"tokenId": "CNY", "amount": "7.00"}},
		}}).Decode(t, &out)
	if r, _ := pay(m.payer, out.CreatePaymentOrder.ID); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	return out.CreatePaymentOrder.ID
}

func refundOf(t *testing.T, c *testutil.Client, id string) refundState {
	t.Helper()
	var out struct{ Order refundState }
	c.Do(t, `query($id:ID!){order(id:$id){`+refundFields+`}}`, map[string]any{"id": id}).Decode(t, &out)
	return out.Order
}

func approvePart(c *testutil.Client, id string, amount any) (*testutil.Response, error) {
	return c.Post(`mutation($id:ID!,$a:Decimal){approveRefund(orderId:$id,amount:$a){`+refundFields+`}}`,
		map[string]any{"id": id, "a": amount})
}

func lines(o refundState) string {
	s := ""
	for _, l := range o.PayInfo {
		s += l.RefundedAmount + "/" + l.PaidAmount + " "
	}
	return s
}

// A token payment is given back in parts, to the cent: each part moves
// exactly its amount from the payee to the payer, grows refundedAmount
// on the order and (first line first) on its lines, keeps the order PAID
// and is a step of its history; the part that reaches the whole makes it
// REFUNDED. The ledger balances after each.
func TestPartialTokenRefundsToTheCent(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	id := twoLineOrder(t, m)

	steps := []struct {
		amount, refunded, lines, status, payer, payee string
	}{
		{"0.01", "0.01", "0.01/3.00 0.00/7.00 ", "PAID", "0.01", "9.99"},
		{"2.99", "3.00", "3.00/3.00 0.00/7.00 ", "PAID", "3.00", "7.00"},
		{"3.5", "6.50", "3.00/3.00 3.50/7.00 ", "PAID", "6.50", "3.50"},
		{"3.49", "9.99", "3.00/3.00 6.99/7.00 ", "PAID", "9.99", "0.01"},
		{"0.010", "10.00", "3.00/3.00 7.00/7.00 ", "REFUNDED", "10.00", "0.00"},
	}
	for _, s := range steps {
		r, err := approvePart(m.payee, id, s.amount)
		if err != nil || len(r.Errors) > 0 {
			t.Fatalf("refunding %s: %v %+v", s.amount, err, r.Errors)
		}
		var out struct{ ApproveRefund refundState }
		r.Decode(t, &out)
		o := out.ApproveRefund
		if o.Status != s.status || o.RefundedAmount != s.refunded || lines(o) != s.lines {
			t.Fatalf("after refunding %s: %s, %s refunded, lines %s", s.amount, o.Status, o.RefundedAmount, lines(o))
		}
		if a, _ := balance(t, m.payer, "CNY"); a != s.payer {
			t.Errorf("after refunding %s the payer has %s, want %s", s.amount, a, s.payer)
		}
		if a, w := balance(t, m.payee, "CNY"); a != s.payee || w != s.payee {
			t.Errorf("after refunding %s the payee has %s (%s withdrawable), want %s", s.amount, a, w, s.payee)
		}
		m.srv.AssertLedger(t)
	}
	o := refundOf(t, m.payer, id)
	var partial int
	for _, e := range o.Events {
		if e.From != nil && *e.From == "PAID" && e.To == "PAID" && e.Reason != nil {
			partial++
		}
	}
	if partial != 4 || o.Events[len(o.Events)-1].To != "REFUNDED" {
		t.Errorf("history: %+v", o.Events)
	}
	if r, _ := approvePart(m.payee, id, "0.01"); r.Code() != "INVALID_TRANSITION" {
		t.Errorf("refunding a refunded order: %+v", r.Errors)
	}
	m.srv.AssertLedger(t)
}

// Amounts a refund cannot have, and states that cannot be refunded, are
// refused and change nothing.
func TestBadPartialRefundsChangeNothing(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	id := twoLineOrder(t, m)
	if r, _ := approvePart(m.payee, id, "4.00"); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	for _, a := range []any{"0", "0.00", "-1.00", "0.001", "6.01", "1e3", "abc"} {
		if r, _ := approvePart(m.payee, id, a); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("approving %v: %+v", a, r.Errors)
		}
		if r, _ := m.payer.Post(`mutation($id:ID!,$a:Decimal){requestRefund(orderId:$id,reason:"r",amount:$a){id}}`,
			map[string]any{"id": id, "a": a}); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("asking for %v: %+v", a, r.Errors)
		}
	}
	if o := refundOf(t, m.payer, id); o.Status != "PAID" || o.RefundedAmount != "4.00" || o.RefundRequestedAmount != nil {
		t.Fatalf("after bad amounts: %+v", o)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "4.00" {
		t.Errorf("payer has %s", a)
	}
	// The payer asks for all that is left: it is approved whole or rejected.
	m.payer.Do(t, `mutation($id:ID!){requestRefund(orderId:$id,reason:"broken"){id}}`, map[string]any{"id": id})
	if r, _ := approvePart(m.payee, id, "1.00"); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("part of a whole request: %+v", r.Errors)
	}
	// An unpaid order cannot be refunded at all.
	other := m.order(t, "CNY", "1.00")
	if r, _ := approvePart(m.payee, other, "0.50"); r.Code() != "INVALID_TRANSITION" {
		t.Errorf("refunding an unpaid order: %+v", r.Errors)
	}
	if r, _ := approvePart(m.payee, id, nil); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	if o := refundOf(t, m.payer, id); o.Status != "REFUNDED" || o.RefundedAmount != "10.00" || lines(o) != "3.00/3.00 7.00/7.00 " {
		t.Fatalf("refunded: %+v", o)
	}
	m.srv.AssertLedger(t)
}

// The payer asks for part of a payment back; the order keeps its status
// while the request waits, one at a time; the payee approves it (its
// amount by default, at most that) or rejects it, and the order stays
// PAID either way until its whole is refunded.
func TestPartialRefundRequest(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	id := twoLineOrder(t, m)
	ask := func(c *testutil.Client, amount string) *testutil.Response {
		r, err := c.Post(`mutation($id:ID!,$a:Decimal){requestRefund(orderId:$id,reason:"one is broken",amount:$a){`+refundFields+` refundReason}}`,
			map[string]any{"id": id, "a": amount})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask(m.payee, "2.00"); r.Code() != "FORBIDDEN" {
		t.Errorf("the payee asks: %+v", r.Errors)
	}
	var out struct{ RequestRefund refundState }
	ask(m.payer, "2.00").Decode(t, &out)
	if o := out.RequestRefund; o.Status != "PAID" || o.RefundRequestedAmount == nil || *o.RefundRequestedAmount != "2.00" || o.RefundedAmount != "0.00" {
		t.Fatalf("asked: %+v", o)
	}
	if r := ask(m.payer, "1.00"); r.Code() != "INVALID_TRANSITION" {
		t.Errorf("a second request while one waits: %+v", r.Errors)
	}
	for name, c := range map[string]*testutil.Client{"the payer": m.payer, "the app": m.svc} {
		if r, _ := approvePart(c, id, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("%s approves: %+v", name, r.Errors)
		}
	}
	if r, _ := approvePart(m.payee, id, "2.01"); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("approving more than asked: %+v", r.Errors)
	}
	r, _ := approvePart(m.payee, id, nil)
	var ap struct{ ApproveRefund refundState }
	r.Decode(t, &ap)
	if o := ap.ApproveRefund; o.Status != "PAID" || o.RefundedAmount != "2.00" || o.RefundRequestedAmount != nil {
		t.Fatalf("approved: %+v", o)
	}
	m.srv.AssertLedger(t)

	// A second request, rejected: nothing moves, the order stays PAID.
	ask(m.payer, "5.00")
	var rej struct{ RejectRefund refundState }
	m.payee.Do(t, `mutation($id:ID!){rejectRefund(orderId:$id,reason:"not broken"){`+refundFields+`}}`, map[string]any{"id": id}).Decode(t, &rej)
	if o := rej.RejectRefund; o.Status != "PAID" || o.RefundedAmount != "2.00" || o.RefundRequestedAmount != nil {
		t.Fatalf("rejected: %+v", o)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "2.00" {
		t.Errorf("payer has %s", a)
	}
	// Asking for all that is left is today's request: REFUND_REQUESTED.
	ask(m.payer, "8.00").Decode(t, &out)
	if o := out.RequestRefund; o.Status != "REFUND_REQUESTED" {
		t.Fatalf("asked for the rest: %+v", o)
	}
	r, _ = approvePart(m.payee, id, nil)
	r.Decode(t, &ap)
	if o := ap.ApproveRefund; o.Status != "REFUNDED" || o.RefundedAmount != "10.00" {
		t.Fatalf("refunded: %+v", o)
	}
	m.srv.AssertLedger(t)
}

// Parallel partial refunds of one order never give back more than was
// paid: of twenty refunds of 1.00 of a 10.00 order, ten succeed.
func TestConcurrentPartialRefunds(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	id := twoLineOrder(t, m)
	codes := concurrently(t, 20, func(int) (*testutil.Response, error) { return approvePart(m.payee, id, "1.00") })
	if codes[""] != 10 || codes[""]+codes["BAD_USER_INPUT"]+codes["INVALID_TRANSITION"] != 20 {
		t.Fatalf("outcomes: %v", codes)
	}
	o := refundOf(t, m.payer, id)
	if o.Status != "REFUNDED" || o.RefundedAmount != "10.00" || lines(o) != "3.00/3.00 7.00/7.00 " {
		t.Fatalf("after the race: %+v", o)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "10.00" {
		t.Errorf("payer has %s", a)
	}
	if a, _ := balance(t, m.payee, "CNY"); a != "0.00" {
		t.Errorf("payee has %s", a)
	}
	m.srv.AssertLedger(t)
}

// approveRefund under an idempotency key refunds once: a retry replays
// the first result; the same key with another amount is a conflict.
func TestPartialRefundIdempotency(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	id := twoLineOrder(t, m)
	keyed := func(amount string) *testutil.Response {
		r, err := m.payee.Post(`mutation($id:ID!,$a:Decimal){approveRefund(orderId:$id,amount:$a,idempotencyKey:"rf-1"){id refundedAmount}}`,
			map[string]any{"id": id, "a": amount})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := 0; i < 3; i++ {
		var out struct {
			ApproveRefund struct{ RefundedAmount string }
		}
		keyed("1.50").Decode(t, &out)
		if out.ApproveRefund.RefundedAmount != "1.50" {
			t.Fatalf("try %d: %+v", i, out)
		}
	}
	if r := keyed("2.00"); r.Code() != "IDEMPOTENCY_CONFLICT" {
		t.Errorf("same key, other amount: %+v", r.Errors)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "1.50" {
		t.Errorf("payer has %s", a)
	}
	m.srv.AssertLedger(t)
}

// An app store order paid from the wallet and delivered (COMPLETED) is
// refunded in parts its payer asked for; the part that reaches the whole
// takes it through REFUND_REQUESTED to REFUNDED, as the status machine
// allows.
func TestPartialRefundsOfADeliveredOrder(t *testing.T) {
	w := newEpayWorld(t, "RSA", nil, server.Options{})
	w.goods(t, "vip", "30.00")
	rc := w.initOrder(t, w.buyer, map[string]any{"title": "充值", "type": "RECHARGE", "money": "50.00", "payWayName": "alipay"})
	w.payCharge(t, *rc.PayParams)
	c := w.initOrder(t, w.buyer, map[string]any{"title": "会员", "type": "CONSUME", "payWayName": "wallet", "goods": []map[string]any{{"goodsId": "vip", "num": 1}}})
	w.mutateOrder(t, w.buyer, `mutation($sn:String!){payOrder(orderSn:$sn){id}}`, map[string]any{"sn": *c.PayOrderSn})
	w.mutateOrder(t, w.admin, `mutation($id:ID!){markDelivered(orderId:$id){id}}`, map[string]any{"id": c.Order.ID})
	// Nobody asked: a delivered order is not refunded unasked.
	if r, _ := approvePart(w.admin, c.Order.ID, "1.00"); r.Code() != "INVALID_TRANSITION" {
		t.Fatalf("unasked refund of a delivered order: %+v", r.Errors)
	}
	for i, part := range []string{"10.00", "19.99", "0.01"} {
		w.buyer.Do(t, `mutation($id:ID!,$a:Decimal){requestRefund(orderId:$id,reason:"part",amount:$a){id}}`,
			map[string]any{"id": c.Order.ID, "a": part})
		r, _ := approvePart(w.admin, c.Order.ID, nil)
		if len(r.Errors) > 0 {
			t.Fatalf("approving %s: %+v", part, r.Errors)
		}
		var out struct{ ApproveRefund refundState }
		r.Decode(t, &out)
		want := []string{"COMPLETED", "COMPLETED", "REFUNDED"}[i]
		if o := out.ApproveRefund; o.Status != want {
			t.Fatalf("after %s: %+v", part, o)
		}
		w.srv.AssertLedger(t)
	}
	o := refundOf(t, w.buyer, c.Order.ID)
	n := len(o.Events)
	if o.RefundedAmount != "30.00" || n < 2 || o.Events[n-2].To != "REFUND_REQUESTED" || o.Events[n-1].To != "REFUNDED" {
		t.Fatalf("refunded: %+v", o)
	}
	if a, _ := wallet(t, w.buyer, "CNY"); a != "50.00" {
		t.Errorf("wallet %s", a)
	}
	w.srv.AssertLedger(t)
}

// A recharge paid at a V2 epay gateway is refunded in parts through the
// gateway, each with its own refund number: the payer's wallet gives back
// exactly each part, the order stays PAID until the last part, and the
// gateway's trade ends refunded whole.
func TestPartialRefundsThroughEpayV2(t *testing.T) {
	w := newEpayWorld(t, "RSA", nil, server.Options{})
	rc := w.initOrder(t, w.buyer, map[string]any{"title": "充值", "type": "RECHARGE", "money": "50.00", "payWayName": "alipay"})
	w.payCharge(t, *rc.PayParams)
	id := rc.Order.ID
	w.buyer.Do(t, `mutation($id:ID!){requestRefund(orderId:$id,reason:"too much",amount:"10.00"){id}}`, map[string]any{"id": id})
	steps := []struct{ amount, refunded, status, wallet string }{
		{"", "10.00", "PAID", "40.00"}, // the request's amount
		{"0.01", "10.01", "PAID", "39.99"},
		{"39.99", "50.00", "REFUNDED", "0.00"},
	}
	for _, s := range steps {
		var a any
		if s.amount != "" {
			a = s.amount
		}
		r, _ := approvePart(w.admin, id, a)
		if len(r.Errors) > 0 {
			t.Fatalf("refunding %q: %+v", s.amount, r.Errors)
		}
		var out struct{ ApproveRefund refundState }
		r.Decode(t, &out)
		if o := out.ApproveRefund; o.Status != s.status || o.RefundedAmount != s.refunded {
			t.Fatalf("after %q: %+v", s.amount, o)
		}
		if av, e := wallet(t, w.buyer, "CNY"); av != s.wallet || e != "0.00" {
			t.Fatalf("after %q the wallet has %s (%s held)", s.amount, av, e)
		}
		w.srv.AssertLedger(t)
	}
	if s := w.order(t, w.buyer, rc.Order.OrderNo, true); s.ProviderInfo == nil || s.ProviderInfo.Status != 2 {
		t.Fatalf("gateway %+v", s.ProviderInfo)
	}
}

// A V1 (MD5) epay gateway has no partial refunds, and points orders give
// back the points bought whole: a part is refused with a clear error and
// changes nothing; the whole still works.
func TestGatewayPartialRefundsRefused(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	rc := w.initOrder(t, w.buyer, map[string]any{"title": "充值", "type": "RECHARGE", "money": "50.00", "payWayName": "alipay"})
	w.payCharge(t, *rc.PayParams)
	r, _ := approvePart(w.admin, rc.Order.ID, "10.00")
	if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "V1") {
		t.Fatalf("a part through V1: %+v", r.Errors)
	}
	if av, e := wallet(t, w.buyer, "CNY"); av != "50.00" || e != "0.00" {
		t.Fatalf("wallet %s/%s", av, e)
	}
	if r, _ := approvePart(w.admin, rc.Order.ID, nil); len(r.Errors) > 0 {
		t.Fatalf("the whole through V1: %+v", r.Errors)
	}

	v2 := newEpayWorld(t, "RSA", nil, server.Options{})
	o := v2.createPoints(t, v2.buyer, "10.00", 100, "alipay")
	u := v2.getPayURL(t, v2.buyer, map[string]any{"orderNo": o.OrderNo})
	v2.sandboxPay(t, u.TradeNo, "success")
	if r, _ := approvePart(v2.admin, o.ID, "5.00"); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "whole only") {
		t.Fatalf("a part of a points order: %+v", r.Errors)
	}
	if av, _ := wallet(t, v2.buyer, "POINTS"); av != "100" {
		t.Fatalf("points %s", av)
	}
	w.srv.AssertLedger(t)
	v2.srv.AssertLedger(t)
}

// Each partial refund is an event of the order (the outbox webhooks and
// subscriptions read): an order.paid step numbered after the payment, its
// data showing the order's and the lines' refundedAmount as the refund
// left them.
func TestPartialRefundIsAnEvent(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	id := twoLineOrder(t, m)
	for _, a := range []string{"1.25", "2.00"} {
		if r, _ := approvePart(m.payee, id, a); len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
	}
	var out struct {
		Events struct {
			Edges []struct {
				Node struct {
					Type string
					Seq  int
					Data string
				}
			}
		}
	}
	m.svc.Do(t, `query($o:ID!){events(where:{orderId:$o}){edges{node{type seq data}}}}`, map[string]any{"o": id}).Decode(t, &out)
	var got []string
	last := ""
	for _, e := range out.Events.Edges {
		if strings.HasPrefix(e.Node.Type, "order.") {
			got = append(got, fmt.Sprintf("%d %s", e.Node.Seq, e.Node.Type))
			last = e.Node.Data
		}
	}
	if strings.Join(got, ",") != "1 order.pending,2 order.paid,3 order.paid,4 order.paid" {
		t.Fatalf("events: %v", got)
	}
	if !strings.Contains(last, `"refundedAmount":"3.00"`) || !strings.Contains(last, `"refundedAmount":"0.25"`) {
		t.Errorf("last event's data: %s", last)
	}
	if !strings.Contains(last, `"amount":"10.00","refundedAmount":"3.25"`) {
		t.Errorf("last event's data does not say the order's refundedAmount: %s", last)
	}
	m.srv.AssertLedger(t)
}
