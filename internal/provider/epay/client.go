package epay

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Version is the merchant protocol a client speaks.
type Version int

// The two protocol versions.
const (
	// V1 signs with MD5 and a shared key: submit.php, mapi.php, api.php.
	V1 Version = 1
	// V2 signs with SHA256withRSA: api/pay/submit, api/pay/create,
	// api/pay/query, api/pay/refund.
	V2 Version = 2
)

// Success values of trade_status and the statuses of an order query.
const (
	TradeSuccess = "TRADE_SUCCESS"

	StatusUnpaid   = 0
	StatusPaid     = 1
	StatusRefunded = 2
	StatusFrozen   = 3
)

// MaxClockSkew bounds how far a V2 response's timestamp may be from now.
const MaxClockSkew = 300 * time.Second

// Config is a merchant account at a gateway.
type Config struct {
	// BaseURL returns the gateway's base URL without a trailing slash. It
	// is a function because the embedded sandbox's address is known only
	// once the server listens.
	BaseURL func() string
	PID     string
	// Key is the V1 (MD5) merchant key. It also verifies MD5-signed
	// notifies when the client speaks V2.
	Key     string
	Version Version
	// MerchantKey signs V2 requests; PlatformKey verifies V2 responses and
	// RSA-signed notifies.
	MerchantKey *rsa.PrivateKey
	PlatformKey *rsa.PublicKey
	// Timeout bounds each HTTP call (default 10 s).
	Timeout time.Duration
	// Retries is how often an idempotent call (a query) is repeated after
	// a failure whose outcome is unknown (default 2).
	Retries int
}

// Client talks to one gateway as one merchant.
type Client struct {
	cfg Config
	tr  *http.Transport
	hc  *http.Client
}

