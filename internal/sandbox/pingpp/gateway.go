// Package pingpp is an embedded gateway that speaks Ping++'s protocol, for
// local use and tests: it creates charges (Bearer secret key), shows a
// cashier page that can complete or fail one, refunds, and sends each
// outcome as a webhook signed with its own RSA key, which paygraph trusts
// by default while no real Ping++ is configured.
//
// Charges live in memory: the sandbox is for one instance and forgets
// everything when it stops.
package pingpp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html/template"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/provider/pingpp"
)

// Prefix is where the gateway is mounted.
const Prefix = "/sandbox/pingpp"

// key is the sandbox's signing key: made once per process.
var key = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("sandbox Ping++ key: " + err.Error())
	}
	return k
})

// PublicKey is the key the sandbox's webhooks verify with.
func PublicKey() *rsa.PublicKey { return &key().PublicKey }

// PublicKeyPEM is PublicKey as PEM text.
func PublicKeyPEM() string {
	der, _ := x509.MarshalPKIXPublicKey(PublicKey())
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Sign returns the X-Pingplusplus-Signature of body under the sandbox key.
func Sign(body []byte) string {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key(), crypto.SHA256, sum[:])
	if err != nil {
		panic("signing sandbox webhook: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// Delivery is the answer to one webhook.
type Delivery struct {
	Status int
	Reply  string
}

// SentEvent is a webhook the gateway sent: the exact body, its signature
// and what the receiver answered.
type SentEvent struct {
	ID        string
	Type      string
	Body      []byte
	Signature string
	Delivery  Delivery
}

// Gateway is the sandbox.
type Gateway struct {
	AppID     string
	SecretKey string
	Clock     clock.Clock
	// Deliver sends a signed webhook to paygraph and returns its answer.
	Deliver func(ctx context.Context, body []byte, signature string) Delivery

	mu      sync.Mutex
	charges map[string]*charge
	events  []SentEvent
}

type charge struct {
	pingpp.Charge
	refunds []*pingpp.Refund
}

// Events returns the webhooks sent so far, oldest first.
func (g *Gateway) Events() []SentEvent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]SentEvent(nil), g.events...)
}

// Handler serves the gateway's routes under Prefix.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Prefix+"/v1/charges", g.authed(g.createCharge))
	mux.HandleFunc("GET "+Prefix+"/v1/charges/{id}", g.authed(g.getCharge))
	mux.HandleFunc("POST "+Prefix+"/v1/charges/{id}/refunds", g.authed(g.createRefund))
	mux.HandleFunc("GET "+Prefix+"/pay/{id}", g.cashier)
	mux.HandleFunc("POST "+Prefix+"/pay/{id}", g.pay)
	mux.HandleFunc("GET "+Prefix+"/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "paygraph Ping++ sandbox: POST "+Prefix+"/v1/charges (Bearer secret key); "+
			"GET "+Prefix+"/pay/{charge_id} is the cashier; POST "+Prefix+"/pay/{charge_id} with result=success|fail completes a charge.\n")
	})
	return mux
}

func (g *Gateway) now() time.Time {
	if g.Clock == nil {
		return time.Now()
	}
	return g.Clock.Now()
}

// apiError answers like Ping++: {"error": {"type", "message", "param"}}.
func apiError(w http.ResponseWriter, status int, typ, param, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": typ, "message": msg, "param": param}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (g *Gateway) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(g.SecretKey)) != 1 {
			apiError(w, http.StatusUnauthorized, "invalid_request_error", "", "No API key provided or the key is wrong")
			return
		}
		next(w, r)
	}
}

