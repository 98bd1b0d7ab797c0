package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/webhookdelivery"
	"github.com/paygraph/paygraph/internal/events"
	"github.com/paygraph/paygraph/internal/txn"
)

// Dispatcher delivers events: each enabled endpoint follows its app's
// events with a cursor (cursor.go), one request in flight per endpoint,
// and the attempts asked for by hand (redeliverEvent, sendTestWebhook)
// are rows it claims. Requests are sent outside any transaction; the
// outcome is written after. Its writes are small units of work through
// the transaction runner (with SQLite, the one writer that payments use,
// never a second connection), and no unit holds the database while a
// request is in flight.
type Dispatcher struct {
	Service *Service
	// Bus tells the dispatcher that changes committed (on any instance,
	// with PostgreSQL), so new events are sent at once.
	Bus events.Bus
	Log *slog.Logger
	// Postgres claims endpoints and rows with FOR UPDATE SKIP LOCKED and
	// a lease, so instances sharing the database never send the same
	// attempt, and numbers events (their positions) after they commit.
	// Without it (SQLite) one instance owns the queue.
	Postgres bool
	// Retries are the delays between attempts (PAYGRAPH_WEBHOOK_RETRIES).
	Retries []time.Duration
	// Timeout bounds one attempt, connection to last byte of the answer's
	// head; the answer's body is read for at most the rest of it.
	Timeout time.Duration
	// Lease is how long a claim lasts: an instance that died holding it
	// (kill -9) leaves the delivery to be claimed again then.
	Lease time.Duration
	// Workers bounds the requests in flight (one at most per endpoint).
	Workers int
	// Idle bounds the time between two looks at the queue.
	Idle time.Duration

	client *http.Client
	wake   chan struct{}
	once   sync.Once

	// following marks the endpoints whose cursor a goroutine of this
	// instance is moving.
	mu        sync.Mutex
	following map[int64]bool
}

// Defaults of a Dispatcher's settings.
const (
	DefaultTimeout = 10 * time.Second
	defaultWorkers = 64
	defaultIdle    = 5 * time.Second
	maxErrorLen    = 500
)

func (d *Dispatcher) init() {
	d.once.Do(func() {
		if d.Timeout <= 0 {
			d.Timeout = DefaultTimeout
		}
		if d.Lease <= 0 {
			d.Lease = 3 * d.Timeout
		}
		if d.Workers <= 0 {
			d.Workers = defaultWorkers
		}
		if d.Idle <= 0 {
			d.Idle = defaultIdle
		}
		d.wake = make(chan struct{}, 1)
		d.following = map[int64]bool{}
		tr := &http.Transport{
			Proxy:                 nil, // never through a proxy from the environment
			DialContext:           d.Service.Guard.Dialer().DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   d.Timeout,
			ResponseHeaderTimeout: d.Timeout,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       time.Minute,
		}
		d.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, and not a 2xx
		}}
	})
}

// Wake makes the dispatcher look at the queue now.
func (d *Dispatcher) Wake() {
	if d == nil {
		return
	}
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Start runs the dispatcher until the returned stop is called. stop
// cancels the requests in flight (their deliveries are queued again, not
// counted as attempts) and waits for everything to end.
func (d *Dispatcher) Start() (stop func()) {
	d.init()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.watch(ctx) }()
	go func() { defer wg.Done(); d.run(ctx) }()
	var stopOnce sync.Once
	return func() {
		stopOnce.Do(func() {
			cancel()
			wg.Wait()
			d.client.CloseIdleConnections()
		})
	}
}

