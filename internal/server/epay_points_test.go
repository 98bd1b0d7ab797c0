package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/paygraph/paygraph/internal/provider/epay"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

var pointsOrderNo = regexp.MustCompile(`^ORDER\d{13}\d{4}$`)

// TestPointsFlow is the points flow end to end over HTTP against the embedded
// gateway, for both protocol versions: create, get a pay URL, watch the
// order on a subscription, pay at the cashier, the notify credits the
// points once, sync shows the gateway's view, the browser returns.
func TestPointsFlow(t *testing.T) {
	for _, signType := range []string{"MD5", "RSA"} {
		t.Run(signType, func(t *testing.T) {
			w := newEpayWorld(t, signType, nil, server.Options{})
			watch := testutil.WatchSubscriptions(w.srv)
			o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")
			if !pointsOrderNo.MatchString(o.OrderNo) || o.Type != "POINTS" || o.Status != "PENDING" || *o.LegacyStatus != 0 ||
				o.Amount != "10.00" || o.Asset != "CNY" || *o.Points != 100 || *o.PayWay != "alipay" || *o.Channel != "epay" {
				t.Fatalf("created %+v", o)
			}

			u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo, "returnUrl": "https://shop.example/paid?from=epay"})
			if u.PayType != "qrcode" || u.OrderNo != o.OrderNo || u.TradeNo == "" || u.QrPng == nil ||
				!strings.HasPrefix(u.PayInfo, w.srv.URL+"/sandbox/epay/cashier/") {
				t.Fatalf("pay url %+v", u)
			}
			img, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*u.QrPng, "data:image/png;base64,"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := png.Decode(bytes.NewReader(img)); err != nil {
				t.Fatalf("qrPng is not a PNG: %v", err)
			}
			cur := w.order(t, w.buyer, o.OrderNo, true)
			if cur.Status != "PROCESSING" || *cur.LegacyStatus != 0 || *cur.ProviderTradeNo != u.TradeNo || !cur.Synced ||
				cur.ProviderInfo == nil || cur.ProviderInfo.Status != 0 || *cur.ProviderInfo.TradeNo != u.TradeNo {
				t.Fatalf("processing %+v %+v", cur, cur.ProviderInfo)
			}

			// The cashier page shows the amount, a QR code of the pay URL and the buttons.
			resp, err := http.Get(u.PayInfo)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{"¥10.00", "/sandbox/epay/qr/" + u.TradeNo + ".png", `value="success"`, `value="fail"`, "/sandbox/epay/pay/" + u.TradeNo} {
				if !strings.Contains(string(page), want) {
					t.Fatalf("cashier page lacks %q:\n%s", want, page)
				}
			}
			resp, err = http.Get(w.srv.URL + "/sandbox/epay/qr/" + u.TradeNo + ".png")
			if err != nil {
				t.Fatal(err)
			}
			qr, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if _, err := png.Decode(bytes.NewReader(qr)); err != nil || resp.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("cashier QR: %v %s", err, resp.Header.Get("Content-Type"))
			}

			// A page waiting on the cashier sees PAID without polling.
			ws := testutil.DialWS(t, w.srv.URL, testutil.GraphQLTransportWS, subBearer(w.buyerToken))
			watch.Settle(t)
			ws.Subscribe(t, "1", subOrderStatus, map[string]any{"id": o.ID})
			watch.WaitActive(t, 1)

			if !w.sandboxPay(t, u.TradeNo, "success") {
				t.Fatal("the notify was not acknowledged")
			}
			var ev struct{ OrderStatusChanged subOrderEvent }
			ws.Next(t, subWait).Response.Decode(t, &ev)
			if ev.OrderStatusChanged.To != "PAID" || ev.OrderStatusChanged.Order.Status != "PAID" || ev.OrderStatusChanged.Actor != "callback:epay" {
				t.Fatalf("event %+v", ev.OrderStatusChanged)
			}

			cur = w.order(t, w.buyer, o.OrderNo, false)
			if cur.Status != "PAID" || *cur.LegacyStatus != 1 || cur.StatusDesc != "已支付" || cur.PaidAt == nil || cur.Synced || cur.ProviderInfo != nil {
				t.Fatalf("paid %+v", cur)
			}
			if a, _ := wallet(t, w.buyer, "POINTS"); a != "100" {
				t.Fatalf("points %s", a)
			}
			cur = w.order(t, w.buyer, o.OrderNo, true)
			if !cur.Synced || cur.ProviderInfo.Status != 1 || cur.ProviderInfo.Endtime == nil || *cur.ProviderInfo.Money != "10.00" {
				t.Fatalf("synced paid %+v", cur.ProviderInfo)
			}
			if v := w.verdicts(t); v["APPLIED"] != 1 || len(v) != 1 {
				t.Fatalf("verdicts %v", v)
			}
			// Paying again is refused; a new pay URL too.
			if r, _ := getPayURLResp(w.buyer, map[string]any{"orderNo": o.OrderNo}); r.Code() != "INVALID_TRANSITION" {
				t.Fatalf("pay url of a paid order: %+v", r.Errors)
			}

			// The browser comes back through /payment/return to the order's page.
			p, err := w.srv.EpaySandbox.NotifyParams(u.TradeNo, epay.TradeSuccess)
			if err != nil {
				t.Fatal(err)
			}
			resp, err = w.noRedirectHC.Get(w.srv.URL + "/payment/return?" + p.Values().Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc.Host != "shop.example" || loc.Query().Get("orderNo") != o.OrderNo ||
				loc.Query().Get("status") != "PAID" || loc.Query().Get("from") != "epay" {
				t.Fatalf("return: %d %s", resp.StatusCode, loc)
			}
			p["money"] = "0.01"
			resp, err = w.noRedirectHC.Get(w.srv.URL + "/payment/return?" + p.Values().Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("a forged return: %d", resp.StatusCode)
			}
			w.srv.AssertLedger(t)
		})
	}
}

