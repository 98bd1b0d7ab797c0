package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	sandboxpingpp "github.com/paygraph/paygraph/internal/sandbox/pingpp"
	"github.com/paygraph/paygraph/internal/testutil"
)

// askPart is the buyer's (or an admin's) request for a part of a deal.
func askPart(c *testutil.Client, id string, amount any) (*testutil.Response, error) {
	return c.Post(`mutation($id:ID!,$a:Decimal){requestRefund(orderId:$id,reason:"part of it",amount:$a){`+refundFields+`}}`,
		map[string]any{"id": id, "a": amount})
}

func mustAskPart(t *testing.T, c *testutil.Client, id, amount string) {
	t.Helper()
	r, err := askPart(c, id, amount)
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("asking for %s: %v %+v", amount, err, r.Errors)
	}
	var out struct{ RequestRefund refundState }
	r.Decode(t, &out)
	if o := out.RequestRefund; o.RefundRequestedAmount == nil || *o.RefundRequestedAmount != amount {
		t.Fatalf("after asking for %s: %+v", amount, o)
	}
}

func mustApprovePart(t *testing.T, c *testutil.Client, id string, amount any, status, refunded string) {
	t.Helper()
	r, err := approvePart(c, id, amount)
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("approving %v: %v %+v", amount, err, r.Errors)
	}
	var out struct{ ApproveRefund refundState }
	r.Decode(t, &out)
	if o := out.ApproveRefund; o.Status != status || o.RefundedAmount != refunded || o.RefundRequestedAmount != nil {
		t.Fatalf("after approving %v: %+v, want %s with %s refunded", amount, o, status, refunded)
	}
}

func wantRefunded(t *testing.T, e *escrowEnv, id, status, refunded string) {
	t.Helper()
	if o := refundOf(t, e.buyer, id); o.Status != status || o.RefundedAmount != refunded {
		t.Fatalf("deal is %s with %s refunded, want %s with %s", o.Status, o.RefundedAmount, status, refunded)
	}
}

