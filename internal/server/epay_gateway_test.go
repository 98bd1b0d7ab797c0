package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/config"
	epaysandbox "github.com/paygraph/paygraph/internal/sandbox/epay"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// faultyGateway is a "real" epay gateway (the sandbox, standalone) behind
// a switch that makes it slow, down, or refuse refunds.
type faultyGateway struct {
	sb   *epaysandbox.Gateway
	hs   *httptest.Server
	mode atomic.Value
}

func newFaultyGateway(t *testing.T) *faultyGateway {
	t.Helper()
	g := &faultyGateway{}
	g.mode.Store("ok")
	g.sb = epaysandbox.New(epaysandbox.Options{PID: "1000", Key: epayKey, BaseURL: func() string { return g.hs.URL }})
	inner := g.sb.Handler()
	g.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := g.mode.Load().(string)
		refund := r.URL.Query().Get("act") == "refund"
		wait := func() {
			// Reading the body lets the server notice the client giving up.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
		switch {
		case mode == "slow":
			wait()
			return
		case mode == "down":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		case mode == "refuse-refund" && refund:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"code": -1, "msg": "商户余额不足，退款失败"})
			return
		case mode == "lose-refund-answer" && refund:
			inner.ServeHTTP(httptest.NewRecorder(), r) // the refund is made; its answer never arrives
			wait()
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { g.sb.Close(); g.hs.Close() })
	return g
}

func (g *faultyGateway) set(mode string) { g.mode.Store(mode) }

func (g *faultyGateway) pay(t *testing.T, tradeNo string) {
	t.Helper()
	resp, err := http.PostForm(g.hs.URL+"/pay/"+tradeNo, url.Values{"result": {"success"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pay: %d", resp.StatusCode)
	}
}

// TestGatewayDownOrSlow: with the gateway down or slow a payer gets a
// clear PROVIDER_ERROR and the order stays payable; once the gateway is
// back the same order is paid.
func TestGatewayDownOrSlow(t *testing.T) {
	g := newFaultyGateway(t)
	w := newEpayWorld(t, "", testutil.Env{"PAYGRAPH_EPAY_URL": g.hs.URL, "PAYGRAPH_EPAY_TIMEOUT": "300ms"}, server.Options{})
	if w.srv.EpaySandbox != nil {
		t.Fatal("the sandbox runs beside a real gateway")
	}
	if resp, err := http.Get(w.srv.URL + "/sandbox/epay/submit.php"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("sandbox route with a real gateway: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")

	for mode, want := range map[string]string{"slow": "did not answer within 300ms", "down": "could not reach the gateway"} {
		g.set(mode)
		start := time.Now()
		r, err := getPayURLResp(w.buyer, map[string]any{"orderNo": o.OrderNo})
		if err != nil {
			t.Fatal(err)
		}
		if r.Code() != "PROVIDER_ERROR" || legacyCode(r) != float64(-3) || !strings.Contains(r.Errors[0].Message, want) ||
			strings.Contains(r.Errors[0].Message, epayKey) {
			t.Fatalf("%s: %+v", mode, r.Errors)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("%s: getPayUrl took %s", mode, took)
		}
		cur := w.order(t, w.buyer, o.OrderNo, true)
		if cur.Status != "PENDING" || cur.Synced || cur.ProviderInfo != nil {
			t.Fatalf("%s: order %+v", mode, cur)
		}
	}

	g.set("ok")
	u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo})
	if !strings.HasPrefix(u.PayInfo, g.hs.URL+"/cashier/") {
		t.Fatalf("pay url %+v", u)
	}
	g.pay(t, u.TradeNo)
	if cur := w.order(t, w.buyer, o.OrderNo, false); cur.Status != "PAID" {
		t.Fatalf("order %+v", cur)
	}
	if a, _ := wallet(t, w.buyer, "POINTS"); a != "100" {
		t.Fatalf("points %s", a)
	}
	w.srv.AssertLedger(t)
}

// TestGatewayRefundFailures: a refused refund releases the held points; a
// refund whose answer is lost keeps them held until approving again finds
// out from the gateway; two approvals at once refund once.
func TestGatewayRefundFailures(t *testing.T) {
	g := newFaultyGateway(t)
	w := newEpayWorld(t, "", testutil.Env{"PAYGRAPH_EPAY_URL": g.hs.URL, "PAYGRAPH_EPAY_TIMEOUT": "300ms"}, server.Options{})
	o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")
	u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo})
	g.pay(t, u.TradeNo)
	approve := `mutation($id:ID!){approveRefund(orderId:$id){` + epayOrderFields + `}}`
	state := func(wantStatus, wantAvail, wantEscrow string) {
		t.Helper()
		if a, e := wallet(t, w.buyer, "POINTS"); a != wantAvail || e != wantEscrow {
			t.Fatalf("points %s held %s; want %s held %s", a, e, wantAvail, wantEscrow)
		}
		if cur := w.order(t, w.buyer, o.OrderNo, false); cur.Status != wantStatus {
			t.Fatalf("order %s; want %s", cur.Status, wantStatus)
		}
		w.srv.AssertLedger(t)
	}

	g.set("refuse-refund")
	r := w.admin.Do(t, approve, map[string]any{"id": o.ID})
	if r.Code() != "PROVIDER_ERROR" || !strings.Contains(r.Errors[0].Message, "商户余额不足") {
		t.Fatalf("refused refund: %+v", r.Errors)
	}
	state("PAID", "100", "0")

	g.set("slow")
	codes := make([]string, 2)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if r, err := w.admin.Post(approve, map[string]any{"id": o.ID}); err == nil {
				codes[i] = r.Code()
			}
		}(i)
	}
	wg.Wait()
	if !(codes[0] == "PROVIDER_ERROR" && codes[1] == "INVALID_TRANSITION" || codes[1] == "PROVIDER_ERROR" && codes[0] == "INVALID_TRANSITION") {
		t.Fatalf("two approvals at once: %v", codes)
	}
	state("PAID", "0", "100")

	g.set("lose-refund-answer")
	if r := w.admin.Do(t, approve, map[string]any{"id": o.ID}); r.Code() != "PROVIDER_ERROR" || !strings.Contains(r.Errors[0].Message, "unknown") {
		t.Fatalf("lost answer: %+v", r.Errors)
	}
	state("PAID", "0", "100")

	g.set("ok")
	if got := w.mutateOrder(t, w.admin, approve, map[string]any{"id": o.ID}); got.Status != "REFUNDED" || *got.LegacyStatus != 2 {
		t.Fatalf("refunded %+v", got)
	}
	state("REFUNDED", "0", "0")
	if s := w.order(t, w.buyer, o.OrderNo, true); s.ProviderInfo == nil || s.ProviderInfo.Status != 2 {
		t.Fatalf("gateway %+v", s.ProviderInfo)
	}
}

