package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// money is a fixture: an app with a SERVICE token, a payer and a payee.
type money struct {
	srv                *testutil.Server
	c, admin, svc      *testutil.Client
	payer, payee       *testutil.Client
	payerID, payeeID   string
	payerTok, payeeTok string
}

func newMoney(t *testing.T, opts server.Options) *money {
	t.Helper()
	srv := testutil.StartWith(t, testutil.Base(t), opts)
	c := srv.Client()
	m := &money{srv: srv, c: c, admin: c.As(c.AdminToken(t))}
	var app struct {
		CreateApp struct{ ServiceToken string }
	}
	m.admin.Do(t, `mutation{createApp(name:"shop"){serviceToken}}`, nil).Decode(t, &app)
	m.svc = c.As(app.CreateApp.ServiceToken)
	m.payerID, m.payerTok = c.NewUser(t, "payer")
	m.payeeID, m.payeeTok = c.NewUser(t, "payee")
	m.payer, m.payee = c.As(m.payerTok), c.As(m.payeeTok)
	return m
}

func (m *money) credit(t *testing.T, userID, asset, amount string) {
	t.Helper()
	r := m.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id amount wallet{asset}}}`,
		map[string]any{"in": map[string]any{"userId": userID, "asset": asset, "amount": amount}})
	if len(r.Errors) > 0 {
		t.Fatalf("credit: %+v", r.Errors)
	}
}

func (m *money) order(t *testing.T, asset, amount string) string {
	t.Helper()
	var out struct {
		CreatePaymentOrder struct {
			ID, Status string
			Payer      struct{ ID string }
		}
	}
	// Edges of the returned order load after its transaction committed.
	m.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id status payer{id}}}`,
		map[string]any{"in": map[string]any{
			"payerUserId": m.payerID, "payeeUserId": m.payeeID,
			"payInfo": []any{map[string]any{"tokenId": asset, "amount": amount}},
		}}).Decode(t, &out)
	if out.CreatePaymentOrder.Status != "PENDING" || out.CreatePaymentOrder.Payer.ID != m.payerID {
		t.Fatalf("new order is %s", out.CreatePaymentOrder.Status)
	}
	return out.CreatePaymentOrder.ID
}

var payMutation = `mutation($in:PayInput!){pay(input:$in){id status statusDesc legacyStatus paidAt payInfo{amount paidAmount} ` + testutil.EveryEdge("Order") + `}}`

func pay(c *testutil.Client, orderID string) (*testutil.Response, error) {
	return c.Post(payMutation, map[string]any{"in": map[string]any{"orderId": orderID}})
}

// balance returns a user's available balance in asset ("0" without a wallet).
func balance(t *testing.T, c *testutil.Client, asset string) (available, withdrawable string) {
	t.Helper()
	var out struct {
		Wallets []struct{ Asset, Available, Withdrawable string }
	}
	c.Do(t, `{wallets{asset available withdrawable}}`, nil).Decode(t, &out)
	for _, w := range out.Wallets {
		if w.Asset == asset {
			return w.Available, w.Withdrawable
		}
	}
	return "0", "0"
}

