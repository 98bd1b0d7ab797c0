// Package pingpp speaks Ping++'s public protocol: charges created with the
// Bearer secret key, refunds, and webhooks signed with RSA-SHA256 over the
// raw body (X-Pingplusplus-Signature). Amounts are integers of fen, as
// Ping++ sends them; nothing here uses floats.
package pingpp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygraph/paygraph/internal/apperr"
)

// Channels this package creates charges for: Alipay and WeChat Pay apps.
const (
	ChannelAlipay = "alipay"
	ChannelWx     = "wx"
)

// Limits Ping++ puts on a charge's texts, in characters.
const (
	MaxSubject = 32
	MaxBody    = 128
)

// Charge is a Ping++ charge object (the fields paygraph reads). Raw keeps
// the object exactly as Ping++ sent it, for the client SDK.
type Charge struct {
	ID             string          `json:"id"`
	Object         string          `json:"object"`
	Created        int64           `json:"created"`
	Livemode       bool            `json:"livemode"`
	Paid           bool            `json:"paid"`
	Refunded       bool            `json:"refunded"`
	App            string          `json:"app"`
	Channel        string          `json:"channel"`
	OrderNo        string          `json:"order_no"`
	ClientIP       string          `json:"client_ip"`
	Amount         int64           `json:"amount"`
	AmountRefunded int64           `json:"amount_refunded"`
	Currency       string          `json:"currency"`
	Subject        string          `json:"subject"`
	Body           string          `json:"body"`
	TimePaid       *int64          `json:"time_paid"`
	TimeExpire     *int64          `json:"time_expire"`
	TransactionNo  *string         `json:"transaction_no"`
	FailureCode    *string         `json:"failure_code"`
	FailureMsg     *string         `json:"failure_msg"`
	Credential     json.RawMessage `json:"credential"`
	// Refunds lists the charge's refunds, as Ping++ embeds them: one page,
	// with HasMore set when there are more than it holds.
	Refunds struct {
		Data    []Refund `json:"data"`
		HasMore bool     `json:"has_more"`
	} `json:"refunds"`
	Raw json.RawMessage `json:"-"`
}

// Closed reports whether the charge can no longer be paid: it failed, or
// its time_expire has passed.
func (c *Charge) Closed(now time.Time) bool {
	if c.Paid {
		return false
	}
	return c.FailureCode != nil || (c.TimeExpire != nil && now.Unix() >= *c.TimeExpire)
}

// Refund is a Ping++ refund object.
type Refund struct {
	ID            string          `json:"id"`
	Object        string          `json:"object"`
	OrderNo       string          `json:"order_no"`
	Amount        int64           `json:"amount"`
	Created       int64           `json:"created"`
	Succeed       bool            `json:"succeed"`
	Status        string          `json:"status"` // pending, succeeded, failed
	TimeSucceed   *int64          `json:"time_succeed"`
	Description   string          `json:"description"`
	FailureCode   *string         `json:"failure_code"`
	FailureMsg    *string         `json:"failure_msg"`
	Charge        string          `json:"charge"`
	ChargeOrderNo string          `json:"charge_order_no"`
	Raw           json.RawMessage `json:"-"`
}

// Refund statuses.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
)

// Event is a webhook event; Data.Object is a charge or a refund.
type Event struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Type     string `json:"type"`
	Created  int64  `json:"created"`
	Livemode bool   `json:"livemode"`
	Data     struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// Event types paygraph acts on.
const (
	EventChargeSucceeded = "charge.succeeded"
	EventRefundSucceeded = "refund.succeeded"
)

// ChargeRequest is what a charge is created with.
type ChargeRequest struct {
	OrderNo  string
	Channel  string
	Amount   int64 // fen
	Currency string
	ClientIP string
	Subject  string
	Body     string
	// TimeExpire is when the charge stops being payable (zero: Ping++'s default).
	TimeExpire time.Time
}

// Client calls the Ping++ API.
type Client struct {
	// BaseURL is the API root, such as https://api.pingxx.com.
	BaseURL   string
	AppID     string
	SecretKey string
	HTTP      *http.Client
	Log       *slog.Logger
}

// Errors of the client. Their messages are safe to show; details are logged.
var (
	ErrUnreachable = apperr.New(apperr.ProviderError, "Ping++ could not be reached; try again")
	ErrBadAnswer   = apperr.New(apperr.ProviderError, "Ping++ gave an answer paygraph does not understand")
)

// apiError is Ping++'s error body: {"error": {"type", "message", "code", "param"}}.
type apiError struct {
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Code    string `json:"code"`
		Param   string `json:"param"`
	} `json:"error"`
}