var orderNoRe = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// chargeRequest is a create-charge body, JSON (or form, as old SDKs send).
type chargeRequest struct {
	OrderNo string `json:"order_no"`
	App     struct {
		ID string `json:"id"`
	} `json:"app"`
	Channel    string `json:"channel"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	ClientIP   string `json:"client_ip"`
	Subject    string `json:"subject"`
	Body       string `json:"body"`
	TimeExpire int64  `json:"time_expire"`
}

func readChargeRequest(r *http.Request) (chargeRequest, error) {
	var in chargeRequest
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return in, err
		}
		in.OrderNo, in.App.ID, in.Channel = r.PostForm.Get("order_no"), r.PostForm.Get("app[id]"), r.PostForm.Get("channel")
		in.Currency, in.ClientIP = r.PostForm.Get("currency"), r.PostForm.Get("client_ip")
		in.Subject, in.Body = r.PostForm.Get("subject"), r.PostForm.Get("body")
		var err error
		if in.Amount, err = strconv.ParseInt(r.PostForm.Get("amount"), 10, 64); err != nil {
			return in, fmt.Errorf("amount is not a whole number of fen")
		}
		if te := r.PostForm.Get("time_expire"); te != "" {
			if in.TimeExpire, err = strconv.ParseInt(te, 10, 64); err != nil {
				return in, fmt.Errorf("time_expire is not a Unix time")
			}
		}
		return in, nil
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	if err := dec.Decode(&in); err != nil {
		return in, fmt.Errorf("body is not a JSON charge request")
	}
	return in, nil
}

func (g *Gateway) createCharge(w http.ResponseWriter, r *http.Request) {
	in, err := readChargeRequest(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", err.Error())
		return
	}
	now := g.now()
	bad := func(param, msg string) { apiError(w, http.StatusBadRequest, "invalid_request_error", param, msg) }
	switch {
	case !orderNoRe.MatchString(in.OrderNo):
		bad("order_no", "order_no must be 1 to 64 letters or digits")
	case in.App.ID != g.AppID:
		bad("app", "app not found")
	case in.Channel != pingpp.ChannelAlipay && in.Channel != pingpp.ChannelWx:
		bad("channel", "the sandbox supports the channels alipay and wx")
	case in.Amount <= 0 || in.Amount > 100_000_000_00:
		bad("amount", "amount must be a positive number of fen")
	case in.Currency != "cny":
		bad("currency", "currency must be cny")
	case in.ClientIP == "":
		bad("client_ip", "client_ip is required")
	case in.Subject == "" || len([]rune(in.Subject)) > pingpp.MaxSubject:
		bad("subject", "subject must be 1 to 32 characters")
	case in.Body == "" || len([]rune(in.Body)) > pingpp.MaxBody:
		bad("body", "body must be 1 to 128 characters")
	case in.TimeExpire != 0 && in.TimeExpire <= now.Unix():
		bad("time_expire", "time_expire must be in the future")
	default:
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, c := range g.charges {
			if c.OrderNo == in.OrderNo && c.Paid {
				bad("order_no", "this order_no is already paid")
				return
			}
		}
		expire := in.TimeExpire
		if expire == 0 {
			expire = now.Add(24 * time.Hour).Unix()
		}
		c := &charge{Charge: pingpp.Charge{
			ID: "ch_" + randomID(24), Object: "charge", Created: now.Unix(), App: g.AppID, Channel: in.Channel,
			OrderNo: in.OrderNo, ClientIP: in.ClientIP, Amount: in.Amount, Currency: in.Currency,
			Subject: in.Subject, Body: in.Body, TimeExpire: &expire, Credential: credential(in.Channel),
		}}
		if g.charges == nil {
			g.charges = map[string]*charge{}
		}
		g.charges[c.ID] = c
		writeJSON(w, c.object())
	}
}

// credential imitates the channel's payment parameters; the client SDK
// would hand them to Alipay or WeChat.
func credential(channel string) json.RawMessage {
	var v any
	switch channel {
	case pingpp.ChannelAlipay:
		v = map[string]any{"object": "credential", "alipay": map[string]string{"orderInfo": "sandbox_order_info=" + randomID(16)}}
	default:
		v = map[string]any{"object": "credential", "wx": map[string]string{
			"appId": "wx_sandbox", "partnerId": "sandbox", "prepayId": "wx" + randomID(28),
			"nonceStr": randomID(32), "timeStamp": strconv.FormatInt(time.Now().Unix(), 10),
			"packageValue": "Sign=WXPay", "sign": randomID(32),
		}}
	}
	b, _ := json.Marshal(v)
	return b
}

// object is the charge as Ping++ would show it.
func (c *charge) object() map[string]any {
	refunds := make([]any, len(c.refunds))
	for i, rf := range c.refunds {
		refunds[i] = refundObject(rf)
	}
	return map[string]any{
		"id": c.ID, "object": "charge", "created": c.Created, "livemode": false, "paid": c.Paid,
		"refunded": c.Refunded, "app": c.App, "channel": c.Channel, "order_no": c.OrderNo,
		"client_ip": c.ClientIP, "amount": c.Amount, "amount_settle": c.Amount, "currency": c.Currency,
		"subject": c.Subject, "body": c.Body, "extra": map[string]any{}, "time_paid": c.TimePaid,
		"time_expire": c.TimeExpire, "time_settle": nil, "transaction_no": c.TransactionNo,
		"refunds":         map[string]any{"object": "list", "url": "/v1/charges/" + c.ID + "/refunds", "has_more": false, "data": refunds},
		"amount_refunded": c.AmountRefunded, "failure_code": c.FailureCode, "failure_msg": c.FailureMsg,
		"metadata": map[string]any{}, "credential": c.Credential, "description": nil,
	}
}

func refundObject(rf *pingpp.Refund) map[string]any {
	return map[string]any{
		"id": rf.ID, "object": "refund", "order_no": rf.OrderNo, "amount": rf.Amount, "created": rf.Created,
		"succeed": rf.Succeed, "status": rf.Status, "time_succeed": rf.TimeSucceed, "description": rf.Description,
		"failure_code": rf.FailureCode, "failure_msg": rf.FailureMsg, "metadata": map[string]any{},
		"charge": rf.Charge, "charge_order_no": rf.ChargeOrderNo, "transaction_no": "sandbox_" + rf.ID,
	}
}

func (g *Gateway) getCharge(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.charges[r.PathValue("id")]
	if c == nil {
		apiError(w, http.StatusNotFound, "invalid_request_error", "id", "No such charge")
		return
	}
	writeJSON(w, c.object())
}

func (g *Gateway) createRefund(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Amount      *int64 `json:"amount"`
		Description string `json:"description"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "body is not a JSON refund request")
		return
	}
	g.mu.Lock()
	c := g.charges[r.PathValue("id")]
	if c == nil {
		g.mu.Unlock()
		apiError(w, http.StatusNotFound, "invalid_request_error", "id", "No such charge")
		return
	}
	amount := c.Amount - c.AmountRefunded
	if in.Amount != nil {
		amount = *in.Amount
	}
	if !c.Paid || amount <= 0 || c.AmountRefunded+amount > c.Amount {
		g.mu.Unlock()
		apiError(w, http.StatusBadRequest, "invalid_request_error", "amount", "the charge is not paid, or the amount is more than is left to refund")
		return
	}
	now := g.now().Unix()
	rf := &pingpp.Refund{
		ID: "re_" + randomID(24), Object: "refund", OrderNo: strconv.FormatInt(now, 10) + randomID(6), Amount: amount,
		Created: now, Succeed: true, Status: pingpp.RefundSucceeded, TimeSucceed: &now, Description: in.Description,
		Charge: c.ID, ChargeOrderNo: c.OrderNo,
	}
	c.refunds = append(c.refunds, rf)
	c.AmountRefunded += amount
	c.Refunded = c.AmountRefunded == c.Amount
	obj := refundObject(rf)
	g.mu.Unlock()
	// Like Ping++, the outcome is also sent as a webhook; the sandbox sends
	// it before answering, so callers see a settled refund either way.
	g.send(r.Context(), pingpp.EventRefundSucceeded, obj)
	writeJSON(w, obj)
}