func TestCanonicalFlow(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "USDT", "150.000000")
	id := m.order(t, "USDT", "100")

	r, err := pay(m.payer, id)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Pay struct {
			ID, Status, StatusDesc string
			LegacyStatus           int
			PaidAt                 *string
			PayInfo                []struct{ Amount, PaidAmount string }
		}
	}
	r.Decode(t, &out)
	p := out.Pay
	if p.Status != "PAID" || p.StatusDesc != "已支付" || p.LegacyStatus != 1 || p.PaidAt == nil ||
		len(p.PayInfo) != 1 || p.PayInfo[0].Amount != "100.000000" || p.PayInfo[0].PaidAmount != "100.000000" {
		t.Fatalf("paid order: %+v", p)
	}
	if a, _ := balance(t, m.payer, "USDT"); a != "50.000000" {
		t.Fatalf("payer has %s", a)
	}
	if a, w := balance(t, m.payee, "USDT"); a != "100.000000" || w != "100.000000" {
		t.Fatalf("payee has %s (withdrawable %s)", a, w)
	}

	// The history and the ledger lines are there for the payer to read.
	var hist struct {
		Order struct {
			Events []struct{ From, To, Actor string }
		}
	}
	m.payer.Do(t, `query($id:ID!){order(id:$id){events{from to actor}}}`, map[string]any{"id": id}).Decode(t, &hist)
	if ev := hist.Order.Events; len(ev) != 2 || ev[0].To != "PENDING" || ev[1].From != "PENDING" || ev[1].To != "PAID" ||
		!strings.HasPrefix(ev[1].Actor, "user:") {
		t.Fatalf("history: %+v", ev)
	}
	var entries struct {
		WalletEntries struct {
			TotalCount int
			Edges      []struct {
				Node struct{ Amount, Kind, BalanceAfter string }
			}
		}
	}
	m.payer.Do(t, `{walletEntries(orderBy:{field:CREATED_AT}){totalCount edges{node{amount kind balanceAfter}}}}`, nil).Decode(t, &entries)
	if e := entries.WalletEntries; e.TotalCount != 2 || e.Edges[1].Node.Amount != "-100.000000" || e.Edges[1].Node.Kind != "PAYMENT" ||
		e.Edges[1].Node.BalanceAfter != "50.000000" {
		t.Fatalf("payer's entries: %+v", e)
	}

	// Paying again is refused and changes nothing.
	r, _ = pay(m.payer, id)
	if r.Code() != "INVALID_TRANSITION" {
		t.Fatalf("second pay: %+v", r.Errors)
	}
	if a, _ := balance(t, m.payer, "USDT"); a != "50.000000" {
		t.Fatalf("payer has %s after a refused pay", a)
	}

	var check struct {
		LedgerCheck struct {
			OK     bool
			Assets []struct{ Asset, Sum string }
		}
	}
	m.admin.Do(t, `{ledgerCheck{ok assets{asset sum}}}`, nil).Decode(t, &check)
	if !check.LedgerCheck.OK || len(check.LedgerCheck.Assets) < 4 {
		t.Fatalf("ledgerCheck: %+v", check.LedgerCheck)
	}
	for _, a := range check.LedgerCheck.Assets {
		if strings.Trim(a.Sum, "0.") != "" {
			t.Fatalf("asset %s sums to %s", a.Asset, a.Sum)
		}
	}
	m.srv.AssertLedger(t)
}

func TestConcurrentPaysOfOneOrder(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "100.00")
	id := m.order(t, "CNY", "7.00")
	codes := concurrently(t, 10, func(int) (*testutil.Response, error) { return pay(m.payer, id) })
	if codes[""] != 1 || codes["INVALID_TRANSITION"] != 9 {
		t.Fatalf("outcomes: %v", codes)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "93.00" {
		t.Fatalf("payer has %s", a)
	}
	if a, _ := balance(t, m.payee, "CNY"); a != "7.00" {
		t.Fatalf("payee has %s", a)
	}
	m.srv.AssertLedger(t)
}

func TestConcurrentPaysAgainstAShortBalance(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "5.00")
	ids := make([]string, 20)
	for i := range ids {
		ids[i] = m.order(t, "CNY", "1.00")
	}
	codes := concurrently(t, 20, func(i int) (*testutil.Response, error) { return pay(m.payer, ids[i]) })
	if codes[""] != 5 || codes["INSUFFICIENT_FUNDS"] != 15 {
		t.Fatalf("outcomes: %v", codes)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "0.00" {
		t.Fatalf("payer has %s", a)
	}
	if a, _ := balance(t, m.payee, "CNY"); a != "5.00" {
		t.Fatalf("payee has %s", a)
	}
	// The orders that could not be paid are still payable.
	var pending struct{ Orders struct{ TotalCount int } }
	m.payer.Do(t, `{orders(where:{status:PENDING}){totalCount}}`, nil).Decode(t, &pending)
	if pending.Orders.TotalCount != 15 {
		t.Fatalf("%d orders still pending", pending.Orders.TotalCount)
	}
	m.srv.AssertLedger(t)
}

