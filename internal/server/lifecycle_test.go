package server_test

import (
	"strings"
	"testing"

	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

const cancelMutation = `mutation($in:CancelOrderInput!){cancelOrder(input:$in){id status}}`

// The payer cancels any unpaid order of theirs, whatever its type; a
// stranger finds nothing to cancel and a paid order stays paid.
func TestPayerCancelsAnyUnpaidOrder(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	orderNo := func(id string) string {
		var o struct{ Order struct{ OrderNo string } }
		m.admin.Do(t, `query($id:ID!){order(id:$id){orderNo}}`, map[string]any{"id": id}).Decode(t, &o)
		return o.Order.OrderNo
	}
	unpaid := m.order(t, "CNY", "1.00")
	in := map[string]any{"in": map[string]any{"userId": m.payerID, "order": orderNo(unpaid)}}

	_, strangerTok := m.c.NewUser(t, "stranger")
	stranger := m.c.As(strangerTok)
	strangerID := mustID(t, stranger)
	if r := stranger.Do(t, cancelMutation, map[string]any{"in": map[string]any{"userId": strangerID, "order": orderNo(unpaid)}}); r.Code() != "NOT_FOUND" {
		t.Errorf("stranger cancels: %+v", r.Errors)
	}
	if r := stranger.Do(t, cancelMutation, in); r.Code() != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, "its own user") {
		t.Errorf("stranger names the payer: %+v", r.Errors)
	}
	var c struct{ CancelOrder struct{ ID, Status string } }
	m.payer.Do(t, cancelMutation, in).Decode(t, &c)
	if c.CancelOrder.ID != unpaid || c.CancelOrder.Status != "CANCELLED" {
		t.Fatalf("cancel: %+v", c)
	}
	m.payer.Do(t, cancelMutation, in).Decode(t, &c) // a retry gets the cancelled order
	if c.CancelOrder.Status != "CANCELLED" {
		t.Fatalf("retried cancel: %+v", c)
	}
	if r, _ := pay(m.payer, unpaid); r.Code() != "INVALID_TRANSITION" {
		t.Errorf("paying a cancelled order: %+v", r.Errors)
	}

	paid := m.order(t, "CNY", "2.00")
	if r, _ := pay(m.payer, paid); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	if r, _ := pay(m.payer, paid); r.Code() != "INVALID_TRANSITION" || r.Errors[0].Message != "order is already paid" {
		t.Errorf("paying twice: %+v", r.Errors)
	}
	r := m.svc.Do(t, cancelMutation, map[string]any{"in": map[string]any{"userId": m.payerID, "order": orderNo(paid)}})
	if r.Code() != "INVALID_TRANSITION" {
		t.Errorf("cancelling a paid order: %+v", r.Errors)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "8.00" {
		t.Errorf("payer has %s", a)
	}
	m.srv.AssertLedger(t)
}

// A refusal by role says which role is needed.
func TestRefusalsNameTheRoleNeeded(t *testing.T) {
	m := newMoney(t, server.Options{})
	r := m.payer.Do(t, `mutation{createApp(name:"mine"){serviceToken}}`, nil)
	if r.Code() != "FORBIDDEN" || r.Errors[0].Message != "this needs an ADMIN token; this one is a USER token" {
		t.Errorf("createApp as a user: %+v", r.Errors)
	}
	m.srv.AssertLedger(t)
}

// Errors point at what is wrong: the field at fault, the way to send a
// request, and who a token is when it may not ask for me.
func TestErrorsSayWhatIsWrong(t *testing.T) {
	m := newMoney(t, server.Options{})
	r := m.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`, map[string]any{"in": map[string]any{
		"userId": m.payerID, "asset": "XYZ", "amount": "1.00"}})
	if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "asset" {
		t.Errorf("unknown asset: %+v", r.Errors)
	}
	r, err := m.c.Raw("POST", "/query", "", []byte(`{"query":"{__typename}"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 415 || r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "application/json") || r.Extensions["traceId"] == nil {
		t.Errorf("POST without Content-Type: %d %+v %v", r.Status, r.Errors, r.Extensions)
	}

	var v struct {
		Viewer struct {
			Role *string
			User *struct{ ID string }
			App  *struct{ Name string }
		}
	}
	m.svc.Do(t, `{viewer{role user{id} app{name}}}`, nil).Decode(t, &v)
	if v.Viewer.Role == nil || *v.Viewer.Role != "SERVICE" || v.Viewer.App == nil || v.Viewer.App.Name != "shop" || v.Viewer.User != nil {
		t.Errorf("service viewer: %+v", v.Viewer)
	}
	m.payer.Do(t, `{viewer{role user{id} app{name}}}`, nil).Decode(t, &v)
	if v.Viewer.Role == nil || *v.Viewer.Role != "USER" || v.Viewer.User == nil || v.Viewer.User.ID != m.payerID {
		t.Errorf("user viewer: %+v", v.Viewer)
	}
	v.Viewer.Role = nil
	m.c.Do(t, `{viewer{role}}`, nil).Decode(t, &v)
	if v.Viewer.Role != nil {
		t.Errorf("anonymous viewer: %+v", v.Viewer)
	}
	m.srv.AssertLedger(t)
}

// A token payment is refunded through the same request and decision as
// every other order: the payer asks, the payee (whose money it is) or an
// ADMIN decides; the app cannot spend the payee's balance.
func TestTokenPaymentRefund(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	id := m.order(t, "CNY", "4.00")
	if r, _ := pay(m.payer, id); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	request := `mutation($id:ID!){requestRefund(orderId:$id,reason:"wrong size"){id status refundReason}}`
	approve := `mutation($id:ID!){approveRefund(orderId:$id){id status payInfo{paidAmount refundedAmount}}}`
	if r := m.payee.Do(t, request, map[string]any{"id": id}); r.Code() != "FORBIDDEN" {
		t.Errorf("the payee asks: %+v", r.Errors)
	}
	var req struct {
		RequestRefund struct{ Status, RefundReason string }
	}
	m.payer.Do(t, request, map[string]any{"id": id}).Decode(t, &req)
	if req.RequestRefund.Status != "REFUND_REQUESTED" || req.RequestRefund.RefundReason != "wrong size" {
		t.Fatalf("request: %+v", req)
	}
	for name, c := range map[string]*testutil.Client{"the payer": m.payer, "the app": m.svc} {
		if r := c.Do(t, approve, map[string]any{"id": id}); r.Code() != "FORBIDDEN" {
			t.Errorf("%s approves: %+v", name, r.Errors)
		}
	}
	if a, _ := balance(t, m.payee, "CNY"); a != "4.00" {
		t.Fatalf("payee has %s before the decision", a)
	}
	var out struct {
		ApproveRefund struct {
			Status  string
			PayInfo []struct{ PaidAmount, RefundedAmount string }
		}
	}
	m.payee.Do(t, approve, map[string]any{"id": id}).Decode(t, &out)
	if o := out.ApproveRefund; o.Status != "REFUNDED" || len(o.PayInfo) != 1 || o.PayInfo[0].RefundedAmount != "4.00" {
		t.Fatalf("approved: %+v", o)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "10.00" {
		t.Errorf("payer has %s after the refund", a)
	}
	if a, _ := balance(t, m.payee, "CNY"); a != "0.00" {
		t.Errorf("payee has %s after the refund", a)
	}
	if r := m.payee.Do(t, approve, map[string]any{"id": id}); r.Code() != "INVALID_TRANSITION" {
		t.Errorf("approving twice: %+v", r.Errors)
	}
	m.srv.AssertLedger(t)
}

// One name for a channel is accepted everywhere, beside the documents'
// spellings: WECHAT is the escrow document's WX, and wxpay, WX or WeChat
// name the same pay way at the epay gateway.
func TestOneChannelNameEverywhere(t *testing.T) {
	e := newEscrow(t, nil)
	_, ch := e.initDeal(t, e.buyer, "5.00", "WECHAT", nil)
	if ch == nil || ch.Channel != "wx" {
		t.Fatalf("a WECHAT deal's charge: %+v", ch)
	}
	w := newEpayWorld(t, "RSA", nil, server.Options{})
	for _, spelling := range []string{"WX", "wxpay", "WeChat"} {
		o := w.createPoints(t, w.buyer, "1.00", 10, spelling)
		if o.PayWay == nil || *o.PayWay != "wechat" {
			t.Errorf("paymentType %s: payWay %v", spelling, o.PayWay)
		}
	}
	res := w.initOrder(t, w.buyer, map[string]any{"title": "充值", "type": "RECHARGE", "money": "5.00", "payWayName": "ALIPAY"})
	if res.Order.PayWay == nil || *res.Order.PayWay != "alipay" {
		t.Errorf("payWayName ALIPAY: %+v", res.Order)
	}
	e.srv.AssertLedger(t)
	w.srv.AssertLedger(t)
}
