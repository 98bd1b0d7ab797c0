package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Order is one order of any of the five source documents (contract §3).
// Status changes only through internal/payment's transition table.
type Order struct{ ent.Schema }

// Mixin of Order.
func (Order) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of Order.
func (Order) Fields() []ent.Field {
	return []ent.Field{
		field.String("order_no").Unique().NotEmpty().Immutable(),
		field.String("client_order_id").Optional().Immutable().Annotations(renamed()),
		field.Enum("type").Values("PAYMENT", "RECHARGE", "CONSUME", "POINTS", "DEAL", "WITHDRAWAL", "GOODS").
			Immutable().Annotations(entgql.Type("OrderType")),
		field.Enum("status").Values("PENDING", "PROCESSING", "PAID", "COMPLETED", "FAILED", "EXPIRED", "CANCELLED",
			"DELIVERY_FAILED", "REFUND_REQUESTED", "REFUNDED", "REFUND_REJECTED", "FROZEN").
			Default("PENDING").Annotations(entgql.Type("OrderStatus"), entgql.OrderField("STATUS")),
		field.Int64("app_id").Immutable(),
		field.Int64("payer_id").Optional().Immutable(),
		field.Int64("payee_id").Optional().Immutable(),
		field.String("title").Optional().MaxLen(256),
		field.Text("desc").Optional(),
		field.Text("extend_info").Optional(),
		// amount is in the asset's minor units; GraphQL shows it as a Decimal.
		field.Int64("amount").Annotations(hidden()),
		field.String("asset"),
		field.String("pay_way").Optional(),
		field.String("channel").Optional(),
		field.String("provider_trade_no").Optional(),
		field.Int64("points").Optional().Nillable(),
		// item and item_id are what a GOODS order (the game goods flow) is for, as
		// ordered: the goods attribute (商品属性) and its catalogue id.
		field.String("item").Optional().MaxLen(128).Immutable(),
		field.String("item_id").Optional().MaxLen(64).Immutable().Annotations(renamed()),
		field.String("chat_id").Optional().Annotations(renamed()),
		field.String("skill_id").Optional().Annotations(renamed()),
		field.String("refund_reason").Optional(),
		field.String("comment").Optional(),
		field.Int("score").Optional().Nillable(),
		field.Time("expires_at").Optional().Nillable(),
		field.Time("paid_at").Optional().Nillable(),
		field.Time("completed_at").Optional().Nillable(),
		// auto_confirm_at is when an escrowed deal (the escrow marketplace) is released to
		// the seller if the buyer has not confirmed it by then.
		field.Time("auto_confirm_at").Optional().Nillable(),
		// return_url is where the browser goes after paying at a gateway.
		field.String("return_url").Optional().MaxLen(1024).Annotations(renamed()),
		// event_seq is the seq of the order's latest step (its creation is 1),
		// counted up by each status change.
		field.Int("event_seq").Default(1).Annotations(hidden()),
	}
}

// Edges of Order.
func (Order) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("app", App.Type).Field("app_id").Unique().Required().Immutable(),
		edge.To("payer", User.Type).Field("payer_id").Unique().Immutable(),
		edge.To("payee", User.Type).Field("payee_id").Unique().Immutable(),
		edge.From("items", OrderItem.Type).Ref("order").Annotations(hidden()),
		edge.From("events", OrderEvent.Type).Ref("order"),
	}
}

// Indexes of Order.
func (Order) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("app_id", "client_order_id").Unique(),
		index.Fields("payer_id"),
		index.Fields("payee_id"),
		index.Fields("status", "expires_at"),
		index.Fields("updated_at"),
		index.Fields("status", "auto_confirm_at"),
		index.Fields("chat_id"),
	}
}

// Annotations of Order.
func (Order) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField("orders").Directives(authDirective()),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// OrderItem is one payInfo or productInfo line of an order (the token checkout).
type OrderItem struct{ ent.Schema }

// Mixin of OrderItem.
func (OrderItem) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of OrderItem.
func (OrderItem) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("order_id").Immutable(),
		// kind says which list the line belongs to: PAY (payInfo) or PRODUCT (productInfo).
		field.Enum("kind").Values("PAY", "PRODUCT").Immutable().Annotations(hidden()),
		field.Int("position").Immutable().Annotations(hidden()),
		field.String("pay_type").Default("PAY"),
		// token_id is the asset; schema/tokencheckout.graphql shows it as tokenId.
		field.String("token_id").Annotations(renamed()),
		field.Int64("amount").Annotations(hidden()),
		field.Int64("paid_amount").Default(0).Annotations(hidden()),
		field.Int64("refunded_amount").Default(0).Annotations(hidden()),
		field.Int64("unlocked_amount").Default(0).Annotations(hidden()),
	}
}

// Edges of OrderItem.
func (OrderItem) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("order", Order.Type).Field("order_id").Unique().Required().Immutable().Annotations(hidden()),
	}
}

// Indexes of OrderItem.
func (OrderItem) Indexes() []ent.Index {
	return []ent.Index{index.Fields("order_id", "kind", "position").Unique()}
}

// Annotations of OrderItem.
func (OrderItem) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)}
}

// OrderEvent is one step of an order's status history.
type OrderEvent struct{ ent.Schema }

// Mixin of OrderEvent.
func (OrderEvent) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of OrderEvent.
func (OrderEvent) Fields() []ent.Field {
	statuses := []string{"PENDING", "PROCESSING", "PAID", "COMPLETED", "FAILED", "EXPIRED", "CANCELLED",
		"DELIVERY_FAILED", "REFUND_REQUESTED", "REFUNDED", "REFUND_REJECTED", "FROZEN"}
	return []ent.Field{
		field.Int64("order_id").Immutable(),
		field.Enum("from").Values(statuses...).Optional().Nillable().Immutable().
			Annotations(entgql.Type("OrderStatus")),
		field.Enum("to").Values(statuses...).Immutable().Annotations(entgql.Type("OrderStatus")),
		// actor says who made the change: "user:ID", "service:APP", "admin:ID", "system", "callback:PROVIDER".
		field.String("actor").Immutable(),
		field.String("reason").Optional().Immutable(),
		field.Time("at").Immutable(),
		// seq numbers the order's steps 1, 2, 3, … as its events do (0:
		// recorded before steps were numbered).
		field.Int("seq").Default(0).Immutable(),
	}
}

// Edges of OrderEvent.
func (OrderEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("order", Order.Type).Field("order_id").Unique().Required().Immutable(),
	}
}

// Indexes of OrderEvent.
func (OrderEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("order_id")}
}

// Annotations of OrderEvent.
func (OrderEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)}
}