// watch wakes the dispatcher on every committed change the bus reports.
func (d *Dispatcher) watch(ctx context.Context) {
	for ctx.Err() == nil {
		for range d.Bus.Subscribe(ctx, nil) {
			d.Wake()
		}
		// Cut off (it fell behind) or the bus closed: look anyway, then
		// listen again.
		d.Wake()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// claimed is a delivery this instance holds.
type claimed struct {
	*ent.WebhookDelivery
	lease int64
}

func (d *Dispatcher) run(ctx context.Context) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	busy := make(chan struct{}, d.Workers)
	if !d.Postgres {
		// One instance owns a SQLite queue: whatever is marked as being
		// sent was being sent by this process before it stopped.
		if err := d.releaseAll(ctx); err != nil && ctx.Err() == nil {
			d.Log.Warn("webhooks: releasing claims at start", "err", err)
		}
	}
	spawn := func(f func()) {
		busy <- struct{}{}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			f()
			<-busy
			d.Wake()
		}()
	}
	for ctx.Err() == nil {
		// Each step first looks with a read (beside the writer, with
		// SQLite) and writes only when there is work: an idle queue costs
		// the database no transaction.
		wait := d.Idle
		if err := d.number(ctx); err != nil && ctx.Err() == nil {
			d.Log.Warn("webhooks: numbering events", "err", err)
			wait = time.Second
		}
		// Attempts asked for by hand (and rows queued before cursors).
		if free := d.Workers - len(busy); free > 0 {
			due, ok := d.nextDue(ctx)
			if ok && due <= 0 {
				rows, err := d.claim(ctx, free)
				if err != nil && ctx.Err() == nil {
					d.Log.Warn("webhooks: claiming deliveries", "err", err)
					wait = time.Second
				}
				for _, c := range rows {
					spawn(func() { d.deliver(ctx, c) })
				}
				due, ok = d.nextDue(ctx)
			}
			if ok && due < wait {
				wait = max(due, 0) // sleep until the next delivery is due
			}
		}
		// The endpoints' cursors.
		if free := d.Workers - len(busy); free > 0 {
			eps, next, err := d.dueEndpoints(ctx, free)
			if err != nil && ctx.Err() == nil {
				d.Log.Warn("webhooks: finding endpoints with events", "err", err)
				wait = time.Second
			}
			for _, c := range eps {
				spawn(func() { d.follow(ctx, c) })
			}
			if next > 0 && next < wait {
				wait = next
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-d.wake:
			// Commits come in bursts: gather them into one round, so that a
			// busy server spends a few reads a second here, not one per
			// payment.
			select {
			case <-ctx.Done():
			case <-time.After(gather):
			}
		case <-t.C:
		}
		t.Stop()
	}
}

// gather is how long a woken dispatcher waits for more news.
const gather = 20 * time.Millisecond

func newLease() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])>>1) | 1
}

// claim takes up to n due deliveries: PENDING ones whose time has come,
// and SENDING ones whose claim ran out (their holder died). A claim is
// the row moved to SENDING with a lease and due_at = the end of the claim.
func (d *Dispatcher) claim(ctx context.Context, n int) ([]claimed, error) {
	lease := newLease()
	var out []claimed
	err := d.Service.Tx.Run(ctx, func(tx *txn.Tx) error {
		out = out[:0]
		now := time.Now()
		q := tx.WebhookDelivery.Query().
			Where(webhookdelivery.StatusIn(webhookdelivery.StatusPENDING, webhookdelivery.StatusSENDING),
				webhookdelivery.DueAtLTE(now)).
			Order(webhookdelivery.ByDueAt(), webhookdelivery.ByID()).Limit(n)
		if d.Postgres {
			q.ForUpdate(sql.WithLockAction(sql.SkipLocked))
		}
		rows, err := q.All(ctx)
		if err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		if err := tx.WebhookDelivery.Update().Where(webhookdelivery.IDIn(ids...)).
			SetStatus(webhookdelivery.StatusSENDING).SetLease(lease).SetDueAt(now.Add(d.Lease)).Exec(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			out = append(out, claimed{WebhookDelivery: r, lease: lease})
		}
		return nil
	})
	return out, err
}

// nextDue is how long until the earliest queued delivery is due.
func (d *Dispatcher) nextDue(ctx context.Context) (time.Duration, bool) {
	r, err := d.Service.Client.WebhookDelivery.Query().
		Where(webhookdelivery.StatusIn(webhookdelivery.StatusPENDING, webhookdelivery.StatusSENDING)).
		Order(webhookdelivery.ByDueAt()).Select(webhookdelivery.FieldDueAt).First(ctx)
	if err != nil {
		return 0, false
	}
	return time.Until(r.DueAt), true
}

