package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygraph/paygraph/ent/callbackevent"
	"github.com/paygraph/paygraph/internal/provider/game"
	"github.com/paygraph/paygraph/internal/testutil"
)

// gameFix is a fixture for the game goods flow: a game app with its SERVICE token, a
// sword in its catalogue, a buyer and another user.
type gameFix struct {
	srv                 *testutil.Server
	c, admin, svc       *testutil.Client
	buyer, other        *testutil.Client
	appID               string
	buyerID, otherID    string
	key                 []byte
	alg                 game.Algorithm
	orderRows, cbEvents func() int
}

const gameKey = "game-provider-key-for-tests"

func newGame(t *testing.T, env testutil.Env) *gameFix {
	t.Helper()
	srv := testutil.Start(t, env)
	c := srv.Client()
	g := &gameFix{srv: srv, c: c, admin: c.As(c.AdminToken(t)), key: srv.GameSandbox.Provider.Key, alg: srv.GameSandbox.Provider.Algorithm}
	var app struct {
		CreateApp struct {
			App          struct{ ID string }
			ServiceToken string
		}
	}
	g.admin.Do(t, `mutation{createApp(name:"dragon game"){app{id} serviceToken}}`, nil).Decode(t, &app)
	g.appID, g.svc = app.CreateApp.App.ID, c.As(app.CreateApp.ServiceToken)
	var tok string
	g.buyerID, tok = c.NewUser(t, "buyer")
	g.buyer = c.As(tok)
	g.otherID, tok = c.NewUser(t, "other")
	g.other = c.As(tok)
	g.upsert(t, g.appID, "sword", "屠龙刀", "128.00")
	g.upsert(t, g.appID, "shield", "盾", "30.50")
	g.orderRows = func() int { n, _ := srv.DB.Ent.Order.Query().Count(t.Context()); return n }
	g.cbEvents = func() int { n, _ := srv.DB.Ent.CallbackEvent.Query().Count(t.Context()); return n }
	return g
}

func gameEnv(t *testing.T) testutil.Env {
	env := testutil.Base(t)
	env["PAYGRAPH_GAME_CALLBACK_KEY"] = gameKey
	return env
}

func (g *gameFix) upsert(t *testing.T, appID, id, item, price string) {
	t.Helper()
	r := g.admin.Do(t, `mutation($in:UpsertGoodsInput!){upsertGoods(input:$in){id}}`,
		map[string]any{"in": map[string]any{"id": id, "appId": appID, "item": item, "singlePrice": price}})
	if len(r.Errors) > 0 {
		t.Fatalf("upsertGoods: %+v", r.Errors)
	}
}

var createGoodsOrder = `mutation($in:CreateGoodsOrderInput!){createGoodsOrder(input:$in){
  orderNo item itemId singlePrice userId
  order{id orderNo type status statusDesc amount asset item itemId title channel payer{id} app{id} expiresAt ` + testutil.EveryEdge("Order") + `}}}`

type goodsOrder struct {
	OrderNo, Item, ItemID, SinglePrice, UserID string
	Order                                      struct {
		ID, OrderNo, Type, Status, StatusDesc, Amount, Asset, Item, ItemID, Title, Channel string
		Payer                                                                              struct{ ID string }
		App                                                                                struct{ ID string }
		ExpiresAt                                                                          *string
	}
}

// order creates a GOODS order as c and returns it.
func (g *gameFix) order(t *testing.T, c *testutil.Client, in map[string]any) goodsOrder {
	t.Helper()
	var out struct{ CreateGoodsOrder goodsOrder }
	c.Do(t, createGoodsOrder, map[string]any{"in": in}).Decode(t, &out)
	return out.CreateGoodsOrder
}

func (g *gameFix) sword(t *testing.T) goodsOrder {
	t.Helper()
	return g.order(t, g.svc, map[string]any{"userId": g.buyerID, "item": "屠龙刀", "itemId": "sword", "singlePrice": "128.00"})
}

type orderState struct {
	Status, ProviderTradeNo string
	PaidAt, CompletedAt     *string
	Events                  []struct{ From, To, Actor string }
}

func (g *gameFix) state(t *testing.T, orderNo string) orderState {
	t.Helper()
	var out struct{ Order orderState }
	g.admin.Do(t, `query($no:String){order(orderNo:$no){status providerTradeNo paidAt completedAt events{from to actor}}}`,
		map[string]any{"no": orderNo}).Decode(t, &out)
	return out.Order
}

// notice is a genuine callback for orderNo, unsigned.
func notice(orderNo, tradeNo, amount string, at time.Time) map[string]string {
	return map[string]string{
		"game_order_no": orderNo, "gyyx_order_no": tradeNo, "result": "success", "result_message": "支付成功",
		"rmb_yuan": amount, "server_flag": "s1", "common_param": "", "timestamp": strconv.FormatInt(at.Unix(), 10),
	}
}

