package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Wallet is a user's balance in one asset. Its amounts are caches of the
// sums of its WalletEntry lines, updated in the same transaction; the
// ledger check compares the two.
type Wallet struct{ ent.Schema }

// Mixin of Wallet.
func (Wallet) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of Wallet.
func (Wallet) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("user_id").Immutable().Comment("The id of the wallet's owner."),
		field.String("asset").Immutable().Comment("The asset the wallet holds (CNY, POINTS, USDT, …); a user has one wallet per asset."),
		// available may be spent now.
		field.Int64("available").Default(0).Annotations(hidden()),
		// escrow is held for a deal that is not yet confirmed.
		field.Int64("escrow").Default(0).Annotations(hidden()),
		// withdrawable is the part of available that came from earnings and
		// may leave the platform; it never exceeds available.
		field.Int64("withdrawable").Default(0).Annotations(hidden()),
		// event_seq is the seq of the wallet's latest wallet.changed event.
		field.Int("event_seq").Default(0).Annotations(hidden()),
	}
}

// Edges of Wallet.
func (Wallet) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().Comment("The wallet's owner."),
	}
}

// Indexes of Wallet.
func (Wallet) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "asset").Unique()}
}

// Annotations of Wallet.
func (Wallet) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
		schema.Comment("A user's balance in one asset, in three parts (available, escrow, withdrawable), each " +
			"the sum of its postings. Seen by ADMIN, its owner and the SERVICE of an app where the owner pays or is paid."),
	}
}

// WalletEntry is one posting of the double-entry ledger. The entries of one
// journal sum to zero per asset; money entering or leaving the platform
// posts against an outside-world account ("world:SOURCE").
type WalletEntry struct{ ent.Schema }

// Mixin of WalletEntry.
func (WalletEntry) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of WalletEntry.
func (WalletEntry) Fields() []ent.Field {
	return []ent.Field{
		// journal groups the balanced postings of one money movement.
		field.Int64("journal").Immutable().Annotations(hidden()),
		// account is "wallet:ID:available", "wallet:ID:escrow" or "world:SOURCE".
		field.String("account").Immutable().
			Comment("The account posted to: wallet:ID:available, wallet:ID:escrow, or world:SOURCE for money entering or leaving the platform (world:admin, world:epay, world:pingpp, world:app:ID, …)."),
		field.Int64("wallet_id").Optional().Immutable().Comment("The id of the wallet posted to; null for an outside-world account."),
		field.Enum("bucket").Values("AVAILABLE", "ESCROW", "WORLD").Immutable().
			Comment("Which part of the wallet the posting changed, or WORLD.").
			Annotations(entgql.Type("LedgerBucket"), EnumDoc{
				Type: "The part of a wallet a posting changes.",
				Values: map[string]string{
					"AVAILABLE": "The wallet's available balance (its withdrawable part included).",
					"ESCROW":    "The wallet's escrow: money held for a deal not yet confirmed, or while a refund runs.",
					"WORLD":     "No wallet: an outside-world account, money entering or leaving the platform.",
				},
			}),
		field.String("asset").Immutable().Comment("The asset of amount."),
		// amount is signed, in minor units: positive adds to the account.
		field.Int64("amount").Immutable().Annotations(hidden()),
		// balance_after is the bucket's balance after this posting (wallet lines only).
		field.Int64("balance_after").Optional().Nillable().Immutable().Annotations(hidden()),
		field.Int64("order_id").Optional().Immutable().Comment("The id of the order the movement belongs to; null for an admin credit."),
		field.String("kind").Immutable().
			Comment("The movement: CREDIT, PAYMENT, RECHARGE, CONSUME, POINTS, ESCROW_HOLD, ESCROW_RELEASE, REFUND, REFUND_HOLD, WITHDRAWAL_HOLD, WITHDRAWAL, …"),
		field.String("memo").Optional().Immutable().Comment("A note on the movement (an admin credit's memo)."),
		field.Time("created_at").Immutable().Comment("When it was posted.").Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// Edges of WalletEntry.
func (WalletEntry) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("wallet", Wallet.Type).Field("wallet_id").Unique().Immutable().Comment("The wallet posted to; null for an outside-world account."),
		edge.To("order", Order.Type).Field("order_id").Unique().Immutable().Comment("The order the movement belongs to."),
	}
}

// Indexes of WalletEntry.
func (WalletEntry) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("wallet_id", "id"),
		index.Fields("journal"),
		index.Fields("order_id"),
	}
}

// Annotations of WalletEntry.
func (WalletEntry) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField("walletEntries").Directives(authDirective()).
			Description("Ledger postings: a USER those of its own wallets, an ADMIN all (a SERVICE is FORBIDDEN). " +
				"first or last at most 100, default 20."),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		schema.Comment("One posting of the double-entry ledger: an amount added to or taken from one account. " +
			"The postings of one money movement sum to zero. Seen by ADMIN and the owner of its wallet " +
			"(outside-world postings: ADMIN only)."),
	}
}

// Asset records the number of decimals each asset's amounts were stored
// with: balances are kept in minor units, so the scale is part of the data,
// and a start whose configuration disagrees with it must not reinterpret
// them.
type Asset struct{ ent.Schema }

// Mixin of Asset.
func (Asset) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Fields of Asset.
func (Asset) Fields() []ent.Field {
	return []ent.Field{
		field.String("code").Unique().Immutable(),
		field.Int("scale").Immutable(),
		field.Time("created_at").Immutable(),
	}
}

// Annotations of Asset.
func (Asset) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
