package server_test

import (
	"sync"
	"testing"

	"github.com/paygraph/paygraph/internal/testutil"
)

// atOnce sends the same request from n clients released together and
// returns the responses in client order.
func atOnce(t *testing.T, query string, vars map[string]any, clients ...*testutil.Client) []*testutil.Response {
	t.Helper()
	out := make([]*testutil.Response, len(clients))
	errs := make([]error, len(clients))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = c.Post(query, vars)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// count returns how many of to are s.
func count(to []string, s string) int {
	n := 0
	for _, x := range to {
		if x == s {
			n++
		}
	}
	return n
}

// orderEvents returns the statuses an order's history moved to.
func orderEvents(t *testing.T, admin *testutil.Client, id string) []string {
	t.Helper()
	var out struct {
		Order struct{ Events []struct{ To string } }
	}
	admin.Do(t, `query($id:ID!){order(id:$id){events{to}}}`, map[string]any{"id": id}).Decode(t, &out)
	var to []string
	for _, e := range out.Order.Events {
		to = append(to, e.To)
	}
	return to
}

// TestConcurrentCancelOrder: of two cancels of one unpaid order at the same
// moment one cancels it and the other gets the cancelled order, as a retried
// cancel does; the history has one cancellation.
func TestConcurrentCancelOrder(t *testing.T) {
	g := newGame(t, gameEnv(t))
	cancel := `mutation($in:CancelOrderInput!){cancelOrder(input:$in){id orderNo status}}`
	for round := range 15 {
		o := g.sword(t)
		rs := atOnce(t, cancel, map[string]any{"in": map[string]any{"userId": g.buyerID, "order": o.OrderNo}}, g.buyer, g.svc)
		for i, r := range rs {
			var out struct {
				CancelOrder struct{ ID, OrderNo, Status string }
			}
			if len(r.Errors) > 0 {
				t.Fatalf("round %d, cancel %d: %+v", round, i, r.Errors)
			}
			r.Decode(t, &out)
			if out.CancelOrder.OrderNo != o.OrderNo || out.CancelOrder.Status != "CANCELLED" {
				t.Fatalf("round %d, cancel %d: %+v", round, i, out.CancelOrder)
			}
		}
		if ev := orderEvents(t, g.admin, o.Order.ID); len(ev) != 2 || count(ev, "CANCELLED") != 1 {
			t.Fatalf("round %d: history %v", round, ev)
		}
	}
	g.srv.AssertLedger(t)
}

// TestConcurrentPayByChannel: two payByChannel calls for one deal at the same
// moment both get the one charge the order now carries, as a retried call
// does; the order is handed to Ping++ once. The same holds when the calls
// replace a charge that failed.
func TestConcurrentPayByChannel(t *testing.T) {
	e := newEscrow(t, nil)
	pay := `mutation($id:ID!){payByChannel(orderId:$id,channel:ALIPAY){order{id status providerTradeNo} charge{id paid}}}`
	type payload struct {
		PayByChannel struct {
			Order  struct{ ID, Status, ProviderTradeNo string }
			Charge struct {
				ID   string
				Paid bool
			}
		}
	}
	both := func(t *testing.T, round int, id string) string {
		t.Helper()
		var charge string
		for i, r := range atOnce(t, pay, map[string]any{"id": id}, e.buyer, e.buyer) {
			if len(r.Errors) > 0 {
				t.Fatalf("round %d, call %d: %+v", round, i, r.Errors)
			}
			var out payload
			r.Decode(t, &out)
			p := out.PayByChannel
			if p.Charge.ID == "" || p.Charge.Paid || (charge != "" && p.Charge.ID != charge) {
				t.Fatalf("round %d, call %d: charge %+v, the other got %s", round, i, p.Charge, charge)
			}
			charge = p.Charge.ID
		}
		if o := e.order(t, e.admin, id); o.Status != "PROCESSING" || o.ProviderTradeNo != charge {
			t.Fatalf("round %d: order %s with charge %s, the callers got %s", round, o.Status, o.ProviderTradeNo, charge)
		}
		return charge
	}
	for round := range 10 {
		o, _ := e.initDeal(t, e.buyer, "3.00", "WALLET", nil)
		first := both(t, round, o.ID)
		if ev := orderEvents(t, e.admin, o.ID); len(ev) != 2 || count(ev, "PROCESSING") != 1 {
			t.Fatalf("round %d: history %v", round, ev)
		}
		if round%3 == 0 {
			// The charge fails; two calls at once replace it with one new charge.
			e.sandboxPay(t, first, "fail")
			if second := both(t, round, o.ID); second == first {
				t.Fatalf("round %d: the failed charge %s was handed out again", round, first)
			}
		}
	}
	e.srv.AssertLedger(t)
}
