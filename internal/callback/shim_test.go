package callback_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/callbackevent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/testutil"
)

// fakeProvider signs form bodies with HMAC-SHA256, like a minimal real one.
type fakeProvider struct{ key string }

func (fakeProvider) Name() string { return "fake" }

func (p fakeProvider) sign(v url.Values) string {
	v.Del("sign")
	m := hmac.New(sha256.New, []byte(p.key))
	m.Write([]byte(v.Encode()))
	return hex.EncodeToString(m.Sum(nil))
}

func (p fakeProvider) Verify(r *http.Request, body []byte) (string, payment.Notice, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return "", payment.Notice{}, err
	}
	sig := v.Get("sign")
	if !hmac.Equal([]byte(sig), []byte(p.sign(v))) {
		return v.Get("trade_no"), payment.Notice{}, errors.New("bad signature")
	}
	amt, err := money.ParseDecimal(v.Get("money"))
	if err != nil {
		return "", payment.Notice{}, err
	}
	out := payment.OutcomePaid
	if v.Get("status") != "success" {
		out = payment.OutcomeFailed
	}
	return v.Get("trade_no"), payment.Notice{OrderNo: v.Get("out_trade_no"), ProviderTradeNo: v.Get("trade_no"), Amount: amt, Outcome: out}, nil
}

func (fakeProvider) MaxBytes() int64 { return 4 << 10 }

func (fakeProvider) Reply(w http.ResponseWriter, _ *http.Request, ok bool, _ string) {
	if ok {
		io.WriteString(w, "success")
		return
	}
	io.WriteString(w, "fail")
}

type env struct {
	srv  *testutil.Server
	url  string
	prov fakeProvider
}

func setup(t *testing.T) *env {
	srv := testutil.Start(t, testutil.Base(t))
	p := fakeProvider{key: "k3y"}
	hs := httptest.NewServer(srv.Shim.Handler(p))
	t.Cleanup(hs.Close)
	return &env{srv: srv, url: hs.URL, prov: p}
}