// A wallet-paid deal refunded in two parts while in escrow, then
// confirmed: each part goes from the seller's escrow to the buyer, the
// rest stays in escrow, and the confirmation releases exactly the rest.
func TestPartialWalletDealRefundsThenConfirm(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "100.00")
	setPayPassword(t, e.buyer, "123456")
	d := e.paidDeal(t, "10.00", false)
	wantCash(t, e.buyer, "90.00", "0.00", "0.00")
	wantCash(t, e.seller, "0.00", "0.00", "10.00")

	mustAskPart(t, e.buyer, d.ID, "2.50")
	e.srv.AssertLedger(t)
	mustApprovePart(t, e.seller, d.ID, nil, "PAID", "2.50")
	wantCash(t, e.buyer, "92.50", "0.00", "0.00")
	wantCash(t, e.seller, "0.00", "0.00", "7.50")
	e.srv.AssertLedger(t)

	// An admin asks for the buyer; an admin approves less than asked.
	mustAskPart(t, e.admin, d.ID, "1.25")
	mustApprovePart(t, e.admin, d.ID, "1.01", "PAID", "3.51")
	wantCash(t, e.buyer, "93.51", "0.00", "0.00")
	wantCash(t, e.seller, "0.00", "0.00", "6.49")
	e.srv.AssertLedger(t)

	o := mustStatus(t, orderMutation(e.buyer, t, "confirmOrder", d.ID, "", nil), "confirmOrder", "COMPLETED")
	if o.CompletedAt == nil {
		t.Fatalf("confirmed: %+v", o)
	}
	wantRefunded(t, e, d.ID, "COMPLETED", "3.51")
	wantCash(t, e.buyer, "93.51", "0.00", "0.00")
	wantCash(t, e.seller, "6.49", "6.49", "0.00")
	e.srv.AssertLedger(t)

	// The parts are steps of the deal's history.
	var parts int
	for _, ev := range refundOf(t, e.buyer, d.ID).Events {
		if ev.From != nil && *ev.From == "PAID" && ev.To == "PAID" && ev.Reason != nil && strings.Contains(*ev.Reason, " refunded)") {
			parts++
		}
	}
	if parts != 2 {
		t.Fatalf("%d partial refund steps", parts)
	}

	// A deal refunded in parts whose request for the rest is rejected:
	// the seller is released the rest only.
	d2 := e.paidDeal(t, "5.00", false)
	mustAskPart(t, e.buyer, d2.ID, "1.00")
	mustApprovePart(t, e.seller, d2.ID, nil, "PAID", "1.00")
	mustStatus(t, applyRefund(t, e.buyer, d2.ID), "applyRefund", "REFUND_REQUESTED")
	mustStatus(t, orderMutation(e.seller, t, "rejectRefund", d2.ID, ",reason:$r", map[string]any{"r": "delivered"}), "rejectRefund", "REFUND_REJECTED")
	wantCash(t, e.seller, "10.49", "10.49", "0.00")
	wantCash(t, e.buyer, "89.51", "0.00", "0.00")
	e.srv.AssertLedger(t)

	// A deal refunded in parts to the whole: the last part is the buyer's
	// request for the rest, and the deal ends REFUNDED.
	d3 := e.paidDeal(t, "4.00", false)
	mustAskPart(t, e.buyer, d3.ID, "3.00")
	mustApprovePart(t, e.seller, d3.ID, nil, "PAID", "3.00")
	if r, _ := askPart(e.buyer, d3.ID, "1.00"); r.Code() != "" {
		t.Fatalf("asking for the rest: %+v", r.Errors)
	}
	wantRefunded(t, e, d3.ID, "REFUND_REQUESTED", "3.00")
	mustApprovePart(t, e.seller, d3.ID, nil, "REFUNDED", "4.00")
	wantCash(t, e.buyer, "89.51", "0.00", "0.00")
	wantCash(t, e.seller, "10.49", "10.49", "0.00")
	e.srv.AssertLedger(t)
}