// TestReconcileFindsALostNotify: when the notify never arrives, the
// scheduler asks the gateway before the order expires and applies the
// payment.
func TestReconcileFindsALostNotify(t *testing.T) {
	g := newFaultyGateway(t)
	clk := clock.NewFake(time.Now())
	// Notifies go to an address nobody listens on.
	w := newEpayWorld(t, "", testutil.Env{"PAYGRAPH_EPAY_URL": g.hs.URL, "PAYGRAPH_PUBLIC_URL": "http://127.0.0.1:9"},
		server.Options{Clock: clk, NoScheduler: true})
	o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")
	lost := w.createPoints(t, w.buyer, "3.00", 30, "alipay")
	u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo})
	g.pay(t, u.TradeNo)
	if cur := w.order(t, w.buyer, o.OrderNo, false); cur.Status != "PROCESSING" {
		t.Fatalf("the notify arrived after all: %s", cur.Status)
	}
	// Far from expiry nothing is asked.
	if err := w.srv.Scheduler.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if cur := w.order(t, w.buyer, o.OrderNo, false); cur.Status != "PROCESSING" {
		t.Fatalf("reconciled early: %s", cur.Status)
	}
	clk.Advance(29 * time.Minute)
	if err := w.srv.Scheduler.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if cur := w.order(t, w.buyer, o.OrderNo, false); cur.Status != "PAID" {
		t.Fatalf("not reconciled: %s", cur.Status)
	}
	if a, _ := wallet(t, w.buyer, "POINTS"); a != "100" {
		t.Fatalf("points %s", a)
	}
	// The unpaid one expires as usual.
	clk.Advance(2 * time.Minute)
	if err := w.srv.Scheduler.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if cur := w.order(t, w.buyer, lost.OrderNo, false); cur.Status != "EXPIRED" {
		t.Fatalf("unpaid order: %s", cur.Status)
	}
	if r, _ := getPayURLResp(w.buyer, map[string]any{"orderNo": lost.OrderNo}); r.Code() != "ORDER_EXPIRED" {
		t.Fatalf("pay url of an expired order: %+v", r.Errors)
	}
	w.srv.AssertLedger(t)
}

func TestBadEpayKeysStopTheStart(t *testing.T) {
	for v, val := range map[string]string{
		"PAYGRAPH_EPAY_PRIVATE_KEY":         "not a key",
		"PAYGRAPH_EPAY_PLATFORM_PUBLIC_KEY": "bm90IGEga2V5",
	} {
		env := testutil.Base(t)
		env[v] = val
		cfg, err := config.Load(env.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler), server.Options{})
		if err == nil {
			srv.Close()
			t.Fatalf("%s=%q started", v, val)
		}
		if !strings.HasPrefix(err.Error(), v+": ") || strings.Contains(err.Error(), val) {
			t.Errorf("%s: %v", v, err)
		}
	}
}
