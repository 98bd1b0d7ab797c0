package testutil

import (
	"sort"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/paygraph/paygraph/graph"
)

var schema = sync.OnceValue(func() *ast.Schema {
	return graph.NewExecutableSchema(graph.Config{}).Schema()
})

// EveryEdge is a selection of every field of the object type named that
// takes no required argument: its scalars, and every edge with the edge's
// own scalars. Tests select it on the results of mutations, so an edge
// that cannot be loaded after the mutation's transaction (an entity bound
// to a finished transaction) fails them.
func EveryEdge(typeName string) string {
	return selection(schema(), typeName, 1)
}

func selection(s *ast.Schema, typeName string, depth int) string {
	def := s.Types[typeName]
	if def == nil {
		panic("EveryEdge: no type " + typeName)
	}
	var parts []string
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") || requiresArgs(f) {
			continue
		}
		t := f.Type
		for t.Elem != nil {
			t = t.Elem
		}
		inner := s.Types[t.NamedType]
		switch inner.Kind {
		case ast.Scalar, ast.Enum:
			parts = append(parts, f.Name)
		case ast.Object:
			if depth > 0 {
				parts = append(parts, f.Name+"{"+selection(s, t.NamedType, depth-1)+"}")
			}
		case ast.Interface, ast.Union:
			if depth > 0 {
				parts = append(parts, f.Name+"{__typename}")
			}
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "__typename"
	}
	return strings.Join(parts, " ")
}

func requiresArgs(f *ast.FieldDefinition) bool {
	for _, a := range f.Arguments {
		if a.Type.NonNull && a.DefaultValue == nil {
			return true
		}
	}
	return false
}