func (e *env) newOrder(t *testing.T, no string, status order.Status) *ent.Order {
	o, err := e.srv.DB.Ent.Order.Create().SetOrderNo(no).SetType(order.TypeGOODS).SetAppID(1).
		SetAmount(1000).SetAsset("CNY").SetStatus(status).SetChannel("fake").Save(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (e *env) notify(t *testing.T, v url.Values, sign bool) string {
	if sign {
		v.Set("sign", e.prov.sign(v))
	}
	resp, err := http.Post(e.url, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func paidNotice(orderNo, tradeNo, amount string) url.Values {
	return url.Values{"out_trade_no": {orderNo}, "trade_no": {tradeNo}, "money": {amount}, "status": {"success"}}
}

func (e *env) status(t *testing.T, id int64) order.Status {
	o, err := e.srv.DB.Ent.Order.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status
}

func (e *env) verdicts(t *testing.T) map[callbackevent.Verdict]int {
	evs, err := e.srv.DB.Ent.CallbackEvent.Query().All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m := map[callbackevent.Verdict]int{}
	for _, ev := range evs {
		m[ev.Verdict]++
	}
	return m
}

func TestGenuineNotifyEightTimesAtOnce(t *testing.T) {
	e := setup(t)
	o := e.newOrder(t, "G1", order.StatusPENDING)
	var wg sync.WaitGroup
	replies := make([]string, 8)
	for i := range replies {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			replies[i] = e.notify(t, paidNotice("G1", "T1", "10.00"), true)
		}(i)
	}
	wg.Wait()
	for _, r := range replies {
		if r != "success" {
			t.Fatalf("replies %v", replies)
		}
	}
	if s := e.status(t, o.ID); s != order.StatusPAID {
		t.Fatalf("status %s", s)
	}
	n, _ := e.srv.DB.Ent.OrderEvent.Query().Count(t.Context())
	if v := e.verdicts(t); v[callbackevent.VerdictAPPLIED] != 1 || v[callbackevent.VerdictDUPLICATE] != 7 || n != 1 {
		t.Fatalf("verdicts %v, %d history steps", v, n)
	}
	got, _ := e.srv.DB.Ent.Order.Get(t.Context(), o.ID)
	if got.ProviderTradeNo != "T1" || got.PaidAt == nil {
		t.Fatalf("order %+v", got)
	}
}

func TestBadNoticesChangeNothing(t *testing.T) {
	e := setup(t)
	o := e.newOrder(t, "G2", order.StatusPENDING)
	forged := paidNotice("G2", "T2", "10.00")
	forged.Set("sign", "0000")
	for name, c := range map[string]struct {
		v    url.Values
		sign bool
	}{
		"forged sign":   {forged, false},
		"wrong amount":  {paidNotice("G2", "T2", "9.99"), true},
		"unknown order": {paidNotice("NOPE", "T3", "10.00"), true},
		"bad amount":    {paidNotice("G2", "T2", "ten"), true},
	} {
		if r := e.notify(t, c.v, c.sign); r == "success" {
			t.Errorf("%s answered success", name)
		}
	}
	if s := e.status(t, o.ID); s != order.StatusPENDING {
		t.Fatalf("status %s", s)
	}
	if v := e.verdicts(t); v[callbackevent.VerdictREJECTED] != 4 || len(v) != 1 {
		t.Fatalf("verdicts %v", v)
	}
	// Admins inspect them through the callbackEvents connection.
	c := e.srv.Client()
	var out struct {
		CallbackEvents struct {
			TotalCount int
			Edges      []struct {
				Node struct{ Provider, Error, Body string }
			}
		}
	}
	c.As(c.AdminToken(t)).Do(t, `{callbackEvents(where:{verdict:REJECTED}){totalCount edges{node{provider error body}}}}`, nil).Decode(t, &out)
	if out.CallbackEvents.TotalCount != 4 || out.CallbackEvents.Edges[0].Node.Provider != "fake" || out.CallbackEvents.Edges[0].Node.Error == "" {
		t.Fatalf("callbackEvents: %+v", out.CallbackEvents)
	}
	if r := c.Do(t, `{callbackEvents{totalCount}}`, nil); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("anonymous callbackEvents: %+v", r.Errors)
	}
	// A forged callback carrying the real trade number does not block the real one.
	if r := e.notify(t, paidNotice("G2", "T2", "10.00"), true); r != "success" {
		t.Fatalf("genuine after forged: %s", r)
	}
	if s := e.status(t, o.ID); s != order.StatusPAID {
		t.Fatalf("status %s", s)
	}
	// A failure notice after payment does not move it back.
	failed := paidNotice("G2", "T2", "10.00")
	failed.Set("status", "fail")
	if r := e.notify(t, failed, true); r != "success" {
		t.Fatalf("late failure: %s", r)
	}
	if s := e.status(t, o.ID); s != order.StatusPAID {
		t.Fatalf("moved back to %s", s)
	}
}

func TestSecondPaymentOfAPaidOrderIsKeptForRefund(t *testing.T) {
	e := setup(t)
	o := e.newOrder(t, "G4", order.StatusPENDING)
	if r := e.notify(t, paidNotice("G4", "T5", "10.00"), true); r != "success" {
		t.Fatalf("first payment: %s", r)
	}
	if r := e.notify(t, paidNotice("G4", "T6", "10.00"), true); r != "success" {
		t.Fatalf("second payment answered %s: the provider must stop retrying", r)
	}
	got, _ := e.srv.DB.Ent.Order.Get(t.Context(), o.ID)
	if got.Status != order.StatusPAID || got.ProviderTradeNo != "T5" {
		t.Fatalf("order %s / %s", got.Status, got.ProviderTradeNo)
	}
	if v := e.verdicts(t); v[callbackevent.VerdictAPPLIED] != 1 || v[callbackevent.VerdictNEEDS_REFUND] != 1 {
		t.Fatalf("verdicts %v", v)
	}
}

func TestPaymentForACancelledOrderIsKeptForRefund(t *testing.T) {
	e := setup(t)
	o := e.newOrder(t, "G3", order.StatusCANCELLED)
	if r := e.notify(t, paidNotice("G3", "T4", "10.00"), true); r != "success" {
		t.Fatalf("reply %s: the provider must stop retrying", r)
	}
	if s := e.status(t, o.ID); s != order.StatusCANCELLED {
		t.Fatalf("status %s", s)
	}
	ev, err := e.srv.DB.Ent.CallbackEvent.Query().Only(t.Context())
	if err != nil || ev.Verdict != callbackevent.VerdictNEEDS_REFUND || ev.OrderID != o.ID || !strings.Contains(ev.Body, "T4") {
		t.Fatalf("stored %+v %v", ev, err)
	}
}
