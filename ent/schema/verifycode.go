package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// VerifyCode is a one-time code sent by SMS or email for one payment (the
// token checkout's send_payment_verify_code). Its id is the verifyCodeOrderId a client
// hands back to pay. Only an HMAC of the code is kept.
type VerifyCode struct{ ent.Schema }

// Mixin of VerifyCode.
func (VerifyCode) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of VerifyCode.
func (VerifyCode) Fields() []ent.Field {
	return []ent.Field{
		// user_id is the payer the code was sent to; order_id the order it pays.
		field.Int64("user_id").Immutable(),
		field.Int64("order_id").Immutable(),
		field.Enum("channel").Values("MOBILE", "EMAIL").Immutable(),
		// destination is the masked address the code went to (186****0001).
		field.String("destination").Immutable(),
		field.String("code_hash").Sensitive().Immutable(),
		// attempts counts wrong codes; at 5 the code is locked.
		field.Int("attempts").Default(0),
		field.Time("expires_at").Immutable(),
		// used_at is set when a payment with the code commits, or when a
		// newer code for the same order replaces it.
		field.Time("used_at").Optional().Nillable(),
		field.Time("created_at").Immutable(),
	}
}

// Indexes of VerifyCode.
func (VerifyCode) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "created_at"),
		index.Fields("order_id"),
		index.Fields("created_at"),
	}
}

// Annotations of VerifyCode.
func (VerifyCode) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
