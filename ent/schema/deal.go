package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// DealRefund is the decision on an escrow marketplace deal's refund
// request, and the deal's latest refund. Its order_id is unique, so
// approving and rejecting one request exclude each other even while a
// refund through the provider is still under way. A deal refunded in
// parts reuses the row: each new part takes over a SUCCEEDED row with the
// next number, so one refund at a time is under way per deal.
type DealRefund struct{ ent.Schema }

// Mixin of DealRefund.
func (DealRefund) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of DealRefund.
func (DealRefund) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("order_id").Immutable(),
		// state: PENDING while the provider refunds, SUCCEEDED, or REJECTED.
		field.Enum("state").Values("PENDING", "SUCCEEDED", "REJECTED"),
		// source says where the money was taken from: the seller's escrow
		// (before confirmation) or the seller's balance (after).
		field.Enum("source").Values("ESCROW", "SELLER"),
		// amount is what this refund gives back, in fen.
		field.Int64("amount"),
		// number counts the deal's refunds through the provider (1, 2, …):
		// the refund's description starts with RF<orderNo>-<number>, so a
		// retried refund is recognised at the provider and not made twice.
		field.Int("number").Default(0),
		// provider_refund_id is the provider's refund ("re_…"), once known.
		field.String("provider_refund_id").Optional(),
	}
}

// Edges of DealRefund.
func (DealRefund) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("order", Order.Type).Field("order_id").Unique().Required().Immutable(),
	}
}

// Indexes of DealRefund: one decision per order.
func (DealRefund) Indexes() []ent.Index {
	return []ent.Index{index.Fields("order_id").Unique()}
}

// Annotations of DealRefund.
func (DealRefund) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