// A deal paid through Ping++ is refunded in parts through Ping++ (each
// with its own refund number), waits for a waiting request before it is
// auto-confirmed, and then releases only the rest to the seller; a part
// after release comes from the seller's balance; the part that reaches
// the whole ends it REFUNDED, with the charge refunded whole.
func TestPartialPingppDealRefundsThenAutoConfirm(t *testing.T) {
	e := newEscrow(t, nil)
	o, ch := e.initDeal(t, e.buyer, "20.00", "WX", nil)
	e.sandboxPay(t, ch.ID, "success")
	wantCash(t, e.seller, "0.00", "0.00", "20.00")
	e.srv.AssertLedger(t)

	mustAskPart(t, e.buyer, o.ID, "5.00")
	e.clock.Advance(25 * time.Hour)
	e.runScheduler(t)
	wantRefunded(t, e, o.ID, "PAID", "0.00") // not released while a part waits
	mustApprovePart(t, e.seller, o.ID, nil, "PAID", "5.00")
	wantCash(t, e.seller, "0.00", "0.00", "15.00")
	wantCash(t, e.buyer, "0.00", "0.00", "0.00") // back through Ping++
	if s := e.worldSum(t, "pingpp"); s != -1500 {
		t.Fatalf("world:pingpp is %d", s)
	}
	if s := e.worldSum(t, "pingpp-refunding"); s != 0 {
		t.Fatalf("world:pingpp-refunding is %d", s)
	}
	e.srv.AssertLedger(t)

	evs := e.srv.PingppSandbox.Events()
	last := evs[len(evs)-1]
	if last.Type != "refund.succeeded" || last.Delivery.Status != 200 ||
		!strings.Contains(string(last.Body), `"description":"RF`+o.OrderNo+`-1 `) || !strings.Contains(string(last.Body), `"amount":500`) {
		t.Fatalf("refund webhook: %s", last.Body)
	}
	// The webhook replayed changes nothing.
	if code, reply := e.webhook(t, last.Body, last.Signature); code != 200 || reply != "success" {
		t.Fatalf("refund replay: %d %q", code, reply)
	}
	if n := e.postings(t, o.ID, "REFUND"); n != 2 {
		t.Fatalf("%d refund postings", n)
	}
	wantRefunded(t, e, o.ID, "PAID", "5.00")

	// A second part, numbered 2; then the auto-confirm releases the rest.
	mustAskPart(t, e.buyer, o.ID, "3.00")
	mustApprovePart(t, e.admin, o.ID, nil, "PAID", "8.00")
	evs = e.srv.PingppSandbox.Events()
	if last := evs[len(evs)-1]; !strings.Contains(string(last.Body), `"description":"RF`+o.OrderNo+`-2 `) {
		t.Fatalf("second refund: %s", last.Body)
	}
	e.runScheduler(t)
	wantRefunded(t, e, o.ID, "COMPLETED", "8.00")
	wantCash(t, e.seller, "12.00", "12.00", "0.00")
	e.srv.AssertLedger(t)

	// After release: from the seller's balance, through Ping++.
	mustAskPart(t, e.buyer, o.ID, "2.00")
	mustApprovePart(t, e.seller, o.ID, nil, "COMPLETED", "10.00")
	wantCash(t, e.seller, "10.00", "10.00", "0.00")
	e.srv.AssertLedger(t)

	// The rest, asked whole: REFUNDED, and the charge is refunded whole.
	mustStatus(t, applyRefund(t, e.buyer, o.ID), "applyRefund", "REFUND_REQUESTED")
	mustApprovePart(t, e.seller, o.ID, nil, "REFUNDED", "20.00")
	wantCash(t, e.seller, "0.00", "0.00", "0.00")
	if s := e.worldSum(t, "pingpp"); s != 0 {
		t.Fatalf("world:pingpp is %d at the end", s)
	}
	c, err := e.srv.Escrow.Pingpp.GetCharge(t.Context(), ch.ID)
	if err != nil || c.AmountRefunded != 2000 || len(c.Refunds.Data) != 4 {
		t.Fatalf("charge: %v %+v", err, c)
	}
	e.srv.AssertLedger(t)
}

// A part asked after confirmation comes out of the seller's balance on
// the seller's (or an admin's) decision only; when the seller no longer
// has it, it is INSUFFICIENT_FUNDS and nothing changes.
func TestPartialDealRefundFromTheSellersBalance(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "100.00")
	setPayPassword(t, e.buyer, "123456")
	setPayPassword(t, e.seller, "seller-pw")
	_, stranger := e.newUser(t, "stranger")
	d := e.paidDeal(t, "10.00", true)
	wantCash(t, e.seller, "10.00", "10.00", "0.00")

	// Nobody refunds a confirmed deal unasked, not even in part.
	if r, _ := approvePart(e.seller, d.ID, "1.00"); r.Code() != "INVALID_TRANSITION" {
		t.Fatalf("an unasked part: %+v", r.Errors)
	}
	mustAskPart(t, e.buyer, d.ID, "4.00")
	for _, c := range []*testutil.Client{e.buyer, stranger} {
		if r, _ := approvePart(c, d.ID, nil); r.Code() != "FORBIDDEN" {
			t.Fatalf("approved by another than the seller: %+v", r.Errors)
		}
	}
	mustApprovePart(t, e.seller, d.ID, nil, "COMPLETED", "4.00")
	wantCash(t, e.seller, "6.00", "6.00", "0.00")
	wantCash(t, e.buyer, "94.00", "0.00", "0.00")
	e.srv.AssertLedger(t)

	// The seller withdraws the rest: a part can no longer be taken back.
	if r := withdraw(t, e.seller, "6.00", "seller-pw", ""); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	mustAskPart(t, e.buyer, d.ID, "1.00")
	for _, c := range []*testutil.Client{e.seller, e.admin} {
		if r, _ := approvePart(c, d.ID, nil); r.Code() != "INSUFFICIENT_FUNDS" {
			t.Fatalf("a part the seller no longer has: %+v", r.Errors)
		}
	}
	o := refundOf(t, e.buyer, d.ID)
	if o.Status != "COMPLETED" || o.RefundedAmount != "4.00" || o.RefundRequestedAmount == nil || *o.RefundRequestedAmount != "1.00" {
		t.Fatalf("after a refused part: %+v", o)
	}
	wantCash(t, e.buyer, "94.00", "0.00", "0.00")
	wantCash(t, e.seller, "0.00", "0.00", "0.00")
	e.srv.AssertLedger(t)
	// The seller rejects it: the request is dropped, the deal stays COMPLETED.
	mustStatus(t, orderMutation(e.seller, t, "rejectRefund", d.ID, ",reason:$r", map[string]any{"r": "delivered"}), "rejectRefund", "COMPLETED")
	if o := refundOf(t, e.buyer, d.ID); o.RefundRequestedAmount != nil {
		t.Fatalf("after rejecting: %+v", o)
	}
	e.srv.AssertLedger(t)
}

