package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// TestMain checks that the package's tests leave no goroutine behind: every
// server, WebSocket, SSE stream and event bus they start must be gone once
// they end. Nothing is ignored: test servers close their clients' idle
// connections (httptest.Server.Close closes those of http.DefaultTransport
// too), and the SSE client keeps no idle connection.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Bounds of the waits in these tests.
const (
	subWait    = 10 * time.Second       // for something that must happen
	subQuiet   = 300 * time.Millisecond // to see that something does not
	subClosing = 5 * time.Second        // for the server to close a WebSocket
)

const (
	subOrderStatus = `subscription($id:ID!){orderStatusChanged(orderId:$id){id from to actor order{id status}}}`
	subMyOrders    = `subscription{myOrderEvents{to order{id}}}`
	subWallet      = `subscription{walletChanged{wallet{asset available} entry{amount kind}}}`
)

// subWorld is a server with a payer (funded with 10.00 CNY), a payee, a
// stranger and an app "shop" with its SERVICE token.
type subWorld struct {
	srv   *testutil.Server
	watch *testutil.SubscriptionWatch
	c     *testutil.Client
	admin *testutil.Client
	svc   *testutil.Client

	svcToken                string
	payerID, payerToken     string
	payeeID, payeeToken     string
	strangerID, strangerTok string
}

func newSubWorld(t *testing.T, env testutil.Env) *subWorld {
	t.Helper()
	srv := testutil.Start(t, env)
	w := &subWorld{srv: srv, watch: testutil.WatchSubscriptions(srv), c: srv.Client()}
	w.admin = w.c.As(w.c.AdminToken(t))
	w.svcToken = subCreateApp(t, w.admin, "shop")
	w.svc = w.c.As(w.svcToken)
	w.payerID, w.payerToken = w.c.NewUser(t, "payer")
	w.payeeID, w.payeeToken = w.c.NewUser(t, "payee")
	w.strangerID, w.strangerTok = w.c.NewUser(t, "stranger")
	w.credit(t, w.payerID, "10.00")
	return w
}

func subCreateApp(t *testing.T, admin *testutil.Client, name string) string {
	t.Helper()
	var out struct{ CreateApp struct{ ServiceToken string } }
	admin.Do(t, `mutation($n:String!){createApp(name:$n){serviceToken}}`, map[string]any{"n": name}).Decode(t, &out)
	return out.CreateApp.ServiceToken
}

func (w *subWorld) credit(t *testing.T, userID, amount string) {
	t.Helper()
	w.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`,
		map[string]any{"in": map[string]any{"userId": userID, "asset": "CNY", "amount": amount}}).Decode(t, &struct{}{})
}

// subOrder creates a 1.00 CNY order through svc and returns its id.
func subOrder(t *testing.T, svc *testutil.Client, payerID, payeeID string) string {
	t.Helper()
	var out struct {
		CreatePaymentOrder struct{ ID, Status string }
	}
	svc.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id status}}`, map[string]any{"in": map[string]any{
		"payerUserId": payerID, "payeeUserId": payeeID,
		"payInfo": []any{map[string]any{"tokenId": "CNY", "amount": "1.00"}},
	}}).Decode(t, &out)
	if out.CreatePaymentOrder.Status != "PENDING" {
		t.Fatalf("new order is %+v", out.CreatePaymentOrder)
	}
	return out.CreatePaymentOrder.ID
}

// subPay pays orderID as the holder of token, over HTTP.
func subPay(t *testing.T, c *testutil.Client, token, orderID string) {
	t.Helper()
	var out struct{ Pay struct{ ID, Status string } }
	c.As(token).Do(t, `mutation($in:PayInput!){pay(input:$in){id status}}`,
		map[string]any{"in": map[string]any{"orderId": orderID}}).Decode(t, &out)
	if out.Pay.Status != "PAID" {
		t.Fatalf("pay returned %+v", out.Pay)
	}
}

func (w *subWorld) order(t *testing.T) string   { return subOrder(t, w.svc, w.payerID, w.payeeID) }
func (w *subWorld) pay(t *testing.T, id string) { subPay(t, w.c, w.payerToken, id) }

// listening runs start, which starts n subscriptions, and waits until the
// server has registered them with its event bus: no protocol acknowledges
// a subscription, and an event published before would not reach it. It
// first lets the events of earlier changes arrive (see Settle), so that
// the subscriptions see only what happens next.
func (w *subWorld) listening(t *testing.T, n int, start func()) {
	t.Helper()
	w.watch.Settle(t)
	_, before := w.watch.Counts()
	start()
	w.watch.WaitTotal(t, before+n)
}

