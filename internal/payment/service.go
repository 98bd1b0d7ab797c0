package payment

import (
	"context"

	"entgo.io/ent/dialect/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/ent/orderevent"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/clock"
	"github.com/paygraph/paygraph/internal/events"
	"github.com/paygraph/paygraph/internal/idempotency"
	"github.com/paygraph/paygraph/internal/ledger"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
	"github.com/paygraph/paygraph/internal/webhook"
)

// SecondFactor checks a payer's second factor before money moves (the
// token checkout). The default, NoSecondFactor, lets every payer through.
type SecondFactor interface {
	// Verify returns nil if userID may pay orderID with the given code.
	Verify(ctx context.Context, tx *txn.Tx, userID, orderID int64, verifyCodeOrderID *int64, code *string) error
}

// SecondFactorPrecheck is implemented by a SecondFactor that judges a code
// before pay's transaction, in a unit of work of its own, so that a wrong
// code is recorded (counted towards a lockout) even though pay then fails
// and its transaction rolls back. Verify still runs inside the transaction
// and consumes the code there.
type SecondFactorPrecheck interface {
	Precheck(ctx context.Context, userID, orderID int64, verifyCodeOrderID *int64, code *string) error
}

// NoSecondFactor is the SecondFactor of a payer who has bound none.
type NoSecondFactor struct{}

// Verify always passes.
func (NoSecondFactor) Verify(context.Context, *txn.Tx, int64, int64, *int64, *string) error {
	return nil
}

// Service creates orders and moves them through the status machine.
type Service struct {
	Client       *ent.Client
	Tx           *txn.Runner
	Ledger       *ledger.Ledger
	Idem         *idempotency.Store
	Clock        clock.Clock
	OrderTTL     time.Duration
	SecondFactor SecondFactor
	// OnPaid settles orders paid through a provider, by order type.
	OnPaid map[order.Type]OnPaid
	// Refunds decides refunds, by order type.
	Refunds map[order.Type]RefundHandler
	// OnRefunded applies refunds a provider confirms, by order type.
	OnRefunded map[order.Type]OnRefunded
	// Log gets one INFO line per step of every order, once it committed
	// (nil: none).
	Log *slog.Logger
	// Events records each step as an Event (the outbox of webhooks and
	// the events query), in the step's transaction (nil: none).
	Events *webhook.Recorder
}

// Errors shared by the order services.
var (
	ErrOrderNotFound = apperr.New(apperr.NotFound, "order not found").WithLegacy(6)
	ErrOrderExpired  = apperr.New(apperr.OrderExpired, "order has expired")
	ErrNotPayer      = apperr.New(apperr.Forbidden, "only the payer may pay this order")
)

// Actor names the caller for an order's history.
func Actor(ctx context.Context) string {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return "system"
	}
	switch p.Role {
	case role.Service:
		return "service:" + strconv.FormatInt(p.AppID, 10)
	case role.Admin:
		return "admin:" + strconv.FormatInt(p.Subject, 10)
	}
	return "user:" + strconv.FormatInt(p.Subject, 10)
}

// Changes are the fields a status change may set along with the status.
type Changes struct {
	PaidAt          *time.Time
	CompletedAt     *time.Time
	ProviderTradeNo *string
	RefundReason    *string
	// Refund adds to refundedAmount (minor units). The update is
	// conditional on the sum staying within the order's amount, so
	// concurrent refunds of one order never give back more than was paid.
	Refund int64
	// RefundRequested records a waiting partial refund request.
	RefundRequested *int64
	// ClearRefundRequest drops a waiting partial refund request (decided).
	ClearRefundRequest bool
}

func (c Changes) apply(u *ent.OrderUpdate, o *ent.Order) {
	if c.Refund != 0 {
		x := c.Refund
		u.AddRefundedAmount(x).Where(func(s *sql.Selector) {
			// refunded_amount + x <= amount, with x as a bound argument.
			s.Where(sql.P(func(b *sql.Builder) {
				b.WriteString(s.C(order.FieldRefundedAmount)).WriteString(" + ").Arg(x).
					WriteString(" <= ").WriteString(s.C(order.FieldAmount))
			}))
		})
		o.RefundedAmount += x
	}
	if c.RefundRequested != nil {
		u.SetRefundRequestedAmount(*c.RefundRequested)
		o.RefundRequestedAmount = c.RefundRequested
	}
	if c.ClearRefundRequest {
		u.ClearRefundRequestedAmount()
		o.RefundRequestedAmount = nil
	}
	if c.PaidAt != nil {
		u.SetPaidAt(*c.PaidAt)
		o.PaidAt = c.PaidAt
	}
	if c.CompletedAt != nil {
		u.SetCompletedAt(*c.CompletedAt)
		o.CompletedAt = c.CompletedAt
	}
	if c.ProviderTradeNo != nil {
		u.SetProviderTradeNo(*c.ProviderTradeNo)
		o.ProviderTradeNo = *c.ProviderTradeNo
	}
	if c.RefundReason != nil {
		u.SetRefundReason(*c.RefundReason)
		o.RefundReason = *c.RefundReason
	}
}

