package game

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/callbackevent"
	"github.com/paygraph/paygraph/internal/callback"
	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/money"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/trace"
)

// Name is the provider's name in stored callback events.
const Name = "game"

// CallbackPath is the route the provider posts to.
const CallbackPath = "/api/pay/callback"

// MaxSkew is how far a callback's timestamp may be from our clock.
const MaxSkew = 5 * time.Minute

// The callback's fields (the game goods callback).
const (
	FieldGameOrderNo   = "game_order_no"
	FieldGyyxOrderNo   = "gyyx_order_no"
	FieldResult        = "result"
	FieldResultMessage = "result_message"
	FieldRmbYuan       = "rmb_yuan"
	FieldServerFlag    = "server_flag"
	FieldCommonParam   = "common_param"
	FieldTimestamp     = "timestamp"
)

// required are the fields a callback cannot do without; the others
// (result_message, server_flag, common_param, signType) are signed when
// present but not needed.
var required = []string{FieldGameOrderNo, FieldGyyxOrderNo, FieldResult, FieldRmbYuan, FieldTimestamp}

// maxTradeNo bounds the provider's order number we keep.
const maxTradeNo = 128

// Provider verifies the game provider's callbacks for callback.Shim.
type Provider struct {
	// Key is PAYGRAPH_GAME_CALLBACK_KEY.
	Key []byte
	// Algorithm is PAYGRAPH_GAME_CALLBACK_SIGN: the algorithm of a callback
	// without signType. With hmac-sha256 configured, md5 is refused, so a
	// forger cannot pick the weaker one.
	Algorithm Algorithm
	Clock     clock.Clock
	// Client looks up whether a stale callback replays an applied one.
	Client *ent.Client
}

// Name is "game".
func (p *Provider) Name() string { return Name }

func (p *Provider) algorithm(signType string) (Algorithm, error) {
	if signType == "" {
		return p.Algorithm, nil
	}
	alg, err := ParseAlgorithm(signType)
	if err != nil {
		return "", err
	}
	if p.Algorithm == HMACSHA256 && alg != HMACSHA256 {
		return "", fmt.Errorf("signType %s is not accepted: callbacks must be signed with hmac-sha256", signType)
	}
	return alg, nil
}

// Verify checks a callback's signature and reads it: game_order_no is our
// GOODS orderNo, gyyx_order_no the provider's trade number (and the event's
// id), rmb_yuan the amount paid, result success or 0 a payment, anything
// else a failure. A timestamp more than MaxSkew from our clock is refused,
// unless the callback replays one already applied (then the shim answers it
// as the duplicate it is, so the provider stops retrying).
func (p *Provider) Verify(r *http.Request, body []byte) (string, payment.Notice, error) {
	f, err := Fields(r.Header.Get("Content-Type"), r.URL.RawQuery, body)
	if err != nil {
		return "", payment.Notice{}, err
	}
	eventID := f[FieldGyyxOrderNo]
	if len(eventID) > maxTradeNo {
		return "", payment.Notice{}, fmt.Errorf("%s is longer than %d characters", FieldGyyxOrderNo, maxTradeNo)
	}
	alg, err := p.algorithm(f[FieldSignType])
	if err != nil {
		return eventID, payment.Notice{}, err
	}
	if f[FieldSign] == "" {
		return eventID, payment.Notice{}, errors.New("sign is missing")
	}
	if !Valid(alg, p.Key, f, f[FieldSign]) {
		return eventID, payment.Notice{}, errors.New("signature does not match")
	}
	for _, k := range required {
		if f[k] == "" {
			return eventID, payment.Notice{}, fmt.Errorf("%s is missing", k)
		}
	}
	orderNo := f[FieldGameOrderNo]
	if !strings.HasPrefix(orderNo, payment.GoodsOrderPrefix) {
		return eventID, payment.Notice{}, fmt.Errorf("%s %q is not a game order of ours", FieldGameOrderNo, orderNo)
	}
	amount, err := money.ParseStrict(f[FieldRmbYuan], 2) // yuan, to the fen
	if err != nil {
		return eventID, payment.Notice{}, fmt.Errorf("%s: %v", FieldRmbYuan, err)
	}
	outcome := payment.OutcomeFailed
	if res := f[FieldResult]; strings.EqualFold(res, "success") || res == "0" {
		outcome = payment.OutcomePaid
	}
	n := payment.Notice{OrderNo: orderNo, ProviderTradeNo: eventID, Amount: amount, Outcome: outcome}
	ts, err := ParseTimestamp(f[FieldTimestamp])
	if err != nil {
		return eventID, payment.Notice{}, err
	}
	if d := p.Clock.Now().Sub(ts); d > MaxSkew || d < -MaxSkew {
		replay, err := p.applied(r.Context(), eventID, outcome)
		if err != nil {
			return eventID, payment.Notice{}, err
		}
		if !replay {
			return eventID, payment.Notice{}, fmt.Errorf("%s %s is more than %s away from the server's clock", FieldTimestamp, f[FieldTimestamp], MaxSkew)
		}
	}
	return eventID, n, nil
}

// applied reports whether a callback with this id and outcome was applied.
func (p *Provider) applied(ctx context.Context, eventID string, o payment.Outcome) (bool, error) {
	ok, err := p.Client.CallbackEvent.Query().
		Where(callbackevent.DedupeKey(callback.DedupeKey(Name, eventID, o))).Exist(ctx)
	if err != nil {
		return false, fmt.Errorf("looking up earlier callbacks: %w", err)
	}
	return ok, nil
}

// shanghai is the provider's local time (UTC+8, no daylight saving).
var shanghai = time.FixedZone("CST", 8*3600)

// ParseTimestamp reads a callback timestamp: Unix seconds, Unix
// milliseconds (13 digits or more), RFC 3339, or "2006-01-02 15:04:05" in
// China Standard Time.
func ParseTimestamp(s string) (time.Time, error) {
	if s != "" && strings.Trim(s, "0123456789") == "" && len(s) <= 16 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			if len(s) >= 13 {
				return time.UnixMilli(n), nil
			}
			return time.Unix(n, 0), nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateTime, s, shanghai); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q is not Unix seconds, milliseconds or RFC 3339", FieldTimestamp, s)
}

// Envelope is the answer of every game goods endpoint: result success or
// fail, state saying why on failure, and the request's trace id.
type Envelope struct {
	Result  string `json:"result"`
	State   string `json:"state"`
	TraceID string `json:"trace_id"`
}

// Reply answers the provider with the envelope; result success tells it to
// MaxBytes is 8 KiB: a callback is a dozen short fields.
func (p *Provider) MaxBytes() int64 { return 8 << 10 }

// stop retrying.
func (p *Provider) Reply(w http.ResponseWriter, r *http.Request, ok bool, reason string) {
	env := Envelope{Result: "fail", State: reason, TraceID: trace.ID(r.Context())}
	if ok {
		env.Result, env.State = "success", successState(reason)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(env)
}

// successState is the state of a success: empty when the callback moved
// the order, otherwise what happened instead.
func successState(reason string) string {
	switch payment.Result(reason) {
	case payment.Applied:
		return ""
	case payment.NeedsRefund:
		return "the order can no longer be paid: the payment is kept for refund"
	}
	return "duplicate: already applied"
}
