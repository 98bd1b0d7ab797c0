package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Goods is one entry of the catalogue shared by the app store and
// the game goods flow: the caller's own goods id, priced per app.
type Goods struct{ ent.Schema }

// Mixin of Goods.
func (Goods) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of Goods.
func (Goods) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("app_id").Immutable(),
		// goods_id is the caller's id for the goods ("1", "vip-month").
		field.String("goods_id").NotEmpty().MaxLen(64).Immutable(),
		// item is the game goods flow's goods attribute ("商品属性").
		field.String("item").NotEmpty().MaxLen(128),
		field.String("title").Optional().MaxLen(256),
		// single_price is in the asset's minor units.
		field.Int64("single_price"),
		field.String("asset").Default("CNY"),
		field.Bool("active").Default(true),
	}
}

// Edges of Goods.
func (Goods) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("app", App.Type).Field("app_id").Unique().Required().Immutable(),
	}
}

// Indexes of Goods.
func (Goods) Indexes() []ent.Index {
	return []ent.Index{index.Fields("app_id", "goods_id").Unique()}
}

// Annotations of Goods: the GraphQL type is hand-written (schema/goods.graphql),
// because its id is the caller's string, not a node id.
func (Goods) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