// Transition moves o to status to inside tx, with a conditional update so
// that of two concurrent transitions from one status only one wins; the
// loser gets INVALID_TRANSITION. It records the step in the order's history,
// emits it after commit, and returns the order as it now is (o itself is
// left as it was read).
func (s *Service) Transition(ctx context.Context, tx *txn.Tx, o *ent.Order, to Status, actor, reason string, ch Changes) (*ent.Order, error) {
	if err := CanTransition(o.Status, to); err != nil {
		return nil, err
	}
	return s.step(ctx, tx, o, to, actor, reason, ch)
}

// Step records a step of o's history that keeps its status (a partial
// refund, a partial refund request and its rejection), with the changes
// it makes; otherwise it is Transition's twin: webhooks and subscriptions
// see it as an event of the order's status, whose from and to are equal.
func (s *Service) Step(ctx context.Context, tx *txn.Tx, o *ent.Order, actor, reason string, ch Changes) (*ent.Order, error) {
	return s.step(ctx, tx, o, o.Status, actor, reason, ch)
}

// errRefundExceeds is a refund that no longer fits: another refund of the
// order took what was left meanwhile.
func errRefundExceeds(s *Service, o *ent.Order) error {
	left := o.Amount - o.RefundedAmount
	return apperr.Input("amount", "only %s %s of this order is left to refund (another refund was made meanwhile); nothing was changed",
		s.Ledger.Assets().Format(o.Asset, left), o.Asset)
}

func (s *Service) step(ctx context.Context, tx *txn.Tx, o *ent.Order, to Status, actor, reason string, ch Changes) (*ent.Order, error) {
	now := s.Clock.Now()
	// A step is conditional on the status and the step number read with o:
	// steps of one order are serialised by it, so o.EventSeq+1 is the new
	// step's number. A step that kept the status (a partial refund) in
	// between is no conflict: o is read again and the step retried.
	for try := 0; ; try++ {
		next := *o
		next.Status, next.UpdatedAt = to, now
		next.EventSeq = o.EventSeq + 1
		next.Edges = ent.OrderEdges{}
		u := tx.Order.Update().Where(order.ID(o.ID), order.StatusEQ(o.Status), order.EventSeq(o.EventSeq)).
			SetStatus(to).SetUpdatedAt(now).AddEventSeq(1)
		ch.apply(u, &next)
		n, err := u.Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("moving order %d to %s: %w", o.ID, to, err)
		}
		if n == 0 {
			cur, err := tx.Order.Get(ctx, o.ID)
			if err != nil {
				return nil, fmt.Errorf("re-reading order %d: %w", o.ID, err)
			}
			if cur.Status != o.Status {
				return nil, InvalidTransition(cur.Status, to)
			}
			if ch.Refund != 0 && cur.RefundedAmount+ch.Refund > cur.Amount {
				return nil, errRefundExceeds(s, cur)
			}
			// Each retry follows another step that committed, so a step
			// retries at most once per concurrent one.
			if try >= 64 {
				return nil, apperr.New(apperr.InvalidTransition, "order %d changed while it was being moved; try again", o.ID)
			}
			o = cur
			continue
		}
		ev := tx.OrderEvent.Create().SetOrderID(o.ID).SetFrom(orderevent.From(o.Status)).SetTo(orderevent.To(to)).
			SetActor(actor).SetAt(now).SetSeq(next.EventSeq)
		if reason != "" {
			ev.SetReason(reason)
		}
		e, err := ev.Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("recording history of order %d: %w", o.ID, err)
		}
		if err := s.Events.Order(ctx, tx, &next, now); err != nil {
			return nil, err
		}
		tx.Emit(OrderEventMessage(o, e.ID))
		from := o.Status
		tx.AfterCommit(func() { s.logStep(ctx, &next, from, actor, reason) })
		return &next, nil
	}
}

