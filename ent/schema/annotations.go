package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent/schema"
)

func entgqlOrder(name string) schema.Annotation { return entgql.OrderField(name) }

// readOnly hides a field from generated mutation inputs: it changes only
// through the domain services.
func readOnly() schema.Annotation {
	return entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
}

// hidden keeps a field out of the GraphQL schema altogether.
func hidden() schema.Annotation { return entgql.Skip(entgql.SkipAll) }
