package server_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// At the default level every step of an order is one line, with the
// trace id the client saw; a refused step writes none.
func TestMoneyEventsAreLoggedOnce(t *testing.T) {
	env := testutil.Base(t)
	env["PAYGRAPH_LOG_LEVEL"] = "info"
	var log syncBuffer
	srv := testutil.StartLogged(t, env, server.Options{}, &log)
	c := srv.Client()
	admin := c.As(c.AdminToken(t))
	var app struct{ CreateApp struct{ ServiceToken string } }
	admin.Do(t, `mutation{createApp(name:"shop"){serviceToken}}`, nil).Decode(t, &app)
	svc := c.As(app.CreateApp.ServiceToken)
	payerID, payerTok := c.NewUser(t, "payer")
	payeeID, _ := c.NewUser(t, "payee")
	payer := c.As(payerTok)
	admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`, map[string]any{"in": map[string]any{
		"userId": payerID, "asset": "CNY", "amount": "5.00"}}).Decode(t, &struct{}{})
	var o struct{ CreatePaymentOrder struct{ ID string } }
	svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": map[string]any{
		"payerUserId": payerID, "payeeUserId": payeeID, "payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "1.25"}}}}).Decode(t, &o)
	r, err := pay(payer, o.CreatePaymentOrder.ID)
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("pay: %v %+v", err, r)
	}
	traceID, _ := r.Extensions["traceId"].(string)
	if again, _ := pay(payer, o.CreatePaymentOrder.ID); again.Code() != "INVALID_TRANSITION" {
		t.Fatalf("second pay: %+v", again.Errors)
	}

	id := "order_id=" + o.CreatePaymentOrder.ID
	created, paid := log.lines("msg=order.created"), log.lines("msg=order.paid")
	if n := countWith(created, id); n != 1 {
		t.Errorf("%d order.created lines: %q", n, created)
	}
	if n := countWith(paid, id); n != 1 {
		t.Fatalf("%d order.paid lines: %q", n, paid)
	}
	for _, want := range []string{"level=INFO", "amount=1.25", "asset=CNY", "from=PENDING", "status=PAID", "trace_id=" + traceID, "actor=user:" + payerID} {
		if !strings.Contains(count1(paid, id), want) {
			t.Errorf("order.paid line lacks %s: %s", want, count1(paid, id))
		}
	}
	// A forged notify is one WARN line with the reason.
	if _, err := c.Raw("POST", "/payment/notify", "application/x-www-form-urlencoded", []byte("out_trade_no=1&trade_status=TRADE_SUCCESS&sign=00")); err != nil {
		t.Fatal(err)
	}
	if l := log.lines("msg=callback.rejected"); len(l) != 1 || !strings.Contains(l[0], "level=WARN") || !strings.Contains(l[0], "reason=") {
		t.Errorf("callback.rejected lines: %q", l)
	}
	srv.AssertLedger(t)
}

func countWith(lines []string, substr string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func count1(lines []string, substr string) string {
	for _, l := range lines {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}