// signed returns f with sign set the way the provider signs.
func (g *gameFix) signed(f map[string]string) map[string]string {
	alg := g.alg
	if st := f["signType"]; st != "" {
		alg, _ = game.ParseAlgorithm(st)
	}
	f["sign"] = game.Sign(alg, g.key, f)
	return f
}

// jsonBody writes f as a JSON object with rmb_yuan as a JSON number, as
// the provider's document shows it.
func jsonBody(f map[string]string) []byte {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		b.Write(kj)
		b.WriteByte(':')
		if k == "rmb_yuan" {
			b.WriteString(f[k])
		} else {
			vj, _ := json.Marshal(f[k])
			b.Write(vj)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

type reply struct {
	game.Envelope
	Status    int
	RequestID string
}

// post sends a callback over HTTP: body with contentType, or only a query.
func (g *gameFix) post(t *testing.T, contentType string, body []byte, query string) reply {
	t.Helper()
	r, err := g.postErr(contentType, body, query)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (g *gameFix) postErr(contentType string, body []byte, query string) (reply, error) {
	u := g.srv.URL + "/api/pay/callback"
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := g.srv.HTTP.Client().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return out, fmt.Errorf("content type %q, body %s", resp.Header.Get("Content-Type"), raw)
	}
	if err := json.Unmarshal(raw, &out.Envelope); err != nil {
		return out, fmt.Errorf("body %s: %w", raw, err)
	}
	return out, nil
}

func (g *gameFix) postJSON(t *testing.T, f map[string]string) reply {
	t.Helper()
	return g.post(t, "application/json", jsonBody(f), "")
}

func (g *gameFix) verify(t *testing.T, c *testutil.Client, in map[string]any) (verified, first bool, status string, r *testutil.Response) {
	t.Helper()
	r = c.Do(t, `mutation($in:VerifyOrderInput!){verifyOrder(input:$in){verified firstDelivery order{orderNo status}}}`,
		map[string]any{"in": in})
	if len(r.Errors) > 0 {
		return false, false, "", r
	}
	var out struct {
		VerifyOrder struct {
			Verified, FirstDelivery bool
			Order                   *struct{ OrderNo, Status string }
		}
	}
	r.Decode(t, &out)
	if out.VerifyOrder.Order != nil {
		status = out.VerifyOrder.Order.Status
	}
	return out.VerifyOrder.Verified, out.VerifyOrder.FirstDelivery, status, r
}

func TestGameGoodsWholeFlow(t *testing.T) {
	g := newGame(t, gameEnv(t))

	var goods struct {
		Goods struct{ ID, Item, SinglePrice string }
	}
	g.svc.Do(t, `{goods(id:"sword"){id item singlePrice}}`, nil).Decode(t, &goods)
	if goods.Goods.Item != "屠龙刀" || goods.Goods.SinglePrice != "128.00" {
		t.Fatalf("goods %+v", goods.Goods)
	}

	o := g.sword(t)
	if o.OrderNo != "811-"+o.Order.ID || o.Order.OrderNo != o.OrderNo || o.Item != "屠龙刀" || o.ItemID != "sword" ||
		o.SinglePrice != "128.00" || o.UserID != g.buyerID {
		t.Fatalf("payload %+v", o)
	}
	if oo := o.Order; oo.Type != "GOODS" || oo.Status != "PENDING" || oo.StatusDesc != "待支付" || oo.Amount != "128.00" ||
		oo.Asset != "CNY" || oo.Item != "屠龙刀" || oo.ItemID != "sword" || oo.Title != "屠龙刀" || oo.Channel != "game" ||
		oo.Payer.ID != g.buyerID || oo.App.ID != g.appID || oo.ExpiresAt == nil {
		t.Fatalf("order %+v", oo)
	}
	// The buyer sees its order; another user does not.
	if r := g.buyer.Do(t, `query($no:String){order(orderNo:$no){status}}`, map[string]any{"no": o.OrderNo}); len(r.Errors) > 0 {
		t.Fatalf("buyer reads order: %+v", r.Errors)
	}
	if r := g.other.Do(t, `query($no:String){order(orderNo:$no){status}}`, map[string]any{"no": o.OrderNo}); r.Code() != "FORBIDDEN" {
		t.Fatalf("stranger reads order: %+v", r.Errors)
	}
	// Not paid yet: not verified, and not delivered.
	if v, first, status, r := g.verify(t, g.svc, map[string]any{"userId": g.buyerID, "item": "屠龙刀", "order": o.OrderNo}); len(r.Errors) > 0 || v || first || status != "PENDING" {
		t.Fatalf("verify before pay: %v %v %s %+v", v, first, status, r.Errors)
	}

	// The provider calls back: JSON, rmb_yuan a JSON number, default md5.
	rep := g.postJSON(t, g.signed(notice(o.OrderNo, "GY-1001", "128.00", time.Now())))
	if rep.Status != http.StatusOK || rep.Result != "success" || rep.State != "" || rep.TraceID == "" || rep.TraceID != rep.RequestID {
		t.Fatalf("reply %+v", rep)
	}
	st := g.state(t, o.OrderNo)
	if st.Status != "PAID" || st.ProviderTradeNo != "GY-1001" || st.PaidAt == nil || len(st.Events) != 2 || st.Events[1].Actor != "callback:game" {
		t.Fatalf("after callback %+v", st)
	}

	// The game verifies: delivered once.
	v, first, status, _ := g.verify(t, g.svc, map[string]any{"userId": g.buyerID, "item": "屠龙刀", "itemId": "sword", "order": o.OrderNo})
	if !v || !first || status != "COMPLETED" {
		t.Fatalf("first verify: %v %v %s", v, first, status)
	}
	v, first, status, _ = g.verify(t, g.svc, map[string]any{"userId": g.buyerID, "item": "屠龙刀", "order": o.OrderNo})
	if !v || first || status != "COMPLETED" {
		t.Fatalf("second verify: %v %v %s", v, first, status)
	}
	if st := g.state(t, o.OrderNo); st.CompletedAt == nil || len(st.Events) != 3 || st.Events[2].To != "COMPLETED" {
		t.Fatalf("after verify %+v", st)
	}
	// A replay of the callback is a success that changes nothing.
	rep = g.postJSON(t, g.signed(notice(o.OrderNo, "GY-1001", "128.00", time.Now())))
	if rep.Result != "success" || !strings.Contains(rep.State, "duplicate") {
		t.Fatalf("replay %+v", rep)
	}
	if st := g.state(t, o.OrderNo); st.Status != "COMPLETED" || len(st.Events) != 3 {
		t.Fatalf("after replay %+v", st)
	}
	// GOODS money is collected by the provider: no wallet moved.
	if n, _ := g.srv.DB.Ent.WalletEntry.Query().Count(t.Context()); n != 0 {
		t.Fatalf("%d ledger postings for a provider-collected payment", n)
	}
	g.srv.AssertLedger(t)
}

// TestGameCallbackEncodings pays through a form body and through query
// parameters, signed with hmac-sha256 named by signType.
func TestGameCallbackEncodings(t *testing.T) {
	g := newGame(t, gameEnv(t))
	form, query := g.sword(t), g.sword(t)

	f := notice(form.OrderNo, "GY-F", "128", time.Now())
	f["signType"] = "hmac-sha256"
	v := url.Values{}
	for k, val := range g.signed(f) {
		v.Set(k, val)
	}
	if rep := g.post(t, "application/x-www-form-urlencoded", []byte(v.Encode()), ""); rep.Result != "success" {
		t.Fatalf("form: %+v", rep)
	}
	q := notice(query.OrderNo, "GY-Q", "128.0", time.Now())
	q["signType"] = "HMAC-SHA256"
	v = url.Values{}
	for k, val := range g.signed(q) {
		v.Set(k, val)
	}
	if rep := g.post(t, "", nil, v.Encode()); rep.Result != "success" {
		t.Fatalf("query: %+v", rep)
	}
	for no, trade := range map[string]string{form.OrderNo: "GY-F", query.OrderNo: "GY-Q"} {
		if st := g.state(t, no); st.Status != "PAID" || st.ProviderTradeNo != trade {
			t.Fatalf("%s: %+v", no, st)
		}
	}
	// A result other than success/0 fails the payment.
	failed := g.sword(t)
	fl := notice(failed.OrderNo, "GY-X", "128.00", time.Now())
	fl["result"] = "fail"
	if rep := g.postJSON(t, g.signed(fl)); rep.Result != "success" {
		t.Fatalf("failure notice: %+v", rep)
	}
	zero := g.sword(t)
	z := notice(zero.OrderNo, "GY-Z", "128.00", time.Now())
	z["result"] = "0"
	if rep := g.postJSON(t, g.signed(z)); rep.Result != "success" {
		t.Fatalf("result 0: %+v", rep)
	}
	if s1, s2 := g.state(t, failed.OrderNo).Status, g.state(t, zero.OrderNo).Status; s1 != "FAILED" || s2 != "PAID" {
		t.Fatalf("result fail → %s, result 0 → %s", s1, s2)
	}
	g.srv.AssertLedger(t)
}

func TestGameBadCallbacksChangeNothing(t *testing.T) {
	g := newGame(t, gameEnv(t))
	o := g.sword(t)
	now := time.Now()

	forged := notice(o.OrderNo, "GY-2", "128.00", now)
	forged["sign"] = game.Sign(game.MD5, []byte("not-the-key"), forged)
	tampered := g.signed(notice(o.OrderNo, "GY-2", "128.00", now))
	tampered["rmb_yuan"] = "1.00"
	unsigned := notice(o.OrderNo, "GY-2", "128.00", now)
	missing := notice(o.OrderNo, "GY-2", "128.00", now)
	delete(missing, "gyyx_order_no")
	badType := notice(o.OrderNo, "GY-2", "128.00", now)
	badType["signType"] = "sha1"

	cases := []struct {
		name  string
		f     map[string]string
		state string
	}{
		{"forged signature", forged, "signature"},
		{"tampered amount", tampered, "signature"},
		{"no signature", unsigned, "sign is missing"},
		{"unknown signType", badType, "signType"},
		{"missing field", g.signed(missing), "gyyx_order_no is missing"},
		{"wrong amount", g.signed(notice(o.OrderNo, "GY-2", "127.99", now)), "amount"},
		{"too many decimals", g.signed(notice(o.OrderNo, "GY-2", "128.001", now)), "amount"},
		{"unknown order", g.signed(notice("811-1", "GY-2", "128.00", now)), "not found"},
		{"not a game order", g.signed(notice(strings.TrimPrefix(o.OrderNo, "811-"), "GY-2", "128.00", now)), "not a game order"},
		{"stale timestamp", g.signed(notice(o.OrderNo, "GY-2", "128.00", now.Add(-6*time.Minute))), "timestamp"},
		{"future timestamp", g.signed(notice(o.OrderNo, "GY-2", "128.00", now.Add(6*time.Minute))), "timestamp"},
		{"bad timestamp", g.signed(map[string]string{"game_order_no": o.OrderNo, "gyyx_order_no": "GY-2", "result": "success", "rmb_yuan": "128.00", "timestamp": "soon"}), "timestamp"},
	}
	for _, c := range cases {
		rep := g.postJSON(t, c.f)
		if rep.Result != "fail" || !strings.Contains(rep.State, c.state) || rep.TraceID == "" {
			t.Errorf("%s: %+v", c.name, rep)
		}
	}
	if rep := g.post(t, "application/json", []byte(`{"game_order_no":`), ""); rep.Result != "fail" {
		t.Errorf("broken JSON: %+v", rep)
	}
	// Each was stored and refused; the order did not move.
	if st := g.state(t, o.OrderNo); st.Status != "PENDING" || len(st.Events) != 1 || st.ProviderTradeNo != "" {
		t.Fatalf("order moved: %+v", st)
	}
	rejected, _ := g.srv.DB.Ent.CallbackEvent.Query().Where(callbackevent.VerdictEQ(callbackevent.VerdictREJECTED)).Count(t.Context())
	if total := g.cbEvents(); rejected != len(cases)+1 || total != rejected {
		t.Fatalf("%d events, %d rejected; want %d", total, rejected, len(cases)+1)
	}
	var listed struct {
		CallbackEvents struct {
			TotalCount int
			Edges      []struct {
				Node struct{ Provider, Body, Error string }
			}
		}
	}
	g.admin.Do(t, `{callbackEvents(where:{provider:"game", verdict:REJECTED}){totalCount edges{node{provider body error}}}}`, nil).Decode(t, &listed)
	if listed.CallbackEvents.TotalCount != len(cases)+1 || !strings.Contains(listed.CallbackEvents.Edges[0].Node.Body, "GY-2") {
		t.Fatalf("listed %+v", listed.CallbackEvents)
	}

	// The genuine one still pays; a stale replay of it afterwards is
	// answered as the duplicate it is, so the provider stops retrying.
	if rep := g.postJSON(t, g.signed(notice(o.OrderNo, "GY-2", "128.00", now))); rep.Result != "success" || rep.State != "" {
		t.Fatalf("genuine: %+v", rep)
	}
	if rep := g.postJSON(t, g.signed(notice(o.OrderNo, "GY-2", "128.00", now.Add(-time.Hour)))); rep.Result != "success" || !strings.Contains(rep.State, "duplicate") {
		t.Fatalf("stale replay of an applied callback: %+v", rep)
	}
	// A stale callback for another payment of it is still refused.
	if rep := g.postJSON(t, g.signed(notice(o.OrderNo, "GY-3", "128.00", now.Add(-time.Hour)))); rep.Result != "fail" {
		t.Fatalf("stale new payment: %+v", rep)
	}
	if st := g.state(t, o.OrderNo); st.Status != "PAID" || st.ProviderTradeNo != "GY-2" || len(st.Events) != 2 {
		t.Fatalf("after genuine: %+v", st)
	}
	g.srv.AssertLedger(t)
}

func TestGameGenuineCallbackEightTimesAtOnce(t *testing.T) {
	g := newGame(t, gameEnv(t))
	o := g.sword(t)
	body := jsonBody(g.signed(notice(o.OrderNo, "GY-8", "128.00", time.Now())))
	var wg sync.WaitGroup
	replies := make([]reply, 8)
	errs := make([]error, 8)
	for i := range replies {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			replies[i], errs[i] = g.postErr("application/json", body, "")
		}(i)
	}
	wg.Wait()
	applied := 0
	for i, r := range replies {
		if errs[i] != nil || r.Result != "success" {
			t.Fatalf("reply %d: %+v %v", i, r, errs[i])
		}
		if r.State == "" {
			applied++
		}
	}
	st := g.state(t, o.OrderNo)
	if applied != 1 || st.Status != "PAID" || len(st.Events) != 2 {
		t.Fatalf("%d applied, order %+v", applied, st)
	}
	verdicts := map[callbackevent.Verdict]int{}
	evs, _ := g.srv.DB.Ent.CallbackEvent.Query().All(t.Context())
	for _, e := range evs {
		verdicts[e.Verdict]++
	}
	if verdicts[callbackevent.VerdictAPPLIED] != 1 || verdicts[callbackevent.VerdictDUPLICATE] != 7 {
		t.Fatalf("verdicts %v", verdicts)
	}
	g.srv.AssertLedger(t)
}

func TestGameVerifyOnlyForThatUserAndItem(t *testing.T) {
	g := newGame(t, gameEnv(t))
	o := g.sword(t)
	if rep := g.postJSON(t, g.signed(notice(o.OrderNo, "GY-V", "128.00", time.Now()))); rep.Result != "success" {
		t.Fatalf("pay: %+v", rep)
	}
	for name, in := range map[string]map[string]any{
		"another user":    {"userId": g.otherID, "item": "屠龙刀", "order": o.OrderNo},
		"another item":    {"userId": g.buyerID, "item": "盾", "order": o.OrderNo},
		"another item id": {"userId": g.buyerID, "item": "屠龙刀", "itemId": "shield", "order": o.OrderNo},
		"no such paid":    {"userId": g.otherID, "item": "屠龙刀"},
	} {
		v, first, status, r := g.verify(t, g.svc, in)
		if len(r.Errors) > 0 || v || first || status != "" {
			t.Errorf("%s: verified %v first %v order %q %+v", name, v, first, status, r.Errors)
		}
	}
	// A user cannot mark its own order delivered (only the game can).
	if _, _, _, r := g.verify(t, g.buyer, map[string]any{"userId": g.buyerID, "item": "屠龙刀", "order": o.OrderNo}); r.Code() != "FORBIDDEN" {
		t.Fatalf("user verifies: %+v", r.Errors)
	}
	// Another app's SERVICE does not see the order.
	var app struct{ CreateApp struct{ ServiceToken string } }
	g.admin.Do(t, `mutation{createApp(name:"other game"){serviceToken}}`, nil).Decode(t, &app)
	if _, _, _, r := g.verify(t, g.c.As(app.CreateApp.ServiceToken), map[string]any{"userId": g.buyerID, "item": "屠龙刀", "order": o.OrderNo}); r.Code() != "NOT_FOUND" {
		t.Fatalf("other app verifies: %+v", r.Errors)
	}
	if st := g.state(t, o.OrderNo); st.Status != "PAID" {
		t.Fatalf("refused verifications moved the order: %+v", st)
	}

	// Eight verifications at once: exactly one first delivery.
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts, verified := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := g.svc.Post(`mutation($in:VerifyOrderInput!){verifyOrder(input:$in){verified firstDelivery}}`,
				map[string]any{"in": map[string]any{"userId": g.buyerID, "item": "屠龙刀", "order": o.OrderNo}})
			if err != nil || len(r.Errors) > 0 {
				t.Errorf("verify: %v %+v", err, r)
				return
			}
			var out struct {
				VerifyOrder struct{ Verified, FirstDelivery bool }
			}
			if err := json.Unmarshal(r.Data, &out); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if out.VerifyOrder.Verified {
				verified++
			}
			if out.VerifyOrder.FirstDelivery {
				firsts++
			}
		}()
	}
	wg.Wait()
	if firsts != 1 || verified != 8 {
		t.Fatalf("%d first deliveries, %d verified of 8", firsts, verified)
	}
	if st := g.state(t, o.OrderNo); st.Status != "COMPLETED" || len(st.Events) != 3 {
		t.Fatalf("after verifications %+v", st)
	}

	// Without an order number the user's oldest paid, undelivered order is taken.
	o2, o3 := g.sword(t), g.sword(t)
	for i, x := range []goodsOrder{o2, o3} {
		if rep := g.postJSON(t, g.signed(notice(x.OrderNo, fmt.Sprintf("GY-W%d", i), "128.00", time.Now()))); rep.Result != "success" {
			t.Fatalf("pay: %+v", rep)
		}
	}
	for i, want := range []string{o2.OrderNo, o3.OrderNo} {
		r := g.svc.Do(t, `mutation($in:VerifyOrderInput!){verifyOrder(input:$in){verified firstDelivery order{orderNo}}}`,
			map[string]any{"in": map[string]any{"userId": g.buyerID, "item": "屠龙刀"}})
		var out struct {
			VerifyOrder struct {
				Verified, FirstDelivery bool
				Order                   struct{ OrderNo string }
			}
		}
		r.Decode(t, &out)
		if !out.VerifyOrder.Verified || !out.VerifyOrder.FirstDelivery || out.VerifyOrder.Order.OrderNo != want {
			t.Fatalf("verify %d without order: %+v", i, out.VerifyOrder)
		}
	}
	if v, _, _, _ := g.verify(t, g.svc, map[string]any{"userId": g.buyerID, "item": "屠龙刀"}); v {
		t.Fatal("verified with every paid order delivered")
	}
	g.srv.AssertLedger(t)
}

