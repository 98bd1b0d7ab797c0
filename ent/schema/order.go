package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Order is one order of any of the five flows (contract §3).
// Status changes only through internal/payment's transition table.
type Order struct{ ent.Schema }

// Mixin of Order.
func (Order) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of Order.
func (Order) Fields() []ent.Field {
	return []ent.Field{
		field.String("order_no").Unique().NotEmpty().Immutable().
			Comment("The order number clients and providers quote, unique (the app store's order_sn, the points " +
				"API's order_no, the escrow marketplace's orderNo, the game goods' order). PAYMENT: the id; " +
				"RECHARGE: R + id (app store) or 16 hex digits (escrow marketplace); CONSUME: C + id; POINTS: " +
				"ORDER + 13-digit milliseconds + 4 digits; DEAL, WITHDRAWAL: 16 hex digits; GOODS: 811- + id."),
		field.String("client_order_id").Optional().Immutable().Annotations(renamed()),
		field.Enum("type").Values("PAYMENT", "RECHARGE", "CONSUME", "POINTS", "DEAL", "WITHDRAWAL", "GOODS").
			Immutable().Comment("Which flow the order belongs to.").
			Annotations(entgql.Type("OrderType"), EnumDoc{
				Type: "The flow an order belongs to; each replaces one documented REST API.",
				Values: map[string]string{
					"PAYMENT":    "Token checkout (/api/payment/…): an app's order for a payer to pay a payee in a token, with a second factor.",
					"RECHARGE":   "Money into the payer's wallet through a payment channel: the app store's recharge (epay) or the escrow marketplace's (Ping++).",
					"CONSUME":    "App store (order/init): goods from the catalogue, paid from the wallet with payOrder.",
					"POINTS":     "Points (POST /payment/create-order): points bought through epay.",
					"DEAL":       "Escrow marketplace (/api/v1/initOrder): a buyer pays a seller; the money waits in escrow until confirmed.",
					"WITHDRAWAL": "Escrow marketplace (/api/v1/withdrawCash): withdrawable money sent to an Alipay account once an admin completes it.",
					"GOODS":      "Game goods (/api/pay/create-order): goods paid to the game's payment provider, confirmed by its signed callback.",
				},
			}),
		field.Enum("status").Values("PENDING", "PROCESSING", "PAID", "COMPLETED", "FAILED", "EXPIRED", "CANCELLED",
			"DELIVERY_FAILED", "REFUND_REQUESTED", "REFUNDED", "REFUND_REJECTED", "FROZEN").
			Default("PENDING").Comment("Where the order stands; it changes only along the status machine, each change kept in events.").
			Annotations(entgql.Type("OrderStatus"), entgql.OrderField("STATUS"), EnumDoc{
				Type: "Where an order stands. statusDesc and statusText say it in words that fit the order type; legacyStatus as the documented API's number.",
				Values: map[string]string{
					"PENDING":          "Created and not paid; it expires at expiresAt.",
					"PROCESSING":       "Handed to a payment gateway (epay, Ping++) and not paid yet; a WITHDRAWAL: waiting for an admin's decision.",
					"PAID":             "Paid. A DEAL's money waits in escrow; CONSUME and GOODS orders wait for delivery.",
					"COMPLETED":        "Done: delivered (CONSUME, GOODS), confirmed with the money released to the seller (DEAL), paid out (WITHDRAWAL).",
					"FAILED":           "The provider reported the payment failed, or an admin rejected the WITHDRAWAL (its money went back).",
					"EXPIRED":          "Not paid by expiresAt.",
					"CANCELLED":        "Cancelled while unpaid (cancelOrder), or a deal whose Ping++ charge could not be created. No money moved.",
					"DELIVERY_FAILED":  "The app could not deliver a paid CONSUME order (markDeliveryFailed); the payer may ask for a refund.",
					"REFUND_REQUESTED": "The payer asked for a refund (requestRefund, or the documented names requestReturn and applyRefund); waiting for approveRefund or rejectRefund.",
					"REFUNDED":         "The money went back to the payer.",
					"REFUND_REJECTED":  "The refund request was rejected (rejectRefund); final.",
					"FROZEN":           "Frozen: the points API's 已冻结 (3). No operation freezes an order yet.",
				},
			}),
		field.Int64("app_id").Immutable().Comment("The id of the app the order belongs to (the app store's app_id)."),
		field.Int64("payer_id").Optional().Immutable().
			Comment("The id of the user who pays (the token checkout's payerUserId, the escrow marketplace's userId); for a WITHDRAWAL, whose money leaves."),
		field.Int64("payee_id").Optional().Immutable().
			Comment("The id of the user who is paid (the token checkout's payeeUserId, the escrow marketplace's receiverId); null when the money goes to an app or a provider."),
		field.String("title").Optional().MaxLen(256).
			Comment("What the order is for, as the payer sees it: the app store's title, a deal's subject, the goods' title, a points order's title (default \"N 积分\")."),
		field.Text("desc").Optional().Comment("The token checkout's desc, as the app gave it."),
		field.Text("extend_info").Optional().
			Comment("JSON text: the token checkout's extendInfo as the app gave it; for app store orders the IMEI and the link between a CONSUME order and its RECHARGE."),
		// amount is in the asset's minor units; GraphQL shows it as a Decimal.
		field.Int64("amount").Annotations(hidden()),
		field.String("asset").Comment("The asset of amount (CNY, POINTS, USDT, …; the token checkout's tokenId)."),
		field.String("pay_way").Optional().
			Comment("How the payer chose to pay, one name per way (alipay, wechat, qq, wallet; wx and wxpay become wechat): the app store's pay_way_name, the points API's payment_type; a deal's channel (WALLET, ALIPAY, WX)."),
		field.String("channel").Optional().
			Comment("Who carries the money: wallet, epay, pingpp, game; alipay for a WITHDRAWAL; null for token checkout orders."),
		field.String("provider_trade_no").Optional().
			Comment("The provider's number for the payment: epay's trade_no, the Ping++ charge id (the escrow marketplace's pingChargeId), the game provider's gyyx_order_no."),
		field.Int64("points").Optional().Nillable().Comment("POINTS orders: the points the payment buys."),
		// item and item_id are what a GOODS order (the game goods flow) is for, as
		// ordered: the goods attribute (商品属性) and its catalogue id.
		field.String("item").Optional().MaxLen(128).Immutable().
			Comment("GOODS orders: the goods attribute (the game goods API's item, 商品属性), as ordered."),
		field.String("item_id").Optional().MaxLen(64).Immutable().Annotations(renamed()),
		field.String("chat_id").Optional().Annotations(renamed()),
		field.String("skill_id").Optional().Annotations(renamed()),
		// refunded_amount is what went back to the payer so far, in the
		// order's asset (minor units): it only grows, never past amount
		// (a conditional update), and reaches amount when the order is
		// REFUNDED. GraphQL shows it as a Decimal.
		field.Int64("refunded_amount").Default(0).Annotations(hidden()),
		// refund_requested_amount is a partial refund the payer asked for and
		// nobody decided yet (the order keeps its status meanwhile); null
		// when none waits. A request for all that is left is REFUND_REQUESTED
		// instead. Orders may be filtered on whether one waits
		// (refundRequestedAmountNotNil), so an operator finds them.
		field.Int64("refund_requested_amount").Optional().Nillable().Annotations(nilFilterOnly()...),
		field.String("refund_reason").Optional().
			Comment("The reason the payer gave when asking for a refund (the escrow marketplace's refundReason)."),
		field.String("comment").Optional().Comment("DEAL: the buyer's comment (commentOrder)."),
		field.Int("score").Optional().Nillable().Comment("DEAL: the buyer's score, 1–5 (commentOrder)."),
		field.Time("expires_at").Optional().Nillable().
			Comment("An unpaid order expires then (the token checkout's expired); null for withdrawals."),
		field.Time("paid_at").Optional().Nillable().Comment("When the money arrived (the app store's pay_time, the points API's paid_at)."),
		field.Time("completed_at").Optional().Nillable().
			Comment("When the order became COMPLETED: delivered, confirmed or paid out (the app store's finish_time)."),
		// auto_confirm_at is when an escrowed deal (the escrow marketplace) is released to
		// the seller if the buyer has not confirmed it by then.
		field.Time("auto_confirm_at").Optional().Nillable().
			Comment("DEAL: when the escrowed money goes to the seller if the buyer has not confirmed the deal by then."),
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
		edge.To("app", App.Type).Field("app_id").Unique().Required().Immutable().Comment("The app the order belongs to."),
		edge.To("payer", User.Type).Field("payer_id").Unique().Immutable().Comment("The user who pays (see payerID)."),
		edge.To("payee", User.Type).Field("payee_id").Unique().Immutable().Comment("The user who is paid (see payeeID)."),
		edge.From("items", OrderItem.Type).Ref("order").Annotations(hidden()),
		edge.From("events", OrderEvent.Type).Ref("order").Comment("Every status change of the order, its creation included."),
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
		entgql.QueryField("orders").Directives(authDirective()).
			Description("The orders the caller may see: a USER those it pays or is paid by, a SERVICE its app's, " +
				"an ADMIN all (the token checkout's /api/payment/orders, the escrow marketplace's getOrder). " +
				"first or last at most 100, default 20."),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		schema.Comment("An order of any flow (see type): who pays whom, how much, and where it stands. Seen by " +
			"ADMIN, the SERVICE of its app, its payer and its payee."),
	}
}

