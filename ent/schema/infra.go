package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// IdempotencyKey remembers a mutation done under a client's key, so a
// retry replays the first result instead of doing the work again.
type IdempotencyKey struct{ ent.Schema }

// Mixin of IdempotencyKey.
func (IdempotencyKey) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of IdempotencyKey.
func (IdempotencyKey) Fields() []ent.Field {
	return []ent.Field{
		// scope is the caller ("USER:42", "SERVICE:7"): keys of different callers never meet.
		field.String("scope").Immutable(),
		field.String("key").MaxLen(255).Immutable(),
		// operation and request_hash identify the input the key was first used with.
		field.String("operation").Immutable(),
		field.String("request_hash").Immutable(),
		field.Enum("state").Values("IN_PROGRESS", "DONE"),
		// result_id is the entity the first call returned.
		field.Int64("result_id").Optional(),
		// locked_until lets another call take over a claim whose holder died.
		field.Time("locked_until"),
		field.Time("created_at").Immutable(),
	}
}

// Indexes of IdempotencyKey.
func (IdempotencyKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("scope", "key").Unique(),
		index.Fields("created_at"),
	}
}

// Annotations of IdempotencyKey.
func (IdempotencyKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// CallbackEvent is a provider callback as it arrived, kept before anything
// is done with it, with the verdict reached.
type CallbackEvent struct{ ent.Schema }

// Mixin of CallbackEvent.
func (CallbackEvent) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of CallbackEvent.
func (CallbackEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("provider").Immutable(),
		// provider_event_id is the provider's id for what happened (trade
		// number, event id), as the callback claims it.
		field.String("provider_event_id").Optional(),
		// dedupe_key is set, unique, only on the one callback that was
		// applied; replays find it taken.
		field.String("dedupe_key").Optional().Nillable().Unique().Annotations(hidden()),
		field.String("method").Immutable(),
		field.Text("headers").Immutable(),
		field.Text("body").Immutable(),
		field.String("remote_addr").Immutable(),
		field.Time("received_at").Immutable().Annotations(entgql.OrderField("RECEIVED_AT")),
		// verdict: APPLIED moved the order; DUPLICATE was a replay (answered
		// as success); REJECTED failed verification or checks; FAILED hit an
		// internal error (the provider will retry); NEEDS_REFUND is money that
		// arrived for an order that can no longer be paid.
		field.Enum("verdict").Values("RECEIVED", "APPLIED", "DUPLICATE", "REJECTED", "FAILED", "NEEDS_REFUND").Default("RECEIVED").
			Annotations(entgql.Type("CallbackVerdict")),
		field.String("error").Optional(),
		field.Int64("order_id").Optional(),
	}
}

// Edges of CallbackEvent.
func (CallbackEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("order", Order.Type).Field("order_id").Unique(),
	}
}

// Indexes of CallbackEvent.
func (CallbackEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("provider", "provider_event_id"),
		index.Fields("received_at"),
	}
}

// Annotations of CallbackEvent.
func (CallbackEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField("callbackEvents").Directives(adminDirective()),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