// concurrently runs f n times at once and counts the outcomes by error code
// ("" for success).
func concurrently(t *testing.T, n int, f func(i int) (*testutil.Response, error)) map[string]int {
	t.Helper()
	var (
		mu    sync.Mutex
		codes = map[string]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			r, err := f(i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes["transport: "+err.Error()]++
				return
			}
			codes[r.Code()]++
		}(i)
	}
	close(start)
	wg.Wait()
	return codes
}

func TestStrangerCannotReadOrPay(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	id := m.order(t, "CNY", "1.00")
	_, strangerTok := m.c.NewUser(t, "stranger")
	stranger := m.c.As(strangerTok)
	m.credit(t, mustID(t, stranger), "CNY", "10.00")

	if r := stranger.Do(t, `query($id:ID!){order(id:$id){id}}`, map[string]any{"id": id}); r.Code() != "FORBIDDEN" || strings.Contains(string(r.Data), id) {
		t.Errorf("order: %+v %s", r.Errors, r.Data)
	}
	// node answers an invisible id as it answers a missing one.
	if r := stranger.Do(t, `query($id:ID!){node(id:$id){id}}`, map[string]any{"id": id}); r.Code() != "NOT_FOUND" || strings.Contains(string(r.Data), id) {
		t.Errorf("node: %+v %s", r.Errors, r.Data)
	}
	if r := stranger.Do(t, `query($ids:[ID!]!){nodes(ids:$ids){id}}`, map[string]any{"ids": []string{id}}); r.Code() != "NOT_FOUND" || strings.Contains(string(r.Data), id) {
		t.Errorf("nodes: %+v", r.Errors)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = id
	}
	if r := m.admin.Do(t, `query($ids:[ID!]!){nodes(ids:$ids){id}}`, map[string]any{"ids": many}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("101 nodes: %+v", r.Errors)
	}
	var list struct{ Orders struct{ TotalCount int } }
	stranger.Do(t, `{orders{totalCount}}`, nil).Decode(t, &list)
	if list.Orders.TotalCount != 0 {
		t.Fatalf("stranger lists %d orders", list.Orders.TotalCount)
	}
	if r, _ := pay(stranger, id); r.Code() != "FORBIDDEN" {
		t.Fatalf("stranger pay: %+v", r.Errors)
	}
	if r, _ := pay(m.payee, id); r.Code() != "FORBIDDEN" {
		t.Fatalf("payee pay: %+v", r.Errors)
	}
	if a, _ := balance(t, stranger, "CNY"); a != "10.00" {
		t.Fatalf("stranger has %s", a)
	}
	// Another app's SERVICE token cannot see the order either.
	var other struct{ CreateApp struct{ ServiceToken string } }
	m.admin.Do(t, `mutation{createApp(name:"other"){serviceToken}}`, nil).Decode(t, &other)
	if r := m.c.As(other.CreateApp.ServiceToken).Do(t, `query($id:ID!){order(id:$id){id}}`, map[string]any{"id": id}); r.Code() != "FORBIDDEN" {
		t.Fatalf("other app: %+v", r.Errors)
	}
	// The payee and the owning app can.
	for _, c := range []*testutil.Client{m.payee, m.svc, m.admin} {
		if r := c.Do(t, `query($id:ID!){order(id:$id){id}}`, map[string]any{"id": id}); len(r.Errors) > 0 {
			t.Fatalf("%+v", r.Errors)
		}
	}
	m.srv.AssertLedger(t)
}

