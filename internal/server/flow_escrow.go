package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/paygraph/paygraph/internal/rsakey"

	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/escrow"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/provider/pingpp"
	sandboxpingpp "github.com/paygraph/paygraph/internal/sandbox/pingpp"
	"github.com/paygraph/paygraph/internal/scheduler"
)

// initEscrowFlow wires the escrow marketplace: escrow deals, wallet, Ping++.
func (s *Server) initEscrowFlow(mux *http.ServeMux) error {
	if a, err := s.Assets.Get("asset", escrow.Asset); err != nil || a.Scale != 2 {
		return &config.Error{Var: "PAYGRAPH_ASSETS", Reason: "the escrow marketplace needs CNY with 2 decimals (Ping++ counts fen)"}
	}
	cfg := s.Config
	if cfg.PingppURL != "" && cfg.PingppAppID == "" {
		return &config.Error{Var: "PAYGRAPH_PINGPP_APP_ID", Reason: "must be set when PAYGRAPH_PINGPP_URL names a real gateway"}
	}
	var keys []*rsa.PublicKey
	if cfg.PingppPublicKey != "" {
		k, err := rsakey.ParsePublic(cfg.PingppPublicKey)
		if err != nil {
			return &config.Error{Var: "PAYGRAPH_PINGPP_PUBLIC_KEY", Reason: "cannot be used: " + err.Error()}
		}
		keys = append(keys, k)
	}
	client := &pingpp.Client{BaseURL: cfg.PingppURL, AppID: cfg.PingppAppID, SecretKey: cfg.PingppSecretKey,
		HTTP: &http.Client{Timeout: 20 * time.Second}, Log: s.Log}
	var cashier func(string) string
	if cfg.PingppURL == "" {
		// The embedded sandbox: reached in-process, its webhooks delivered
		// in-process to our own callback route, signed with its own key.
		if client.AppID == "" {
			client.AppID = "app_sandbox"
		}
		if client.SecretKey == "" {
			var b [16]byte
			_, _ = rand.Read(b[:])
			client.SecretKey = "sk_test_" + hex.EncodeToString(b[:])
		}
		gw := &sandboxpingpp.Gateway{AppID: client.AppID, SecretKey: client.SecretKey, Clock: s.Clock, Deliver: s.deliverPingpp}
		s.PingppSandbox = gw
		h := gw.Handler()
		mux.Handle(sandboxpingpp.Prefix+"/", h)
		client.BaseURL = cfg.PublicURL + sandboxpingpp.Prefix
		client.HTTP = &http.Client{Transport: inProcess{h}, Timeout: 20 * time.Second}
		keys = append(keys, sandboxpingpp.PublicKey())
		cashier = func(id string) string { return s.PublicURL() + sandboxpingpp.Prefix + "/pay/" + id }
	}

	svc := &escrow.Service{
		Client: s.DB.Ent, Tx: s.Tx, Ledger: s.Ledger, Idem: s.Idem, Payments: s.Payments,
		Guard:  s.Secrets,
		Pingpp: client, Clock: s.Clock, Log: s.Log,
		OrderTTL: cfg.OrderTTL, AutoConfirm: cfg.EscrowAutoConfirm, RefundWindow: cfg.EscrowRefundWindow,
		CashierURL: cashier,
	}
	s.Escrow = svc
	s.Payments.OnPaid[order.TypeDEAL] = svc.SettleDeal
	s.Payments.Refunds[order.TypeDEAL] = escrow.Refunds{S: svc}
	if s.Payments.OnRefunded == nil {
		s.Payments.OnRefunded = map[order.Type]payment.OnRefunded{}
	}
	s.Payments.OnRefunded[order.TypeDEAL] = svc.OnRefunded
	mux.Handle("POST /callbacks/pingpp", s.Shim.Handler(&pingpp.Webhook{Keys: keys, AppID: client.AppID}))

	s.Scheduler.Add(scheduler.Job{Name: "escrow-auto-confirm", Run: func(ctx context.Context) error {
		for {
			n, err := svc.AutoConfirmDue(ctx, 200)
			if err != nil || n < 200 {
				return err
			}
		}
	}})
	return nil
}

// deliverPingpp hands a sandbox webhook to our own callback route, through
// the whole HTTP stack but without a network.
func (s *Server) deliverPingpp(ctx context.Context, body []byte, signature string) sandboxpingpp.Delivery {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/callbacks/pingpp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(pingpp.SignatureHeader, signature)
	req.Header.Set("User-Agent", "paygraph-pingpp-sandbox")
	req.RemoteAddr = "127.0.0.1:0"
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return sandboxpingpp.Delivery{Status: rec.Code, Reply: rec.Body.String()}
}

// inProcess is an http.RoundTripper that serves requests with a handler.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}