func TestGetPayURLEveryMethodAndDevice(t *testing.T) {
	w := newEpayWorld(t, "RSA", nil, server.Options{})
	cases := []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{}, "qrcode"},
		{map[string]any{"method": "web", "device": "pc"}, "qrcode"},
		{map[string]any{"method": "web", "device": "mobile"}, "jump"},
		{map[string]any{"method": "web", "device": "qq"}, "jump"},
		{map[string]any{"method": "web", "device": "wechat"}, "jump"},
		{map[string]any{"method": "web", "device": "alipay"}, "jump"},
		{map[string]any{"method": "jump"}, "jump"},
		{map[string]any{"method": "jsapi", "subOpenId": "o123", "subAppId": "wx1"}, "jsapi"},
		{map[string]any{"method": "app"}, "app"},
		{map[string]any{"method": "applet"}, "wxapp"},
		{map[string]any{"method": "scan", "authCode": "134567890123456789"}, "scan"},
	}
	for _, tc := range cases {
		o := w.createPoints(t, w.buyer, "1.00", 10, "alipay")
		tc.in["orderNo"] = o.OrderNo
		u := w.getPayURL(t, w.buyer, tc.in)
		if u.PayType != tc.want || u.PayInfo == "" || (u.QrPng != nil) != (tc.want == "qrcode") {
			t.Errorf("%v: %+v", tc.in, u)
		}
		if tc.want != "qrcode" && tc.want != "jump" && !json.Valid([]byte(u.PayInfo)) {
			t.Errorf("%s pay info is not JSON: %s", tc.want, u.PayInfo)
		}
	}
	// WeChat pays through its applet plugin.
	o := w.createPoints(t, w.buyer, "1.00", 10, "wechat")
	if u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo, "method": "applet"}); u.PayType != "wxplugin" {
		t.Errorf("wechat applet: %+v", u)
	}
	// A payment code is charged at once: the order is paid when getPayUrl answers.
	last := w.order(t, w.buyer, w.createPoints(t, w.buyer, "2.00", 20, "alipay").OrderNo, false)
	w.getPayURL(t, w.buyer, map[string]any{"orderNo": last.OrderNo, "method": "scan", "authCode": "134567890123456789"})
	if got := w.order(t, w.buyer, last.OrderNo, false); got.Status != "PAID" {
		t.Fatalf("scan: %s", got.Status)
	}

	for name, in := range map[string]map[string]any{
		"method":     {"method": "post"},
		"device":     {"device": "tv"},
		"scan":       {"method": "scan"},
		"return url": {"returnUrl": "javascript:alert(1)"},
	} {
		in["orderNo"] = o.OrderNo
		r, _ := getPayURLResp(w.buyer, in)
		if r.Code() != "BAD_USER_INPUT" || legacyCode(r) != float64(-1) {
			t.Errorf("%s: %+v", name, r.Errors)
		}
	}
	if a, _ := wallet(t, w.buyer, "POINTS"); a != "30" { // both payment codes
		t.Fatalf("points %s", a)
	}
	w.srv.AssertLedger(t)
}

