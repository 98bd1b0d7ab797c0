package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// DealRefund is the decision on an escrow marketplace deal's refund request. Its
// order_id is unique, so approving and rejecting one request exclude each
// other even while a refund through the provider is still under way.
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
		field.Enum("source").Values("ESCROW", "SELLER").Immutable(),
		field.Int64("amount").Immutable(),
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
