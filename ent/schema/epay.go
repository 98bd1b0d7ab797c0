package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// PayWay is a way an app's users may pay (the app store's payWays): "wallet"
// settles from the wallet, any other name is an epay payment type
// (alipay, wechat, qq, …). An app without rows offers the default list.
type PayWay struct{ ent.Schema }

// Mixin of PayWay.
func (PayWay) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of PayWay.
func (PayWay) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("app_id").Immutable(),
		field.String("name").NotEmpty().MaxLen(32).Immutable(),
		field.String("title").NotEmpty().MaxLen(64),
		field.Int("position").Default(0),
		field.Bool("enabled").Default(true),
	}
}

// Edges of PayWay.
func (PayWay) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("app", App.Type).Field("app_id").Unique().Required().Immutable(),
	}
}

// Indexes of PayWay.
func (PayWay) Indexes() []ent.Index {
	return []ent.Index{index.Fields("app_id", "name").Unique()}
}

// Annotations of PayWay: the GraphQL type is hand-written (schema/appstore.graphql).
func (PayWay) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// OrderLine is one goods line of an app store order, priced by the server
// from the catalogue when the order was made.
type OrderLine struct{ ent.Schema }

// Mixin of OrderLine.
func (OrderLine) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of OrderLine.
func (OrderLine) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("order_id").Immutable(),
		field.Int("position").Immutable(),
		// goods_id is the catalogue's (the caller's) id.
		field.String("goods_id").Immutable(),
		field.String("item").Immutable(),
		field.String("title").Optional().Immutable(),
		field.Int("num").Immutable(),
		// single_price and amount are in the asset's minor units.
		field.Int64("single_price").Immutable(),
		field.Int64("amount").Immutable(),
		field.String("asset").Immutable(),
	}
}

// Edges of OrderLine.
func (OrderLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("order", Order.Type).Field("order_id").Unique().Required().Immutable(),
	}
}

// Indexes of OrderLine.
func (OrderLine) Indexes() []ent.Index {
	return []ent.Index{index.Fields("order_id", "position").Unique()}
}

// Annotations of OrderLine: the GraphQL type is hand-written.
func (OrderLine) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// RefundAttempt is a refund through a payment gateway in progress or
// done: the latest of an order's refunds (a partial refund done, the next
// one takes the row over with the next number). Its unique order_id is
// the claim that makes one approver at a time call the gateway; while it
// runs, the money the refund takes back is held in the payer's escrow
// bucket.
type RefundAttempt struct{ ent.Schema }

// Mixin of RefundAttempt.
func (RefundAttempt) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of RefundAttempt.
func (RefundAttempt) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("order_id").Unique().Immutable(),
		field.String("provider").Immutable(),
		// number counts the order's refunds at the gateway (1, 2, … for
		// partial refunds); each has its own out_refund_no.
		field.Int("number").Default(1),
		// out_refund_no is our number for the refund at the gateway: a V2
		// gateway refunds one number once, so a retried call cannot refund
		// twice. RF + orderNo for the first, RF + orderNo + -N after.
		field.String("out_refund_no"),
		// amount is what the gateway gives back, in the order's asset.
		field.Int64("amount"),
		// hold_asset and hold are what is taken back from the payer's
		// wallet (the recharge, or the points bought).
		field.String("hold_asset").Immutable(),
		field.Int64("hold"),
		// state: PENDING while an approver calls the gateway; UNKNOWN when
		// the call's outcome could not be learned (the hold stays); DONE;
		// FAILED when the gateway refused (the hold was released).
		field.Enum("state").Values("PENDING", "UNKNOWN", "DONE", "FAILED"),
		field.Bool("held").Default(false),
		field.Time("started_at"),
		field.String("provider_refund_no").Optional(),
		field.String("error").Optional(),
	}
}

// Edges of RefundAttempt.
func (RefundAttempt) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("order", Order.Type).Field("order_id").Unique().Required().Immutable(),
	}
}

// Annotations of RefundAttempt.
func (RefundAttempt) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