// send signs an event and delivers it.
func (g *Gateway) send(ctx context.Context, typ string, object map[string]any) SentEvent {
	ev := map[string]any{
		"id": "evt_" + randomID(24), "created": g.now().Unix(), "livemode": false, "type": typ,
		"data": map[string]any{"object": object}, "object": "event", "pending_webhooks": 0,
		"request": "iar_" + randomID(24),
	}
	body, _ := json.Marshal(ev)
	se := SentEvent{ID: ev["id"].(string), Type: typ, Body: body, Signature: Sign(body)}
	if g.Deliver != nil {
		se.Delivery = g.Deliver(context.WithoutCancel(ctx), body, se.Signature)
	}
	g.mu.Lock()
	g.events = append(g.events, se)
	g.mu.Unlock()
	return se
}

var cashierPage = template.Must(template.New("cashier").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Ping++ sandbox cashier</title>
<style>body{font-family:sans-serif;max-width:30em;margin:3em auto}button{font-size:1.1em;margin-right:1em}</style></head>
<body><h1>Ping++ sandbox</h1>
{{if .Charge}}<p>{{.Charge.Subject}}</p>
<p>Order <code>{{.Charge.OrderNo}}</code> · channel {{.Charge.Channel}} · <strong>¥{{.Yuan}}</strong></p>
{{if .Message}}<p><strong>{{.Message}}</strong></p>{{end}}
{{if .Open}}<form method="post"><button name="result" value="success">Pay</button><button name="result" value="fail">Fail</button></form>{{end}}
{{else}}<p>{{.Message}}</p>{{end}}
</body></html>`))

type cashierData struct {
	Charge  *pingpp.Charge
	Yuan    string
	Open    bool
	Message string
}

func (g *Gateway) cashier(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	c := g.charges[r.PathValue("id")]
	var d cashierData
	if c != nil {
		cp := c.Charge
		d = cashierData{Charge: &cp, Yuan: pingpp.Fen(c.Amount).String(), Open: !c.Paid && !c.Closed(g.now())}
		switch {
		case c.Paid:
			d.Message = "Paid."
		case c.Closed(g.now()):
			d.Message = "This charge can no longer be paid."
		}
	} else {
		d.Message = "No such charge."
	}
	g.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if c == nil {
		w.WriteHeader(http.StatusNotFound)
	}
	_ = cashierPage.Execute(w, d)
}

// pay completes a charge (result=success) or fails it (result=fail), as
// the cashier's buttons do. A success sends charge.succeeded.
func (g *Gateway) pay(w http.ResponseWriter, r *http.Request) {
	result := r.FormValue("result")
	if result != "success" && result != "fail" {
		http.Error(w, "result must be success or fail", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	c := g.charges[r.PathValue("id")]
	if c == nil {
		g.mu.Unlock()
		http.Error(w, "no such charge", http.StatusNotFound)
		return
	}
	now := g.now()
	if c.Paid || c.Closed(now) {
		g.mu.Unlock()
		http.Error(w, "this charge is already paid or can no longer be paid", http.StatusConflict)
		return
	}
	if result == "fail" {
		code, msg := "USER_CANCELLED", "the payer failed the payment in the sandbox cashier"
		c.FailureCode, c.FailureMsg = &code, &msg
		g.mu.Unlock()
		g.answer(w, r, c.ID, "failed", Delivery{})
		return
	}
	paid, tn := now.Unix(), "sandbox"+strconv.FormatInt(now.UnixNano(), 10)
	c.Paid, c.TimePaid, c.TransactionNo = true, &paid, &tn
	obj := c.object()
	g.mu.Unlock()
	se := g.send(r.Context(), pingpp.EventChargeSucceeded, obj)
	g.answer(w, r, c.ID, "paid", se.Delivery)
}

func (g *Gateway) answer(w http.ResponseWriter, r *http.Request, id, what string, d Delivery) {
	msg := "charge " + id + " " + what
	if d.Status != 0 {
		msg += fmt.Sprintf("; webhook answered %d %s", d.Status, strings.TrimSpace(d.Reply))
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = cashierPage.Execute(w, cashierData{Message: msg})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, msg+"\n")
}

const idChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func randomID(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(idChars)))
	for i := range b {
		k, _ := rand.Int(rand.Reader, max)
		b[i] = idChars[k.Int64()]
	}
	return string(b)
}