// New returns a client; it checks that the keys its version needs are there.
func New(cfg Config) (*Client, error) {
	if cfg.PID == "" {
		return nil, errors.New("no merchant id (pid)")
	}
	switch cfg.Version {
	case V1:
		if cfg.Key == "" {
			return nil, errors.New("V1 needs the merchant key")
		}
	case V2:
		if cfg.MerchantKey == nil || cfg.PlatformKey == nil {
			return nil, errors.New("V2 needs the merchant private key and the platform public key")
		}
	default:
		return nil, fmt.Errorf("unknown protocol version %d", cfg.Version)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	hc := &http.Client{
		Transport: tr,
		// A gateway never redirects an API call; following one could send
		// the V1 key (in the query) somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Client{cfg: cfg, tr: tr, hc: hc}, nil
}

// Version is the protocol the client speaks.
func (c *Client) Version() Version { return c.cfg.Version }

// PID is the merchant id.
func (c *Client) PID() string { return c.cfg.PID }

// Close releases idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Error is a failed gateway call. Its message is safe to show and to log:
// it never holds a key, a signature or a URL with its query.
type Error struct {
	Op  string
	Msg string
	// Rejected says the gateway answered and refused: the call had no
	// effect. Otherwise the outcome is unknown (timeout, network failure,
	// an answer that could not be read or trusted).
	Rejected bool
}

func (e *Error) Error() string { return "epay " + e.Op + ": " + e.Msg }

// PayArgs describe a payment to start.
type PayArgs struct {
	// Type is the epay payment type: alipay, wxpay, qqpay, …
	Type       string
	OutTradeNo string
	NotifyURL  string
	ReturnURL  string
	Name       string
	// Money is in yuan with two decimals ("10.00").
	Money    string
	ClientIP string
	Param    string
	// Method (V2: web, jump, jsapi, app, scan, applet) and Device (pc,
	// mobile, qq, wechat, alipay; for method web).
	Method, Device string
	// AuthCode is the buyer's payment code (method scan); SubOpenID and
	// SubAppID identify a WeChat buyer (method jsapi).
	AuthCode, SubOpenID, SubAppID string
}

func (a PayArgs) base(pid string) Params {
	return Params{
		"pid": pid, "type": a.Type, "out_trade_no": a.OutTradeNo, "notify_url": a.NotifyURL,
		"return_url": a.ReturnURL, "name": a.Name, "money": a.Money, "param": a.Param,
	}
}

// sign adds sign and sign_type (and V2's timestamp) to p.
func (c *Client) sign(p Params) (Params, error) {
	if c.cfg.Version == V1 {
		p["sign"] = SignMD5(p, c.cfg.Key)
		p["sign_type"] = "MD5"
		return p, nil
	}
	p["timestamp"] = strconv.FormatInt(time.Now().Unix(), 10)
	s, err := SignRSA(p, c.cfg.MerchantKey)
	if err != nil {
		return nil, err
	}
	p["sign"] = s
	p["sign_type"] = "RSA"
	return p, nil
}

// PageForm returns where a browser submits a page payment (submit.php, or
// api/pay/submit in V2) and the signed form to submit. It does no I/O; the
// parameters carry a signature, never a key.
func (c *Client) PageForm(a PayArgs) (action string, params Params, err error) {
	path := "submit.php"
	if c.cfg.Version == V2 {
		path = "api/pay/submit"
	}
	p, err := c.sign(a.base(c.cfg.PID))
	if err != nil {
		return "", nil, err
	}
	return c.cfg.BaseURL() + "/" + path, dropEmpty(p), nil
}

// PayResult is how the payer pays a created trade.
type PayResult struct {
	TradeNo string
	// PayType is jump, html, qrcode, urlscheme, jsapi, app, scan, wxplugin
	// or wxapp; PayInfo is the URL, QR content or JSON parameters it names.
	PayType string
	PayInfo string
}

// Create starts a payment through the API (mapi.php, or api/pay/create in
// V2). It is not retried: the gateway does not promise that a second
// create of one order is harmless.
func (c *Client) Create(ctx context.Context, a PayArgs) (*PayResult, error) {
	p := a.base(c.cfg.PID)
	p["clientip"] = a.ClientIP
	if c.cfg.Version == V1 {
		switch {
		case a.Method == "jump":
			p["device"] = "jump"
		case a.Method == "" || a.Method == "web":
			p["device"] = a.Device
		default:
			return nil, &Error{Op: "create", Msg: "method " + a.Method + " needs the V2 interface", Rejected: true}
		}
		p, err := c.sign(dropEmpty(p))
		if err != nil {
			return nil, &Error{Op: "create", Msg: "could not sign the request", Rejected: true}
		}
		r, err := c.call(ctx, "create", http.MethodPost, "mapi.php", p, false)
		if err != nil {
			return nil, err
		}
		out := &PayResult{TradeNo: r["trade_no"]}
		switch {
		case r["qrcode"] != "" && (a.Device == "pc" || r["payurl"] == ""):
			out.PayType, out.PayInfo = "qrcode", r["qrcode"]
		case r["payurl"] != "":
			out.PayType, out.PayInfo = "jump", r["payurl"]
		case r["urlscheme"] != "":
			out.PayType, out.PayInfo = "urlscheme", r["urlscheme"]
		default:
			return nil, &Error{Op: "create", Msg: "the gateway returned no way to pay"}
		}
		if out.TradeNo == "" {
			return nil, &Error{Op: "create", Msg: "the gateway returned no trade_no"}
		}
		return out, nil
	}
	if a.Method == "" {
		a.Method = "web"
	}
	p["method"] = a.Method
	if a.Method == "web" {
		p["device"] = a.Device
	}
	p["auth_code"], p["sub_openid"], p["sub_appid"] = a.AuthCode, a.SubOpenID, a.SubAppID
	r, err := c.call(ctx, "create", http.MethodPost, "api/pay/create", p, false)
	if err != nil {
		return nil, err
	}
	out := &PayResult{TradeNo: r["trade_no"], PayType: r["pay_type"], PayInfo: r["pay_info"]}
	if out.TradeNo == "" || out.PayType == "" {
		return nil, &Error{Op: "create", Msg: "the gateway returned no trade_no or pay_type"}
	}
	return out, nil
}

// Trade is the gateway's record of a payment.
type Trade struct {
	TradeNo, OutTradeNo, APITradeNo string
	Type, Name, Money, Param, Buyer string
	// Status is StatusUnpaid, StatusPaid, StatusRefunded or StatusFrozen.
	Status int
	// AddTime and EndTime are as the gateway writes them ("2006-01-02 15:04:05").
	AddTime, EndTime string
	RefundMoney      string
}

// Query reads a trade by our order number (api.php?act=order, or
// api/pay/query in V2). It is retried on failures of unknown outcome.
func (c *Client) Query(ctx context.Context, outTradeNo string) (*Trade, error) {
	var (
		r   Params
		err error
	)
	if c.cfg.Version == V1 {
		r, err = c.call(ctx, "query", http.MethodGet, "api.php",
			Params{"act": "order", "pid": c.cfg.PID, "key": c.cfg.Key, "out_trade_no": outTradeNo}, true)
	} else {
		r, err = c.call(ctx, "query", http.MethodPost, "api/pay/query", Params{"pid": c.cfg.PID, "out_trade_no": outTradeNo}, true)
	}
	if err != nil {
		return nil, err
	}
	st, err := strconv.Atoi(r["status"])
	if err != nil {
		return nil, &Error{Op: "query", Msg: "the gateway returned no status"}
	}
	if r["out_trade_no"] != "" && r["out_trade_no"] != outTradeNo {
		return nil, &Error{Op: "query", Msg: "the gateway answered about another order"}
	}
	return &Trade{
		TradeNo: r["trade_no"], OutTradeNo: outTradeNo, APITradeNo: r["api_trade_no"],
		Type: r["type"], Name: r["name"], Money: r["money"], Param: r["param"], Buyer: r["buyer"],
		Status: st, AddTime: r["addtime"], EndTime: r["endtime"], RefundMoney: r["refundmoney"],
	}, nil
}

// RefundArgs describe a refund of a paid trade.
type RefundArgs struct {
	// TradeNo or OutTradeNo names the trade.
	TradeNo, OutTradeNo string
	// Money is in yuan with two decimals.
	Money string
	// OutRefundNo is our refund number: a V2 gateway refunds it once.
	OutRefundNo string
}

// RefundResult is the gateway's answer to a refund.
type RefundResult struct {
	RefundNo string
	Money    string
}

// Refund gives money back through the gateway (api.php?act=refund, or
// api/pay/refund in V2). It is not retried.
func (c *Client) Refund(ctx context.Context, a RefundArgs) (*RefundResult, error) {
	var p Params
	path := "api/pay/refund"
	if c.cfg.Version == V1 {
		path = "api.php?act=refund"
		p = Params{"pid": c.cfg.PID, "key": c.cfg.Key, "trade_no": a.TradeNo, "out_trade_no": a.OutTradeNo, "money": a.Money}
	} else {
		p = Params{"pid": c.cfg.PID, "trade_no": a.TradeNo, "out_trade_no": a.OutTradeNo, "money": a.Money, "out_refund_no": a.OutRefundNo}
	}
	r, err := c.call(ctx, "refund", http.MethodPost, path, p, false)
	if err != nil {
		return nil, err
	}
	return &RefundResult{RefundNo: r["refund_no"], Money: r["money"]}, nil
}

// Notify is a verified asynchronous notify (or return) from the gateway.
type Notify struct {
	PID, TradeNo, OutTradeNo, APITradeNo string
	Type, Name, Money, TradeStatus       string
	Param, Buyer                         string
}

// ErrNotify is wrapped by every reason VerifyNotify refuses a notify.
var ErrNotify = errors.New("epay notify refused")

// VerifyNotify checks a notify's (or a return's) signature by its
// sign_type — MD5 with the merchant key, RSA with the platform key, each
// only when that key is configured — and that it is for this merchant: a
// V2 platform key is shared by every merchant of the platform.
func (c *Client) VerifyNotify(p Params) (*Notify, error) {
	fail := func(format string, args ...any) (*Notify, error) {
		return nil, fmt.Errorf("%w: %s", ErrNotify, fmt.Sprintf(format, args...))
	}
	if p["sign"] == "" {
		return fail("no sign")
	}
	switch st := strings.ToUpper(p["sign_type"]); st {
	case "MD5", "":
		if !VerifyMD5(p, c.cfg.Key) {
			return fail("bad MD5 sign")
		}
	case "RSA":
		if !VerifyRSA(p, c.cfg.PlatformKey) {
			return fail("bad RSA sign")
		}
	default:
		return fail("unknown sign_type %q", truncate(st, 16))
	}
	if p["pid"] != c.cfg.PID {
		return fail("pid %q is not this merchant", truncate(p["pid"], 32))
	}
	for _, k := range []string{"trade_no", "out_trade_no", "money", "trade_status"} {
		if p[k] == "" {
			return fail("no %s", k)
		}
	}
	return &Notify{
		PID: p["pid"], TradeNo: p["trade_no"], OutTradeNo: p["out_trade_no"], APITradeNo: p["api_trade_no"],
		Type: p["type"], Name: p["name"], Money: p["money"], TradeStatus: p["trade_status"],
		Param: p["param"], Buyer: p["buyer"],
	}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func dropEmpty(p Params) Params {
	for k, v := range p {
		if v == "" {
			delete(p, k)
		}
	}
	return p
}

// call signs p (V2), sends it and returns the checked answer. Idempotent
// calls are repeated after failures of unknown outcome.
func (c *Client) call(ctx context.Context, op, method, path string, p Params, idempotent bool) (Params, error) {
	p = dropEmpty(p)
	attempts := 1
	if idempotent {
		attempts += c.cfg.Retries
	}
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(time.Duration(i) * 200 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, last
			case <-t.C:
			}
		}
		sp := p
		if c.cfg.Version == V2 {
			cp := make(Params, len(p)+3)
			for k, v := range p {
				cp[k] = v
			}
			var err error
			if sp, err = c.sign(cp); err != nil {
				return nil, &Error{Op: op, Msg: "could not sign the request", Rejected: true}
			}
		}
		r, err := c.once(ctx, op, method, path, sp)
		if err == nil {
			return r, nil
		}
		last = err
		var e *Error
		if errors.As(err, &e) && e.Rejected || ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func (c *Client) once(ctx context.Context, op, method, path string, p Params) (Params, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.cfg.BaseURL() + "/" + path
	var (
		req *http.Request
		err error
	)
	if method == http.MethodGet {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		req, err = http.NewRequestWithContext(ctx, method, u+sep+p.Values().Encode(), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, u, strings.NewReader(p.Values().Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return nil, &Error{Op: op, Msg: "bad gateway URL", Rejected: true}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "paygraph-epay/1")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &Error{Op: op, Msg: c.netMessage(ctx, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &Error{Op: op, Msg: c.netMessage(ctx, err)}
	}
	switch {
	case resp.StatusCode >= 500:
		return nil, &Error{Op: op, Msg: fmt.Sprintf("the gateway answered HTTP %d", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return nil, &Error{Op: op, Msg: fmt.Sprintf("the gateway answered HTTP %d", resp.StatusCode), Rejected: true}
	}
	r, err := parseJSON(body)
	if err != nil {
		return nil, &Error{Op: op, Msg: "the gateway answered something other than a JSON object"}
	}
	ok := "1"
	if c.cfg.Version == V2 {
		ok = "0"
	}
	if r["code"] != ok {
		msg := r["msg"]
		if msg == "" {
			msg = "refused with code " + truncate(r["code"], 16)
		}
		return nil, &Error{Op: op, Msg: truncate(msg, 200), Rejected: true}
	}
	if c.cfg.Version == V2 {
		if !VerifyRSA(r, c.cfg.PlatformKey) {
			return nil, &Error{Op: op, Msg: "the answer's signature is not the platform's"}
		}
		ts, err := strconv.ParseInt(r["timestamp"], 10, 64)
		if err != nil || time.Since(time.Unix(ts, 0)).Abs() > MaxClockSkew {
			return nil, &Error{Op: op, Msg: "the answer's timestamp is missing or too far from now"}
		}
	}
	return r, nil
}

// netMessage describes a transport failure without the URL (whose query
// may hold the V1 key).
func (c *Client) netMessage(ctx context.Context, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Sprintf("the gateway did not answer within %s", c.cfg.Timeout)
		}
		err = ue.Err
	}
	if errors.Is(err, context.Canceled) {
		return "the call was cancelled"
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("the gateway did not answer within %s", c.cfg.Timeout)
	}
	return "could not reach the gateway: " + truncate(err.Error(), 200)
}

// parseJSON reads a JSON object into Params, keeping numbers as written
// (a V2 signature covers their text).
func parseJSON(b []byte) (Params, error) {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	p := make(Params, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			p[k] = ""
		case string:
			p[k] = x
		case json.Number:
			p[k] = x.String()
		case bool:
			p[k] = strconv.FormatBool(x)
		default:
			b, _ := json.Marshal(x)
			p[k] = string(b)
		}
	}
	return p, nil
}
