package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
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
		field.String("type").Immutable().MaxLen(64),
		field.Time("created_at").Immutable(),
		// app_id is the app whose order (or whose order's wallet) changed;
		// nil for a wallet change outside any order (an admin credit).
		field.Int64("app_id").Optional().Nillable().Immutable().Annotations(renamed()),
		field.Int64("order_id").Optional().Nillable().Immutable().Annotations(renamed()),
		field.Int64("wallet_id").Optional().Nillable().Immutable().Annotations(renamed()),
		// seq numbers an order's events 1, 2, 3, … (a wallet's, for
		// wallet.changed), so a consumer can put them in order.
		field.Int("seq").Immutable(),
		// data is JSON: the order as the API shows it, with its items (or
		// the wallet's balances).
		field.Text("data").Immutable(),
		// fanned_out_at is set once the dispatcher has queued the event's
		// deliveries.
		field.Time("fanned_out_at").Optional().Nillable().Annotations(hidden()),
	}
}

// Edges of Event.
func (Event) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("app", App.Type).Field("app_id").Unique().Immutable(),
		edge.To("order", Order.Type).Field("order_id").Unique().Immutable(),
		edge.To("wallet", Wallet.Type).Field("wallet_id").Unique().Immutable(),
	}
}

// Indexes of Event.
func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("app_id"),
		index.Fields("order_id", "seq"),
		index.Fields("created_at"),
		// The dispatcher's queue: only events not yet fanned out.
		index.Fields("fanned_out_at").Annotations(entsql.IndexWhere("fanned_out_at IS NULL")),
	}
}

// Annotations of Event.
func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
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
		field.String("url").NotEmpty().MaxLen(2048),
		// events are the event types the endpoint receives; `*` stands for
		// one part of a type (order.*), a lone `*` or none for all.
		field.Strings("events"),
		field.Bool("enabled").Default(true),
		// secret signs deliveries; stored sealed (AES-256-GCM under a key
		// derived from the token key), never shown after it is made.
		field.String("secret").Sensitive().Annotations(hidden()),
		// previous_secret signs beside the new one until
		// previous_secret_expires_at, after a rotation.
		field.String("previous_secret").Optional().Sensitive().Annotations(hidden()),
		field.Time("previous_secret_expires_at").Optional().Nillable(),
	}
}

// Edges of WebhookEndpoint.
func (WebhookEndpoint) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("app", App.Type).Field("app_id").Unique().Required().Immutable(),
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
	}
}

// WebhookDelivery is one attempt to deliver an event to an endpoint. A
// PENDING row is the dispatcher's queue; a failed attempt that will be
// tried again is RETRYING and has a PENDING successor.
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
		field.Int("attempt").Immutable(),
		// kind: EVENT (the automatic delivery and its retries),
		// REDELIVERY (redeliverEvent) or TEST (sendTestWebhook).
		field.Enum("kind").Values("EVENT", "REDELIVERY", "TEST").Default("EVENT").Immutable().
			Annotations(entgql.Type("WebhookDeliveryKind")),
		// status: PENDING (waiting for due_at), SENDING (claimed; due_at is
		// the end of the claim), DELIVERED (a 2xx answer), RETRYING
		// (failed; tried again at next_attempt_at), FAILED (failed, no
		// more tries), CANCELLED (the endpoint was disabled).
		field.Enum("status").Values("PENDING", "SENDING", "DELIVERED", "RETRYING", "FAILED", "CANCELLED").
			Default("PENDING").Annotations(entgql.Type("WebhookDeliveryStatus")),
		field.Time("due_at"),
		// lease identifies the claim of a SENDING row, so that only its
		// holder records the outcome.
		field.Int64("lease").Optional().Nillable().Annotations(hidden()),
		field.Time("attempted_at").Optional().Nillable(),
		field.Int("http_status").Optional().Nillable(),
		field.Int("duration_ms").Optional().Nillable(),
		field.String("error").Optional().Nillable(),
		field.Time("next_attempt_at").Optional().Nillable(),
		field.Time("created_at").Immutable().Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// Edges of WebhookDelivery.
func (WebhookDelivery) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("event", Event.Type).Field("event_id").Unique().Required().Immutable(),
		edge.To("endpoint", WebhookEndpoint.Type).Field("endpoint_id").Unique().Required().Immutable(),
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
	}
}