// releaseAll queues again every delivery marked as being sent.
func (d *Dispatcher) releaseAll(ctx context.Context) error {
	return d.Service.Tx.Run(ctx, func(tx *txn.Tx) error {
		return tx.WebhookDelivery.Update().Where(webhookdelivery.StatusEQ(webhookdelivery.StatusSENDING)).
			SetStatus(webhookdelivery.StatusPENDING).ClearLease().SetDueAt(time.Now()).Exec(ctx)
	})
}

// payload is the body of a delivery.
type payload struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

// outcome is what one attempt came to.
type outcome struct {
	status    webhookdelivery.Status
	at        time.Time
	duration  time.Duration
	httpCode  int
	err       string
	cancelled bool // the dispatcher stopped: queue it again, uncounted
}

// deliver makes one attempt of c and records it.
func (d *Dispatcher) deliver(ctx context.Context, c claimed) {
	out := d.attempt(ctx, c)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.record(rctx, c, out); err != nil {
		d.Log.Warn("webhooks: recording a delivery", "delivery_id", c.ID, "err", err)
	}
}

func (d *Dispatcher) attempt(ctx context.Context, c claimed) outcome {
	now := time.Now()
	ev, err := d.Service.Client.Event.Get(ctx, c.EventID)
	if err != nil {
		return d.failed(ctx, now, 0, 0, "loading the event: "+err.Error())
	}
	ep, err := d.Service.Client.WebhookEndpoint.Get(ctx, c.EndpointID)
	if err != nil {
		return d.failed(ctx, now, 0, 0, "loading the endpoint: "+err.Error())
	}
	if !ep.Enabled {
		return outcome{status: webhookdelivery.StatusCANCELLED, at: now, err: "the endpoint is disabled"}
	}
	secrets, err := d.secrets(ep, now)
	if err != nil {
		return d.failed(ctx, now, 0, 0, err.Error())
	}
	return d.send(ctx, ep, secrets, ev, c.ID)
}

// secrets are the secrets that sign for ep now: its own, and the previous
// one during a rotation's overlap.
func (d *Dispatcher) secrets(ep *ent.WebhookEndpoint, now time.Time) ([]string, error) {
	secrets := make([]string, 0, 2)
	s, err := d.Service.sealer.open(ep.Secret, ep.ID)
	if err != nil {
		return nil, err
	}
	secrets = append(secrets, s)
	if ep.PreviousSecret != "" && ep.PreviousSecretExpiresAt != nil && now.Before(*ep.PreviousSecretExpiresAt) {
		if s, err := d.Service.sealer.open(ep.PreviousSecret, ep.ID); err == nil {
			secrets = append(secrets, s)
		}
	}
	return secrets, nil
}

// send makes one request: ev to ep, signed with secrets, as the delivery
// deliveryID.
func (d *Dispatcher) send(ctx context.Context, ep *ent.WebhookEndpoint, secrets []string, ev *ent.Event, deliveryID int64) outcome {
	now := time.Now()
	body, err := json.Marshal(payload{ID: id(ev.ID), Type: ev.Type, CreatedAt: ev.CreatedAt.UTC(), Data: json.RawMessage(ev.Data)})
	if err != nil {
		return d.failed(ctx, now, 0, 0, "encoding the event: "+err.Error())
	}
	rctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return d.failed(ctx, now, 0, 0, "the URL cannot be requested: "+err.Error())
	}
	start := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paygraph-webhooks/1")
	req.Header.Set("Paygraph-Event-Id", id(ev.ID))
	req.Header.Set("Paygraph-Event-Type", ev.Type)
	req.Header.Set("Paygraph-Delivery-Id", id(deliveryID))
	req.Header.Set("Paygraph-Signature", Sign(start.Unix(), body, secrets...))
	resp, err := d.client.Do(req)
	if err != nil {
		took := time.Since(start)
		switch {
		case errors.Is(err, errRefusedAddress):
			var msg string
			if i := strings.Index(err.Error(), errRefusedAddress.Error()+": "); i >= 0 {
				msg = err.Error()[i+len(errRefusedAddress.Error())+2:]
			}
			return d.failed(ctx, start, took, 0, "refused: "+msg)
		case rctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
			return d.failed(ctx, start, took, 0, fmt.Sprintf("no answer within %s", d.Timeout))
		}
		return d.failed(ctx, start, took, 0, err.Error())
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return outcome{status: webhookdelivery.StatusDELIVERED, at: start, duration: took, httpCode: resp.StatusCode}
	}
	msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if t := printable(snippet); t != "" {
		msg += ": " + t
	}
	return d.failed(ctx, start, took, resp.StatusCode, msg)
}