func subBearer(tok string) map[string]any { return map[string]any{"Authorization": "Bearer " + tok} }

// subOrderEvent is what subOrderStatus selects.
type subOrderEvent struct {
	ID, To, Actor string
	From          *string
	Order         struct{ ID, Status string }
}

func subDecodeOrder(t *testing.T, r *testutil.WSResult) subOrderEvent {
	t.Helper()
	if r.Type != "next" {
		t.Fatalf("got %s %+v; want a result", r.Type, r.Errors)
	}
	var out struct{ OrderStatusChanged subOrderEvent }
	r.Decode(t, &out)
	return out.OrderStatusChanged
}

// checkPaid checks the event a subscriber of orderID sees when the payer
// pays it.
func (w *subWorld) checkPaid(t *testing.T, ev subOrderEvent, orderID string) {
	t.Helper()
	if ev.To != "PAID" || ev.From == nil || *ev.From != "PENDING" || ev.Order.ID != orderID ||
		ev.Order.Status != "PAID" || ev.Actor != "user:"+w.payerID || ev.ID == "" {
		t.Fatalf("got %+v (from %v); want PENDING → PAID of order %s by user:%s", ev, ev.From, orderID, w.payerID)
	}
}

func TestSubscriptionOrderStatusChanged(t *testing.T) {
	w := newSubWorld(t, testutil.Base(t))
	for _, tc := range []struct {
		name, protocol string
		init           map[string]any
	}{
		{"graphql-transport-ws", testutil.GraphQLTransportWS, subBearer(w.payerToken)},
		{"graphql-transport-ws token key", testutil.GraphQLTransportWS, map[string]any{"token": w.payerToken}},
		{"graphql-ws", testutil.GraphQLWS, subBearer(w.payerToken)},
		{"graphql-ws token key", testutil.GraphQLWS, map[string]any{"token": w.payerToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := w.order(t)
			ws := testutil.DialWS(t, w.srv.URL, tc.protocol, tc.init)
			w.listening(t, 1, func() { ws.Subscribe(t, "1", subOrderStatus, map[string]any{"id": id}) })
			w.pay(t, id)
			r := ws.Next(t, subWait)
			if r.ID != "1" {
				t.Fatalf("message for operation %q", r.ID)
			}
			w.checkPaid(t, subDecodeOrder(t, r), id)

			// Stopping the subscription ends it on the server too.
			ws.Unsubscribe(t, "1")
			w.watch.WaitActive(t, 0)
		})
	}
	t.Run("SSE", func(t *testing.T) {
		id := w.order(t)
		var ch <-chan json.RawMessage
		w.listening(t, 1, func() {
			ch = testutil.SubscribeSSE(t.Context(), t, w.srv.URL, w.payerToken, subOrderStatus, map[string]any{"id": id})
		})
		w.pay(t, id)
		var out struct{ OrderStatusChanged subOrderEvent }
		subSSENext(t, ch).Decode(t, &out)
		w.checkPaid(t, out.OrderStatusChanged, id)
	})
}

// subSSENext returns the next result on ch.
func subSSENext(t *testing.T, ch <-chan json.RawMessage) *testutil.Response {
	t.Helper()
	select {
	case b, ok := <-ch:
		if !ok {
			t.Fatal("the SSE stream ended; want a result")
		}
		var r testutil.Response
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("SSE event %s: %v", b, err)
		}
		return &r
	case <-time.After(subWait):
		t.Fatal("no SSE event")
	}
	return nil
}

type subWalletEvent struct {
	Wallet struct{ Asset, Available string }
	Entry  *struct{ Amount, Kind string }
}

func subDecodeWallet(t *testing.T, r *testutil.WSResult) subWalletEvent {
	t.Helper()
	if r.Type != "next" {
		t.Fatalf("got %s %+v; want a result", r.Type, r.Errors)
	}
	var out struct{ WalletChanged subWalletEvent }
	r.Decode(t, &out)
	return out.WalletChanged
}

type subMyOrderEvent struct {
	To    string
	Order struct{ ID string }
}