// logStep writes the one log line of a step of o's history, named like
// the step's event (order.created, order.paid, order.refunded, …).
func (s *Service) logStep(ctx context.Context, o *ent.Order, from Status, actor, reason string) {
	if s.Log == nil {
		return
	}
	attrs := []slog.Attr{
		slog.Int64("order_id", o.ID), slog.String("order_no", o.OrderNo), slog.String("type", string(o.Type)),
		slog.String("status", string(o.Status)), slog.String("amount", s.Ledger.Assets().Format(o.Asset, o.Amount).String()),
		slog.String("asset", o.Asset), slog.Int64("app_id", o.AppID), slog.String("actor", actor),
	}
	if from != "" {
		attrs = append(attrs, slog.String("from", string(from)))
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	name := "order.created"
	if from != "" {
		name = "order." + strings.ToLower(string(o.Status))
	}
	s.Log.LogAttrs(ctx, slog.LevelInfo, name, attrs...)
}

// OrderEventMessage is the bus event for a step of o's history.
func OrderEventMessage(o *ent.Order, eventID int64) events.Event {
	ev := events.Event{Kind: events.KindOrder, ID: eventID, OrderID: o.ID, AppID: o.AppID}
	if o.PayerID != 0 {
		ev.UserIDs = append(ev.UserIDs, o.PayerID)
	}
	if o.PayeeID != 0 && o.PayeeID != o.PayerID {
		ev.UserIDs = append(ev.UserIDs, o.PayeeID)
	}
	return ev
}

// RecordCreated writes the first step of a new order's history (every
// flow's orders start here).
func (s *Service) RecordCreated(ctx context.Context, tx *txn.Tx, o *ent.Order, actor string) error {
	e, err := tx.OrderEvent.Create().SetOrderID(o.ID).SetTo(orderevent.To(o.Status)).SetActor(actor).
		SetAt(o.CreatedAt).SetReason("created").SetSeq(o.EventSeq).Save(ctx)
	if err != nil {
		return fmt.Errorf("recording creation of order %d: %w", o.ID, err)
	}
	if err := s.Events.Order(ctx, tx, o, o.CreatedAt); err != nil {
		return err
	}
	tx.Emit(OrderEventMessage(o, e.ID))
	tx.AfterCommit(func() { s.logStep(ctx, o, "", actor, "") })
	return nil
}

// Load returns an order the caller may see.
//
// Errors: ErrOrderNotFound, FORBIDDEN.
func (s *Service) Load(ctx context.Context, q *ent.OrderQuery) (*ent.Order, error) {
	o, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrOrderNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading order: %w", err)
	}
	if err := access.CanView(ctx, o); err != nil {
		return nil, err
	}
	return o, nil
}

// ExpireDue moves unpaid orders whose expiresAt has passed to EXPIRED and
// returns how many it moved. Each move is a conditional transition, so
// several instances running it at once expire each order once.
func (s *Service) ExpireDue(ctx context.Context, limit int) (int, error) {
	now := s.Clock.Now()
	due, err := s.Client.Order.Query().
		Where(order.StatusIn(Pending, Processing), order.ExpiresAtNotNil(), order.ExpiresAtLTE(now)).
		Order(ent.Asc(order.FieldExpiresAt)).Limit(limit).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("finding expired orders: %w", err)
	}
	n := 0
	for _, o := range due {
		err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
			_, err := s.Transition(ctx, tx, o, Expired, "system", "expired", Changes{})
			return err
		})
		if apperr.CodeOf(err) == apperr.InvalidTransition {
			continue // paid or expired by someone else meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// keyed runs one unit of work that produces an order, under the caller's
// idempotency key: prepare (checks that need no lock; nil for none) runs
// first, then work in one transaction that also completes the key. A replay
// skips both and returns the first call's order as it is now. The order
// returned is detached from the transaction, so its edges load afterwards.
func (s *Service) keyed(ctx context.Context, op string, key *string, input any, prepare func() error, work func(tx *txn.Tx) (*ent.Order, error)) (*ent.Order, error) {
	var out *ent.Order
	id, replayed, err := s.Idem.Do(ctx, op, key, input, func(mark idempotency.Mark) (int64, error) {
		if prepare != nil {
			if err := prepare(); err != nil {
				return 0, err
			}
		}
		err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
			o, err := work(tx)
			if err != nil {
				return err
			}
			out = detach(o)
			return mark(ctx, tx.Tx, o.ID)
		})
		if err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.Client.Order.Get(ctx, id)
	}
	return out, nil
}

// detach returns o bound to the client rather than to the transaction that
// loaded or created it; an order read outside a transaction is returned as
// it is (ent's Unwrap panics on those).
func detach(o *ent.Order) (out *ent.Order) {
	defer func() {
		if recover() != nil {
			out = o
		}
	}()
	return o.Unwrap()
}
