package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Event is the outbox: every order status change and wallet change,
// written in the transaction of the change, for merchants to read
// (events) and to receive at their webhook endpoints.
type Event struct{ ent.Schema }

// Mixin of Event.
func (Event) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of Event.
func (Event) Fields() []ent.Field {
	return []ent.Field{
		// type is "order." + the order's new status in lower case, or
		// "wallet.changed" ("webhook.test" for sendTestWebhook).
		field.String("type").Immutable().MaxLen(64).
			Comment("What happened: order. and the order's new status in lower case (order.pending, order.paid, order.refunded, …), wallet.changed, or webhook.test."),
		field.Time("created_at").Immutable().Comment("When the change was made."),
		// app_id is the app whose order (or whose order's wallet) changed;
		// nil for a wallet change outside any order (an admin credit).
		field.Int64("app_id").Optional().Nillable().Immutable().Annotations(renamed()),
		field.Int64("order_id").Optional().Nillable().Immutable().Annotations(renamed()),
		field.Int64("wallet_id").Optional().Nillable().Immutable().Annotations(renamed()),
		// seq numbers an order's events 1, 2, 3, … (a wallet's, for
		// wallet.changed), so a consumer can put them in order.
		field.Int("seq").Immutable().
			Comment("The number of the change among its order's (1, 2, 3, …; the seq of the order's step), or among its wallet's for wallet.changed: order events by it."),
		// data is JSON: the order as the API shows it, with its items (or
		// the wallet's balances).
		field.Text("data").Immutable().
			Comment("JSON text: for an order event, the order as Order shows it after the change, with its payInfo and productInfo lines and (app store orders) its goods; for wallet.changed, {wallet: {id, userId, asset, available, escrow, withdrawable}, orderId, kind}."),
		// position orders events as they committed: each endpoint's cursor
		// runs over it. With SQLite (one writer, ids handed out in commit
		// order) it is the id, set in the insert; with PostgreSQL, where ids
		// of different instances need not be in commit order, the
		// dispatcher numbers committed events after the highest position
		// (serialised by an advisory lock), so an event that commits late
		// still comes after every position a cursor has passed. 0: an event
		// queued as delivery rows before cursors (fanned_out_at), never
		// reached by a cursor.
		field.Int64("position").Optional().Nillable().Annotations(hidden()),
		// fanned_out_at is from before cursors: the dispatcher had queued
		// one delivery row per endpoint for the event. No longer set.
		field.Time("fanned_out_at").Optional().Nillable().Annotations(hidden()),
	}
}

// Edges of Event.
func (Event) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("app", App.Type).Field("app_id").Unique().Immutable().Comment("The app the event belongs to; null for a wallet change outside any order."),
		edge.To("order", Order.Type).Field("order_id").Unique().Immutable().Comment("The order that changed (wallet.changed: whose money moved)."),
		edge.To("wallet", Wallet.Type).Field("wallet_id").Unique().Immutable().Comment("The wallet that changed (wallet.changed only)."),
	}
}

// Indexes of Event.
func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("app_id"),
		index.Fields("order_id", "seq"),
		index.Fields("created_at"),
		// The indexes over position depend on the database, so the
		// migration makes them (db.eventIndexes): with SQLite, where the
		// position is the id, the app_id index and the primary key already
		// give each endpoint's cursor its app's events in position order.
	}
}

// Annotations of Event.
func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
		schema.Comment("Something that happened to an app's order or wallet, written in the transaction of the change " +
			"and delivered to the app's webhook endpoints. Seen by ADMIN and the SERVICE of its app; kept 30 days."),
	}
}

// WebhookEndpoint is a merchant's URL that receives its app's events,
// signed with the endpoint's secret.
type WebhookEndpoint struct{ ent.Schema }

// Mixin of WebhookEndpoint.
func (WebhookEndpoint) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of WebhookEndpoint.
func (WebhookEndpoint) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("app_id").Immutable().Annotations(renamed()),
		field.String("url").NotEmpty().MaxLen(2048).Comment("Where events are POSTed."),
		// events are the event types the endpoint receives; `*` stands for
		// one part of a type (order.*), a lone `*` or none for all.
		field.Strings("events").
			Comment("The event types the endpoint receives (order.paid, order.*, wallet.changed, …); empty: all."),
		field.Bool("enabled").Default(true).Comment("false: the endpoint is sent nothing."),
		// secret signs deliveries; stored sealed (AES-256-GCM under a key
		// derived from the token key), never shown after it is made.
		field.String("secret").Sensitive().Annotations(hidden()),
		// previous_secret signs beside the new one until
		// previous_secret_expires_at, after a rotation.
		field.String("previous_secret").Optional().Sensitive().Annotations(hidden()),
		field.Time("previous_secret_expires_at").Optional().Nillable().
			Comment("After a rotation, until when the previous secret also signs; null when only one secret signs."),
		// cursor is the position (Event.position) of the last event the
		// endpoint is done with: delivered, not wanted, or failed for good.
		// The events after it wait, in order.
		field.Int64("cursor").Default(0).Annotations(hidden()),
		// failures counts the attempts that failed in a row; the backoff
		// before the next one is the retry schedule's step for it.
		field.Int("failures").Default(0).Annotations(hidden()),
		// head_attempts counts the failed attempts of the event just after
		// the cursor.
		field.Int("head_attempts").Default(0).Annotations(hidden()),
		// next_attempt_at: after a failure, the endpoint is paused until
		// then, and one probe (the next attempt of the event after the
		// cursor) is sent; null: not paused.
		field.Time("next_attempt_at").Optional().Nillable().Annotations(hidden()),
		// lease and lease_until claim the endpoint's cursor for one instance
		// (PostgreSQL), so each attempt is sent by one instance only; a
		// claim that ran out (its instance died) may be taken over.
		field.Int64("lease").Optional().Nillable().Annotations(hidden()),
		field.Time("lease_until").Optional().Nillable().Annotations(hidden()),
	}
}