func subDecodeMyOrder(t *testing.T, r *testutil.WSResult) subMyOrderEvent {
	t.Helper()
	if r.Type != "next" {
		t.Fatalf("got %s %+v; want a result", r.Type, r.Errors)
	}
	var out struct{ MyOrderEvents subMyOrderEvent }
	r.Decode(t, &out)
	return out.MyOrderEvents
}

func TestSubscriptionWalletAndMyOrderEvents(t *testing.T) {
	w := newSubWorld(t, testutil.Base(t))
	payer := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payerToken))
	payee := testutil.DialWS(t, w.srv.URL, testutil.GraphQLWS, map[string]any{"token": w.payeeToken})
	svc := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.svcToken))
	w.listening(t, 4, func() {
		payer.Subscribe(t, "wallet", subWallet, nil)
		// Two operations on one connection.
		payee.Subscribe(t, "wallet", subWallet, nil)
		payee.Subscribe(t, "orders", subMyOrders, nil)
		svc.Subscribe(t, "orders", subMyOrders, nil)
	})

	id := w.order(t)
	// The app sees its order created; the payee too.
	if ev := subDecodeMyOrder(t, svc.Next(t, subWait)); ev.To != "PENDING" || ev.Order.ID != id {
		t.Fatalf("service got %+v; want order %s PENDING", ev, id)
	}
	r := payee.Next(t, subWait)
	if ev := subDecodeMyOrder(t, r); r.ID != "orders" || ev.To != "PENDING" || ev.Order.ID != id {
		t.Fatalf("payee got %+v on %q; want order %s PENDING", ev, r.ID, id)
	}

	w.pay(t, id)
	ev := subDecodeWallet(t, payer.Next(t, subWait))
	if ev.Wallet.Asset != "CNY" || ev.Wallet.Available != "9.00" || ev.Entry == nil || ev.Entry.Amount != "-1.00" || ev.Entry.Kind != "PAYMENT" {
		t.Fatalf("payer got %+v (entry %+v); want CNY at 9.00 after a -1.00 PAYMENT", ev, ev.Entry)
	}
	if ev := subDecodeMyOrder(t, svc.Next(t, subWait)); ev.To != "PAID" || ev.Order.ID != id {
		t.Fatalf("service got %+v; want order %s PAID", ev, id)
	}
	// The payee's two operations each get their event, in either order.
	seen := map[string]bool{}
	for range 2 {
		r := payee.Next(t, subWait)
		switch r.ID {
		case "wallet":
			ev := subDecodeWallet(t, r)
			if ev.Wallet.Asset != "CNY" || ev.Wallet.Available != "1.00" || ev.Entry == nil || ev.Entry.Amount != "1.00" || ev.Entry.Kind != "PAYMENT" {
				t.Fatalf("payee got %+v (entry %+v); want CNY at 1.00 after a +1.00 PAYMENT", ev, ev.Entry)
			}
		case "orders":
			if ev := subDecodeMyOrder(t, r); ev.To != "PAID" || ev.Order.ID != id {
				t.Fatalf("payee got %+v; want order %s PAID", ev, id)
			}
		default:
			t.Fatalf("message for operation %q", r.ID)
		}
		if seen[r.ID] {
			t.Fatalf("two messages for %q", r.ID)
		}
		seen[r.ID] = true
	}
	// Nothing more: one wallet change each, one step of one order.
	payer.ExpectSilence(t, subQuiet)
	payee.ExpectSilence(t, subQuiet)
	svc.ExpectSilence(t, subQuiet)
}

// subErrors reads operation id's messages up to its end and returns the
// errors it got, failing if it got any data.
func subErrors(t *testing.T, ws *testutil.WSConn, id string) []testutil.GQLError {
	t.Helper()
	var errs []testutil.GQLError
	for {
		r := ws.Next(t, subWait)
		if r.ID != id {
			t.Fatalf("message for operation %q; want %q", r.ID, id)
		}
		switch r.Type {
		case "complete":
			return errs
		case "error":
			// graphql-transport-ws: an error message ends the operation.
			if ws.Protocol == testutil.GraphQLTransportWS {
				return append(errs, r.Errors...)
			}
		case "next":
			if len(r.Data) != 0 && string(r.Data) != "null" {
				t.Fatalf("data leaked: %s", r.Data)
			}
		}
		errs = append(errs, r.Errors...)
	}
}

func subCheckCode(t *testing.T, errs []testutil.GQLError, code string) {
	t.Helper()
	if len(errs) == 0 || errs[0].Code() != code {
		t.Fatalf("got errors %+v; want %s", errs, code)
	}
}

