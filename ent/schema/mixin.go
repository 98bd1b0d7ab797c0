package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/paygraph/paygraph/internal/idgen"
)

// IDMixin gives an entity a 64-bit time-ordered id (contract §2).
type IDMixin struct{ mixin.Schema }

// Fields of the IDMixin.
func (IDMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").DefaultFunc(idgen.Next).Immutable().
			Comment("The id: 64 bits, time-ordered, unique across every kind of entity; node(id) finds it."),
	}
}

// TimeMixin records when a row was made and last changed.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(time.Now).Immutable().
			Comment("When it was created.").
			Annotations(entgqlOrder("CREATED_AT")),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).
			Comment("When it last changed.").
			Annotations(entgqlOrder("UPDATED_AT")),
	}
}
