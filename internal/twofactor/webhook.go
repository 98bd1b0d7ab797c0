package twofactor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// WebhookSender hands SMS codes to an HTTP gateway (PAYGRAPH_SMS_URL): one
// POST of a JSON document per code,
//
//	{"channel":"MOBILE","to":"18600000001","nationalCode":"86","code":"123456",
//	 "text":"【paygraph】支付验证码 123456，…","orderId":"…","verifyCodeOrderId":"…",
//	 "expiresAt":"2024-05-01T10:05:00Z"}
//
// and any 2xx answer means the gateway took it. Credentials go in the URL
// (user:password@ is sent as basic auth; or a token in the query).
type WebhookSender struct {
	URL    string
	Client *http.Client
}

// NewWebhookSender returns a sender posting to url, with a 10 s timeout
// and no kept-alive connections (a code is sent now and then).
func NewWebhookSender(url string) *WebhookSender {
	return &WebhookSender{URL: url, Client: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment},
	}}
}

type webhookBody struct {
	Channel           string `json:"channel"`
	To                string `json:"to"`
	NationalCode      string `json:"nationalCode,omitempty"`
	Code              string `json:"code"`
	Text              string `json:"text"`
	OrderID           string `json:"orderId"`
	VerifyCodeOrderID string `json:"verifyCodeOrderId"`
	ExpiresAt         string `json:"expiresAt"`
}

// Send posts m to the gateway.
func (w *WebhookSender) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(webhookBody{
		Channel: m.Channel, To: m.To, NationalCode: m.NationalCode, Code: m.Code, Text: m.Text(),
		OrderID: strconv.FormatInt(m.OrderID, 10), VerifyCodeOrderID: strconv.FormatInt(m.VerifyCodeOrderID, 10),
		ExpiresAt: m.ExpiresAt.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sms webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paygraph")
	resp, err := w.Client.Do(req)
	if err != nil {
		return fmt.Errorf("sms webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("sms webhook answered %s", resp.Status)
	}
	return nil
}