func TestSubscriptionVisibility(t *testing.T) {
	w := newSubWorld(t, testutil.Base(t))
	id := w.order(t)

	for _, protocol := range []string{testutil.GraphQLTransportWS, testutil.GraphQLWS} {
		t.Run("another user's order over "+protocol, func(t *testing.T) {
			ws := testutil.DialWS(t, w.srv.URL, protocol, subBearer(w.strangerTok))
			ws.Subscribe(t, "1", subOrderStatus, map[string]any{"id": id})
			subCheckCode(t, subErrors(t, ws, "1"), "FORBIDDEN")
			ws.Subscribe(t, "2", subOrderStatus, map[string]any{"id": "999999"})
			subCheckCode(t, subErrors(t, ws, "2"), "NOT_FOUND")
			// A SERVICE token has no wallet.
			svc := testutil.DialWS(t, w.srv.URL, protocol, subBearer(w.svcToken))
			svc.Subscribe(t, "1", subWallet, nil)
			subCheckCode(t, subErrors(t, svc, "1"), "FORBIDDEN")
		})
		t.Run("no token over "+protocol, func(t *testing.T) {
			ws := testutil.DialWS(t, w.srv.URL, protocol, nil)
			for i, q := range []string{subOrderStatus, subMyOrders, subWallet} {
				opID := fmt.Sprint(i)
				ws.Subscribe(t, opID, q, map[string]any{"id": id})
				subCheckCode(t, subErrors(t, ws, opID), "UNAUTHENTICATED")
			}
		})
		for name, init := range map[string]map[string]any{
			"bad bearer token": subBearer("not-a-token"),
			"bad token key":    {"token": "not-a-token"},
			"bad scheme":       {"Authorization": "Basic " + w.payerToken},
		} {
			t.Run(name+" over "+protocol, func(t *testing.T) {
				ws := testutil.OpenWS(t, w.srv.URL, protocol)
				err := ws.Init(init)
				if name == "bad scheme" {
					// No bearer token at all: the connection is anonymous.
					if err != nil {
						t.Fatal(err)
					}
					ws.Subscribe(t, "1", subMyOrders, nil)
					subCheckCode(t, subErrors(t, ws, "1"), "UNAUTHENTICATED")
					return
				}
				if err == nil {
					t.Fatal("connection_ack for a bad token")
				}
				t.Logf("refused: %v", err)
				cerr := ws.WaitClosed(t, subClosing)
				if protocol == testutil.GraphQLTransportWS && testutil.CloseStatus(cerr) != 4403 {
					t.Fatalf("closed with %v; graphql-transport-ws wants 4403 Forbidden", cerr)
				}
			})
		}
	}

	t.Run("SSE", func(t *testing.T) {
		for _, tc := range []struct{ token, code string }{{w.strangerTok, "FORBIDDEN"}, {"", "UNAUTHENTICATED"}, {"not-a-token", "UNAUTHENTICATED"}} {
			ch := testutil.SubscribeSSE(t.Context(), t, w.srv.URL, tc.token, subOrderStatus, map[string]any{"id": id})
			r := subSSENext(t, ch)
			if r.Code() != tc.code || (len(r.Data) != 0 && string(r.Data) != "null") {
				t.Fatalf("token %q: got %s %+v; want %s and no data", tc.token, r.Data, r.Errors, tc.code)
			}
			select {
			case b, ok := <-ch:
				if ok {
					t.Fatalf("token %q: then got %s", tc.token, b)
				}
			case <-time.After(subWait):
				t.Fatal("the refused SSE stream did not end")
			}
		}
	})

	t.Run("other users' payments stay private", func(t *testing.T) {
		// Another app's service and a stranger listen to all they may.
		other := w.c.As(subCreateApp(t, w.admin, "other"))
		otherSvc := testutil.DialWS(t, w.srv.URL, testutil.GraphQLWS, map[string]any{"token": other.Token})
		stranger := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.strangerTok))
		var sse <-chan json.RawMessage
		w.listening(t, 4, func() {
			otherSvc.Subscribe(t, "orders", subMyOrders, nil)
			stranger.Subscribe(t, "orders", subMyOrders, nil)
			stranger.Subscribe(t, "wallet", subWallet, nil)
			sse = testutil.SubscribeSSE(t.Context(), t, w.srv.URL, w.strangerTok, subWallet, nil)
		})

		w.pay(t, w.order(t)) // created and paid: two order steps, two wallet changes
		stranger.ExpectSilence(t, subQuiet)
		otherSvc.ExpectSilence(t, subQuiet)
		select {
		case b := <-sse:
			t.Fatalf("stranger's SSE got %s", b)
		case <-time.After(subQuiet):
		}

		// The streams work: their own events come, and come first.
		w.credit(t, w.strangerID, "2.00")
		mine := subOrder(t, other, w.strangerID, w.payeeID)
		seen := map[string]bool{}
		for range 2 {
			r := stranger.Next(t, subWait)
			switch r.ID {
			case "wallet":
				if ev := subDecodeWallet(t, r); ev.Wallet.Available != "2.00" || ev.Entry == nil || ev.Entry.Amount != "2.00" {
					t.Fatalf("stranger got %+v (entry %+v); want its 2.00 credit", ev, ev.Entry)
				}
			case "orders":
				if ev := subDecodeMyOrder(t, r); ev.Order.ID != mine || ev.To != "PENDING" {
					t.Fatalf("stranger got %+v; want its order %s", ev, mine)
				}
			default:
				t.Fatalf("message for operation %q", r.ID)
			}
			seen[r.ID] = true
		}
		if !seen["wallet"] || !seen["orders"] {
			t.Fatalf("stranger saw %v", seen)
		}
		var out struct{ WalletChanged subWalletEvent }
		subSSENext(t, sse).Decode(t, &out)
		if out.WalletChanged.Wallet.Available != "2.00" {
			t.Fatalf("stranger's SSE got %+v", out.WalletChanged)
		}
		if ev := subDecodeMyOrder(t, otherSvc.Next(t, subWait)); ev.Order.ID != mine {
			t.Fatalf("the other app got %+v; want its order %s", ev, mine)
		}
	})
}