func TestGameCancel(t *testing.T) {
	g := newGame(t, gameEnv(t))
	cancel := `mutation($in:CancelOrderInput!){cancelOrder(input:$in){orderNo status statusDesc}}`

	// The buyer cancels its unpaid order; again is a no-op.
	o := g.sword(t)
	for i := range 2 {
		var out struct {
			CancelOrder struct{ OrderNo, Status, StatusDesc string }
		}
		g.buyer.Do(t, cancel, map[string]any{"in": map[string]any{"userId": g.buyerID, "order": o.OrderNo}}).Decode(t, &out)
		if out.CancelOrder.Status != "CANCELLED" || out.CancelOrder.StatusDesc != "已撤销" {
			t.Fatalf("cancel %d: %+v", i, out.CancelOrder)
		}
	}
	if st := g.state(t, o.OrderNo); len(st.Events) != 2 {
		t.Fatalf("history %+v", st.Events)
	}
	// Payment after cancel: stored, answered success, listed for refund.
	rep := g.postJSON(t, g.signed(notice(o.OrderNo, "GY-LATE", "128.00", time.Now())))
	if rep.Result != "success" || !strings.Contains(rep.State, "refund") {
		t.Fatalf("late payment: %+v", rep)
	}
	if rep := g.postJSON(t, g.signed(notice(o.OrderNo, "GY-LATE", "128.00", time.Now()))); rep.Result != "success" {
		t.Fatalf("late payment retried: %+v", rep)
	}
	if st := g.state(t, o.OrderNo); st.Status != "CANCELLED" || st.ProviderTradeNo != "" {
		t.Fatalf("cancelled order moved: %+v", st)
	}
	var refunds struct {
		CallbackEvents struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					ProviderEventID string
					Order           struct{ OrderNo, Status string }
				}
			}
		}
	}
	g.admin.Do(t, `{callbackEvents(where:{verdict:NEEDS_REFUND}){totalCount edges{node{providerEventID order{orderNo status}}}}}`, nil).Decode(t, &refunds)
	if ce := refunds.CallbackEvents; ce.TotalCount != 1 || ce.Edges[0].Node.ProviderEventID != "GY-LATE" || ce.Edges[0].Node.Order.OrderNo != o.OrderNo {
		t.Fatalf("refunds due: %+v", ce)
	}
	if v, _, _, _ := g.verify(t, g.svc, map[string]any{"userId": g.buyerID, "item": "屠龙刀", "order": o.OrderNo}); v {
		t.Fatal("cancelled order verified")
	}

	// Cancel after pay.
	paid := g.sword(t)
	if rep := g.postJSON(t, g.signed(notice(paid.OrderNo, "GY-P", "128.00", time.Now()))); rep.Result != "success" {
		t.Fatalf("pay: %+v", rep)
	}
	if r := g.svc.Do(t, cancel, map[string]any{"in": map[string]any{"userId": g.buyerID, "order": paid.OrderNo}}); r.Code() != "INVALID_TRANSITION" {
		t.Fatalf("cancel after pay: %+v", r.Errors)
	}
	// Not someone else's order, and not for someone else.
	open := g.sword(t)
	if r := g.other.Do(t, cancel, map[string]any{"in": map[string]any{"userId": g.buyerID, "order": open.OrderNo}}); r.Code() != "FORBIDDEN" {
		t.Fatalf("other user cancels: %+v", r.Errors)
	}
	if r := g.other.Do(t, cancel, map[string]any{"in": map[string]any{"userId": g.otherID, "order": open.OrderNo}}); r.Code() != "NOT_FOUND" {
		t.Fatalf("other user cancels as itself: %+v", r.Errors)
	}
	for no, want := range map[string]string{paid.OrderNo: "PAID", open.OrderNo: "PENDING"} {
		if st := g.state(t, no); st.Status != want {
			t.Fatalf("%s is %s, want %s", no, st.Status, want)
		}
	}
	g.srv.AssertLedger(t)
}