func TestPointsV1KnowsItsMethods(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	o := w.createPoints(t, w.buyer, "1.00", 10, "wechat")
	if u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo, "device": "mobile"}); u.PayType != "jump" {
		t.Fatalf("mobile: %+v", u)
	}
	if u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo, "method": "jump"}); u.PayType != "jump" {
		t.Fatalf("jump: %+v", u)
	}
	r, _ := getPayURLResp(w.buyer, map[string]any{"orderNo": o.OrderNo, "method": "jsapi"})
	if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "V2") {
		t.Fatalf("jsapi on V1: %+v", r.Errors)
	}
}

func TestPointsOrderInput(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	const m = `mutation($in:CreatePointsOrderInput!){createPointsOrder(input:$in){id}}`
	for name, in := range map[string]map[string]any{
		"too many decimals": {"amount": "10.001", "points": 100, "paymentType": "alipay"},
		"a JSON number":     {"amount": 10, "points": 100, "paymentType": "alipay"},
		"zero amount":       {"amount": "0.00", "points": 100, "paymentType": "alipay"},
		"negative amount":   {"amount": "-1.00", "points": 100, "paymentType": "alipay"},
		"no points":         {"amount": "10.00", "points": 0, "paymentType": "alipay"},
		"no payment type":   {"amount": "10.00", "points": 100, "paymentType": ""},
		"bad payment type":  {"amount": "10.00", "points": 100, "paymentType": "ali pay"},
		"bad return url":    {"amount": "10.00", "points": 100, "paymentType": "alipay", "returnUrl": "ftp://x"},
	} {
		r := w.buyer.Do(t, m, map[string]any{"in": in})
		if r.Code() != "BAD_USER_INPUT" {
			t.Errorf("%s: %+v", name, r.Errors)
		}
	}
	r := w.buyer.Do(t, m, map[string]any{"in": map[string]any{"amount": "10.001", "points": 100, "paymentType": "alipay"}})
	if legacyCode(r) != float64(-1) {
		t.Fatalf("legacy code %v", r.Errors)
	}
	if r := w.c.Do(t, m, map[string]any{"in": map[string]any{"amount": "1.00", "points": 1, "paymentType": "alipay"}}); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("anonymous: %+v", r.Errors)
	}
	// A USER buys for itself only; an admin names the buyer.
	otherID, _ := w.c.NewUser(t, "other")
	if r := w.buyer.Do(t, m, map[string]any{"in": map[string]any{"amount": "1.00", "points": 1, "paymentType": "alipay", "userId": otherID}}); r.Code() != "FORBIDDEN" {
		t.Fatalf("for another user: %+v", r.Errors)
	}
	if r := w.admin.Do(t, m, map[string]any{"in": map[string]any{"amount": "1.00", "points": 1, "paymentType": "alipay"}}); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("admin without userId: %+v", r.Errors)
	}
	w.admin.Do(t, m, map[string]any{"in": map[string]any{"amount": "1.00", "points": 1, "paymentType": "alipay", "userId": otherID}}).Decode(t, &struct{}{})

	// The same idempotency key replays the order.
	in := map[string]any{"amount": "5.00", "points": 50, "paymentType": "qq", "idempotencyKey": "k1"}
	var a, b struct{ CreatePointsOrder struct{ ID string } }
	w.buyer.Do(t, m, map[string]any{"in": in}).Decode(t, &a)
	w.buyer.Do(t, m, map[string]any{"in": in}).Decode(t, &b)
	if a.CreatePointsOrder.ID != b.CreatePointsOrder.ID {
		t.Fatal("the key did not replay")
	}
	in["amount"] = "6.00"
	if r := w.buyer.Do(t, m, map[string]any{"in": in}); r.Code() != "IDEMPOTENCY_CONFLICT" {
		t.Fatalf("other input: %+v", r.Errors)
	}

	// Only the buyer (or its app, or an admin) gets a pay URL; strangers do not see the order.
	o := w.createPoints(t, w.buyer, "1.00", 1, "alipay")
	_, strangerTok := w.c.NewUser(t, "stranger")
	r, _ = getPayURLResp(w.c.As(strangerTok), map[string]any{"orderNo": o.OrderNo})
	if r.Code() != "FORBIDDEN" || legacyCode(r) != float64(-2) {
		t.Fatalf("stranger: %+v", r.Errors)
	}
	if r, _ := getPayURLResp(w.buyer, map[string]any{"orderNo": "ORDER00000000000000000"}); r.Code() != "NOT_FOUND" {
		t.Fatalf("unknown order: %+v", r.Errors)
	}
}