func TestSubscriptionServerShutdownClosesWebSockets(t *testing.T) {
	w := newSubWorld(t, testutil.Base(t))
	id := w.order(t)
	conns := map[string]*testutil.WSConn{}
	w.listening(t, 4, func() {
		for _, protocol := range []string{testutil.GraphQLTransportWS, testutil.GraphQLWS} {
			ws := testutil.DialWS(t, w.srv.URL, protocol, subBearer(w.payerToken))
			ws.Subscribe(t, "1", subOrderStatus, map[string]any{"id": id})
			ws.Subscribe(t, "2", subWallet, nil)
			conns[protocol] = ws
		}
	})
	start := time.Now()
	w.srv.Shutdown()
	for protocol, ws := range conns {
		err := ws.WaitClosed(t, subClosing)
		t.Logf("%s closed after %v: %v", protocol, time.Since(start).Round(time.Millisecond), err)
		if code := testutil.CloseStatus(err); code != 1000 {
			t.Errorf("%s: close code %d (%v); want 1000, a clean close", protocol, code, err)
		}
	}
	// The subscriptions are gone from the bus too.
	w.watch.WaitActive(t, 0)
}

func TestSubscriptionAcrossInstances(t *testing.T) {
	if testutil.PostgresURL() == "" {
		t.Skip("PAYGRAPH_TEST_POSTGRES_URL is unset: instances share events through PostgreSQL only")
	}
	url := testutil.NewDatabaseURL(t)
	envA, envB := testutil.Base(t), testutil.Base(t)
	envA["PAYGRAPH_DATABASE_URL"], envB["PAYGRAPH_DATABASE_URL"] = url, url
	a := newSubWorld(t, envA) // migrates, creates the users and the app
	b := testutil.Start(t, envB)
	cb := b.Client()

	id := subOrder(t, cb.As(a.svcToken), a.payerID, a.payeeID)
	ws := testutil.DialWS(t, a.srv.URL, testutil.GraphQLTransportWS, subBearer(a.payerToken))
	payee := testutil.DialWS(t, a.srv.URL, testutil.GraphQLWS, subBearer(a.payeeToken))
	a.listening(t, 2, func() {
		ws.Subscribe(t, "1", subOrderStatus, map[string]any{"id": id})
		payee.Subscribe(t, "w", subWallet, nil)
	})
	subPay(t, cb, a.payerToken, id) // through instance B
	a.checkPaid(t, subDecodeOrder(t, ws.Next(t, subWait)), id)
	if ev := subDecodeWallet(t, payee.Next(t, subWait)); ev.Wallet.Available != "1.00" || ev.Entry == nil || ev.Entry.Amount != "1.00" {
		t.Fatalf("payee on A got %+v (entry %+v)", ev, ev.Entry)
	}
	ws.ExpectSilence(t, subQuiet) // delivered once, not once per instance
}