func TestCreateGoodsOrderRules(t *testing.T) {
	g := newGame(t, gameEnv(t))
	g.upsert(t, "1", "gem", "宝石", "6.00")
	r := g.admin.Do(t, `mutation{upsertGoods(input:{id:"old", appId:"1", item:"旧", singlePrice:"1.00", active:false}){id}}`, nil)
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	base := func(kv ...any) map[string]any {
		in := map[string]any{"userId": g.buyerID, "item": "屠龙刀", "itemId": "sword", "singlePrice": "128.00"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(in, kv[i].(string))
			} else {
				in[kv[i].(string)] = kv[i+1]
			}
		}
		return in
	}
	before := g.orderRows()
	for name, c := range map[string]struct {
		client *testutil.Client
		in     map[string]any
		code   string
	}{
		"price differs":      {g.svc, base("singlePrice", "120.88"), "AMOUNT_MISMATCH"},
		"price too precise":  {g.svc, base("singlePrice", "128.001"), "BAD_USER_INPUT"},
		"price a number":     {g.svc, base("singlePrice", 128), "BAD_USER_INPUT"},
		"unknown goods":      {g.svc, base("itemId", "bow"), "NOT_FOUND"},
		"item differs":       {g.svc, base("item", "盾"), "BAD_USER_INPUT"},
		"no item":            {g.svc, base("item", ""), "BAD_USER_INPUT"},
		"unknown item":       {g.svc, base("itemId", nil, "item", "弓"), "NOT_FOUND"},
		"unknown user":       {g.svc, base("userId", "12345"), "NOT_FOUND"},
		"for another user":   {g.other, base("appId", g.appID), "FORBIDDEN"},
		"another app's":      {g.svc, base("appId", "1"), "FORBIDDEN"},
		"not on sale":        {g.buyer, base("item", "旧", "itemId", "old", "singlePrice", "1.00"), "BAD_USER_INPUT"},
		"other app catalog":  {g.buyer, base("item", "宝石", "itemId", "gem", "singlePrice", "6.00", "appId", g.appID), "NOT_FOUND"},
		"anonymous":          {g.c, base(), "UNAUTHENTICATED"},
		"user, default app1": {g.buyer, base(), "NOT_FOUND"},
	} {
		r := c.client.Do(t, createGoodsOrder, map[string]any{"in": c.in})
		if r.Code() != c.code {
			t.Errorf("%s: want %s, got %+v", name, c.code, r.Errors)
		}
	}
	if n := g.orderRows(); n != before {
		t.Fatalf("%d orders created by refused calls", n-before)
	}

	// The user itself buys from app 1's catalogue; itemId may be left out
	// when the item names one goods entry.
	o := g.order(t, g.buyer, map[string]any{"userId": g.buyerID, "item": "宝石", "singlePrice": "6"})
	if o.ItemID != "gem" || o.SinglePrice != "6.00" || o.Order.App.ID != "1" || o.Order.Payer.ID != g.buyerID {
		t.Fatalf("user's own order %+v", o)
	}
	g.upsert(t, "1", "gem2", "宝石", "6.00")
	if r := g.buyer.Do(t, createGoodsOrder, map[string]any{"in": map[string]any{"userId": g.buyerID, "item": "宝石", "singlePrice": "6.00"}}); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("ambiguous item: %+v", r.Errors)
	}

	// Idempotency: the same key replays the order, other input conflicts.
	in := base("idempotencyKey", "k-1")
	first, again := g.order(t, g.svc, in), g.order(t, g.svc, in)
	if first.OrderNo != again.OrderNo || again.ItemID != "sword" || again.SinglePrice != "128.00" || again.UserID != g.buyerID {
		t.Fatalf("replay %+v vs %+v", again, first)
	}
	if r := g.svc.Do(t, createGoodsOrder, map[string]any{"in": base("idempotencyKey", "k-1", "itemId", "shield", "item", "盾", "singlePrice", "30.50")}); r.Code() != "IDEMPOTENCY_CONFLICT" {
		t.Fatalf("conflict: %+v", r.Errors)
	}
	if n := g.orderRows(); n != before+2 {
		t.Fatalf("%d orders, want %d", n, before+2)
	}
	g.srv.AssertLedger(t)
}

