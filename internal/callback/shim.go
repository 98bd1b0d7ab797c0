// Package callback is the REST shim providers call: every callback is
// stored raw before anything is done with it, verified by its provider,
// deduplicated, and applied through the same payment services as the
// mutations, moving an order only forward (contract §5).
package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/callbackevent"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/clientip"
	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/ratelimit"
	"github.com/paygraph/paygraph/internal/txn"
)

// Provider is one provider's side of the protocol: how its callbacks are
// verified and how it wants to be answered.
type Provider interface {
	// Name is the provider's name in stored events ("epay", "pingpp", "game").
	Name() string
	// Verify checks the callback's signature and reads what it says, with
	// the provider's id for the event (used to spot replays). An error
	// means the callback is not to be trusted.
	Verify(r *http.Request, body []byte) (eventID string, n payment.Notice, err error)
	// Reply answers the provider. ok says whether it may stop retrying.
	Reply(w http.ResponseWriter, r *http.Request, ok bool, reason string)
	// MaxBytes bounds a callback's body, and its URL query, to what the
	// protocol needs; a larger one is refused unread.
	MaxBytes() int64
}

// Shim stores, verifies and applies callbacks.
type Shim struct {
	Client   *ent.Client
	Tx       *txn.Runner
	Payments *payment.Service
	Clock    clock.Clock
	Log      *slog.Logger
	// Rejected bounds how many callbacks that fail verification are stored
	// per remote address (per minute); past it they are refused unstored.
	// nil: no bound.
	Rejected *ratelimit.Limiter
}

// keepRejected is how much of a callback that failed verification (or
// was too large) is stored: enough to see what it was.
const keepRejected = 2048

// keptHeaders are stored with each callback: what identifies and signs it.
var keptHeaders = []string{"Content-Type", "User-Agent", "X-Forwarded-For", "X-Real-Ip", "X-Request-Id"}

// Handler serves one provider's callback route.
func (s *Shim) Handler(p Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, reason := s.handle(w, r, p)
		p.Reply(w, r, ok, reason)
	})
}

// handle returns whether the provider may stop retrying, and why not.
//
// A callback is read up to the protocol's size, verified, and stored before
// anything is done with it. One that fails verification is stored
// truncated, and only while its address is within the Rejected bound, so
// forged callbacks cannot grow the database at will; a verified one is
// stored whole and applied.
func (s *Shim) handle(w http.ResponseWriter, r *http.Request, p Provider) (bool, string) {
	ctx := r.Context()
	limit := p.MaxBytes()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge), int64(len(r.URL.RawQuery)) > limit:
		reason := fmt.Sprintf("callback larger than the %d bytes the protocol needs", limit)
		s.storeRejected(ctx, p.Name(), r, body, "", reason)
		return false, reason
	case err != nil:
		return false, "could not read body"
	}
	eventID, notice, err := p.Verify(r, body)
	if err != nil {
		s.storeRejected(ctx, p.Name(), r, body, eventID, err.Error())
		return false, err.Error()
	}
	ev, err := s.store(ctx, p.Name(), r, body, eventID)
	if err != nil {
		s.Log.ErrorContext(ctx, "storing callback", "provider", p.Name(), "err", err)
		return false, "internal error"
	}
	notice.Provider = p.Name()
	var (
		result payment.Result
		order  *ent.Order
	)
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		key := DedupeKey(p.Name(), eventID, notice.Outcome)
		if err := tx.CallbackEvent.UpdateOneID(ev.ID).SetDedupeKey(key).Exec(ctx); err != nil {
			if ent.IsConstraintError(err) {
				result = payment.AlreadyApplied
				return errDuplicate
			}
			return fmt.Errorf("claiming callback: %w", err)
		}
		o, res, err := s.Payments.ApplyNotice(ctx, tx, notice)
		if err != nil {
			if o != nil {
				order = o
			}
			return err
		}
		order, result = o, res
		verdict := callbackevent.Verdict(res)
		return tx.CallbackEvent.UpdateOneID(ev.ID).SetVerdict(verdict).SetOrderID(o.ID).Exec(ctx)
	})
	var orderID int64
	if order != nil {
		orderID = order.ID
	}
	switch {
	case errors.Is(err, errDuplicate):
		s.finish(ctx, ev.ID, callbackevent.VerdictDUPLICATE, "", orderID)
		return true, "duplicate"
	case err == nil:
		if result == payment.NeedsRefund {
			s.Log.WarnContext(ctx, "payment arrived for an order that can no longer be paid: refund it",
				"provider", p.Name(), "order_id", orderID, "callback_id", ev.ID)
		} else {
			s.Log.InfoContext(ctx, "callback."+strings.ToLower(string(result)), "provider", p.Name(),
				"order_id", orderID, "callback_id", ev.ID)
		}
		return true, string(result)
	case apperr.CodeOf(err) != apperr.Internal:
		s.Log.WarnContext(ctx, "callback.rejected", "provider", p.Name(), "order_id", orderID,
			"callback_id", ev.ID, "reason", err.Error())
		s.finish(ctx, ev.ID, callbackevent.VerdictREJECTED, err.Error(), orderID)
		return false, err.Error()
	default:
		s.Log.ErrorContext(ctx, "applying callback", "provider", p.Name(), "err", err)
		s.finish(ctx, ev.ID, callbackevent.VerdictFAILED, "internal error", orderID)
		return false, "internal error"
	}
}