// OrderItem is one payInfo or productInfo line of an order (the token checkout).
type OrderItem struct{ ent.Schema }

// Mixin of OrderItem.
func (OrderItem) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of OrderItem.
func (OrderItem) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("order_id").Immutable().Comment("The id of the order the line belongs to."),
		// kind says which list the line belongs to: PAY (payInfo) or PRODUCT (productInfo).
		field.Enum("kind").Values("PAY", "PRODUCT").Immutable().Annotations(hidden()),
		field.Int("position").Immutable().Annotations(hidden()),
		field.String("pay_type").Default("PAY").Comment("The token checkout's payType: PAY unless the app gave another."),
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
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
		schema.Comment("One payInfo or productInfo line of a token checkout order (PAYMENT). Seen by whoever sees its order."),
	}
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
		field.Int64("order_id").Immutable().Comment("The id of the order that changed."),
		field.Enum("from").Values(statuses...).Optional().Nillable().Immutable().
			Comment("The status before; null for the order's creation.").
			Annotations(entgql.Type("OrderStatus")),
		field.Enum("to").Values(statuses...).Immutable().Comment("The status after.").Annotations(entgql.Type("OrderStatus")),
		field.String("actor").Immutable().
			Comment("Who made the change: user:ID, service:APP_ID, admin:ID, system (expiry, the scheduler) or callback:PROVIDER."),
		field.String("reason").Optional().Immutable().
			Comment("Why: created, paid, a reason given by the actor (a refund's, a rejection's), …"),
		field.Time("at").Immutable().Comment("When it changed."),
		// seq is 0 for steps recorded before steps were numbered.
		field.Int("seq").Default(0).Immutable().
			Comment("The step's number in the order's history, 1, 2, 3, … (its creation is 1); the events of the step carry the same seq."),
	}
}

// Edges of OrderEvent.
func (OrderEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("order", Order.Type).Field("order_id").Unique().Required().Immutable().Comment("The order that changed."),
	}
}

// Indexes of OrderEvent.
func (OrderEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("order_id")}
}

// Annotations of OrderEvent.
func (OrderEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
		schema.Comment("One change of an order's status: from, to, who and why. Seen by whoever sees its order; " +
			"orderStatusChanged and myOrderEvents deliver them live."),
	}
}
