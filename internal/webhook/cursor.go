package webhook

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/event"
	"github.com/paygraph/paygraph/ent/webhookdelivery"
	"github.com/paygraph/paygraph/ent/webhookendpoint"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/txn"
)

// How an endpoint follows its app's events.
//
// Every enabled endpoint keeps a cursor over the events table: the
// position of the last event it is done with. Nothing is written per
// (event, endpoint) up front. A goroutine takes the events after the
// cursor, in position order, and sends the ones the endpoint wants one
// at a time (one request in flight per endpoint, so they arrive in
// order); then one unit of work moves the cursor and writes a row per
// attempt made: DELIVERED rows for a window of up to cursorWindow events
// together, or the failed attempt that stopped it.
//
// A failed attempt pauses the endpoint: next_attempt_at is set one step
// of the retry schedule later (the step for the endpoint's count of
// failures in a row, plus up to 10 % jitter), and until then nothing is
// sent and nothing is written; the events after the cursor wait, in
// order. At that time one probe is sent: the next attempt of the event
// after the cursor. So an endpoint that never answers costs one request
// and one unit of work (an endpoint update and a delivery row) per
// backoff step, whatever the payment rate. The event is marked FAILED
// once it has had its attempts (one plus one per step) or its schedule,
// counted from when it was made, is over; the events waiting behind it
// whose schedule is over too are marked failed with it, in one row
// naming how many there were, so a dead endpoint's backlog is written
// off in one write per step, not one per event.
//
// Crashes: the cursor moves only after the requests, so an instance that
// dies (kill -9) leaves its window to be sent again (at least once; the
// receiver dedupes on the event id). With PostgreSQL an instance claims
// an endpoint with a lease (FOR UPDATE SKIP LOCKED, then lease and
// lease_until), writes its outcome only while it holds it, and another
// instance takes over a lease that ran out: each attempt is sent by one
// instance.

// Sizes of the cursor's work.
const (
	// cursorWindow bounds the events one round of an endpoint reads, and
	// so the delivery rows of one unit of work.
	cursorWindow = 200
	// numberBatch bounds the events numbered in one unit (PostgreSQL).
	numberBatch = 2000
	// expirePage is how many waiting events a failed step reads at a time
	// to write off those whose schedule is over.
	expirePage = 1000
	// numberLock is the advisory lock that serialises numbering
	// (PostgreSQL): "paygraph" in ASCII.
	numberLock = 0x7061796772617068
)

