// Package epaysandbox is an embedded 易支付 (epay) gateway for local use and
// tests. It speaks the merchant protocol of both versions — submit.php,
// mapi.php and api.php (V1, MD5) and api/pay/submit, api/pay/create,
// api/pay/query and api/pay/refund (V2, RSA) — keeps its trades in memory,
// and has a cashier page with the amount, a QR code of the pay URL and
// Pay / Fail buttons. A paid trade is announced with a signed notify to
// the merchant's notify_url, retried on the documented schedule until the
// merchant answers "success".
//
// The server talks to it over HTTP exactly as to a real gateway.
package epaysandbox

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/provider/epay"
	"github.com/paygraph/paygraph/internal/qrpng"
)

// DefaultSchedule is the documented notify schedule: the first attempt at
// once, then after 15 s, 15 s, 30 s, 3 min, 4 × 30 min and 1 h.
var DefaultSchedule = []time.Duration{0, 15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute,
	30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, time.Hour}

// Options configure the sandbox's one merchant.
type Options struct {
	PID string
	// Key is the V1 merchant key.
	Key string
	// MerchantKey verifies V2 requests; PlatformKey signs V2 answers and
	// notifies. Without them the V2 interface refuses every call.
	MerchantKey *rsa.PublicKey
	PlatformKey *rsa.PrivateKey
	// BaseURL returns the sandbox's own public base URL (…/sandbox/epay),
	// for pay URLs and QR codes.
	BaseURL func() string
	// Schedule is the delay before each notify attempt (default
	// DefaultSchedule).
	Schedule []time.Duration
	// NotifyTimeout bounds each notify call (default 10 s).
	NotifyTimeout time.Duration
	Log           *slog.Logger
}

// Trade statuses, as api.php and api/pay/query report them.
const (
	unpaid   = epay.StatusUnpaid
	paid     = epay.StatusPaid
	refunded = epay.StatusRefunded
)

type trade struct {
	TradeNo, OutTradeNo, APITradeNo string
	Type, Name, Money, Param        string
	NotifyURL, ReturnURL, ClientIP  string
	Buyer                           string
	Version                         epay.Version
	Status                          int
	// Closed: the payer failed the payment at the cashier.
	Closed           bool
	Amount, Refunded int64 // fen
	AddTime, EndTime time.Time
}

type refund struct {
	RefundNo, TradeNo, Money string
}

// Gateway is the sandbox.
type Gateway struct {
	opts   Options
	client *http.Client
	tr     *http.Transport
	mux    *http.ServeMux
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// queries counts the order queries answered (api.php act=order and
	// api/pay/query).
	queries atomic.Int64

	mu      sync.Mutex
	trades  map[string]*trade // by trade_no
	byOut   map[string]string // out_trade_no → trade_no
	refunds map[string]*refund
}

// maxTrades bounds the memory a long-running sandbox holds.
const maxTrades = 100000

// Queries is how many order queries the sandbox has answered.
func (g *Gateway) Queries() int64 { return g.queries.Load() }