func mustID(t *testing.T, c *testutil.Client) string {
	var me struct{ Me struct{ ID string } }
	c.Do(t, `{me{id}}`, nil).Decode(t, &me)
	return me.Me.ID
}

func TestIdempotentCreateAndPay(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "10.00")
	in := map[string]any{
		"payerUserId": m.payerID, "payeeUserId": m.payeeID, "idempotencyKey": "order-1",
		"payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "2.00"}},
	}
	create := func(in map[string]any) *testutil.Response {
		return m.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": in})
	}
	var a, b struct{ CreatePaymentOrder struct{ ID string } }
	create(in).Decode(t, &a)
	create(in).Decode(t, &b)
	if a.CreatePaymentOrder.ID != b.CreatePaymentOrder.ID {
		t.Fatalf("replay made a new order: %s vs %s", a.CreatePaymentOrder.ID, b.CreatePaymentOrder.ID)
	}
	changed := map[string]any{}
	for k, v := range in {
		changed[k] = v
	}
	changed["payInfo"] = []any{map[string]any{"tokenId": "CNY", "amount": "3.00"}}
	if r := create(changed); r.Code() != "IDEMPOTENCY_CONFLICT" {
		t.Fatalf("other input: %+v", r.Errors)
	}
	// The header is the same key.
	hdr := *m.svc
	hdr.Headers = map[string]string{"Idempotency-Key": "order-1"}
	in2 := map[string]any{}
	for k, v := range in {
		if k != "idempotencyKey" {
			in2[k] = v
		}
	}
	var c struct{ CreatePaymentOrder struct{ ID string } }
	hdr.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": in2}).Decode(t, &c)
	if c.CreatePaymentOrder.ID != a.CreatePaymentOrder.ID {
		t.Fatal("the Idempotency-Key header did not replay")
	}

	// Concurrent duplicates of a new key: one order, the rest replays or in-progress.
	in["idempotencyKey"] = "order-2"
	ids := sync.Map{}
	codes := concurrently(t, 8, func(int) (*testutil.Response, error) {
		r, err := m.svc.Post(`mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": in})
		if err == nil && len(r.Errors) == 0 {
			ids.Store(string(r.Data), true)
		}
		return r, err
	})
	n := 0
	ids.Range(func(any, any) bool { n++; return true })
	if n != 1 || codes[""]+codes["IDEMPOTENCY_IN_PROGRESS"] != 8 {
		t.Fatalf("%d distinct orders, outcomes %v", n, codes)
	}
	var count struct{ Orders struct{ TotalCount int } }
	m.admin.Do(t, `{orders{totalCount}}`, nil).Decode(t, &count)
	if count.Orders.TotalCount != 2 {
		t.Fatalf("%d orders exist", count.Orders.TotalCount)
	}

	// pay with a key: the retry replays the paid order instead of failing.
	payKeyed := func() *testutil.Response {
		return m.payer.Do(t, payMutation, map[string]any{"in": map[string]any{"orderId": a.CreatePaymentOrder.ID, "idempotencyKey": "pay-1"}})
	}
	var p1, p2 struct{ Pay struct{ ID, Status string } }
	payKeyed().Decode(t, &p1)
	payKeyed().Decode(t, &p2)
	if p1.Pay.Status != "PAID" || p2.Pay != p1.Pay {
		t.Fatalf("pay replay: %+v %+v", p1, p2)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "8.00" {
		t.Fatalf("payer has %s", a)
	}
	// A key that failed is released: the retry runs afresh.
	id := m.order(t, "CNY", "50.00")
	keyed := map[string]any{"in": map[string]any{"orderId": id, "idempotencyKey": "pay-2"}}
	if r := m.payer.Do(t, payMutation, keyed); r.Code() != "INSUFFICIENT_FUNDS" {
		t.Fatalf("pay over balance: %+v", r.Errors)
	}
	m.credit(t, m.payerID, "CNY", "50.00")
	if r := m.payer.Do(t, payMutation, keyed); len(r.Errors) > 0 {
		t.Fatalf("retry after funding: %+v", r.Errors)
	}
	m.srv.AssertLedger(t)
}

func TestBadAmountsChangeNothing(t *testing.T) {
	m := newMoney(t, server.Options{})
	for name, amount := range map[string]any{
		"too many decimals": "1.001",
		"zero":              "0.00",
		"negative":          "-5.00",
		"a float":           1.5,
		"exponent":          "1e3",
		"garbage":           "ten",
	} {
		r := m.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`,
			map[string]any{"in": map[string]any{"userId": m.payerID, "asset": "CNY", "amount": amount}})
		if r.Code() != "BAD_USER_INPUT" {
			t.Errorf("%s: %+v", name, r.Errors)
		}
	}
	if r := m.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`,
		map[string]any{"in": map[string]any{"userId": m.payerID, "asset": "DOGE", "amount": "1"}}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("unknown asset: %+v", r.Errors)
	}
	if r := m.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": map[string]any{
		"payerUserId": m.payerID, "payeeUserId": m.payeeID, "payInfo": []any{map[string]any{"tokenId": "BTC", "amount": "0.000000001"}},
	}}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("order with 9 BTC decimals: %+v", r.Errors)
	}
	if r := m.payer.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`,
		map[string]any{"in": map[string]any{"userId": m.payerID, "asset": "CNY", "amount": "5.00"}}); r.Code() != "FORBIDDEN" {
		t.Errorf("a user crediting itself: %+v", r.Errors)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "0" {
		t.Fatalf("payer has %s", a)
	}
	var orders struct{ Orders struct{ TotalCount int } }
	m.admin.Do(t, `{orders{totalCount}}`, nil).Decode(t, &orders)
	if orders.Orders.TotalCount != 0 {
		t.Fatalf("%d orders", orders.Orders.TotalCount)
	}
	m.srv.AssertLedger(t)
}