// number gives committed events their positions. With PostgreSQL, in id
// order after the highest position so far, under an advisory lock, so an
// event that commits after a cursor moved still comes after it. With
// SQLite the recorder writes the position (the id) with the event, and
// this only numbers events recorded before cursors existed.
func (d *Dispatcher) number(ctx context.Context) error {
	for {
		if ok, err := d.Service.Client.Event.Query().Where(event.PositionIsNil()).Exist(ctx); err != nil || !ok {
			return err
		}
		var n int64
		err := d.Service.Tx.Run(ctx, func(tx *txn.Tx) error {
			if !d.Postgres {
				// Events already queued as rows get 0: no cursor reaches them.
				r, err := tx.ExecContext(ctx, `UPDATE events SET position = CASE WHEN fanned_out_at IS NULL THEN id ELSE 0 END WHERE position IS NULL`)
				if err != nil {
					return err
				}
				_, err = r.RowsAffected()
				return err
			}
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(numberLock)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE events SET position = 0 WHERE position IS NULL AND fanned_out_at IS NOT NULL`); err != nil {
				return err
			}
			r, err := tx.ExecContext(ctx, `UPDATE events SET position = n.pos FROM (
				SELECT id, GREATEST((SELECT COALESCE(MAX(position), 0) FROM events),
					(SELECT COALESCE(MAX(cursor), 0) FROM webhook_endpoints)) + row_number() OVER (ORDER BY id) AS pos
				FROM events WHERE position IS NULL ORDER BY id LIMIT $1) n
			WHERE events.id = n.id`, numberBatch)
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return err
		})
		if err != nil {
			return fmt.Errorf("numbering events: %w", err)
		}
		if !d.Postgres || n < numberBatch {
			return nil // SQLite: all of them, in one statement
		}
	}
}

// appEvents selects app's events after position cursor, in position
// order (newest first when last). With SQLite a position is the event's
// id, or 0 for an event no cursor reaches, so the read also bounds and
// orders by id and runs on the app_id index (db.eventIndexes).
func (d *Dispatcher) appEvents(app, cursor int64, last bool) *ent.EventQuery {
	q := d.Service.Client.Event.Query().Where(event.AppID(app), event.PositionGT(cursor))
	by := event.FieldPosition
	if !d.Postgres {
		q, by = q.Where(event.IDGT(cursor)), event.FieldID
	}
	if last {
		return q.Order(ent.Desc(by))
	}
	return q.Order(ent.Asc(by))
}

// following is an endpoint this instance moves the cursor of.
type following struct {
	*ent.WebhookEndpoint
	lease int64 // PostgreSQL: the claim; 0 with SQLite
}

// dueEndpoints finds up to n enabled endpoints, not paused, that have
// events after their cursor and that no goroutine follows, and (with
// PostgreSQL) claims them. It also says how long until the next paused
// endpoint's probe is due (0: none).
func (d *Dispatcher) dueEndpoints(ctx context.Context, n int) ([]following, time.Duration, error) {
	now := time.Now()
	var next time.Duration
	if p, err := d.Service.Client.WebhookEndpoint.Query().
		Where(webhookendpoint.Enabled(true), webhookendpoint.NextAttemptAtGT(now)).
		Order(webhookendpoint.ByNextAttemptAt()).Select(webhookendpoint.FieldNextAttemptAt).First(ctx); err == nil {
		next = max(time.Until(*p.NextAttemptAt), time.Millisecond)
	}
	eps, err := d.Service.Client.WebhookEndpoint.Query().
		Where(webhookendpoint.Enabled(true),
			webhookendpoint.Or(webhookendpoint.NextAttemptAtIsNil(), webhookendpoint.NextAttemptAtLTE(now))).
		Order(webhookendpoint.ByNextAttemptAt(), webhookendpoint.ByID()).All(ctx)
	if err != nil {
		return nil, next, err
	}
	heads := map[int64]int64{} // app → its highest position
	var want []*ent.WebhookEndpoint
	for _, ep := range eps {
		if len(want) == n {
			break
		}
		if d.isFollowing(ep.ID) {
			continue
		}
		if d.Postgres && ep.LeaseUntil != nil && ep.LeaseUntil.After(now) {
			if left := time.Until(*ep.LeaseUntil); next == 0 || left < next {
				next = max(left, time.Millisecond) // look again when the claim runs out
			}
			continue
		}
		head, ok := heads[ep.AppID]
		if !ok {
			last, err := d.appEvents(ep.AppID, 0, true).Select(event.FieldPosition).First(ctx)
			if err != nil && !ent.IsNotFound(err) {
				return nil, next, err
			}
			if err == nil {
				head = *last.Position
			}
			heads[ep.AppID] = head
		}
		if head > ep.Cursor {
			want = append(want, ep)
		}
	}
	if len(want) == 0 {
		return nil, next, nil
	}
	if !d.Postgres {
		out := make([]following, 0, len(want))
		for _, ep := range want {
			if d.setFollowing(ep.ID, true) {
				out = append(out, following{WebhookEndpoint: ep})
			}
		}
		return out, next, nil
	}
	out, err := d.claimEndpoints(ctx, want)
	return out, next, err
}

// claimEndpoints claims endpoints for this instance (PostgreSQL), reading
// them again under the lock: another instance may have moved a cursor.
func (d *Dispatcher) claimEndpoints(ctx context.Context, want []*ent.WebhookEndpoint) ([]following, error) {
	ids := make([]int64, len(want))
	for i, ep := range want {
		ids[i] = ep.ID
	}
	lease := newLease()
	var out []following
	err := d.Service.Tx.Run(ctx, func(tx *txn.Tx) error {
		out = out[:0]
		now := time.Now()
		eps, err := tx.WebhookEndpoint.Query().
			Where(webhookendpoint.IDIn(ids...), webhookendpoint.Enabled(true),
				webhookendpoint.Or(webhookendpoint.LeaseUntilIsNil(), webhookendpoint.LeaseUntilLTE(now)),
				webhookendpoint.Or(webhookendpoint.NextAttemptAtIsNil(), webhookendpoint.NextAttemptAtLTE(now))).
			ForUpdate(sql.WithLockAction(sql.SkipLocked)).All(ctx)
		if err != nil || len(eps) == 0 {
			return err
		}
		got := make([]int64, len(eps))
		for i, ep := range eps {
			got[i] = ep.ID
		}
		if err := tx.WebhookEndpoint.Update().Where(webhookendpoint.IDIn(got...)).
			SetLease(lease).SetLeaseUntil(now.Add(d.Lease)).Exec(ctx); err != nil {
			return err
		}
		for _, ep := range eps {
			out = append(out, following{WebhookEndpoint: ep, lease: lease})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claiming endpoints: %w", err)
	}
	kept := out[:0]
	for _, f := range out {
		if d.setFollowing(f.ID, true) {
			kept = append(kept, f)
		}
	}
	return kept, nil
}

func (d *Dispatcher) isFollowing(id int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.following[id]
}

// setFollowing marks (or unmarks) endpoint id as followed; marking one
// already followed reports false.
func (d *Dispatcher) setFollowing(id int64, on bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on && d.following[id] {
		return false
	}
	if on {
		d.following[id] = true
	} else {
		delete(d.following, id)
	}
	return true
}

// cursorStep is what one round of an endpoint came to.
type cursorStep struct {
	cursor        int64
	failures      int
	headAttempts  int
	nextAttemptAt *time.Time
	rows          []attemptRow
}

// attemptRow is one attempt made, to be written as a delivery row.
type attemptRow struct {
	id, eventID int64
	attempt     int
	status      webhookdelivery.Status
	out         outcome
	next        *time.Time
}

// follow sends the events after f's cursor, in order, until one fails,
// the window ends or a timeout's worth of time has passed (so a claim,
// three timeouts long, is never outlived), then writes where it got.
func (d *Dispatcher) follow(ctx context.Context, f following) {
	defer d.setFollowing(f.ID, false)
	step, err := d.walk(ctx, f)
	if err != nil && ctx.Err() == nil {
		d.Log.Warn("webhooks: following an endpoint", "endpoint_id", f.ID, "err", err)
		// Not the endpoint's fault, but do not spin on it: look again later.
		next := time.Now().Add(d.backoff(1))
		step.nextAttemptAt = &next
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.recordStep(rctx, f, step); err != nil {
		d.Log.Warn("webhooks: recording deliveries", "endpoint_id", f.ID, "err", err)
	}
}

func (d *Dispatcher) walk(ctx context.Context, f following) (cursorStep, error) {
	st := cursorStep{cursor: f.Cursor, failures: f.Failures, headAttempts: f.HeadAttempts}
	start := time.Now()
	evs, err := d.appEvents(f.AppID, f.Cursor, false).Limit(cursorWindow).All(ctx)
	if err != nil {
		return st, err
	}
	var secrets []string
	for _, ev := range evs {
		pos := *ev.Position
		// Ids are time-ordered: an endpoint gets the events made after it.
		if ev.Type == TypeTest || ev.ID <= f.ID || !Matches(f.Events, ev.Type) {
			st.cursor = pos
			continue
		}
		if ctx.Err() != nil || time.Since(start) > d.Timeout {
			break
		}
		if secrets == nil {
			if secrets, err = d.secrets(f.WebhookEndpoint, time.Now()); err != nil {
				return st, err
			}
		}
		row := attemptRow{id: idgen.Next(), eventID: ev.ID, attempt: st.headAttempts + 1}
		row.out = d.send(ctx, f.WebhookEndpoint, secrets, ev, row.id)
		if row.out.cancelled {
			break // stopping: not an attempt
		}
		if row.out.status == webhookdelivery.StatusDELIVERED {
			row.status = webhookdelivery.StatusDELIVERED
			st.rows = append(st.rows, row)
			st.cursor, st.failures, st.headAttempts, st.nextAttemptAt = pos, 0, 0, nil
			continue
		}
		st.failures++
		next := time.Now().Add(d.backoff(st.failures)) // a step after the attempt ended
		st.nextAttemptAt = &next
		if row.attempt <= len(d.Retries) && time.Now().Before(d.deadline(ev)) {
			row.status, row.next = webhookdelivery.StatusRETRYING, &next
			st.headAttempts = row.attempt
			st.rows = append(st.rows, row)
			break
		}
		row.status = webhookdelivery.StatusFAILED
		st.rows = append(st.rows, row)
		st.cursor, st.headAttempts = pos, 0
		// The events waiting behind it whose schedule is over too.
		if off, err := d.expire(ctx, f, &st); err != nil {
			return st, err
		} else if off != nil {
			st.rows = append(st.rows, *off)
		}
		break
	}
	return st, nil
}

// backoff is how long an endpoint pauses after its failures-th failure
// in a row: that step of the retry schedule (its last, past the end),
// plus up to 10 % so that endpoints that failed together spread out.
func (d *Dispatcher) backoff(failures int) time.Duration {
	base := DefaultTimeout
	if len(d.Retries) > 0 {
		base = d.Retries[min(failures, len(d.Retries))-1]
	}
	return base + rand.N(base/10+1)
}

// deadline is when ev's retry schedule is over: the schedule's delays
// after it was made, and the time its attempts may take.
func (d *Dispatcher) deadline(ev *ent.Event) time.Time {
	t := ev.CreatedAt
	for _, r := range d.Retries {
		t = t.Add(r)
	}
	return t.Add(time.Duration(len(d.Retries)+1) * d.Timeout)
}

// expire moves the cursor past the events waiting after it whose
// schedule is over (and the endpoint does not answer), and returns the one
// FAILED row that says so, for the last of them (nil: none).
func (d *Dispatcher) expire(ctx context.Context, f following, st *cursorStep) (*attemptRow, error) {
	n := 0
	var last *ent.Event
	now := time.Now()
	for {
		evs, err := d.appEvents(f.AppID, st.cursor, false).Limit(expirePage).
			Select(event.FieldPosition, event.FieldCreatedAt, event.FieldType).All(ctx)
		if err != nil {
			return nil, err
		}
		stop := len(evs) < expirePage
		for _, ev := range evs {
			if ev.Type != TypeTest && ev.ID > f.ID && Matches(f.Events, ev.Type) {
				if now.Before(d.deadline(ev)) {
					stop = true
					break
				}
				n++
				last = ev
			}
			st.cursor = *ev.Position
		}
		if stop {
			break
		}
	}
	if n == 0 {
		return nil, nil
	}
	msg := fmt.Sprintf("not sent: the retry schedule ended while the endpoint failed; %d events up to this one were not delivered (redeliverEvent sends one again)", n)
	return &attemptRow{id: idgen.Next(), eventID: last.ID, attempt: 0, status: webhookdelivery.StatusFAILED,
		out: outcome{at: now, err: msg}}, nil
}

// sameTime reports whether a and b are both unset or the same moment.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// recordStep writes where an endpoint's round got: its cursor and backoff,
// and a row per attempt made, in one unit of work, if this instance
// still holds the endpoint (with PostgreSQL) and it still exists.
func (d *Dispatcher) recordStep(ctx context.Context, f following, st cursorStep) error {
	changed := st.cursor != f.Cursor || st.failures != f.Failures || st.headAttempts != f.HeadAttempts ||
		len(st.rows) > 0 || !sameTime(st.nextAttemptAt, f.NextAttemptAt)
	if !changed && f.lease == 0 {
		return nil // nothing to write
	}
	return d.Service.Tx.Run(ctx, func(tx *txn.Tx) error {
		u := tx.WebhookEndpoint.Update().Where(webhookendpoint.ID(f.ID)).
			SetCursor(st.cursor).SetFailures(st.failures).SetHeadAttempts(st.headAttempts)
		if f.lease != 0 {
			u.Where(webhookendpoint.Lease(f.lease)).ClearLease().ClearLeaseUntil()
		}
		if st.nextAttemptAt != nil {
			u.SetNextAttemptAt(*st.nextAttemptAt)
		} else {
			u.ClearNextAttemptAt()
		}
		n, err := u.Save(ctx)
		if err != nil || n == 0 {
			return err // n == 0: deleted, or the claim ran out and another instance took over
		}
		if len(st.rows) == 0 {
			return nil
		}
		bs := make([]*ent.WebhookDeliveryCreate, len(st.rows))
		for i, r := range st.rows {
			b := tx.WebhookDelivery.Create().SetID(r.id).SetEventID(r.eventID).SetEndpointID(f.ID).SetAppID(f.AppID).
				SetAttempt(r.attempt).SetStatus(r.status).SetDueAt(r.out.at).SetCreatedAt(r.out.at)
			if r.attempt != 0 {
				b.SetAttemptedAt(r.out.at).SetDurationMs(int(r.out.duration.Milliseconds()))
			}
			if r.out.httpCode != 0 {
				b.SetHTTPStatus(r.out.httpCode)
			}
			if e := r.out.err; e != "" {
				if len(e) > maxErrorLen {
					e = strings.ToValidUTF8(e[:maxErrorLen], "")
				}
				b.SetError(e)
			}
			if r.next != nil {
				b.SetNextAttemptAt(*r.next)
			}
			bs[i] = b
			d.logAttempt(f, r)
		}
		for len(bs) > 0 {
			k := min(len(bs), 100)
			if err := tx.WebhookDelivery.CreateBulk(bs[:k]...).Exec(ctx); err != nil {
				return fmt.Errorf("writing deliveries: %w", err)
			}
			bs = bs[k:]
		}
		return nil
	})
}

func (d *Dispatcher) logAttempt(f following, r attemptRow) {
	attrs := []any{"delivery_id", r.id, "event_id", r.eventID, "endpoint_id", f.ID, "attempt", r.attempt,
		"http_status", r.out.httpCode, "duration_ms", r.out.duration.Milliseconds()}
	switch r.status {
	case webhookdelivery.StatusDELIVERED:
		d.Log.Debug("webhook.delivered", attrs...)
	case webhookdelivery.StatusRETRYING:
		d.Log.Info("webhook.retrying", append(attrs, "error", r.out.err, "next_attempt_at", r.next)...)
	default:
		d.Log.Warn("webhook.failed", append(attrs, "error", r.out.err)...)
	}
}
