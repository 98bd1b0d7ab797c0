package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/app"
	"github.com/paygraph/paygraph/ent/event"
	"github.com/paygraph/paygraph/ent/predicate"
	"github.com/paygraph/paygraph/ent/webhookdelivery"
	"github.com/paygraph/paygraph/ent/webhookendpoint"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/idgen"
	"github.com/paygraph/paygraph/internal/role"
	"github.com/paygraph/paygraph/internal/txn"
)

// Retention is how long events (and their deliveries) are kept at least.
const Retention = 30 * 24 * time.Hour

// RotationOverlap is how long a rotated secret keeps signing beside the
// new one, so receivers can switch without missing an event.
const RotationOverlap = 24 * time.Hour

// Service manages webhook endpoints and reads events and deliveries. Who
// may do what is decided here, once: an ADMIN for any app, an app's
// SERVICE for its own app; a USER never (it sees its orders' events
// through subscriptions).
type Service struct {
	Client *ent.Client
	Tx     *txn.Runner
	Guard  *Guard
	// Dispatcher is woken when a delivery is queued by hand (nil: it
	// finds it on its next round).
	Dispatcher *Dispatcher

	// Ordered: ids are handed out in commit order (SQLite), so an event's
	// position is its id (see Recorder.Ordered).
	Ordered bool

	sealer *sealer
}

// NewService returns the service; key seals endpoint secrets in the
// database (at least 32 bytes).
func NewService(client *ent.Client, tx *txn.Runner, guard *Guard, key []byte) (*Service, error) {
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	return &Service{Client: client, Tx: tx, Guard: guard, sealer: s}, nil
}

// Errors of the service.
var (
	ErrEndpointNotFound = apperr.New(apperr.NotFound, "no webhook endpoint with this id")
	ErrEventNotFound    = apperr.New(apperr.NotFound, "no event with this id in the endpoint's app")
	errAppNotFound      = apperr.New(apperr.NotFound, "no app with this id")
	errNeedApp          = apperr.Input("appId", "an ADMIN names the app (appId)")
)

// caller returns the ADMIN or SERVICE calling.
func caller(ctx context.Context) (auth.Principal, error) {
	return auth.Require(ctx, role.Admin, role.Service)
}

// appFor is the app a call acts for: a SERVICE's own (naming another is
// FORBIDDEN), the one an ADMIN names.
func appFor(ctx context.Context, appID *int64) (int64, error) {
	p, err := caller(ctx)
	if err != nil {
		return 0, err
	}
	if p.Role == role.Service {
		if appID != nil && *appID != p.AppID {
			return 0, auth.ErrOtherApp
		}
		return p.AppID, nil
	}
	if appID == nil {
		return 0, errNeedApp
	}
	return *appID, nil
}

// endpoint loads an endpoint the caller manages; another app's is
// answered as one that does not exist.
func (s *Service) endpoint(ctx context.Context, c *ent.Client, id int64) (*ent.WebhookEndpoint, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	e, err := c.WebhookEndpoint.Get(ctx, id)
	if ent.IsNotFound(err) || (err == nil && p.Role == role.Service && e.AppID != p.AppID) {
		return nil, ErrEndpointNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading webhook endpoint %d: %w", id, err)
	}
	return e, nil
}