// Edges of WebhookEndpoint.
func (WebhookEndpoint) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("app", App.Type).Field("app_id").Unique().Required().Immutable().Comment("The app whose events the endpoint receives."),
	}
}

// Indexes of WebhookEndpoint.
func (WebhookEndpoint) Indexes() []ent.Index {
	return []ent.Index{index.Fields("app_id")}
}

// Annotations of WebhookEndpoint.
func (WebhookEndpoint) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
		schema.Comment("A URL of an app's server that receives the app's events, signed with the endpoint's secret " +
			"(Paygraph-Signature). Seen by ADMIN and the SERVICE of its app."),
	}
}

// WebhookDelivery is one attempt to deliver an event to an endpoint. The
// automatic deliveries follow the endpoint's cursor and leave a row per
// attempt made (DELIVERED, RETRYING, FAILED), written after it; a PENDING
// row is an attempt asked for by hand (redeliverEvent, sendTestWebhook).
type WebhookDelivery struct{ ent.Schema }

// Mixin of WebhookDelivery.
func (WebhookDelivery) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of WebhookDelivery.
func (WebhookDelivery) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("event_id").Immutable().Annotations(hidden()),
		field.Int64("endpoint_id").Immutable().Annotations(hidden()),
		// app_id is the endpoint's app, for the visibility rule.
		field.Int64("app_id").Immutable().Annotations(hidden()),
		// attempt counts the tries of this event at this endpoint, from 1.
		field.Int("attempt").Immutable().Comment("Which try of this event at this endpoint, from 1; 0 for a FAILED row that writes off events never tried (the endpoint was down past their retry schedule)."),
		// kind: EVENT (the automatic delivery and its retries),
		// REDELIVERY (redeliverEvent) or TEST (sendTestWebhook).
		field.Enum("kind").Values("EVENT", "REDELIVERY", "TEST").Default("EVENT").Immutable().
			Comment("Why it was sent.").
			Annotations(entgql.Type("WebhookDeliveryKind"), EnumDoc{
				Type: "Why a delivery was sent.",
				Values: map[string]string{
					"EVENT":      "The event happened: its delivery, and the retries of it.",
					"REDELIVERY": "redeliverEvent asked for it (one attempt).",
					"TEST":       "sendTestWebhook asked for it (one attempt).",
				},
			}),
		// status: PENDING (waiting for due_at), SENDING (claimed; due_at is
		// the end of the claim), DELIVERED (a 2xx answer), RETRYING
		// (failed; tried again at next_attempt_at), FAILED (failed, no
		// more tries), CANCELLED (the endpoint was disabled).
		field.Enum("status").Values("PENDING", "SENDING", "DELIVERED", "RETRYING", "FAILED", "CANCELLED").
			Default("PENDING").Comment("Where the attempt stands.").
			Annotations(entgql.Type("WebhookDeliveryStatus"), EnumDoc{
				Type: "Where a delivery attempt stands.",
				Values: map[string]string{
					"PENDING":   "Waiting to be sent at dueAt.",
					"SENDING":   "Being sent now.",
					"DELIVERED": "The endpoint answered 2xx within 10 s.",
					"RETRYING":  "It failed; the event is tried again at nextAttemptAt, and the endpoint's later events wait behind it, in order.",
					"FAILED":    "It failed and no attempt follows (the retry schedule is over, or it was a single attempt).",
					"CANCELLED": "Not sent: the endpoint was disabled.",
				},
			}),
		field.Time("due_at").Comment("When the attempt is (or was) due; while SENDING, when the claim on it ends."),
		// lease identifies the claim of a SENDING row, so that only its
		// holder records the outcome.
		field.Int64("lease").Optional().Nillable().Annotations(hidden()),
		field.Time("attempted_at").Optional().Nillable().Comment("When the request was sent; null until then."),
		field.Int("http_status").Optional().Nillable().Comment("The HTTP status the endpoint answered; null if none came."),
		field.Int("duration_ms").Optional().Nillable().Comment("How long the request took, in milliseconds."),
		field.String("error").Optional().Nillable().
			Comment("Why the attempt failed: the status and the start of the answer, a timeout, a refused address, …"),
		field.Time("next_attempt_at").Optional().Nillable().Comment("RETRYING: when the next attempt is due."),
		field.Time("created_at").Immutable().Comment("When the attempt was queued.").Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// Edges of WebhookDelivery.
func (WebhookDelivery) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("event", Event.Type).Field("event_id").Unique().Required().Immutable().Comment("The event sent."),
		edge.To("endpoint", WebhookEndpoint.Type).Field("endpoint_id").Unique().Required().Immutable().Comment("The endpoint it was sent to."),
	}
}

// Indexes of WebhookDelivery.
func (WebhookDelivery) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status", "due_at"),
		index.Fields("endpoint_id", "created_at"),
		index.Fields("event_id"),
	}
}

// Annotations of WebhookDelivery.
func (WebhookDelivery) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
		schema.Comment("One attempt to deliver an event to a webhook endpoint, and its outcome. Seen by ADMIN and " +
			"the SERVICE of the endpoint's app."),
	}
}
