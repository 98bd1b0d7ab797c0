package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent/schema"
	"github.com/vektah/gqlparser/v2/ast"
)

func entgqlOrder(name string) schema.Annotation { return entgql.OrderField(name) }

// readOnly hides a field from generated mutation inputs: it changes only
// through the domain services.
func readOnly() schema.Annotation {
	return entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
}

// renamed keeps a field out of the generated GraphQL type because the
// contract spells it differently ("clientOrderId", not "clientOrderID");
// schema/*.graphql declares it with the contract's name.
func renamed() schema.Annotation { return entgql.Skip(entgql.SkipType) }

// hidden keeps a field out of the GraphQL schema altogether.
func hidden() schema.Annotation { return entgql.Skip(entgql.SkipAll) }

// nilFilterOnly puts a nillable amount (minor units, shown by GraphQL as a
// Decimal) in the generated …WhereInput with only its IsNil and NotNil
// predicates: a client may ask whether it is set, never compare its
// minor units. Everywhere else the field stays out of the generated
// schema, as hidden() keeps it.
func nilFilterOnly() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipType, entgql.SkipEnumField, entgql.SkipOrderField,
			entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		NilFilterOnly{},
	}
}

// NilFilterOnly marks a field whose generated filter keeps only IsNil and
// NotNil; ent/entc.go's schema hook drops its other predicates.
type NilFilterOnly struct{}

// Name implements schema.Annotation.
func (NilFilterOnly) Name() string { return "NilFilterOnly" }

// authDirective is @auth with no role list: any valid token.
func authDirective() entgql.Directive { return entgql.NewDirective("auth") }

// adminDirective is @auth(roles: [ADMIN]).
func adminDirective() entgql.Directive {
	return entgql.NewDirective("auth", &ast.Argument{
		Name: "roles",
		Value: &ast.Value{Kind: ast.ListValue, Children: ast.ChildValueList{
			{Value: &ast.Value{Raw: "ADMIN", Kind: ast.EnumValue}},
		}},
	})
}

// EnumDoc describes an enum field's GraphQL enum and each of its values.
// ent/entc.go's schema hook copies it into schema/ent.graphql (entgql
// describes enum values only with this help). Put it on one field of each
// enum type.
type EnumDoc struct {
	// Type describes the enum type.
	Type string
	// Values describes each value, by name.
	Values map[string]string
}

// Name implements schema.Annotation.
func (EnumDoc) Name() string { return "EnumDoc" }