// Amounts a part cannot have change nothing, asked or approved.
func TestBadPartialDealRefundsChangeNothing(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "100.00")
	setPayPassword(t, e.buyer, "123456")
	_, stranger := e.newUser(t, "stranger")
	d := e.paidDeal(t, "10.00", false)
	unchanged := func(requested string) {
		t.Helper()
		o := refundOf(t, e.buyer, d.ID)
		if o.Status != "PAID" || o.RefundedAmount != "0.00" || (requested == "") != (o.RefundRequestedAmount == nil) ||
			(o.RefundRequestedAmount != nil && *o.RefundRequestedAmount != requested) {
			t.Fatalf("deal changed: %+v", o)
		}
		wantCash(t, e.buyer, "90.00", "0.00", "0.00")
		wantCash(t, e.seller, "0.00", "0.00", "10.00")
		e.srv.AssertLedger(t)
	}
	for _, a := range []string{"0", "0.00", "-1.00", "0.001", "10.01", "x"} {
		if r, _ := askPart(e.buyer, d.ID, a); r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("asking for %s: %+v", a, r.Errors)
		}
	}
	if r, _ := askPart(e.seller, d.ID, "1.00"); r.Code() != "FORBIDDEN" {
		t.Fatalf("the seller asking: %+v", r.Errors)
	}
	if r, _ := askPart(stranger, d.ID, "1.00"); r.Code() == "" {
		t.Fatalf("a stranger asking: %+v", r.Errors)
	}
	if r, _ := approvePart(e.seller, d.ID, "1.00"); r.Code() != "INVALID_TRANSITION" {
		t.Fatalf("approving what nobody asked: %+v", r.Errors)
	}
	unchanged("")
	mustAskPart(t, e.buyer, d.ID, "3.00")
	if r, _ := askPart(e.buyer, d.ID, "1.00"); r.Code() != "INVALID_TRANSITION" {
		t.Fatalf("a second waiting part: %+v", r.Errors)
	}
	for _, a := range []string{"3.01", "0.001", "0", "-3.00", "11.00"} {
		if r, _ := approvePart(e.seller, d.ID, a); r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("approving %s: %+v", a, r.Errors)
		}
	}
	if r, _ := approvePart(stranger, d.ID, nil); r.Code() != "FORBIDDEN" {
		t.Fatalf("a stranger approving: %+v", r.Errors)
	}
	unchanged("3.00")
	// A request for all that is left is approved whole or rejected.
	mustStatus(t, applyRefund(t, e.buyer, d.ID), "applyRefund", "REFUND_REQUESTED")
	if r, _ := approvePart(e.seller, d.ID, "3.00"); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("a part of a whole request: %+v", r.Errors)
	}
	e.srv.AssertLedger(t)
}

