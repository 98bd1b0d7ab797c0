package epay_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/rsakey"

	"github.com/paygraph/paygraph/internal/provider/epay"
	epaysandbox "github.com/paygraph/paygraph/internal/sandbox/epay"
)

// The vectors are the project's shared epay test vectors (popdo/go-epay's
// util_test.go), copied into testdata.
type vectors struct {
	SignContent []struct {
		Params  map[string]string `json:"params"`
		Content string            `json:"content"`
	} `json:"sign_content"`
	MD5Sign []struct {
		Params  map[string]string `json:"params"`
		Key     string            `json:"key"`
		Content string            `json:"content"`
		Sign    string            `json:"sign"`
	} `json:"md5_sign"`
}

func loadVectors(t *testing.T) vectors {
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.SignContent) == 0 || len(v.MD5Sign) == 0 {
		t.Fatal("no vectors")
	}
	return v
}

func TestVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.SignContent {
		if got := epay.SignContent(c.Params); got != c.Content {
			t.Errorf("SignContent(%v) = %q, want %q", c.Params, got, c.Content)
		}
	}
	for _, c := range v.MD5Sign {
		if got := epay.SignContent(c.Params); got != c.Content {
			t.Errorf("content %q, want %q", got, c.Content)
		}
		if got := epay.SignMD5(c.Params, c.Key); got != c.Sign {
			t.Errorf("SignMD5 = %s, want %s", got, c.Sign)
		}
		p := epay.Params{}
		for k, val := range c.Params {
			p[k] = val
		}
		p["sign"] = c.Sign
		if !epay.VerifyMD5(p, c.Key) {
			t.Error("the vector's sign does not verify")
		}
		// The protocol's digest is lower-case hex: nothing else verifies.
		p["sign"] = strings.ToUpper(c.Sign)
		if epay.VerifyMD5(p, c.Key) {
			t.Error("an upper-case sign verifies")
		}
		p["sign"] = c.Sign
		if epay.VerifyMD5(p, c.Key+"x") || epay.VerifyMD5(p, "") {
			t.Error("a wrong or empty key verifies")
		}
		p["money"] = "moneyw"
		if epay.VerifyMD5(p, c.Key) {
			t.Error("a changed parameter verifies")
		}
	}
}

func TestSignContentRules(t *testing.T) {
	p := epay.Params{"b": "2", "a": "1", "sign": "x", "sign_type": "MD5", "empty": "", "blank": "  ", "url": "http://h/p?q=1&r=2", "中": "文"}
	if got, want := epay.SignContent(p), "a=1&b=2&url=http://h/p?q=1&r=2&中=文"; got != want {
		t.Fatalf("content %q, want %q", got, want)
	}
}

func genKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	keysOnce           sync.Once
	merchantK, platfmK *rsa.PrivateKey
)

func keys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keysOnce.Do(func() { merchantK, platfmK = genKey(t), genKey(t) })
	return merchantK, platfmK
}

func TestRSASignsAndVerifiesWithAGeneratedKeyPair(t *testing.T) {
	k, _ := keys(t)
	p := epay.Params{"pid": "1000", "out_trade_no": "ORDER1", "money": "10.00", "name": "积分", "sign_type": "RSA", "empty": ""}
	sig, err := epay.SignRSA(p, k)
	if err != nil {
		t.Fatal(err)
	}
	// Checked with the standard library directly, over the documented string.
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("money=10.00&name=积分&out_trade_no=ORDER1&pid=1000"))
	if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, h[:], raw); err != nil {
		t.Fatalf("SHA256withRSA over the sign content does not verify: %v", err)
	}
	p["sign"] = sig
	if !epay.VerifyRSA(p, &k.PublicKey) {
		t.Fatal("VerifyRSA refuses its own signature")
	}
	other := genKey(t)
	if epay.VerifyRSA(p, &other.PublicKey) {
		t.Fatal("another key verifies")
	}
	p["money"] = "10.01"
	if epay.VerifyRSA(p, &k.PublicKey) {
		t.Fatal("a changed amount verifies")
	}
	p["money"], p["sign"] = "10.00", "not base64!"
	if epay.VerifyRSA(p, &k.PublicKey) || epay.VerifyRSA(p, nil) {
		t.Fatal("garbage verifies")
	}
}

