package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/event"
	"github.com/paygraph/paygraph/ent/orderevent"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
	"github.com/paygraph/paygraph/internal/webhook"
)

// hookWait bounds the waits for a delivery that must happen.
const hookWait = 20 * time.Second

// hookEnv is a test environment whose webhooks may call a receiver on
// 127.0.0.1 (PostgreSQL's default refuses private addresses).
func hookEnv(t *testing.T, extra map[string]string) testutil.Env {
	env := testutil.Base(t)
	env["PAYGRAPH_WEBHOOK_ALLOW_PRIVATE"] = "true"
	maps.Copy(env, extra)
	return env
}

// hookCall is one request a receiver got.
type hookCall struct {
	At     time.Time
	Header http.Header
	Body   []byte
	Event  struct {
		ID, Type, CreatedAt string
		Data                json.RawMessage
	}
}

// receiver is a merchant's webhook endpoint on 127.0.0.1. answer gives
// the status of the n-th arrival (from 1) of an event id; nil answers 200.
type receiver struct {
	*httptest.Server
	answer func(n int) int

	mu      sync.Mutex
	calls   []hookCall
	seen    map[string]int
	changed chan struct{}
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{answer: answer, seen: map[string]int{}, changed: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	c := hookCall{At: time.Now(), Header: req.Header.Clone(), Body: body}
	_ = json.Unmarshal(body, &c.Event)
	r.mu.Lock()
	r.seen[c.Event.ID]++
	n := r.seen[c.Event.ID]
	r.calls = append(r.calls, c)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	status := http.StatusOK
	if r.answer != nil {
		status = r.answer(n)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status))
}

// all returns the calls so far.
func (r *receiver) all() []hookCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookCall(nil), r.calls...)
}

// wait returns the calls once ok says they are what the test waits for.
func (r *receiver) wait(t *testing.T, what string, ok func([]hookCall) bool) []hookCall {
	t.Helper()
	deadline := time.NewTimer(hookWait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		calls, ch := append([]hookCall(nil), r.calls...), r.changed
		r.mu.Unlock()
		if ok(calls) {
			return calls
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("waiting for %s: got %d calls: %s", what, len(calls), describeCalls(calls))
		}
	}
}

func describeCalls(calls []hookCall) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "\n  %s %s %s", c.At.Format("15:04:05.000"), c.Event.Type, c.Event.ID)
	}
	return b.String()
}