// TestGameSandboxHelper tries the loop the way a game team does on
// `make run`: no key configured, the admin helper sends the callback.
func TestGameSandboxHelper(t *testing.T) {
	g := newGame(t, testutil.Base(t))
	send := `mutation($in:SendGameTestCallbackInput!){sendGameTestCallback(input:$in){body status result state traceId}}`
	type sent struct {
		Body, Result, State, TraceID string
		Status                       int
	}
	do := func(in map[string]any) sent {
		t.Helper()
		var out struct{ SendGameTestCallback sent }
		g.admin.Do(t, send, map[string]any{"in": in}).Decode(t, &out)
		return out.SendGameTestCallback
	}
	o := g.sword(t)
	if s := do(map[string]any{"order": o.OrderNo, "rmbYuan": "1.00"}); s.Result != "fail" || !strings.Contains(s.State, "amount") {
		t.Fatalf("wrong amount: %+v", s)
	}
	s := do(map[string]any{"order": o.OrderNo})
	if s.Status != 200 || s.Result != "success" || s.State != "" || s.TraceID == "" || !strings.Contains(s.Body, `"rmb_yuan":128.00`) {
		t.Fatalf("sandbox callback: %+v", s)
	}
	if st := g.state(t, o.OrderNo); st.Status != "PAID" || !strings.HasPrefix(st.ProviderTradeNo, "SANDBOX-") {
		t.Fatalf("after sandbox %+v", st)
	}
	// Its body, posted by hand, is a replay.
	if rep := g.post(t, "application/json", []byte(s.Body), ""); rep.Result != "success" || !strings.Contains(rep.State, "duplicate") {
		t.Fatalf("replayed by hand: %+v", rep)
	}
	o2 := g.sword(t)
	if s := do(map[string]any{"order": o2.OrderNo, "signType": "hmac-sha256", "result": "cancelled by player"}); s.Result != "success" {
		t.Fatalf("hmac failure notice: %+v", s)
	}
	if st := g.state(t, o2.OrderNo); st.Status != "FAILED" {
		t.Fatalf("after failure notice %+v", st)
	}
	if r := g.svc.Do(t, send, map[string]any{"in": map[string]any{"order": o2.OrderNo}}); r.Code() != "FORBIDDEN" {
		t.Fatalf("service uses the helper: %+v", r.Errors)
	}
	if r := g.admin.Do(t, send, map[string]any{"in": map[string]any{"order": "811-1"}}); r.Code() != "NOT_FOUND" {
		t.Fatalf("unknown order: %+v", r.Errors)
	}
	g.srv.AssertLedger(t)

	// With the provider's key configured the helper is off.
	k := newGame(t, gameEnv(t))
	o3 := k.sword(t)
	if r := k.admin.Do(t, send, map[string]any{"in": map[string]any{"order": o3.OrderNo}}); r.Code() != "FORBIDDEN" {
		t.Fatalf("helper with a real key: %+v", r.Errors)
	}
	if string(k.key) != gameKey {
		t.Fatalf("configured key not used")
	}
	k.srv.AssertLedger(t)
}

// TestGameHMACConfigured refuses md5 once hmac-sha256 is configured.
func TestGameHMACConfigured(t *testing.T) {
	env := gameEnv(t)
	env["PAYGRAPH_GAME_CALLBACK_SIGN"] = "hmac-sha256"
	g := newGame(t, env)
	o := g.sword(t)
	md5 := notice(o.OrderNo, "GY-H", "128.00", time.Now())
	md5["signType"] = "md5"
	if rep := g.postJSON(t, g.signed(md5)); rep.Result != "fail" || !strings.Contains(rep.State, "hmac-sha256") {
		t.Fatalf("md5 accepted: %+v", rep)
	}
	// Without signType, the configured algorithm.
	if rep := g.postJSON(t, g.signed(notice(o.OrderNo, "GY-H", "128.00", time.Now()))); rep.Result != "success" {
		t.Fatalf("hmac: %+v", rep)
	}
	if st := g.state(t, o.OrderNo); st.Status != "PAID" {
		t.Fatalf("status %s", st.Status)
	}
	g.srv.AssertLedger(t)
}