func TestKeyFormats(t *testing.T) {
	k, _ := keys(t)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
	pkcs1 := x509.MarshalPKCS1PrivateKey(k)
	pkix, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	for name, s := range map[string]string{
		"PKCS8 PEM":   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		"PKCS1 PEM":   string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1})),
		"base64":      base64.StdEncoding.EncodeToString(pkcs8),
		"escaped PEM": strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), "\n", `\n`),
	} {
		got, err := rsakey.ParsePrivate(s)
		if err != nil || !got.Equal(k) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, s := range map[string]string{
		"PKIX PEM": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})),
		"base64":   epay.EncodePublicKey(&k.PublicKey),
	} {
		got, err := rsakey.ParsePublic(s)
		if err != nil || !got.Equal(&k.PublicKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{"", "nonsense", base64.StdEncoding.EncodeToString([]byte("not DER"))} {
		if _, err := rsakey.ParsePrivate(bad); err == nil {
			t.Errorf("private key %q parsed", bad)
		}
		if _, err := rsakey.ParsePublic(bad); err == nil {
			t.Errorf("public key %q parsed", bad)
		}
	}
}

// gateway runs the sandbox as a standalone gateway; merchant is what
// receives its notifies.
type gateway struct {
	sb       *epaysandbox.Gateway
	url      string
	mu       sync.Mutex
	notifies []epay.Params
}

func newGateway(t *testing.T, reply string) *gateway {
	t.Helper()
	m, p := keys(t)
	g := &gateway{}
	var hs *httptest.Server
	g.sb = epaysandbox.New(epaysandbox.Options{PID: "1000", Key: "k3y", MerchantKey: &m.PublicKey, PlatformKey: p,
		BaseURL: func() string { return hs.URL + "/gw" }, Schedule: []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond}})
	mux := http.NewServeMux()
	mux.Handle("/gw/", http.StripPrefix("/gw", g.sb.Handler()))
	mux.HandleFunc("/notify", func(w http.ResponseWriter, r *http.Request) {
		p, _ := epay.FromValues(r.URL.Query())
		g.mu.Lock()
		g.notifies = append(g.notifies, p)
		g.mu.Unlock()
		_, _ = w.Write([]byte(reply))
	})
	hs = httptest.NewServer(mux)
	t.Cleanup(func() { g.sb.Close(); hs.Close() })
	g.url = hs.URL
	return g
}

