package callback

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/provider/epay"
)

// Epay is the 易支付 notify (/payment/notify): a GET (or POST form) signed
// with MD5 or RSA; trade_status TRADE_SUCCESS marks the order paid. It is
// answered with the plain text "success" only once the payment is durably
// recorded (or was already), "fail" otherwise, so the gateway retries.
type Epay struct{ Client *epay.Client }

// Name is "epay".
func (Epay) Name() string { return payment.ChannelEpay }

// ErrNotPaid refuses a notify that reports anything but a payment: a
// verified notify whose trade_status is not TRADE_SUCCESS changes nothing.
var ErrNotPaid = errors.New("trade_status is not TRADE_SUCCESS")

// Verify reads the notify from the query and, for a POST, the form body.
func (p Epay) Verify(r *http.Request, body []byte) (string, payment.Notice, error) {
	v := r.URL.Query()
	if r.Method == http.MethodPost && len(body) > 0 {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", payment.Notice{}, errors.New("body is not a form")
		}
		for k, vs := range form {
			v[k] = append(v[k], vs...)
		}
	}
	params, err := epay.FromValues(v)
	if err != nil {
		return "", payment.Notice{}, err
	}
	n, err := p.Client.VerifyNotify(params)
	if err != nil {
		return "", payment.Notice{}, err
	}
	if n.TradeStatus != epay.TradeSuccess {
		return n.TradeNo, payment.Notice{}, ErrNotPaid
	}
	amount, err := money.ParseStrict(n.Money, 2) // yuan, to the fen
	if err != nil {
		return n.TradeNo, payment.Notice{}, fmt.Errorf("money: %v", err)
	}
	return n.TradeNo, payment.Notice{OrderNo: n.OutTradeNo, ProviderTradeNo: n.TradeNo, Amount: amount, Outcome: payment.OutcomePaid,
		OpenedTrade: true}, nil
}

// MaxBytes is 8 KiB: a notify is a dozen short fields.
func (Epay) MaxBytes() int64 { return 8 << 10 }

// Reply writes "success" or "fail" as plain text.
func (Epay) Reply(w http.ResponseWriter, _ *http.Request, ok bool, _ string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if ok {
		_, _ = io.WriteString(w, "success")
		return
	}
	_, _ = io.WriteString(w, "fail")
}
