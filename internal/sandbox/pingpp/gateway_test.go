package pingpp_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/provider/pingpp"
	sandbox "github.com/paygraph/paygraph/internal/sandbox/pingpp"
)

type fixture struct {
	gw       *sandbox.Gateway
	client   *pingpp.Client
	url      string
	received []*http.Request
	bodies   [][]byte
	clock    *clock.Fake
}

// setup serves the sandbox on a loopback port; its webhooks go to a
// recorder that verifies them as paygraph would.
func setup(t *testing.T) *fixture {
	f := &fixture{clock: clock.NewFake(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))}
	hook := &pingpp.Webhook{Keys: []*rsa.PublicKey{sandbox.PublicKey()}, AppID: "app_test"}
	f.gw = &sandbox.Gateway{AppID: "app_test", SecretKey: "sk_test_123", Clock: f.clock,
		Deliver: func(_ context.Context, body []byte, sig string) sandbox.Delivery {
			r := httptest.NewRequest(http.MethodPost, "/callbacks/pingpp", strings.NewReader(string(body)))
			r.Header.Set(pingpp.SignatureHeader, sig)
			f.received = append(f.received, r)
			f.bodies = append(f.bodies, body)
			if _, _, err := hook.Verify(r, body); err != nil {
				return sandbox.Delivery{Status: 400, Reply: err.Error()}
			}
			return sandbox.Delivery{Status: 200, Reply: "success"}
		}}
	hs := httptest.NewServer(f.gw.Handler())
	t.Cleanup(hs.Close)
	f.url = hs.URL
	f.client = &pingpp.Client{BaseURL: hs.URL + sandbox.Prefix, AppID: "app_test", SecretKey: "sk_test_123", HTTP: hs.Client()}
	return f
}