// failed is a failed attempt, or, when the dispatcher is stopping, one to
// queue again without counting it.
func (d *Dispatcher) failed(ctx context.Context, at time.Time, took time.Duration, code int, msg string) outcome {
	if ctx.Err() != nil {
		return outcome{cancelled: true}
	}
	return outcome{status: webhookdelivery.StatusFAILED, at: at, duration: took, httpCode: code, err: msg}
}

// printable is the start of an answer's body fit to show in a listing.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// record writes the outcome of c, if this instance still holds it. A
// row of kind EVENT is one queued before cursors (one per event and
// endpoint): failed with tries left, it becomes RETRYING with its
// successor queued after the schedule's next delay, as then.
func (d *Dispatcher) record(ctx context.Context, c claimed, out outcome) error {
	return d.Service.Tx.Run(ctx, func(tx *txn.Tx) error {
		u := tx.WebhookDelivery.Update().Where(webhookdelivery.ID(c.ID), webhookdelivery.Lease(c.lease),
			webhookdelivery.StatusEQ(webhookdelivery.StatusSENDING)).ClearLease()
		if out.cancelled {
			return u.SetStatus(webhookdelivery.StatusPENDING).SetDueAt(time.Now()).Exec(ctx)
		}
		status, retryAt := out.status, time.Time{}
		if status == webhookdelivery.StatusFAILED && c.Kind == webhookdelivery.KindEVENT && c.Attempt <= len(d.Retries) {
			status, retryAt = webhookdelivery.StatusRETRYING, out.at.Add(d.Retries[c.Attempt-1])
		}
		u.SetStatus(status).SetAttemptedAt(out.at).SetDurationMs(int(out.duration.Milliseconds()))
		if out.httpCode != 0 {
			u.SetHTTPStatus(out.httpCode)
		}
		if out.err != "" {
			if len(out.err) > maxErrorLen {
				out.err = strings.ToValidUTF8(out.err[:maxErrorLen], "")
			}
			u.SetError(out.err)
		}
		if !retryAt.IsZero() {
			u.SetNextAttemptAt(retryAt)
		}
		n, err := u.Save(ctx)
		if err != nil || n == 0 {
			return err // n == 0: the claim ran out and another instance took it over
		}
		d.logOutcome(c, status, out, retryAt)
		if retryAt.IsZero() {
			return nil
		}
		return tx.WebhookDelivery.Create().SetEventID(c.EventID).SetEndpointID(c.EndpointID).SetAppID(c.AppID).
			SetAttempt(c.Attempt + 1).SetDueAt(retryAt).SetCreatedAt(time.Now()).Exec(ctx)
	})
}

func (d *Dispatcher) logOutcome(c claimed, status webhookdelivery.Status, out outcome, retryAt time.Time) {
	attrs := []any{"delivery_id", c.ID, "event_id", c.EventID, "endpoint_id", c.EndpointID, "attempt", c.Attempt,
		"http_status", out.httpCode, "duration_ms", out.duration.Milliseconds()}
	switch status {
	case webhookdelivery.StatusDELIVERED:
		d.Log.Debug("webhook.delivered", attrs...)
	case webhookdelivery.StatusRETRYING:
		d.Log.Info("webhook.retrying", append(attrs, "error", out.err, "next_attempt_at", retryAt)...)
	default:
		d.Log.Warn("webhook."+strings.ToLower(string(status)), append(attrs, "error", out.err)...)
	}
}
