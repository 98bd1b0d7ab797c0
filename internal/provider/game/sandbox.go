package game

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/role"
)

// Sandbox plays the game provider for development: it signs a callback for
// an order with the server's own key and posts it to POST /api/pay/callback,
// so a game team can try the whole loop (createGoodsOrder → callback →
// verifyOrder) on `make run` without a provider account.
type Sandbox struct {
	Provider *Provider
	Client   *ent.Client
	Assets   *money.Registry
	// Enabled is true only while the callback key is the generated
	// development key: with a real provider key configured, a test
	// callback would be a payment nobody made.
	Enabled bool
	// Handler returns the server's HTTP surface (middleware included); the
	// callback goes through it exactly as the provider's would, in process,
	// so it works whatever address the server is reachable at.
	Handler func() http.Handler
}

// TestInput is what a test callback says.
type TestInput struct {
	Order    string
	Result   *string
	RmbYuan  *money.Decimal
	SignType *string
}

// TestCallback is what was sent and how the callback route answered.
type TestCallback struct {
	Body    string
	Status  int
	Result  string
	State   string
	TraceID string
}

// ErrSandboxOff is returned while a real callback key is configured.
var ErrSandboxOff = apperr.New(apperr.Forbidden,
	"test callbacks are for development: they are off while PAYGRAPH_GAME_CALLBACK_KEY is set")

// Send posts a correctly signed callback for the order with orderNo
// in.Order: result success (or in.Result), the order's amount (or
// in.RmbYuan), a fresh gyyx_order_no, the current timestamp.
//
// Errors: FORBIDDEN (not an ADMIN, or ErrSandboxOff), NOT_FOUND,
// BAD_USER_INPUT (signType).
func (s *Sandbox) Send(ctx context.Context, in TestInput) (*TestCallback, error) {
	if _, err := auth.Require(ctx, role.Admin); err != nil {
		return nil, err
	}
	if !s.Enabled {
		return nil, ErrSandboxOff
	}
	o, err := s.Client.Order.Query().Where(order.OrderNo(in.Order)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, payment.ErrOrderNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading order %q: %w", in.Order, err)
	}
	alg := s.Provider.Algorithm
	if in.SignType != nil && *in.SignType != "" {
		if alg, err = s.Provider.algorithm(*in.SignType); err != nil {
			return nil, apperr.Input("signType", "%s", err)
		}
	}
	amount := s.Assets.Format(o.Asset, o.Amount)
	if in.RmbYuan != nil {
		amount = *in.RmbYuan
	}
	result := "success"
	if in.Result != nil {
		result = *in.Result
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	fields := []field{
		{FieldGameOrderNo, o.OrderNo, false},
		{FieldGyyxOrderNo, "SANDBOX-" + hex.EncodeToString(nonce[:]), false},
		{FieldResult, result, false},
		{FieldResultMessage, "sandbox test callback", false},
		{FieldRmbYuan, amount.String(), true},
		{FieldServerFlag, "sandbox", false},
		{FieldCommonParam, "", false},
		{FieldTimestamp, strconv.FormatInt(s.Provider.Clock.Now().Unix(), 10), false},
		{FieldSignType, string(alg), false},
	}
	body := signedJSON(alg, s.Provider.Key, fields)

	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, CallbackPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paygraph-sandbox")
	req.RemoteAddr = "sandbox"
	rec := &recorder{header: http.Header{}}
	s.Handler().ServeHTTP(rec, req)
	out := &TestCallback{Body: string(body), Status: rec.status, TraceID: rec.header.Get("X-Request-Id")}
	if out.Status == 0 {
		out.Status = http.StatusOK
	}
	var env Envelope
	if err := json.Unmarshal(rec.body.Bytes(), &env); err == nil {
		out.Result, out.State, out.TraceID = env.Result, env.State, env.TraceID
	} else {
		out.Result, out.State = "fail", rec.body.String()
	}
	return out, nil
}

// field is one field of a JSON callback; number fields are written as JSON
// numbers, as the provider's document shows rmb_yuan.
type field struct {
	key, value string
	number     bool
}

// signedJSON writes fields as a JSON object in the given order, with sign
// computed over them the way Verify checks it.
func signedJSON(alg Algorithm, key []byte, fields []field) []byte {
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		m[f.key] = f.value
	}
	fields = append(fields, field{FieldSign, Sign(alg, key, m), false})
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		if f.number {
			b.WriteString(f.value)
		} else {
			v, _ := json.Marshal(f.value)
			b.Write(v)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// recorder keeps what the callback route answered.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