func (f *fixture) charge(t *testing.T, orderNo string) *pingpp.Charge {
	t.Helper()
	c, err := f.client.CreateCharge(t.Context(), pingpp.ChargeRequest{OrderNo: orderNo, Channel: "alipay", Amount: 1234,
		Currency: "cny", ClientIP: "127.0.0.1", Subject: "一件很长很长很长很长很长很长很长很长很长很长很长很长很长的商品名称", Body: "body",
		TimeExpire: f.clock.Now().Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) pay(t *testing.T, id, result string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(f.url+sandbox.Prefix+"/pay/"+id, url.Values{"result": {result}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestChargePayWebhookRefund(t *testing.T) {
	f := setup(t)
	c := f.charge(t, "abc123")
	if !strings.HasPrefix(c.ID, "ch_") || c.Paid || c.Amount != 1234 || len([]rune(c.Subject)) != pingpp.MaxSubject ||
		!strings.Contains(string(c.Credential), `"alipay"`) || !strings.Contains(string(c.Raw), c.ID) {
		t.Fatalf("charge: %+v", c)
	}
	// The cashier page shows it.
	resp, err := http.Get(f.url + sandbox.Prefix + "/pay/" + c.ID)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "12.34") || !strings.Contains(string(page), `value="success"`) {
		t.Fatalf("cashier page: %s", page)
	}

	if code, msg := f.pay(t, c.ID, "success"); code != 200 || !strings.Contains(msg, "webhook answered 200") {
		t.Fatalf("pay: %d %s", code, msg)
	}
	evs := f.gw.Events()
	if len(evs) != 1 || evs[0].Type != "charge.succeeded" || evs[0].Delivery.Status != 200 {
		t.Fatalf("events: %+v", evs)
	}
	hook := &pingpp.Webhook{Keys: []*rsa.PublicKey{sandbox.PublicKey()}, AppID: "app_test"}
	id, n, err := hook.Verify(f.received[0], f.bodies[0])
	if err != nil || id != evs[0].ID || n.OrderNo != "abc123" || n.ProviderTradeNo != c.ID || n.Amount.String() != "12.34" ||
		n.Outcome != payment.OutcomePaid {
		t.Fatalf("webhook: %q %+v %v", id, n, err)
	}
	got, err := f.client.GetCharge(t.Context(), c.ID)
	if err != nil || !got.Paid || got.TimePaid == nil {
		t.Fatalf("charge after pay: %+v %v", got, err)
	}
	// Paying twice is refused and sends nothing.
	if code, _ := f.pay(t, c.ID, "success"); code != http.StatusConflict || len(f.gw.Events()) != 1 {
		t.Fatalf("second pay: %d", code)
	}

	rf, err := f.client.CreateRefund(t.Context(), c.ID, 1234, "not as described")
	if err != nil || rf.Status != pingpp.RefundSucceeded || rf.ChargeOrderNo != "abc123" || rf.Charge != c.ID {
		t.Fatalf("refund: %+v %v", rf, err)
	}
	_, n, err = hook.Verify(f.received[1], f.bodies[1])
	if err != nil || n.Outcome != payment.OutcomeRefunded || n.OrderNo != "abc123" || n.ProviderTradeNo != rf.ID || n.Amount.String() != "12.34" ||
		n.Description != "not as described" {
		t.Fatalf("refund webhook: %+v %v", n, err)
	}
	// The charge lists its refunds, with their descriptions.
	got, err = f.client.GetCharge(t.Context(), c.ID)
	if err != nil || got.AmountRefunded != 1234 || len(got.Refunds.Data) != 1 || got.Refunds.Data[0].ID != rf.ID ||
		got.Refunds.Data[0].Description != "not as described" || got.Refunds.Data[0].Amount != 1234 {
		t.Fatalf("charge after refund: %+v %v", got, err)
	}
	// Nothing is left to refund: a definite refusal.
	_, err = f.client.CreateRefund(t.Context(), c.ID, 1, "again")
	if !pingpp.IsRefusal(err) {
		t.Fatalf("over-refund: %v", err)
	}
}

func TestFailAndExpiry(t *testing.T) {
	f := setup(t)
	c := f.charge(t, "fail1")
	if code, _ := f.pay(t, c.ID, "fail"); code != 200 || len(f.gw.Events()) != 0 {
		t.Fatalf("fail: %d, %d events", code, len(f.gw.Events()))
	}
	got, _ := f.client.GetCharge(t.Context(), c.ID)
	if !got.Closed(f.clock.Now()) || got.FailureCode == nil {
		t.Fatalf("failed charge: %+v", got)
	}
	if code, _ := f.pay(t, c.ID, "success"); code != http.StatusConflict {
		t.Fatalf("paying a failed charge: %d", code)
	}
	c2 := f.charge(t, "late1")
	f.clock.Advance(31 * time.Minute)
	if code, _ := f.pay(t, c2.ID, "success"); code != http.StatusConflict {
		t.Fatalf("paying an expired charge: %d", code)
	}
	if code, _ := f.pay(t, c2.ID, "maybe"); code != http.StatusBadRequest {
		t.Fatalf("bad result: %d", code)
	}
}

func TestRefusalsAndFailures(t *testing.T) {
	f := setup(t)
	bad := *f.client
	bad.SecretKey = "sk_wrong"
	_, err := bad.CreateCharge(t.Context(), pingpp.ChargeRequest{OrderNo: "x1", Channel: "alipay", Amount: 1, Currency: "cny", ClientIP: "1.2.3.4", Subject: "s", Body: "b"})
	var ref *pingpp.Refusal
	if !errors.As(err, &ref) || ref.Status != http.StatusUnauthorized {
		t.Fatalf("wrong key: %v", err)
	}
	_, err = f.client.CreateCharge(t.Context(), pingpp.ChargeRequest{OrderNo: "x2", Channel: "upacp", Amount: 1, Currency: "cny", ClientIP: "1.2.3.4", Subject: "s", Body: "b"})
	if !pingpp.IsRefusal(err) || !strings.Contains(err.Error(), "channel") {
		t.Fatalf("bad channel: %v", err)
	}
	if _, err := f.client.GetCharge(t.Context(), "ch_nope"); !pingpp.IsRefusal(err) {
		t.Fatalf("unknown charge: %v", err)
	}
	// Nobody listening: not a refusal, the outcome is unknown.
	down := *f.client
	down.BaseURL = "http://127.0.0.1:1"
	down.HTTP = &http.Client{Timeout: 2 * time.Second}
	_, err = down.CreateCharge(t.Context(), pingpp.ChargeRequest{OrderNo: "x3", Channel: "wx", Amount: 1, Currency: "cny", ClientIP: "1.2.3.4", Subject: "s", Body: "b"})
	if err == nil || pingpp.IsRefusal(err) || !errors.Is(err, pingpp.ErrUnreachable) {
		t.Fatalf("unreachable: %v", err)
	}
}