// TestSameNotifyEightTimesAtOnce: a genuine notify arriving eight times
// at once marks the order paid and credits the points once; every copy
// is answered success.
func TestSameNotifyEightTimesAtOnce(t *testing.T) {
	for _, signType := range []string{"MD5", "RSA"} {
		t.Run(signType, func(t *testing.T) {
			w := newEpayWorld(t, signType, nil, server.Options{})
			o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")
			u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo})
			p, err := w.srv.EpaySandbox.NotifyParams(u.TradeNo, epay.TradeSuccess)
			if err != nil {
				t.Fatal(err)
			}
			replies := make([]string, 8)
			var wg sync.WaitGroup
			for i := range replies {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					resp, err := http.Get(w.srv.URL + "/payment/notify?" + p.Values().Encode())
					if err != nil {
						return
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					replies[i] = string(b)
				}(i)
			}
			wg.Wait()
			for _, r := range replies {
				if r != "success" {
					t.Fatalf("replies %q", replies)
				}
			}
			if a, _ := wallet(t, w.buyer, "POINTS"); a != "100" {
				t.Fatalf("points %s", a)
			}
			if v := w.verdicts(t); v["APPLIED"] != 1 || v["DUPLICATE"] != 7 {
				t.Fatalf("verdicts %v", v)
			}
			var hist struct {
				Order struct{ Events []struct{ To string } }
			}
			w.buyer.Do(t, `query($no:String!){order(orderNo:$no){events{to}}}`, map[string]any{"no": o.OrderNo}).Decode(t, &hist)
			if n := len(hist.Order.Events); n != 3 { // PENDING, PROCESSING, PAID
				t.Fatalf("history %+v", hist.Order.Events)
			}
			// A POST form is read too, and is a replay as well.
			resp, err := http.Post(w.srv.URL+"/payment/notify", "application/x-www-form-urlencoded", strings.NewReader(p.Values().Encode()))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "success" {
				t.Fatalf("POST replay: %s", b)
			}
			w.srv.AssertLedger(t)
		})
	}
}

