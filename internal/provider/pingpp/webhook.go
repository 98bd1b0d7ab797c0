package pingpp

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
)

// SignatureHeader carries the base64 RSA-SHA256 signature of a webhook body.
const SignatureHeader = "X-Pingplusplus-Signature"

// Errors of webhook verification.
var (
	ErrNoSignature  = errors.New("no " + SignatureHeader + " header")
	ErrBadSignature = errors.New("signature does not verify")
)

// VerifySignature checks sig (base64, as in the header) over body with any
// of keys.
func VerifySignature(keys []*rsa.PublicKey, body []byte, sig string) error {
	sig = strings.TrimSpace(sig)
	if sig == "" {
		return ErrNoSignature
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return ErrBadSignature
	}
	sum := sha256.Sum256(body)
	for _, k := range keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], raw) == nil {
			return nil
		}
	}
	return ErrBadSignature
}

// Webhook is the callback.Provider of Ping++ webhooks.
type Webhook struct {
	// Keys are the public keys whose signatures are trusted.
	Keys []*rsa.PublicKey
	// AppID, when set, must be the app of every charge notified.
	AppID string
}

// Name is "pingpp".
func (*Webhook) Name() string { return "pingpp" }

// Verify checks the signature over the raw body, then reads the event:
// charge.succeeded is a payment, refund.succeeded a refund of our order.
func (w *Webhook) Verify(r *http.Request, body []byte) (string, payment.Notice, error) {
	var ev Event
	jsonErr := json.Unmarshal(body, &ev)
	if err := VerifySignature(w.Keys, body, r.Header.Get(SignatureHeader)); err != nil {
		return ev.ID, payment.Notice{}, err
	}
	if jsonErr != nil || ev.ID == "" || ev.Object != "event" {
		return "", payment.Notice{}, errors.New("body is not a Ping++ event")
	}
	n, err := w.notice(&ev)
	return ev.ID, n, err
}

// notice turns a verified event into what it says about an order.
func (w *Webhook) notice(ev *Event) (payment.Notice, error) {
	switch ev.Type {
	case EventChargeSucceeded:
		var ch Charge
		if err := json.Unmarshal(ev.Data.Object, &ch); err != nil || ch.Object != "charge" {
			return payment.Notice{}, errors.New("charge.succeeded carries no charge")
		}
		switch {
		case !ch.Paid:
			return payment.Notice{}, errors.New("charge.succeeded for a charge that is not paid")
		case w.AppID != "" && ch.App != w.AppID:
			return payment.Notice{}, fmt.Errorf("charge of app %q, not ours", ch.App)
		case !strings.EqualFold(ch.Currency, "cny"):
			return payment.Notice{}, fmt.Errorf("charge in %q, not cny", ch.Currency)
		case ch.OrderNo == "" || ch.Amount <= 0:
			return payment.Notice{}, errors.New("charge names no order or amount")
		}
		return payment.Notice{OrderNo: ch.OrderNo, ProviderTradeNo: ch.ID, Amount: Fen(ch.Amount), Outcome: payment.OutcomePaid,
			OpenedTrade: true}, nil
	case EventRefundSucceeded:
		var rf Refund
		if err := json.Unmarshal(ev.Data.Object, &rf); err != nil || rf.Object != "refund" {
			return payment.Notice{}, errors.New("refund.succeeded carries no refund")
		}
		switch {
		case !rf.Succeed && rf.Status != RefundSucceeded:
			return payment.Notice{}, errors.New("refund.succeeded for a refund that has not succeeded")
		case rf.ChargeOrderNo == "" || rf.Amount <= 0:
			return payment.Notice{}, errors.New("refund names no charge_order_no or amount")
		}
		return payment.Notice{OrderNo: rf.ChargeOrderNo, ProviderTradeNo: rf.ID, Amount: Fen(rf.Amount), Outcome: payment.OutcomeRefunded,
			Description: rf.Description}, nil
	}
	return payment.Notice{}, fmt.Errorf("event type %q is not handled", ev.Type)
}

// Reply answers 200 when Ping++ may stop sending the event; anything else
// MaxBytes is 64 KiB: a charge or refund event is a few KiB (the public
// example is 859 bytes), metadata and extras included.
func (*Webhook) MaxBytes() int64 { return 64 << 10 }

// makes it send again later.
func (*Webhook) Reply(w http.ResponseWriter, _ *http.Request, ok bool, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if ok {
		_, _ = io.WriteString(w, "success")
		return
	}
	status := http.StatusInternalServerError
	if reason == ErrNoSignature.Error() || reason == ErrBadSignature.Error() {
		status = http.StatusUnauthorized
	} else if reason != "internal error" {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "fail: "+reason)
}

// Fen is an amount of fen as a CNY Decimal ("1.00" for 100).
func Fen(n int64) money.Decimal { return money.Decimal{Coef: n, Scale: 2} }