// Concurrent approvals of one part refund it once, from the wallet and
// through Ping++; concurrent requests leave one waiting; a confirmation
// racing a Ping++ part releases exactly the rest.
func TestConcurrentPartialDealRefunds(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "100.00")
	setPayPassword(t, e.buyer, "123456")

	d := e.paidDeal(t, "10.00", false)
	codes := concurrently(t, 6, func(i int) (*testutil.Response, error) { return askPart(e.buyer, d.ID, "4.00") })
	if codes[""] != 1 {
		t.Fatalf("concurrent requests: %v", codes)
	}
	codes = concurrently(t, 8, func(i int) (*testutil.Response, error) {
		c := e.seller
		if i%2 == 1 {
			c = e.admin
		}
		return c.Post(`mutation($id:ID!,$k:String){approveRefund(orderId:$id,idempotencyKey:$k){id}}`,
			map[string]any{"id": d.ID, "k": fmt.Sprintf("part-%d", i)})
	})
	if codes[""] != 1 {
		t.Fatalf("concurrent approvals: %v", codes)
	}
	wantRefunded(t, e, d.ID, "PAID", "4.00")
	wantCash(t, e.buyer, "94.00", "0.00", "0.00")
	wantCash(t, e.seller, "0.00", "0.00", "6.00")
	e.srv.AssertLedger(t)

	o, ch := e.initDeal(t, e.buyer, "10.00", "ALIPAY", nil)
	e.sandboxPay(t, ch.ID, "success")
	mustAskPart(t, e.buyer, o.ID, "5.00")
	codes = concurrently(t, 6, func(i int) (*testutil.Response, error) {
		return e.seller.Post(`mutation($id:ID!){approveRefund(orderId:$id){id}}`, map[string]any{"id": o.ID})
	})
	if codes[""] != 1 {
		t.Fatalf("concurrent Ping++ approvals: %v", codes)
	}
	wantRefunded(t, e, o.ID, "PAID", "5.00")
	if c, err := e.srv.Escrow.Pingpp.GetCharge(t.Context(), ch.ID); err != nil || c.AmountRefunded != 500 || len(c.Refunds.Data) != 1 {
		t.Fatalf("charge: %v %+v", err, c)
	}
	e.srv.AssertLedger(t)

	// A confirmation racing the approval of a part: whichever comes first,
	// the seller ends with the amount less the part.
	mustAskPart(t, e.buyer, o.ID, "2.00")
	codes = concurrently(t, 2, func(i int) (*testutil.Response, error) {
		if i == 0 {
			return e.buyer.Post(`mutation($id:ID!){confirmOrder(orderId:$id){id}}`, map[string]any{"id": o.ID})
		}
		return e.seller.Post(`mutation($id:ID!){approveRefund(orderId:$id){id}}`, map[string]any{"id": o.ID})
	})
	if codes[""] != 2 {
		t.Fatalf("confirm and approve: %v", codes)
	}
	wantRefunded(t, e, o.ID, "COMPLETED", "7.00")
	wantCash(t, e.seller, "3.00", "3.00", "6.00")
	if s := e.worldSum(t, "pingpp-refunding"); s != 0 {
		t.Fatalf("world:pingpp-refunding is %d", s)
	}
	e.srv.AssertLedger(t)
}