// TestBadNotifiesChangeNothing: a forged sign, a wrong amount, an unknown
// order, a trade_status other than success, another merchant — each is
// stored, changes nothing and is not answered success.
func TestBadNotifiesChangeNothing(t *testing.T) {
	w := newEpayWorld(t, "MD5", nil, server.Options{})
	o := w.createPoints(t, w.buyer, "10.00", 100, "alipay")
	u := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo})
	signed := func(mut func(url.Values)) url.Values {
		p := epay.Params{"pid": "1000", "trade_no": u.TradeNo, "out_trade_no": o.OrderNo, "type": "alipay", "name": "100 积分",
			"money": "10.00", "trade_status": "TRADE_SUCCESS"}
		v := p.Values()
		mut(v)
		p, _ = epay.FromValues(v)
		v.Set("sign", epay.SignMD5(p, epayKey))
		v.Set("sign_type", "MD5")
		return v
	}
	forged := signed(func(url.Values) {})
	forged.Set("sign", epay.SignMD5(epay.Params{"pid": "1000", "money": "10.00"}, "guessed-key"))
	tampered := signed(func(url.Values) {})
	tampered.Set("money", "0.01")
	unsigned := signed(func(url.Values) {})
	unsigned.Del("sign")
	cases := map[string]url.Values{
		"forged sign":       forged,
		"tampered amount":   tampered,
		"no sign":           unsigned,
		"wrong amount":      signed(func(v url.Values) { v.Set("money", "9.99") }),
		"too many decimals": signed(func(v url.Values) { v.Set("money", "10.001") }),
		"unknown order":     signed(func(v url.Values) { v.Set("out_trade_no", "ORDER00000000000009999") }),
		"trade closed":      signed(func(v url.Values) { v.Set("trade_status", "TRADE_CLOSED") }),
		"waiting":           signed(func(v url.Values) { v.Set("trade_status", "WAIT_BUYER_PAY") }),
		"other merchant":    signed(func(v url.Values) { v.Set("pid", "1001") }),
	}
	for name, v := range cases {
		if r := w.notify(t, v); r == "success" {
			t.Errorf("%s answered success", name)
		}
	}
	// The cashier's Fail button sends a genuine notify that is not a payment.
	w.sandboxPay(t, u.TradeNo, "fail")

	cur := w.order(t, w.buyer, o.OrderNo, false)
	if cur.Status != "PROCESSING" || cur.PaidAt != nil {
		t.Fatalf("order moved: %+v", cur)
	}
	if a, _ := wallet(t, w.buyer, "POINTS"); a != "0" {
		t.Fatalf("points %s", a)
	}
	if v := w.verdicts(t); v["REJECTED"] != len(cases)+1 || len(v) != 1 {
		t.Fatalf("verdicts %v", v)
	}
	var out struct {
		CallbackEvents struct {
			Edges []struct{ Node struct{ Error, Body string } }
		}
	}
	w.admin.Do(t, `{callbackEvents(where:{verdict:REJECTED},first:100){edges{node{error body}}}}`, nil).Decode(t, &out)
	for _, e := range out.CallbackEvents.Edges {
		if e.Node.Error == "" || !strings.Contains(e.Node.Body, "trade_no=") {
			t.Fatalf("stored %+v", e.Node)
		}
	}

	// After the failed attempt the order is still payable: a new trade, paid.
	u2 := w.getPayURL(t, w.buyer, map[string]any{"orderNo": o.OrderNo})
	if u2.TradeNo == u.TradeNo {
		t.Fatal("the failed trade was offered again")
	}
	if !w.sandboxPay(t, u2.TradeNo, "success") {
		t.Fatal("not acknowledged")
	}
	if a, _ := wallet(t, w.buyer, "POINTS"); a != "100" {
		t.Fatalf("points %s", a)
	}
	w.srv.AssertLedger(t)
}
