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
		field.String("provider").Immutable().Comment("Who called: epay, pingpp or game."),
		// provider_event_id is the provider's id for what happened (trade
		// number, event id), as the callback claims it.
		field.String("provider_event_id").Optional().
			Comment("The provider's id for what happened, as the callback claims it: epay's trade_no, the Ping++ event id (evt_…), the game provider's gyyx_order_no."),
		// dedupe_key is set, unique, only on the one callback that was
		// applied; replays find it taken.
		field.String("dedupe_key").Optional().Nillable().Unique().Annotations(hidden()),
		field.String("method").Immutable().Comment("The HTTP method: GET or POST."),
		field.Text("headers").Immutable().
			Comment("JSON object of the headers that identify and sign the callback (Content-Type, User-Agent, X-Forwarded-For, X-Real-Ip, X-Request-Id, X-Pingplusplus-Signature, …)."),
		field.Text("body").Immutable().
			Comment("The request as received: ?query on the first line when there was one, then the body. Cut short when it failed verification."),
		field.String("remote_addr").Immutable().Comment("The address the callback came from (host:port)."),
		field.Time("received_at").Immutable().Comment("When it arrived.").Annotations(entgql.OrderField("RECEIVED_AT")),
		// verdict: APPLIED moved the order; DUPLICATE was a replay (answered
		// as success); REJECTED failed verification or checks; FAILED hit an
		// internal error (the provider will retry); NEEDS_REFUND is money that
		// arrived for an order that can no longer be paid.
		field.Enum("verdict").Values("RECEIVED", "APPLIED", "DUPLICATE", "REJECTED", "FAILED", "NEEDS_REFUND").Default("RECEIVED").
			Comment("What was done with it.").
			Annotations(entgql.Type("CallbackVerdict"), EnumDoc{
				Type: "What was done with a provider callback.",
				Values: map[string]string{
					"RECEIVED":     "Stored; no verdict yet.",
					"APPLIED":      "Verified and applied: it moved its order.",
					"DUPLICATE":    "A replay of a callback already applied: answered as success, changed nothing.",
					"REJECTED":     "Failed verification or a check (signature, merchant, amount, order, trade): answered as a failure, changed nothing.",
					"FAILED":       "An internal error while applying it: nothing changed, and the provider will call again.",
					"NEEDS_REFUND": "Money that arrived for an order that can no longer be paid (cancelled, expired, failed): answered as success; refund it at the provider.",
				},
			}),
		field.String("error").Optional().Comment("Why it was rejected or failed, or what a NEEDS_REFUND was about."),
		field.Int64("order_id").Optional().Comment("The id of the order it was about, once that order was found."),
	}
}

// Edges of CallbackEvent.
func (CallbackEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("order", Order.Type).Field("order_id").Unique().Comment("The order it was about, once that order was found."),
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
		entgql.QueryField("callbackEvents").Directives(adminDirective()).
			Description("ADMIN: the provider callbacks as they arrived, with their verdicts " +
				"(where: {provider: \"game\", verdict: NEEDS_REFUND} lists payments to refund). first or last at most 100, default 20."),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		schema.Comment("A provider callback (epay's notify, a Ping++ webhook, the game goods callback) as it " +
			"arrived, stored before it was acted on, with the verdict reached. ADMIN only."),
	}
}