// CreateEndpointInput is createWebhookEndpoint's input.
type CreateEndpointInput struct {
	// AppID is the app whose events the endpoint receives: a SERVICE's own
	// by default; an ADMIN must name one.
	AppID  *int64   `json:"appId"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// EndpointWithSecret is a new endpoint and its secret, shown this once.
type EndpointWithSecret struct {
	Endpoint *ent.WebhookEndpoint
	Secret   string
}

// CreateEndpoint adds an endpoint to an app and returns it with its
// secret. The URL must pass the Guard; events are types or patterns (none:
// all).
//
// Errors: FORBIDDEN (another app), BAD_USER_INPUT (url, events, too many
// endpoints), NOT_FOUND (no such app).
func (s *Service) CreateEndpoint(ctx context.Context, in CreateEndpointInput) (*EndpointWithSecret, error) {
	appID, err := appFor(ctx, in.AppID)
	if err != nil {
		return nil, err
	}
	u, err := s.Guard.CheckURL(ctx, in.URL)
	if err != nil {
		return nil, err
	}
	pats, err := checkPatterns(in.Events)
	if err != nil {
		return nil, err
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	var out *ent.WebhookEndpoint
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		ok, err := tx.App.Query().Where(app.ID(appID)).Exist(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return errAppNotFound
		}
		n, err := tx.WebhookEndpoint.Query().Where(webhookendpoint.AppID(appID)).Count(ctx)
		if err != nil {
			return err
		}
		if n >= MaxEndpointsPerApp {
			return apperr.New(apperr.BadUserInput, "an app has at most %d webhook endpoints; delete one first", MaxEndpointsPerApp)
		}
		// The id is made here, in the unit: the endpoint gets the events
		// with greater ids, the ones made after it (with SQLite, exactly
		// those of the units that follow this one).
		id := idgen.Next()
		sealed, err := s.sealer.seal(secret, id)
		if err != nil {
			return err
		}
		cursor, err := s.head(ctx, tx, id)
		if err != nil {
			return err
		}
		out, err = tx.WebhookEndpoint.Create().SetID(id).SetAppID(appID).SetURL(u).SetEvents(pats).
			SetSecret(sealed).SetCursor(cursor).Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &EndpointWithSecret{Endpoint: out, Secret: secret}, nil
}

// Endpoints lists an app's endpoints: a SERVICE's own (another app is
// FORBIDDEN); an ADMIN the named app's, or every app's.
//
// Errors: FORBIDDEN.
func (s *Service) Endpoints(ctx context.Context, appID *int64) ([]*ent.WebhookEndpoint, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	q := s.Client.WebhookEndpoint.Query().Order(webhookendpoint.ByID())
	if p.Role == role.Service || appID != nil {
		id, err := appFor(ctx, appID)
		if err != nil {
			return nil, err
		}
		q = q.Where(webhookendpoint.AppID(id))
	}
	return q.All(ctx)
}

// UpdateEndpointInput is updateWebhookEndpoint's input; what is left out
// stays as it is (events: [] means all).
type UpdateEndpointInput struct {
	URL     *string  `json:"url"`
	Events  []string `json:"events"`
	Enabled *bool    `json:"enabled"`
}

// UpdateEndpoint changes an endpoint's URL, event types or whether it is
// enabled. A disabled endpoint is sent nothing; what was queued for it is
// cancelled when its turn comes.
//
// Errors: NOT_FOUND, BAD_USER_INPUT (url, events).
func (s *Service) UpdateEndpoint(ctx context.Context, id int64, in UpdateEndpointInput) (*ent.WebhookEndpoint, error) {
	_, err := s.endpoint(ctx, s.Client, id)
	if err != nil {
		return nil, err
	}
	var u string
	if in.URL != nil {
		var err error
		if u, err = s.Guard.CheckURL(ctx, *in.URL); err != nil {
			return nil, err
		}
	}
	var pats []string
	if in.Events != nil {
		var err error
		if pats, err = checkPatterns(in.Events); err != nil {
			return nil, err
		}
	}
	var out *ent.WebhookEndpoint
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		cur, err := tx.WebhookEndpoint.Get(ctx, id)
		if ent.IsNotFound(err) {
			return ErrEndpointNotFound
		}
		if err != nil {
			return err
		}
		b := tx.WebhookEndpoint.UpdateOneID(id)
		if in.URL != nil {
			b.SetURL(u)
			if u != cur.URL {
				// A new address is tried at once, not after the old one's backoff.
				b.SetFailures(0).ClearNextAttemptAt()
			}
		}
		if in.Events != nil {
			b.SetEvents(pats)
		}
		if in.Enabled != nil {
			b.SetEnabled(*in.Enabled)
			if *in.Enabled && !cur.Enabled {
				// A disabled endpoint is sent nothing: enabled again, it
				// starts with the events made from now on.
				head, err := s.head(ctx, tx, idgen.Next())
				if err != nil {
					return err
				}
				b.SetCursor(max(head, cur.Cursor)).SetFailures(0).SetHeadAttempts(0).ClearNextAttemptAt()
			}
		}
		out, err = b.Save(ctx)
		if ent.IsNotFound(err) {
			return ErrEndpointNotFound
		}
		return err
	})
	return out, err
}

// head is where a cursor starts that is to get the events made after id
// (an id made now): with ids in commit order, id itself; otherwise the
// highest position given so far (events committed but not yet numbered
// get greater ones, and the dispatcher skips those with smaller ids than
// the endpoint's).
func (s *Service) head(ctx context.Context, tx *txn.Tx, id int64) (int64, error) {
	if s.Ordered {
		return id, nil
	}
	last, err := tx.Event.Query().Where(event.PositionNotNil()).Order(ent.Desc(event.FieldPosition)).
		Select(event.FieldPosition).First(ctx)
	if ent.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the last event's position: %w", err)
	}
	return *last.Position, nil
}

// DeleteEndpoint removes an endpoint and its deliveries (queued ones
// included) and returns its id.
//
// Errors: NOT_FOUND.
func (s *Service) DeleteEndpoint(ctx context.Context, id int64) (int64, error) {
	_, err := s.endpoint(ctx, s.Client, id)
	if err != nil {
		return 0, err
	}
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		if _, err := tx.WebhookDelivery.Delete().Where(webhookdelivery.EndpointID(id)).Exec(ctx); err != nil {
			return fmt.Errorf("deleting deliveries of endpoint %d: %w", id, err)
		}
		err := tx.WebhookEndpoint.DeleteOneID(id).Exec(ctx)
		if ent.IsNotFound(err) {
			return ErrEndpointNotFound
		}
		return err
	})
	return id, err
}

// RotatedSecret is rotateWebhookSecret's answer.
type RotatedSecret struct {
	Endpoint *ent.WebhookEndpoint
	Secret   string
	// PreviousSecretExpiresAt is when the old secret stops signing.
	PreviousSecretExpiresAt *time.Time
}

// RotateSecret gives an endpoint a new secret, shown this once. The old
// one keeps signing beside it (a second v1= in Paygraph-Signature) for
// RotationOverlap; a secret older than that is dropped at the rotation.
//
// Errors: NOT_FOUND.
func (s *Service) RotateSecret(ctx context.Context, id int64) (*RotatedSecret, error) {
	if _, err := s.endpoint(ctx, s.Client, id); err != nil {
		return nil, err
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealer.seal(secret, id)
	if err != nil {
		return nil, err
	}
	until := time.Now().Add(RotationOverlap)
	var out *ent.WebhookEndpoint
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		cur, err := tx.WebhookEndpoint.Get(ctx, id)
		if ent.IsNotFound(err) {
			return ErrEndpointNotFound
		}
		if err != nil {
			return err
		}
		out, err = tx.WebhookEndpoint.UpdateOneID(id).Where(webhookendpoint.Secret(cur.Secret)).SetSecret(sealed).
			SetPreviousSecret(cur.Secret).SetPreviousSecretExpiresAt(until).Save(ctx)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.InvalidTransition, "the secret was rotated meanwhile; rotate again")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &RotatedSecret{Endpoint: out, Secret: secret, PreviousSecretExpiresAt: &until}, nil
}

// EventFilter is the events query's where.
type EventFilter struct {
	Type         *string    `json:"type"`
	AppID        *int64     `json:"appId"`
	OrderID      *int64     `json:"orderId"`
	CreatedAtGTE *time.Time `json:"createdAtGTE"`
}

// Page sizes of the connections (contract §2).
const (
	defaultPage = 20
	maxPage     = 100
)

func pageSize(first *int) (int, error) {
	if first == nil {
		return defaultPage, nil
	}
	if *first < 0 || *first > maxPage {
		return 0, apperr.Input("first", "first must be between 0 and %d", maxPage)
	}
	return *first, nil
}

// Events lists events, oldest first: an ADMIN's of every app (and those of
// no app), a SERVICE's of its own app only (naming another is FORBIDDEN).
//
// Errors: FORBIDDEN, BAD_USER_INPUT (first).
func (s *Service) Events(ctx context.Context, after *entgql.Cursor[int64], first *int, where *EventFilter) (*ent.EventConnection, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	n, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	q := s.Client.Event.Query()
	if p.Role == role.Service {
		q = q.Where(event.AppID(p.AppID))
	}
	if where != nil {
		if where.AppID != nil {
			if p.Role == role.Service && *where.AppID != p.AppID {
				return nil, auth.ErrOtherApp
			}
			q = q.Where(event.AppID(*where.AppID))
		}
		if where.Type != nil {
			q = q.Where(event.Type(*where.Type))
		}
		if where.OrderID != nil {
			q = q.Where(event.OrderID(*where.OrderID))
		}
		if where.CreatedAtGTE != nil {
			q = q.Where(event.CreatedAtGTE(*where.CreatedAtGTE))
		}
	}
	return q.Paginate(ctx, after, &n, nil, nil)
}

// Deliveries lists the attempts at one endpoint, newest first.
//
// Errors: NOT_FOUND, BAD_USER_INPUT (first).
func (s *Service) Deliveries(ctx context.Context, endpointID int64, after *entgql.Cursor[int64], first *int) (*ent.WebhookDeliveryConnection, error) {
	if _, err := s.endpoint(ctx, s.Client, endpointID); err != nil {
		return nil, err
	}
	n, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	return s.Client.WebhookDelivery.Query().Where(webhookdelivery.EndpointID(endpointID)).
		Paginate(ctx, after, &n, nil, nil, ent.WithWebhookDeliveryOrder(&ent.WebhookDeliveryOrder{
			Direction: entgql.OrderDirectionDesc, Field: ent.WebhookDeliveryOrderFieldCreatedAt,
		}))
}

// Redeliver queues one more attempt of an event at an endpoint of its
// app, due now. It is a single attempt: no retries follow if it fails.
//
// Errors: NOT_FOUND (endpoint, or an event not of the endpoint's app).
func (s *Service) Redeliver(ctx context.Context, eventID, endpointID int64) (*ent.WebhookDelivery, error) {
	e, err := s.endpoint(ctx, s.Client, endpointID)
	if err != nil {
		return nil, err
	}
	var out *ent.WebhookDelivery
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		ok, err := tx.Event.Query().Where(event.ID(eventID), event.AppID(e.AppID)).Exist(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return ErrEventNotFound
		}
		last, err := tx.WebhookDelivery.Query().Where(webhookdelivery.EventID(eventID), webhookdelivery.EndpointID(endpointID)).
			Order(ent.Desc(webhookdelivery.FieldAttempt)).First(ctx)
		attempt := 1
		if err == nil {
			attempt = last.Attempt + 1
		} else if !ent.IsNotFound(err) {
			return err
		}
		now := time.Now()
		out, err = tx.WebhookDelivery.Create().SetEventID(eventID).SetEndpointID(endpointID).SetAppID(e.AppID).
			SetAttempt(attempt).SetKind(webhookdelivery.KindREDELIVERY).SetDueAt(now).SetCreatedAt(now).Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.Dispatcher.Wake()
	return out, nil
}

// SendTest queues a webhook.test event to one endpoint, due now (sent even
// if the endpoint's event types leave it out; a single attempt).
//
// Errors: NOT_FOUND.
func (s *Service) SendTest(ctx context.Context, endpointID int64) (*ent.WebhookDelivery, error) {
	e, err := s.endpoint(ctx, s.Client, endpointID)
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(map[string]string{
		"endpointId": id(e.ID), "message": "a test event from paygraph: your endpoint is reachable and verifies signatures",
	})
	var out *ent.WebhookDelivery
	err = s.Tx.Run(ctx, func(tx *txn.Tx) error {
		now := time.Now()
		// Numbered like any event (cursors pass over webhook.test); sent by
		// its TEST row.
		b := tx.Event.Create().SetType(TypeTest).SetCreatedAt(now).SetAppID(e.AppID).SetSeq(1).SetData(string(data))
		if s.Ordered {
			n := idgen.Next()
			b.SetID(n).SetPosition(n)
		}
		ev, err := b.Save(ctx)
		if err != nil {
			return err
		}
		out, err = tx.WebhookDelivery.Create().SetEventID(ev.ID).SetEndpointID(e.ID).SetAppID(e.AppID).
			SetAttempt(1).SetKind(webhookdelivery.KindTEST).SetDueAt(now).SetCreatedAt(now).Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.Dispatcher.Wake()
	return out, nil
}

// Purge deletes events older than Retention, with their deliveries, once
// nothing is queued for them, a batch at a time; it returns how many
// events it deleted. A cursor never waits that long behind an event: the
// retry schedule (at most 14 days) marks it failed first.
func (s *Service) Purge(ctx context.Context, now time.Time) (int, error) {
	const batch = 500
	total := 0
	old := []predicate.Event{event.CreatedAtLT(now.Add(-Retention)), event.PositionNotNil()}
	for {
		if ok, err := s.Client.Event.Query().Where(old...).Exist(ctx); err != nil || !ok {
			return total, err // nothing to delete: no write
		}
		n := 0
		err := s.Tx.Run(ctx, func(tx *txn.Tx) error {
			ids, err := tx.Event.Query().Where(old...).Order(event.ByID()).Limit(batch).IDs(ctx)
			if err != nil || len(ids) == 0 {
				return err
			}
			busy, err := tx.WebhookDelivery.Query().Where(webhookdelivery.EventIDIn(ids...),
				webhookdelivery.StatusIn(webhookdelivery.StatusPENDING, webhookdelivery.StatusSENDING)).
				Select(webhookdelivery.FieldEventID).Ints(ctx)
			if err != nil {
				return err
			}
			queued := map[int64]bool{}
			for _, id := range busy {
				queued[int64(id)] = true
			}
			var del []int64
			for _, id := range ids {
				if !queued[id] {
					del = append(del, id)
				}
			}
			if len(del) == 0 {
				return nil
			}
			if _, err := tx.WebhookDelivery.Delete().Where(webhookdelivery.EventIDIn(del...)).Exec(ctx); err != nil {
				return err
			}
			n, err = tx.Event.Delete().Where(event.IDIn(del...)).Exec(ctx)
			return err
		})
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}