var errDuplicate = errors.New("duplicate callback")

// DedupeKey is the claim an applied callback holds: one per provider, the
// provider's id for the event, and the outcome. A provider may look it up to
// tell a replay of an applied callback from a new one.
func DedupeKey(provider, eventID string, o payment.Outcome) string {
	return provider + ":" + eventID + ":" + string(o)
}

// storeRejected keeps the start of a callback that was not applied, as
// REJECTED with its reason, unless its address has used up its Rejected
// bound.
func (s *Shim) storeRejected(ctx context.Context, provider string, r *http.Request, body []byte, eventID, reason string) {
	if ok, _ := s.Rejected.Allow(clientip.Host(r.RemoteAddr), s.Clock.Now()); !ok {
		s.Log.DebugContext(ctx, "callback refused unstored: too many rejected from this address", "provider", provider, "remote_addr", r.RemoteAddr)
		return
	}
	q := r.URL.RawQuery
	if len(body)+len(q) > keepRejected {
		n := len(body) + len(q)
		if len(q) > keepRejected {
			q = q[:keepRejected]
		}
		body = body[:min(len(body), keepRejected-len(q))]
		body = append(body[:len(body):len(body)], fmt.Sprintf("\n[truncated: %d bytes received]", n)...)
	}
	r2 := *r
	u := *r.URL
	u.RawQuery = q
	r2.URL = &u
	ev, err := s.store(ctx, provider, &r2, body, eventID)
	if err != nil {
		s.Log.ErrorContext(ctx, "storing callback", "provider", provider, "err", err)
		return
	}
	s.Log.WarnContext(ctx, "callback.rejected", "provider", provider, "callback_id", ev.ID, "reason", reason)
	s.finish(ctx, ev.ID, callbackevent.VerdictREJECTED, reason, 0)
}

func (s *Shim) store(ctx context.Context, provider string, r *http.Request, body []byte, eventID string) (*ent.CallbackEvent, error) {
	h := map[string]string{}
	for _, k := range keptHeaders {
		if v := r.Header.Get(k); v != "" {
			h[k] = v
		}
	}
	for k := range r.Header {
		if strings.HasPrefix(k, "X-Pingplusplus") || strings.HasPrefix(strings.ToLower(k), "x-signature") {
			h[k] = r.Header.Get(k)
		}
	}
	hj, _ := json.Marshal(h)
	raw := string(body)
	if r.URL.RawQuery != "" {
		raw = "?" + r.URL.RawQuery + "\n" + raw
	}
	if len(eventID) > 255 {
		eventID = eventID[:255]
	}
	c := s.Client.CallbackEvent.Create().
		SetProvider(provider).SetMethod(r.Method).SetHeaders(string(hj)).SetBody(raw).
		SetRemoteAddr(r.RemoteAddr).SetReceivedAt(s.Clock.Now())
	if eventID != "" {
		c.SetProviderEventID(eventID)
	}
	return c.Save(context.WithoutCancel(ctx))
}

func (s *Shim) finish(ctx context.Context, id int64, v callbackevent.Verdict, msg string, orderID int64) {
	u := s.Client.CallbackEvent.UpdateOneID(id).SetVerdict(v)
	if msg != "" {
		u.SetError(msg)
	}
	if orderID != 0 {
		u.SetOrderID(orderID)
	}
	if err := u.Exec(context.WithoutCancel(ctx)); err != nil {
		s.Log.WarnContext(ctx, "recording callback verdict", "err", err)
	}
}