// A part whose Ping++ answer and webhook were both lost is found at
// Ping++ by its refund number when approved again: it is not made twice.
func TestRetriedPingppPartIsNotRefundedTwice(t *testing.T) {
	e := newEscrow(t, nil)
	f := &flakyPingpp{Charges: e.srv.Escrow.Pingpp}
	e.srv.Escrow.Pingpp = f
	o, ch := e.initDeal(t, e.buyer, "10.00", "ALIPAY", nil)
	e.sandboxPay(t, ch.ID, "success")

	// Refunded, answer lost, webhook settles it.
	mustAskPart(t, e.buyer, o.ID, "3.00")
	f.set("unanswered")
	mustApprovePart(t, e.seller, o.ID, nil, "PAID", "3.00")
	e.srv.AssertLedger(t)

	// Refunded, answer and webhook lost: held until approved again.
	mustAskPart(t, e.buyer, o.ID, "2.00")
	deliver := e.srv.PingppSandbox.Deliver
	e.srv.PingppSandbox.Deliver = func(context.Context, []byte, string) sandboxpingpp.Delivery {
		return sandboxpingpp.Delivery{Status: 503}
	}
	f.set("unanswered")
	if r, _ := approvePart(e.seller, o.ID, nil); r.Code() != "PROVIDER_ERROR" {
		t.Fatalf("an unanswered part: %+v", r.Errors)
	}
	e.srv.PingppSandbox.Deliver = deliver
	if s := e.worldSum(t, "pingpp-refunding"); s != 200 {
		t.Fatalf("world:pingpp-refunding is %d", s)
	}
	wantRefunded(t, e, o.ID, "PAID", "3.00")
	if r, _ := approvePart(e.seller, o.ID, nil); r.Code() != "IDEMPOTENCY_IN_PROGRESS" {
		t.Fatalf("approving again at once: %+v", r.Errors)
	}
	if r, _ := e.seller.Post(`mutation($id:ID!){rejectRefund(orderId:$id,reason:"no"){id}}`, map[string]any{"id": o.ID}); r.Code() != "IDEMPOTENCY_IN_PROGRESS" {
		t.Fatalf("rejecting a part under way: %+v", r.Errors)
	}
	e.clock.Advance(3 * time.Minute)
	if r, _ := approvePart(e.seller, o.ID, "1.00"); r.Code() != "INVALID_TRANSITION" {
		t.Fatalf("another amount while one is unknown: %+v", r.Errors)
	}
	mustApprovePart(t, e.seller, o.ID, nil, "PAID", "5.00")
	c, err := e.srv.Escrow.Pingpp.GetCharge(t.Context(), ch.ID)
	if err != nil || c.AmountRefunded != 500 || len(c.Refunds.Data) != 2 {
		t.Fatalf("charge: %v %+v", err, c)
	}
	if s := e.worldSum(t, "pingpp-refunding"); s != 0 {
		t.Fatalf("world:pingpp-refunding is %d at the end", s)
	}
	wantCash(t, e.seller, "0.00", "0.00", "5.00")
	e.srv.AssertLedger(t)

	// A part Ping++ refuses goes back to escrow; asked again it is made.
	mustAskPart(t, e.buyer, o.ID, "1.00")
	f.set("refuse")
	if r, _ := approvePart(e.seller, o.ID, nil); r.Code() != "PROVIDER_ERROR" {
		t.Fatalf("a refused part: %+v", r.Errors)
	}
	wantCash(t, e.seller, "0.00", "0.00", "5.00")
	mustApprovePart(t, e.seller, o.ID, nil, "PAID", "6.00")
	wantCash(t, e.seller, "0.00", "0.00", "4.00")
	e.srv.AssertLedger(t)
}

// An escrow recharge paid through Ping++ has no refunds, whole or in
// part (only epay recharges do): the money stays the payer's available
// cash.
func TestPingppRechargesHaveNoRefunds(t *testing.T) {
	e := newEscrow(t, nil)
	var rc struct {
		Recharge struct {
			Order  struct{ ID string }
			Charge charge
		}
	}
	e.buyer.Do(t, `mutation{recharge(amount:"50.00",channel:ALIPAY){order{id} charge{`+chargeFields+`}}}`, nil).Decode(t, &rc)
	e.sandboxPay(t, rc.Recharge.Charge.ID, "success")
	wantCash(t, e.buyer, "50.00", "0.00", "0.00")
	for _, a := range []any{nil, "10.00"} {
		if r, _ := askPart(e.buyer, rc.Recharge.Order.ID, a); r.Code() != "INVALID_TRANSITION" {
			t.Fatalf("refunding a Ping++ recharge (%v): %+v", a, r.Errors)
		}
	}
	wantCash(t, e.buyer, "50.00", "0.00", "0.00")
	e.srv.AssertLedger(t)
}
