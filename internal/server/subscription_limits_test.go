package server_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paygraph/paygraph/internal/testutil"
)

func TestSubscriptionsPerConnectionAreCapped(t *testing.T) {
	// The default: 32 per connection.
	w := newSubWorld(t, testutil.Base(t))
	for _, protocol := range []string{testutil.GraphQLTransportWS, testutil.GraphQLWS} {
		t.Run(protocol, func(t *testing.T) {
			ws := testutil.DialWS(t, w.srv.URL, protocol, subBearer(w.payerToken))
			_, before := w.watch.Counts()
			w.listening(t, 32, func() {
				for i := range 32 {
					ws.Subscribe(t, fmt.Sprint(i), subWallet, nil)
				}
			})
			ws.Subscribe(t, "33", subWallet, nil)
			errs := subErrors(t, ws, "33")
			subCheckCode(t, errs, "RATE_LIMITED")
			if !strings.Contains(errs[0].Message, "at most 32") {
				t.Fatalf("message %q does not name the limit", errs[0].Message)
			}
			// Refused before it reached the event bus.
			if _, total := w.watch.Counts(); total != before+32 {
				t.Fatalf("%d subscriptions registered; want 32", total-before)
			}
			// Stopping one makes room for another.
			ws.Unsubscribe(t, "0")
			if r := ws.Next(t, subWait); r.Type != "complete" || r.ID != "0" {
				t.Fatalf("got %s for %q; want complete of 0", r.Type, r.ID)
			}
			w.listening(t, 1, func() { ws.Subscribe(t, "34", subWallet, nil) })
			ws.Close()
			w.watch.WaitActive(t, 0)
		})
	}
}

func TestSubscriptionsPerUserAreCapped(t *testing.T) {
	w := newSubWorld(t, connEnv(t, "PAYGRAPH_MAX_SUBSCRIPTIONS_PER_CONN", "3", "PAYGRAPH_MAX_SUBSCRIPTIONS_PER_USER", "5"))
	id := w.order(t)
	// Warm up what lives as long as the server.
	warm := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payerToken))
	w.listening(t, 1, func() { warm.Subscribe(t, "1", subWallet, nil) })
	warm.Close()
	w.watch.WaitActive(t, 0)
	ignore := goleak.IgnoreCurrent()

	a := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payerToken))
	b := testutil.DialWS(t, w.srv.URL, testutil.GraphQLWS, subBearer(w.payerToken))
	w.listening(t, 5, func() {
		a.Subscribe(t, "1", subWallet, nil)
		a.Subscribe(t, "2", subMyOrders, nil)
		a.Subscribe(t, "3", subOrderStatus, map[string]any{"id": id})
		b.Subscribe(t, "1", subWallet, nil)
		b.Subscribe(t, "2", subWallet, nil)
	})
	_, total := w.watch.Counts()
	a.Subscribe(t, "4", subWallet, nil)
	errs := subErrors(t, a, "4")
	subCheckCode(t, errs, "RATE_LIMITED")
	if !strings.Contains(errs[0].Message, "at most 3") {
		t.Fatalf("per connection: %q", errs[0].Message)
	}
	b.Subscribe(t, "3", subOrderStatus, map[string]any{"id": id})
	errs = subErrors(t, b, "3")
	subCheckCode(t, errs, "RATE_LIMITED")
	if !strings.Contains(errs[0].Message, "at most 5") {
		t.Fatalf("per user: %q", errs[0].Message)
	}
	sse := testutil.SubscribeSSE(t.Context(), t, w.srv.URL, w.payerToken, subWallet, nil)
	if r := subSSENext(t, sse); r.Code() != "RATE_LIMITED" {
		t.Fatalf("SSE over the cap: %+v", r.Errors)
	}
	// Another user is not affected.
	other := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payeeToken))
	w.listening(t, 1, func() { other.Subscribe(t, "1", subWallet, nil) })
	if _, now := w.watch.Counts(); now != total+1 {
		t.Fatalf("%d subscriptions reached the bus; want only the other user's", now-total)
	}

	// Closing a connection gives its subscriptions back.
	a.Close()
	w.watch.WaitActive(t, 3)
	w.listening(t, 1, func() { b.Subscribe(t, "4", subMyOrders, nil) })
	w.pay(t, id)
	for { // b's wallet subscriptions see the payment too
		r := b.Next(t, subWait)
		if r.ID != "4" {
			continue
		}
		if ev := subDecodeMyOrder(t, r); ev.To != "PAID" || ev.Order.ID != id {
			t.Fatalf("got %+v", ev)
		}
		break
	}

	b.Close()
	other.Close()
	w.watch.WaitActive(t, 0)
	deadline := time.Now().Add(subWait)
	for {
		err := goleak.Find(ignore)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left behind: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.srv.AssertLedger(t)
}

// BenchmarkSubscriptionCost measures what one live subscription holds on
// the server: goroutines, heap and stack, with b.N subscriptions open on
// one WebSocket at once.
//
//	go test -run '^$' -bench SubscriptionCost -benchtime 2000x ./internal/server/
func BenchmarkSubscriptionCost(b *testing.B) {
	env := testutil.Base(b)
	env["PAYGRAPH_MAX_SUBSCRIPTIONS_PER_CONN"] = "10000"
	env["PAYGRAPH_MAX_SUBSCRIPTIONS_PER_USER"] = "10000"
	srv := testutil.Start(b, env)
	watch := testutil.WatchSubscriptions(srv)
	c := srv.Client()
	_, tok := c.NewUser(b, "bench")
	ws := testutil.DialWS(b, srv.URL, testutil.GraphQLTransportWS, subBearer(tok))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g := runtime.NumGoroutine()
	b.ResetTimer()
	for i := range b.N {
		ws.Subscribe(b, fmt.Sprint(i), subWallet, nil)
	}
	watch.WaitTotal(b, b.N)
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := float64(b.N)
	b.ReportMetric(float64(runtime.NumGoroutine()-g)/n, "goroutines/sub")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/n, "heap-B/sub")
	b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/n, "stack-B/sub")
}