// ofType keeps the calls of events of type typ.
func ofType(calls []hookCall, typ string) []hookCall {
	var out []hookCall
	for _, c := range calls {
		if c.Event.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// hookWorld is a server with two apps, "shop" and "other", each with its
// SERVICE token, and a funded payer and a payee.
type hookWorld struct {
	srv                   *testutil.Server
	c, admin, shop, other *testutil.Client
	shopApp, otherApp     string
	payerID, payerTok     string
	payeeID               string
}

func newHookWorld(t *testing.T, srv *testutil.Server) *hookWorld {
	t.Helper()
	c := srv.Client()
	w := &hookWorld{srv: srv, c: c, admin: c.As(c.AdminToken(t))}
	var shopTok, otherTok string
	w.shopApp, shopTok = hookApp(t, w.admin, "shop")
	w.otherApp, otherTok = hookApp(t, w.admin, "other")
	w.shop, w.other = c.As(shopTok), c.As(otherTok)
	w.payerID, w.payerTok = c.NewUser(t, "payer")
	w.payeeID, _ = c.NewUser(t, "payee")
	w.admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`, map[string]any{"in": map[string]any{
		"userId": w.payerID, "asset": "CNY", "amount": "100.00"}}).Decode(t, &struct{}{})
	return w
}

func hookApp(t *testing.T, admin *testutil.Client, name string) (id, token string) {
	t.Helper()
	var out struct {
		CreateApp struct {
			App          struct{ ID string }
			ServiceToken string
		}
	}
	admin.Do(t, `mutation($n:String!){createApp(name:$n){app{id} serviceToken}}`, map[string]any{"n": name}).Decode(t, &out)
	return out.CreateApp.App.ID, out.CreateApp.ServiceToken
}

// endpoint creates an endpoint of the caller's app (a SERVICE) or of app
// (an ADMIN naming it).
func (w *hookWorld) endpoint(t *testing.T, c *testutil.Client, url string, events []string) (id, secret string) {
	t.Helper()
	var out struct {
		CreateWebhookEndpoint struct {
			Endpoint struct {
				ID, AppID, URL string
				Events         []string
				Enabled        bool
			}
			Secret string
		}
	}
	c.Do(t, `mutation($in:CreateWebhookEndpointInput!){createWebhookEndpoint(input:$in){endpoint{id appId url events enabled} secret}}`,
		map[string]any{"in": map[string]any{"url": url, "events": events}}).Decode(t, &out)
	e := out.CreateWebhookEndpoint
	if e.Endpoint.ID == "" || !strings.HasPrefix(e.Secret, webhook.SecretPrefix) || !e.Endpoint.Enabled || e.Endpoint.URL != url {
		t.Fatalf("created %+v", e)
	}
	return e.Endpoint.ID, e.Secret
}

// order creates a 1.00 CNY order through svc; pay pays it as the payer.
func (w *hookWorld) order(t *testing.T, svc *testutil.Client) string {
	return subOrder(t, svc, w.payerID, w.payeeID)
}

func (w *hookWorld) pay(t *testing.T, orderID string) { subPay(t, w.c, w.payerTok, orderID) }

// delivery is a webhookDeliveries row.
type delivery struct {
	ID, Kind, Status string
	Attempt          int
	HTTPStatus       *int
	DurationMs       *int
	Error            *string
	AttemptedAt      *time.Time
	NextAttemptAt    *time.Time
	Event            struct{ ID, Type string }
}

func deliveries(t *testing.T, c *testutil.Client, endpointID string) []delivery {
	t.Helper()
	var out struct {
		WebhookDeliveries struct {
			TotalCount int
			Edges      []struct{ Node delivery }
		}
	}
	c.Do(t, `query($id:ID!){webhookDeliveries(endpointId:$id, first:100){totalCount edges{node{
		id kind status attempt httpStatus durationMs error attemptedAt nextAttemptAt event{id type}}}}}`,
		map[string]any{"id": endpointID}).Decode(t, &out)
	ds := make([]delivery, len(out.WebhookDeliveries.Edges))
	for i, e := range out.WebhookDeliveries.Edges {
		ds[i] = e.Node
	}
	return ds
}

// waitDeliveries polls an endpoint's deliveries until ok accepts them.
func waitDeliveries(t *testing.T, c *testutil.Client, endpointID, what string, ok func([]delivery) bool) []delivery {
	t.Helper()
	deadline := time.Now().Add(hookWait)
	for {
		ds := deliveries(t, c, endpointID)
		if ok(ds) {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: deliveries %+v", what, ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func settled(ds []delivery) bool {
	for _, d := range ds {
		if d.Status == "PENDING" || d.Status == "SENDING" {
			return false
		}
	}
	return len(ds) > 0
}

// verify checks a call's signature with secret and its headers.
func verify(t *testing.T, c hookCall, secrets ...string) {
	t.Helper()
	sig := c.Header.Get("Paygraph-Signature")
	for _, s := range secrets {
		if err := webhook.Verify(sig, c.Body, s, time.Now().Unix(), 300); err != nil {
			t.Fatalf("signature %q does not verify with a secret: %v", sig, err)
		}
	}
	if c.Header.Get("Paygraph-Event-Id") != c.Event.ID || c.Header.Get("Paygraph-Event-Type") != c.Event.Type ||
		c.Header.Get("Content-Type") != "application/json" || c.Event.ID == "" || c.Event.CreatedAt == "" {
		t.Fatalf("headers %v for event %+v", c.Header, c.Event)
	}
}

func TestWebhookSignedOrderPaidOnlyForItsApp(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, nil))
	w := newHookWorld(t, srv)
	rcv := newReceiver(t, nil)
	epID, secret := w.endpoint(t, w.shop, rcv.URL+"/hooks", []string{"order.paid"})

	// Another app's paid order reaches no endpoint of the shop.
	foreign := w.order(t, w.other)
	w.pay(t, foreign)
	id := w.order(t, w.shop)
	w.pay(t, id)

	calls := rcv.wait(t, "order.paid", func(cs []hookCall) bool { return len(cs) >= 1 })
	c := calls[0]
	verify(t, c, secret)
	if c.Event.Type != "order.paid" {
		t.Fatalf("first event %s", c.Event.Type)
	}
	var data struct {
		ID, Status, StatusDesc, AppID, PayerID, Amount, Asset string
		PayInfo                                               []struct{ TokenID, Amount, PaidAmount string }
	}
	if err := json.Unmarshal(c.Event.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.ID != id || data.Status != "PAID" || data.StatusDesc != "已支付" || data.AppID != w.shopApp ||
		data.PayerID != w.payerID || data.Amount != "1.00" || data.Asset != "CNY" ||
		len(data.PayInfo) != 1 || data.PayInfo[0].PaidAmount != "1.00" {
		t.Fatalf("data %s", c.Event.Data)
	}
	if err := webhook.Verify(c.Header.Get("Paygraph-Signature"), c.Body, "whsec_wrong", time.Now().Unix(), 300); err == nil {
		t.Fatal("a wrong secret verifies")
	}

	ds := waitDeliveries(t, w.shop, epID, "the delivery recorded", settled)
	if len(ds) != 1 || ds[0].Status != "DELIVERED" || *ds[0].HTTPStatus != 200 || ds[0].Attempt != 1 ||
		ds[0].Event.ID != c.Event.ID || ds[0].Kind != "EVENT" || ds[0].DurationMs == nil {
		t.Fatalf("deliveries %+v", ds)
	}
	// Only the shop's order.paid, once: not its order.pending, not the other app's.
	if all := rcv.all(); len(all) != 1 {
		t.Fatalf("calls: %s", describeCalls(all))
	}

	// The events query shows the shop its own order's steps, in seq order.
	var ev struct {
		Events struct {
			Edges []struct {
				Node struct {
					ID, Type, AppID, OrderID, Data string
					Seq                            int
				}
			}
		}
	}
	w.shop.Do(t, `query($o:ID!){events(where:{orderId:$o}){edges{node{id type appId orderId seq data}}}}`,
		map[string]any{"o": id}).Decode(t, &ev)
	var steps []string
	for _, e := range ev.Events.Edges {
		if e.Node.AppID != w.shopApp || e.Node.OrderID != id {
			t.Fatalf("event %+v", e.Node)
		}
		steps = append(steps, fmt.Sprintf("%s:%d", e.Node.Type, e.Node.Seq))
	}
	// Its wallet changes too (one per wallet moved: the payer, then the
	// payee), numbered per wallet: the payer was credited and paid the
	// other app before.
	if got := strings.Join(steps, " "); got != "order.pending:1 order.paid:2 wallet.changed:3 wallet.changed:2" {
		t.Fatalf("events of the order: %s", got)
	}
	var foreignEvents struct{ Events struct{ TotalCount int } }
	w.shop.Do(t, `query($o:ID!){events(where:{orderId:$o}){totalCount}}`, map[string]any{"o": foreign}).Decode(t, &foreignEvents)
	if foreignEvents.Events.TotalCount != 0 {
		t.Fatalf("the shop sees %d events of another app's order", foreignEvents.Events.TotalCount)
	}
	srv.AssertLedger(t)
}

func TestWebhookRetriesOnTheConfiguredSchedule(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, map[string]string{"PAYGRAPH_WEBHOOK_RETRIES": "100ms,200ms"}))
	w := newHookWorld(t, srv)
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	epID, secret := w.endpoint(t, w.shop, rcv.URL, []string{"order.paid"})
	id := w.order(t, w.shop)
	w.pay(t, id)

	calls := rcv.wait(t, "three attempts", func(cs []hookCall) bool { return len(cs) >= 3 })
	for _, c := range calls {
		verify(t, c, secret)
		if c.Event.ID != calls[0].Event.ID {
			t.Fatalf("attempts of different events: %s", describeCalls(calls))
		}
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < 100*time.Millisecond {
		t.Fatalf("second attempt %s after the first; the schedule says 100ms", gap)
	}
	if gap := calls[2].At.Sub(calls[1].At); gap < 200*time.Millisecond {
		t.Fatalf("third attempt %s after the second; the schedule says 200ms", gap)
	}
	ds := waitDeliveries(t, w.shop, epID, "three attempts recorded", func(ds []delivery) bool { return len(ds) == 3 && settled(ds) })
	// Newest first.
	want := []struct {
		status string
		code   int
		delay  time.Duration
	}{{"DELIVERED", 200, 0}, {"RETRYING", 500, 200 * time.Millisecond}, {"RETRYING", 500, 100 * time.Millisecond}}
	for i, d := range ds {
		if d.Attempt != 3-i || d.Status != want[i].status || d.HTTPStatus == nil || *d.HTTPStatus != want[i].code {
			t.Fatalf("delivery %d: %+v", i, d)
		}
		if want[i].delay == 0 {
			if d.NextAttemptAt != nil || d.Error != nil {
				t.Fatalf("delivered attempt %+v", d)
			}
			continue
		}
		// The schedule's step after the attempt ended, plus up to 10 % jitter.
		if d.NextAttemptAt == nil || d.DurationMs == nil || d.NextAttemptAt.Sub(*d.AttemptedAt) < want[i].delay ||
			d.NextAttemptAt.Sub(*d.AttemptedAt) > want[i].delay*11/10+time.Duration(*d.DurationMs+2)*time.Millisecond ||
			d.Error == nil || !strings.HasPrefix(*d.Error, "HTTP 500") {
			t.Fatalf("failed attempt %+v", d)
		}
	}
	// Ten more seconds would change nothing: the event is delivered.
	if n := len(rcv.all()); n != 3 {
		t.Fatalf("%d calls", n)
	}
	srv.AssertLedger(t)
}

func TestWebhookGivesUpAfterTheSchedule(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, map[string]string{"PAYGRAPH_WEBHOOK_RETRIES": "50ms"}))
	w := newHookWorld(t, srv)
	rcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	epID, _ := w.endpoint(t, w.shop, rcv.URL, []string{"order.paid"})
	w.pay(t, w.order(t, w.shop))
	ds := waitDeliveries(t, w.shop, epID, "the last attempt", func(ds []delivery) bool { return len(ds) == 2 && settled(ds) })
	if ds[0].Attempt != 2 || ds[0].Status != "FAILED" || ds[0].NextAttemptAt != nil || *ds[0].HTTPStatus != 503 ||
		ds[1].Status != "RETRYING" {
		t.Fatalf("deliveries %+v", ds)
	}
	if n := len(rcv.all()); n != 2 {
		t.Fatalf("%d calls; want 2", n)
	}
}

// startStoppable starts a server that the test may stop before it ends
// (a restart on the same database).
func startStoppable(t *testing.T, env testutil.Env) (*testutil.Server, func()) {
	t.Helper()
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	pw := auth.Passwords{Cost: 4}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler), server.Options{Passwords: &pw})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	hs.Listener = srv.ConfigureHTTP(hs.Config, hs.Listener)
	hs.Start()
	srv.SetPublicURL(hs.URL)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Shutdown()
			hs.Close()
			srv.Close()
		})
	}
	t.Cleanup(stop)
	return &testutil.Server{Server: srv, HTTP: hs, URL: hs.URL}, stop
}

func TestWebhookDeliveryResumesAfterRestart(t *testing.T) {
	env := hookEnv(t, map[string]string{"PAYGRAPH_WEBHOOK_RETRIES": "3s"})
	first, stop := startStoppable(t, env)
	w := newHookWorld(t, first)
	rcv := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	epID, secret := w.endpoint(t, w.shop, rcv.URL, []string{"order.paid"})
	w.pay(t, w.order(t, w.shop))
	waitDeliveries(t, w.shop, epID, "the first attempt", func(ds []delivery) bool {
		return len(ds) == 1 && ds[0].Status == "RETRYING"
	})
	stop() // between the attempts
	if n := len(rcv.all()); n != 1 {
		t.Fatalf("%d calls before the restart", n)
	}

	again, _ := startStoppable(t, env)
	shop := again.Client().As(w.shop.Token)
	calls := rcv.wait(t, "the second attempt, after the restart", func(cs []hookCall) bool { return len(cs) >= 2 })
	if calls[1].Event.ID != calls[0].Event.ID {
		t.Fatalf("calls %s", describeCalls(calls))
	}
	verify(t, calls[1], secret)
	ds := waitDeliveries(t, shop, epID, "the second attempt recorded", func(ds []delivery) bool { return len(ds) == 2 })
	if ds[0].Attempt != 2 || ds[0].Status != "DELIVERED" {
		t.Fatalf("deliveries %+v", ds)
	}
	again.AssertLedger(t)
}

// Two instances on one PostgreSQL database share the queue: every attempt
// of every event reaches the endpoint exactly once.
func TestWebhookTwoInstancesDeliverEachAttemptOnce(t *testing.T) {
	if testutil.PostgresURL() == "" {
		t.Skip("needs PAYGRAPH_TEST_POSTGRES_URL")
	}
	env := hookEnv(t, map[string]string{"PAYGRAPH_WEBHOOK_RETRIES": "100ms"})
	a := testutil.Start(t, env)
	b := testutil.Start(t, env)
	w := newHookWorld(t, a)
	rcv := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError // every event is tried twice
		}
		return http.StatusOK
	})
	epID, _ := w.endpoint(t, w.shop, rcv.URL, []string{"order.paid"})
	viaB := b.Client().As(w.shop.Token)
	payerB := b.Client()
	const orders = 12
	for i := range orders {
		if i%2 == 0 {
			w.pay(t, w.order(t, w.shop))
		} else {
			subPay(t, payerB, w.payerTok, subOrder(t, viaB, w.payerID, w.payeeID))
		}
	}
	waitDeliveries(t, w.shop, epID, "every attempt recorded", func(ds []delivery) bool { return len(ds) == 2*orders && settled(ds) })
	calls := rcv.all()
	perEvent := map[string]int{}
	perDelivery := map[string]int{}
	for _, c := range calls {
		perEvent[c.Event.ID]++
		perDelivery[c.Header.Get("Paygraph-Delivery-Id")]++
	}
	if len(calls) != 2*orders || len(perEvent) != orders {
		t.Fatalf("%d calls of %d events: %s", len(calls), len(perEvent), describeCalls(calls))
	}
	for id, n := range perEvent {
		if n != 2 {
			t.Fatalf("event %s arrived %d times", id, n)
		}
	}
	for id, n := range perDelivery {
		if n != 1 {
			t.Fatalf("attempt %s sent %d times", id, n)
		}
	}
	a.AssertLedger(t)
}

func TestWebhookRotatedSecretSignsWithBoth(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, nil))
	w := newHookWorld(t, srv)
	rcv := newReceiver(t, nil)
	epID, old := w.endpoint(t, w.shop, rcv.URL, []string{"order.*"})
	var rot struct {
		RotateWebhookSecret struct {
			Secret                  string
			PreviousSecretExpiresAt time.Time
			Endpoint                struct{ ID string }
		}
	}
	w.shop.Do(t, `mutation($id:ID!){rotateWebhookSecret(id:$id){secret previousSecretExpiresAt endpoint{id}}}`,
		map[string]any{"id": epID}).Decode(t, &rot)
	fresh := rot.RotateWebhookSecret.Secret
	if fresh == old || !strings.HasPrefix(fresh, webhook.SecretPrefix) || rot.RotateWebhookSecret.Endpoint.ID != epID {
		t.Fatalf("rotation %+v", rot)
	}
	if left := time.Until(rot.RotateWebhookSecret.PreviousSecretExpiresAt); left < 23*time.Hour || left > 24*time.Hour {
		t.Fatalf("the old secret signs for %s more", left)
	}
	w.pay(t, w.order(t, w.shop))
	calls := rcv.wait(t, "order.paid", func(cs []hookCall) bool { return len(ofType(cs, "order.paid")) == 1 })
	c := ofType(calls, "order.paid")[0]
	if n := strings.Count(c.Header.Get("Paygraph-Signature"), "v1="); n != 2 {
		t.Fatalf("signature %q: want two v1= during the overlap", c.Header.Get("Paygraph-Signature"))
	}
	verify(t, c, fresh, old)
	srv.AssertLedger(t)
}

func TestWebhookRedeliverAndTest(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, nil))
	w := newHookWorld(t, srv)
	rcv := newReceiver(t, nil)
	epID, secret := w.endpoint(t, w.shop, rcv.URL, []string{"order.paid"})
	w.pay(t, w.order(t, w.shop))
	first := rcv.wait(t, "order.paid", func(cs []hookCall) bool { return len(cs) == 1 })[0]
	waitDeliveries(t, w.shop, epID, "the delivery recorded", settled)

	var red struct {
		RedeliverEvent struct {
			Attempt      int
			Kind, Status string
		}
	}
	w.shop.Do(t, `mutation($e:ID!,$ep:ID!){redeliverEvent(eventId:$e, endpointId:$ep){attempt kind status}}`,
		map[string]any{"e": first.Event.ID, "ep": epID}).Decode(t, &red)
	if red.RedeliverEvent.Attempt != 2 || red.RedeliverEvent.Kind != "REDELIVERY" || red.RedeliverEvent.Status != "PENDING" {
		t.Fatalf("redelivery %+v", red)
	}
	calls := rcv.wait(t, "the redelivery", func(cs []hookCall) bool { return len(cs) == 2 })
	if calls[1].Event.ID != first.Event.ID || string(calls[1].Body) != string(first.Body) {
		t.Fatalf("redelivered %s, first %s", calls[1].Body, first.Body)
	}
	verify(t, calls[1], secret)

	// An admin's test event goes to this endpoint though it listens for order.paid only.
	var test struct{ SendTestWebhook struct{ Kind string } }
	w.admin.Do(t, `mutation($ep:ID!){sendTestWebhook(endpointId:$ep){kind}}`, map[string]any{"ep": epID}).Decode(t, &test)
	calls = rcv.wait(t, "the test event", func(cs []hookCall) bool { return len(cs) == 3 })
	if calls[2].Event.Type != "webhook.test" || test.SendTestWebhook.Kind != "TEST" {
		t.Fatalf("test call %+v", calls[2].Event)
	}
	verify(t, calls[2], secret)
	ds := waitDeliveries(t, w.shop, epID, "three deliveries", func(ds []delivery) bool { return len(ds) == 3 && settled(ds) })
	for _, d := range ds {
		if d.Status != "DELIVERED" {
			t.Fatalf("deliveries %+v", ds)
		}
	}
}

func TestWebhookEndpointsAndEventsBelongToTheirApp(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, nil))
	w := newHookWorld(t, srv)
	epID, _ := w.endpoint(t, w.shop, "https://shop.example.com/hooks", nil)
	id := w.order(t, w.shop)
	w.pay(t, id)
	var evs struct {
		Events struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	w.shop.Do(t, `query($o:ID!){events(where:{orderId:$o}){edges{node{id}}}}`, map[string]any{"o": id}).Decode(t, &evs)
	if len(evs.Events.Edges) == 0 {
		t.Fatal("no events")
	}
	eventID := evs.Events.Edges[0].Node.ID
	otherEp, _ := w.endpoint(t, w.other, "https://other.example.com/hooks", nil)

	code := func(c *testutil.Client, q string, vars map[string]any) string {
		t.Helper()
		r := c.Do(t, q, vars)
		if len(r.Errors) == 0 {
			t.Fatalf("%s succeeded: %s", q, r.Data)
		}
		return r.Code()
	}
	for _, tc := range []struct {
		q    string
		vars map[string]any
		want string
	}{
		{`mutation($a:ID!){createWebhookEndpoint(input:{appId:$a, url:"https://x.example.com/"}){secret}}`, map[string]any{"a": w.shopApp}, "FORBIDDEN"},
		{`query($a:ID!){webhookEndpoints(appId:$a){id}}`, map[string]any{"a": w.shopApp}, "FORBIDDEN"},
		{`mutation($id:ID!){updateWebhookEndpoint(id:$id, input:{enabled:false}){id}}`, map[string]any{"id": epID}, "NOT_FOUND"},
		{`mutation($id:ID!){deleteWebhookEndpoint(id:$id)}`, map[string]any{"id": epID}, "NOT_FOUND"},
		{`mutation($id:ID!){rotateWebhookSecret(id:$id){secret}}`, map[string]any{"id": epID}, "NOT_FOUND"},
		{`query($id:ID!){webhookDeliveries(endpointId:$id){totalCount}}`, map[string]any{"id": epID}, "NOT_FOUND"},
		{`mutation($id:ID!){sendTestWebhook(endpointId:$id){id}}`, map[string]any{"id": epID}, "NOT_FOUND"},
		{`mutation($e:ID!,$ep:ID!){redeliverEvent(eventId:$e, endpointId:$ep){id}}`, map[string]any{"e": eventID, "ep": otherEp}, "NOT_FOUND"},
		{`query($a:ID!){events(where:{appId:$a}){totalCount}}`, map[string]any{"a": w.shopApp}, "FORBIDDEN"},
		{`query($id:ID!){node(id:$id){id}}`, map[string]any{"id": eventID}, "NOT_FOUND"},
		{`query($id:ID!){node(id:$id){id}}`, map[string]any{"id": epID}, "NOT_FOUND"},
	} {
		if got := code(w.other, tc.q, tc.vars); got != tc.want {
			t.Errorf("another app's SERVICE: %s: %s, want %s", tc.q, got, tc.want)
		}
	}
	var own struct {
		WebhookEndpoints []struct{ ID, AppID string }
		Events           struct{ TotalCount int }
	}
	w.other.Do(t, `{webhookEndpoints{id appId} events{totalCount}}`, nil).Decode(t, &own)
	if len(own.WebhookEndpoints) != 1 || own.WebhookEndpoints[0].ID != otherEp || own.Events.TotalCount != 0 {
		t.Fatalf("the other app sees %+v", own)
	}
	// A USER sees no events (its orders' steps come through subscriptions).
	if got := code(w.c.As(w.payerTok), `{events{totalCount}}`, nil); got != "FORBIDDEN" {
		t.Errorf("a USER: %s", got)
	}
	// The ADMIN sees the shop's, and the payer's credit (no app's).
	var adm struct {
		Events struct {
			Edges []struct {
				Node struct {
					Type  string
					AppID *string
				}
			}
		}
		Node *struct{ ID string }
	}
	w.admin.Do(t, `query($id:ID!){events(where:{type:"wallet.changed"}, first:100){edges{node{type appId}}} node(id:$id){id}}`,
		map[string]any{"id": eventID}).Decode(t, &adm)
	noApp := 0
	for _, e := range adm.Events.Edges {
		if e.Node.AppID == nil {
			noApp++
		}
	}
	if noApp != 1 || adm.Node == nil || adm.Node.ID != eventID {
		t.Fatalf("the ADMIN sees %+v", adm)
	}
	// The shop's own view of its endpoint; the secret is never shown again.
	var mine struct {
		Node struct {
			ID, URL string
			Events  []string
		}
	}
	w.shop.Do(t, `query($id:ID!){node(id:$id){... on WebhookEndpoint{id url events}}}`, map[string]any{"id": epID}).Decode(t, &mine)
	if mine.Node.ID != epID || mine.Node.URL != "https://shop.example.com/hooks" || len(mine.Node.Events) != 0 {
		t.Fatalf("node %+v", mine)
	}
	srv.AssertLedger(t)
}

// Without PAYGRAPH_WEBHOOK_ALLOW_PRIVATE, as with PostgreSQL by default,
// an endpoint may not point into the server's own network, neither when
// it is saved nor when a delivery connects.
func TestWebhookPrivateAddressesRefused(t *testing.T) {
	env := testutil.Base(t)
	if testutil.PostgresURL() == "" {
		env["PAYGRAPH_WEBHOOK_ALLOW_PRIVATE"] = "false" // PostgreSQL's default
	}
	srv := testutil.Start(t, env)
	if srv.Config.Webhooks.AllowPrivate {
		t.Fatal("private addresses allowed")
	}
	w := newHookWorld(t, srv)
	rcv := newReceiver(t, nil)
	for _, u := range []string{rcv.URL, "http://localhost:8080/", "http://10.0.0.7/hooks", "http://169.254.169.254/", "http://[::1]/"} {
		r := w.shop.Do(t, `mutation($u:String!){createWebhookEndpoint(input:{url:$u}){secret}}`, map[string]any{"u": u})
		if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "url" {
			t.Errorf("%s: %+v", u, r.Errors)
		}
	}
	// A name that resolved elsewhere when it was saved and to a private
	// address now (DNS rebinding) is refused when the delivery connects.
	epID, _ := w.endpoint(t, w.shop, "https://hooks.example.com/paygraph", []string{"order.paid"})
	if err := srv.DB.Ent.WebhookEndpoint.UpdateOneID(parseID(t, epID)).SetURL(rcv.URL).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.pay(t, w.order(t, w.shop))
	ds := waitDeliveries(t, w.shop, epID, "a refused attempt", func(ds []delivery) bool { return len(ds) > 0 && ds[len(ds)-1].Error != nil })
	d := ds[len(ds)-1]
	if d.Status != "RETRYING" || d.HTTPStatus != nil || !strings.Contains(*d.Error, "not a public address") {
		t.Fatalf("attempt %+v (%s)", d, *d.Error)
	}
	if n := len(rcv.all()); n != 0 {
		t.Fatalf("the private receiver got %d calls", n)
	}
}

func parseID(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWebhookEndpointInput(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, nil))
	w := newHookWorld(t, srv)
	for _, tc := range []struct {
		in    map[string]any
		field string
	}{
		{map[string]any{"url": "ftp://shop.example.com/"}, "url"},
		{map[string]any{"url": "https://u:p@shop.example.com/"}, "url"},
		{map[string]any{"url": "https://shop.example.com/", "events": []string{"order.payed"}}, "events"},
	} {
		r := w.shop.Do(t, `mutation($in:CreateWebhookEndpointInput!){createWebhookEndpoint(input:$in){secret}}`, map[string]any{"in": tc.in})
		if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != tc.field {
			t.Errorf("%v: %+v", tc.in, r.Errors)
		}
	}
	// An ADMIN names the app.
	r := w.admin.Do(t, `mutation{createWebhookEndpoint(input:{url:"https://shop.example.com/"}){secret}}`, nil)
	if r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("admin without appId: %+v", r.Errors)
	}
	var made struct {
		CreateWebhookEndpoint struct{ Endpoint struct{ ID, AppID string } }
	}
	w.admin.Do(t, `mutation($a:ID!){createWebhookEndpoint(input:{appId:$a, url:"https://shop.example.com/", events:["order.*","wallet.changed"]}){endpoint{id appId}}}`,
		map[string]any{"a": w.shopApp}).Decode(t, &made)
	if made.CreateWebhookEndpoint.Endpoint.AppID != w.shopApp {
		t.Fatalf("made %+v", made)
	}
	id := made.CreateWebhookEndpoint.Endpoint.ID
	var up struct {
		UpdateWebhookEndpoint struct {
			URL     string
			Events  []string
			Enabled bool
		}
	}
	w.shop.Do(t, `mutation($id:ID!){updateWebhookEndpoint(id:$id, input:{url:"https://shop.example.com/v2", events:[], enabled:false}){url events enabled}}`,
		map[string]any{"id": id}).Decode(t, &up)
	if up.UpdateWebhookEndpoint.URL != "https://shop.example.com/v2" || len(up.UpdateWebhookEndpoint.Events) != 0 || up.UpdateWebhookEndpoint.Enabled {
		t.Fatalf("updated %+v", up)
	}
	var del struct{ DeleteWebhookEndpoint string }
	w.shop.Do(t, `mutation($id:ID!){deleteWebhookEndpoint(id:$id)}`, map[string]any{"id": id}).Decode(t, &del)
	var list struct{ WebhookEndpoints []struct{ ID string } }
	w.shop.Do(t, `{webhookEndpoints{id}}`, nil).Decode(t, &list)
	if del.DeleteWebhookEndpoint != id || len(list.WebhookEndpoints) != 0 {
		t.Fatalf("deleted %s, left %+v", del.DeleteWebhookEndpoint, list)
	}
}

const (
	subMyOrdersAfter    = `subscription($after:ID){myOrderEvents(after:$after){id seq to order{id}}}`
	subOrderStatusAfter = `subscription($id:ID!,$after:ID){orderStatusChanged(orderId:$id, after:$after){id seq to order{id}}}`
)

type seqEvent struct {
	ID, To string
	Seq    int
	Order  struct{ ID string }
}

// nextSeqEvent returns the next result of operation op, skipping what
// operations stopped earlier still send (their "complete").
func nextSeqEvent(t *testing.T, ws *testutil.WSConn, op, field string) seqEvent {
	t.Helper()
	for {
		r := ws.Next(t, subWait)
		if r.ID != op && r.Type == "complete" {
			continue
		}
		if r.Type != "next" || r.ID != op {
			t.Fatalf("got %s for %s: %+v", r.Type, r.ID, r.Errors)
		}
		var out map[string]seqEvent
		r.Decode(t, &out)
		return out[field]
	}
}

// A phone that lost its connection resumes from the last event it got
// and misses nothing: first what happened meanwhile, in order, then live.
func TestSubscriptionsResumeAfterAnID(t *testing.T) {
	w := newSubWorld(t, testutil.Base(t))
	ws := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payerToken))
	w.listening(t, 1, func() { ws.Subscribe(t, "1", subMyOrdersAfter, nil) })
	a := w.order(t)
	seen := nextSeqEvent(t, ws, "1", "myOrderEvents")
	if seen.Order.ID != a || seen.Seq != 1 || seen.To != "PENDING" {
		t.Fatalf("first event %+v", seen)
	}
	ws.Close() // the phone goes offline

	b := w.order(t)
	w.pay(t, a)
	w.pay(t, b)

	ws = testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payerToken))
	w.listening(t, 1, func() { ws.Subscribe(t, "2", subMyOrdersAfter, map[string]any{"after": seen.ID}) })
	var got []string
	for range 3 {
		e := nextSeqEvent(t, ws, "2", "myOrderEvents")
		got = append(got, fmt.Sprintf("%s:%d:%s", orderName(e.Order.ID, a, b), e.Seq, e.To))
	}
	if strings.Join(got, " ") != "b:1:PENDING a:2:PAID b:2:PAID" {
		t.Fatalf("replayed %v", got)
	}
	// Then live, without repeats.
	c := w.order(t)
	if e := nextSeqEvent(t, ws, "2", "myOrderEvents"); e.Order.ID != c || e.Seq != 1 {
		t.Fatalf("live event %+v", e)
	}
	ws.ExpectSilence(t, subQuiet)

	// One order's stream resumes by seq, from a step's id or its event's.
	var hist struct {
		Order struct {
			Events []struct {
				ID  string
				Seq int
			}
		}
	}
	w.c.As(w.payerToken).Do(t, `query($id:ID!){order(id:$id){events{id seq}}}`, map[string]any{"id": a}).Decode(t, &hist)
	var created string
	for _, e := range hist.Order.Events {
		if e.Seq == 1 {
			created = e.ID
		}
	}
	var evs struct {
		Events struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	w.svc.Do(t, `query($o:ID!){events(where:{orderId:$o, type:"order.pending"}){edges{node{id}}}}`, map[string]any{"o": a}).Decode(t, &evs)
	for i, after := range []string{created, evs.Events.Edges[0].Node.ID} {
		op := fmt.Sprintf("s%d", i)
		ws.Subscribe(t, op, subOrderStatusAfter, map[string]any{"id": a, "after": after})
		e := nextSeqEvent(t, ws, op, "orderStatusChanged")
		if e.Order.ID != a || e.Seq != 2 || e.To != "PAID" {
			t.Fatalf("after %s: %+v", after, e)
		}
		ws.Unsubscribe(t, op)
	}
	w.srv.AssertLedger(t)
}

func orderName(id, a, b string) string {
	switch id {
	case a:
		return "a"
	case b:
		return "b"
	}
	return id
}

// An instance that dies while sending (kill -9) leaves its claim behind;
// once the claim's lease ends, the delivery is sent again, so nothing is
// lost (the receiver may see the event twice and dedupes on its id).
func TestWebhookClaimOfADeadInstanceIsTakenOver(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, nil))
	w := newHookWorld(t, srv)
	rcv := newReceiver(t, nil)
	epID, secret := w.endpoint(t, w.shop, rcv.URL, []string{"wallet.changed"}) // order.paid is not sent by itself
	id := w.order(t, w.shop)
	w.pay(t, id)
	var evs struct {
		Events struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	w.shop.Do(t, `query($o:ID!){events(where:{orderId:$o, type:"order.paid"}){edges{node{id}}}}`, map[string]any{"o": id}).Decode(t, &evs)
	eventID := parseID(t, evs.Events.Edges[0].Node.ID)
	// What a dead instance leaves: a row claimed under its lease, which ran out.
	ctx := context.Background()
	ep, err := srv.DB.Ent.WebhookEndpoint.Get(ctx, parseID(t, epID))
	if err != nil {
		t.Fatal(err)
	}
	err = srv.DB.Ent.WebhookDelivery.Create().SetEventID(eventID).SetEndpointID(ep.ID).SetAppID(ep.AppID).SetAttempt(1).
		SetStatus("SENDING").SetLease(42).SetDueAt(time.Now().Add(-time.Second)).SetCreatedAt(time.Now()).Exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv.Dispatcher.Wake()
	calls := rcv.wait(t, "the abandoned delivery", func(cs []hookCall) bool { return len(ofType(cs, "order.paid")) == 1 })
	verify(t, ofType(calls, "order.paid")[0], secret)
	waitDeliveries(t, w.shop, epID, "it recorded", func(ds []delivery) bool {
		for _, d := range ds {
			if d.Event.Type == "order.paid" {
				return d.Status == "DELIVERED"
			}
		}
		return false
	})
	srv.AssertLedger(t)
}

// A receiver that does not answer holds up its own delivery only: payments
// go on, each committing without waiting for any webhook.
func TestWebhookSlowReceiverDoesNotHoldPayments(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, nil))
	w := newHookWorld(t, srv)
	release := make(chan struct{})
	var held sync.WaitGroup
	held.Add(1)
	var once sync.Once
	stuck := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		once.Do(held.Done)
		<-release
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(release) }) // runs first
	w.endpoint(t, w.shop, stuck.URL, nil)
	w.pay(t, w.order(t, w.shop))
	held.Wait() // a delivery is in flight, and stays so
	for range 10 {
		w.pay(t, w.order(t, w.shop))
	}
	select {
	case <-release:
		t.Fatal("released early")
	default:
	}
	srv.AssertLedger(t)
}

// An event shows the order as its step left it, also what the flow set
// beside the status: a wallet deal's escrow release time and channel, a
// Ping++ deal's channel.
func TestEventDataIsTheOrderAfterItsStep(t *testing.T) {
	e := newEscrow(t, nil)
	e.credit(t, e.buyerID, "50.00")
	setPayPassword(t, e.buyer, "246810")
	deal, _ := e.initDeal(t, e.buyer, "20.00", "WALLET", nil)
	paid := e.mustPayByWallet(t, e.buyer, deal.ID, "246810")
	viaPingpp, ch := e.initDeal(t, e.buyer, "5.00", "ALIPAY", nil)
	if ch == nil {
		t.Fatal("no charge")
	}
	type view struct {
		Status, Channel, PayWay string
		AutoConfirmAt           *time.Time
	}
	data := func(orderID, typ string) view {
		t.Helper()
		var out struct {
			Events struct {
				Edges []struct{ Node struct{ Data string } }
			}
		}
		e.admin.Do(t, `query($o:ID!,$t:String!){events(where:{orderId:$o, type:$t}){edges{node{data}}}}`,
			map[string]any{"o": orderID, "t": typ}).Decode(t, &out)
		if len(out.Events.Edges) != 1 {
			t.Fatalf("%d %s events of %s", len(out.Events.Edges), typ, orderID)
		}
		var v view
		if err := json.Unmarshal([]byte(out.Events.Edges[0].Node.Data), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := data(deal.ID, "order.paid")
	if v.Status != "PAID" || v.Channel != paid.Channel || v.PayWay != paid.PayWay || v.AutoConfirmAt == nil ||
		!v.AutoConfirmAt.Equal(*paid.AutoConfirmAt) {
		t.Fatalf("order.paid data %+v; the order %+v", v, paid)
	}
	cur := e.order(t, e.buyer, viaPingpp.ID)
	if v := data(viaPingpp.ID, "order.processing"); v.Status != "PROCESSING" || v.Channel != cur.Channel || v.Channel == "" ||
		v.PayWay != cur.PayWay {
		t.Fatalf("order.processing data %+v; the order %+v", v, cur)
	}
	e.srv.AssertLedger(t)
}

// An endpoint that does not answer costs a write per backoff step, not
// one per event: while it is down, many payments leave a handful of
// delivery rows; its events wait behind its cursor and, once it answers
// again, arrive in the order they happened, each once.
func TestWebhookDeadEndpointCostsBoundedWritesAndCatchesUpInOrder(t *testing.T) {
	const step = 300 * time.Millisecond
	srv := testutil.Start(t, hookEnv(t, map[string]string{"PAYGRAPH_WEBHOOK_RETRIES": "300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms"}))
	w := newHookWorld(t, srv)
	var (
		mu       sync.Mutex
		dead     = true
		tries    int
		received []string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		down := dead
		tries++
		mu.Unlock()
		if down {
			// Gone: the connection drops without an answer.
			conn, _, err := rw.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		var ev struct{ ID, Type string }
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		received = append(received, ev.ID)
		mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	epID, _ := w.endpoint(t, w.shop, rcv.URL, []string{"order.paid"})

	const orders = 40
	began := time.Now()
	for range orders {
		w.pay(t, w.order(t, w.shop))
	}
	// Let it stay down a few more steps.
	time.Sleep(4 * step)
	down := time.Since(began)
	ds := deliveries(t, w.shop, epID)
	mu.Lock()
	attempts := tries
	mu.Unlock()
	// One probe per step (the first attempt, then one per 300 ms or more),
	// whatever the number of payments.
	bound := 2 + int(down/step)
	if attempts > bound || len(ds) > bound || len(ds) == 0 {
		t.Fatalf("down %s: %d attempts, %d delivery rows for %d paid orders; want at most %d", down, attempts, len(ds), orders, bound)
	}
	for _, d := range ds {
		if d.Status != "RETRYING" || d.HTTPStatus != nil || d.Error == nil || d.NextAttemptAt == nil {
			t.Fatalf("attempt while down %+v", d)
		}
		if d.Event.ID != ds[0].Event.ID {
			t.Fatalf("while down, attempts of another event than the first: %+v", ds)
		}
	}

	mu.Lock()
	dead = false
	mu.Unlock()
	var paid struct {
		Events struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	w.shop.Do(t, `{events(where:{type:"order.paid"}, first:100){edges{node{id}}}}`, nil).Decode(t, &paid)
	var want []string
	for _, e := range paid.Events.Edges {
		want = append(want, e.Node.ID)
	}
	if len(want) != orders {
		t.Fatalf("%d order.paid events", len(want))
	}
	deadline := time.Now().Add(hookWait)
	for {
		mu.Lock()
		got := append([]string(nil), received...)
		mu.Unlock()
		if len(got) >= orders {
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("received\n%v\nwant, in the order they happened,\n%v", got, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered after the endpoint came back", len(got), orders)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ds = waitDeliveries(t, w.shop, epID, "the deliveries recorded", func(ds []delivery) bool {
		n := 0
		for _, d := range ds {
			if d.Status == "DELIVERED" {
				n++
			}
		}
		return n == orders
	})
	// The event that was probed got its later attempt number.
	for _, d := range ds {
		if d.Status == "DELIVERED" && d.Event.ID == want[0] && d.Attempt < 2 {
			t.Fatalf("the probed event delivered as attempt %d", d.Attempt)
		}
	}
	srv.AssertLedger(t)
}

// Events whose retry schedule ends while their endpoint is down are
// marked failed, the ones waiting behind the first together, in one row:
// a long outage is written off in a write, not one per event. The events
// after them are delivered when the endpoint answers again.
func TestWebhookDeadEndpointWritesOffEventsPastTheirSchedule(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, map[string]string{"PAYGRAPH_WEBHOOK_RETRIES": "200ms"}))
	w := newHookWorld(t, srv)
	var (
		mu       sync.Mutex
		dead     = true
		received []string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		down := dead
		mu.Unlock()
		if down {
			if conn, _, err := rw.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		var ev struct{ ID string }
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		received = append(received, ev.ID)
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	epID, _ := w.endpoint(t, w.shop, rcv.URL, []string{"order.paid"})

	// Five events that happened an hour ago (as after a long outage), made
	// after the endpoint: their schedule is long over.
	ctx := context.Background()
	app := parseID(t, w.shopApp)
	var (
		old []string
		bs  []*ent.EventCreate
	)
	for range 5 {
		n := idgen.Next()
		b := srv.DB.Ent.Event.Create().SetID(n).SetType("order.paid").SetCreatedAt(time.Now().Add(-time.Hour)).
			SetAppID(app).SetSeq(1).SetData("{}")
		if testutil.PostgresURL() == "" {
			b.SetPosition(n) // SQLite: the position is the id
		}
		bs = append(bs, b)
		old = append(old, fmt.Sprint(n))
	}
	// One statement: they commit together, as a unit of work's events do.
	if err := srv.DB.Ent.Event.CreateBulk(bs...).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Dispatcher.Wake()
	ds := waitDeliveries(t, w.shop, epID, "the events written off", func(ds []delivery) bool { return len(ds) == 2 })
	// Newest first: the write-off of the four behind the first, then the
	// first's one attempt.
	if ds[1].Status != "FAILED" || ds[1].Attempt != 1 || ds[1].Event.ID != old[0] || ds[1].NextAttemptAt != nil ||
		ds[0].Status != "FAILED" || ds[0].Attempt != 0 || ds[0].Event.ID != old[4] || ds[0].AttemptedAt != nil ||
		ds[0].Error == nil || !strings.Contains(*ds[0].Error, "4 events") {
		t.Fatalf("deliveries %+v", ds)
	}

	mu.Lock()
	dead = false
	mu.Unlock()
	id := w.order(t, w.shop)
	w.pay(t, id)
	ds = waitDeliveries(t, w.shop, epID, "the new event delivered", func(ds []delivery) bool {
		return len(ds) == 3 && ds[0].Status == "DELIVERED"
	})
	mu.Lock()
	got := append([]string(nil), received...)
	mu.Unlock()
	if len(got) != 1 || got[0] != ds[0].Event.ID {
		t.Fatalf("received %v; delivered %+v", got, ds[0])
	}
	srv.AssertLedger(t)
}

// On PostgreSQL transactions commit concurrently, so a step can commit
// after a step with a higher id was already streamed (its id was made
// first, or on an instance whose clock is behind). A phone that got the
// higher one live and then lost its connection still gets the late one
// when it resumes: the replay reaches back ResumeOverlap before after.
func TestResumeReplaysAStepThatCommittedLate(t *testing.T) {
	w := newSubWorld(t, testutil.Base(t))
	if w.srv.DB.Dialect != dialect.Postgres {
		t.Skip("with SQLite one writer commits steps in id order: nothing commits late")
	}
	ws := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payerToken))
	w.listening(t, 1, func() { ws.Subscribe(t, "1", subMyOrdersAfter, nil) })
	w.order(t)
	seen := nextSeqEvent(t, ws, "1", "myOrderEvents")
	ws.Close() // the phone goes offline

	// Order b's step, made just before a's and committed after it.
	b := w.order(t)
	bID, _ := strconv.ParseInt(b, 10, 64)
	seenID, _ := strconv.ParseInt(seen.ID, 10, 64)
	late, err := w.srv.DB.Ent.OrderEvent.Query().Where(orderevent.OrderID(bID)).Only(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	lateID := seenID - 1
	if _, err := w.srv.DB.Ent.ExecContext(t.Context(), `UPDATE order_events SET id = $1 WHERE id = $2`, lateID, late.ID); err != nil {
		t.Fatal(err)
	}

	ws = testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.payerToken))
	w.listening(t, 1, func() { ws.Subscribe(t, "2", subMyOrdersAfter, map[string]any{"after": seen.ID}) })
	for {
		e := nextSeqEvent(t, ws, "2", "myOrderEvents")
		if e.ID == seen.ID {
			t.Fatalf("the step resumed from was sent again: %+v", e)
		}
		if e.Order.ID == b {
			if e.ID != strconv.FormatInt(lateID, 10) || e.Seq != 1 || e.To != "PENDING" {
				t.Fatalf("late step %+v", e)
			}
			break
		}
		// Steps made shortly before the one resumed from may come again.
		if id, _ := strconv.ParseInt(e.ID, 10, 64); id >= seenID {
			t.Fatalf("a step after the one resumed from, before the late one: %+v", e)
		}
	}
	w.srv.AssertLedger(t)
}

// A quiet month purges every event; the next payment's event still reaches
// the endpoint, whose cursor stands where the purged events were.
func TestWebhookEventsAfterAPurgeThatEmptiedTheTableAreSent(t *testing.T) {
	srv := testutil.Start(t, hookEnv(t, nil))
	w := newHookWorld(t, srv)
	rcv := newReceiver(t, nil)
	epID, _ := w.endpoint(t, w.shop, rcv.URL, []string{"order.paid"})
	first := w.order(t, w.shop)
	w.pay(t, first)
	rcv.wait(t, "the first order.paid", func(cs []hookCall) bool { return len(cs) == 1 })
	ep, _ := strconv.ParseInt(epID, 10, 64)
	deadline := time.Now().Add(hookWait)
	for { // the round that sent it has moved the cursor past every event
		e, err := srv.DB.Ent.WebhookEndpoint.Get(t.Context(), ep)
		if err != nil {
			t.Fatal(err)
		}
		last, err := srv.DB.Ent.Event.Query().Where(event.AppID(e.AppID)).Aggregate(ent.Max(event.FieldPosition)).Int(t.Context())
		if err == nil && e.Cursor >= int64(last) && last > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cursor %d never reached the last event (%d, %v)", e.Cursor, last, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := srv.Webhooks.Purge(t.Context(), time.Now().Add(webhook.Retention+time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := srv.DB.Ent.Event.Query().CountX(t.Context()); n != 0 {
		t.Fatalf("%d events left after the purge", n)
	}
	second := w.order(t, w.shop)
	w.pay(t, second)
	calls := rcv.wait(t, "order.paid after the purge", func(cs []hookCall) bool { return len(cs) == 2 })
	var data struct{ ID string }
	if err := json.Unmarshal(calls[1].Event.Data, &data); err != nil || data.ID != second {
		t.Fatalf("second call: %s %v", calls[1].Event.Data, err)
	}
	srv.AssertLedger(t)
}

// TestWebhookEventListsTheLinesAsTheOrderShowsThem: an order's events
// carry its payInfo and productInfo lines as Order shows them, in their
// order, both for the order just created (whose lines the recorder is
// handed) and once paid (whose lines it reads back).
func TestWebhookEventListsTheLinesAsTheOrderShowsThem(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	w := newHookWorld(t, srv)
	var created struct {
		CreatePaymentOrder struct{ ID string }
	}
	w.shop.Do(t, `mutation($in:CreatePaymentOrderInput!){createPaymentOrder(input:$in){id}}`, map[string]any{"in": map[string]any{
		"payerUserId": w.payerID, "payeeUserId": w.payeeID,
		"payInfo": []any{
			map[string]any{"tokenId": "CNY", "amount": "1.50"},
			map[string]any{"tokenId": "CNY", "amount": "0.25", "payType": "COUPON"},
		},
		"productInfo": []any{map[string]any{"tokenId": "CNY", "amount": "1.75"}},
	}}).Decode(t, &created)
	id := created.CreatePaymentOrder.ID
	shown := func() map[string]json.RawMessage {
		var out struct{ Order map[string]json.RawMessage }
		w.shop.Do(t, `query($id:ID!){order(id:$id){payInfo{itemId:id payType tokenId amount paidAmount refundedAmount unlockedAmount} productInfo{itemId:id payType tokenId amount paidAmount refundedAmount unlockedAmount}}}`,
			map[string]any{"id": id}).Decode(t, &out)
		return out.Order
	}
	inEvent := func(typ string) map[string]json.RawMessage {
		var out struct {
			Events struct {
				Edges []struct{ Node struct{ Data string } }
			}
		}
		w.shop.Do(t, `query($o:ID!,$t:String!){events(where:{orderId:$o, type:$t}){edges{node{data}}}}`,
			map[string]any{"o": id, "t": typ}).Decode(t, &out)
		if len(out.Events.Edges) != 1 {
			t.Fatalf("%d %s events", len(out.Events.Edges), typ)
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out.Events.Edges[0].Node.Data), &data); err != nil {
			t.Fatal(err)
		}
		return data
	}
	compare := func(typ string) {
		t.Helper()
		want, got := shown(), inEvent(typ)
		for _, k := range []string{"payInfo", "productInfo"} {
			var a, b any
			_ = json.Unmarshal(want[k], &a)
			_ = json.Unmarshal(got[k], &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%s %s: event %s, order %s", typ, k, got[k], want[k])
			}
		}
	}
	compare("order.pending")
	w.pay(t, id)
	compare("order.paid")
	srv.AssertLedger(t)
}