func TestSubscriptionsLeakNothing(t *testing.T) {
	w := newSubWorld(t, testutil.Base(t))
	id := w.order(t)
	// Warm up: one round trip of each kind starts what lives as long as the
	// server (connection pools and the like).
	for _, protocol := range []string{testutil.GraphQLTransportWS, testutil.GraphQLWS} {
		ws := testutil.DialWS(t, w.srv.URL, protocol, subBearer(w.payerToken))
		w.listening(t, 1, func() { ws.Subscribe(t, "1", subWallet, nil) })
		ws.Close()
	}
	w.watch.WaitActive(t, 0)
	ignore := goleak.IgnoreCurrent()

	// 20 subscriptions on 8 connections: some stopped by the client, the
	// rest ended by closing their connection.
	var conns []*testutil.WSConn
	n := 0
	w.listening(t, 20, func() {
		for i := range 8 {
			protocol := testutil.GraphQLTransportWS
			if i%2 == 1 {
				protocol = testutil.GraphQLWS
			}
			ws := testutil.DialWS(t, w.srv.URL, protocol, subBearer(w.payerToken))
			for j := range 2 + i%2 {
				q := []string{subOrderStatus, subWallet, subMyOrders}[j]
				ws.Subscribe(t, fmt.Sprint(j), q, map[string]any{"id": id})
				n++
			}
			conns = append(conns, ws)
		}
	})
	if n != 20 {
		t.Fatalf("started %d subscriptions", n)
	}
	w.watch.WaitActive(t, 20)
	for i, ws := range conns {
		if i%4 < 2 { // both protocols
			ws.Unsubscribe(t, "0")
			if r := ws.Next(t, subWait); r.Type != "complete" || r.ID != "0" {
				t.Fatalf("got %s for %q after stopping; want complete", r.Type, r.ID)
			}
		}
		ws.Close()
	}
	w.watch.WaitActive(t, 0)

	deadline := time.Now().Add(subWait)
	for {
		err := goleak.Find(ignore)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left behind by closed subscriptions: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSubscriptionServerShutdownEndsSSE(t *testing.T) {
	w := newSubWorld(t, testutil.Base(t))
	id := w.order(t)
	var ch <-chan json.RawMessage
	w.listening(t, 1, func() {
		ch = testutil.SubscribeSSE(t.Context(), t, w.srv.URL, w.payerToken, subOrderStatus, map[string]any{"id": id})
	})
	// An open SSE stream must not hold up a graceful shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.srv.HTTP.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an SSE stream open: %v", err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			// a last event may still be in flight; the stream must end next
			for range ch {
			}
		}
	case <-time.After(subClosing):
		t.Fatal("the SSE stream stayed open")
	}
}

func TestSubscriptionEndsWhenTheTokenIsRevoked(t *testing.T) {
	srv := testutil.StartWith(t, testutil.Base(t), server.Options{TokenRecheck: 100 * time.Millisecond})
	c := srv.Client()
	admin := c.As(c.AdminToken(t))
	var app struct {
		CreateApp struct {
			App          struct{ ID string }
			ServiceToken string
		}
	}
	admin.Do(t, `mutation{createApp(name:"game"){app{id} serviceToken}}`, nil).Decode(t, &app)
	ws := testutil.DialWS(t, srv.URL, testutil.GraphQLTransportWS, subBearer(app.CreateApp.ServiceToken))
	ws.Subscribe(t, "1", subMyOrders, nil)
	admin.Do(t, `mutation($id:ID!){rotateServiceToken(appId:$id){serviceToken}}`, map[string]any{"id": app.CreateApp.App.ID})
	// The stream ends (complete, or the socket closes) once the rotation is noticed.
	deadline := time.Now().Add(subClosing)
	for time.Now().Before(deadline) {
		m, err := ws.Read(time.Until(deadline))
		if err != nil && strings.Contains(err.Error(), "connection ended") || err == nil && m.Type == "complete" {
			return
		}
		if err != nil {
			t.Fatalf("the stream outlived its revoked token: %v", err)
		}
	}
	t.Fatal("the stream outlived its revoked token")
}
