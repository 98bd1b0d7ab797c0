package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/paygraph/paygraph/internal/rsakey"

	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/callback"
	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/provider/epay"
	epaysandbox "github.com/paygraph/paygraph/internal/sandbox/epay"
	"github.com/paygraph/paygraph/internal/scheduler"
)

// initEpayFlows wires the app store and points, both paid through epay.
// With PAYGRAPH_EPAY_URL unset the embedded sandbox gateway serves
// /sandbox/epay/ and the server talks to it over HTTP like to a real one.
func (s *Server) initEpayFlows(mux *http.ServeMux) error {
	cfg := s.Config
	version := epay.V2
	if cfg.EpaySignType == "MD5" {
		version = epay.V1
	}
	var (
		merchant *rsa.PrivateKey
		platform *rsa.PublicKey
		err      error
	)
	if cfg.EpayPrivateKey != "" {
		if merchant, err = rsakey.ParsePrivate(cfg.EpayPrivateKey); err != nil {
			return &config.Error{Var: "PAYGRAPH_EPAY_PRIVATE_KEY", Reason: "not an RSA private key (PEM or base64 DER): " + err.Error()}
		}
	}
	if cfg.EpayPlatformPublicKey != "" {
		if platform, err = rsakey.ParsePublic(cfg.EpayPlatformPublicKey); err != nil {
			return &config.Error{Var: "PAYGRAPH_EPAY_PLATFORM_PUBLIC_KEY", Reason: "not an RSA public key (PEM or base64 DER): " + err.Error()}
		}
	}
	key := cfg.EpayKey
	base := func() string { return cfg.EpayURL }
	if cfg.EpayURL == "" {
		if key == "" {
			var b [16]byte
			_, _ = rand.Read(b[:])
			key = hex.EncodeToString(b[:])
			cfg.EpayKey = key // shared by the server and its sandbox; tests read it here
		}
		opts := epaysandbox.Options{PID: cfg.EpayPID, Key: key, Log: s.Log,
			BaseURL: func() string { return s.PublicURL() + "/sandbox/epay" }}
		if version == epay.V2 {
			m, p, err := sandboxKeys()
			if err != nil {
				return &config.Error{Var: "PAYGRAPH_EPAY_SIGN_TYPE", Reason: "generating the sandbox's RSA keys: " + err.Error()}
			}
			if merchant == nil {
				merchant = m
			}
			// The sandbox signs as the platform with its own key.
			platform = &p.PublicKey
			opts.MerchantKey, opts.PlatformKey = &merchant.PublicKey, p
		}
		s.EpaySandbox = epaysandbox.New(opts)
		s.onClose(s.EpaySandbox.Close)
		mux.Handle("/sandbox/epay/", http.StripPrefix("/sandbox/epay", s.EpaySandbox.Handler()))
		base = func() string { return s.PublicURL() + "/sandbox/epay" }
		s.Log.Info("epay: using the embedded sandbox gateway (set PAYGRAPH_EPAY_URL for a real one)",
			"pid", cfg.EpayPID, "sign_type", cfg.EpaySignType)
	}
	client, err := epay.New(epay.Config{BaseURL: base, PID: cfg.EpayPID, Key: key, Version: version,
		MerchantKey: merchant, PlatformKey: platform, Timeout: cfg.EpayTimeout})
	if err != nil {
		return &config.Error{Var: "PAYGRAPH_EPAY_SIGN_TYPE", Reason: err.Error()}
	}
	s.onClose(client.Close)

	s.Epay = &payment.Epay{Service: s.Payments, Gateway: client, PublicURL: s.PublicURL, Log: s.Log,
		SyncEvery: cfg.Requests.SyncInterval}
	s.Payments.OnPaid[order.TypePOINTS] = s.Epay.SettlePoints
	gateway := payment.GatewayRefunds{Epay: s.Epay}
	s.Payments.Refunds[order.TypePOINTS] = gateway
	s.Payments.Refunds[order.TypeCONSUME] = payment.WalletRefunds{Epay: s.Epay}
	// RECHARGE orders are refunded by channel; other flows add theirs.
	if byChannel, ok := s.Payments.Refunds[order.TypeRECHARGE].(payment.ByChannel); ok {
		byChannel[payment.ChannelEpay] = gateway
	} else {
		s.Payments.Refunds[order.TypeRECHARGE] = payment.ByChannel{payment.ChannelEpay: gateway}
	}

	notify := s.Shim.Handler(callback.Epay{Client: client})
	mux.Handle("GET /payment/notify", notify)
	mux.Handle("POST /payment/notify", notify)
	mux.HandleFunc("GET /payment/return", s.epayReturn)

	var (
		mu   sync.Mutex
		last time.Time
	)
	s.Scheduler.Add(scheduler.Job{Name: "epay-reconcile", Run: func(ctx context.Context) error {
		// Ask at most every 30 s about orders near their expiry.
		mu.Lock()
		now := s.Clock.Now()
		due := now.Sub(last) >= 30*time.Second
		if due {
			last = now
		}
		mu.Unlock()
		if !due {
			return nil
		}
		_, err := s.Epay.Reconcile(ctx, 100)
		return err
	}})
	return nil
}

var (
	sandboxKeysOnce             sync.Once
	sandboxMerchant, sandboxPlt *rsa.PrivateKey
	sandboxKeysErr              error
)

// sandboxKeys are the sandbox's RSA key pairs (the merchant's and the
// platform's), made once per process: they never leave it.
func sandboxKeys() (merchant, platform *rsa.PrivateKey, err error) {
	sandboxKeysOnce.Do(func() {
		if sandboxMerchant, sandboxKeysErr = rsa.GenerateKey(rand.Reader, 2048); sandboxKeysErr == nil {
			sandboxPlt, sandboxKeysErr = rsa.GenerateKey(rand.Reader, 2048)
		}
	})
	return sandboxMerchant, sandboxPlt, sandboxKeysErr
}

var returnPage = template.Must(template.New("return").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title><style>body{font-family:system-ui,sans-serif;max-width:420px;margin:2em auto;padding:0 1em}</style></head>
<body><h1>{{.Title}}</h1>{{if .OrderNo}}<p>订单 {{.OrderNo}}: {{.Status}}</p>{{end}}<p>{{.Text}}</p></body></html>`))

// epayReturn is the gateway's return_url: the browser comes back with the
// signed trade parameters and is sent on to the order's frontend return
// URL, or shown the order's status.
func (s *Server) epayReturn(w http.ResponseWriter, r *http.Request) {
	show := func(status int, title, orderNo, st, text string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = returnPage.Execute(w, map[string]string{"Title": title, "OrderNo": orderNo, "Status": st, "Text": text})
	}
	p, err := epay.FromValues(r.URL.Query())
	if err != nil {
		show(http.StatusBadRequest, "无效的返回", "", "", "The gateway's return parameters could not be read.")
		return
	}
	o, target, err := s.Epay.ReturnTarget(r.Context(), p)
	switch {
	case err != nil:
		show(http.StatusBadRequest, "无效的返回", "", "", "This return was not signed by the gateway, or names an unknown order.")
	case target != "":
		http.Redirect(w, r, target, http.StatusFound)
	default:
		text := "The payment is being confirmed; this page does not need to stay open."
		if !payment.Unpaid(o.Status) {
			text = "You may close this page."
		}
		show(http.StatusOK, "支付结果", o.OrderNo, payment.StatusDesc(o.Type, o.Status), text)
	}
}