// New returns a sandbox; Close stops its pending notifies.
func New(o Options) *Gateway {
	if len(o.Schedule) == 0 {
		o.Schedule = DefaultSchedule
	}
	if o.NotifyTimeout <= 0 {
		o.NotifyTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	g := &Gateway{
		opts: o, tr: tr,
		client:  &http.Client{Transport: tr, Timeout: o.NotifyTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		trades:  map[string]*trade{},
		byOut:   map[string]string{},
		refunds: map[string]*refund{},
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	m := http.NewServeMux()
	m.HandleFunc("/submit.php", g.submitV1)
	m.HandleFunc("/api/pay/submit", g.submitV2)
	m.HandleFunc("POST /mapi.php", g.mapi)
	m.HandleFunc("/api.php", g.api)
	m.HandleFunc("POST /api/pay/create", g.createV2)
	m.HandleFunc("POST /api/pay/query", g.queryV2)
	m.HandleFunc("POST /api/pay/refund", g.refundV2)
	m.HandleFunc("GET /cashier/{trade_no}", g.cashier)
	m.HandleFunc("GET /qr/{file}", g.qr)
	m.HandleFunc("POST /pay/{trade_no}", g.pay)
	g.mux = m
	return g
}

// Handler serves the sandbox; mount it under its base path with
// http.StripPrefix.
func (g *Gateway) Handler() http.Handler { return g.mux }

// Close stops pending notify retries and waits for them.
func (g *Gateway) Close() {
	g.cancel()
	g.wg.Wait()
	g.tr.CloseIdleConnections()
}

// ---- requests ----

// apiError is a refusal in the protocol's own shape.
type apiError struct{ msg string }

func (e apiError) Error() string { return e.msg }

func refuse(format string, args ...any) error { return apiError{fmt.Sprintf(format, args...)} }

// params reads a request's query and form as Params.
func params(r *http.Request) (epay.Params, error) {
	if err := r.ParseForm(); err != nil {
		return nil, refuse("参数格式错误")
	}
	p, err := epay.FromValues(r.Form)
	if err != nil {
		return nil, refuse("参数重复: %s", err)
	}
	return p, nil
}

func (g *Gateway) verifyV1(p epay.Params) error {
	if p["pid"] != g.opts.PID {
		return refuse("商户不存在")
	}
	if !epay.VerifyMD5(p, g.opts.Key) {
		return refuse("签名校验失败")
	}
	return nil
}

func (g *Gateway) verifyV2(p epay.Params) error {
	if p["pid"] != g.opts.PID {
		return refuse("商户不存在")
	}
	if g.opts.MerchantKey == nil || g.opts.PlatformKey == nil {
		return refuse("商户未开通V2接口")
	}
	if !strings.EqualFold(p["sign_type"], "RSA") || !epay.VerifyRSA(p, g.opts.MerchantKey) {
		return refuse("签名校验失败")
	}
	ts, err := strconv.ParseInt(p["timestamp"], 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > epay.MaxClockSkew {
		return refuse("时间戳无效")
	}
	return nil
}

// keyOK checks V1's plaintext key (api.php).
func (g *Gateway) keyOK(p epay.Params) bool {
	return p["pid"] == g.opts.PID && g.opts.Key != "" &&
		subtle.ConstantTimeCompare([]byte(p["key"]), []byte(g.opts.Key)) == 1
}

var cny = money.Asset{Code: "CNY", Scale: 2}

// open creates a trade for a payment request, or returns the open trade
// of the same order and amount (a payer who asks twice pays once).
func (g *Gateway) open(p epay.Params, v epay.Version) (*trade, error) {
	for _, k := range []string{"type", "out_trade_no", "notify_url", "name", "money"} {
		if strings.TrimSpace(p[k]) == "" {
			return nil, refuse("缺少参数 %s", k)
		}
	}
	if len(p["out_trade_no"]) > 64 || len(p["name"]) > 256 || len(p["type"]) > 32 {
		return nil, refuse("参数过长")
	}
	d, err := money.ParseDecimal(p["money"])
	if err != nil {
		return nil, refuse("金额格式错误")
	}
	amount, err := cny.Minor(d)
	if err != nil || amount <= 0 || amount > 100_000_000_00 {
		return nil, refuse("金额不合法")
	}
	if u, err := url.Parse(p["notify_url"]); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, refuse("notify_url 不合法")
	}
	if ru := p["return_url"]; ru != "" {
		if u, err := url.Parse(ru); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, refuse("return_url 不合法")
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if no, ok := g.byOut[p["out_trade_no"]]; ok {
		t := g.trades[no]
		switch {
		case t.Status != unpaid:
			return nil, refuse("该订单已支付")
		case !t.Closed && t.Amount == amount:
			return t, nil
		}
	}
	if len(g.trades) >= maxTrades {
		return nil, refuse("系统繁忙")
	}
	now := time.Now()
	t := &trade{
		TradeNo: now.Format("20060102150405") + digits(5), OutTradeNo: p["out_trade_no"],
		Type: p["type"], Name: p["name"], Money: cny.Decimal(amount).String(), Param: p["param"],
		NotifyURL: p["notify_url"], ReturnURL: p["return_url"], ClientIP: p["clientip"],
		Version: v, Amount: amount, AddTime: now,
	}
	g.trades[t.TradeNo] = t
	g.byOut[t.OutTradeNo] = t.TradeNo
	return t, nil
}

func digits(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

func (g *Gateway) cashierURL(t *trade) string {
	return g.opts.BaseURL() + "/cashier/" + t.TradeNo
}

// find returns a copy of the trade named by trade_no or out_trade_no.
func (g *Gateway) find(p epay.Params) (trade, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	no := p["trade_no"]
	if no == "" {
		no = g.byOut[p["out_trade_no"]]
	}
	t, ok := g.trades[no]
	if !ok || (p["out_trade_no"] != "" && t.OutTradeNo != p["out_trade_no"]) {
		return trade{}, false
	}
	return *t, true
}

// ---- page payment ----

func (g *Gateway) submitV1(w http.ResponseWriter, r *http.Request) {
	g.submit(w, r, epay.V1)
}

func (g *Gateway) submitV2(w http.ResponseWriter, r *http.Request) {
	g.submit(w, r, epay.V2)
}

func (g *Gateway) submit(w http.ResponseWriter, r *http.Request, v epay.Version) {
	p, err := params(r)
	if err == nil {
		if v == epay.V1 {
			err = g.verifyV1(p)
		} else {
			err = g.verifyV2(p)
		}
	}
	var t *trade
	if err == nil {
		t, err = g.open(p, v)
	}
	if err != nil {
		page(w, http.StatusBadRequest, "支付请求被拒绝", err.Error(), "")
		return
	}
	http.Redirect(w, r, g.cashierURL(t), http.StatusFound)
}

// ---- API payment ----

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (g *Gateway) mapi(w http.ResponseWriter, r *http.Request) {
	p, err := params(r)
	if err == nil {
		err = g.verifyV1(p)
	}
	var t *trade
	if err == nil {
		t, err = g.open(p, epay.V1)
	}
	if err != nil {
		writeJSON(w, map[string]any{"code": -1, "msg": err.Error()})
		return
	}
	out := map[string]any{"code": 1, "msg": "success", "trade_no": t.TradeNo}
	switch p["device"] {
	case "", "pc":
		out["qrcode"] = g.cashierURL(t)
	default: // mobile, qq, wechat, alipay, jump
		out["payurl"] = g.cashierURL(t)
	}
	writeJSON(w, out)
}

// writeV2 signs a V2 answer with the platform key.
func (g *Gateway) writeV2(w http.ResponseWriter, p epay.Params) {
	p["code"] = "0"
	if p["msg"] == "" {
		p["msg"] = "succ"
	}
	p["timestamp"] = strconv.FormatInt(time.Now().Unix(), 10)
	sig, err := epay.SignRSA(p, g.opts.PlatformKey)
	if err != nil {
		writeJSON(w, map[string]any{"code": -1, "msg": "签名失败"})
		return
	}
	p["sign"], p["sign_type"] = sig, "RSA"
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
	}
	out["code"] = 0
	writeJSON(w, out)
}

var (
	methods = map[string]bool{"web": true, "jump": true, "jsapi": true, "app": true, "scan": true, "applet": true}
	devices = map[string]bool{"pc": true, "mobile": true, "qq": true, "wechat": true, "alipay": true}
)

func (g *Gateway) createV2(w http.ResponseWriter, r *http.Request) {
	p, err := params(r)
	if err == nil {
		err = g.verifyV2(p)
	}
	method, device := p["method"], p["device"]
	if device == "" {
		device = "pc"
	}
	if err == nil && !methods[method] {
		err = refuse("接口类型 method 不合法")
	}
	if err == nil && method == "web" && !devices[device] {
		err = refuse("设备类型 device 不合法")
	}
	if err == nil && method == "scan" && p["auth_code"] == "" {
		err = refuse("付款码支付需要 auth_code")
	}
	var t *trade
	if err == nil {
		t, err = g.open(p, epay.V2)
	}
	if err != nil {
		writeJSON(w, map[string]any{"code": -1, "msg": err.Error()})
		return
	}
	payURL := g.cashierURL(t)
	info := func(m map[string]string) string {
		m["pay_url"] = payURL
		b, _ := json.Marshal(m)
		return string(b)
	}
	var payType, payInfo string
	switch method {
	case "web":
		switch {
		case device == "pc":
			payType, payInfo = "qrcode", payURL
		case device == "wechat" && p["sub_openid"] != "":
			payType, payInfo = "jsapi", info(g.jsapi(t))
		default:
			payType, payInfo = "jump", payURL
		}
	case "jump":
		payType, payInfo = "jump", payURL
	case "jsapi":
		payType, payInfo = "jsapi", info(g.jsapi(t))
	case "app":
		payType, payInfo = "app", info(map[string]string{"trade_no": t.TradeNo, "type": t.Type,
			"prepayid": "sandbox" + t.TradeNo, "noncestr": digits(16), "timestamp": strconv.FormatInt(time.Now().Unix(), 10)})
	case "applet":
		if t.Type == "wxpay" {
			payType = "wxplugin"
		} else {
			payType = "wxapp"
		}
		payInfo = info(map[string]string{"trade_no": t.TradeNo, "appid": "sandbox", "path": "pages/pay/index?trade_no=" + t.TradeNo})
	case "scan":
		// A payment code is charged at once.
		g.markPaid(t.TradeNo)
		payType, payInfo = "scan", info(map[string]string{"trade_no": t.TradeNo, "out_trade_no": t.OutTradeNo, "money": t.Money, "buyer": "sandbox-buyer"})
		g.announce(t.TradeNo, epay.TradeSuccess, true)
	}
	g.writeV2(w, epay.Params{"trade_no": t.TradeNo, "pay_type": payType, "pay_info": payInfo})
}

func (g *Gateway) jsapi(t *trade) map[string]string {
	return map[string]string{"appId": "sandbox", "timeStamp": strconv.FormatInt(time.Now().Unix(), 10),
		"nonceStr": digits(16), "package": "prepay_id=sandbox" + t.TradeNo, "signType": "RSA", "paySign": "sandbox"}
}

// ---- queries and refunds ----

func tradeTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02 15:04:05")
}

func (t trade) fields() epay.Params {
	return epay.Params{
		"trade_no": t.TradeNo, "out_trade_no": t.OutTradeNo, "api_trade_no": t.APITradeNo,
		"type": t.Type, "name": t.Name, "money": t.Money, "param": t.Param, "buyer": t.Buyer,
		"addtime": tradeTime(t.AddTime), "endtime": tradeTime(t.EndTime),
	}
}

func (g *Gateway) api(w http.ResponseWriter, r *http.Request) {
	p, err := params(r)
	if err != nil {
		writeJSON(w, map[string]any{"code": -1, "msg": err.Error()})
		return
	}
	if !g.keyOK(p) {
		writeJSON(w, map[string]any{"code": -3, "msg": "KEY校验失败"})
		return
	}
	switch p["act"] {
	case "order":
		g.queries.Add(1)
		t, ok := g.find(p)
		if !ok {
			writeJSON(w, map[string]any{"code": -1, "msg": "订单号不存在"})
			return
		}
		out := map[string]any{"code": 1, "msg": "查询订单号成功！", "pid": g.opts.PID, "status": t.Status}
		for k, v := range t.fields() {
			out[k] = v
		}
		writeJSON(w, out)
	case "refund":
		if r.Method != http.MethodPost {
			writeJSON(w, map[string]any{"code": -1, "msg": "请使用POST提交"})
			return
		}
		rf, err := g.refund(p, "")
		if err != nil {
			writeJSON(w, map[string]any{"code": -1, "msg": err.Error()})
			return
		}
		writeJSON(w, map[string]any{"code": 1, "msg": "退款成功", "refund_no": rf.RefundNo, "money": rf.Money})
	default:
		writeJSON(w, map[string]any{"code": -5, "msg": "No Act!"})
	}
}

func (g *Gateway) queryV2(w http.ResponseWriter, r *http.Request) {
	p, err := params(r)
	if err == nil {
		err = g.verifyV2(p)
	}
	if err != nil {
		writeJSON(w, map[string]any{"code": -1, "msg": err.Error()})
		return
	}
	g.queries.Add(1)
	t, ok := g.find(p)
	if !ok {
		writeJSON(w, map[string]any{"code": -1, "msg": "订单号不存在"})
		return
	}
	out := t.fields()
	out["pid"], out["status"], out["clientip"] = g.opts.PID, strconv.Itoa(t.Status), t.ClientIP
	out["refundmoney"] = cny.Decimal(t.Refunded).String()
	g.writeV2(w, out)
}

func (g *Gateway) refundV2(w http.ResponseWriter, r *http.Request) {
	p, err := params(r)
	if err == nil {
		err = g.verifyV2(p)
	}
	var rf *refund
	if err == nil {
		rf, err = g.refund(p, p["out_refund_no"])
	}
	if err != nil {
		writeJSON(w, map[string]any{"code": -1, "msg": err.Error()})
		return
	}
	g.writeV2(w, epay.Params{"refund_no": rf.RefundNo, "out_refund_no": p["out_refund_no"], "trade_no": rf.TradeNo,
		"money": rf.Money, "reducemoney": rf.Money})
}

// refund gives back part or all of a paid trade; a V2 refund number is
// honoured once.
func (g *Gateway) refund(p epay.Params, outRefundNo string) (*refund, error) {
	d, err := money.ParseDecimal(p["money"])
	if err != nil {
		return nil, refuse("金额格式错误")
	}
	amount, err := cny.Minor(d)
	if err != nil || amount <= 0 {
		return nil, refuse("退款金额不合法")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if outRefundNo != "" {
		if rf, ok := g.refunds[outRefundNo]; ok {
			return rf, nil
		}
	}
	no := p["trade_no"]
	if no == "" {
		no = g.byOut[p["out_trade_no"]]
	}
	t, ok := g.trades[no]
	if !ok || (p["out_trade_no"] != "" && t.OutTradeNo != p["out_trade_no"]) {
		return nil, refuse("订单号不存在")
	}
	if t.Status != paid {
		return nil, refuse("订单未支付或已退款")
	}
	if amount > t.Amount-t.Refunded {
		return nil, refuse("退款金额超过可退金额")
	}
	t.Refunded += amount
	if t.Refunded == t.Amount {
		t.Status = refunded
	}
	rf := &refund{RefundNo: time.Now().Format("20060102150405") + digits(5), TradeNo: t.TradeNo, Money: cny.Decimal(amount).String()}
	if outRefundNo != "" {
		g.refunds[outRefundNo] = rf
	}
	return rf, nil
}

// ---- cashier ----

var cashierPage = template.Must(template.New("cashier").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>易支付沙箱收银台</title>
<style>body{font-family:system-ui,sans-serif;max-width:420px;margin:2em auto;padding:0 1em;color:#222}
.amount{font-size:2.2em;font-weight:600;margin:.3em 0}.muted{color:#777;font-size:.9em}
button{font-size:1.1em;padding:.6em 1.4em;margin:.3em;border-radius:6px;border:1px solid #888;cursor:pointer}
.pay{background:#1677ff;color:#fff;border-color:#1677ff}.fail{background:#fff;color:#c00;border-color:#c00}
form{display:inline}</style></head><body>
<h1>易支付沙箱收银台</h1>
<p class="muted">Sandbox cashier — no real money moves.</p>
<p>{{.Name}}</p>
<div class="amount">¥{{.Money}}</div>
<p class="muted">支付方式 {{.Type}} · 交易号 {{.TradeNo}} · 商户订单号 {{.OutTradeNo}}</p>
{{if .Open}}
<p><img src="{{.QR}}" width="220" height="220" alt="QR code of the pay URL"></p>
<p class="muted">扫码在手机上打开本页 / scan to open this page on a phone</p>
<form method="post" action="{{.Action}}"><input type="hidden" name="result" value="success"><button class="pay" type="submit">支付 Pay</button></form>
<form method="post" action="{{.Action}}"><input type="hidden" name="result" value="fail"><button class="fail" type="submit">失败 Fail</button></form>
{{else}}
<p><strong>{{.State}}</strong></p>
{{if .Return}}<p><a href="{{.Return}}">返回商户 / back to the merchant</a></p>{{end}}
{{end}}
</body></html>`))

var resultPage = template.Must(template.New("result").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">{{if .Return}}<meta http-equiv="refresh" content="2;url={{.Return}}">{{end}}
<title>{{.Title}}</title><style>body{font-family:system-ui,sans-serif;max-width:420px;margin:2em auto;padding:0 1em}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p>{{if .Return}}<p><a href="{{.Return}}">返回商户 / back to the merchant</a></p>{{end}}</body></html>`))

func page(w http.ResponseWriter, status int, title, text, ret string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = resultPage.Execute(w, map[string]any{"Title": title, "Text": text, "Return": template.URL(ret)})
}

func (g *Gateway) cashier(w http.ResponseWriter, r *http.Request) {
	t, ok := g.find(epay.Params{"trade_no": r.PathValue("trade_no")})
	if !ok {
		page(w, http.StatusNotFound, "交易不存在", "No such trade.", "")
		return
	}
	state := map[int]string{paid: "已支付 / paid", refunded: "已退款 / refunded"}[t.Status]
	if t.Closed {
		state = "支付失败 / failed"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = cashierPage.Execute(w, map[string]any{
		"Name": t.Name, "Money": t.Money, "Type": t.Type, "TradeNo": t.TradeNo, "OutTradeNo": t.OutTradeNo,
		"Open": t.Status == unpaid && !t.Closed, "State": state,
		"QR":     template.URL(g.opts.BaseURL() + "/qr/" + t.TradeNo + ".png"),
		"Action": template.URL(g.opts.BaseURL() + "/pay/" + t.TradeNo),
		"Return": template.URL(g.returnURL(t)),
	})
}

func (g *Gateway) qr(w http.ResponseWriter, r *http.Request) {
	no, ok := strings.CutSuffix(r.PathValue("file"), ".png")
	t, found := g.find(epay.Params{"trade_no": no})
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	png, err := qrpng.PNG(g.cashierURL(&t), 320)
	if err != nil {
		http.Error(w, "could not draw the QR code", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(png)
}

// pay is what the cashier's buttons do: result=success pays the trade and
// notifies the merchant (the first attempt before answering, retries on
// the schedule); result=fail closes it and tells the merchant once.
func (g *Gateway) pay(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("trade_no")
	result := r.PostFormValue("result")
	wantsJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	reply := func(status int, title, text string, t *trade, notified bool) {
		if wantsJSON {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			out := map[string]any{"code": 0, "msg": text, "notified": notified}
			if status >= 400 {
				out["code"] = -1
			}
			if t != nil {
				out["trade_no"], out["out_trade_no"], out["status"] = t.TradeNo, t.OutTradeNo, t.Status
			}
			_ = json.NewEncoder(w).Encode(out)
			return
		}
		ret := ""
		if t != nil {
			ret = g.returnURL(*t)
		}
		page(w, status, title, text, ret)
	}
	if result != "success" && result != "fail" {
		reply(http.StatusBadRequest, "参数错误", "result must be success or fail", nil, false)
		return
	}
	g.mu.Lock()
	t, ok := g.trades[no]
	var cur trade
	if ok {
		cur = *t
	}
	g.mu.Unlock()
	switch {
	case !ok:
		reply(http.StatusNotFound, "交易不存在", "No such trade.", nil, false)
		return
	case cur.Status != unpaid || cur.Closed:
		reply(http.StatusConflict, "交易已结束", "This trade is already paid, refunded or failed.", &cur, false)
		return
	}
	if result == "fail" {
		g.mu.Lock()
		t.Closed = true
		g.mu.Unlock()
		notified := g.announce(no, "TRADE_CLOSED", false)
		reply(http.StatusOK, "支付失败", "The payment failed; the merchant was told.", &cur, notified)
		return
	}
	if !g.markPaid(no) {
		reply(http.StatusConflict, "交易已结束", "This trade is already paid, refunded or failed.", &cur, false)
		return
	}
	notified := g.announce(no, epay.TradeSuccess, true)
	cur, _ = g.find(epay.Params{"trade_no": no})
	reply(http.StatusOK, "支付成功", "Paid. The merchant has been notified.", &cur, notified)
}

// markPaid moves an open trade to paid; it reports whether it did.
func (g *Gateway) markPaid(no string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.trades[no]
	if !ok || t.Status != unpaid || t.Closed {
		return false
	}
	t.Status, t.EndTime = paid, time.Now()
	t.APITradeNo = "4200" + digits(24)
	t.Buyer = "sandbox-buyer"
	return true
}

// ---- notifies ----

// NotifyParams returns the signed notify the sandbox sends for a trade
// with tradeStatus, signed as the trade was created (MD5 for V1, RSA for
// V2). Tests use it to replay genuine notifies.
func (g *Gateway) NotifyParams(tradeNo, tradeStatus string) (epay.Params, error) {
	t, ok := g.find(epay.Params{"trade_no": tradeNo})
	if !ok {
		return nil, errors.New("no such trade")
	}
	return g.signedNotify(t, tradeStatus)
}

func (g *Gateway) signedNotify(t trade, status string) (epay.Params, error) {
	p := epay.Params{"pid": g.opts.PID, "trade_no": t.TradeNo, "out_trade_no": t.OutTradeNo, "type": t.Type,
		"name": t.Name, "money": t.Money, "trade_status": status, "param": t.Param}
	if t.Version == epay.V1 {
		p["sign"], p["sign_type"] = epay.SignMD5(p, g.opts.Key), "MD5"
		return p, nil
	}
	for k, v := range t.fields() {
		if p[k] == "" {
			p[k] = v
		}
	}
	p["timestamp"] = strconv.FormatInt(time.Now().Unix(), 10)
	sig, err := epay.SignRSA(p, g.opts.PlatformKey)
	if err != nil {
		return nil, err
	}
	p["sign"], p["sign_type"] = sig, "RSA"
	return p, nil
}

// returnURL is where the browser goes after paying: the merchant's
// return_url with the same signed parameters as the notify.
func (g *Gateway) returnURL(t trade) string {
	if t.ReturnURL == "" || t.Status == unpaid {
		return ""
	}
	p, err := g.signedNotify(t, epay.TradeSuccess)
	if err != nil {
		return ""
	}
	return withQuery(t.ReturnURL, p)
}

func withQuery(u string, p epay.Params) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + p.Values().Encode()
}

// announce sends the first notify now and reports whether the merchant
// answered "success"; if not and retry is set, the schedule's further
// attempts run in the background until one does.
func (g *Gateway) announce(tradeNo, status string, retry bool) bool {
	if g.deliver(g.ctx, tradeNo, status) {
		return true
	}
	if !retry || len(g.opts.Schedule) < 2 {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for i, d := range g.opts.Schedule[1:] {
			t := time.NewTimer(d)
			select {
			case <-g.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if g.deliver(g.ctx, tradeNo, status) {
				return
			}
			g.opts.Log.Warn("epay sandbox: notify not acknowledged", "trade_no", tradeNo, "attempt", i+2)
		}
		g.opts.Log.Warn("epay sandbox: notify schedule exhausted", "trade_no", tradeNo)
	}()
	return false
}

// deliver makes one notify attempt: a GET of notify_url with the signed
// parameters, as the protocol does. Only the exact body "success" counts.
func (g *Gateway) deliver(ctx context.Context, tradeNo, status string) bool {
	t, ok := g.find(epay.Params{"trade_no": tradeNo})
	if !ok {
		return false
	}
	p, err := g.signedNotify(t, status)
	if err != nil {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, withQuery(t.NotifyURL, p), nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "epay-sandbox-notify/1")
	resp, err := g.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "success"
}
