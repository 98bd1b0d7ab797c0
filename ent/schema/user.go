package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/paygraph/paygraph/internal/role"
)

// User is a person who pays or is paid.
type User struct{ ent.Schema }

// Mixin of User.
func (User) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		// username is stored lower-case, so "Alice" and "alice" are one name.
		field.String("username").Unique().NotEmpty().MaxLen(32),
		field.String("password_hash").Sensitive().Annotations(hidden()),
		// email, mobile and national_code are private: schema/user.graphql
		// exposes them to the user and to ADMIN/SERVICE only.
		field.String("email").Optional().Annotations(hidden()),
		field.String("mobile").Optional().Annotations(hidden()),
		field.String("national_code").Optional().Annotations(hidden()),
		field.Enum("role").GoType(role.Role("")).Default(string(role.User)).
			Annotations(entgql.Type("Role")),
	}
}

// Annotations of User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