func TestOrderValidation(t *testing.T) {
	m := newMoney(t, server.Options{})
	base := func() map[string]any {
		return map[string]any{"payerUserId": m.payerID, "payeeUserId": m.payeeID,
			"payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "1.00"}}}
	}
	for name, mod := range map[string]func(map[string]any){
		"no lines": func(in map[string]any) { in["payInfo"] = []any{} },
		"mixed tokens": func(in map[string]any) {
			in["payInfo"] = []any{map[string]any{"tokenId": "CNY", "amount": "1"}, map[string]any{"tokenId": "BTC", "amount": "1"}}
		},
		"payer is payee":    func(in map[string]any) { in["payeeUserId"] = m.payerID },
		"bad extendInfo":    func(in map[string]any) { in["extendInfo"] = "{not json" },
		"past expiry":       func(in map[string]any) { in["expiresAt"] = time.Now().Add(-time.Minute).Format(time.RFC3339) },
		"service other app": func(in map[string]any) { in["appId"] = "1" },
	} {
		in := base()
		mod(in)
		r := m.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": in})
		if r.Code() != "BAD_USER_INPUT" && r.Code() != "FORBIDDEN" {
			t.Errorf("%s: %+v", name, r.Errors)
		}
	}
	in := base()
	in["payeeUserId"] = "123456789"
	if r := m.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": in}); r.Code() != "NOT_FOUND" ||
		fmt.Sprint(r.Errors[0].Extensions["legacyCode"]) != "7" {
		t.Errorf("unknown payee: %+v", r.Errors)
	}
	in = base()
	in["clientOrderId"] = "Activity201910200001"
	m.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": in})
	if r := m.svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": in}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("duplicate clientOrderId: %+v", r.Errors)
	}
	if r := m.payer.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": base()}); r.Code() != "FORBIDDEN" {
		t.Errorf("a user creating an order: %+v", r.Errors)
	}
}