func (g *gateway) client(t *testing.T, v epay.Version, mutate func(*epay.Config)) *epay.Client {
	m, p := keys(t)
	cfg := epay.Config{BaseURL: func() string { return g.url + "/gw" }, PID: "1000", Key: "k3y", Version: v,
		MerchantKey: m, PlatformKey: &p.PublicKey, Timeout: 2 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := epay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func (g *gateway) pay(t *testing.T, tradeNo, result string) {
	t.Helper()
	resp, err := http.PostForm(g.url+"/gw/pay/"+tradeNo, map[string][]string{"result": {result}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pay %s: %d", result, resp.StatusCode)
	}
}

func (g *gateway) notified() []epay.Params {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]epay.Params(nil), g.notifies...)
}

func TestClientAgainstTheSandbox(t *testing.T) {
	for _, v := range []epay.Version{epay.V1, epay.V2} {
		t.Run(map[epay.Version]string{epay.V1: "V1", epay.V2: "V2"}[v], func(t *testing.T) {
			g := newGateway(t, "success")
			c := g.client(t, v, nil)
			ctx := context.Background()
			args := epay.PayArgs{Type: "alipay", OutTradeNo: "ORDER1", NotifyURL: g.url + "/notify", ReturnURL: g.url + "/return",
				Name: "100 积分", Money: "10.00", ClientIP: "127.0.0.1", Method: "web", Device: "pc"}
			res, err := c.Create(ctx, args)
			if err != nil {
				t.Fatal(err)
			}
			if res.PayType != "qrcode" || !strings.Contains(res.PayInfo, "/cashier/"+res.TradeNo) {
				t.Fatalf("create: %+v", res)
			}
			again, err := c.Create(ctx, args)
			if err != nil || again.TradeNo != res.TradeNo {
				t.Fatalf("asking twice opened another trade: %+v %v", again, err)
			}
			q, err := c.Query(ctx, "ORDER1")
			if err != nil || q.Status != epay.StatusUnpaid || q.Money != "10.00" || q.TradeNo != res.TradeNo {
				t.Fatalf("query: %+v %v", q, err)
			}
			if _, err := c.Refund(ctx, epay.RefundArgs{OutTradeNo: "ORDER1", Money: "10.00", OutRefundNo: "R1"}); !rejected(err) {
				t.Fatalf("refund of an unpaid trade: %v", err)
			}

			g.pay(t, res.TradeNo, "success")
			ns := g.notified()
			if len(ns) != 1 {
				t.Fatalf("%d notifies", len(ns))
			}
			n, err := c.VerifyNotify(ns[0])
			if err != nil || n.TradeStatus != epay.TradeSuccess || n.OutTradeNo != "ORDER1" || n.Money != "10.00" || n.TradeNo != res.TradeNo {
				t.Fatalf("notify %v: %+v %v", ns[0], n, err)
			}
			if want := map[epay.Version]string{epay.V1: "MD5", epay.V2: "RSA"}[v]; ns[0]["sign_type"] != want {
				t.Fatalf("sign_type %s", ns[0]["sign_type"])
			}
			q, err = c.Query(ctx, "ORDER1")
			if err != nil || q.Status != epay.StatusPaid || q.EndTime == "" {
				t.Fatalf("paid query: %+v %v", q, err)
			}
			if _, err := c.Create(ctx, args); !rejected(err) {
				t.Fatalf("create for a paid order: %v", err)
			}
			if _, err := c.Refund(ctx, epay.RefundArgs{TradeNo: res.TradeNo, OutTradeNo: "ORDER1", Money: "10.01", OutRefundNo: "R1"}); !rejected(err) {
				t.Fatalf("refund of more than was paid: %v", err)
			}
			if _, err := c.Refund(ctx, epay.RefundArgs{TradeNo: res.TradeNo, OutTradeNo: "ORDER1", Money: "10.00", OutRefundNo: "R1"}); err != nil {
				t.Fatal(err)
			}
			if q, err = c.Query(ctx, "ORDER1"); err != nil || q.Status != epay.StatusRefunded {
				t.Fatalf("refunded query: %+v %v", q, err)
			}
			if _, err := c.Query(ctx, "NOPE"); !rejected(err) {
				t.Fatalf("query of an unknown order: %v", err)
			}
		})
	}
}

func rejected(err error) bool {
	var e *epay.Error
	return errors.As(err, &e) && e.Rejected
}

func TestV2MethodsAndDevices(t *testing.T) {
	g := newGateway(t, "success")
	c := g.client(t, epay.V2, nil)
	for i, tc := range []struct{ method, device, typ, authCode, want string }{
		{"web", "pc", "alipay", "", "qrcode"},
		{"web", "mobile", "alipay", "", "jump"},
		{"web", "qq", "qqpay", "", "jump"},
		{"web", "wechat", "wxpay", "", "jump"},
		{"web", "alipay", "alipay", "", "jump"},
		{"jump", "", "alipay", "", "jump"},
		{"jsapi", "", "wxpay", "", "jsapi"},
		{"app", "", "wxpay", "", "app"},
		{"applet", "", "wxpay", "", "wxplugin"},
		{"applet", "", "alipay", "", "wxapp"},
		{"scan", "", "alipay", "134567890123456789", "scan"},
	} {
		no := "M" + string(rune('A'+i))
		res, err := c.Create(context.Background(), epay.PayArgs{Type: tc.typ, OutTradeNo: no, NotifyURL: g.url + "/notify",
			Name: "x", Money: "1.00", Method: tc.method, Device: tc.device, AuthCode: tc.authCode})
		if err != nil || res.PayType != tc.want || res.PayInfo == "" {
			t.Errorf("%s/%s: %+v %v", tc.method, tc.device, res, err)
			continue
		}
		if tc.want != "qrcode" && tc.want != "jump" && !json.Valid([]byte(res.PayInfo)) {
			t.Errorf("%s: pay_info is not JSON: %s", tc.want, res.PayInfo)
		}
	}
	// A payment code is charged at once.
	if q, err := c.Query(context.Background(), "MK"); err != nil || q.Status != epay.StatusPaid {
		t.Fatalf("scan: %+v %v", q, err)
	}
	if _, err := c.Create(context.Background(), epay.PayArgs{Type: "alipay", OutTradeNo: "S2", NotifyURL: g.url + "/notify",
		Name: "x", Money: "1.00", Method: "scan"}); !rejected(err) {
		t.Fatalf("scan without a payment code: %v", err)
	}
	v1 := g.client(t, epay.V1, nil)
	if _, err := v1.Create(context.Background(), epay.PayArgs{Type: "alipay", OutTradeNo: "S3", NotifyURL: g.url + "/notify",
		Name: "x", Money: "1.00", Method: "jsapi"}); !rejected(err) {
		t.Fatalf("V1 jsapi: %v", err)
	}
}

func TestWrongKeysAreRefused(t *testing.T) {
	g := newGateway(t, "success")
	ctx := context.Background()
	args := epay.PayArgs{Type: "alipay", OutTradeNo: "W1", NotifyURL: g.url + "/notify", Name: "x", Money: "1.00", Device: "pc"}
	if _, err := g.client(t, epay.V1, func(c *epay.Config) { c.Key = "wrong" }).Create(ctx, args); !rejected(err) {
		t.Fatalf("V1 with a wrong key: %v", err)
	}
	if _, err := g.client(t, epay.V1, func(c *epay.Config) { c.Key = "wrong" }).Query(ctx, "W1"); !rejected(err) {
		t.Fatalf("V1 query with a wrong key: %v", err)
	}
	other := genKey(t)
	if _, err := g.client(t, epay.V2, func(c *epay.Config) { c.MerchantKey = other }).Create(ctx, args); !rejected(err) {
		t.Fatalf("V2 signed by another merchant key: %v", err)
	}
	// Answers the platform did not sign are not trusted.
	_, err := g.client(t, epay.V2, func(c *epay.Config) { c.PlatformKey = &other.PublicKey }).Create(ctx, args)
	var e *epay.Error
	if !errors.As(err, &e) || e.Rejected || !strings.Contains(e.Msg, "signature") {
		t.Fatalf("V2 answer under another platform key: %v", err)
	}
}

func TestVerifyNotify(t *testing.T) {
	m, p := keys(t)
	_ = m
	c, err := epay.New(epay.Config{BaseURL: func() string { return "http://127.0.0.1:1" }, PID: "1000", Key: "k3y", Version: epay.V2,
		MerchantKey: m, PlatformKey: &p.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := func() epay.Params {
		return epay.Params{"pid": "1000", "trade_no": "T1", "out_trade_no": "ORDER1", "type": "alipay", "name": "x",
			"money": "10.00", "trade_status": "TRADE_SUCCESS"}
	}
	md5 := base()
	md5["sign"], md5["sign_type"] = epay.SignMD5(md5, "k3y"), "MD5"
	rsaP := base()
	rsaP["sign_type"] = "RSA"
	rsaP["sign"], _ = epay.SignRSA(rsaP, p)
	for name, q := range map[string]epay.Params{"MD5": md5, "RSA": rsaP} {
		if n, err := c.VerifyNotify(q); err != nil || n.OutTradeNo != "ORDER1" {
			t.Errorf("%s: %+v %v", name, n, err)
		}
	}
	otherPID := base()
	otherPID["pid"] = "1001"
	otherPID["sign_type"] = "RSA"
	otherPID["sign"], _ = epay.SignRSA(otherPID, p) // genuine, but for another merchant of the platform
	forged := base()
	forged["sign"], forged["sign_type"] = epay.SignMD5(forged, "guess"), "MD5"
	unsigned := base()
	byMerchant := base()
	byMerchant["sign_type"] = "RSA"
	byMerchant["sign"], _ = epay.SignRSA(byMerchant, m)
	for name, q := range map[string]epay.Params{"other pid": otherPID, "forged": forged, "unsigned": unsigned, "merchant-signed": byMerchant} {
		if _, err := c.VerifyNotify(q); !errors.Is(err, epay.ErrNotify) {
			t.Errorf("%s verified: %v", name, err)
		}
	}
}

func TestNotifyRetriesUntilSuccess(t *testing.T) {
	var (
		mu    sync.Mutex
		calls int
		done  = make(chan struct{})
	)
	m, p := keys(t)
	var hs *httptest.Server
	sb := epaysandbox.New(epaysandbox.Options{PID: "1000", Key: "k3y", MerchantKey: &m.PublicKey, PlatformKey: p,
		BaseURL: func() string { return hs.URL + "/gw" }, Schedule: []time.Duration{0, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, time.Hour}})
	mux := http.NewServeMux()
	mux.Handle("/gw/", http.StripPrefix("/gw", sb.Handler()))
	mux.HandleFunc("/notify", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n < 3 {
			_, _ = w.Write([]byte("fail"))
			return
		}
		_, _ = w.Write([]byte("success"))
		if n == 3 {
			close(done)
		}
	})
	hs = httptest.NewServer(mux)
	defer hs.Close()
	defer sb.Close()
	c, _ := epay.New(epay.Config{BaseURL: func() string { return hs.URL + "/gw" }, PID: "1000", Key: "k3y", Version: epay.V1})
	defer c.Close()
	res, err := c.Create(context.Background(), epay.PayArgs{Type: "alipay", OutTradeNo: "N1", NotifyURL: hs.URL + "/notify", Name: "x", Money: "1.00"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(hs.URL+"/gw/pay/"+res.TradeNo, map[string][]string{"result": {"success"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the notify was not retried until success")
	}
	time.Sleep(30 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d notify calls; retries must stop at success", calls)
	}
}

func TestGatewayDownOrSlow(t *testing.T) {
	// Down: nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	c, _ := epay.New(epay.Config{BaseURL: func() string { return dead }, PID: "1000", Key: "s3cret-key", Version: epay.V1,
		Timeout: 300 * time.Millisecond, Retries: -1})
	defer c.Close()
	_, err = c.Query(context.Background(), "ORDER1")
	var e *epay.Error
	if !errors.As(err, &e) || e.Rejected || !strings.Contains(e.Msg, "could not reach") {
		t.Fatalf("down: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret-key") || strings.Contains(err.Error(), "key=") {
		t.Fatalf("the error leaks the key: %v", err)
	}

	// Slow: answers after the timeout.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	c2, _ := epay.New(epay.Config{BaseURL: func() string { return slow.URL }, PID: "1000", Key: "s3cret-key", Version: epay.V1,
		Timeout: 200 * time.Millisecond})
	defer c2.Close()
	start := time.Now()
	_, err = c2.Query(context.Background(), "ORDER1")
	if !errors.As(err, &e) || !strings.Contains(e.Msg, "did not answer within 200ms") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("slow: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("query with retries took %s", took)
	}
	_, err = c2.Create(context.Background(), epay.PayArgs{Type: "alipay", OutTradeNo: "O", NotifyURL: "http://x/n", Name: "x", Money: "1.00"})
	if !errors.As(err, &e) || e.Rejected {
		t.Fatalf("slow create: %v", err)
	}
}