// CreateCharge creates a charge.
//
// Errors: PROVIDER_ERROR (unreachable, refused, or an answer not understood).
func (c *Client) CreateCharge(ctx context.Context, req ChargeRequest) (*Charge, error) {
	body := map[string]any{
		"order_no":  req.OrderNo,
		"app":       map[string]string{"id": c.AppID},
		"channel":   req.Channel,
		"amount":    req.Amount,
		"currency":  req.Currency,
		"client_ip": req.ClientIP,
		"subject":   truncate(req.Subject, MaxSubject),
		"body":      truncate(req.Body, MaxBody),
	}
	if !req.TimeExpire.IsZero() {
		body["time_expire"] = req.TimeExpire.Unix()
	}
	var ch Charge
	raw, err := c.call(ctx, http.MethodPost, "/v1/charges", body, &ch)
	if err != nil {
		return nil, err
	}
	ch.Raw = raw
	if ch.ID == "" || ch.OrderNo != req.OrderNo || ch.Amount != req.Amount {
		c.logf(ctx, "charge answer does not match the request", "order_no", req.OrderNo, "body", string(raw))
		return nil, ErrBadAnswer
	}
	return &ch, nil
}

// GetCharge reads a charge.
//
// Errors: PROVIDER_ERROR.
func (c *Client) GetCharge(ctx context.Context, id string) (*Charge, error) {
	var ch Charge
	raw, err := c.call(ctx, http.MethodGet, "/v1/charges/"+url.PathEscape(id), nil, &ch)
	if err != nil {
		return nil, err
	}
	ch.Raw = raw
	if ch.ID != id {
		return nil, ErrBadAnswer
	}
	return &ch, nil
}

// CreateRefund refunds amount fen of a charge.
//
// Errors: PROVIDER_ERROR.
func (c *Client) CreateRefund(ctx context.Context, chargeID string, amount int64, description string) (*Refund, error) {
	var rf Refund
	raw, err := c.call(ctx, http.MethodPost, "/v1/charges/"+url.PathEscape(chargeID)+"/refunds",
		map[string]any{"amount": amount, "description": truncate(description, 255)}, &rf)
	if err != nil {
		return nil, err
	}
	rf.Raw = raw
	if rf.ID == "" || rf.Amount != amount {
		return nil, ErrBadAnswer
	}
	return &rf, nil
}

func (c *Client) call(ctx context.Context, method, path string, body any, out any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding Ping++ request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("building Ping++ request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.SecretKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.logf(ctx, "Ping++ unreachable", "path", path, "err", err)
		return nil, ErrUnreachable
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		c.logf(ctx, "reading Ping++ answer", "path", path, "err", err)
		return nil, ErrUnreachable
	}
	if resp.StatusCode/100 != 2 {
		var ae apiError
		if json.Unmarshal(raw, &ae) == nil && ae.Error.Message != "" {
			c.logf(ctx, "Ping++ refused", "path", path, "status", resp.StatusCode, "type", ae.Error.Type, "code", ae.Error.Code, "message", ae.Error.Message)
			err := apperr.New(apperr.ProviderError, "Ping++ refused: %s", truncate(ae.Error.Message, 200))
			if resp.StatusCode/100 == 4 {
				return nil, &Refusal{Status: resp.StatusCode, Type: ae.Error.Type, Code: ae.Error.Code, err: err}
			}
			return nil, err
		}
		c.logf(ctx, "Ping++ failed", "path", path, "status", resp.StatusCode)
		return nil, apperr.New(apperr.ProviderError, "Ping++ answered HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		c.logf(ctx, "Ping++ answer is not JSON", "path", path, "err", err)
		return nil, ErrBadAnswer
	}
	return raw, nil
}

func (c *Client) logf(ctx context.Context, msg string, args ...any) {
	if c.Log != nil {
		c.Log.WarnContext(ctx, msg, args...)
	}
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// Refusal is Ping++ saying no (HTTP 4xx with an error body): the request
// was certainly not carried out. Other failures (unreachable, 5xx) leave
// it unknown whether it was.
type Refusal struct {
	Status     int
	Type, Code string
	err        *apperr.Error
}

func (r *Refusal) Error() string { return r.err.Message }

// Unwrap exposes the PROVIDER_ERROR shown to clients.
func (r *Refusal) Unwrap() error { return r.err }

// IsRefusal reports whether err is a Refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

// Refused returns the Refusal of a request Ping++ answered with status
// and message (for fakes in tests).
func Refused(status int, message string) *Refusal {
	return &Refusal{Status: status, Type: "invalid_request_error",
		err: apperr.New(apperr.ProviderError, "Ping++ refused: %s", truncate(message, 200))}
}