func TestOrdersConnection(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "100.00")
	var ids []string
	for i := 0; i < 25; i++ {
		ids = append(ids, m.order(t, "CNY", "1.00"))
	}
	for _, id := range ids[:3] {
		if r, _ := pay(m.payer, id); len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
	}
	q := `query($w:OrderWhereInput,$first:Int){orders(where:$w,first:$first){totalCount edges{node{id}} pageInfo{hasNextPage}}}`
	count := func(c *testutil.Client, where map[string]any, first any) (int, int) {
		var out struct {
			Orders struct {
				TotalCount int
				Edges      []struct{ Node struct{ ID string } }
			}
		}
		c.Do(t, q, map[string]any{"w": where, "first": first}).Decode(t, &out)
		return out.Orders.TotalCount, len(out.Orders.Edges)
	}
	if total, page := count(m.payer, nil, nil); total != 25 || page != 20 {
		t.Fatalf("default page: total %d, page %d", total, page)
	}
	if total, _ := count(m.payer, map[string]any{"status": "PAID"}, nil); total != 3 {
		t.Fatalf("PAID: %d", total)
	}
	if total, _ := count(m.payee, map[string]any{"payeeID": m.payeeID, "idGTE": ids[5], "idLTE": ids[9]}, nil); total != 5 {
		t.Fatalf("id range: %d", total)
	}
	if total, _ := count(m.svc, map[string]any{"type": "PAYMENT", "createdAtGTE": time.Now().Add(-time.Hour).Format(time.RFC3339)}, 100); total != 25 {
		t.Fatalf("service: %d", total)
	}
	if r := m.payer.Do(t, q, map[string]any{"first": 101}); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("first 101: %+v", r.Errors)
	}
}

func TestUnpaidOrdersExpire(t *testing.T) {
	clk := clock.NewFake(time.Now())
	m := newMoney(t, server.Options{Clock: clk, NoScheduler: true})
	m.credit(t, m.payerID, "CNY", "10.00")
	id := m.order(t, "CNY", "1.00") // expires after the default 30 minutes
	paid := m.order(t, "CNY", "1.00")
	if r, _ := pay(m.payer, paid); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	clk.Advance(29 * time.Minute)
	if err := m.srv.Scheduler.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	status := func(id string) string {
		var out struct{ Order struct{ Status string } }
		m.payer.Do(t, `query($id:ID!){order(id:$id){status}}`, map[string]any{"id": id}).Decode(t, &out)
		return out.Order.Status
	}
	if s := status(id); s != "PENDING" {
		t.Fatalf("expired early: %s", s)
	}
	clk.Advance(2 * time.Minute)
	// Paying after expiresAt but before the scheduler ran is refused too.
	if r, _ := pay(m.payer, id); r.Code() != "ORDER_EXPIRED" {
		t.Fatalf("pay after expiry: %+v", r.Errors)
	}
	// Two schedulers (two instances) running at once expire it once.
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = m.srv.Scheduler.RunOnce(t.Context()) }()
	}
	wg.Wait()
	if s := status(id); s != "EXPIRED" {
		t.Fatalf("status %s", s)
	}
	if s := status(paid); s != "PAID" {
		t.Fatalf("paid order became %s", s)
	}
	var hist struct {
		Order struct{ Events []struct{ To, Actor string } }
	}
	m.payer.Do(t, `query($id:ID!){order(id:$id){events{to actor}}}`, map[string]any{"id": id}).Decode(t, &hist)
	if ev := hist.Order.Events; len(ev) != 2 || ev[1].To != "EXPIRED" || ev[1].Actor != "system" {
		t.Fatalf("history %+v", ev)
	}
	if r, _ := pay(m.payer, id); r.Code() != "ORDER_EXPIRED" {
		t.Fatalf("pay expired: %+v", r.Errors)
	}
	if a, _ := balance(t, m.payer, "CNY"); a != "9.00" {
		t.Fatalf("payer has %s", a)
	}
	m.srv.AssertLedger(t)
}
